package reconciler

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/go-logr/logr"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

const (
	taskStopped = "STOPPED"
	taskRunning = "RUNNING"
	daemon      = "DAEMON"
)

// reconcileInstance takes one watched instance one step further. Every step re-reads state (from
// the shared snapshot and batches), acts only if needed and is safe to repeat:
//
//	gone from Terminating:Wait        -> forget it, recording how it ended
//	completed (or found ended)        -> nothing until it is gone
//	a heartbeat found the action over -> record that it ended
//	not registered anywhere           -> complete CONTINUE at once
//	(any other state)                 -> apply the drain timeout, counted from first sight (or
//	                                     the drain's start if earlier)
//	container instance not looked up  -> join the next lookup batch
//	ACTIVE                            -> join the next DRAINING batch of its cluster
//	DRAINING                          -> tag the drain start if untagged, apply the standalone
//	                                     task policy, then complete CONTINUE once every task is
//	                                     STOPPED
//
// Heartbeats are not recorded here but by the heartbeat worker (heartbeat.go), so they never wait
// for this reconcile's ECS calls.
func (c *Controller) reconcileInstance(ctx context.Context, id string) (result, error) {
	c.mu.Lock()
	inst := c.instances[id]
	if inst == nil {
		c.mu.Unlock()
		return result{}, nil
	}
	v := *inst
	c.mu.Unlock()

	log := logr.FromContextOrDiscard(ctx).WithValues("instanceID", id, "asg", v.asg, "hook", v.hook.name)
	ctx = logr.NewContext(ctx, log)
	if v.gone {
		c.finish(ctx, &v)
		return result{}, nil
	}
	if v.prog.completed {
		return result{}, nil
	}

	var res result
	var err error
	if !v.hb.rejectedAt.IsZero() {
		res, err = c.afterRefusedHeartbeat(ctx, &v)
	} else {
		res, err = c.step(ctx, &v)
	}
	c.mu.Lock()
	if cur := c.instances[id]; cur != nil {
		cur.prog = v.prog
	}
	c.mu.Unlock()
	return res, err
}

