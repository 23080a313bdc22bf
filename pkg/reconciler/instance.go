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
//	container instance not looked up  -> join the next lookup batch
//	not registered anywhere           -> complete CONTINUE at once
//	ACTIVE                            -> join the next DRAINING batch of its cluster
//	DRAINING                          -> tag the drain start if untagged, heartbeat when due,
//	                                     apply the drain timeout, the standalone task policy,
//	                                     then complete CONTINUE once every task is STOPPED
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

	before := v.prog
	res, err := c.step(ctx, &v)
	c.mu.Lock()
	if cur := c.instances[id]; cur != nil {
		cur.prog = v.prog
	}
	c.mu.Unlock()
	if before.drainStartedAt != v.prog.drainStartedAt || before.completed != v.prog.completed {
		c.updateDrainGauges()
	}
	return res, err
}

// step is reconcileInstance's decision for an instance still waiting on the hook. It updates
// v.prog, which the caller stores.
func (c *Controller) step(ctx context.Context, v *instance) (result, error) {
	p := &v.prog
	if v.mapping.state == mapNotFound {
		return c.complete(ctx, v, metrics.ResultContinue, metrics.ReasonNotRegistered, metrics.OutcomeNotRegistered)
	}
	// The hook is kept alive whatever else is slow (lookups or DRAINING held up by throttling).
	if done, err := c.heartbeat(ctx, v, c.clock.Now()); err != nil || done {
		return result{}, err
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

	switch e.status {
	case ciActive:
		// In dry run nothing became DRAINING; after saying so once, carry on as if it had.
		if !c.cfg.DryRun || p.drainRequestedAt.IsZero() {
			c.drains.request(cluster, arn, v.id)
			return c.waitForBatch(), nil
		}
	case ciDraining:
	default:
		// DEREGISTERING (or a status this code does not know): nothing to do but look again, up to
		// the drain timeout counted from first sight.
		if timeout, _ := c.drainTimeoutFor(v.hook); now.Sub(v.firstSeen) >= timeout {
			return c.onDrainTimeout(ctx, v, e, now, timeout)
		}
		return result{requeueAfter: c.nextWake(v, e, now)}, nil
	}

	if err := c.ensureDrainStart(ctx, v, e, now); err != nil {
		return result{}, err
	}
	age := now.Sub(p.drainStartedAt)
	if timeout, _ := c.drainTimeoutFor(v.hook); age >= timeout {
		return c.onDrainTimeout(ctx, v, e, now, timeout)
	}
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
// if a heartbeat, the drain timeout or the standalone grace period falls due first.
func (c *Controller) nextWake(v *instance, e ciEntry, now time.Time) time.Duration {
	p := &v.prog
	next := e.fetchedAt.Add(c.cfg.PollInterval)
	soonest := func(t time.Time) {
		if t.After(now) && t.Before(next) {
			next = t
		}
	}
	if last := c.heartbeatBase(v); !last.IsZero() && v.hook.heartbeatTimeout > 0 {
		due := last.Add(v.hook.heartbeatTimeout / 2)
		if due.Before(c.globalEnd(v)) {
			soonest(due)
		}
	}
	if !p.drainStartedAt.IsZero() {
		timeout, _ := c.drainTimeoutFor(v.hook)
		soonest(p.drainStartedAt.Add(timeout))
		if c.cfg.StandaloneTaskPolicy == StandalonePolicyStop && !p.standaloneChecked {
			soonest(p.drainStartedAt.Add(c.cfg.StandaloneTaskGrace))
		}
	}
	return max(next.Sub(now), time.Millisecond)
}

// ensureDrainStart learns the drain's start from the drain-started-at tag, or writes the tag:
// with the time this process set DRAINING, or now for a drain someone else started.
func (c *Controller) ensureDrainStart(ctx context.Context, v *instance, e ciEntry, now time.Time) error {
	p := &v.prog
	if !p.drainStartedAt.IsZero() {
		return nil
	}
	log := logr.FromContextOrDiscard(ctx)
	if e.drainTag != "" {
		t, err := time.Parse(time.RFC3339, e.drainTag)
		if err == nil {
			p.drainStartedAt = t
			if p.drainRequestedAt.IsZero() {
				log.Info("Resuming drain", "drainStartedAt", t)
			}
			return nil
		}
		log.Info("Replacing unreadable drain start tag", "tag", DrainStartedTagKey, "value", e.drainTag)
	}
	start := p.drainRequestedAt
	if start.IsZero() {
		start = now
		log.Info("Adopting drain started elsewhere")
	}
	value := start.UTC().Format(time.RFC3339)
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
	p.drainStartedAt, _ = time.Parse(time.RFC3339, value)
	return nil
}

// heartbeatBase is the time the next heartbeat is counted from: the last one this process recorded
// (or, in dry run, would have), or a time the lifecycle action is known to have started after; zero
// when unknown.
func (c *Controller) heartbeatBase(v *instance) time.Time {
	if last := latest(v.prog.lastHeartbeat, v.prog.dryRunHeartbeat); !last.IsZero() {
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

// globalEnd is when the hook's global timeout ends the action, counted from the drain start (or
// first sight before the drain started).
func (c *Controller) globalEnd(v *instance) time.Time {
	ref := v.prog.drainStartedAt
	if ref.IsZero() {
		ref = v.firstSeen
	}
	return ref.Add(v.hook.globalTimeout)
}

// heartbeat records a lifecycle action heartbeat when half the heartbeat timeout has passed since
// the last one (at once when that is unknown, as after a restart), never past the global timeout.
// done reports that the action turned out to be over.
func (c *Controller) heartbeat(ctx context.Context, v *instance, now time.Time) (done bool, err error) {
	p := &v.prog
	if !heartbeatDue(now, c.heartbeatBase(v), c.globalEnd(v), v.hook.heartbeatTimeout) {
		return false, nil
	}
	log := logr.FromContextOrDiscard(ctx)
	err = c.write(ctx, "record lifecycle action heartbeat", nil, func(ctx context.Context) error {
		_, err := c.as.RecordLifecycleActionHeartbeat(ctx, &autoscaling.RecordLifecycleActionHeartbeatInput{
			AutoScalingGroupName: aws.String(v.asg),
			LifecycleHookName:    aws.String(v.hook.name),
			InstanceId:           aws.String(v.id),
		})
		return err
	})
	if awsapi.IsNoActiveLifecycleAction(err) {
		c.actionEnded(ctx, v, now, "heartbeat")
		return true, nil
	}
	if err != nil {
		err = fmt.Errorf("recording lifecycle action heartbeat for %s: %w", v.id, err)
		if awsapi.IsInvalidRequest(err) {
			// The hook was probably deleted or renamed: see complete.
			c.invalidateHooks(v.asg)
			return false, terminal(err)
		}
		return false, err
	}
	if c.cfg.DryRun {
		p.dryRunHeartbeat = now
		return false, nil
	}
	p.lastHeartbeat = now
	c.m.Heartbeats.Inc()
	log.Info("Recorded lifecycle action heartbeat")
	return false, nil
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
	tasks, err := c.runningTasks(ctx, cluster, arn, nil)
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

// onDrainTimeout ends a drain that outlived the drain timeout the configured way.
func (c *Controller) onDrainTimeout(ctx context.Context, v *instance, e ciEntry, now time.Time, timeout time.Duration) (result, error) {
	p := &v.prog
	action := c.cfg.DrainTimeoutAction
	if !p.timedOut {
		p.timedOut = true
		c.m.DrainTimeouts.WithLabelValues(action).Inc()
		logr.FromContextOrDiscard(ctx).Error(nil, "Drain timed out", "action", action, "drainStartedAt", p.drainStartedAt,
			"drainTimeout", timeout, "runningTasks", e.running, "pendingTasks", e.pending)
	}
	switch action {
	case DrainTimeoutContinue:
		return c.complete(ctx, v, metrics.ResultContinue, metrics.ReasonDrainTimeout, metrics.OutcomeTimeoutContinue)
	case DrainTimeoutAbandon:
		return c.complete(ctx, v, metrics.ResultAbandon, metrics.ReasonDrainTimeout, metrics.OutcomeTimeoutAbandon)
	}
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

// stopRemaining is the stop-tasks drain timeout action: stop every task still meant to run, daemon
// tasks last. Daemon tasks are stopped only once no other task is meant to run and every task this
// controller stopped has reached STOPPED, as ECS itself orders a drain.
func (c *Controller) stopRemaining(ctx context.Context, v *instance) error {
	p := &v.prog
	cluster, arn := v.mapping.cluster, v.mapping.arn
	tasks, err := c.runningTasks(ctx, cluster, arn, p.stoppedByUs)
	if err != nil {
		return err
	}
	ours := map[string]bool{}
	for _, a := range p.stoppedByUs {
		ours[a] = true
	}
	var others, daemons []taskInfo
	oursStopping := false
	for _, t := range tasks {
		if ours[t.arn] && t.lastStatus != taskStopped {
			oursStopping = true
		}
		if t.desiredStatus != taskRunning {
			continue
		}
		isDaemon, err := c.isDaemonTask(ctx, cluster, t)
		if err != nil {
			return err
		}
		if isDaemon {
			daemons = append(daemons, t)
		} else {
			others = append(others, t)
		}
	}
	toStop := others
	if len(others) == 0 && !oursStopping {
		toStop = daemons
	}
	for _, t := range toStop {
		if err := c.stopTask(ctx, v, t, metrics.PolicyDrainTimeout, "ecs-drainer: drain timeout"); err != nil {
			return err
		}
	}
	return nil
}

// runningTasks lists the tasks meant to run on a container instance and describes them together
// with extra (tasks whose progress the caller follows).
func (c *Controller) runningTasks(ctx context.Context, cluster, ciArn string, extra []string) ([]taskInfo, error) {
	arns, err := c.listTasks(ctx, cluster, ciArn, ecstypes.DesiredStatusRunning)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, a := range arns {
		seen[a] = true
	}
	for _, a := range extra {
		if !seen[a] {
			arns = append(arns, a)
		}
	}
	if len(arns) == 0 {
		return nil, nil
	}
	return c.describeTasks(ctx, cluster, arns)
}

// isDaemonTask reports whether a task belongs to a service with the DAEMON scheduling strategy.
// Strategies are cached: a service's strategy cannot change.
func (c *Controller) isDaemonTask(ctx context.Context, cluster string, t taskInfo) (bool, error) {
	name, ok := t.service()
	if !ok || name == "" {
		return false, nil
	}
	key := cluster + "/" + name
	c.mu.Lock()
	d, known := c.daemonServices[key]
	c.mu.Unlock()
	if known {
		return d, nil
	}
	out, err := c.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}})
	if err != nil {
		return false, fmt.Errorf("describing service %s in cluster %s: %w", name, cluster, err)
	}
	d = false
	for _, s := range out.Services {
		if s.SchedulingStrategy == ecstypes.SchedulingStrategy(daemon) {
			d = true
		}
	}
	c.mu.Lock()
	c.daemonServices[key] = d
	c.mu.Unlock()
	return d, nil
}

// stopTask stops one task (in dry run: says so, once per task).
func (c *Controller) stopTask(ctx context.Context, v *instance, t taskInfo, policy, reason string) error {
	p := &v.prog
	if c.cfg.DryRun && p.dryRunStopped[t.arn] {
		return nil
	}
	cluster := v.mapping.cluster
	err := c.write(ctx, "stop task", []any{"taskArn", t.arn, "group", t.group, "policy", policy}, func(ctx context.Context) error {
		_, err := c.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(t.arn), Reason: aws.String(reason)})
		return err
	})
	if err != nil {
		return fmt.Errorf("stopping task %s: %w", t.arn, err)
	}
	if c.cfg.DryRun {
		stopped := maps.Clone(p.dryRunStopped)
		if stopped == nil {
			stopped = map[string]bool{}
		}
		stopped[t.arn] = true
		p.dryRunStopped = stopped
		return nil
	}
	p.stoppedByUs = append(p.stoppedByUs[:len(p.stoppedByUs):len(p.stoppedByUs)], t.arn)
	c.m.TasksStopped.WithLabelValues(policy).Inc()
	logr.FromContextOrDiscard(ctx).Info("Stopped task", "taskArn", t.arn, "group", t.group, "policy", policy)
	return nil
}

// complete completes the lifecycle action. "No active Lifecycle Action" means it is already over
// (completed by someone else, or expired): done, not an error.
func (c *Controller) complete(ctx context.Context, v *instance, res, reason, outcome string) (result, error) {
	p := &v.prog
	log := logr.FromContextOrDiscard(ctx)
	kv := []any{"result", res, "reason", reason}
	err := c.write(ctx, "complete lifecycle action", kv, func(ctx context.Context) error {
		_, err := c.as.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
			AutoScalingGroupName:  aws.String(v.asg),
			LifecycleHookName:     aws.String(v.hook.name),
			InstanceId:            aws.String(v.id),
			LifecycleActionResult: aws.String(res),
		})
		return err
	})
	now := c.clock.Now()
	if awsapi.IsNoActiveLifecycleAction(err) {
		c.actionEnded(ctx, v, now, "completion")
		return result{}, nil
	}
	if err != nil {
		err = fmt.Errorf("completing lifecycle action of %s with %s: %w", v.id, res, err)
		if awsapi.IsInvalidRequest(err) {
			// Typically the hook was deleted or renamed: describe the group's hooks afresh at the
			// next resync, which enqueues the instance again.
			c.invalidateHooks(v.asg)
			return result{}, terminal(err)
		}
		return result{}, err
	}
	p.completed = true
	c.release(v)
	if c.cfg.DryRun {
		return result{}, nil
	}
	p.completedByUs = true
	duration := now.Sub(c.drainRef(v))
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
	logr.FromContextOrDiscard(ctx).Info("Lifecycle action already ended", "during", during, "expired", p.endedExpired)
}

