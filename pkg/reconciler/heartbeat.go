package reconciler

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/go-logr/logr"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

const (
	// heartbeatQueueName labels the heartbeat queue's workqueue metrics.
	heartbeatQueueName = "heartbeat"

	// heartbeatCallsPerQPS sizes the heartbeat workers: each holds one call at a time, so
	// throughput is workers / round-trip time, and 2 x --aws-qps workers keep up with the whole
	// Auto Scaling budget for calls of up to 2 s. Throughput then follows what is due, bounded by
	// the budget, not by a fixed count times the latency. Idle workers cost nothing.
	heartbeatCallsPerQPS = 2
	// heartbeatWorkersMin and heartbeatWorkersMax bound the workers for tiny and huge budgets;
	// heartbeatWorkersUnlimited serves an unlimited budget (--aws-qps 0 in tests).
	heartbeatWorkersMin       = 4
	heartbeatWorkersMax       = 512
	heartbeatWorkersUnlimited = 64

	// heartbeatCallMin and heartbeatCallMax bound the time one RecordLifecycleActionHeartbeat call
	// (SDK retries included) may take: a sixth of the heartbeat timeout within these limits. A
	// heartbeat falls due half a heartbeat timeout before the action would expire, so a call cut
	// short still leaves room for retries (every tenth of the heartbeat timeout, see
	// heartbeatRetry) before then.
	heartbeatCallMin = 5 * time.Second
	heartbeatCallMax = 20 * time.Second
)

// heartbeatState is what the heartbeat worker knows of one instance's lifecycle action. It is
// written by the heartbeat worker, and reset when the instance follows a new hook.
type heartbeatState struct {
	// last is when this process last recorded a heartbeat; dryRun when dry run last said it would
	// (kept apart so dry run does not believe the hook was extended).
	last   time.Time
	dryRun time.Time
	// rejectedAt is when Auto Scaling refused a heartbeat for the hook: "No active Lifecycle
	// Action" (noActive), or a ValidationError. The instance's reconcile reads the hooks and the
	// instance again to tell an ended action from a hook that changed; no heartbeat is sent until
	// it has.
	rejectedAt time.Time
	noActive   bool
}

// HeartbeatWorkersFor is how many heartbeats the controller keeps in flight at once under a
// client-side Auto Scaling rate of qps (0: unlimited).
func HeartbeatWorkersFor(qps float64) int {
	if qps <= 0 {
		return heartbeatWorkersUnlimited
	}
	return min(max(int(math.Ceil(heartbeatCallsPerQPS*qps)), heartbeatWorkersMin), heartbeatWorkersMax)
}