// step is reconcileInstance's decision for an instance still waiting on the hook. It updates
// v.prog, which the caller stores.
func (c *Controller) step(ctx context.Context, v *instance) (result, error) {
	p := &v.prog
	if v.mapping.state == mapNotFound {
		return c.complete(ctx, v, metrics.ResultContinue, metrics.ReasonNotRegistered, metrics.OutcomeNotRegistered)
	}
	// The drain timeout applies whatever ECS allows: an instance that cannot be looked up or set
	// DRAINING (IAM, ECS refusing, an outage) ends the configured way too, not by the hook's
	// DefaultResult hours later.
	if res, done, err := c.drainTimeout(ctx, v, c.clock.Now()); done {
		return res, err
	}
	if v.mapping.state == mapUnknown {
		c.resolver.request(v.id, v.asg)
		return c.waitForBatch(), nil
	}
	cluster, arn := v.mapping.cluster, v.mapping.arn
	log := logr.FromContextOrDiscard(ctx).WithValues("cluster", cluster, "containerInstanceArn", arn)
	ctx = logr.NewContext(ctx, log)

	if r, ok := c.drains.take(arn); ok {
		switch {
		case r.failure != "":
			// Most likely another replica or a person changed the status meanwhile; read it again.
			log.V(1).Info("ECS refused DRAINING", "reason", r.failure)
			c.snap.invalidate(cluster, arn)
		case p.drainRequestedAt.IsZero():
			p.drainRequestedAt = r.at
			if !c.cfg.DryRun {
				log.Info("Started drain")
			}
		}
	}

	e, err := c.snap.get(ctx, cluster, arn, c.freshFor())
	if err != nil {
		return result{}, err
	}
	switch {
	case e.missing, e.status == ciInactive, e.status == ciRegistrationFailed, e.status == ciRegistering:
		// Deregistered, never made it, or not yet ACTIVE: no task runs there (tasks are placed on
		// ACTIVE container instances only).
		return c.complete(ctx, v, metrics.ResultContinue, metrics.ReasonNotRegistered, metrics.OutcomeNotRegistered)
	}
	now := c.clock.Now()

	if e.status == ciDraining && p.drainRequestedAt.IsZero() && c.drains.isPending(cluster, arn) {
		// Our own DRAINING call is in flight (a refresh saw its effect before its answer was
		// stored): wait for the answer rather than adopt the drain as someone else's.
		return c.waitForBatch(), nil
	}
	switch e.status {
	case ciActive:
		// In dry run nothing became DRAINING; after saying so once, carry on as if it had.
		if !c.cfg.DryRun || p.drainRequestedAt.IsZero() {
			c.drains.request(cluster, arn, v.id)
			if p.timedOut {
				// stop-tasks past the drain timeout: stop what runs even though DRAINING could not
				// be set (still asked for, in case it now can).
				return c.stopAfterTimeout(ctx, v, e, now)
			}
			return c.waitForBatch(), nil
		}
	case ciDraining:
	default:
		// DEREGISTERING (or a status this code does not know): nothing to do but look again, up to
		// the drain timeout (applied above).
		if p.timedOut {
			return c.stopAfterTimeout(ctx, v, e, now)
		}
		return result{requeueAfter: c.nextWake(v, e, now)}, nil
	}

	if err := c.ensureDrainStart(ctx, v, e, now); err != nil {
		return result{}, err
	}
	// The tag may hold a start earlier than first sight (a drain resumed after a restart).
	if res, done, err := c.drainTimeout(ctx, v, now); done {
		return res, err
	}
	if p.timedOut {
		return c.stopAfterTimeout(ctx, v, e, now)
	}
	age := now.Sub(p.drainStartedAt)
	if c.cfg.StandaloneTaskPolicy == StandalonePolicyStop && !p.standaloneChecked && e.running > 0 && age >= c.cfg.StandaloneTaskGrace {
		if err := c.stopStandalone(ctx, v); err != nil {
			return result{}, err
		}
		p.standaloneChecked = true
	}
	drained, res, err := c.checkDrained(ctx, v, e, now)
	if err != nil || !drained {
		return res, err
	}
	return c.complete(ctx, v, metrics.ResultContinue, metrics.ReasonDrained, metrics.OutcomeDrained)
}

// freshFor is how old a container instance read may be and still serve a decision: a little less
// than the poll interval, so a reconcile that comes back a poll interval after its read refreshes,
// and every other instance of the cluster coming back at about the same time shares that refresh.
func (c *Controller) freshFor() time.Duration {
	return c.cfg.PollInterval - min(time.Second, c.cfg.PollInterval/4)
}

// waitForBatch is the result of a reconcile that filed a batched request: the batch enqueues the
// instance again when answered; the poll interval is only a safety net.
func (c *Controller) waitForBatch() result { return result{requeueAfter: c.cfg.PollInterval} }

// nextWake is when an instance should be looked at again: a poll interval after the read it was
// decided on (so all instances of a cluster come back together and share one refresh), or earlier
// if the drain timeout or the standalone grace period falls due first. Heartbeats have their own
// schedule (heartbeat.go).
func (c *Controller) nextWake(v *instance, e ciEntry, now time.Time) time.Duration {
	p := &v.prog
	next := e.fetchedAt.Add(c.cfg.PollInterval)
	soonest := func(t time.Time) {
		if t.After(now) && t.Before(next) {
			next = t
		}
	}
	timeout, _ := c.drainTimeoutFor(v.hook)
	if !p.timedOut {
		soonest(drainRef(v).Add(timeout))
	} else {
		soonest(drainRef(v).Add(timeout + timeoutStopAllowance))
	}
	if !p.drainStartedAt.IsZero() && c.cfg.StandaloneTaskPolicy == StandalonePolicyStop && !p.standaloneChecked {
		soonest(p.drainStartedAt.Add(c.cfg.StandaloneTaskGrace))
	}
	return max(next.Sub(now), time.Millisecond)
}

