package reconciler

import (
	"time"

	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler/ecsview"
)

// instance is one watched EC2 instance, guarded by Controller.mu. Its parts have one owner each,
// and the types say which:
//   - watchState is discovery's. It changes only through the methods below (leftWait, listed,
//     stillWaits, takeAction, followHook, markEarly), called by discovery (and by a refused
//     action's recheck, which asks discovery's question afresh).
//   - drainRecord is the instance's reconcile's. A reconcile reads a snapshot of the instance,
//     works on the snapshot's record, and publishes that record (publishDrain): nothing else
//     writes one, and the workqueue runs one reconcile per instance at a time.
//   - heartbeatState is the heartbeat worker's, changed only through noteHeartbeat (a new hook
//     starts it afresh).
//   - hintedAt is the event hints' (Wake, WakeContainerInstance).
//
// Everyone else reads; the drains page and the metrics read under the lock.
type instance struct {
	id string
	watchState
	drainRecord
	hb heartbeatState
	// hintedAt is when an event last said the instance changed. A container instance read older
	// than that serves no decision (readContainerInstance).
	hintedAt time.Time
}

// watchState is what discovery knows of a watched instance.
type watchState struct {
	asg string
	// hook is the hook whose lifecycle action holds the instance; empty while none does (an early
	// drain of an instance still in service, spot.go).
	hook hookInfo
	// gone is set when the instance is no longer in Terminating:Wait on a managed group (nor, for an
	// early drain, in service in one).
	gone bool
	// firstSeen is when discovery first watched it: in Terminating:Wait, or for an early drain.
	firstSeen time.Time
	// waitingSince is when discovery first saw it in Terminating:Wait on the hook acted for.
	waitingSince time.Time
	// enteredAfter is a time the lifecycle action is known to have started after (the start of the
	// previous listing that showed the group without this instance waiting); zero when unknown,
	// as for everything found by the first listing after a start.
	enteredAfter time.Time
	// early is set when the instance is drained ahead of its lifecycle action (spot.go).
	early earlyDrain
}

// drainRecord is what the instance's reconcile learned and did: where the instance is registered
// (from the View's lookup) and the drain's progress.
type drainRecord struct {
	reg  ecsview.Registration
	prog progress
}

// progress is what the controller has observed and done for one instance's drain. It is copied by
// value, so the slices and maps in it are replaced, never modified in place.
type progress struct {
	// drainRequestedAt is when this process set the container instance DRAINING (in dry run: would
	// have); zero if it found it draining already.
	drainRequestedAt time.Time
	// drainStartedAt is the drain's start (at the drain-started-at tag's precision): from the tag,
	// else drainRequestedAt, else first sight of the instance DRAINING.
	drainStartedAt time.Time
	// startTagged is set once the drain-started-at tag holds the start (written for this process,
	// apart from the drain, once the drain is tagAfter old; or found).
	startTagged bool
	// timedOut is set once the drain outlived the drain timeout (the transition is counted once),
	// counted from drainRef.
	timedOut bool
	// standaloneChecked is set once standalone tasks were looked for after the grace period. No
	// task is placed on a DRAINING instance, so one look finds them all.
	standaloneChecked bool
	// drainedEarly is set once an early drain finished before the instance had a lifecycle action
	// (said once).
	drainedEarly bool
	// dryRunStopped are the tasks dry run already said it would stop, so it says so once.
	dryRunStopped map[string]bool

	// check is the state of the "every task STOPPED" check once no task is running or pending.
	check taskCheck

	// completed is set once the lifecycle action is over for this controller: completed by us
	// (completedByUs) or found already ended. The instance is then left alone until it leaves
	// Terminating:Wait (another hook may still hold it), so nothing is completed twice.
	completed     bool
	completedByUs bool
	// completeUncertain: a completion attempt ended without a definite answer, so it may have gone
	// through; a later "No active Lifecycle Action" then means completed by us.
	completeUncertain bool
	// endedAt is when the action was found over without us (a "No active Lifecycle Action"
	// answer), and endedExpired whether it looked expired then.
	endedAt      time.Time
	endedExpired bool
}

