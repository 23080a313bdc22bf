package awssim

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Timeline is what happened to one EC2 instance on its way out, as the simulator saw it. The
// benchmark reads it to measure latencies; tests read it to prove each instance was completed once
// and died with no task running. Zero times mean "not yet".
type Timeline struct {
	InstanceID        string    `json:"instanceId"`
	Group             string    `json:"group"`
	TerminatingWaitAt time.Time `json:"terminatingWaitAt,omitzero"`
	DrainingAt        time.Time `json:"drainingAt,omitzero"`        // container instance first set DRAINING
	LastTaskStoppedAt time.Time `json:"lastTaskStoppedAt,omitzero"` // latest task on it reaching STOPPED
	CompletedAt       time.Time `json:"completedAt,omitzero"`       // first successful CompleteLifecycleAction
	TerminatedAt      time.Time `json:"terminatedAt,omitzero"`
	Completions       int       `json:"completions"`
	Heartbeats        int       `json:"heartbeats"`
	TimedOut          int       `json:"timedOut"`    // lifecycle actions of this instance that expired
	TasksKilled       int       `json:"tasksKilled"` // tasks not STOPPED when it terminated
}

// maxTimelines bounds the timeline map of a long-running simulator. The oldest timeline goes
// first whatever its state (an instance drained and then reactivated never terminates), and the
// instance's CompletionsByInstance count goes with it, so neither grows without bound.
const maxTimelines = 200_000

// note records an event on an instance's timeline. Called with s.mu held.
func (s *Sim) note(instanceID string, f func(*Timeline)) {
	if s.timelines == nil {
		s.timelines = map[string]*Timeline{}
	}
	t, ok := s.timelines[instanceID]
	if !ok {
		for len(s.timelines) >= maxTimelines {
			s.dropOldestTimeline()
		}
		t = &Timeline{InstanceID: instanceID}
		s.timelines[instanceID] = t
		s.timelineOrder = append(s.timelineOrder, instanceID)
	}
	f(t)
}

// dropOldestTimeline forgets the timeline created first, in O(1) amortised: timelineOrder is a
// queue of instance IDs in creation order, compacted once half of it is spent.
func (s *Sim) dropOldestTimeline() {
	id := s.timelineOrder[s.timelineHead]
	s.timelineOrder[s.timelineHead] = ""
	s.timelineHead++
	if s.timelineHead > len(s.timelineOrder)/2 {
		s.timelineOrder = append(s.timelineOrder[:0], s.timelineOrder[s.timelineHead:]...)
		s.timelineHead = 0
	}
	delete(s.timelines, id)
	delete(s.stats.CompletionsByInstance, id)
}

// Timelines returns a copy of every instance's timeline, sorted by instance ID.
func (s *Sim) Timelines() []Timeline {
	s.mu.Lock()
	out := make([]Timeline, 0, len(s.timelines))
	for _, t := range s.timelines {
		out = append(out, *t)
	}
	s.mu.Unlock()
	// Sorted outside the lock: up to maxTimelines entries, and the model need not wait.
	slices.SortFunc(out, func(a, b Timeline) int { return strings.Compare(a.InstanceID, b.InstanceID) })
	return out
}

// Faults are the fault knobs that may be changed while the simulator runs.
type Faults struct {
	Throttle  bool    `json:"throttle"`
	ErrorRate float64 `json:"errorRate"`
	Hostile   float64 `json:"hostile"`
	LatencyMS int     `json:"latencyMs"`
	// FailNext fails the next N admitted requests of each named operation with that service's
	// injected 5xx, whatever ErrorRate draws: a fault a test can count on. Reading Faults gives
	// the failures still to come; setting it replaces them all (null clears them).
	FailNext map[string]int `json:"failNext"`
	// SpoilNext replaces the next N successful answers of each named operation with garbage, after
	// the request was applied, whatever Hostile draws: a malformed response a test can count on.
	// A client that does not read the body of an empty result (aws-sdk-go-v2 for
	// CompleteLifecycleAction or SetDesiredCapacity) cannot tell; pick an operation with a result.
	SpoilNext map[string]int `json:"spoilNext"`
	// Event delivery knobs (Options.EventDelay, EventDuplicate, EventLoss, EventReorder);
	// eventDelayMs 0 means the default.
	EventDelayMS   int     `json:"eventDelayMs"`
	EventDuplicate float64 `json:"eventDuplicate"`
	EventLoss      float64 `json:"eventLoss"`
	EventReorderMS int     `json:"eventReorderMs"`
}