// ensureDrainStart learns the drain's start: from the drain-started-at tag, else the time this
// process set DRAINING, else now for a drain someone else started. It writes the tag only once the
// drain is tagAfter old: a drain that ends sooner (most of them) costs no TagResource call, and
// the start of one that is cut short by a restart is only ever lost by less than tagAfter.
func (c *Controller) ensureDrainStart(ctx context.Context, v *instance, e ciEntry, now time.Time) error {
	p := &v.prog
	log := logr.FromContextOrDiscard(ctx)
	if !p.startTagged && e.drainTag != "" {
		t, err := time.Parse(time.RFC3339, e.drainTag)
		switch {
		case err != nil:
			// Replaced when the drain is old enough to need the tag.
			if p.drainStartedAt.IsZero() {
				log.Info("Ignoring unreadable drain start tag", "tag", DrainStartedTagKey, "value", e.drainTag)
			}
		default:
			// Written by an earlier process or another replica: keep the earlier of the two starts,
			// and never write the tag again.
			if p.drainStartedAt.IsZero() && p.drainRequestedAt.IsZero() {
				log.Info("Resuming drain", "drainStartedAt", t)
			}
			if p.drainStartedAt.IsZero() || t.Before(p.drainStartedAt) {
				p.drainStartedAt = t
			}
			p.startTagged = true
			return nil
		}
	}
	if p.drainStartedAt.IsZero() {
		start := p.drainRequestedAt
		if start.IsZero() {
			// After a restart this is also a drain of ours that ended before it was tagged: its clock
			// restarts now, so its timeouts come later, never earlier.
			start = now
			log.Info("Adopting drain started elsewhere")
		}
		// Kept at the tag's precision, so writing the tag later changes nothing.
		p.drainStartedAt, _ = time.Parse(time.RFC3339, start.UTC().Format(time.RFC3339))
	}
	if p.startTagged || now.Sub(p.drainStartedAt) < c.tagAfter(v) {
		return nil
	}
	value := p.drainStartedAt.UTC().Format(time.RFC3339)
	cluster, arn := v.mapping.cluster, v.mapping.arn
	err := c.write(ctx, "tag container instance", []any{"tag", DrainStartedTagKey, "value", value}, func(ctx context.Context) error {
		_, err := c.ecs.TagResource(ctx, &ecs.TagResourceInput{
			ResourceArn: aws.String(arn),
			Tags:        []ecstypes.Tag{{Key: aws.String(DrainStartedTagKey), Value: aws.String(value)}},
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("tagging container instance %s with the drain start: %w", arn, err)
	}
	if !c.cfg.DryRun {
		c.snap.setTag(cluster, arn, value)
	}
	p.startTagged = true
	return nil
}

// tagAfter is how old a drain gets before its start is written to the drain-started-at tag. A
// restart before then loses the start, and the restarted process counts the drain from its first
// sight instead: everything counted from the start comes later by the drain's age at the restart
// (less than tagAfter) plus the downtime, never earlier. tagAfter bounds that error by the scale
// of each thing counted from the start:
//   - the drain timeout and the standalone task grace (when standalone tasks are stopped): neither
//     comes more than its own length late;
//   - half the hook's heartbeat timeout, the heartbeat interval: the hook's global timeout is
//     counted in heartbeat timeouts, and a restarted process records a heartbeat at first sight
//     anyway;
//   - timeoutStopAllowance, the part of the global timeout's margin a lost start can use up, so the
//     configured drain timeout action still comes before the hook's DefaultResult.
//
// Drains are usually seconds to minutes long, so most end untagged: one ECS call per drain saved.
func (c *Controller) tagAfter(v *instance) time.Duration {
	d := timeoutStopAllowance
	if timeout, _ := c.drainTimeoutFor(v.hook); timeout > 0 {
		d = min(d, timeout)
	}
	if hb := v.hook.heartbeatTimeout; hb > 0 {
		d = min(d, hb/2)
	}
	if c.cfg.StandaloneTaskPolicy == StandalonePolicyStop {
		d = min(d, c.cfg.StandaloneTaskGrace)
	}
	return max(d, 0)
}

// heartbeatBase is the time the next heartbeat is counted from: the last one this process recorded
// (or, in dry run, would have), or a time the lifecycle action is known to have started after; zero
// when unknown.
func (c *Controller) heartbeatBase(v *instance) time.Time {
	if last := latest(v.hb.last, v.hb.dryRun); !last.IsZero() {
		return last
	}
	return v.enteredAfter
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// globalEnd is when the hook's global timeout ends the action, as far as this process can tell:
// counted from drainRef, which is no earlier than the action's start give or take a resync (the
// drain timeout's margin covers that).
func (c *Controller) globalEnd(v *instance) time.Time {
	return drainRef(v).Add(v.hook.globalTimeout)
}

// checkDrained reports whether every task on the container instance is STOPPED. Running or pending
// tasks mean no. With none, the tasks already told to stop are listed once and then described
// (batched across the cluster's instances) once per container instance read until all are STOPPED.
func (c *Controller) checkDrained(ctx context.Context, v *instance, e ciEntry, now time.Time) (bool, result, error) {
	p := &v.prog
	tc := &p.check
	wait := result{requeueAfter: c.nextWake(v, e, now)}
	if e.running+e.pending > 0 {
		*tc = taskCheck{}
		return false, wait, nil
	}
	if tc.checkedFor.Equal(e.fetchedAt) {
		return false, wait, nil
	}
	cluster, arn := v.mapping.cluster, v.mapping.arn
	if !tc.listed {
		arns, err := c.listTasks(ctx, cluster, arn, ecstypes.DesiredStatusStopped)
		if err != nil {
			return false, result{}, err
		}
		*tc = taskCheck{listed: true, pending: arns}
	}
	if len(tc.pending) == 0 {
		return true, result{}, nil
	}
	if tc.requestedAt.IsZero() {
		tc.requestedAt = now
		c.tasks.request(cluster, tc.pending, v.id)
		return false, c.waitForBatch(), nil
	}
	infos, ok := c.tasks.lookup(tc.pending, tc.requestedAt)
	if !ok {
		if now.Sub(tc.requestedAt) >= c.cfg.PollInterval {
			// The answer comes within a batch window when all is well. A poll later it is lost:
			// the describe failed, or its answer was pruned before this reconcile came back (a
			// reconcile held up by errors). Ask again rather than wait for it forever.
			tc.requestedAt = now
			c.tasks.request(cluster, tc.pending, v.id)
		}
		return false, c.waitForBatch(), nil
	}
	var still []string
	for _, t := range infos {
		if t.lastStatus != taskStopped {
			still = append(still, t.arn)
		}
	}
	c.tasks.forget(tc.pending)
	tc.pending, tc.requestedAt, tc.checkedFor = still, time.Time{}, e.fetchedAt
	if len(still) == 0 {
		return true, result{}, nil
	}
	logr.FromContextOrDiscard(ctx).V(1).Info("Waiting for tasks to stop", "stoppingTasks", len(still))
	return false, wait, nil
}

// stopStandalone stops the standalone tasks (not started by a service) still meant to run on the
// container instance. Only tasks whose desiredStatus is still RUNNING are stopped, so a second
// replica does not stop them again.
func (c *Controller) stopStandalone(ctx context.Context, v *instance) error {
	cluster, arn := v.mapping.cluster, v.mapping.arn
	tasks, err := c.tasksOn(ctx, cluster, arn, ecstypes.DesiredStatusRunning)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		if _, isService := t.service(); isService || t.desiredStatus != taskRunning {
			continue
		}
		if err := c.stopTask(ctx, v, t, metrics.PolicyStandaloneGrace, "ecs-drainer: standalone task on a draining instance past the grace period"); err != nil {
			return err
		}
	}
	return nil
}

// drainTimeout applies the drain timeout once the drain (counted from drainRef) outlived it:
// counted and logged once, then CONTINUE or ABANDON at once. The stop-tasks action is carried out
// by stopAfterTimeout where the container instance is known; this ends it with CONTINUE whatever is
// left once timeoutStopAllowance has passed too, so a task that never stops, or a container instance
// that cannot be looked up or read, cannot hold the instance until the hook's global timeout.
// done reports that the reconcile ends here with res and err.
func (c *Controller) drainTimeout(ctx context.Context, v *instance, now time.Time) (res result, done bool, err error) {
	p := &v.prog
	timeout, _ := c.drainTimeoutFor(v.hook)
	ref := drainRef(v)
	if now.Sub(ref) < timeout {
		return result{}, false, nil
	}
	log := logr.FromContextOrDiscard(ctx)
	action := c.cfg.DrainTimeoutAction
	if !p.timedOut {
		p.timedOut = true
		if !c.cfg.DryRun {
			c.m.DrainTimeouts.WithLabelValues(action).Inc()
		}
		log.Error(nil, "Drain timed out", "action", action, "drainStartedAt", ref, "drainTimeout", timeout,
			"draining", !p.drainStartedAt.IsZero(), "lookedUp", v.mapping.state == mapFound)
	}
	switch action {
	case DrainTimeoutContinue:
		res, err = c.complete(ctx, v, metrics.ResultContinue, metrics.ReasonDrainTimeout, metrics.OutcomeTimeoutContinue)
		return res, true, err
	case DrainTimeoutAbandon:
		res, err = c.complete(ctx, v, metrics.ResultAbandon, metrics.ReasonDrainTimeout, metrics.OutcomeTimeoutAbandon)
		return res, true, err
	}
	if now.Before(ref.Add(timeout + timeoutStopAllowance)) {
		return result{}, false, nil
	}
	log.Error(nil, "Tasks not all stopped within the allowance after the drain timeout; completing anyway",
		"allowance", timeoutStopAllowance)
	res, err = c.complete(ctx, v, metrics.ResultContinue, metrics.ReasonDrainTimeout, metrics.OutcomeTimeoutStopTasks)
	return res, true, err
}

// stopAfterTimeout is the stop-tasks drain timeout action on a container instance: stop every
// task still meant to run (daemon tasks last), then complete CONTINUE once every task is STOPPED.
func (c *Controller) stopAfterTimeout(ctx context.Context, v *instance, e ciEntry, now time.Time) (result, error) {
	p := &v.prog
	if e.running+e.pending > 0 {
		if err := c.stopRemaining(ctx, v); err != nil {
			return result{}, err
		}
		p.check = taskCheck{}
		return result{requeueAfter: c.nextWake(v, e, now)}, nil
	}
	drained, res, err := c.checkDrained(ctx, v, e, now)
	if err != nil || !drained {
		return res, err
	}
	return c.complete(ctx, v, metrics.ResultContinue, metrics.ReasonDrainTimeout, metrics.OutcomeTimeoutStopTasks)
}

// stopRemaining stops every task still meant to run on the container instance, daemon tasks last:
// they are stopped only once no other task is meant to run or still stopping, whoever told it to
// stop (ECS's own drain, this or another replica, a person), as ECS itself orders a drain.
func (c *Controller) stopRemaining(ctx context.Context, v *instance) error {
	cluster, arn := v.mapping.cluster, v.mapping.arn
	tasks, err := c.tasksOn(ctx, cluster, arn, ecstypes.DesiredStatusRunning, ecstypes.DesiredStatusStopped)
	if err != nil {
		return err
	}
	var others, daemons []taskInfo
	othersStopping := false
	for _, t := range tasks {
		if t.desiredStatus != taskRunning && t.lastStatus == taskStopped {
			continue
		}
		isDaemon, err := c.isDaemonTask(ctx, cluster, t)
		if err != nil {
			return err
		}
		switch {
		case t.desiredStatus == taskRunning && isDaemon:
			daemons = append(daemons, t)
		case t.desiredStatus == taskRunning:
			others = append(others, t)
		case !isDaemon:
			othersStopping = true
		}
	}
	toStop := others
	if len(others) == 0 && !othersStopping {
		toStop = daemons
	}
	for _, t := range toStop {
		if err := c.stopTask(ctx, v, t, metrics.PolicyDrainTimeout, "drain timeout"); err != nil {
			return err
		}
	}
	return nil
}

// tasksOn lists the tasks on a container instance with any of the desired statuses, described.
func (c *Controller) tasksOn(ctx context.Context, cluster, ciArn string, desired ...ecstypes.DesiredStatus) ([]taskInfo, error) {
	var arns []string
	for _, d := range desired {
		a, err := c.listTasks(ctx, cluster, ciArn, d)
		if err != nil {
			return nil, err
		}
		arns = append(arns, a...)
	}
	if len(arns) == 0 {
		return nil, nil
	}
	return c.describeTasks(ctx, cluster, arns)
}

// isDaemonTask reports whether a task belongs to a service with the DAEMON scheduling strategy.
// Strategies are cached for daemonCacheTTL.
func (c *Controller) isDaemonTask(ctx context.Context, cluster string, t taskInfo) (bool, error) {
	name, ok := t.service()
	if !ok || name == "" {
		return false, nil
	}
	key := cluster + "/" + name
	now := c.clock.Now()
	c.mu.Lock()
	d, known := c.daemonServices[key]
	c.mu.Unlock()
	if known && now.Sub(d.at) < daemonCacheTTL {
		return d.daemon, nil
	}
	out, err := c.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}})
	if err != nil {
		return false, fmt.Errorf("describing service %s in cluster %s: %w", name, cluster, err)
	}
	d = daemonEntry{at: now}
	for _, s := range out.Services {
		if s.SchedulingStrategy == ecstypes.SchedulingStrategy(daemon) {
			d.daemon = true
		}
	}
	c.mu.Lock()
	c.daemonServices[key] = d
	c.mu.Unlock()
	return d.daemon, nil
}

