// Package web serves the drains page: GET / is a small server-rendered HTML page of the drains in
// progress, the last drains that ended and how, and the controller's health; GET /drains is the
// same view as JSON (reconciler.DrainsView).
//
// The page has no build step, no script and no external asset: one html/template (which escapes
// everything shown, group names and instance IDs included), one inline stylesheet that lays tables
// out as cards on a narrow screen, and a meta refresh, so it works offline and with JavaScript
// off. Its Content-Security-Policy allows nothing else. It reads the controller's in-memory view
// only: a page view costs no AWS call and adds no metric.
package web

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler"
)

// RefreshSeconds is how often the page reloads itself.
const RefreshSeconds = 5

// maxInProgressRows bounds the in-progress table: a scale-in of thousands of instances would make
// a page of megabytes every few seconds. The oldest drains, the ones that need a look, are listed;
// /drains lists all.
const maxInProgressRows = 200

// Source returns the view to show, or false while there is no controller yet (the process is
// starting).
type Source func() (reconciler.DrainsView, bool)

// Headers every answer carries: nothing is cached (the view changes every second), and the page may
// load nothing but its inline style.
var headers = map[string]string{
	"Cache-Control":           "no-store",
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "no-referrer",
	"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
}

//go:embed page.html.tmpl
var pageSource string

var pageTemplate = template.Must(template.New("page").Parse(pageSource))

// Page serves the HTML page. version is shown in its header.
func Page(src Source, version string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		view, ok := src()
		data := newPage(view, ok, version)
		var buf bytes.Buffer
		if err := pageTemplate.Execute(&buf, data); err != nil {
			http.Error(w, "rendering the drains page: "+err.Error(), http.StatusInternalServerError)
			return
		}
		setHeaders(w, "text/html; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = buf.WriteTo(w)
	})
}

// JSON serves the view as JSON: the page's twin, for scripts and tests.
func JSON(src Source) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		view, ok := src()
		var body any = view
		if !ok {
			body = map[string]string{"error": "starting: the controller is not running yet"}
		}
		out, err := json.MarshalIndent(body, "", "  ")
		if err != nil {
			http.Error(w, "encoding the drains: "+err.Error(), http.StatusInternalServerError)
			return
		}
		setHeaders(w, "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write(append(out, '\n'))
	})
}

func setHeaders(w http.ResponseWriter, contentType string) {
	for k, v := range headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", contentType)
}

// page is what the template shows: every value already formatted for a person, so the template
// only places and escapes them.
type page struct {
	Starting       bool
	Version        string
	Now            string
	RefreshSeconds int
	Health         health
	InProgress     []inProgressRow
	InProgressN    int // drains in progress, listed or not
	NotListed      int // drains in progress beyond maxInProgressRows
	Ended          []endedRow
	EndedKept      int
}

type health struct {
	Ready, DryRun               bool
	LastResync, LastResyncTitle string
	// LastResyncCSS is ok, bad when stale, warn before the first.
	LastResyncCSS                string
	ResyncPeriod                 string
	ManagedASGs, Watched         int
	EventQueueLag, EventQueueCSS string
}

// cell is a value with the exact form in a tooltip (a full ARN, a UTC time).
type cell struct{ Text, Title string }

type inProgressRow struct {
	InstanceID, ASG, Hook        string
	Cluster                      cell
	Phase, PhaseCode             string
	Age                          cell
	Running, Stopping            string
	NextHeartbeat, DrainDeadline cell
	TimedOut                     bool
}

type endedRow struct {
	InstanceID, ASG     string
	Cluster             cell
	How, Outcome        string
	Result              string
	Took                string
	Ended               cell
	DryRun, Problematic bool
}