// Faults returns the current fault settings.
func (s *Sim) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faultsLocked()
}

func (s *Sim) faultsLocked() Faults {
	f := Faults{Throttle: s.opts.Throttle, ErrorRate: s.opts.ErrorRate, Hostile: s.opts.Hostile, LatencyMS: int(s.opts.Latency / time.Millisecond),
		EventDelayMS: int(s.opts.EventDelay / time.Millisecond), EventDuplicate: s.opts.EventDuplicate, EventLoss: s.opts.EventLoss,
		EventReorderMS: int(s.opts.EventReorder / time.Millisecond)}
	if len(s.failNext) > 0 {
		f.FailNext = maps.Clone(s.failNext)
	}
	if len(s.spoilNext) > 0 {
		f.SpoilNext = maps.Clone(s.spoilNext)
	}
	return f
}

// SetFaults changes the fault settings, for a test that needs a faulty phase then a clean one.
func (s *Sim) SetFaults(f Faults) error {
	if err := validateFaults(f); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setFaultsLocked(f)
	return nil
}

func validateFaults(f Faults) error {
	if !(f.ErrorRate >= 0 && f.ErrorRate <= 1) || !(f.Hostile >= 0 && f.Hostile <= 1) || f.LatencyMS < 0 || f.LatencyMS > int(MaxLatency/time.Millisecond) {
		return fmt.Errorf("faults out of range: errorRate and hostile must be within 0..1 and latencyMs within 0..%d, got %+v", MaxLatency/time.Millisecond, f)
	}
	if !(f.EventDuplicate >= 0 && f.EventDuplicate <= 1) || !(f.EventLoss >= 0 && f.EventLoss <= 1) || f.EventDelayMS < 0 || f.EventReorderMS < 0 {
		return fmt.Errorf("event faults out of range: eventDuplicate and eventLoss must be within 0..1, eventDelayMs (0: the default) and eventReorderMs 0 or more, got %+v", f)
	}
	known := knownOperations()
	for _, c := range []struct {
		name   string
		counts map[string]int
	}{{"failNext", f.FailNext}, {"spoilNext", f.SpoilNext}} {
		for _, op := range slices.Sorted(maps.Keys(c.counts)) {
			if !known[op] {
				return fmt.Errorf("%s names %q: no such operation; name an Auto Scaling, ECS, SQS or EventBridge operation such as CompleteLifecycleAction, ListTasks or ReceiveMessage", c.name, op)
			}
			if c.counts[op] < 0 {
				return fmt.Errorf("%s[%q] is %d: must be a count of requests, 0 or more", c.name, op, c.counts[op])
			}
		}
	}
	return nil
}

func (s *Sim) setFaultsLocked(f Faults) {
	s.opts.Throttle, s.opts.ErrorRate, s.opts.Hostile = f.Throttle, f.ErrorRate, f.Hostile
	s.opts.Latency = time.Duration(f.LatencyMS) * time.Millisecond
	s.opts.EventDelay = time.Duration(f.EventDelayMS) * time.Millisecond
	if s.opts.EventDelay == 0 {
		s.opts.EventDelay = defaultEventDelay
	}
	s.opts.EventDuplicate, s.opts.EventLoss = f.EventDuplicate, f.EventLoss
	s.opts.EventReorder = time.Duration(f.EventReorderMS) * time.Millisecond
	zero := func(_ string, n int) bool { return n == 0 }
	s.failNext, s.spoilNext = maps.Clone(f.FailNext), maps.Clone(f.SpoilNext)
	maps.DeleteFunc(s.failNext, zero)
	maps.DeleteFunc(s.spoilNext, zero)
}

