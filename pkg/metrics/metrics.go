// Package metrics defines every metric ecs-drainer exports (prefix ecs_drainer_), the client-go
// workqueue metrics provider, and the AWS request observer. Metrics live on a registry the caller
// creates; nothing registers globally. Labels are bounded enumerations: never instance IDs, ARNs or
// task IDs, which belong in logs.
//
// Every label value the controller chooses is declared here, in snake_case, and is never sent to
// AWS: a value that is also an AWS value (CONTINUE, an SQS error code) is mapped to its label here
// (LifecycleResultLabel), so renaming one cannot change the other. The one exception is a label
// that reports AWS's own name for something verbatim, so it can be looked up in AWS's
// documentation and CloudTrail: the API operation (aws_requests_total and
// event_queue_errors_total{operation}) and the code AWS answered (aws_requests_total{code}: OK
// or the error code).
package metrics

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
)

const namespace = "ecs_drainer"

// Label values of the drain metrics.
const (
	// Drain outcomes (drain_duration_seconds{outcome}).
	OutcomeDrained          = "drained"
	OutcomeNotRegistered    = "not_registered"
	OutcomeTimeoutStopTasks = "timeout_stop_tasks"
	OutcomeTimeoutContinue  = "timeout_continue"
	OutcomeTimeoutAbandon   = "timeout_abandon"
	OutcomeExpired          = "expired"
	OutcomeOther            = "other"

	// How a watched instance left Terminating:Wait (drains_ended_total{outcome}).
	EndedCompleted = "completed"
	EndedExpired   = "expired"
	EndedOther     = "other"

	// Lifecycle action results and reasons (lifecycle_actions_completed_total{result,reason}).
	// A result label is derived from the result sent to AWS by LifecycleResultLabel.
	ResultContinue      = "continue"
	ResultAbandon       = "abandon"
	ReasonDrained       = "drained"
	ReasonNotRegistered = "not_registered"
	ReasonDrainTimeout  = "drain_timeout"

	// Drain timeout actions (drain_timeouts_total{action}); the flag's own spelling of stop_tasks
	// is stop-tasks.
	ActionStopTasks = "stop_tasks"
	ActionContinue  = "continue"
	ActionAbandon   = "abandon"

	// Why the controller stopped tasks (tasks_stopped_total{policy}).
	PolicyStandaloneGrace = "standalone_grace"
	PolicyDrainTimeout    = "drain_timeout"
	// PolicySpotInterruption: standalone tasks on a Spot instance EC2 is reclaiming, stopped at once.
	PolicySpotInterruption = "spot_interruption"

	// Reconcile results (reconcile_total{result}).
	ReconcileDone    = "done"
	ReconcileRequeue = "requeue"
	ReconcileError   = "error"
)

// lifecycleResultLabels maps each result a lifecycle action is completed with, as sent to AWS, to
// its label.
var lifecycleResultLabels = map[string]string{
	awsapi.LifecycleActionContinue: ResultContinue,
	awsapi.LifecycleActionAbandon:  ResultAbandon,
}

// LifecycleResultLabel is the lifecycle_actions_completed_total{result} label of result, the
// LifecycleActionResult sent to CompleteLifecycleAction (awsapi.LifecycleActionContinue or
// awsapi.LifecycleActionAbandon); "" for any other value.
func LifecycleResultLabel(result string) string { return lifecycleResultLabels[result] }

// drainBuckets reach from seconds to the 48 hour global cap of a lifecycle hook, so the histogram
// shows where drains sit relative to the hook timeouts (5 min default here, 1 h and 2 h AWS).
var drainBuckets = []float64{10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 172800}

// Metrics holds every controller metric. The fields are exported so the controller updates them
// directly; New registers them all.
type Metrics struct {
	DrainsInProgress          prometheus.Gauge
	OldestDrainAgeSeconds     prometheus.Gauge
	DrainDurationSeconds      *prometheus.HistogramVec
	DrainsEnded               *prometheus.CounterVec
	LifecycleActionsCompleted *prometheus.CounterVec
	DrainTimeouts             *prometheus.CounterVec
	Heartbeats                prometheus.Counter
	TasksStopped              *prometheus.CounterVec
	ReconcileTotal            *prometheus.CounterVec
	ReconcileDurationSeconds  prometheus.Histogram
	AWSRequests               *prometheus.CounterVec
	LastResyncSuccess         prometheus.Gauge
	ManagedASGs               prometheus.Gauge
	InstancesWatched          prometheus.Gauge
	HeartbeatsDuePerSecond    prometheus.Gauge
	HeartbeatsAtRisk          prometheus.Gauge
	HeartbeatsLate            prometheus.Counter
	AWSRequestRateLimit       prometheus.Gauge
	BuildInfo                 *prometheus.GaugeVec

	workqueue *workqueueMetrics
	// drainStats computes the drain and heartbeat gauges at scrape time.
	drainStats atomic.Pointer[DrainStatsFunc]
}

