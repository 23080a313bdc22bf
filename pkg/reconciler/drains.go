package reconciler

import (
	"cmp"
	"slices"
	"sync"
	"time"

	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler/ecsview"
)

// This file is the read-only view of the controller for the drains page (GET / and /drains): the
// drains in progress, the last drains that ended and how, and the controller's health. Drains
// copies what it needs under the controller's locks and hands out values only, never a pointer
// into the controller's state. It calls no AWS API: what it shows is what the controller last saw.

// EndedDrainsKept is how many ended drains the view remembers: a page's worth, a few minutes of a
// busy scale-in. Older ones are in the logs ("Completed lifecycle action", "Instance left
// Terminating:Wait").
const EndedDrainsKept = 50

// resyncStaleAfter is how many resync periods without a successful resync make it stale: the
// condition of the EcsDrainerResyncStale alert (config/prometheus/alerts.yml).
const resyncStaleAfter = 3

// Phases of a drain in progress (DrainInProgress.Phase); PhaseText words them for a person.
const (
	PhaseLookingUp         = "looking_up"
	PhaseSettingDraining   = "setting_draining"
	PhaseDraining          = "draining"
	PhaseWaitingForStop    = "waiting_for_tasks_to_stop"
	PhaseNotActive         = "container_instance_not_active" // DEREGISTERING, say
	PhaseTimedOutStopping  = "timed_out_stopping_tasks"
	PhaseCompleting        = "completing"
	PhaseCheckingLifecycle = "checking_lifecycle_action"
	PhaseDrainedEarly      = "drained_awaiting_termination" // drained ahead of its lifecycle action
)

var phaseTexts = map[string]string{
	PhaseLookingUp:         "looking up its container instance",
	PhaseSettingDraining:   "setting DRAINING",
	PhaseDraining:          "draining: tasks moving off",
	PhaseWaitingForStop:    "waiting for tasks to stop",
	PhaseTimedOutStopping:  "timed out: stopping tasks",
	PhaseCompleting:        "completing the lifecycle action",
	PhaseCheckingLifecycle: "heartbeat refused: checking the lifecycle action",
	PhaseDrainedEarly:      "drained: waiting for Auto Scaling to terminate it",
}

// outcomeTexts word how a drain ended (EndedDrain.Outcome, a drain_duration_seconds outcome).
var outcomeTexts = map[string]string{
	metrics.OutcomeDrained:          "drained: every task stopped",
	metrics.OutcomeNotRegistered:    "not registered in ECS: nothing to drain",
	metrics.OutcomeTimeoutStopTasks: "drain timeout: remaining tasks stopped",
	metrics.OutcomeTimeoutContinue:  "drain timeout: continued with tasks left",
	metrics.OutcomeTimeoutAbandon:   "drain timeout: abandoned",
	metrics.OutcomeExpired:          "lifecycle action expired",
	metrics.OutcomeOther:            "ended without this controller",
}

// DrainsView is the controller's state for the drains page, copied at Now. Its JSON form is the
// page's twin, GET /drains.
type DrainsView struct {
	Now time.Time `json:"now"`
	// InProgress are the drains in progress, oldest first: the instances drains_in_progress counts,
	// and those drained ahead of their lifecycle action (PhaseDrainedEarly), which it leaves out.
	InProgress []DrainInProgress `json:"inProgress"`
	// Ended are the last EndedDrainsKept drains that ended, newest first.
	Ended  []EndedDrain     `json:"ended"`
	Health ControllerHealth `json:"health"`
}

// DrainInProgress is one instance held in Terminating:Wait whose lifecycle action the controller
// has not completed yet.
type DrainInProgress struct {
	InstanceID string `json:"instanceId"`
	ASG        string `json:"asg"`
	// Hook is the lifecycle hook holding it; "" for an early drain not held by one yet.
	Hook string `json:"hook"`
	// Early says why it is drained ahead of its lifecycle action ("spot interruption",
	// "rebalance recommendation"); "" for a drain that started on the hook.
	Early string `json:"early,omitempty"`
	// Cluster is the cluster ARN of its container instance; "" until looked up.
	Cluster   string `json:"cluster"`
	Phase     string `json:"phase"`
	PhaseText string `json:"phaseText"`
	// Started is what the drain's age and timeout count from: first sight in Terminating:Wait, or
	// the drain's start if earlier.
	Started    time.Time `json:"started"`
	AgeSeconds float64   `json:"ageSeconds"`
	// TasksRunning is the container instance's runningTasksCount (tasks whose desired status is
	// RUNNING) at the controller's last read; nil before one.
	TasksRunning *int `json:"tasksRunning"`
	// TasksStopping is how many tasks told to stop are not STOPPED yet; nil until counted, which
	// is once no task is meant to run.
	TasksStopping *int `json:"tasksStopping"`
	// NextHeartbeat is when the next lifecycle heartbeat is due (possibly now or past); nil when
	// none will be (no heartbeat timeout, or the hook's global timeout comes first).
	NextHeartbeat *time.Time `json:"nextHeartbeat"`
	// DrainDeadline is when the drain timeout ends the drain with the drain timeout action (for a
	// Spot instance, shortly before EC2 reclaims it); zero when none applies yet (an early drain on a
	// rebalance recommendation).
	DrainDeadline time.Time `json:"drainDeadline"`
	TimedOut      bool      `json:"timedOut"`
}