// drainRef is what a drain's duration is counted from: its start, or first sight if it never
// started (not registered).
func (c *Controller) drainRef(v *instance) time.Time {
	if !v.prog.drainStartedAt.IsZero() {
		return v.prog.drainStartedAt
	}
	return v.firstSeen
}

// expired guesses whether an action that ended without us timed out: its heartbeat deadline (as
// far as this process knows it) or global timeout had passed. Otherwise someone else ended it.
func (c *Controller) expired(v *instance, now time.Time) bool {
	if v.hook.heartbeatTimeout <= 0 {
		return false
	}
	base := v.prog.lastHeartbeat // what AWS saw: dry run heartbeats extended nothing
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
		outcome := metrics.OutcomeOther
		if ended == metrics.EndedExpired {
			outcome = metrics.OutcomeExpired
		}
		c.m.DrainDurationSeconds.WithLabelValues(outcome).Observe(now.Sub(c.drainRef(v)).Seconds())
	}
	c.m.DrainsEnded.WithLabelValues(ended).Inc()
	logr.FromContextOrDiscard(ctx).Info("Instance left Terminating:Wait", "ended", ended)
	c.release(v)
	c.mu.Lock()
	delete(c.instances, v.id)
	c.mu.Unlock()
	c.updateDrainGauges()
}

// invalidateHooks makes the next resync describe a group's hooks again.
func (c *Controller) invalidateHooks(asg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gs := c.groups[asg]; gs != nil {
		gs.hooksAt = time.Time{}
	}
}