// DrainStats is the state of the drains in progress, now.
type DrainStats struct {
	// InProgress drains, and the age of the oldest.
	InProgress int
	OldestAge  time.Duration
	// HeartbeatsPerSecond is the heartbeat rate that keeps every watched action alive, and
	// HeartbeatsAtRisk how many actions have less than a quarter of their heartbeat timeout left.
	HeartbeatsPerSecond float64
	HeartbeatsAtRisk    int
}

// DrainStatsFunc reports the drains in progress, now.
type DrainStatsFunc func() DrainStats

// SetDrainStatsSource makes the drain and heartbeat gauges computed by f whenever they are
// collected, so they stay true between the controller's own updates (an age keeps growing while
// the Auto Scaling API is down and nothing else runs). nil stops it; the gauges then keep whatever
// was last set.
func (m *Metrics) SetDrainStatsSource(f DrainStatsFunc) {
	if f == nil {
		m.drainStats.Store(nil)
		return
	}
	m.drainStats.Store(&f)
}

// refreshDrainStats sets both drain gauges from the source, if there is one.
func (m *Metrics) refreshDrainStats() {
	f := m.drainStats.Load()
	if f == nil {
		return
	}
	s := (*f)()
	m.DrainsInProgress.Set(float64(s.InProgress))
	m.OldestDrainAgeSeconds.Set(s.OldestAge.Seconds())
	m.HeartbeatsDuePerSecond.Set(s.HeartbeatsPerSecond)
	m.HeartbeatsAtRisk.Set(float64(s.HeartbeatsAtRisk))
}

// scrapeGauge is a gauge that is brought up to date just before it is collected.
type scrapeGauge struct {
	prometheus.Gauge
	refresh func()
}

// Collect refreshes the value, then collects it.
func (g scrapeGauge) Collect(ch chan<- prometheus.Metric) {
	g.refresh()
	g.Gauge.Collect(ch)
}

// New creates the metrics, registers them on reg and sets every known label combination to zero,
// so rates and alerts work from the first scrape.
func New(reg prometheus.Registerer, version, revision string) *Metrics {
	m := newMetrics()
	m.addScrapeGauges()
	reg.MustRegister(
		m.HeartbeatsDuePerSecond, m.HeartbeatsAtRisk, m.HeartbeatsLate, m.AWSRequestRateLimit,
		m.DrainsInProgress, m.OldestDrainAgeSeconds, m.DrainDurationSeconds, m.DrainsEnded,
		m.LifecycleActionsCompleted, m.DrainTimeouts, m.Heartbeats, m.TasksStopped, m.ReconcileTotal,
		m.ReconcileDurationSeconds, m.AWSRequests, m.LastResyncSuccess, m.ManagedASGs,
		m.InstancesWatched, m.BuildInfo,
	)
	m.workqueue.register(reg)
	m.BuildInfo.WithLabelValues(version, revision, runtime.Version()).Set(1)
	m.initLabels()
	return m
}

// newMetrics creates the metrics that are set as things happen.
func newMetrics() *Metrics {
	return &Metrics{
		DrainDurationSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "drain_duration_seconds",
			Help:    "Time from drain start (or first sight) to the end of the lifecycle action, by outcome.",
			Buckets: drainBuckets,
		}, []string{"outcome"}),
		DrainsEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "drains_ended_total",
			Help: "Watched instances that left Terminating:Wait, by how: completed by this controller, expired (hook timeout), or other.",
		}, []string{"outcome"}),
		LifecycleActionsCompleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "lifecycle_actions_completed_total",
			Help: "CompleteLifecycleAction calls that succeeded, by result and reason.",
		}, []string{"result", "reason"}),
		DrainTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "drain_timeouts_total",
			Help: "Drains that outlived the drain timeout, by the action taken.",
		}, []string{"action"}),
		Heartbeats: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "heartbeats_total",
			Help: "Lifecycle action heartbeats recorded.",
		}),
		TasksStopped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "tasks_stopped_total",
			Help: "Tasks the controller stopped with StopTask, by policy.",
		}, []string{"policy"}),
		ReconcileTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "reconcile_total",
			Help: "Reconciles of queue items, by result.",
		}, []string{"result"}),
		ReconcileDurationSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "reconcile_duration_seconds",
			Help:    "Time one reconcile took, AWS calls included.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}),
		AWSRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "aws_requests_total",
			Help: "AWS API attempts (retries counted separately), by service, operation and code (OK or the error code).",
		}, []string{"service", "operation", "code"}),
		LastResyncSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "last_resync_success_timestamp_seconds",
			Help: "Unix time of the last successful listing of the managed Auto Scaling groups.",
		}),
		ManagedASGs: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "managed_asgs",
			Help: "Auto Scaling groups selected by tag or name at the last resync.",
		}),
		InstancesWatched: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "instances_watched",
			Help: "Instances of managed groups in Terminating:Wait that the controller acts for.",
		}),
		HeartbeatsLate: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "heartbeats_late_total",
			Help: "Lifecycle heartbeats sent with less than a quarter of the heartbeat timeout left: the request budget or the API is not keeping up.",
		}),
		AWSRequestRateLimit: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "aws_request_rate_limit",
			Help: "The client-side request rate limit per AWS service (--aws-qps), requests per second; 0 when unlimited.",
		}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "build_info",
			Help: "Always 1; the labels say which build is running.",
		}, []string{"version", "revision", "goversion"}),
		workqueue: newWorkqueueMetrics(),
	}
}

