package reconciler

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/go-logr/logr"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler/ecsview"
)

// reconcileInstance takes one watched instance one step further. An instance that left
// Terminating:Wait is forgotten (recording how it ended); one whose action is over is left alone
// until it leaves; one whose heartbeat was refused is checked against Auto Scaling first. Any other
// goes through the drain's steps (drainSteps), each re-reading state (from the View's shared reads
// and batches), acting only if needed, and safe to repeat.
//
// Heartbeats are not recorded here but by the heartbeat worker (heartbeat.go), so they never wait
// for this reconcile's ECS calls.
func (c *Controller) reconcileInstance(ctx context.Context, id string) (result, error) {
	c.mu.Lock()
	cur := c.instances[id]
	if cur == nil {
		c.mu.Unlock()
		return result{}, nil
	}
	inst := *cur // a snapshot: the reconcile works on its drainRecord and publishes it below
	c.mu.Unlock()

	log := logr.FromContextOrDiscard(ctx).WithValues("instanceID", id, "asg", inst.asg, "hook", inst.hook.name)
	ctx = logr.NewContext(ctx, log)
	if inst.gone {
		c.finish(ctx, &inst)
		return result{}, nil
	}
	if inst.prog.completed || inst.drainedAhead() {
		return result{}, nil
	}

	var res result
	var err error
	if !inst.hb.rejectedAt.IsZero() {
		res, err = c.afterRefusedHeartbeat(ctx, &inst)
	} else {
		res, err = c.drain(ctx, &inst)
	}
	c.publishDrain(inst.id, inst.drainRecord)
	return res, err
}

// publishDrain publishes what a reconcile learned and did on the watched instance, if it is still
// watched. It is the one write of a drainRecord, and only the instance's reconcile makes it.
func (c *Controller) publishDrain(id string, rec drainRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.instances[id]
	if cur == nil {
		return
	}
	if old := cur.reg; old.State == ecsview.Found && old.ARN != rec.reg.ARN && c.byContainerInstance[old.ARN] == id {
		delete(c.byContainerInstance, old.ARN)
	}
	if rec.reg.State == ecsview.Found {
		c.byContainerInstance[rec.reg.ARN] = id
	}
	cur.drainRecord = rec
}

// step is what one step of a drain says: go on to the next step, or stop here (with a result for
// the queue: look again after requeueAfter, or not at all once the action is over).
type step struct {
	stop bool
	res  result
}

var (
	// next: this step is satisfied; go on.
	next = step{}
	// over: the lifecycle action is over (completed, or found ended).
	over = step{stop: true}
)

// waitFor stops the drain here and looks again after d.
func waitFor(d time.Duration) step { return step{stop: true, res: result{requeueAfter: d}} }

// drainPass is one reconcile's walk through the steps: the instance (a copy), and what the steps
// read on the way.
type drainPass struct {
	inst *instance
	now  time.Time
	// ci is the last read of the container instance, from readContainerInstance on.
	ci ecsview.ContainerInstance
}

// stepFunc is one step of a drain.
type stepFunc func(ctx context.Context, d *drainPass) (step, error)

// drainSteps are the steps of a drain in order; a reconcile runs them until one stops (waits, ends
// the action, or fails). Each is level-triggered: it looks at what is known now and is safe to
// repeat.
func (c *Controller) drainSteps() []stepFunc {
	return []stepFunc{
		c.completeIfNotRegistered, // found in no cluster: nothing to drain
		c.applyDrainTimeout,       // the drain timeout, whatever ECS allows
		c.awaitRegistration,       // where is it registered? (the lookup batch)
		c.readContainerInstance,   // the shared snapshot; deregistered means nothing to drain
		c.awaitDraining,           // ACTIVE: the DRAINING batch
		c.recordDrainStart,        // the drain's start, tagged once it is tagAfter old
		c.stopTasksAfterTimeout,   // stop-tasks past the drain timeout
		c.applyStandalonePolicy,   // stop standalone tasks after the grace period
		c.awaitTasksStopped,       // every task STOPPED
		c.completeDrained,         // CONTINUE
	}
}