// EndedDrain is a drain that ended: its lifecycle action completed by this controller (in dry run:
// would have been), found over, or the instance gone from Terminating:Wait without it.
type EndedDrain struct {
	InstanceID string `json:"instanceId"`
	ASG        string `json:"asg"`
	Cluster    string `json:"cluster"`
	// Outcome is how it ended, as the drain_duration_seconds outcome label says it.
	Outcome     string `json:"outcome"`
	OutcomeText string `json:"outcomeText"`
	// Result is the lifecycle action result this controller completed with ("" if it did not).
	Result          string    `json:"result"`
	Started         time.Time `json:"started"`
	Ended           time.Time `json:"ended"`
	DurationSeconds float64   `json:"durationSeconds"`
	// DryRun: nothing was completed, the controller only said it would.
	DryRun bool `json:"dryRun"`
}

// ControllerHealth is how the controller itself is doing.
type ControllerHealth struct {
	// Ready is /readyz: a resync has succeeded.
	Ready bool `json:"ready"`
	// LastResync is when the fleet was last listed successfully; nil before the first time.
	LastResync *time.Time `json:"lastResync"`
	// ResyncStale: no successful resync for resyncStaleAfter resync periods (the
	// EcsDrainerResyncStale alert's condition), or none yet.
	ResyncStale         bool    `json:"resyncStale"`
	ResyncPeriodSeconds float64 `json:"resyncPeriodSeconds"`
	ManagedASGs         int     `json:"managedAsgs"`
	InstancesWatched    int     `json:"instancesWatched"`
	DryRun              bool    `json:"dryRun"`
	// EventQueue is the lifecycle event queue's state; nil while none is configured (the
	// controller then learns of terminations by resyncing only).
	EventQueue *EventQueueHealth `json:"eventQueue"`
}

// EventQueueHealth is the state of a lifecycle event queue.
type EventQueueHealth struct {
	// Receiving: the last ReceiveMessage succeeded.
	Receiving bool `json:"receiving"`
	// LastReceive is when a ReceiveMessage last succeeded; nil before the first.
	LastReceive *time.Time `json:"lastReceive"`
	// LastHandled is when an event was last given to the controller; nil before the first.
	LastHandled *time.Time `json:"lastHandled"`
	// LagSeconds is how late the last event handled was: from its own timestamp to its handling.
	LagSeconds float64 `json:"lagSeconds"`
	// Error is the last receive's error while receives fail ("" while they work), since
	// FailingSince; meanwhile the controller finds terminating instances by polling only.
	Error        string     `json:"error"`
	FailingSince *time.Time `json:"failingSince"`
}

// Drains returns the drains in progress, the last drains that ended and the controller's health,
// now. It is safe to call at any time from any goroutine, and costs no AWS call.
func (c *Controller) Drains() DrainsView {
	now := c.clock.Now()
	c.mu.Lock()
	var copies []instance
	watched := 0
	for _, inst := range c.instances {
		if inst.gone {
			continue
		}
		watched++
		if inst.inProgress() || inst.drainedAhead() {
			// A value copy: progress's slices and maps are replaced, never changed in place.
			copies = append(copies, *inst)
		}
	}
	managed := len(c.selected)
	c.mu.Unlock()

	view := DrainsView{Now: now, InProgress: make([]DrainInProgress, 0, len(copies)), Ended: c.ended.list()}
	for i := range copies {
		view.InProgress = append(view.InProgress, c.drainInProgress(&copies[i], now))
	}
	slices.SortFunc(view.InProgress, func(a, b DrainInProgress) int {
		return cmp.Or(a.Started.Compare(b.Started), cmp.Compare(a.InstanceID, b.InstanceID))
	})
	view.Health = ControllerHealth{
		Ready:               c.Ready(),
		ResyncStale:         true,
		ResyncPeriodSeconds: c.cfg.ResyncPeriod.Seconds(),
		ManagedASGs:         managed,
		InstancesWatched:    watched,
		DryRun:              c.cfg.DryRun,
		EventQueue:          c.eventQueueHealth(),
	}
	if ns := c.lastResync.Load(); ns != 0 {
		t := time.Unix(0, ns).UTC()
		view.Health.LastResync = &t
		view.Health.ResyncStale = now.Sub(t) > resyncStaleAfter*c.cfg.ResyncPeriod
	}
	return view
}

