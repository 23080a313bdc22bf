// Package awssim is a stateful simulator of the slice of Amazon ECS and EC2 Auto Scaling that
// ecs-drainer uses. It speaks the real wire protocols (Auto Scaling: AWS Query with XML responses;
// ECS: JSON 1.1) on one HTTP endpoint, so the real aws-sdk-go-v2 clients, the AWS CLI and boto3 can
// drive it, and it behaves over time as AWS documents: instances launch and register, services place
// tasks, DRAINING moves tasks away, lifecycle hooks time out.
//
// The whole model sits behind one mutex. Every request and every Step takes it, so the model code in
// autoscaling.go and ecs.go never locks on its own and may call across services freely.
package awssim

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"
)

// Bucket is a token bucket: Burst tokens at most, refilled at Rate tokens per second.
type Bucket struct {
	Rate  float64
	Burst float64
}

// Options configure a Sim. The zero value is usable: every field has a default.
type Options struct {
	Region    string // default "us-east-1"
	AccountID string // default "123456789012"
	// Clock drives every timer. Simulated work and hook timeouts both run on it; tests inject a fake.
	Clock clock.WithTicker
	// Seed seeds every random choice (faults, IDs), so a run can be repeated.
	Seed int64

	// Simulated work. Fast by default; hook timers always use real seconds of Clock.
	LaunchDelay          time.Duration // Pending -> InService (default 200ms)
	RegisterDelay        time.Duration // InService -> container instance ACTIVE (default 300ms)
	TaskStartDelay       time.Duration // PENDING -> RUNNING (default 200ms)
	StopTimeoutScale     float64       // multiplies a container's stopTimeout (default 1.0; ECS's default stopTimeout is 30s)
	TerminateDelay       time.Duration // Terminating:Proceed -> Terminated (default 200ms)
	StoppedTaskRetention time.Duration // stopped tasks stay describable this long (default 1h)
	DefaultTaskSlots     int           // tasks per instance when an ASG has no awssim:task-slots tag (default 4)
	TickInterval         time.Duration // how often Start advances the model (default 50ms)

	// PageSizeOverride, when > 0, caps every paged List/Describe at this many items, to flush out
	// pagination bugs in clients.
	PageSizeOverride int
	// Throttle enables per-operation token buckets, AWS-like by default (see defaultBuckets).
	Throttle bool
	// ThrottleRates overrides the bucket of an operation, keyed by operation name.
	ThrottleRates map[string]Bucket
	// ErrorRate is the share (0..1) of requests answered with an injected 5xx.
	ErrorRate float64
	// Latency is added to every request.
	Latency time.Duration
	// Hostile is the share (0..1) of responses made malformed: truncated bodies, bad XML/JSON,
	// unknown error codes. The request is still applied or not applied consistently (see hostile.go).
	Hostile float64
}

func (o *Options) setDefaults() {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.AccountID == "" {
		o.AccountID = "123456789012"
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.LaunchDelay, 200*time.Millisecond)
	def(&o.RegisterDelay, 300*time.Millisecond)
	def(&o.TaskStartDelay, 200*time.Millisecond)
	def(&o.TerminateDelay, 200*time.Millisecond)
	def(&o.StoppedTaskRetention, time.Hour)
	def(&o.TickInterval, 50*time.Millisecond)
	if o.StopTimeoutScale == 0 {
		o.StopTimeoutScale = 1
	}
	if o.DefaultTaskSlots == 0 {
		o.DefaultTaskSlots = 4
	}
}

// Sim is one simulated AWS account and region holding both services.
type Sim struct {
	opts Options

	mu      sync.Mutex // guards everything below
	rng     *rand.Rand
	asg     *asgModel
	ecs     *ecsModel
	buckets map[string]*tokenBucket
	stats   Stats

	timelines map[string]*Timeline // by EC2 instance ID; see debug.go

	metrics *simMetrics
	reg     *prometheus.Registry
}

// New returns a simulator with an empty account.
func New(opts Options) *Sim {
	opts.setDefaults()
	s := &Sim{
		opts:    opts,
		rng:     rand.New(rand.NewPCG(uint64(opts.Seed), uint64(opts.Seed)^0x5eed)),
		buckets: map[string]*tokenBucket{},
		reg:     prometheus.NewRegistry(),
	}
	s.stats = newStats()
	s.metrics = newSimMetrics(s.reg)
	s.asg = newASGModel(s)
	s.ecs = newECSModel(s)
	return s
}

// Registry is the Prometheus registry behind /metrics.
func (s *Sim) Registry() *prometheus.Registry { return s.reg }

// Now is the simulator's current time.
func (s *Sim) now() time.Time { return s.opts.Clock.Now() }

// Step advances the model to the clock's current time once. Tests with a fake clock call it after
// stepping the clock; Start calls it on a ticker.
func (s *Sim) Step() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stepLocked()
}

func (s *Sim) stepLocked() {
	now := s.now()
	// Auto Scaling first: it may terminate hosts, which the ECS step then sees.
	s.asg.step(now)
	s.ecs.step(now)
	s.updateGauges()
}

// Start advances the model every TickInterval until ctx is done.
func (s *Sim) Start(ctx context.Context) {
	t := s.opts.Clock.NewTicker(s.opts.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			s.Step()
		}
	}
}

// Handler serves both AWS protocols on "/", plus "/metrics" and "/healthz".
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/metrics", metricsHandler(s.reg))
	mux.Handle("/debug/", s.debugHandler())
	mux.HandleFunc("/", s.serveAPI)
	return mux
}

// apiError is an AWS error as the wire carries it. Status is the HTTP status code.
type apiError struct {
	Code    string
	Message string
	Status  int
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// Auto Scaling (Query protocol) errors.
func validationError(msg string) *apiError {
	return &apiError{Code: "ValidationError", Message: msg, Status: http.StatusBadRequest}
}

// ECS (JSON protocol) errors.
func invalidParameter(msg string) *apiError {
	return &apiError{Code: "InvalidParameterException", Message: msg, Status: http.StatusBadRequest}
}

func clientException(msg string) *apiError {
	return &apiError{Code: "ClientException", Message: msg, Status: http.StatusBadRequest}
}

func clusterNotFound() *apiError {
	return &apiError{Code: "ClusterNotFoundException", Message: "Cluster not found.", Status: http.StatusBadRequest}
}
