package reconciler

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/go-logr/logr"
	"k8s.io/client-go/util/workqueue"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
)

const (
	// heartbeatQueueName labels the heartbeat queue's workqueue metrics.
	heartbeatQueueName = "heartbeat"

	// heartbeatWorkers record heartbeats. A heartbeat is one small Auto Scaling call, so two keep
	// up with thousands of waiting instances; two rather than one so a single slow call does not
	// delay every other instance's heartbeat.
	heartbeatWorkers = 2

	// heartbeatCallMin and heartbeatCallMax bound the time one RecordLifecycleActionHeartbeat call
	// (SDK retries included) may take: a sixth of the heartbeat timeout within these limits. A
	// heartbeat falls due half a heartbeat timeout before the action would expire, so a call cut
	// short still leaves room for retries (every tenth of the heartbeat timeout, see
	// heartbeatRetry) before then.
	heartbeatCallMin = 5 * time.Second
	heartbeatCallMax = 20 * time.Second
)

// heartbeatState is what the heartbeat worker knows of one instance's lifecycle action. It is
// written only by the heartbeat worker, apart from the instance's progress, so the two paths never
// overwrite each other's fields.
type heartbeatState struct {
	// last is when this process last recorded a heartbeat; dryRun when dry run last said it would
	// (kept apart so dry run does not believe the hook was extended).
	last   time.Time
	dryRun time.Time
	// endedAt is when a heartbeat got "No active Lifecycle Action": the action is over, which the
	// instance's reconcile takes up.
	endedAt time.Time
}

// newHeartbeatQueue builds the heartbeat queue: a delaying queue keyed by EC2 instance ID on the
// controller's clock. It has no rate limiter: a failed heartbeat is retried on a schedule derived
// from the hook (heartbeatRetry), which an exponential backoff must not stretch.
func newHeartbeatQueue(c *Controller) workqueue.TypedDelayingInterface[string] {
	return workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{
		Name:            heartbeatQueueName,
		MetricsProvider: c.m.WorkqueueProvider(),
		Clock:           c.clock,
	})
}

// enqueueHeartbeat asks the heartbeat worker to look at an instance now: it records a heartbeat if
// one is due and schedules the next. Cheap when none is due (no AWS call), so discovery calls it
// for every watched instance at each resync, which also restarts a schedule that stopped (after
// an InvalidRequest, say) once the hook is known again.
func (c *Controller) enqueueHeartbeat(id string) { c.hbQueue.Add(id) }

// processHeartbeat is the heartbeat worker's loop body. It returns false when the worker should
// exit.
func (c *Controller) processHeartbeat(ctx context.Context) bool {
	id, shutdown := c.hbQueue.Get()
	if shutdown {
		return false
	}
	c.hbActive.Add(1)
	defer c.hbActive.Add(-1)
	defer c.hbQueue.Done(id)
	if ctx.Err() != nil {
		return false
	}
	if next := c.heartbeatStep(ctx, id); next > 0 {
		c.hbQueue.AddAfter(id, next)
	}
	return true
}

// heartbeatStep records a lifecycle action heartbeat for one instance when half the hook's
// heartbeat timeout has passed since the last one (at once when that is unknown, as after a
// restart), never past the global timeout, and returns when to look again (0: not until something
// enqueues the instance again). Nothing here waits for ECS: heartbeats keep the hook alive however
// slow or throttled the drain's ECS calls are.
func (c *Controller) heartbeatStep(ctx context.Context, id string) time.Duration {
	c.mu.Lock()
	inst := c.instances[id]
	if inst == nil || inst.gone || inst.prog.completed || !inst.hb.endedAt.IsZero() {
		c.mu.Unlock()
		return 0
	}
	v := *inst
	c.mu.Unlock()

	now := c.clock.Now()
	hb, end := v.hook.heartbeatTimeout, c.globalEnd(&v)
	if !heartbeatDue(now, c.heartbeatBase(&v), end, hb) {
		return c.heartbeatWait(&v, now)
	}

	log := logr.FromContextOrDiscard(ctx).WithValues("instanceID", id, "asg", v.asg, "hook", v.hook.name)
	ctx = logr.NewContext(ctx, log)
	// The call in hand is finished at shutdown, within its own bound.
	cctx, cancel := boundContext(context.WithoutCancel(ctx), c.clock, min(max(hb/6, heartbeatCallMin), heartbeatCallMax))
	defer cancel()
	err := c.write(cctx, "record lifecycle action heartbeat", nil, func(ctx context.Context) error {
		_, err := c.as.RecordLifecycleActionHeartbeat(ctx, &autoscaling.RecordLifecycleActionHeartbeatInput{
			AutoScalingGroupName: aws.String(v.asg),
			LifecycleHookName:    aws.String(v.hook.name),
			InstanceId:           aws.String(id),
		})
		return err
	})
	switch {
	case awsapi.IsNoActiveLifecycleAction(err):
		// Over: completed by someone (us included, racing this call) or expired. The instance's
		// reconcile decides which and records it.
		c.mu.Lock()
		if cur := c.instances[id]; cur != nil {
			cur.hb.endedAt = now
		}
		c.mu.Unlock()
		c.enqueueInstance(id)
		return 0
	case awsapi.IsInvalidRequest(err):
		// The hook was probably deleted or renamed: describe the group's hooks afresh; the next
		// resync enqueues the instance here again.
		c.invalidateHooks(v.asg)
		log.Error(fmt.Errorf("recording lifecycle action heartbeat for %s: %w", id, err), "Giving up on heartbeats until the hook is described again")
		return 0
	case err != nil:
		retry := heartbeatRetry(hb)
		log.Error(fmt.Errorf("recording lifecycle action heartbeat for %s: %w", id, err), "Heartbeat failed; retrying", "retryAfter", retry)
		return retry
	}

	c.mu.Lock()
	if cur := c.instances[id]; cur != nil {
		if c.cfg.DryRun {
			cur.hb.dryRun = now
		} else {
			cur.hb.last = now
		}
	}
	c.mu.Unlock()
	if !c.cfg.DryRun {
		c.m.Heartbeats.Inc()
		log.Info("Recorded lifecycle action heartbeat")
	}
	return hb / 2
}

// heartbeatWait is how long until v's next heartbeat falls due; 0 when none is to come (no
// heartbeat timeout, or the global timeout reached first).
func (c *Controller) heartbeatWait(v *instance, now time.Time) time.Duration {
	hb, end := v.hook.heartbeatTimeout, c.globalEnd(v)
	base := c.heartbeatBase(v)
	if hb <= 0 || base.IsZero() {
		return 0
	}
	due := base.Add(hb / 2)
	if !due.After(now) || !due.Before(end) {
		return 0
	}
	return due.Sub(now)
}

// heartbeatRetry is how soon a failed heartbeat is tried again: every tenth of the heartbeat
// timeout, so several tries fit in the half timeout left before the action would expire.
func heartbeatRetry(heartbeatTimeout time.Duration) time.Duration {
	return max(heartbeatTimeout/10, errorBackoffBase)
}
