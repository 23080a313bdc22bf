package reconciler

import (
	"context"
	"errors"
	"time"

	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/go-logr/logr"

	"github.com/ecs-drainer/ecs-drainer/pkg/events"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// The controller is the event consumer's sink: every hint only enqueues work and returns. Events
// are hints, never facts: nothing here reads an event's content beyond the IDs it names, and
// every reconcile they trigger re-reads AWS. Polling stays on as the safety net.
var _ events.Sink = (*Controller)(nil)

// eventGrace is how long after a resync first saw an instance its terminating hint may still
// come without the instance counting as found by resync. EventBridge delivers within about a
// second; a few seconds more is still the event path working.
const eventGrace = 10 * time.Second

// hintMemory is how long a terminating hint is remembered for the found-by-resync count. A resync
// started by the hint lists the instance within a second or two; an instance of a group the
// controller does not manage is never listed, and its entry is dropped after this long.
const hintMemory = 10 * time.Minute

// errNotTakingHints is returned once the controller's queue shuts down, so the consumer leaves
// the message on the queue to reappear (for this replica after a restart, or another).
var errNotTakingHints = errors.New("the controller is shutting down")

// EventQueue connects the controller to the event consumer (pkg/events): the consumer's health,
// shown on the drains page, and the event metrics, which exist only with a queue.
type EventQueue struct {
	Health  func() events.Health
	Metrics *metrics.EventMetrics
}

// UseEventQueue tells the controller an event queue feeds it. Call it before Run and before
// Drains is served.
func (c *Controller) UseEventQueue(q EventQueue) { c.events = q }

// eventsConfigured reports whether an event queue feeds the controller.
func (c *Controller) eventsConfigured() bool { return c.events.Health != nil }

// Instance handles an Auto Scaling instance hint.
func (c *Controller) Instance(ctx context.Context, h events.InstanceHint) error {
	if c.queue.ShuttingDown() {
		return errNotTakingHints
	}
	switch h.Kind {
	case events.InstanceTerminating:
		// Discovery reads the group's hooks before it watches the instance, so the hint starts
		// a resync rather than a reconcile of an instance not yet watched; an instance already
		// watched (a second hook, a redelivery) is looked at now too.
		c.mu.Lock()
		if _, ok := c.unhinted[h.InstanceID]; ok {
			delete(c.unhinted, h.InstanceID) // late, but it came
		} else {
			c.hinted[h.InstanceID] = c.clock.Now()
		}
		c.mu.Unlock()
		c.queue.Add(item{kind: kindDiscovery})
		c.Wake(h.InstanceID)
	case events.InstanceTerminated:
		// The reconcile finds the instance gone and finishes it.
		c.Wake(h.InstanceID)
	default:
		logr.FromContextOrDiscard(ctx).V(1).Info("Ignoring instance hint", "instanceID", h.InstanceID, "kind", h.Kind)
	}
	return nil
}

// ContainerInstance wakes the watched instance registered as the container instance (its status
// or tasks changed).
func (c *Controller) ContainerInstance(_ context.Context, h events.ContainerInstanceHint) error {
	if c.queue.ShuttingDown() {
		return errNotTakingHints
	}
	c.WakeContainerInstance(h.ContainerInstanceARN)
	return nil
}

// Task wakes the watched instance a task stopped on: it may have been the last one.
func (c *Controller) Task(_ context.Context, h events.TaskHint) error {
	if c.queue.ShuttingDown() {
		return errNotTakingHints
	}
	if h.LastStatus == string(ecstypes.DesiredStatusStopped) && h.ContainerInstanceARN != "" {
		c.WakeContainerInstance(h.ContainerInstanceARN)
	}
	return nil
}

// noteFirstSight notes an instance a resync watches for the first time before its terminating
// hint arrived, while a queue is configured. It is counted as found by resync (a drain the event
// path did not start) only if the hint is still missing eventGrace later (countFoundByResync), as
// a resync may list an instance a moment before its event arrives. The first resync after a start
// is left out, as the queue's backlog has not been read yet. Called with c.mu held.
func (c *Controller) noteFirstSight(id string, now time.Time) {
	if !c.eventsConfigured() {
		return
	}
	at, hinted := c.hinted[id]
	delete(c.hinted, id)
	if inst := c.instances[id]; hinted && inst != nil && at.Before(inst.enteredAfter) {
		if at.Add(eventGrace).Before(inst.enteredAfter) {
			// The hint came well before the listing that still showed the instance not waiting:
			// it was not this action's event (a forged or stale one), and this one's did not come.
			hinted = false
		} else {
			// A listing that lagged behind the event (DescribeAutoScalingGroups is eventually
			// consistent): the action started no later than its event came.
			inst.enteredAfter = at
		}
	}
	if !hinted && c.lastResync.Load() != 0 {
		c.unhinted[id] = now
	}
}

// sweepHints counts the instances whose hint did not come within eventGrace of their first sight,
// and drops the hints older than hintMemory. Called with c.mu held, once per resync.
func (c *Controller) sweepHints(now time.Time) {
	for id, at := range c.unhinted {
		if now.Sub(at) >= eventGrace {
			delete(c.unhinted, id)
			c.events.Metrics.InstancesFoundByResync.Inc()
			c.log.Info("Instance found by resync, not by event", "fix", "check that the queue is fed: EventBridge rules or the hook's notification target", "instanceID", id, "firstSeen", at)
		}
	}
	for id, at := range c.hinted {
		if now.Sub(at) > hintMemory {
			delete(c.hinted, id)
		}
	}
}

// eventQueueHealth is the consumer's health for the drains page; nil without a queue.
func (c *Controller) eventQueueHealth() *EventQueueHealth {
	if !c.eventsConfigured() {
		return nil
	}
	h := c.events.Health()
	q := &EventQueueHealth{LagSeconds: h.Lag.Seconds(), Receiving: h.Receiving()}
	if !h.LastReceive.IsZero() {
		t := h.LastReceive.UTC()
		q.LastReceive = &t
	}
	if !h.LastHandled.IsZero() {
		t := h.LastHandled.UTC()
		q.LastHandled = &t
	}
	if h.Err != nil {
		q.Error = h.Err.Error()
		t := h.FailingSince.UTC()
		q.FailingSince = &t
	}
	return q
}