// stopTask stops one task (in dry run: says so, once per task). why goes into the task's
// stoppedReason, with this process's name.
func (c *Controller) stopTask(ctx context.Context, v *instance, t taskInfo, policy, why string) error {
	p := &v.prog
	if c.cfg.DryRun && p.dryRunStopped[t.arn] {
		return nil
	}
	cluster := v.mapping.cluster
	reason := c.stopReason(why)
	var out *ecs.StopTaskOutput
	err := c.write(ctx, "stop task", []any{"taskArn", t.arn, "group", t.group, "policy", policy}, func(ctx context.Context) error {
		var err error
		out, err = c.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(t.arn), Reason: aws.String(reason)})
		return err
	})
	if err != nil {
		return fmt.Errorf("stopping task %s: %w", t.arn, err)
	}
	log := logr.FromContextOrDiscard(ctx)
	if c.cfg.DryRun {
		stopped := maps.Clone(p.dryRunStopped)
		if stopped == nil {
			stopped = map[string]bool{}
		}
		stopped[t.arn] = true
		p.dryRunStopped = stopped
		return nil
	}
	// StopTask answers with the task as it is after the call. Stopping a task already told to stop
	// changes nothing, so a stoppedReason other than ours means someone stopped it first (another
	// replica between our describe and this call, or ECS): not counted as ours.
	if out != nil && out.Task != nil && aws.ToString(out.Task.StoppedReason) != reason {
		log.V(1).Info("Task was already stopping", "taskArn", t.arn, "stoppedReason", aws.ToString(out.Task.StoppedReason))
		return nil
	}
	c.m.TasksStopped.WithLabelValues(policy).Inc()
	log.Info("Stopped task", "taskArn", t.arn, "group", t.group, "policy", policy)
	return nil
}

