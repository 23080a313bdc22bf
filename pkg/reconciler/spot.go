package reconciler

import (
	"context"
	"time"

	"github.com/go-logr/logr"

	"github.com/ecs-drainer/ecs-drainer/pkg/events"
)

// Early drains: EC2 can say an instance is going before Auto Scaling holds it on a hook.
//
// A Spot interruption warning means EC2 reclaims the instance spotNotice later, and a lifecycle
// hook does not hold it past that. Whether the group terminates it at once (Capacity Rebalancing,
// through the terminating hook) or only after the reclaim, the drain starts at the warning: the
// container instance is set DRAINING at once, standalone tasks are stopped at once, and what still
// runs spotStopLead before the reclaim is stopped (the drain timeout is the interruption), so
// tasks shut down cleanly rather than die with the host. An instance drained before its lifecycle
// action is watched like any other; once drained it waits for the action, completed as usual.
//
// A rebalance recommendation only means a higher risk of interruption: with --rebalance-action
// drain the container instance is set DRAINING at once, so ECS moves its service tasks early; the
// standalone policy and the drain timeout wait for the lifecycle action (or a Spot warning).
//
// The warnings are hints like every event: the drain is still verified step by step from AWS, and
// only instances of managed groups that are still in service are drained.

const (
	// spotNotice is how long after its interruption warning EC2 reclaims a Spot instance.
	spotNotice = 2 * time.Minute
	// spotStopLead is how long before the reclaim the tasks still running on a Spot instance are
	// stopped: ECS's default stop timeout, so a task that does not exit on SIGTERM is still
	// stopped by ECS rather than killed with the host.
	spotStopLead = 30 * time.Second
	// spotHibernate is the Spot interruption action that comes without notice: the instance
	// hibernates and resumes with its tasks, so it is not drained.
	spotHibernate = "hibernate"
)

// earlyCause says why an instance is drained ahead of its lifecycle action.
type earlyCause string

const (
	earlySpot      earlyCause = "spot interruption"
	earlyRebalance earlyCause = "rebalance recommendation"
)

// earlyDrain is an instance to drain ahead of its lifecycle action; the zero value is none.
type earlyDrain struct {
	cause earlyCause
	// at is when the warning was taken.
	at time.Time
	// reclaimAt is when EC2 reclaims the instance (a Spot interruption); zero when unknown (a
	// rebalance recommendation).
	reclaimAt time.Time
}

func (e earlyDrain) set() bool { return e.cause != "" }

// Spot takes up a Spot interruption warning: the instance is drained from now on if a resync finds
// it in a managed group, with the drain timeout at the interruption. A warning for a hibernation
// (no notice, the instance comes back) or older than the notice (the instance is gone by now, or
// the event is not what it says) is only logged.
func (c *Controller) Spot(ctx context.Context, h events.SpotHint) error {
	if c.queue.ShuttingDown() {
		return errNotTakingHints
	}
	// Counted by the consumer (ecs_drainer_events_received_total{type="spot_interruption"}).
	log := logr.FromContextOrDiscard(ctx).WithValues("instanceID", h.InstanceID, "action", h.Action, "eventTime", h.Time)
	now := c.clock.Now()
	at := h.Time
	if at.IsZero() || at.After(now) {
		at = now // a clock ahead of ours must not push the reclaim later
	}
	reclaimAt := at.Add(spotNotice)
	switch {
	case h.Action == spotHibernate:
		log.Info("Not draining for a hibernation warning")
		return nil
	case !reclaimAt.After(now):
		log.Info("Ignoring stale Spot warning")
		return nil
	}
	log.Info("Draining on Spot warning", "reclaimAt", reclaimAt)
	c.noteEarly(h.InstanceID, earlyDrain{cause: earlySpot, at: now, reclaimAt: reclaimAt})
	return nil
}

// Rebalance takes up a rebalance recommendation: logged, and with --rebalance-action drain the
// instance is set DRAINING from now on if a resync finds it in a managed group.
func (c *Controller) Rebalance(ctx context.Context, h events.RebalanceHint) error {
	if c.queue.ShuttingDown() {
		return errNotTakingHints
	}
	// Counted by the consumer (ecs_drainer_events_received_total{type="rebalance_recommendation"}).
	log := logr.FromContextOrDiscard(ctx).WithValues("instanceID", h.InstanceID, "eventTime", h.Time, "rebalanceAction", c.cfg.RebalanceAction)
	if c.cfg.RebalanceAction != RebalanceDrain {
		log.Info("Spot rebalance recommendation")
		// A group with Capacity Rebalancing replaces the instance through its terminating hook.
		c.queue.Add(item{kind: kindDiscovery})
		return nil
	}
	log.Info("Draining early on rebalance recommendation")
	c.noteEarly(h.InstanceID, earlyDrain{cause: earlyRebalance, at: c.clock.Now()})
	return nil
}

// noteEarly records an early drain for the next resync, which starts it if the instance belongs to
// a managed group, and starts that resync now. A Spot warning takes over from a rebalance
// recommendation; a repeated warning changes nothing.
func (c *Controller) noteEarly(id string, e earlyDrain) {
	c.mu.Lock()
	if prev := c.early[id]; !prev.set() || prev.reclaimAt.IsZero() && !e.reclaimAt.IsZero() {
		c.early[id] = e
	}
	c.mu.Unlock()
	c.queue.Add(item{kind: kindDiscovery})
}

// earlyIDs are the instances to drain early, for the listing. Called with c.mu held.
func (c *Controller) earlyIDs() map[string]bool {
	ids := make(map[string]bool, len(c.early))
	for id := range c.early {
		ids[id] = true
	}
	return ids
}

// sweepEarly forgets the early drains of instances no resync found in a managed group within
// hintMemory. Called with c.mu held.
func (c *Controller) sweepEarly(now time.Time) {
	for id, e := range c.early {
		if c.instances[id] == nil && now.Sub(e.at) > hintMemory {
			delete(c.early, id)
		}
	}
}

// watchEarly watches an instance of a managed group that is to be drained early and is still in
// service (not yet held by a hook), and reports whether it is watched. Called with c.mu held.
func (c *Controller) watchEarly(asg, id string, start time.Time) bool {
	e, ok := c.early[id]
	if !ok {
		return false
	}
	inst := c.instances[id]
	if inst == nil {
		inst = &instance{id: id, watchState: watchState{asg: asg, firstSeen: start}}
		c.instances[id] = inst
		c.log.Info("Draining ahead of termination", "instanceID", id, "asg", asg, "cause", string(e.cause), "reclaimAt", e.reclaimAt)
	}
	inst.markEarly(e)
	inst.listed()
	return true
}

// awaitAction is the end of a drain that ran ahead of its lifecycle action, as end says: there is
// nothing to complete yet. Drained (or nothing to drain), the instance is left alone until the
// resync that finds it in Terminating:Wait gives it its action; the next reconcile then completes it
// (its tasks are all STOPPED by then). Ended by its drain timeout with tasks left, it is not
// drained: it is looked at again at each resync, and once it has its action the drain timeout,
// long past, ends it the configured way.
func (c *Controller) awaitAction(ctx context.Context, inst *instance, end ending) step {
	if end != endDrained && end != endNotRegistered {
		return step{stop: true}
	}
	if !inst.prog.drainedEarly {
		inst.prog.drainedEarly = true
		logr.FromContextOrDiscard(ctx).Info("Drained early; waiting for termination", "cause", string(inst.early.cause))
	}
	return step{stop: true}
}