// drain runs the drain's steps for an instance still waiting on the hook. It updates the snapshot's
// drainRecord, which the caller publishes.
func (c *Controller) drain(ctx context.Context, inst *instance) (result, error) {
	d := &drainPass{inst: inst, now: c.clock.Now()}
	for _, f := range c.drainSteps() {
		s, err := f(ctx, d)
		if err != nil || s.stop {
			return s.res, err
		}
	}
	return result{}, nil
}

// completeIfNotRegistered completes an instance registered in no cluster at once.
func (c *Controller) completeIfNotRegistered(ctx context.Context, d *drainPass) (step, error) {
	inst := d.inst
	if inst.reg.State == ecsview.Unknown {
		if reg, ok := c.view.TakeRegistration(inst.id); ok {
			inst.reg = reg
		}
	}
	if inst.reg.State != ecsview.NotFound {
		return next, nil
	}
	return c.complete(ctx, inst, endNotRegistered)
}

// applyDrainTimeout applies the drain timeout whatever ECS allows: an instance that cannot be
// looked up or set DRAINING (IAM, ECS refusing, an outage) ends the configured way too, not by
// the hook's DefaultResult hours later.
func (c *Controller) applyDrainTimeout(ctx context.Context, d *drainPass) (step, error) {
	return c.drainTimeout(ctx, d.inst, d.now)
}

// awaitRegistration files an instance not looked up yet for the next lookup batch.
func (c *Controller) awaitRegistration(_ context.Context, d *drainPass) (step, error) {
	if d.inst.reg.State != ecsview.Unknown {
		return next, nil
	}
	c.view.RequestRegistration(d.inst.id, d.inst.asg)
	return c.waitForBatch(), nil
}

// readContainerInstance takes the answer to a DRAINING request, then reads the container instance
// from the shared snapshot. One that holds no task (deregistered, never made it, not yet ACTIVE)
// completes the instance.
func (c *Controller) readContainerInstance(ctx context.Context, d *drainPass) (step, error) {
	inst, p := d.inst, &d.inst.prog
	cluster, arn := inst.reg.Cluster, inst.reg.ARN
	log := logr.FromContextOrDiscard(ctx).WithValues("cluster", cluster, "containerInstanceArn", arn)
	if r, ok := c.view.TakeDrainAnswer(arn); ok {
		switch {
		case r.Failure != "":
			// Most likely another replica or a person changed the status meanwhile; read it again.
			log.V(1).Info("ECS refused DRAINING", "reason", r.Failure)
			c.view.Invalidate(cluster, arn)
		case p.drainRequestedAt.IsZero():
			p.drainRequestedAt = r.At
			if !c.cfg.DryRun {
				log.Info("Started drain")
			}
		}
	}
	maxAge := c.freshFor()
	if !inst.hintedAt.IsZero() {
		// An event said the container instance changed since: a read from before it is stale.
		maxAge = min(maxAge, c.clock.Since(inst.hintedAt))
	}
	ci, err := c.view.ContainerInstance(ctx, cluster, arn, maxAge)
	if err != nil {
		return step{}, err
	}
	if ci.HoldsNoTask() {
		end := endNotRegistered
		if p.drainedEarly && !p.drainStartedAt.IsZero() {
			end = endDrained // drained early, then gone with the reclaimed host
		}
		return c.complete(ctx, inst, end)
	}
	d.ci, d.now = ci, c.clock.Now()
	return next, nil
}

