package reconciler

import (
	"time"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
)

// This file is all the controller's timeout arithmetic: what a drain's age counts from, when the
// hook's global timeout ends the action, when heartbeats fall due, when the drain start is tagged,
// and the drain timeout that applies under a hook. Everything here is a pure function of the
// configuration, the hook and what is known of the instance.

// drainRef is what a drain's age, duration and timeout are counted from: first sight in
// Terminating:Wait, or the drain's start if earlier (the drain-started-at tag of a drain resumed
// after a restart). Counting from first sight rather than from DRAINING means an instance that
// cannot be set DRAINING, or looked up, still times out and shows in the drain gauges.
func drainRef(inst *instance) time.Time {
	if s := inst.prog.drainStartedAt; !s.IsZero() && s.Before(inst.firstSeen) {
		return s
	}
	return inst.firstSeen
}

// globalTimeout is how long an instance may wait on a hook in total: what AWS reports, or if it
// reports nothing, the documented rule min(48 h, 100 x heartbeat timeout).
func globalTimeout(hbTimeout, reported time.Duration) time.Duration {
	if reported > 0 {
		return reported
	}
	return min(awsapi.MaxHookGlobalTimeoutSeconds*time.Second, awsapi.HookGlobalTimeoutHeartbeats*hbTimeout)
}

// globalEnd is when the hook's global timeout ends the action, as far as this process can tell:
// counted from actionRef.
func globalEnd(inst *instance) time.Time {
	return actionRef(inst).Add(inst.hook.globalTimeout)
}

// actionRef is what the lifecycle action's global timeout is counted from: drainRef, which is no
// earlier than the action's start give or take a resync (the drain timeout's margin covers that);
// for a drain that started ahead of its action (spot.go), the action's first sight.
func actionRef(inst *instance) time.Time {
	if inst.early.set() && !inst.waitingSince.IsZero() {
		return inst.waitingSince
	}
	return drainRef(inst)
}

// actionSeen is when the instance was first seen waiting on the hook (its first sight, for an
// instance found waiting).
func actionSeen(inst *instance) time.Time {
	if !inst.waitingSince.IsZero() {
		return inst.waitingSince
	}
	return inst.firstSeen
}

// drainDeadline is when the drain timeout ends inst's drain, and whether one applies at all: under a
// lifecycle action, the configured timeout cut to the hook (drainTimeoutUnder), counted from
// actionRef (for a drain that started ahead of its action, from the action: the time drained in
// service was not the hook's); for a Spot instance, no later than spotStopLead before EC2
// reclaims it; for an early drain with neither (a rebalance recommendation, the instance still in
// service), none; nor for a drain that finished before its action came.
func drainDeadline(cfg Config, inst *instance) (deadline time.Time, applies bool) {
	if inst.prog.drainedEarly {
		return time.Time{}, false // drained before its action came: only the completion is left
	}
	if inst.hasAction() {
		timeout, _ := drainTimeoutUnder(cfg, inst.hook)
		deadline, applies = actionRef(inst).Add(timeout), true
	}
	if reclaim := inst.early.reclaimAt; !reclaim.IsZero() {
		if spot := reclaim.Add(-spotStopLead); !applies || spot.Before(deadline) {
			deadline = spot
		}
		applies = true
	}
	return deadline, applies
}

// timeoutActionFor is how a drain that outlived its timeout ends: as configured, or for a Spot
// instance by stopping its tasks, whatever is configured: EC2 takes the instance at the reclaim
// whether the action is completed or not, and stopped first its tasks still exit cleanly.
func timeoutActionFor(cfg Config, inst *instance) string {
	if !inst.early.reclaimAt.IsZero() {
		return DrainTimeoutStopTasks
	}
	return cfg.DrainTimeoutAction
}

// standaloneDeadline is when the standalone tasks still running on the draining instance are
// stopped, and whether they are at all: the configured grace after the drain's start under the stop
// policy (for a drain that started ahead of its action, after the action's first sight); at once on
// a Spot instance, whatever the policy (they would die with it at the reclaim); never on an early
// drain without an action (a rebalance recommendation: the instance may stay a long while).
func standaloneDeadline(cfg Config, inst *instance) (deadline time.Time, stops bool) {
	start := inst.prog.drainStartedAt
	switch {
	case !inst.early.reclaimAt.IsZero():
		return start, true
	case !inst.hasAction():
		return time.Time{}, false
	case inst.early.set() && inst.waitingSince.After(start):
		start = inst.waitingSince
	}
	return start.Add(cfg.StandaloneTaskGrace), cfg.StandaloneTaskPolicy == StandalonePolicyStop
}