// inProgress reports whether the instance is a drain in progress: still waiting on the hook, its
// action not completed by this controller nor found over, and not found unregistered (which is
// completed at once). The drain gauges count the same instances. Called with Controller.mu held.
func (inst *instance) inProgress() bool {
	return !inst.gone && !inst.prog.completed && inst.reg.State != ecsview.NotFound && !inst.drainedAhead()
}

// drainInProgress describes one drain from a copy of its instance and the snapshot's last read of
// its container instance.
func (c *Controller) drainInProgress(inst *instance, now time.Time) DrainInProgress {
	ref := drainRef(inst)
	d := DrainInProgress{
		InstanceID: inst.id,
		ASG:        inst.asg,
		Hook:       inst.hook.name,
		Early:      string(inst.early.cause),
		Started:    ref,
		AgeSeconds: now.Sub(ref).Seconds(),
		TimedOut:   inst.prog.timedOut,
	}
	if deadline, applies := drainDeadline(c.cfg, inst); applies {
		d.DrainDeadline = deadline
	}
	var ci ecsview.ContainerInstance
	read := false
	if inst.reg.State == ecsview.Found {
		d.Cluster = inst.reg.Cluster
		ci, read = c.view.LastRead(inst.reg.Cluster, inst.reg.ARN)
	}
	if read {
		n := int(ci.Running)
		d.TasksRunning = &n
	}
	if inst.prog.check.listed {
		n := len(inst.prog.check.pending)
		d.TasksStopping = &n
	}
	if t, ok := nextHeartbeat(inst, now); ok {
		d.NextHeartbeat = &t
	}
	d.Phase = c.phase(inst, ci, read)
	d.PhaseText = phaseTexts[d.Phase]
	if d.Phase == PhaseNotActive {
		d.PhaseText = "waiting: container instance is " + string(ci.Status)
	}
	return d
}

// phase says where a drain in progress stands, from what the controller knows of it (ci, when read,
// is the last read of its container instance). It follows the order of drainSteps (instance.go).
func (c *Controller) phase(inst *instance, ci ecsview.ContainerInstance, read bool) string {
	p := &inst.prog
	switch {
	case !inst.hb.rejectedAt.IsZero():
		return PhaseCheckingLifecycle
	case inst.drainedAhead():
		return PhaseDrainedEarly
	case p.timedOut && timeoutActionFor(c.cfg, inst) == DrainTimeoutStopTasks:
		return PhaseTimedOutStopping
	case p.timedOut:
		return PhaseCompleting
	case inst.reg.State != ecsview.Found:
		return PhaseLookingUp
	case p.check.listed && len(p.check.pending) == 0:
		// Every task STOPPED: the completion is next (or failing and retried).
		return PhaseCompleting
	case p.check.listed:
		return PhaseWaitingForStop
	case !p.drainStartedAt.IsZero(), !p.drainRequestedAt.IsZero(), read && ci.Status == ecstypes.ContainerInstanceStatusDraining:
		return PhaseDraining
	case read && ci.Status != ecstypes.ContainerInstanceStatusActive:
		return PhaseNotActive
	}
	return PhaseSettingDraining
}

// endDrain records a drain that ended, with how (a drain_duration_seconds outcome) and the
// lifecycle action result this controller completed it with ("" if none), for the drains page.
// The caller makes sure it is recorded once per drain.
func (c *Controller) endDrain(inst *instance, now time.Time, outcome, result string) {
	ref := drainRef(inst)
	cluster := ""
	if inst.reg.State == ecsview.Found {
		cluster = inst.reg.Cluster
	}
	c.ended.add(EndedDrain{
		InstanceID:      inst.id,
		ASG:             inst.asg,
		Cluster:         cluster,
		Outcome:         outcome,
		OutcomeText:     outcomeTexts[outcome],
		Result:          result,
		Started:         ref,
		Ended:           now,
		DurationSeconds: now.Sub(ref).Seconds(),
		DryRun:          c.cfg.DryRun && result != "",
	})
}

// endedDrains is a ring of the last EndedDrainsKept ended drains. Its zero value is ready to use.
type endedDrains struct {
	mu   sync.Mutex
	ring [EndedDrainsKept]EndedDrain
	next int // where the next one goes
	n    int // how many are held
}

func (r *endedDrains) add(d EndedDrain) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ring[r.next] = d
	r.next = (r.next + 1) % len(r.ring)
	r.n = min(r.n+1, len(r.ring))
}

// list returns the drains held, newest first.
func (r *endedDrains) list() []EndedDrain {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]EndedDrain, 0, r.n)
	for i := 1; i <= r.n; i++ {
		out = append(out, r.ring[(r.next-i+len(r.ring))%len(r.ring)])
	}
	return out
}