// complete completes the lifecycle action. "No active Lifecycle Action" means it is already over
// (completed by someone else, or expired): done, not an error. When an attempt of ours may have
// gone through unanswered (a lost response the SDK retried, or an earlier call that failed without
// a definite answer), that answer means we completed it.
func (c *Controller) complete(ctx context.Context, v *instance, res, reason, outcome string) (result, error) {
	p := &v.prog
	log := logr.FromContextOrDiscard(ctx)
	kv := []any{"result", res, "reason", reason}
	var attempts awsapi.AttemptLog
	err := c.write(ctx, "complete lifecycle action", kv, func(ctx context.Context) error {
		_, err := c.as.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
			AutoScalingGroupName:  aws.String(v.asg),
			LifecycleHookName:     aws.String(v.hook.name),
			InstanceId:            aws.String(v.id),
			LifecycleActionResult: aws.String(res),
		}, func(o *autoscaling.Options) { o.APIOptions = append(o.APIOptions, attempts.Middleware) })
		return err
	})
	p.completeUncertain = p.completeUncertain || attempts.Uncertain()
	now := c.clock.Now()
	if awsapi.IsNoActiveLifecycleAction(err) && p.completeUncertain {
		log.Info("Lifecycle action already ended after a completion attempt whose answer was lost; counting it as completed")
		err = nil
	}
	if awsapi.IsNoActiveLifecycleAction(err) || awsapi.IsInvalidRequest(err) {
		// Over, or the hook named is not the one the instance waits on (deleted, or replaced under
		// a new name): read both afresh before believing either.
		waiting, follows, rerr := c.recheckAction(ctx, v)
		switch {
		case rerr != nil:
			return result{}, rerr
		case follows:
			return c.complete(ctx, v, res, reason, outcome)
		case !waiting || awsapi.IsNoActiveLifecycleAction(err):
			c.actionEnded(ctx, v, now, "completion")
			return result{}, nil
		}
	}
	if err != nil {
		return result{}, fmt.Errorf("completing lifecycle action of %s with %s: %w", v.id, res, err)
	}
	p.completed = true
	c.release(v)
	c.endDrain(v, now, outcome, res)
	if c.cfg.DryRun {
		return result{}, nil
	}
	p.completedByUs = true
	duration := now.Sub(drainRef(v))
	c.m.LifecycleActionsCompleted.WithLabelValues(res, reason).Inc()
	c.m.DrainDurationSeconds.WithLabelValues(outcome).Observe(duration.Seconds())
	log.Info("Completed lifecycle action", "result", res, "reason", reason, "drainDuration", duration)
	return result{}, nil
}

