package awssim

import (
	"maps"
	"net/http"
	"slices"

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
	requests         *prometheus.CounterVec
	tasksStopped     *prometheus.CounterVec
	actionsCompleted *prometheus.CounterVec
	actionsTimedOut  prometheus.Counter
	eventsEmitted    prometheus.Counter
	deliveries       *prometheus.CounterVec
	stepSeconds      prometheus.Histogram
}

// Outcomes of a message on its way into a queue, the label values of awssim_event_deliveries_total.
const (
	deliveryDelivered     = "delivered"     // put on its queue
	deliveryDuplicated    = "duplicated"    // an extra copy scheduled (EventDuplicate)
	deliveryLost          = "lost"          // dropped on purpose (EventLoss)
	deliveryUndeliverable = "undeliverable" // its queue does not exist
)

func newSimMetrics(reg prometheus.Registerer, s *Sim) *simMetrics {
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
	}
	m.eventsEmitted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "awssim_events_emitted_total", Help: "Events the simulated services (and PutEvents) published to the default event bus.",
	})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "awssim_event_deliveries_total", Help: "Event and lifecycle-notification deliveries into SQS queues, by outcome.",
	}, []string{"result"})
	for _, r := range []string{deliveryDelivered, deliveryDuplicated, deliveryLost, deliveryUndeliverable} {
		m.deliveries.WithLabelValues(r)
	}
	m.stepSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "awssim_step_seconds", Help: "Wall time of one model step (a tick), under the model's lock: what each tick holds every request up for.",
		// From 50 µs (a fleet at rest) to 1.6 s (a stall that loses lifecycle actions).
		Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16),
	})
	reg.MustRegister(m.stepSeconds)
	reg.MustRegister(m.requests, m.tasksStopped, m.actionsCompleted, m.actionsTimedOut, m.eventsEmitted, m.deliveries, newStateCollector(s))
	for _, r := range []string{StopReasonUser, StopReasonServiceScheduler, StopReasonDraining, StopReasonHostTerminated} {
		m.tasksStopped.WithLabelValues(r)
	}
	for _, r := range []string{"CONTINUE", "ABANDON"} {
		m.actionsCompleted.WithLabelValues(r)
	}
	return m
}

// stateCollector emits the state gauges (awssim_instances, awssim_container_instances,
// awssim_tasks, awssim_sqs_messages) when they are collected, counting the model under s.mu: a scrape sees one
// consistent state, never a gauge half rebuilt, and a state that empties reads 0 instead of
// vanishing. Every state the model uses is always present.
type stateCollector struct {
	s                            *Sim
	instances, containers, tasks *prometheus.Desc
	messages                     *prometheus.Desc
	instanceStates, ciStatuses   []string
	taskStatuses, messageStates  []string
}

func newStateCollector(s *Sim) *stateCollector {
	return &stateCollector{
		s:              s,
		instances:      prometheus.NewDesc("awssim_instances", "Auto Scaling instances by lifecycle state.", []string{"lifecycle_state"}, nil),
		containers:     prometheus.NewDesc("awssim_container_instances", "ECS container instances by status.", []string{"status"}, nil),
		tasks:          prometheus.NewDesc("awssim_tasks", "ECS tasks by last status.", []string{"last_status"}, nil),
		instanceStates: []string{statePending, statePendingWait, stateInService, stateTerminatingWait, stateTerminatingProceed},
		ciStatuses:     []string{ciActive, ciDraining, ciInactive},
		taskStatuses:   []string{taskPending, taskRunning, taskStopping, taskStopped},
		// Summed over queues: queue names are client input and must not become labels.
		messages:      prometheus.NewDesc("awssim_sqs_messages", "SQS messages in all queues by state: visible, in flight (received, not yet visible again), delayed.", []string{"state"}, nil),
		messageStates: []string{messageVisible, messageInFlight, messageDelayed},
	}
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.instances
	ch <- c.containers
	ch <- c.tasks
	ch <- c.messages
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.s.mu.Lock()
	instances := c.s.asg.countByLifecycleState()
	containers := c.s.ecs.countContainerInstancesByStatus()
	tasks := c.s.ecs.countTasksByLastStatus()
	messages := c.s.sqs.countMessages()
	c.s.mu.Unlock()
	emit := func(desc *prometheus.Desc, known []string, counts map[string]int) {
		for _, k := range known {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(counts[k]), k)
			delete(counts, k)
		}
		for _, k := range slices.Sorted(maps.Keys(counts)) { // none today; kept so a new state shows up
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(counts[k]), k)
		}
	}
	emit(c.instances, c.instanceStates, instances)
	emit(c.containers, c.ciStatuses, containers)
	emit(c.tasks, c.taskStatuses, tasks)
	emit(c.messages, c.messageStates, messages)
}

func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// Stats is a snapshot of the counters tests and benchmarks assert on.
type Stats struct {
	// Requests counts requests by "service/operation/code": code is OK or the error code the
	// response carried (a response Hostile rewrote into an error counts under that error's code);
	// operation is "unknown" for operations the simulator lacks and requests naming none.
	Requests map[string]int
	// WriteCalls counts admitted requests to operations that are not Describe*, List* or Get*.
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
	// EventsEmitted counts events published to the default event bus, matched by a rule or not.
	EventsEmitted int
	// Deliveries counts messages on their way into SQS queues by outcome: delivered, duplicated,
	// lost, undeliverable (see awssim_event_deliveries_total).
	Deliveries map[string]int
	// LifecycleNotifications counts lifecycle-hook messages Auto Scaling sent to a hook's
	// NotificationTargetARN, test notifications included.
	LifecycleNotifications int
	// SQSMovedToDeadLetterQueue counts messages redriven to a dead-letter queue.
	SQSMovedToDeadLetterQueue int
	// SpotInterruptions counts instances reclaimed after a Spot interruption warning.
	SpotInterruptions int
}

func newStats() Stats {
	return Stats{
		Requests:                  map[string]int{},
		TasksStoppedByReason:      map[string]int{},
		LifecycleActionsCompleted: map[string]int{},
		CompletionsByInstance:     map[string]int{},
		Deliveries:                map[string]int{},
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
	c.Deliveries = maps.Clone(s.stats.Deliveries)
	return c
}

// record counts one request under the code its response carries: OK, the error's code, or, for a
// successful response that hostile spoils into an error, that error's code. Called with s.mu held.
func (s *Sim) record(service, op string, err *apiError, hostile hostileKind) {
	code := "OK"
	switch {
	case err != nil:
		code = err.Code
	case hostile.errorCode() != "":
		code = hostile.errorCode()
	}
	s.metrics.requests.WithLabelValues(service, op, code).Inc()
	s.stats.Requests[service+"/"+op+"/"+code]++
	// A spoiled response still reports a write that was applied.
	if !isReadOp(op) && op != unknownOp && err == nil {
		s.stats.WriteCalls++
	}
}

// taskStopped counts one task reaching STOPPED. Called with s.mu held by the ECS model.
func (s *Sim) taskStopped(reason string) {
	s.metrics.tasksStopped.WithLabelValues(reason).Inc()
	s.stats.TasksStoppedByReason[reason]++
}

// countDelivery counts one delivery outcome. Called with s.mu held.
func (s *Sim) countDelivery(result string) {
	s.metrics.deliveries.WithLabelValues(result).Inc()
	s.stats.Deliveries[result]++
}