// globalMargin is how much of a hook's global timeout the drain timeout leaves unused: the drain
// starts up to a resync after the lifecycle action, is looked at once per poll, and the stop-tasks
// action needs time to stop what remains.
func globalMargin(cfg Config) time.Duration {
	return cfg.ResyncPeriod + 2*cfg.PollInterval + timeoutStopAllowance
}

// drainTimeoutUnder is the drain timeout cfg gives a drain under hook h, and whether it was cut to
// fit the hook's global timeout.
func drainTimeoutUnder(cfg Config, h hookInfo) (time.Duration, bool) {
	return effectiveDrainTimeout(cfg.DrainTimeout, h.globalTimeout, globalMargin(cfg))
}

// effectiveDrainTimeout bounds the configured drain timeout by the hook's global timeout less a
// margin, so the configured outcome (not the hook's DefaultResult) always ends a drain. reduced
// reports whether the configured value was cut.
func effectiveDrainTimeout(configured, global, margin time.Duration) (timeout time.Duration, reduced bool) {
	limit := global - margin
	if limit <= 0 {
		// A margin as large as the whole global timeout (a tiny hook): keep half of it, which still
		// ends the drain well before AWS would.
		limit = global / 2
	}
	if configured > limit {
		return limit, true
	}
	return configured, false
}

// stopAllowanceEnd is when the stop-tasks drain timeout action gives up waiting for the tasks it
// stopped and completes CONTINUE anyway.
func stopAllowanceEnd(deadline time.Time) time.Time {
	return deadline.Add(timeoutStopAllowance)
}

// tagAfter is how old a drain gets before its start is written to the drain-started-at tag. A
// restart before then loses the start, and the restarted process counts the drain from its first
// sight instead: everything counted from the start comes later by the drain's age at the restart
// (less than tagAfter, plus the time the tag waited in its queue for the ECS budget: unbounded under
// a long backlog or without ecs:TagResource) plus the downtime, never earlier. tagAfter bounds that
// error, when the budget allows, by the scale of each thing counted from the start:
//   - the drain timeout and the standalone task grace (when standalone tasks are stopped): neither
//     comes more than its own length late;
//   - half the hook's heartbeat timeout, the heartbeat interval: the hook's global timeout is
//     counted in heartbeat timeouts, and a restarted process records a heartbeat at first sight
//     anyway;
//   - timeoutStopAllowance, the part of the global timeout's margin a lost start can use up, so the
//     configured drain timeout action still comes before the hook's DefaultResult.
//
// Drains are usually seconds to minutes long, so most end untagged: one ECS call per drain saved.
func tagAfter(cfg Config, h hookInfo) time.Duration {
	d := timeoutStopAllowance
	if timeout, _ := drainTimeoutUnder(cfg, h); timeout > 0 {
		d = min(d, timeout)
	}
	if h.heartbeatTimeout > 0 {
		d = min(d, h.heartbeatTimeout/2)
	}
	if cfg.StandaloneTaskPolicy == StandalonePolicyStop {
		d = min(d, cfg.StandaloneTaskGrace)
	}
	return max(d, 0)
}

// nextWake is when an instance should be looked at again: a poll interval after the read it was
// decided on at fetchedAt (so all instances of a cluster come back together and share one
// refresh), or earlier if the drain timeout, its stop allowance or the standalone grace period
// falls due first. Heartbeats have their own schedule.
func nextWake(cfg Config, inst *instance, fetchedAt, now time.Time) time.Duration {
	p := &inst.prog
	next := fetchedAt.Add(cfg.PollInterval)
	soonest := func(t time.Time) {
		if t.After(now) && t.Before(next) {
			next = t
		}
	}
	if deadline, applies := drainDeadline(cfg, inst); applies && !p.timedOut {
		soonest(deadline)
	} else if applies {
		soonest(stopAllowanceEnd(deadline))
	}
	if deadline, stops := standaloneDeadline(cfg, inst); stops && !p.drainStartedAt.IsZero() && !p.standaloneChecked {
		soonest(deadline)
	}
	return max(next.Sub(now), time.Millisecond)
}