// addScrapeGauges creates the gauges computed at scrape time once a source is set
// (SetDrainStatsSource).
func (m *Metrics) addScrapeGauges() {
	m.DrainsInProgress = scrapeGauge{refresh: m.refreshDrainStats, Gauge: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "drains_in_progress",
		Help: "Instances held in Terminating:Wait that the controller acts for and whose lifecycle action is not yet completed, whether or not DRAINING could be set yet.",
	})}
	m.OldestDrainAgeSeconds = scrapeGauge{refresh: m.refreshDrainStats, Gauge: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "oldest_drain_age_seconds",
		Help: "Age of the oldest drain in progress (from its start, or from when the instance was first seen waiting if earlier), 0 when none.",
	})}
	m.HeartbeatsDuePerSecond = scrapeGauge{refresh: m.refreshDrainStats, Gauge: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "heartbeats_due_per_second",
		Help: "Lifecycle heartbeats per second that keep every lifecycle action in hand alive (one per half heartbeat timeout each); compare with aws_request_rate_limit.",
	})}
	m.HeartbeatsAtRisk = scrapeGauge{refresh: m.refreshDrainStats, Gauge: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "heartbeats_at_risk",
		Help: "Lifecycle actions in hand with less than a quarter of their heartbeat timeout left before they would expire.",
	})}
}

// initLabels sets every known label combination to zero, so rates and alerts work from the first
// scrape.
func (m *Metrics) initLabels() {
	for _, o := range []string{OutcomeDrained, OutcomeNotRegistered, OutcomeTimeoutStopTasks, OutcomeTimeoutContinue, OutcomeTimeoutAbandon, OutcomeExpired, OutcomeOther} {
		m.DrainDurationSeconds.WithLabelValues(o)
	}
	for _, o := range []string{EndedCompleted, EndedExpired, EndedOther} {
		m.DrainsEnded.WithLabelValues(o)
	}
	m.LifecycleActionsCompleted.WithLabelValues(ResultContinue, ReasonDrained)
	m.LifecycleActionsCompleted.WithLabelValues(ResultContinue, ReasonNotRegistered)
	m.LifecycleActionsCompleted.WithLabelValues(ResultContinue, ReasonDrainTimeout)
	m.LifecycleActionsCompleted.WithLabelValues(ResultAbandon, ReasonDrainTimeout)
	for _, a := range []string{ActionStopTasks, ActionContinue, ActionAbandon} {
		m.DrainTimeouts.WithLabelValues(a)
	}
	for _, p := range []string{PolicyStandaloneGrace, PolicyDrainTimeout, PolicySpotInterruption} {
		m.TasksStopped.WithLabelValues(p)
	}
	for _, r := range []string{ReconcileDone, ReconcileRequeue, ReconcileError} {
		m.ReconcileTotal.WithLabelValues(r)
	}
}

// ObserveAWSRequest counts one AWS API attempt. It implements awsapi.RequestObserver.
func (m *Metrics) ObserveAWSRequest(service, operation, code string) {
	m.AWSRequests.WithLabelValues(service, operation, code).Inc()
}

// WorkqueueProvider returns the provider to put in the queue config's MetricsProvider field.
// (workqueue.SetProvider is global and once-only, so it is not used.)
func (m *Metrics) WorkqueueProvider() workqueue.MetricsProvider { return m.workqueue }
