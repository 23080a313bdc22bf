package awssim

import (
	"maps"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Task stop reasons, the label values of awssim_tasks_stopped_total.
const (
	StopReasonUser             = "user"              // StopTask
	StopReasonServiceScheduler = "service_scheduler" // scale-in, service deleted or updated
	StopReasonDraining         = "draining"          // moved off a DRAINING container instance
	StopReasonHostTerminated   = "host_terminated"   // killed because its EC2 instance terminated
)

type simMetrics struct {
	requests          *prometheus.CounterVec
	tasksStopped      *prometheus.CounterVec
	actionsCompleted  *prometheus.CounterVec
	actionsTimedOut   prometheus.Counter
	instances         *prometheus.GaugeVec
	containerInstance *prometheus.GaugeVec
	tasks             *prometheus.GaugeVec
}

func newSimMetrics(reg prometheus.Registerer) *simMetrics {
	m := &simMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "awssim_requests_total", Help: "API requests served, by service, operation and result code (OK or the error code).",
		}, []string{"service", "operation", "code"}),
		tasksStopped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "awssim_tasks_stopped_total", Help: "Tasks that reached STOPPED, by why they stopped; host_terminated means killed by instance termination.",
		}, []string{"reason"}),
		actionsCompleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "awssim_lifecycle_actions_completed_total", Help: "Lifecycle actions completed through CompleteLifecycleAction, by result.",
		}, []string{"result"}),
		actionsTimedOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "awssim_lifecycle_actions_timed_out_total", Help: "Lifecycle actions that reached their heartbeat or global timeout.",
		}),
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "awssim_instances", Help: "Auto Scaling instances by lifecycle state.",
		}, []string{"lifecycle_state"}),
		containerInstance: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "awssim_container_instances", Help: "ECS container instances by status.",
		}, []string{"status"}),
		tasks: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "awssim_tasks", Help: "ECS tasks by last status.",
		}, []string{"last_status"}),
	}
	reg.MustRegister(m.requests, m.tasksStopped, m.actionsCompleted, m.actionsTimedOut, m.instances, m.containerInstance, m.tasks)
	for _, r := range []string{StopReasonUser, StopReasonServiceScheduler, StopReasonDraining, StopReasonHostTerminated} {
		m.tasksStopped.WithLabelValues(r)
	}
	for _, r := range []string{"CONTINUE", "ABANDON"} {
		m.actionsCompleted.WithLabelValues(r)
	}
	return m
}

func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// Stats is a snapshot of the counters tests and benchmarks assert on.
type Stats struct {
	// Requests counts requests by "service/operation/code" (code is OK or the error code).
	Requests map[string]int
	// WriteCalls counts admitted requests to operations that are not Describe* or List*.
	WriteCalls int
	// TasksStoppedByReason counts tasks that reached STOPPED, by StopReason*.
	TasksStoppedByReason map[string]int
	// LifecycleActionsCompleted counts successful CompleteLifecycleAction calls by result.
	LifecycleActionsCompleted map[string]int
	// LifecycleActionsTimedOut counts actions ended by a heartbeat or global timeout.
	LifecycleActionsTimedOut int
	// CompletionsByInstance counts successful CompleteLifecycleAction calls per EC2 instance ID.
	CompletionsByInstance map[string]int
	// TerminatedWithTasks counts instances that terminated while a task on them was not STOPPED.
	TerminatedWithTasks int
	// Terminated counts instances that reached Terminated.
	Terminated int
}

func newStats() Stats {
	return Stats{
		Requests:                  map[string]int{},
		TasksStoppedByReason:      map[string]int{},
		LifecycleActionsCompleted: map[string]int{},
		CompletionsByInstance:     map[string]int{},
	}
}

// Stats returns a copy of the simulator's counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.stats
	c.Requests = maps.Clone(s.stats.Requests)
	c.TasksStoppedByReason = maps.Clone(s.stats.TasksStoppedByReason)
	c.LifecycleActionsCompleted = maps.Clone(s.stats.LifecycleActionsCompleted)
	c.CompletionsByInstance = maps.Clone(s.stats.CompletionsByInstance)
	return c
}

// record counts one request. Called with s.mu held.
func (s *Sim) record(service, op string, err *apiError) {
	code := "OK"
	if err != nil {
		code = err.Code
	}
	s.metrics.requests.WithLabelValues(service, op, code).Inc()
	s.stats.Requests[service+"/"+op+"/"+code]++
	if !isReadOp(op) && err == nil {
		s.stats.WriteCalls++
	}
}

// taskStopped counts one task reaching STOPPED. Called with s.mu held by the ECS model.
func (s *Sim) taskStopped(reason string) {
	s.metrics.tasksStopped.WithLabelValues(reason).Inc()
	s.stats.TasksStoppedByReason[reason]++
}

// updateGauges refreshes the state gauges from the model. Called with s.mu held.
func (s *Sim) updateGauges() {
	s.metrics.instances.Reset()
	for state, n := range s.asg.countByLifecycleState() {
		s.metrics.instances.WithLabelValues(state).Set(float64(n))
	}
	s.metrics.containerInstance.Reset()
	for status, n := range s.ecs.countContainerInstancesByStatus() {
		s.metrics.containerInstance.WithLabelValues(status).Set(float64(n))
	}
	s.metrics.tasks.Reset()
	for status, n := range s.ecs.countTasksByLastStatus() {
		s.metrics.tasks.WithLabelValues(status).Set(float64(n))
	}
}