// resyncFor is how often discovery lists the fleet for a hook: the configured period, or half
// the hook's heartbeat timeout (at least a second) when that is shorter, so every instance gets
// its first heartbeat in time. shortened reports the latter.
func resyncFor(cfg Config, h hookInfo) (period time.Duration, shortened bool) {
	if hbTimeout := h.heartbeatTimeout; hbTimeout > 0 && cfg.ResyncPeriod > hbTimeout/2 {
		return max(hbTimeout/2, time.Second), true
	}
	return cfg.ResyncPeriod, false
}

// heartbeatBase is the time the next heartbeat is counted from: the last one this process recorded
// (or, in dry run, would have), or a time the lifecycle action is known to have started after; zero
// when unknown.
func heartbeatBase(inst *instance) time.Time {
	if last := latest(inst.hb.last, inst.hb.dryRun); !last.IsZero() {
		return last
	}
	return inst.enteredAfter
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// heartbeatDue reports whether a heartbeat should be recorded now. last is the last heartbeat this
// process recorded, or failing that the latest time the action is known not to have started yet;
// zero means unknown (first sight after a restart), which makes a heartbeat due at once. Heartbeats
// stop at end, the global timeout: past it AWS ends the action whatever is recorded.
func heartbeatDue(now, last, end time.Time, hbTimeout time.Duration) bool {
	if hbTimeout <= 0 || !now.Before(end) {
		return false
	}
	return last.IsZero() || now.Sub(last) >= hbTimeout/2
}

// nextHeartbeat is when the instance's next heartbeat is due (now when due at once, as after a
// restart); false when none is to come (no heartbeat timeout, or the global timeout first).
func nextHeartbeat(inst *instance, now time.Time) (time.Time, bool) {
	hbTimeout, end := inst.hook.heartbeatTimeout, globalEnd(inst)
	if hbTimeout <= 0 || !now.Before(end) {
		return time.Time{}, false
	}
	base := heartbeatBase(inst)
	if base.IsZero() {
		return now, true
	}
	due := base.Add(hbTimeout / 2)
	return due, due.Before(end)
}

// heartbeatWait is how long until the instance's next heartbeat falls due, when it is not due now;
// 0 when none is to come.
func heartbeatWait(inst *instance, now time.Time) time.Duration {
	due, ok := nextHeartbeat(inst, now)
	if !ok || !due.After(now) {
		return 0
	}
	return due.Sub(now)
}

// heartbeatExpiry is when the action expires unless a heartbeat is recorded: base plus the
// heartbeat timeout, or the global timeout if sooner; now when base is unknown (first sight after a
// restart is as urgent as can be).
func heartbeatExpiry(inst *instance, base, now time.Time) time.Time {
	expiry := now
	if !base.IsZero() {
		expiry = base.Add(inst.hook.heartbeatTimeout)
	}
	if end := globalEnd(inst); end.Before(expiry) {
		expiry = end
	}
	return expiry
}

// heartbeatCallTimeout bounds one RecordLifecycleActionHeartbeat call: a sixth of the heartbeat
// timeout, within heartbeatCallMin and heartbeatCallMax.
func heartbeatCallTimeout(hbTimeout time.Duration) time.Duration {
	return min(max(hbTimeout/6, heartbeatCallMin), heartbeatCallMax)
}

// heartbeatRetry is how soon a failed heartbeat is tried again: every tenth of the heartbeat
// timeout, so several tries fit in the half timeout left before the action would expire.
func heartbeatRetry(hbTimeout time.Duration) time.Duration {
	return max(hbTimeout/10, errorBackoffBase)
}

// expired guesses whether an action that ended without us timed out: its heartbeat deadline (as
// far as this process knows it) or global timeout had passed. Otherwise someone else ended it.
func expired(inst *instance, now time.Time) bool {
	if inst.hook.heartbeatTimeout <= 0 {
		return false
	}
	base := inst.hb.last // what AWS saw: dry run heartbeats extended nothing
	if base.IsZero() {
		base = inst.enteredAfter
	}
	if base.IsZero() {
		base = actionSeen(inst)
	}
	return !now.Before(base.Add(inst.hook.heartbeatTimeout)) || !now.Before(globalEnd(inst))
}