// actionEnded records that the lifecycle action was found over without this process completing it.
func (c *Controller) actionEnded(ctx context.Context, v *instance, now time.Time, during string) {
	p := &v.prog
	p.completed, p.endedAt, p.endedExpired = true, now, c.expired(v, now)
	c.release(v)
	c.endDrain(v, now, endedOutcome(p.endedExpired), "")
	logr.FromContextOrDiscard(ctx).Info("Lifecycle action already ended", "during", during, "expired", p.endedExpired)
}

// drainRef is what a drain's age, duration and timeout are counted from: first sight in
// Terminating:Wait, or the drain's start if earlier (the drain-started-at tag of a drain resumed
// after a restart). Counting from first sight rather than from DRAINING means an instance that
// cannot be set DRAINING, or looked up, still times out and shows in the drain gauges.
func drainRef(v *instance) time.Time {
	if s := v.prog.drainStartedAt; !s.IsZero() && s.Before(v.firstSeen) {
		return s
	}
	return v.firstSeen
}

// expired guesses whether an action that ended without us timed out: its heartbeat deadline (as
// far as this process knows it) or global timeout had passed. Otherwise someone else ended it.
func (c *Controller) expired(v *instance, now time.Time) bool {
	if v.hook.heartbeatTimeout <= 0 {
		return false
	}
	base := v.hb.last // what AWS saw: dry run heartbeats extended nothing
	if base.IsZero() {
		base = v.enteredAfter
	}
	if base.IsZero() {
		base = v.firstSeen
	}
	return !now.Before(base.Add(v.hook.heartbeatTimeout)) || !now.Before(c.globalEnd(v))
}

