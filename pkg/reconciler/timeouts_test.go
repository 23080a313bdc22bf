package reconciler

import (
	"testing"
	"time"
)

func TestGlobalTimeout(t *testing.T) {
	for _, tc := range []struct {
		heartbeat, reported, want time.Duration
	}{
		{30 * time.Second, 0, 3000 * time.Second},
		{3600 * time.Second, 0, 48 * time.Hour},
		{7200 * time.Second, 0, 48 * time.Hour},
		{300 * time.Second, 600 * time.Second, 600 * time.Second},
	} {
		if got := globalTimeout(tc.heartbeat, tc.reported); got != tc.want {
			t.Errorf("globalTimeout(%v, %v) = %v, want %v", tc.heartbeat, tc.reported, got, tc.want)
		}
	}
}

func TestEffectiveDrainTimeout(t *testing.T) {
	for _, tc := range []struct {
		name                       string
		configured, global, margin time.Duration
		want                       time.Duration
		reduced                    bool
	}{
		{"fits", time.Hour, 48 * time.Hour, 5 * time.Minute, time.Hour, false},
		{"cut to global less margin", time.Hour, 3000 * time.Second, 200 * time.Second, 2800 * time.Second, true},
		{"exactly the limit", 2800 * time.Second, 3000 * time.Second, 200 * time.Second, 2800 * time.Second, false},
		{"margin swallows the global timeout", time.Hour, 100 * time.Second, 200 * time.Second, 50 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reduced := effectiveDrainTimeout(tc.configured, tc.global, tc.margin)
			if got != tc.want || reduced != tc.reduced {
				t.Errorf("effectiveDrainTimeout = %v, %v; want %v, %v", got, reduced, tc.want, tc.reduced)
			}
		})
	}
}