// newHeartbeatQueue builds the heartbeat queue: a delaying queue keyed by EC2 instance ID on the
// controller's clock. It has no rate limiter: a failed heartbeat is retried on a schedule derived
// from the hook (heartbeatRetry), which an exponential backoff must not stretch.
func newHeartbeatQueue(m *metrics.Metrics, clk clock.WithTicker) workqueue.TypedDelayingInterface[string] {
	return workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{
		Name:            heartbeatQueueName,
		MetricsProvider: m.WorkqueueProvider(),
		Clock:           clk,
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
	cur := c.instances[id]
	if cur == nil || cur.gone || cur.prog.completed || !cur.hb.rejectedAt.IsZero() {
		c.mu.Unlock()
		return 0
	}
	inst := *cur
	c.mu.Unlock()

	now := c.clock.Now()
	hbTimeout := inst.hook.heartbeatTimeout
	base := heartbeatBase(&inst)
	if !heartbeatDue(now, base, globalEnd(&inst), hbTimeout) {
		return heartbeatWait(&inst, now)
	}
	log := logr.FromContextOrDiscard(ctx).WithValues("instanceID", id, "asg", inst.asg, "hook", inst.hook.name)
	ctx = logr.NewContext(ctx, log)
	if !base.IsZero() {
		c.noteLateHeartbeat(log, now, base.Add(hbTimeout), hbTimeout)
	}
	// The client-side rate limit serves heartbeats before every other call, the nearest expiry
	// first.
	ctx = awsapi.WithUrgency(ctx, heartbeatExpiry(&inst, base, now))
	err := c.recordHeartbeat(ctx, &inst)
	switch {
	case awsapi.IsNoActiveLifecycleAction(err), awsapi.IsInvalidRequest(err):
		// Over (completed by someone, us included racing this call, or expired), or the hook is not
		// the one the instance waits on (deleted, renamed). The instance's reconcile reads the hooks
		// and the instance afresh to tell which, and restarts the heartbeats if the hook changed.
		c.noteHeartbeat(id, inst.hook.name, func(hb *heartbeatState) {
			hb.rejectedAt, hb.noActive = now, awsapi.IsNoActiveLifecycleAction(err)
		})
		log.V(1).Info("Heartbeat refused", "next", "checking the hook and the instance", "error", err.Error())
		c.enqueueInstance(id)
		return 0
	case err != nil:
		retry := heartbeatRetry(hbTimeout)
		log.Error(fmt.Errorf("recording lifecycle action heartbeat for %s: %w", id, err), "Heartbeat failed; retrying", "retryAfter", retry)
		return retry
	}
	c.noteHeartbeat(id, inst.hook.name, func(hb *heartbeatState) {
		if c.cfg.DryRun {
			hb.dryRun = now
		} else {
			hb.last = now
		}
	})
	if !c.cfg.DryRun {
		c.m.Heartbeats.Inc()
		log.Info("Recorded lifecycle action heartbeat")
	}
	return hbTimeout / 2
}

// recordHeartbeat makes the RecordLifecycleActionHeartbeat call through the write door. The call
// in hand is finished at shutdown, within its own bound.
func (c *Controller) recordHeartbeat(ctx context.Context, inst *instance) error {
	cctx, cancel := awsapi.BoundContext(context.WithoutCancel(ctx), c.clock, heartbeatCallTimeout(inst.hook.heartbeatTimeout))
	defer cancel()
	return c.write(cctx, "record lifecycle action heartbeat", nil, func(ctx context.Context) error {
		_, err := c.as.RecordLifecycleActionHeartbeat(ctx, &autoscaling.RecordLifecycleActionHeartbeatInput{
			AutoScalingGroupName: aws.String(inst.asg),
			LifecycleHookName:    aws.String(inst.hook.name),
			InstanceId:           aws.String(inst.id),
		})
		return err
	})
}

// retryHeartbeat clears a refusal the instance's reconcile found was not the end of the action
// (the hook is unchanged and the instance still waits), so heartbeats resume after retry.
func (c *Controller) retryHeartbeat(id, hook string, retry time.Duration) {
	c.noteHeartbeat(id, hook, func(hb *heartbeatState) { hb.rejectedAt = time.Time{} })
	c.hbQueue.AddAfter(id, retry)
}

// noteHeartbeat is the one write to an instance's heartbeat state (besides followHook, which starts
// it afresh for a new hook): it applies note if the instance still follows hook (a heartbeat for a
// hook the instance no longer follows extended nothing it waits on).
func (c *Controller) noteHeartbeat(id, hook string, note func(*heartbeatState)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.instances[id]; cur != nil && cur.hook.name == hook {
		note(&cur.hb)
	}
}

const (
	// heartbeatLateShare: a heartbeat is late once less than this share of the heartbeat timeout is
	// left before the action would expire. Heartbeats are due with half left, so being late means
	// half the slack is gone: the budget or the API cannot keep up.
	heartbeatLateShare = 4 // a quarter
	// heartbeatBudgetShare: heartbeats due may use this share of the Auto Scaling request budget
	// before the controller warns; the rest is for completions, describes and retries.
	heartbeatBudgetShare = 0.5
)

// noteLateHeartbeat counts and logs (once, until heartbeats are on time again) a heartbeat sent
// with less than a quarter of the heartbeat timeout left before the action would expire.
func (c *Controller) noteLateHeartbeat(log logr.Logger, now, expiry time.Time, hbTimeout time.Duration) {
	if left := expiry.Sub(now); left < hbTimeout/heartbeatLateShare {
		c.m.HeartbeatsLate.Inc()
		c.warnOnce(log, "heartbeats-late", "Heartbeats late", "fix", "raise --aws-qps or look for throttling",
			"left", left, "heartbeatTimeout", hbTimeout, "awsQPS", c.cfg.AWSQPS)
		return
	}
	c.clearWarning("heartbeats-late")
}

// heartbeatLoad is what the watched actions need of heartbeats now: how many per second keep them
// all alive (one per half heartbeat timeout each), and how many are at risk (less than a quarter
// of their heartbeat timeout left). Called with c.mu held.
func (c *Controller) heartbeatLoad(now time.Time) (perSecond float64, atRisk int) {
	for _, inst := range c.instances {
		hbTimeout := inst.hook.heartbeatTimeout
		if inst.gone || inst.prog.completed || hbTimeout <= 0 || !now.Before(globalEnd(inst)) {
			continue
		}
		perSecond += 2 / hbTimeout.Seconds()
		base := heartbeatBase(inst)
		if base.IsZero() {
			base = actionSeen(inst)
		}
		if base.Add(hbTimeout).Sub(now) < hbTimeout/heartbeatLateShare {
			atRisk++
		}
	}
	return perSecond, atRisk
}

// warnHeartbeatBudget says once, before anything is late, when the heartbeats due use more than
// heartbeatBudgetShare of the Auto Scaling request budget.
func (c *Controller) warnHeartbeatBudget(log logr.Logger) {
	c.mu.Lock()
	perSecond, _ := c.heartbeatLoad(c.clock.Now())
	c.mu.Unlock()
	if c.cfg.AWSQPS > 0 && perSecond > heartbeatBudgetShare*c.cfg.AWSQPS {
		c.warnOnce(log, "heartbeat-budget", "Heartbeats use over half the request budget", "fix", "raise --aws-qps before heartbeats fall behind",
			"heartbeatsPerSecond", perSecond, "awsQPS", c.cfg.AWSQPS)
		return
	}
	c.clearWarning("heartbeat-budget")
}