// faultsPatch is a PUT to /debug/faults: a field left out keeps its value. failNext and spoilNext,
// when given, replace every pending fault of their kind; null clears them.
type faultsPatch struct {
	Throttle  *bool           `json:"throttle"`
	ErrorRate *float64        `json:"errorRate"`
	Hostile   *float64        `json:"hostile"`
	LatencyMS *int            `json:"latencyMs"`
	FailNext  json.RawMessage `json:"failNext"`
	SpoilNext json.RawMessage `json:"spoilNext"`

	EventDelayMS   *int     `json:"eventDelayMs"`
	EventDuplicate *float64 `json:"eventDuplicate"`
	EventLoss      *float64 `json:"eventLoss"`
	EventReorderMS *int     `json:"eventReorderMs"`
}

// apply sets the scalar fields p gives on f.
func (p faultsPatch) apply(f *Faults) {
	set := func(dst *int, src *int) {
		if src != nil {
			*dst = *src
		}
	}
	setF := func(dst *float64, src *float64) {
		if src != nil {
			*dst = *src
		}
	}
	if p.Throttle != nil {
		f.Throttle = *p.Throttle
	}
	setF(&f.ErrorRate, p.ErrorRate)
	setF(&f.Hostile, p.Hostile)
	set(&f.LatencyMS, p.LatencyMS)
	set(&f.EventDelayMS, p.EventDelayMS)
	setF(&f.EventDuplicate, p.EventDuplicate)
	setF(&f.EventLoss, p.EventLoss)
	set(&f.EventReorderMS, p.EventReorderMS)
}

// patchFaults applies p to the current faults in one step, so failures counted down meanwhile are
// never put back.
func (s *Sim) patchFaults(p faultsPatch) (Faults, error) {
	var failNext, spoilNext map[string]int
	for _, c := range []struct {
		name string
		raw  json.RawMessage
		into *map[string]int
	}{{"failNext", p.FailNext, &failNext}, {"spoilNext", p.SpoilNext, &spoilNext}} {
		if c.raw != nil {
			if err := json.Unmarshal(c.raw, c.into); err != nil {
				return Faults{}, fmt.Errorf("%s: %w; send an object of operation names and counts, or null", c.name, err)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faultsLocked()
	p.apply(&f)
	if p.FailNext != nil {
		f.FailNext = failNext
	}
	if p.SpoilNext != nil {
		f.SpoilNext = spoilNext
	}
	if err := validateFaults(f); err != nil {
		return Faults{}, err
	}
	s.setFaultsLocked(f)
	return s.faultsLocked(), nil
}

// debugHandler serves /debug/stats, /debug/timeline and /debug/faults (GET to read, PUT/POST a JSON
// Faults to change). These are the simulator's own ground truth for tests, benchmarks and people;
// AWS has no such endpoints, and no AWS client ever calls them.
func (s *Sim) debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/stats", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.Stats()) })
	mux.HandleFunc("GET /debug/timeline", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.Timelines()) })
	mux.HandleFunc("GET /debug/faults", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.Faults()) })
	set := func(w http.ResponseWriter, r *http.Request) {
		const example = `send JSON like {"errorRate":0.05,"hostile":0,"throttle":true,"latencyMs":0,"failNext":{"CompleteLifecycleAction":2},"spoilNext":{"ListTasks":1},"eventDelayMs":100,"eventDuplicate":0.1,"eventLoss":0,"eventReorderMs":500}`
		var p faultsPatch
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			http.Error(w, "decoding faults: "+err.Error()+"; "+example, http.StatusBadRequest)
			return
		}
		f, err := s.patchFaults(p)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, f)
	}
	mux.HandleFunc("PUT /debug/faults", set)
	mux.HandleFunc("POST /debug/faults", set)
	mux.HandleFunc("GET /debug/sqs", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.SQSQueues()) })
	mux.HandleFunc("POST /debug/spot/interrupt", s.serveSpot(false))
	mux.HandleFunc("POST /debug/spot/rebalance", s.serveSpot(true))
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