// awaitDraining sets an ACTIVE container instance DRAINING through the cluster's DRAINING batch,
// and waits while it is in a state that is neither (DEREGISTERING, say). Past the drain timeout
// the stop-tasks action stops what runs even though DRAINING could not be set.
func (c *Controller) awaitDraining(ctx context.Context, d *drainPass) (step, error) {
	inst, p, ci := d.inst, &d.inst.prog, d.ci
	cluster, arn := inst.reg.Cluster, inst.reg.ARN
	switch ci.Status {
	case ecstypes.ContainerInstanceStatusDraining:
		if p.drainRequestedAt.IsZero() && c.view.DrainingPending(cluster, arn) {
			// Our own DRAINING call is in flight (a refresh saw its effect before its answer was
			// stored): wait for the answer rather than adopt the drain as someone else's.
			return c.waitForBatch(), nil
		}
		return next, nil
	case ecstypes.ContainerInstanceStatusActive:
		// In dry run nothing became DRAINING; after saying so once, carry on as if it had.
		if c.cfg.DryRun && !p.drainRequestedAt.IsZero() {
			return next, nil
		}
		c.view.RequestDraining(cluster, arn, inst.id)
		if p.timedOut {
			// Still asked for, in case it now can be set.
			return c.stopAfterTimeout(ctx, d)
		}
		return c.waitForBatch(), nil
	}
	// Nothing to do but look again, up to the drain timeout.
	if p.timedOut {
		return c.stopAfterTimeout(ctx, d)
	}
	return waitFor(nextWake(c.cfg, inst, ci.FetchedAt, d.now)), nil
}

// recordDrainStart learns the drain's start (ensureDrainStart), then applies the drain timeout
// again: the tag may hold a start earlier than first sight (a drain resumed after a restart).
func (c *Controller) recordDrainStart(ctx context.Context, d *drainPass) (step, error) {
	c.ensureDrainStart(ctx, d.inst, d.ci, d.now)
	return c.drainTimeout(ctx, d.inst, d.now)
}

// stopTasksAfterTimeout carries out the stop-tasks drain timeout action on a DRAINING instance.
func (c *Controller) stopTasksAfterTimeout(ctx context.Context, d *drainPass) (step, error) {
	if !d.inst.prog.timedOut {
		return next, nil
	}
	return c.stopAfterTimeout(ctx, d)
}

// applyStandalonePolicy stops the standalone tasks (not started by a service) once the drain is
// older than the grace period, with the stop policy. No task is placed on a DRAINING instance, so
// one look finds them all.
func (c *Controller) applyStandalonePolicy(ctx context.Context, d *drainPass) (step, error) {
	p := &d.inst.prog
	deadline, stops := standaloneDeadline(c.cfg, d.inst)
	if !stops || p.standaloneChecked || d.ci.Running == 0 || d.now.Before(deadline) {
		return next, nil
	}
	if err := c.stopStandalone(ctx, d.inst); err != nil {
		return step{}, err
	}
	p.standaloneChecked = true
	return next, nil
}

// awaitTasksStopped waits until every task on the container instance is STOPPED (checkDrained).
func (c *Controller) awaitTasksStopped(ctx context.Context, d *drainPass) (step, error) {
	drained, s, err := c.checkDrained(ctx, d.inst, d.ci, d.now)
	if err != nil || !drained {
		if err == nil {
			d.inst.prog.drainedEarly = false // tasks run again (the instance was made ACTIVE meanwhile)
		}
		return s, err
	}
	return next, nil
}

// completeDrained completes the lifecycle action of a drained instance with CONTINUE.
func (c *Controller) completeDrained(ctx context.Context, d *drainPass) (step, error) {
	return c.complete(ctx, d.inst, endDrained)
}

// freshFor is how old a container instance read may be and still serve a decision: a little less
// than the poll interval, so a reconcile that comes back a poll interval after its read refreshes,
// and every other instance of the cluster coming back at about the same time shares that refresh.
func (c *Controller) freshFor() time.Duration {
	return c.cfg.PollInterval - min(time.Second, c.cfg.PollInterval/4)
}

// waitForBatch is the step of a reconcile that filed a batched request: the batch wakes the
// instance when answered; the poll interval is only a safety net.
func (c *Controller) waitForBatch() step { return waitFor(c.cfg.PollInterval) }

