package reconciler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// phasesSeen advances the clock until cond holds on the drains view, collecting the phases the
// instance id went through, in order, without repeats.
func (e *env) phasesSeen(c *testController, id, what string, max time.Duration, cond func(DrainsView) bool) (DrainsView, []string) {
	e.t.Helper()
	var phases []string
	var v DrainsView
	e.until(what, max, 500*time.Millisecond, func() bool {
		v = c.Drains()
		for _, d := range v.InProgress {
			if d.InstanceID == id && (len(phases) == 0 || phases[len(phases)-1] != d.Phase) {
				phases = append(phases, d.Phase)
			}
		}
		return cond(v)
	})
	return v, phases
}

func findInProgress(v DrainsView, id string) (DrainInProgress, bool) {
	i := slices.IndexFunc(v.InProgress, func(d DrainInProgress) bool { return d.InstanceID == id })
	if i < 0 {
		return DrainInProgress{}, false
	}
	return v.InProgress[i], true
}

// TestDrainsViewFollowsADrain watches one drain through the read-only view: in progress with its
// group, hook, cluster, phase, tasks, next heartbeat and deadline, then among the ended drains as
// drained and completed CONTINUE; the controller's health says when it last resynced. The view
// puts no instance ID into the metrics.
func TestDrainsViewFollowsADrain(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.build(webFleet{instances: 3, slots: 4, heartbeat: 300, defaultResult: "ABANDON", tasks: 6, minPct: 50, maxPct: 200})

	c := e.start(testConfig())
	// Empty lists are [], not null; no event queue is null.
	out, err := json.Marshal(c.Drains())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"inProgress":[]`, `"ended":[]`, `"eventQueue":null`} {
		if !bytes.Contains(out, []byte(s)) {
			t.Errorf("drains before any scale-in %s lack %s", out, s)
		}
	}
	id := e.terminate("web", "")
	v, _ := e.phasesSeen(c, id, "drain in progress with its tasks read", time.Minute, func(v DrainsView) bool {
		d, ok := findInProgress(v, id)
		return ok && d.TasksRunning != nil
	})
	d := checkInProgress(t, c, v, id)

	v, phases := e.phasesSeen(c, id, "drain ended", 2*time.Minute, func(v DrainsView) bool { return len(v.Ended) > 0 })
	checkPhaseOrder(t, phases)
	if len(v.InProgress) != 0 || len(v.Ended) != 1 {
		t.Fatalf("after the drain: %d in progress, %d ended; want 0 and 1", len(v.InProgress), len(v.Ended))
	}
	checkEnded(t, v, id, d.Started)

	// Gone from Terminating:Wait, the instance is still among the ended drains, once.
	e.until("instance terminated", time.Minute, 500*time.Millisecond, func() bool { return e.gone("web", id) })
	e.advance(5*time.Second, 500*time.Millisecond)
	v = c.Drains()
	if len(v.Ended) != 1 || v.Ended[0].InstanceID != id {
		t.Errorf("ended drains after the instance left: %+v, want only %s", v.Ended, id)
	}
	checkHealth(t, v)
	checkNoInstanceInMetrics(t, c, id)
}

// checkInProgress checks the drain of id in progress: its group, hook, cluster, phase, age,
// deadline and next heartbeat, and that it is the one drain the gauge counts.
func checkInProgress(t *testing.T, c *testController, v DrainsView, id string) DrainInProgress {
	t.Helper()
	d, _ := findInProgress(v, id)
	if d.ASG != "web" || d.Hook != hookName || !strings.HasSuffix(d.Cluster, ":cluster/c1") {
		t.Errorf("in progress: asg %q hook %q cluster %q, want web, %s, ...:cluster/c1", d.ASG, d.Hook, d.Cluster, hookName)
	}
	if d.PhaseText == "" || d.PhaseText != phaseTexts[d.Phase] {
		t.Errorf("phase %q worded %q", d.Phase, d.PhaseText)
	}
	if d.Started.After(v.Now) || d.AgeSeconds != v.Now.Sub(d.Started).Seconds() {
		t.Errorf("started %v, age %vs at %v", d.Started, d.AgeSeconds, v.Now)
	}
	if want := d.Started.Add(time.Hour); !d.DrainDeadline.Equal(want) {
		t.Errorf("drain deadline %v, want %v (started + --drain-timeout)", d.DrainDeadline, want)
	}
	if d.NextHeartbeat == nil || d.NextHeartbeat.After(v.Now.Add(150*time.Second)) {
		t.Errorf("next heartbeat %v, want one within half the 300 s heartbeat timeout of %v", d.NextHeartbeat, v.Now)
	}
	if len(v.InProgress) != 1 || int(value(t, c.m.DrainsInProgress)) != 1 {
		t.Errorf("%d drains in progress, gauge %v; want 1 and 1", len(v.InProgress), value(t, c.m.DrainsInProgress))
	}
	return d
}

// checkPhaseOrder checks that a drain went through its phases in order, and waited for its tasks
// to stop.
func checkPhaseOrder(t *testing.T, phases []string) {
	t.Helper()
	t.Logf("phases seen: %v", phases)
	// Tasks move off, then the tasks told to stop are waited for (at least one poll), in order.
	order := []string{PhaseLookingUp, PhaseSettingDraining, PhaseDraining, PhaseWaitingForStop, PhaseCompleting}
	last := -1
	for _, p := range phases {
		i := slices.Index(order, p)
		if i < last {
			t.Errorf("phases %v out of order %v", phases, order)
		}
		last = i
	}
	if !slices.Contains(phases, PhaseWaitingForStop) {
		t.Errorf("phases %v never waited for tasks to stop", phases)
	}
}

// checkEnded checks the one ended drain: id of web, drained and completed CONTINUE, started when
// it was in progress.
func checkEnded(t *testing.T, v DrainsView, id string, started time.Time) {
	t.Helper()
	ended := v.Ended[0]
	if ended.InstanceID != id || ended.ASG != "web" || ended.Outcome != metrics.OutcomeDrained || ended.Result != awsapi.LifecycleActionContinue ||
		ended.OutcomeText != outcomeTexts[metrics.OutcomeDrained] || ended.DryRun || !strings.HasSuffix(ended.Cluster, ":cluster/c1") {
		t.Errorf("ended drain %+v, want %s of web drained with CONTINUE", ended, id)
	}
	if ended.Started != started || ended.DurationSeconds != ended.Ended.Sub(ended.Started).Seconds() || ended.Ended.After(v.Now) {
		t.Errorf("ended drain started %v ended %v took %vs; in progress it started %v", ended.Started, ended.Ended, ended.DurationSeconds, started)
	}
}

// checkHealth checks the controller's health once the drain is over: ready, resynced within a
// resync period, one group managed and nothing watched.
func checkHealth(t *testing.T, v DrainsView) {
	t.Helper()
	h := v.Health
	if !h.Ready || h.LastResync == nil || h.ResyncStale || h.ManagedASGs != 1 || h.InstancesWatched != 0 || h.EventQueue != nil || h.DryRun {
		t.Errorf("health %+v", h)
	}
	if h.LastResync != nil && (h.LastResync.After(v.Now) || v.Now.Sub(*h.LastResync) > testConfig().ResyncPeriod) {
		t.Errorf("last resync %v, now %v: want within a resync period", h.LastResync, v.Now)
	}
}

// checkNoInstanceInMetrics: no instance ID in any metric; per-instance detail is on the page and
// in the logs only.
func checkNoInstanceInMetrics(t *testing.T, c *testController, id string) {
	t.Helper()
	mfs, err := c.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&text, mf); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(text.String(), id) {
		t.Errorf("metrics mention instance %s", id)
	}
}

// TestDrainsViewTimeout shows a drain that cannot finish (its service may not move) as timed out,
// stopping tasks, until it ends by the drain timeout with CONTINUE.
func TestDrainsViewTimeout(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.build(webFleet{instances: 2, slots: 2, heartbeat: 300, defaultResult: "CONTINUE", service: "stuck", family: "app", tasks: 4, minPct: 100, maxPct: 100})

	cfg := testConfig()
	cfg.DrainTimeout = time.Minute
	c := e.start(cfg)
	id := e.terminate("web", "")
	v, phases := e.phasesSeen(c, id, "drain ended", 3*time.Minute, func(v DrainsView) bool { return len(v.Ended) > 0 })
	t.Logf("phases seen: %v", phases)
	if !slices.Contains(phases, PhaseDraining) || !slices.Contains(phases, PhaseTimedOutStopping) ||
		slices.Index(phases, PhaseTimedOutStopping) < slices.Index(phases, PhaseDraining) {
		t.Errorf("phases %v, want draining then %s", phases, PhaseTimedOutStopping)
	}
	if got := v.Ended[0]; got.InstanceID != id || got.Outcome != metrics.OutcomeTimeoutStopTasks || got.Result != awsapi.LifecycleActionContinue {
		t.Errorf("ended drain %+v, want %s ended by the drain timeout, tasks stopped, CONTINUE", got, id)
	}
}

// TestDrainsViewNotRegistered: an instance with no container instance is completed at once. It is
// never a drain in progress, and ends as not registered; in dry run as one the controller would
// have completed.
func TestDrainsViewNotRegistered(t *testing.T) {
	for _, dryRun := range []bool{false, true} {
		t.Run(fmt.Sprintf("dryRun=%v", dryRun), func(t *testing.T) {
			e := newEnv(t, awssim.Options{})
			e.group("bare", 2, "", 0, true) // no cluster: its instances never register
			e.hook("bare", hookName, 300, "CONTINUE")
			e.advance(2*time.Second, 500*time.Millisecond)
			cfg := testConfig()
			cfg.DryRun = dryRun
			c := e.start(cfg)
			id := e.terminate("bare", "")
			v, phases := e.phasesSeen(c, id, "drain ended", time.Minute, func(v DrainsView) bool { return len(v.Ended) > 0 })
			for _, p := range phases {
				if p != PhaseLookingUp {
					t.Errorf("phases %v: an unregistered instance only looks up", phases)
				}
			}
			got := v.Ended[0]
			if got.InstanceID != id || got.Outcome != metrics.OutcomeNotRegistered || got.Result != awsapi.LifecycleActionContinue || got.Cluster != "" || got.DryRun != dryRun {
				t.Errorf("ended drain %+v, want %s not registered, CONTINUE, dry run %v", got, id, dryRun)
			}
			if v.Health.DryRun != dryRun {
				t.Errorf("health says dry run %v", v.Health.DryRun)
			}
		})
	}
}

// TestEndedDrainsRing keeps the last EndedDrainsKept drains, newest first.
func TestEndedDrainsRing(t *testing.T) {
	var r endedDrains
	if got := r.list(); len(got) != 0 {
		t.Fatalf("empty ring lists %d", len(got))
	}
	for i := range EndedDrainsKept + 7 {
		r.add(EndedDrain{InstanceID: fmt.Sprint(i)})
		got := r.list()
		if want := min(i+1, EndedDrainsKept); len(got) != want || got[0].InstanceID != fmt.Sprint(i) || got[len(got)-1].InstanceID != fmt.Sprint(i+1-want) {
			t.Fatalf("after %d adds: %d listed, newest %s, oldest %s", i+1, len(got), got[0].InstanceID, got[len(got)-1].InstanceID)
		}
	}
}

// TestDrainsViewJSON fixes the JSON names of the view (GET /drains): scripts read them.
func TestDrainsViewJSON(t *testing.T) {
	n, at := 2, epoch
	v := DrainsView{
		Now:        epoch,
		InProgress: []DrainInProgress{{TasksRunning: &n, TasksStopping: &n, NextHeartbeat: &at}},
		Ended:      []EndedDrain{{}},
		Health:     ControllerHealth{LastResync: &at, EventQueue: &EventQueueHealth{}},
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"":           {"now", "inProgress", "ended", "health"},
		"inProgress": {"instanceId", "asg", "hook", "cluster", "phase", "phaseText", "started", "ageSeconds", "tasksRunning", "tasksStopping", "nextHeartbeat", "drainDeadline", "timedOut"},
		"ended":      {"instanceId", "asg", "cluster", "outcome", "outcomeText", "result", "started", "ended", "durationSeconds", "dryRun"},
		"health":     {"ready", "lastResync", "resyncStale", "resyncPeriodSeconds", "managedAsgs", "instancesWatched", "dryRun", "eventQueue"},
		"eventQueue": {"receiving", "lastReceive", "lastHandled", "lagSeconds", "error", "failingSince"},
	}
	objects := map[string]map[string]any{
		"":           m,
		"inProgress": m["inProgress"].([]any)[0].(map[string]any),
		"ended":      m["ended"].([]any)[0].(map[string]any),
		"health":     m["health"].(map[string]any),
	}
	objects["eventQueue"] = objects["health"]["eventQueue"].(map[string]any)
	for name, keys := range want {
		got := slices.Sorted(maps.Keys(objects[name]))
		if !slices.Equal(got, slices.Sorted(slices.Values(keys))) {
			t.Errorf("%q keys %v, want %v", name, got, slices.Sorted(slices.Values(keys)))
		}
	}
}
