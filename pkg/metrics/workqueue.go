package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
)

// workqueueMetrics are client-go's standard workqueue metrics (the names controller-runtime and
// kube-controller-manager export), under the ecs_drainer_workqueue_ prefix and labelled by queue
// name. The queue names are fixed in code, so the label stays bounded.
type workqueueMetrics struct {
	depth                   *prometheus.GaugeVec
	adds                    *prometheus.CounterVec
	latency                 *prometheus.HistogramVec
	workDuration            *prometheus.HistogramVec
	unfinishedWork          *prometheus.GaugeVec
	longestRunningProcessor *prometheus.GaugeVec
	retries                 *prometheus.CounterVec
}

var _ workqueue.MetricsProvider = (*workqueueMetrics)(nil)

const workqueueSubsystem = "workqueue"

func newWorkqueueMetrics() *workqueueMetrics {
	// Queue latency spans from a microsecond to the longest RequeueAfter (a poll or resync period).
	buckets := prometheus.ExponentialBuckets(10e-6, 10, 8)
	return &workqueueMetrics{
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: workqueueSubsystem, Name: "depth",
			Help: "Current depth of the workqueue.",
		}, []string{"name"}),
		adds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: workqueueSubsystem, Name: "adds_total",
			Help: "Adds handled by the workqueue.",
		}, []string{"name"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: workqueueSubsystem, Name: "queue_duration_seconds",
			Help: "How long an item stays in the workqueue before being processed.", Buckets: buckets,
		}, []string{"name"}),
		workDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: workqueueSubsystem, Name: "work_duration_seconds",
			Help: "How long processing an item from the workqueue takes.", Buckets: buckets,
		}, []string{"name"}),
		unfinishedWork: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: workqueueSubsystem, Name: "unfinished_work_seconds",
			Help: "Seconds of work in progress not yet observed by work_duration; large values mean stuck workers.",
		}, []string{"name"}),
		longestRunningProcessor: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: workqueueSubsystem, Name: "longest_running_processor_seconds",
			Help: "Seconds the longest running worker has been processing its item.",
		}, []string{"name"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: workqueueSubsystem, Name: "retries_total",
			Help: "Retries (rate-limited re-adds) handled by the workqueue.",
		}, []string{"name"}),
	}
}

func (w *workqueueMetrics) register(reg prometheus.Registerer) {
	reg.MustRegister(w.depth, w.adds, w.latency, w.workDuration, w.unfinishedWork, w.longestRunningProcessor, w.retries)
}

// NewDepthMetric implements workqueue.MetricsProvider.
func (w *workqueueMetrics) NewDepthMetric(name string) workqueue.GaugeMetric {
	return w.depth.WithLabelValues(name)
}

// NewAddsMetric implements workqueue.MetricsProvider.
func (w *workqueueMetrics) NewAddsMetric(name string) workqueue.CounterMetric {
	return w.adds.WithLabelValues(name)
}

// NewLatencyMetric implements workqueue.MetricsProvider.
func (w *workqueueMetrics) NewLatencyMetric(name string) workqueue.HistogramMetric {
	return w.latency.WithLabelValues(name)
}

// NewWorkDurationMetric implements workqueue.MetricsProvider.
func (w *workqueueMetrics) NewWorkDurationMetric(name string) workqueue.HistogramMetric {
	return w.workDuration.WithLabelValues(name)
}

// NewUnfinishedWorkSecondsMetric implements workqueue.MetricsProvider.
func (w *workqueueMetrics) NewUnfinishedWorkSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return w.unfinishedWork.WithLabelValues(name)
}

// NewLongestRunningProcessorSecondsMetric implements workqueue.MetricsProvider.
func (w *workqueueMetrics) NewLongestRunningProcessorSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return w.longestRunningProcessor.WithLabelValues(name)
}

// NewRetriesMetric implements workqueue.MetricsProvider.
func (w *workqueueMetrics) NewRetriesMetric(name string) workqueue.CounterMetric {
	return w.retries.WithLabelValues(name)
}