// ensureDrainStart learns the drain's start: from the drain-started-at tag, else the time this
// process set DRAINING, else now for a drain someone else started. It files the tag only once the
// drain is tagAfter old and the instance has its lifecycle action: a drain that ends sooner (most
// of them) costs no TagResource call, and the start of one that is cut short by a restart is only
// ever lost by less than tagAfter, plus the tag's wait for the ECS rate limit. The drain does not
// wait for the tag (RequestDrainTag): nothing but a restart needs it, and one that ends before its
// turn is never tagged.
func (c *Controller) ensureDrainStart(ctx context.Context, inst *instance, ci ecsview.ContainerInstance, now time.Time) {
	p := &inst.prog
	log := logr.FromContextOrDiscard(ctx)
	if adoptDrainTag(log, p, ci) {
		c.view.CancelDrainTag(inst.reg.ARN)
		return
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
	if p.startTagged || !inst.hasAction() || now.Sub(p.drainStartedAt) < tagAfter(c.cfg, inst.hook) {
		return
	}
	written, pending := c.view.DrainTagStatus(inst.reg.ARN)
	if written {
		p.startTagged = true
	}
	if written || pending {
		return
	}
	// A drain that started ahead of its action is tagged with the action's first sight: what its
	// timeouts count from (drainDeadline), and so what a restarted process must count them from.
	start := p.drainStartedAt
	if inst.early.set() && inst.waitingSince.After(start) {
		start = inst.waitingSince
	}
	c.view.RequestDrainTag(inst.reg.Cluster, inst.reg.ARN, start.UTC().Format(time.RFC3339))
}

// adoptDrainTag takes the drain's start from the drain-started-at tag, once, and reports whether it
// did. The tag was written by an earlier process or another replica: the earlier of the two starts
// is kept, and the tag is never written again. An unreadable tag is replaced when the drain is old
// enough to need it.
func adoptDrainTag(log logr.Logger, p *progress, ci ecsview.ContainerInstance) bool {
	if p.startTagged || ci.DrainTag == "" {
		return false
	}
	t, err := time.Parse(time.RFC3339, ci.DrainTag)
	if err != nil {
		if p.drainStartedAt.IsZero() {
			log.Info("Ignoring unreadable drain start tag", "tag", ecsview.DrainStartedTagKey, "value", ci.DrainTag)
		}
		return false
	}
	if p.drainStartedAt.IsZero() && p.drainRequestedAt.IsZero() {
		log.Info("Resuming drain", "drainStartedAt", t)
	}
	if p.drainStartedAt.IsZero() || t.Before(p.drainStartedAt) {
		p.drainStartedAt = t
	}
	p.startTagged = true
	return true
}

// checkDrained reports whether every task on the container instance is STOPPED. Running or pending
// tasks mean no. With none, the tasks already told to stop are listed once (takeTaskList) and then
// described (batched across the cluster's instances) once per container instance read until all
// are STOPPED.
// When not drained, s says when to look again.
func (c *Controller) checkDrained(ctx context.Context, inst *instance, ci ecsview.ContainerInstance, now time.Time) (drained bool, s step, err error) {
	tc := &inst.prog.check
	wait := waitFor(nextWake(c.cfg, inst, ci.FetchedAt, now))
	if ci.Running+ci.Pending > 0 {
		*tc = taskCheck{}
		return false, wait, nil
	}
	if tc.checkedFor.Equal(ci.FetchedAt) {
		// This read was checked already: drained then if nothing was left stopping.
		return tc.listed && len(tc.pending) == 0, wait, nil
	}
	if !tc.listed && !c.takeTaskList(inst, now) {
		return false, c.waitForBatch(), nil
	}
	cluster := inst.reg.Cluster
	if len(tc.pending) == 0 {
		return true, next, nil
	}
	if tc.requestedAt.IsZero() {
		tc.requestedAt = now
		c.view.RequestTaskDescribe(cluster, tc.pending, inst.id)
		return false, c.waitForBatch(), nil
	}
	tasks, ok := c.view.TaskDescriptions(tc.pending, tc.requestedAt)
	if !ok {
		if now.Sub(tc.requestedAt) >= c.cfg.PollInterval {
			// The answer comes within a batch window when all is well. A poll later it is lost:
			// the describe failed, or its answer was pruned before this reconcile came back (a
			// reconcile held up by errors). Ask again rather than wait for it forever.
			tc.requestedAt = now
			c.view.RequestTaskDescribe(cluster, tc.pending, inst.id)
		}
		return false, c.waitForBatch(), nil
	}
	var still []string
	for _, t := range tasks {
		if !t.Stopped() {
			still = append(still, t.ARN)
		}
	}
	c.view.ForgetTasks(tc.pending)
	if len(still) > 0 && inst.hintedAt.After(tc.requestedAt) {
		// An event came after this describe was asked for (the last task stopping, say): its
		// answer may predate the change, so ask again rather than wait for the next poll.
		tc.pending, tc.requestedAt = still, now
		c.view.RequestTaskDescribe(cluster, still, inst.id)
		return false, c.waitForBatch(), nil
	}
	tc.pending, tc.requestedAt, tc.checkedFor = still, time.Time{}, ci.FetchedAt
	if len(still) == 0 {
		return true, next, nil
	}
	logr.FromContextOrDiscard(ctx).V(1).Info("Waiting for tasks to stop", "stoppingTasks", len(still))
	return false, wait, nil
}

// takeTaskList takes the listing of the tasks told to stop into the instance's task check, and
// reports whether it did; if not, the instance waits for it. The listing is made by a batch worker
// (ecsview BatchList) and must have been sent after the counts were seen at zero, that is at or
// after its first request: one made for an earlier request is not used. With none pending and no
// answer that recent (the first request, or one after the counts went up and back to zero), it is
// filed; one failing is retried by its batch, with backoff, not filed again. Later listings keep the first request as their bound: the
// tasks told to stop only leave the set while the counts stay at zero.
func (c *Controller) takeTaskList(inst *instance, now time.Time) bool {
	tc := &inst.prog.check
	if !tc.listRequestedAt.IsZero() {
		if list, ok := c.view.TaskList(inst.reg.ARN, tc.listRequestedAt); ok {
			*tc = taskCheck{listed: true, pending: list.ARNs}
			return true
		}
		if c.view.TaskListPending(inst.reg.ARN) {
			return false
		}
	} else {
		tc.listRequestedAt = now
	}
	c.view.RequestTaskList(inst.reg.Cluster, inst.reg.ARN, inst.id)
	return false
}

// stopStandalone stops the standalone tasks (not started by a service) still meant to run on the
// container instance. Only tasks whose desiredStatus is still RUNNING are stopped, so a second
// replica does not stop them again.
func (c *Controller) stopStandalone(ctx context.Context, inst *instance) error {
	tasks, err := c.view.TasksOn(ctx, inst.reg.Cluster, inst.reg.ARN, ecstypes.DesiredStatusRunning)
	if err != nil {
		return err
	}
	policy, why := metrics.PolicyStandaloneGrace, "ecs-drainer: standalone task on a draining instance past the grace period"
	if !inst.early.reclaimAt.IsZero() {
		policy, why = metrics.PolicySpotInterruption, "ecs-drainer: standalone task on a Spot instance EC2 is reclaiming"
	}
	for _, t := range tasks {
		if _, isService := t.Service(); isService || t.DesiredStatus != ecstypes.DesiredStatusRunning {
			continue
		}
		if err := c.stopTask(ctx, inst, t, policy, why); err != nil {
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
func (c *Controller) drainTimeout(ctx context.Context, inst *instance, now time.Time) (step, error) {
	p := &inst.prog
	deadline, applies := drainDeadline(c.cfg, inst)
	if !applies || now.Before(deadline) {
		return next, nil
	}
	log := logr.FromContextOrDiscard(ctx)
	action := timeoutActionFor(c.cfg, inst)
	if !p.timedOut {
		p.timedOut = true
		if !c.cfg.DryRun {
			c.m.DrainTimeouts.WithLabelValues(timeoutActionLabel(action)).Inc()
		}
		log.Error(nil, "Drain timed out", "action", action, "drainStartedAt", drainRef(inst), "deadline", deadline,
			"draining", !p.drainStartedAt.IsZero(), "lookedUp", inst.reg.State == ecsview.Found, "spotReclaimAt", inst.early.reclaimAt)
	}
	switch action {
	case DrainTimeoutContinue:
		return c.complete(ctx, inst, endTimeoutContinue)
	case DrainTimeoutAbandon:
		return c.complete(ctx, inst, endTimeoutAbandon)
	}
	if now.Before(stopAllowanceEnd(deadline)) {
		return next, nil
	}
	log.Error(nil, "Completing with tasks left after the stop allowance",
		"allowance", timeoutStopAllowance)
	return c.complete(ctx, inst, endTimeoutStopTasks)
}

// stopAfterTimeout is the stop-tasks drain timeout action on a container instance: stop every
// task still meant to run (daemon tasks last), then complete CONTINUE once every task is STOPPED.
func (c *Controller) stopAfterTimeout(ctx context.Context, d *drainPass) (step, error) {
	inst, ci := d.inst, d.ci
	if ci.Running+ci.Pending > 0 {
		if err := c.stopRemaining(ctx, inst); err != nil {
			return step{}, err
		}
		inst.prog.check = taskCheck{}
		return waitFor(nextWake(c.cfg, inst, ci.FetchedAt, d.now)), nil
	}
	drained, s, err := c.checkDrained(ctx, inst, ci, d.now)
	if err != nil || !drained {
		return s, err
	}
	return c.complete(ctx, inst, endTimeoutStopTasks)
}

// stopRemaining stops every task still meant to run on the container instance, daemon tasks last:
// they are stopped only once no other task is meant to run or still stopping, whoever told it to
// stop (ECS's own drain, this or another replica, a person), as ECS itself orders a drain.
func (c *Controller) stopRemaining(ctx context.Context, inst *instance) error {
	cluster := inst.reg.Cluster
	tasks, err := c.view.TasksOn(ctx, cluster, inst.reg.ARN, ecstypes.DesiredStatusRunning, ecstypes.DesiredStatusStopped)
	if err != nil {
		return err
	}
	var others, daemons []ecsview.Task
	othersStopping := false
	for _, t := range tasks {
		running := t.DesiredStatus == ecstypes.DesiredStatusRunning
		if !running && t.Stopped() {
			continue
		}
		isDaemon, err := c.view.IsDaemonTask(ctx, cluster, t)
		if err != nil {
			return err
		}
		switch {
		case running && isDaemon:
			daemons = append(daemons, t)
		case running:
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
		if err := c.stopTask(ctx, inst, t, metrics.PolicyDrainTimeout, "drain timeout"); err != nil {
			return err
		}
	}
	return nil
}

// stopTask stops one task (in dry run: says so, once per task). why goes into the task's
// stoppedReason, with this process's name.
func (c *Controller) stopTask(ctx context.Context, inst *instance, t ecsview.Task, policy, why string) error {
	p := &inst.prog
	if c.cfg.DryRun && p.dryRunStopped[t.ARN] {
		return nil
	}
	reason := c.stopReason(why)
	stoppedReason, err := c.view.StopTask(ctx, inst.reg.Cluster, t.ARN, reason, []any{"taskArn", t.ARN, "group", t.Group, "policy", policy})
	if err != nil {
		return err
	}
	if c.cfg.DryRun {
		stopped := maps.Clone(p.dryRunStopped)
		if stopped == nil {
			stopped = map[string]bool{}
		}
		stopped[t.ARN] = true
		p.dryRunStopped = stopped
		return nil
	}
	log := logr.FromContextOrDiscard(ctx)
	// A stoppedReason other than ours means someone stopped it first (another replica between our
	// describe and this call, or ECS): not counted as ours.
	if stoppedReason != reason {
		log.V(1).Info("Task was already stopping", "taskArn", t.ARN, "stoppedReason", stoppedReason)
		return nil
	}
	c.m.TasksStopped.WithLabelValues(policy).Inc()
	log.Info("Stopped task", "taskArn", t.ARN, "group", t.Group, "policy", policy)
	return nil
}

// complete completes the lifecycle action as end says. "No active Lifecycle Action" means it is
// already over (completed by someone else, or expired): done, not an error. When an attempt of
// ours may have gone through unanswered (a lost response the SDK retried, or an earlier call that
// failed without a definite answer), that answer means we completed it.
func (c *Controller) complete(ctx context.Context, inst *instance, end ending) (step, error) {
	if !inst.hasAction() {
		return c.awaitAction(ctx, inst, end), nil
	}
	p := &inst.prog
	log := logr.FromContextOrDiscard(ctx)
	err := c.completeCall(ctx, inst, end)
	now := c.clock.Now()
	if awsapi.IsNoActiveLifecycleAction(err) && p.completeUncertain {
		log.Info("Counting ended action as completed", "why", "an earlier completion attempt may have gone through unanswered")
		err = nil
	}
	if awsapi.IsNoActiveLifecycleAction(err) || awsapi.IsInvalidRequest(err) {
		// Over, or the hook named is not the one the instance waits on (deleted, or replaced under
		// a new name): read both afresh before believing either.
		waiting, follows, rerr := c.recheckAction(ctx, inst)
		switch {
		case rerr != nil:
			return step{}, rerr
		case follows:
			return c.complete(ctx, inst, end)
		case !waiting || awsapi.IsNoActiveLifecycleAction(err):
			c.actionEnded(ctx, inst, now, "completion")
			return over, nil
		}
	}
	if err != nil {
		return step{}, fmt.Errorf("completing lifecycle action of %s with %s: %w", inst.id, end.result, err)
	}
	p.completed = true
	c.release(inst)
	c.endDrain(inst, now, end.outcome, end.result)
	if c.cfg.DryRun {
		return over, nil
	}
	p.completedByUs = true
	duration := now.Sub(drainRef(inst))
	c.m.LifecycleActionsCompleted.WithLabelValues(end.resultLabel, end.reason).Inc()
	c.m.DrainDurationSeconds.WithLabelValues(end.outcome).Observe(duration.Seconds())
	log.Info("Completed lifecycle action", "result", end.result, "reason", end.reason, "drainDuration", duration)
	return over, nil
}

// completeCall makes the CompleteLifecycleAction call through the write door, noting whether an
// attempt may have gone through unanswered.
func (c *Controller) completeCall(ctx context.Context, inst *instance, end ending) error {
	var attempts awsapi.AttemptLog
	err := c.write(ctx, "complete lifecycle action", []any{"result", end.result, "reason", end.reason}, func(ctx context.Context) error {
		_, err := c.as.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
			AutoScalingGroupName:  aws.String(inst.asg),
			LifecycleHookName:     aws.String(inst.hook.name),
			InstanceId:            aws.String(inst.id),
			LifecycleActionResult: aws.String(end.result),
		}, func(o *autoscaling.Options) { o.APIOptions = append(o.APIOptions, attempts.Middleware) })
		return err
	})
	inst.prog.completeUncertain = inst.prog.completeUncertain || attempts.Uncertain()
	return err
}

// actionEnded records that the lifecycle action was found over without this process completing it.
func (c *Controller) actionEnded(ctx context.Context, inst *instance, now time.Time, during string) {
	p := &inst.prog
	p.completed, p.endedAt, p.endedExpired = true, now, expired(inst, now)
	c.release(inst)
	c.endDrain(inst, now, endedOutcome(p.endedExpired), "")
	logr.FromContextOrDiscard(ctx).Info("Lifecycle action already ended", "during", during, "expired", p.endedExpired)
}

// release drops what the View holds for a finished instance.
func (c *Controller) release(inst *instance) {
	c.view.Release(inst.id, inst.reg, inst.prog.check.pending)
}

// finish forgets an instance that left Terminating:Wait, recording how its drain ended.
func (c *Controller) finish(ctx context.Context, inst *instance) {
	if !c.forget(inst) {
		return // listed again since the snapshot (a resync came in between): not gone after all
	}
	if !inst.hasAction() {
		// Drained early, and gone from its group (or no longer managed) without ever waiting on the
		// hook acted for: no lifecycle action to account for.
		logr.FromContextOrDiscard(ctx).Info("Instance drained early left its group", "cause", string(inst.early.cause))
		return
	}
	p := &inst.prog
	now := c.clock.Now()
	ended := metrics.EndedOther
	switch {
	case p.completedByUs:
		ended = metrics.EndedCompleted
	case p.endedAt.IsZero() && expired(inst, now), !p.endedAt.IsZero() && p.endedExpired:
		ended = metrics.EndedExpired
	}
	if ended != metrics.EndedCompleted {
		outcome := endedOutcome(ended == metrics.EndedExpired)
		c.m.DrainDurationSeconds.WithLabelValues(outcome).Observe(now.Sub(drainRef(inst)).Seconds())
		if !p.completed {
			// Gone without a completion or a "No active Lifecycle Action": not recorded yet.
			c.endDrain(inst, now, outcome, "")
		}
	}
	c.m.DrainsEnded.WithLabelValues(ended).Inc()
	logr.FromContextOrDiscard(ctx).Info("Instance left Terminating:Wait", "ended", ended)
}

// forget stops watching an instance discovery marked gone, and reports whether it did: one a
// resync listed again since the caller's snapshot is kept.
func (c *Controller) forget(inst *instance) bool {
	c.mu.Lock()
	cur := c.instances[inst.id]
	if cur == nil || !cur.gone {
		c.mu.Unlock()
		return false
	}
	delete(c.instances, inst.id)
	delete(c.early, inst.id)
	if arn := cur.reg.ARN; arn != "" && c.byContainerInstance[arn] == inst.id {
		delete(c.byContainerInstance, arn)
	}
	c.mu.Unlock()
	c.release(inst)
	return true
}

// recheckAction reads afresh, after Auto Scaling refused a heartbeat or a completion for the
// instance's hook, whether the instance still waits in Terminating:Wait and which hook of its
// group the controller acts for. A usable hook of another name is the one it waits on now (the
// hook was replaced under a new name): the instance follows it (inst too), its heartbeats start
// again, and follows is true.
func (c *Controller) recheckAction(ctx context.Context, inst *instance) (waiting, follows bool, err error) {
	sel, err := c.describeGroupNow(ctx, inst.asg)
	if err != nil {
		return false, false, err
	}
	if waiting, err = c.instanceWaiting(ctx, inst.asg, inst.id); err != nil || !waiting {
		return waiting, false, err
	}
	if sel.problem != hookOK || sel.hook.name == inst.hook.name {
		return true, false, nil
	}
	oldHook := inst.hook.name
	c.mu.Lock()
	if cur := c.instances[inst.id]; cur != nil {
		cur.followHook(sel.hook)
	}
	c.mu.Unlock()
	inst.followHook(sel.hook) // the snapshot too: the rest of this reconcile acts for the new hook
	logr.FromContextOrDiscard(ctx).Info("Following the group's new hook", "why", "Auto Scaling refused the hook acted for", "oldHook", oldHook, "newHook", sel.hook.name)
	c.enqueueHeartbeat(inst.id)
	return true, true, nil
}

// afterRefusedHeartbeat handles a heartbeat Auto Scaling refused: the instance follows its group's
// new hook and the drain carries on; or the action is over ("No active Lifecycle Action", or the
// instance no longer waits); or, for another refusal with the hook unchanged, heartbeats are tried
// again after heartbeatRetry and the refusal is reported as an error.
func (c *Controller) afterRefusedHeartbeat(ctx context.Context, inst *instance) (result, error) {
	waiting, follows, err := c.recheckAction(ctx, inst)
	switch {
	case err != nil:
		return result{}, err
	case follows:
		return c.drain(ctx, inst)
	case !waiting || inst.hb.noActive:
		c.actionEnded(ctx, inst, inst.hb.rejectedAt, "heartbeat")
		return result{}, nil
	}
	retry := heartbeatRetry(inst.hook.heartbeatTimeout)
	c.retryHeartbeat(inst.id, inst.hook.name, retry)
	return result{requeueAfter: retry}, fmt.Errorf("heartbeat for lifecycle hook %s refused although the instance still waits on it; retrying in %s", inst.hook.name, retry)
}