// release drops what the batches and the snapshot hold for a finished instance.
func (c *Controller) release(v *instance) {
	c.resolver.forget(v.id)
	if v.mapping.state != mapFound {
		return
	}
	c.snap.untrack(v.mapping.cluster, v.mapping.arn)
	c.drains.forget(v.mapping.cluster, v.mapping.arn)
	c.tasks.forget(v.prog.check.pending)
}

// finish forgets an instance that left Terminating:Wait, recording how its drain ended.
func (c *Controller) finish(ctx context.Context, v *instance) {
	p := &v.prog
	now := c.clock.Now()
	ended := metrics.EndedOther
	switch {
	case p.completedByUs:
		ended = metrics.EndedCompleted
	case p.endedAt.IsZero() && c.expired(v, now), !p.endedAt.IsZero() && p.endedExpired:
		ended = metrics.EndedExpired
	}
	if ended != metrics.EndedCompleted {
		outcome := endedOutcome(ended == metrics.EndedExpired)
		c.m.DrainDurationSeconds.WithLabelValues(outcome).Observe(now.Sub(drainRef(v)).Seconds())
		if !p.completed {
			// Gone without a completion or a "No active Lifecycle Action": not recorded yet.
			c.endDrain(v, now, outcome, "")
		}
	}
	c.m.DrainsEnded.WithLabelValues(ended).Inc()
	logr.FromContextOrDiscard(ctx).Info("Instance left Terminating:Wait", "ended", ended)
	c.release(v)
	c.mu.Lock()
	delete(c.instances, v.id)
	c.mu.Unlock()
}

