package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// hostile are values a person or a tag could put where the page shows text: group names, hook
// names and cluster names come from AWS, chosen by whoever created them.
const (
	hostileGroup   = `<script>alert("group")</script>`
	hostileHook    = `"><img src=x onerror=alert(1)>`
	hostileCluster = `arn:aws:ecs:us-east-1:1:cluster/</td><script>alert(2)</script>`
	hostileID      = `i-0123'"<b>&amp;`
)

func view() reconciler.DrainsView {
	running, stopping := 3, 1
	hb, resync := now.Add(25*time.Second), now.Add(-2*time.Second)
	return reconciler.DrainsView{
		Now: now,
		InProgress: []reconciler.DrainInProgress{{
			InstanceID: hostileID, ASG: hostileGroup, Hook: hostileHook, Cluster: hostileCluster,
			Phase: reconciler.PhaseDraining, PhaseText: "draining: tasks moving off <now>",
			Started: now.Add(-65 * time.Second), AgeSeconds: 65,
			TasksRunning: &running, TasksStopping: &stopping, NextHeartbeat: &hb,
			DrainDeadline: now.Add(time.Hour - 65*time.Second),
		}, {
			InstanceID: "i-0000000000000000b", ASG: "web-asg", Hook: "drain",
			Phase: reconciler.PhaseLookingUp, PhaseText: "looking up its container instance",
			Started: now, DrainDeadline: now.Add(time.Hour),
		}},
		Ended: []reconciler.EndedDrain{{
			InstanceID: "i-0000000000000000c", ASG: hostileGroup, Cluster: hostileCluster,
			Outcome: metrics.OutcomeDrained, OutcomeText: "drained: every task stopped", Result: awsapi.LifecycleActionContinue,
			Started: now.Add(-2 * time.Minute), Ended: now.Add(-90 * time.Second), DurationSeconds: 30,
		}},
		Health: reconciler.ControllerHealth{Ready: true, LastResync: &resync, ResyncPeriodSeconds: 60, ManagedASGs: 2, InstancesWatched: 2},
	}
}

// serve answers one GET: the recorder holds the status and headers, and the body is returned.
func serve(h http.Handler, path string) (*httptest.ResponseRecorder, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec, rec.Body.String()
}

func source(v reconciler.DrainsView, ok bool) Source {
	return func() (reconciler.DrainsView, bool) { return v, ok }
}

// TestPageEscapesEverything renders hostile values from AWS: each is shown as text, none becomes
// markup, and the page carries no script of its own.
func TestPageEscapesEverything(t *testing.T) {
	resp, body := serve(Page(source(view(), true), `v1.2.3<i>`), "/")
	if resp.Code != http.StatusOK || resp.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("status %d, type %q", resp.Code, resp.Header().Get("Content-Type"))
	}
	for _, raw := range []string{"<script", "<img", "<b>", "<i>", "</td><"} {
		if strings.Contains(body, raw) {
			t.Errorf("page contains unescaped %q:\n%s", raw, body)
		}
	}
	for _, escaped := range []string{
		"&lt;script&gt;alert(&#34;group&#34;)&lt;/script&gt;", // the group, as text
		"i-0123&#39;&#34;&lt;b&gt;&amp;amp;",                  // the instance ID
		`title="hook &#34;&gt;&lt;img src=x onerror=alert(1)&gt;"`,
		`title="arn:aws:ecs:us-east-1:1:cluster/&lt;/td&gt;&lt;script&gt;alert(2)&lt;/script&gt;"`, // the cluster's ARN
		"v1.2.3&lt;i&gt;",
		"tasks moving off &lt;now&gt;",
	} {
		if !strings.Contains(body, escaped) {
			t.Errorf("page lacks %q:\n%s", escaped, body)
		}
	}
	csp := resp.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	for _, external := range []string{"http://", "https://", "url(", "<link", "@import"} {
		if strings.Contains(body, external) {
			t.Errorf("page loads something (%q): it must work offline", external)
		}
	}
}