func TestHeartbeatDue(t *testing.T) {
	now := epoch.Add(time.Hour)
	far := now.Add(time.Hour)
	for _, tc := range []struct {
		name      string
		last, end time.Time
		heartbeat time.Duration
		want      bool
	}{
		{"unknown last heartbeat: at once", time.Time{}, far, 300 * time.Second, true},
		{"recent", now.Add(-100 * time.Second), far, 300 * time.Second, false},
		{"half the timeout passed", now.Add(-150 * time.Second), far, 300 * time.Second, true},
		{"past the global timeout", now.Add(-200 * time.Second), now, 300 * time.Second, false},
		{"no timeout known", time.Time{}, far, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := heartbeatDue(now, tc.last, tc.end, tc.heartbeat); got != tc.want {
				t.Errorf("heartbeatDue = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDrainRef(t *testing.T) {
	seen := epoch
	for _, tc := range []struct {
		name    string
		started time.Time
		want    time.Time
	}{
		{"not draining: first sight", time.Time{}, seen},
		{"drain started after first sight", seen.Add(time.Minute), seen},
		{"tag of a resumed drain, before first sight", seen.Add(-time.Hour), seen.Add(-time.Hour)},
	} {
		inst := &instance{watchState: watchState{firstSeen: seen}, drainRecord: drainRecord{prog: progress{drainStartedAt: tc.started}}}
		if got := drainRef(inst); !got.Equal(tc.want) {
			t.Errorf("%s: drainRef = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestTagAfter(t *testing.T) {
	hook := hookInfo{heartbeatTimeout: 300 * time.Second, globalTimeout: 30000 * time.Second}
	for _, tc := range []struct {
		name  string
		setup func(*Config, *hookInfo)
		want  time.Duration
	}{
		{"the standalone grace, shortest of all", func(*Config, *hookInfo) {}, 150 * time.Second},
		{"half the heartbeat timeout", func(c *Config, _ *hookInfo) { c.StandaloneTaskGrace = time.Hour }, 150 * time.Second},
		{"the stop allowance", func(c *Config, h *hookInfo) { c.StandaloneTaskGrace, h.heartbeatTimeout = time.Hour, time.Hour }, timeoutStopAllowance},
		{"the standalone grace does not count with the wait policy", func(c *Config, h *hookInfo) {
			c.StandaloneTaskPolicy, c.StandaloneTaskGrace, h.heartbeatTimeout = StandalonePolicyWait, time.Second, time.Hour
		}, timeoutStopAllowance},
		{"a short drain timeout", func(c *Config, _ *hookInfo) { c.DrainTimeout = 30 * time.Second }, 30 * time.Second},
	} {
		cfg, h := testConfig(), hook
		cfg.StandaloneTaskGrace = 150 * time.Second
		tc.setup(&cfg, &h)
		if got := tagAfter(cfg, h); got != tc.want {
			t.Errorf("%s: tagAfter = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNextHeartbeat(t *testing.T) {
	now := epoch.Add(time.Hour)
	hook := hookInfo{heartbeatTimeout: 300 * time.Second, globalTimeout: 30000 * time.Second}
	for _, tc := range []struct {
		name     string
		inst     instance
		wantDue  time.Time
		wantOK   bool
		wantWait time.Duration
	}{
		{"unknown base: due now", instance{watchState: watchState{firstSeen: now, hook: hook}}, now, true, 0},
		{"half a timeout after the last", instance{hb: heartbeatState{last: now.Add(-100 * time.Second)}, watchState: watchState{firstSeen: epoch, hook: hook}},
			now.Add(50 * time.Second), true, 50 * time.Second},
		{"counted from when the action started after", instance{watchState: watchState{firstSeen: now, enteredAfter: now.Add(-10 * time.Second), hook: hook}},
			now.Add(140 * time.Second), true, 140 * time.Second},
		{"dry run's heartbeats count for the schedule", instance{hb: heartbeatState{dryRun: now}, watchState: watchState{firstSeen: epoch, hook: hook}},
			now.Add(150 * time.Second), true, 150 * time.Second},
		{"none past the global timeout", instance{watchState: watchState{firstSeen: now.Add(-30000 * time.Second), hook: hook}}, time.Time{}, false, 0},
		{"none without a heartbeat timeout", instance{watchState: watchState{firstSeen: now}}, time.Time{}, false, 0},
	} {
		due, ok := nextHeartbeat(&tc.inst, now)
		if !due.Equal(tc.wantDue) || ok != tc.wantOK {
			t.Errorf("%s: nextHeartbeat = %v, %v; want %v, %v", tc.name, due, ok, tc.wantDue, tc.wantOK)
		}
		if got := heartbeatWait(&tc.inst, now); got != tc.wantWait {
			t.Errorf("%s: heartbeatWait = %v, want %v", tc.name, got, tc.wantWait)
		}
	}
}

func TestHeartbeatExpiryAndBounds(t *testing.T) {
	now := epoch.Add(time.Hour)
	inst := &instance{watchState: watchState{firstSeen: now.Add(-time.Minute), hook: hookInfo{heartbeatTimeout: 300 * time.Second, globalTimeout: 30000 * time.Second}}}
	for _, tc := range []struct {
		name string
		base time.Time
		want time.Time
	}{
		{"unknown base: now", time.Time{}, now},
		{"base plus the heartbeat timeout", now.Add(-100 * time.Second), now.Add(200 * time.Second)},
	} {
		if got := heartbeatExpiry(inst, tc.base, now); !got.Equal(tc.want) {
			t.Errorf("%s: heartbeatExpiry = %v, want %v", tc.name, got, tc.want)
		}
	}
	short := &instance{watchState: watchState{firstSeen: now, hook: hookInfo{heartbeatTimeout: 300 * time.Second, globalTimeout: 10 * time.Second}}}
	if got := heartbeatExpiry(short, now, now); !got.Equal(now.Add(10 * time.Second)) {
		t.Errorf("heartbeatExpiry under a short global timeout = %v, want the global end", got)
	}
	for hbTimeout, want := range map[time.Duration]time.Duration{30 * time.Second: heartbeatCallMin, 60 * time.Second: 10 * time.Second, time.Hour: heartbeatCallMax} {
		if got := heartbeatCallTimeout(hbTimeout); got != want {
			t.Errorf("heartbeatCallTimeout(%v) = %v, want %v", hbTimeout, got, want)
		}
	}
	for hbTimeout, want := range map[time.Duration]time.Duration{5 * time.Second: errorBackoffBase, 300 * time.Second: 30 * time.Second} {
		if got := heartbeatRetry(hbTimeout); got != want {
			t.Errorf("heartbeatRetry(%v) = %v, want %v", hbTimeout, got, want)
		}
	}
}

func TestNextWake(t *testing.T) {
	cfg := testConfig() // poll 1 s, drain timeout 1 h, standalone grace 5 min
	hook := hookInfo{name: hookName, heartbeatTimeout: 300 * time.Second, globalTimeout: 30000 * time.Second}
	now := epoch.Add(10 * time.Second)
	for _, tc := range []struct {
		name string
		inst instance
		read time.Time
		want time.Duration
	}{
		{"a poll after the read", instance{watchState: watchState{firstSeen: epoch, hook: hook}}, now.Add(-200 * time.Millisecond), 800 * time.Millisecond},
		{"the drain timeout first", instance{watchState: watchState{firstSeen: now.Add(-time.Hour + 100*time.Millisecond), hook: hook}}, now, 100 * time.Millisecond},
		{"the stop allowance once timed out", instance{watchState: watchState{firstSeen: now.Add(-time.Hour - timeoutStopAllowance + 300*time.Millisecond), hook: hook}, drainRecord: drainRecord{prog: progress{timedOut: true}}}, now, 300 * time.Millisecond},
		{"the standalone grace", instance{watchState: watchState{firstSeen: epoch, hook: hook}, drainRecord: drainRecord{prog: progress{drainStartedAt: now.Add(-5*time.Minute + 400*time.Millisecond)}}},
			now, 400 * time.Millisecond},
		{"never less than a millisecond", instance{watchState: watchState{firstSeen: epoch, hook: hook}}, now.Add(-time.Hour), time.Millisecond},
	} {
		if got := nextWake(cfg, &tc.inst, tc.read, now); got != tc.want {
			t.Errorf("%s: nextWake = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestResyncFor(t *testing.T) {
	cfg := testConfig() // resync 2 s
	for _, tc := range []struct {
		hbTimeout     time.Duration
		want          time.Duration
		wantShortened bool
	}{
		{0, 2 * time.Second, false},
		{300 * time.Second, 2 * time.Second, false},
		{3 * time.Second, 1500 * time.Millisecond, true},
		{time.Second, time.Second, true},
	} {
		got, shortened := resyncFor(cfg, hookInfo{heartbeatTimeout: tc.hbTimeout})
		if got != tc.want || shortened != tc.wantShortened {
			t.Errorf("resyncFor(heartbeat %v) = %v, %v; want %v, %v", tc.hbTimeout, got, shortened, tc.want, tc.wantShortened)
		}
	}
}

func TestExpired(t *testing.T) {
	hook := hookInfo{heartbeatTimeout: 300 * time.Second, globalTimeout: 30000 * time.Second}
	now := epoch.Add(time.Hour)
	for _, tc := range []struct {
		name string
		inst instance
		want bool
	}{
		{"heartbeat recorded recently", instance{hb: heartbeatState{last: now.Add(-time.Minute)}, watchState: watchState{firstSeen: epoch, hook: hook}}, false},
		{"heartbeat deadline passed", instance{hb: heartbeatState{last: now.Add(-301 * time.Second)}, watchState: watchState{firstSeen: epoch, hook: hook}}, true},
		{"dry run heartbeats extended nothing", instance{hb: heartbeatState{dryRun: now}, watchState: watchState{firstSeen: now.Add(-400 * time.Second), hook: hook}}, true},
		{"no heartbeat timeout", instance{watchState: watchState{firstSeen: epoch}}, false},
	} {
		if got := expired(&tc.inst, now); got != tc.want {
			t.Errorf("%s: expired = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestEarlyDrainTimeouts: what applies to a drain that started ahead of its lifecycle action
// (spot.go). A Spot drain times out spotStopLead before the reclaim (or sooner under its hook),
// stopping tasks whatever is configured, and stops standalone tasks at once. A rebalance drain
// without an action has no timeout and stops no standalone task; once it has its action, the
// timeout and the standalone grace count from the action, not from the early start. A drain that
// finished before its action came has no timeout left.
func TestEarlyDrainTimeouts(t *testing.T) {
	cfg := testConfig() // drain timeout 1 h, stop-tasks, standalone grace 5 min
	cfg.DrainTimeoutAction = DrainTimeoutContinue
	hook := hookInfo{name: hookName, heartbeatTimeout: 300 * time.Second, globalTimeout: 30000 * time.Second}
	spot := earlyDrain{cause: earlySpot, at: epoch, reclaimAt: epoch.Add(spotNotice)}
	rebalance := earlyDrain{cause: earlyRebalance, at: epoch}
	started := drainRecord{prog: progress{drainStartedAt: epoch}}
	later := epoch.Add(time.Hour) // the action comes an hour after the early drain began
	none := time.Time{}           // none applies
	for _, tc := range []struct {
		name         string
		inst         instance
		wantDeadline time.Time
		wantAction   string
		wantStop     time.Time // when standalone tasks are stopped
	}{
		{"on the hook", instance{watchState: watchState{firstSeen: epoch, hook: hook}, drainRecord: started},
			epoch.Add(time.Hour), DrainTimeoutContinue, epoch.Add(5 * time.Minute)},
		{"spot, in service", instance{watchState: watchState{firstSeen: epoch, early: spot}, drainRecord: started},
			epoch.Add(spotNotice - spotStopLead), DrainTimeoutStopTasks, epoch},
		{"spot, seen after the stop lead", instance{watchState: watchState{firstSeen: epoch.Add(spotNotice), early: spot}, drainRecord: started},
			epoch.Add(spotNotice - spotStopLead), DrainTimeoutStopTasks, epoch},
		{"spot, on the hook", instance{watchState: watchState{firstSeen: epoch, waitingSince: epoch, hook: hook, early: spot}, drainRecord: started},
			epoch.Add(spotNotice - spotStopLead), DrainTimeoutStopTasks, epoch},
		{"rebalance, in service", instance{watchState: watchState{firstSeen: epoch, early: rebalance}, drainRecord: started},
			none, DrainTimeoutContinue, none},
		{"rebalance, on the hook an hour later", instance{watchState: watchState{firstSeen: epoch, waitingSince: later, hook: hook, early: rebalance}, drainRecord: started},
			later.Add(time.Hour), DrainTimeoutContinue, later.Add(5 * time.Minute)},
		{"drained early, on the hook", instance{watchState: watchState{firstSeen: epoch, waitingSince: later, hook: hook, early: spot},
			drainRecord: drainRecord{prog: progress{drainStartedAt: epoch, drainedEarly: true}}}, none, DrainTimeoutStopTasks, epoch},
	} {
		deadline, applies := drainDeadline(cfg, &tc.inst)
		if applies != !tc.wantDeadline.IsZero() || !deadline.Equal(tc.wantDeadline) {
			t.Errorf("%s: drainDeadline = %v (applies %v), want %v", tc.name, deadline, applies, tc.wantDeadline)
		}
		if got := timeoutActionFor(cfg, &tc.inst); got != tc.wantAction {
			t.Errorf("%s: timeoutActionFor = %q, want %q", tc.name, got, tc.wantAction)
		}
		stop, stops := standaloneDeadline(cfg, &tc.inst)
		if stops != !tc.wantStop.IsZero() || !stop.Equal(tc.wantStop) {
			t.Errorf("%s: standaloneDeadline = %v (stops %v), want %v", tc.name, stop, stops, tc.wantStop)
		}
	}
	// The action's global timeout counts from its first sight, not from an early drain's start.
	inst := instance{watchState: watchState{firstSeen: epoch, waitingSince: later, hook: hook, early: rebalance}}
	if got := globalEnd(&inst); !got.Equal(later.Add(hook.globalTimeout)) {
		t.Errorf("globalEnd of an early drain = %v, want the action's first sight plus the global timeout", got)
	}
}
