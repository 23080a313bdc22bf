package awssim

import (
	"encoding/json"
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

// debugHandler serves /debug/stats, /debug/timeline and /debug/faults (GET to read, PUT/POST a JSON
// Faults to change). These are the simulator's own ground truth for tests, benchmarks and people;
// AWS has no such endpoints, and no AWS client ever calls them.
func (s *Sim) debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/stats", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.Stats()) })
	mux.HandleFunc("GET /debug/timeline", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.Timelines()) })
	mux.HandleFunc("GET /debug/faults", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.Faults()) })
	set := func(w http.ResponseWriter, r *http.Request) {
		const example = `send JSON like {"errorRate":0.05,"hostile":0,"throttle":true,"latencyMs":0,"failNext":{"CompleteLifecycleAction":2},"spoilNext":{"ListTasks":1},"deny":["UpdateContainerInstancesState"],"throttleRates":{"DescribeAutoScalingGroups":{"rate":1,"burst":2}},"eventDelayMs":100,"eventDuplicate":0.1,"eventLoss":0,"eventReorderMs":500}`
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
