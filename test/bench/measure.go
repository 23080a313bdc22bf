package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// simStats is awssim's /debug/stats (awssim.Stats as JSON; the struct has no JSON tags, so the
// names are the Go field names). It is decoded here rather than imported so the benchmark reads
// the wire contract, as any tool would, and builds while the simulator's package is being changed.
type simStats struct {
	Requests                  map[string]int // "service/operation/code"
	WriteCalls                int
	TasksStoppedByReason      map[string]int
	LifecycleActionsCompleted map[string]int // by result
	LifecycleActionsTimedOut  int
	CompletionsByInstance     map[string]int
	TerminatedWithTasks       int
	Terminated                int
	EventsEmitted             int            // published to the event bus, matched by a rule or not
	Deliveries                map[string]int // messages on their way into SQS, by outcome
}

// deliveryDelivered is the outcome of an event put on a queue (awssim_event_deliveries_total).
const deliveryDelivered = "delivered"

// timeline is one entry of awssim's /debug/timeline: what happened to one EC2 instance on its way
// out. Zero times mean "not yet".
type timeline struct {
	InstanceID        string    `json:"instanceId"`
	Group             string    `json:"group"`
	TerminatingWaitAt time.Time `json:"terminatingWaitAt,omitzero"`
	DrainingAt        time.Time `json:"drainingAt,omitzero"`
	LastTaskStoppedAt time.Time `json:"lastTaskStoppedAt,omitzero"`
	CompletedAt       time.Time `json:"completedAt,omitzero"`
	TerminatedAt      time.Time `json:"terminatedAt,omitzero"`
	Completions       int       `json:"completions"`
	Heartbeats        int       `json:"heartbeats"`
	TimedOut          int       `json:"timedOut"`
	TasksKilled       int       `json:"tasksKilled"`
}

// Calls counts AWS requests by "service/operation" (every response code), as awssim saw them.
type Calls map[string]int

// callsBetween is what was requested between two awssim snapshots.
func callsBetween(before, after simStats) Calls {
	out := Calls{}
	for key, n := range after.Requests {
		d := n - before.Requests[key]
		if d == 0 {
			continue
		}
		service, rest, _ := strings.Cut(key, "/")
		op, _, _ := strings.Cut(rest, "/")
		out[service+"/"+op] += d
	}
	return out
}

// errorsBetween counts requests answered with an error code, by "service/operation/code".
func errorsBetween(before, after simStats) map[string]int {
	out := map[string]int{}
	for key, n := range after.Requests {
		if strings.HasSuffix(key, "/OK") {
			continue
		}
		if d := n - before.Requests[key]; d > 0 {
			out[key] = d
		}
	}
	return out
}

// Total is every call.
func (c Calls) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// Service is every call to one service ("autoscaling", "ecs" or "sqs").
func (c Calls) Service(service string) int {
	n := 0
	for k, v := range c {
		if strings.HasPrefix(k, service+"/") {
			n += v
		}
	}
	return n
}

// Writes is every ECS and Auto Scaling call to an operation that changes something: all but
// Describe*, List* and Get*, the same split awssim uses for its WriteCalls counter. The event
// queue's calls are left out: receiving and deleting messages changes nothing in the fleet, and
// the writes target is about the fleet's APIs.
func (c Calls) Writes() int {
	n := 0
	for k, v := range c {
		if service, _, _ := strings.Cut(k, "/"); !isRead(k) && (service == "ecs" || service == "autoscaling") {
			n += v
		}
	}
	return n
}

func isRead(key string) bool {
	_, op, _ := strings.Cut(key, "/")
	return strings.HasPrefix(op, "Describe") || strings.HasPrefix(op, "List") || strings.HasPrefix(op, "Get")
}