// recheckAction reads afresh, after Auto Scaling refused a heartbeat or a completion for the
// instance's hook, whether the instance still waits in Terminating:Wait and which hook of its
// group the controller acts for. A usable hook of another name is the one it waits on now (the
// hook was replaced under a new name): the instance follows it (v too), its heartbeats start again,
// and follows is true.
func (c *Controller) recheckAction(ctx context.Context, v *instance) (waiting, follows bool, err error) {
	sel, err := c.describeGroupNow(ctx, v.asg)
	if err != nil {
		return false, false, err
	}
	if waiting, err = c.instanceWaiting(ctx, v.asg, v.id); err != nil || !waiting {
		return waiting, false, err
	}
	if sel.problem != hookOK || sel.hook.name == v.hook.name {
		return true, false, nil
	}
	c.mu.Lock()
	if cur := c.instances[v.id]; cur != nil {
		cur.followHook(sel.hook)
	}
	c.mu.Unlock()
	logr.FromContextOrDiscard(ctx).Info("Following the group's lifecycle hook: the one acted for was refused", "oldHook", v.hook.name, "newHook", sel.hook.name)
	v.hook, v.hb = sel.hook, heartbeatState{}
	c.enqueueHeartbeat(v.id)
	return true, true, nil
}

// afterRefusedHeartbeat handles a heartbeat Auto Scaling refused: the instance follows its group's
// new hook and the drain carries on; or the action is over ("No active Lifecycle Action", or the
// instance no longer waits); or, for another refusal with the hook unchanged, heartbeats are tried
// again after heartbeatRetry and the refusal is reported as an error.
func (c *Controller) afterRefusedHeartbeat(ctx context.Context, v *instance) (result, error) {
	waiting, follows, err := c.recheckAction(ctx, v)
	switch {
	case err != nil:
		return result{}, err
	case follows:
		return c.step(ctx, v)
	case !waiting || v.hb.noActive:
		c.actionEnded(ctx, v, v.hb.rejectedAt, "heartbeat")
		return result{}, nil
	}
	c.mu.Lock()
	if cur := c.instances[v.id]; cur != nil {
		cur.hb.rejectedAt = time.Time{}
	}
	c.mu.Unlock()
	retry := heartbeatRetry(v.hook.heartbeatTimeout)
	c.hbQueue.AddAfter(v.id, retry)
	return result{requeueAfter: retry}, fmt.Errorf("heartbeat for lifecycle hook %s refused although the instance still waits on it; retrying in %s", v.hook.name, retry)
}