// taskCheck follows the tasks that must reach STOPPED once a container instance shows no running
// or pending task. Such tasks can only be ones already told to stop (desiredStatus STOPPED): no
// task is placed on a DRAINING instance, so the set listed once only shrinks.
type taskCheck struct {
	// listRequestedAt is when the listing of the tasks told to stop was first filed since the
	// counts reached zero (zero if not yet): the listing used must have been sent at or after it.
	listRequestedAt time.Time
	// listed: ListTasks(desiredStatus STOPPED) was done since the counts reached zero.
	listed bool
	// pending are the listed tasks not yet seen STOPPED.
	pending []string
	// requestedAt is when a describe of pending was requested from the batch; zero if none is due.
	requestedAt time.Time
	// checkedFor is the container-instance observation (fetch time) this check last ran for, so a
	// round runs once per observation however often the instance is reconciled.
	checkedFor time.Time
}

// groupState is what discovery keeps per managed group between resyncs.
type groupState struct {
	// hooks was described at hooksAt; selection is the hook chosen from them.
	hooksAt   time.Time
	selection hookSelection
	// describeFailed: the last description failed, so the hooks may have changed unseen.
	describeFailed bool
	// listedAt is the start of the last listing that included the group, and prevWaiting the
	// instances that listing showed in Terminating:Wait.
	listedAt    time.Time
	prevWaiting map[string]bool
}

// known reports whether the group's hooks are known: described, and the last description did not
// fail.
func (gs *groupState) known() bool { return !gs.hooksAt.IsZero() && !gs.describeFailed }

// hasAction reports whether a lifecycle action of the hook acted for holds the instance, to
// heartbeat and complete. Every instance found waiting has one; an early drain gets one when its
// group starts terminating it (takeAction).
func (inst *instance) hasAction() bool { return inst.hook.name != "" }

// drainedAhead reports whether the instance was drained ahead of its lifecycle action and has none
// yet: nothing is left to do until Auto Scaling holds it on the hook.
func (inst *instance) drainedAhead() bool { return inst.prog.drainedEarly && !inst.hasAction() }

// takeAction records that the instance waits in Terminating:Wait on hook h from start on, the
// lifecycle action having started after enteredAfter (zero: unknown). Heartbeats start afresh.
// Called by discovery with Controller.mu held.
func (inst *instance) takeAction(h hookInfo, start, enteredAfter time.Time) {
	inst.hook, inst.hb = h, heartbeatState{}
	inst.waitingSince, inst.enteredAfter = start, enteredAfter
	inst.gone = false
}

// markEarly records that the instance is to be drained ahead of its lifecycle action for e: the
// first warning counts, but a Spot warning takes over from a rebalance recommendation. Called by
// discovery with Controller.mu held.
func (inst *instance) markEarly(e earlyDrain) {
	if !inst.early.set() || inst.early.reclaimAt.IsZero() && !e.reclaimAt.IsZero() {
		inst.early = e
	}
}

// listed records that the latest listing shows the instance where discovery keeps watching it (in
// service, drained early, or waiting on no hook acted for). Called by discovery with
// Controller.mu held.
func (inst *instance) listed() { inst.gone = false }

// leftWait records that the latest listing no longer shows the instance in Terminating:Wait on a
// managed group. Called by discovery with Controller.mu held.
func (inst *instance) leftWait() { inst.gone = true }

// stillWaits records that the latest listing shows the instance waiting again, and follows the
// group's hook when it is usable. Called by discovery with Controller.mu held.
func (inst *instance) stillWaits(h hookInfo, usable bool) {
	inst.gone = false
	if usable {
		inst.followHook(h)
	}
}

// followHook takes up the group's hook as now described for a watched instance. The same hook
// keeps the shortest timeouts seen: an action may keep the timeouts it started with, or take up
// the hook's new ones at its next heartbeat, so the shorter is the one that is safe to heed. A hook
// of another name (a hook replaced under a new name, as a CloudFormation rename does) is the one
// the instance waits on now: heartbeats start again from what is known of the action's start.
// Called with Controller.mu held.
func (inst *instance) followHook(h hookInfo) bool {
	if h.name != inst.hook.name {
		inst.hook = h
		inst.hb = heartbeatState{}
		return true
	}
	inst.hook.heartbeatTimeout = min(inst.hook.heartbeatTimeout, h.heartbeatTimeout)
	inst.hook.globalTimeout = min(inst.hook.globalTimeout, h.globalTimeout)
	return false
}