// TestPageShows checks what a person reads: the drains in progress with their phase, age, tasks,
// next heartbeat and deadline; the ended drains and how; the controller's health, with the event
// queue not configured; a refresh that needs no script; a viewport for phones.
func TestPageShows(t *testing.T) {
	_, body := serve(Page(source(view(), true), "v1.2.3"), "/")
	inProgress, ended := section(t, body, "in-progress"), section(t, body, "ended")
	health := section(t, body, "health")
	sectionHas(t, "in-progress", inProgress,
		"In progress (2)", "draining: tasks moving off", "1m 05s", ">3<", ">1<", "in 25s", "in 58m 55s",
		"i-0000000000000000b", "looking up its container instance", "not known yet", ">–<", "web-asg")
	sectionHas(t, "ended", ended, "i-0000000000000000c", "drained: every task stopped", "CONTINUE", "30s", "1m 30s ago", "2026-03-01 11:58:30 UTC")
	if strings.Contains(ended, "i-0000000000000000b") || strings.Contains(inProgress, "i-0000000000000000c") {
		t.Error("a drain shows in the wrong section")
	}
	sectionHas(t, "health", health, "yes", "2s ago", "at least every 1m 00s", "Event queue lag", "not configured", ">2<")
	for _, want := range []string{`<meta http-equiv="refresh" content="5">`, `<meta name="viewport" content="width=device-width, initial-scale=1">`, "@media (max-width:", `<title>ecs-drainer: 2 drains in progress</title>`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	// An event queue, once there is one, shows its lag; a stale resync says so.
	recv := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v := view()
	v.Health.EventQueue = &reconciler.EventQueueHealth{LagSeconds: 3, Receiving: true, LastReceive: &recv, LastHandled: &recv}
	v.Health.ResyncStale = true
	_, body = serve(Page(source(v, true), "v1.2.3"), "/")
	if health := section(t, body, "health"); strings.Contains(health, "not configured") || !strings.Contains(health, "3s") || !strings.Contains(health, "(stale)") {
		t.Errorf("health with an event queue lagging 3s and a stale resync:\n%s", health)
	}
	// A failing queue says so, with the error.
	v = view()
	v.Health.EventQueue = &reconciler.EventQueueHealth{Error: "AccessDenied: not allowed", FailingSince: &recv}
	_, body = serve(Page(source(v, true), "v1.2.3"), "/")
	if health := section(t, body, "health"); !strings.Contains(health, "polling only") || !strings.Contains(health, "AccessDenied") {
		t.Errorf("health with a failing event queue:\n%s", health)
	}
	// Before the first resync: not ready, no resync yet, and nothing called stale.
	v = view()
	v.Health = reconciler.ControllerHealth{ResyncStale: true, ResyncPeriodSeconds: 60}
	_, body = serve(Page(source(v, true), "v1.2.3"), "/")
	if health := section(t, body, "health"); !strings.Contains(health, "not yet: no successful resync") || !strings.Contains(health, `class="warn" title="">not yet<`) || strings.Contains(health, "stale") {
		t.Errorf("health before the first resync:\n%s", health)
	}
}

// sectionHas reports each of wants that the page section name (its HTML, text) lacks.
func sectionHas(t *testing.T, name, text string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("%s section lacks %q:\n%s", name, want, text)
		}
	}
}

// section returns the HTML of <section id="id">.
func section(t *testing.T, body, id string) string {
	t.Helper()
	start := strings.Index(body, `<section id="`+id+`">`)
	if start < 0 {
		t.Fatalf("no section %q:\n%s", id, body)
	}
	end := strings.Index(body[start:], "</section>")
	return body[start : start+end]
}

// TestJSONIsTheView: /drains is the view the page shows, as JSON.
func TestJSONIsTheView(t *testing.T) {
	want := view()
	resp, body := serve(JSON(source(want, true)), "/drains")
	if resp.Code != http.StatusOK || resp.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, type %q", resp.Code, resp.Header().Get("Content-Type"))
	}
	var got reconciler.DrainsView
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("/drains differs from the view (-want +got):\n%s", diff)
	}
}

// TestStarting: before the controller exists both answer 503, the page saying so and still
// refreshing.
func TestStarting(t *testing.T) {
	resp, body := serve(Page(source(reconciler.DrainsView{}, false), "v1"), "/")
	if resp.Code != http.StatusServiceUnavailable || !strings.Contains(body, "Starting") || !strings.Contains(body, `http-equiv="refresh"`) {
		t.Errorf("page while starting: %d\n%s", resp.Code, body)
	}
	resp, body = serve(JSON(source(reconciler.DrainsView{}, false)), "/drains")
	if resp.Code != http.StatusServiceUnavailable || !strings.Contains(body, `"error"`) {
		t.Errorf("JSON while starting: %d\n%s", resp.Code, body)
	}
}

// TestManyDrains lists the oldest drains in progress only, and says how many more there are.
func TestManyDrains(t *testing.T) {
	v := view()
	v.InProgress = nil
	for i := range maxInProgressRows + 3 {
		v.InProgress = append(v.InProgress, reconciler.DrainInProgress{InstanceID: fmt.Sprintf("i-%017d", i)})
	}
	_, body := serve(Page(source(v, true), "v1"), "/")
	inProgress := section(t, body, "in-progress")
	if got := strings.Count(inProgress, "<tr data-instance="); got != maxInProgressRows {
		t.Errorf("%d rows listed, want %d", got, maxInProgressRows)
	}
	for _, want := range []string{fmt.Sprintf("In progress (%d)", maxInProgressRows+3), "3 newer drains in progress are not listed", fmt.Sprintf("i-%017d", maxInProgressRows-1)} {
		if !strings.Contains(inProgress, want) {
			t.Errorf("in-progress section lacks %q", want)
		}
	}
	if strings.Contains(inProgress, fmt.Sprintf("i-%017d", maxInProgressRows)) {
		t.Error("a drain beyond the limit is listed")
	}
}

func TestHuman(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 400 * time.Millisecond: "0s", 42 * time.Second: "42s", 65 * time.Second: "1m 05s",
		time.Hour - time.Second: "59m 59s", 2*time.Hour + 10*time.Minute + 40*time.Second: "2h 10m",
	} {
		if got := human(d); got != want {
			t.Errorf("human(%v) = %q, want %q", d, got, want)
		}
	}
	if got := until(now.Add(-3*time.Second), now); got != "3s overdue" {
		t.Errorf("until 3s ago = %q", got)
	}
}