func newPage(v reconciler.DrainsView, ok bool, version string) page {
	p := page{Starting: !ok, Version: version, RefreshSeconds: RefreshSeconds, EndedKept: reconciler.EndedDrainsKept}
	if !ok {
		return p
	}
	now := v.Now
	p.Now = utc(now)
	h := v.Health
	p.Health = health{
		Ready: h.Ready, DryRun: h.DryRun,
		LastResync: "not yet", LastResyncCSS: "warn",
		ResyncPeriod: human(time.Duration(h.ResyncPeriodSeconds * float64(time.Second))),
		ManagedASGs:  h.ManagedASGs, Watched: h.InstancesWatched,
		EventQueueLag: "not configured", EventQueueCSS: "muted",
	}
	if h.LastResync != nil {
		p.Health.LastResync, p.Health.LastResyncTitle, p.Health.LastResyncCSS = ago(*h.LastResync, now), utc(*h.LastResync), "ok"
		if h.ResyncStale {
			p.Health.LastResync, p.Health.LastResyncCSS = p.Health.LastResync+" (stale)", "bad"
		}
	}
	if q := h.EventQueue; q != nil {
		p.Health.EventQueueLag, p.Health.EventQueueCSS = eventQueueCell(q, now)
	}
	p.InProgressN = len(v.InProgress)
	if p.InProgressN > maxInProgressRows {
		p.NotListed = p.InProgressN - maxInProgressRows
		v.InProgress = v.InProgress[:maxInProgressRows]
	}
	for _, d := range v.InProgress {
		r := inProgressRow{
			InstanceID: d.InstanceID, ASG: d.ASG, Hook: d.Hook,
			Cluster: clusterCell(d.Cluster), Phase: d.PhaseText, PhaseCode: d.Phase,
			Age:           cell{human(time.Duration(d.AgeSeconds * float64(time.Second))), "since " + utc(d.Started)},
			Running:       count(d.TasksRunning),
			Stopping:      count(d.TasksStopping),
			NextHeartbeat: cell{"none", "no heartbeat to come: no heartbeat timeout, or the hook's global timeout comes first"},
			DrainDeadline: cell{until(d.DrainDeadline, now), utc(d.DrainDeadline)},
			TimedOut:      d.TimedOut,
		}
		if t := d.NextHeartbeat; t != nil {
			r.NextHeartbeat = cell{until(*t, now), utc(*t)}
		}
		if d.DrainDeadline.IsZero() {
			r.DrainDeadline = cell{"none yet", "no drain timeout until Auto Scaling holds the instance on its hook"}
		}
		if d.Early != "" {
			// Drained ahead of its lifecycle action: say why, and that no hook holds it (yet).
			r.Phase = d.PhaseText + " (early: " + d.Early + ")"
			if d.Hook == "" {
				r.Hook = "none yet"
			}
		}
		p.InProgress = append(p.InProgress, r)
	}
	for _, d := range v.Ended {
		p.Ended = append(p.Ended, endedRow{
			InstanceID: d.InstanceID, ASG: d.ASG, Cluster: clusterCell(d.Cluster),
			How: d.OutcomeText, Outcome: d.Outcome, Result: d.Result,
			Took:   human(time.Duration(d.DurationSeconds * float64(time.Second))),
			Ended:  cell{ago(d.Ended, now), utc(d.Ended)},
			DryRun: d.DryRun, Problematic: d.Outcome != metrics.OutcomeDrained && d.Outcome != metrics.OutcomeNotRegistered,
		})
	}
	return p
}

// clusterCell shows a cluster ARN by its name, the ARN in the tooltip.
func clusterCell(arn string) cell {
	if arn == "" {
		return cell{"not known yet", ""}
	}
	name := arn
	if i := strings.LastIndex(arn, "/"); i >= 0 && i < len(arn)-1 {
		name = arn[i+1:]
	}
	return cell{name, arn}
}

func count(n *int) string {
	if n == nil {
		return "–"
	}
	return strconv.Itoa(*n)
}

func utc(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") }

func ago(t, now time.Time) string {
	if d := now.Sub(t); d >= time.Second {
		return human(d) + " ago"
	}
	return "just now"
}

func until(t, now time.Time) string {
	switch d := t.Sub(now); {
	case d >= time.Second:
		return "in " + human(d)
	case d > -time.Second:
		return "now"
	default:
		return human(-d) + " overdue"
	}
}

// human writes a duration the way a person reads it at a glance: 42s, 3m 05s, 2h 10m.
func human(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// eventQueueCell says how the event queue is doing: failing (polling alone finds terminating
// instances meanwhile), not received from yet, or the lag of the last event handled.
func eventQueueCell(q *reconciler.EventQueueHealth, now time.Time) (text, css string) {
	switch {
	case q.Error != "":
		since := ""
		if q.FailingSince != nil {
			since = " for " + human(now.Sub(*q.FailingSince))
		}
		return "failing" + since + " (polling only): " + q.Error, "bad"
	case q.LastReceive == nil:
		return "not received from yet", "warn"
	case q.LastHandled == nil:
		return "receiving, no event yet", ""
	}
	return human(time.Duration(q.LagSeconds * float64(time.Second))), ""
}