// without returns c less n calls of key, for calls the benchmark made itself.
func (c Calls) without(key string, n int) Calls {
	out := Calls{}
	for k, v := range c {
		if k == key {
			v -= n
		}
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// per divides every count by d, rounded to two decimals, for "calls per resync" style tables.
func (c Calls) per(d float64) map[string]float64 {
	out := map[string]float64{}
	if d <= 0 {
		return out
	}
	for k, v := range c {
		out[k] = round2(float64(v) / d)
	}
	return out
}

// Keys lists the operations in a stable order: by service, then operation.
func (c Calls) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Dist summarises a set of durations, in seconds.
type Dist struct {
	Count  int     `json:"count"`
	Median float64 `json:"median"`
	P99    float64 `json:"p99"`
	Max    float64 `json:"max"`
	Mean   float64 `json:"mean"`
}

// distOf summarises durations with nearest-rank percentiles. No durations gives the zero Dist.
func distOf(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Dist{
		Count:  len(s),
		Median: round3(percentile(s, 50).Seconds()),
		P99:    round3(percentile(s, 99).Seconds()),
		Max:    round3(s[len(s)-1].Seconds()),
		Mean:   round3((sum / time.Duration(len(s))).Seconds()),
	}
}

// percentile is the nearest-rank p-th percentile of sorted, which must not be empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// Latencies are the drains' latencies from awssim's timelines.
type Latencies struct {
	WaitToDraining Dist `json:"terminatingWaitToDraining"`
	// DrainingToLastStop is how long ECS took to stop everything on a DRAINING instance: the
	// drain itself, which no drainer shortens. Instances terminated with a task still running
	// are left out (their last stop is the kill).
	DrainingToLastStop Dist `json:"drainingToLastTaskStopped"`
	// LastStopToCompleted leaves out instances completed with a task still running: their last
	// task stopped when the termination killed it, after the completion.
	LastStopToCompleted  Dist `json:"lastTaskStoppedToCompleted"`
	WaitToCompleted      Dist `json:"terminatingWaitToCompleted"`
	CompletedToTerminate Dist `json:"completedToTerminated"`
}

// timelineSummary is what the timelines of the scaled-in instances show.
type timelineSummary struct {
	Latencies
	Instances     int // with a Terminating:Wait
	Completed     int
	Terminated    int
	MultiComplete int // instances completed more than once
	TimedOut      int
	TasksKilled   int
	Heartbeats    int
	// CompletedWithTasks are instances completed while a task still ran on them (killed by the
	// termination that followed).
	CompletedWithTasks int
	FirstWait          time.Time
	LastComplete       time.Time
	LastTerminated     time.Time
}

// summarise reads the timelines of instances that entered Terminating:Wait.
func summarise(tls []timeline) timelineSummary {
	var s timelineSummary
	var d durations
	for _, t := range tls {
		if t.TerminatingWaitAt.IsZero() {
			continue
		}
		s.count(t)
		d.add(t)
		if !t.CompletedAt.IsZero() {
			s.countCompleted(t)
		}
	}
	s.WaitToDraining = distOf(d.toDraining)
	s.DrainingToLastStop = distOf(d.drainingToStop)
	s.LastStopToCompleted = distOf(d.stopToDone)
	s.WaitToCompleted = distOf(d.waitToDone)
	s.CompletedToTerminate = distOf(d.doneToGone)
	return s
}

// count adds one instance that entered Terminating:Wait to the totals.
func (s *timelineSummary) count(t timeline) {
	s.Instances++
	if s.FirstWait.IsZero() || t.TerminatingWaitAt.Before(s.FirstWait) {
		s.FirstWait = t.TerminatingWaitAt
	}
	s.TimedOut += t.TimedOut
	s.TasksKilled += t.TasksKilled
	s.Heartbeats += t.Heartbeats
	if t.Completions > 1 {
		s.MultiComplete++
	}
	if !t.TerminatedAt.IsZero() {
		s.Terminated++
		if t.TerminatedAt.After(s.LastTerminated) {
			s.LastTerminated = t.TerminatedAt
		}
	}
}

// countCompleted adds one completed instance to the totals.
func (s *timelineSummary) countCompleted(t timeline) {
	s.Completed++
	if t.CompletedAt.After(s.LastComplete) {
		s.LastComplete = t.CompletedAt
	}
	if t.TasksKilled > 0 {
		s.CompletedWithTasks++
	}
}

// durations gathers the intervals of the instances' timelines that the summary reports.
type durations struct {
	toDraining, drainingToStop, stopToDone, waitToDone, doneToGone []time.Duration
}

func (d *durations) add(t timeline) {
	if !t.DrainingAt.IsZero() {
		d.toDraining = append(d.toDraining, t.DrainingAt.Sub(t.TerminatingWaitAt))
		if t.TasksKilled == 0 && t.LastTaskStoppedAt.After(t.DrainingAt) {
			d.drainingToStop = append(d.drainingToStop, t.LastTaskStoppedAt.Sub(t.DrainingAt))
		}
	}
	if t.CompletedAt.IsZero() {
		return
	}
	d.waitToDone = append(d.waitToDone, t.CompletedAt.Sub(t.TerminatingWaitAt))
	if t.TasksKilled == 0 && !t.LastTaskStoppedAt.IsZero() {
		d.stopToDone = append(d.stopToDone, t.CompletedAt.Sub(t.LastTaskStoppedAt))
	}
	if !t.TerminatedAt.IsZero() {
		d.doneToGone = append(d.doneToGone, t.TerminatedAt.Sub(t.CompletedAt))
	}
}

// simClient reads awssim's debug endpoints, which no AWS client calls and awssim does not count.
type simClient struct {
	addr string
	hc   *http.Client
}

func newSimClient(addr string) *simClient {
	return &simClient{addr: addr, hc: &http.Client{Timeout: 30 * time.Second}}
}

func (c *simClient) get(ctx context.Context, path string, v any) error {
	return getJSON(ctx, c.hc, "http://"+c.addr+path, v)
}

// getJSON reads url's JSON answer into v.
func getJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("reading %s: %w", url, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("reading %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reading %s: status %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("decoding %s: %w", url, err)
	}
	return nil
}

// Stats reads /debug/stats.
func (c *simClient) Stats(ctx context.Context) (simStats, error) {
	var s simStats
	err := c.get(ctx, "/debug/stats", &s)
	return s, err
}

// Timelines reads /debug/timeline.
func (c *simClient) Timelines(ctx context.Context) ([]timeline, error) {
	var t []timeline
	err := c.get(ctx, "/debug/timeline", &t)
	return t, err
}

// ProcUsage is one process's resource use over a phase.
type ProcUsage struct {
	CPUSeconds  float64 `json:"cpuSeconds"`
	WallSeconds float64 `json:"wallSeconds"`
	// CPUShare is CPU seconds per wall second: 1.0 is one core busy all the time.
	CPUShare float64 `json:"cpuShare"`
	RSSMiB   float64 `json:"rssMiB"`     // at the end of the phase
	PeakMiB  float64 `json:"peakRssMiB"` // VmHWM at the end of the phase: the peak since the process started
}

// procSample is a /proc reading with its time.
type procSample struct {
	at time.Time
	harness.ProcStats
}

func readProc(p *harness.Process) (procSample, error) {
	s, err := harness.ReadProcStats(p.PID())
	if err != nil {
		return procSample{}, fmt.Errorf("reading /proc of %s: %w", p.Name, err)
	}
	return procSample{at: time.Now(), ProcStats: s}, nil
}

// usage is the resource use between two samples of one process.
func usage(a, b procSample) ProcUsage {
	wall := b.at.Sub(a.at).Seconds()
	u := ProcUsage{
		CPUSeconds:  round3(b.CPUSeconds - a.CPUSeconds),
		WallSeconds: round3(wall),
		RSSMiB:      mib(b.RSSBytes),
		PeakMiB:     mib(b.PeakRSS),
	}
	if wall > 0 {
		u.CPUShare = round3(u.CPUSeconds / wall)
	}
	return u
}

func mib(b int64) float64 { return round2(float64(b) / (1 << 20)) }

// window is the calls made in one poll-interval window of the drain phase.
type window struct {
	Start       float64 `json:"startSeconds"` // since the scale-in
	ECS         int     `json:"ecs"`
	AutoScaling int     `json:"autoscaling"`
	Completed   int     `json:"completed"` // lifecycle actions completed in the window
}

// statSample is an awssim snapshot with its time.
type statSample struct {
	at    time.Time
	stats simStats
}

// windows cuts samples (in time order, the first taken at start) into windows of width and
// counts each window's calls between the samples nearest its edges. Calls the benchmark made are
// not in these samples' range: it makes none while drains run.
func windows(samples []statSample, start time.Time, width time.Duration) []window {
	if len(samples) < 2 || width <= 0 {
		return nil
	}
	var out []window
	prev := samples[0]
	edge := start.Add(width)
	for i := 1; i < len(samples); i++ {
		s := samples[i]
		last := i == len(samples)-1
		if s.at.Before(edge) && !last {
			continue
		}
		c := callsBetween(prev.stats, s.stats)
		out = append(out, window{
			Start:       round2(prev.at.Sub(start).Seconds()),
			ECS:         c.Service("ecs"),
			AutoScaling: c.Service("autoscaling"),
			Completed:   completions(s.stats) - completions(prev.stats),
		})
		prev = s
		for !s.at.Before(edge) {
			edge = edge.Add(width)
		}
	}
	return out
}

// completions is every successful CompleteLifecycleAction so far.
func completions(s simStats) int {
	n := 0
	for _, v := range s.LifecycleActionsCompleted {
		n += v
	}
	return n
}
