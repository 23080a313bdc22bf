// Package awssim is a stateful simulator of the slice of Amazon ECS and EC2 Auto Scaling that
// ecs-drainer uses, and of the event plumbing around them: SQS queues and EventBridge rules. It
// speaks the real wire protocols (Auto Scaling: AWS Query with XML responses; ECS and EventBridge:
// JSON 1.1; SQS: JSON 1.0 and its older Query protocol) on one HTTP endpoint, so the real
// aws-sdk-go-v2 clients, the AWS CLI and boto3 can drive it, and it behaves over time as AWS
// documents: instances launch and register, services place tasks, DRAINING moves tasks away,
// lifecycle hooks time out, the services publish their events, and rules deliver them to queues.
//
// The whole model sits behind one mutex. Every request and every Step takes it, so the model code in
// autoscaling.go, ecs.go, sqs.go and events.go never locks on its own and may call across services
// freely. Only an SQS long poll waits, and it waits outside the lock (sqs_msg.go).
package awssim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"
)

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
	// Throttle enables token buckets, AWS-like by default (see defaultBucket): ECS operations share
	// one bucket per group of actions as ECS documents (ecs:ClusterRead, ecs:ClusterModify,
	// ecs:ContainerInstanceRead, ecs:ContainerInstanceModify, ecs:TaskRead, ecs:TaskModify,
	// ecs:ServiceRead, ecs:ServiceModify, ecs:TaskDefinitionRead, ecs:TaskDefinitionModify,
	// ecs:TagRead, ecs:TagModify); every other operation has its own.
	Throttle bool
	// ThrottleRates overrides buckets. A key naming an operation gives that operation a bucket of
	// its own; a key naming an ECS group changes the group's shared bucket. Validate reports
	// unknown keys and buckets that could never admit a request (Rate <= 0 or Burst < 1); New
	// ignores such entries.
	ThrottleRates map[string]Bucket
	// ErrorRate is the share (0..1) of requests answered with an injected 5xx.
	ErrorRate float64
	// Latency is added to every request, at most MaxLatency.
	Latency time.Duration
	// Hostile is the share (0..1) of responses made malformed: truncated bodies, bad XML/JSON,
	// unknown error codes. The request is still applied or not applied consistently (faults.go).
	Hostile float64

	// Event delivery (events.go). EventDelay is how long an event or a lifecycle notification takes
	// to reach its queue (default 100ms). EventBridge deliveries also suffer these faults:
	// EventDuplicate is the share (0..1) delivered twice, EventLoss the share (0..1) never
	// delivered, and EventReorder a random extra delay of up to this long, which reorders events
	// that happen close together.
	EventDelay     time.Duration
	EventDuplicate float64
	EventLoss      float64
	EventReorder   time.Duration
	// SpotNotice is how long after its interruption warning a Spot instance is reclaimed (AWS: two
	// minutes; default 2m).
	SpotNotice time.Duration
	// QueueRecreateDelay is how long after DeleteQueue a queue of the same name cannot be created
	// (QueueDeletedRecently). AWS: 60 s, the default; a test of a queue outage shortens it.
	QueueRecreateDelay time.Duration
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
	def(&o.EventDelay, defaultEventDelay)
	def(&o.SpotNotice, defaultSpotNotice)
	def(&o.QueueRecreateDelay, sqsRecreateDelay)
	if o.StopTimeoutScale == 0 {
		o.StopTimeoutScale = 1
	}
	if o.DefaultTaskSlots == 0 {
		o.DefaultTaskSlots = 4
	}
}

// MaxLatency bounds Options.Latency and Faults.LatencyMS: a request held longer would outlive
// any client's timeout, and an unbounded sleep is a way to pin the server's goroutines.
const MaxLatency = time.Minute

// Validate reports every option New cannot honour, all at once. New itself never fails: it falls
// back to defaults for what Validate would refuse, so call Validate first to tell the user.
func (o Options) Validate() error {
	var p []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"LaunchDelay", o.LaunchDelay}, {"RegisterDelay", o.RegisterDelay}, {"TaskStartDelay", o.TaskStartDelay},
		{"TerminateDelay", o.TerminateDelay}, {"StoppedTaskRetention", o.StoppedTaskRetention},
		{"TickInterval", o.TickInterval}, {"Latency", o.Latency},
		{"EventDelay", o.EventDelay}, {"EventReorder", o.EventReorder}, {"SpotNotice", o.SpotNotice},
		{"QueueRecreateDelay", o.QueueRecreateDelay},
	} {
		if d.v < 0 {
			p = append(p, fmt.Errorf("%s is %s: must not be negative", d.name, d.v))
		}
	}
	if o.Latency > MaxLatency {
		p = append(p, fmt.Errorf("latency is %s: must be at most %s (Options.Latency)", o.Latency, MaxLatency))
	}
	if !(o.StopTimeoutScale >= 0) || math.IsInf(o.StopTimeoutScale, 0) {
		p = append(p, fmt.Errorf("StopTimeoutScale is %v: must be a finite number >= 0 (0 means 1)", o.StopTimeoutScale))
	}
	if o.DefaultTaskSlots < 0 {
		p = append(p, fmt.Errorf("DefaultTaskSlots is %d: must not be negative (0 means 4)", o.DefaultTaskSlots))
	}
	if o.PageSizeOverride < 0 {
		p = append(p, fmt.Errorf("PageSizeOverride is %d: must be 0 (off) or positive", o.PageSizeOverride))
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"ErrorRate", o.ErrorRate}, {"Hostile", o.Hostile}, {"EventDuplicate", o.EventDuplicate}, {"EventLoss", o.EventLoss}} {
		if !(r.v >= 0 && r.v <= 1) {
			p = append(p, fmt.Errorf("%s is %v: must be a share from 0 to 1", r.name, r.v))
		}
	}
	p = append(p, throttleRateProblems("ThrottleRates", o.ThrottleRates)...)
	return errors.Join(p...)
}

// knownOperations is every operation the simulator implements, of all four services.
func knownOperations() map[string]bool {
	out := map[string]bool{}
	for op := range newASGModel(nil).ops {
		out[op] = true
	}
	for op := range newECSModel(nil).handlers {
		out[op] = true
	}
	for op := range newSQSModel(nil).handlers {
		out[op] = true
	}
	for op := range newEventsModel(nil).handlers {
		out[op] = true
	}
	return out
}

// Sim is one simulated AWS account and region holding all four services.
type Sim struct {
	opts Options

	mu     sync.Mutex // guards everything below
	rng    *rand.Rand
	asg    *asgModel
	ecs    *ecsModel
	sqs    *sqsModel
	events *eventsModel
	// evRng draws the IDs of the event plumbing (messages, receipt handles, events) and its
	// delivery faults, apart from rng, so a seed's fleet is the same with or without events.
	evRng   *rand.Rand
	buckets map[string]*tokenBucket
	stats   Stats

	failNext      map[string]int    // operation -> injected 5xx still to answer; see Faults.FailNext
	spoilNext     map[string]int    // operation -> successful answers still to spoil; see Faults.SpoilNext
	deny          map[string]bool   // operations answered access denied; see Faults.Deny
	throttleRates map[string]Bucket // run-time bucket overrides; see Faults.ThrottleRates

	steps StepCost // see StepCosts

	timelines     map[string]*Timeline // by EC2 instance ID; see debug.go
	timelineOrder []string             // instance IDs of timelines, oldest first from timelineHead
	timelineHead  int

	metrics *simMetrics
	reg     *prometheus.Registry
}

// New returns a simulator with an empty account.
func New(opts Options) *Sim {
	opts.setDefaults()
	s := &Sim{
		opts:    opts,
		rng:     rand.New(rand.NewPCG(uint64(opts.Seed), uint64(opts.Seed)^0x5eed)),
		evRng:   rand.New(rand.NewPCG(uint64(opts.Seed)^0xe7e7, uint64(opts.Seed)^0x5e9)),
		buckets: map[string]*tokenBucket{},
		reg:     prometheus.NewRegistry(),
	}
	s.stats = newStats()
	s.metrics = newSimMetrics(s.reg, s)
	s.asg = newASGModel(s)
	s.ecs = newECSModel(s)
	s.sqs = newSQSModel(s)
	s.events = newEventsModel(s)
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
	// Wall time, not the model's clock: this measures the simulator's own cost, which a fake clock
	// does not see.
	start := time.Now()
	s.stepLocked()
	s.steps.add(time.Since(start))
	s.metrics.stepSeconds.Observe(time.Since(start).Seconds())
}

// StepCost is what the model's steps have cost in wall time, all of it under the model's lock.
type StepCost struct {
	Steps int
	Total time.Duration
	Max   time.Duration
}

func (c *StepCost) add(d time.Duration) {
	c.Steps++
	c.Total += d
	c.Max = max(c.Max, d)
}

// Mean is the mean cost of a step.
func (c StepCost) Mean() time.Duration {
	if c.Steps == 0 {
		return 0
	}
	return c.Total / time.Duration(c.Steps)
}

// StepCosts returns what the steps so far have cost.
func (s *Sim) StepCosts() StepCost {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.steps
}

// stepLocked advances the model to now. The timed transitions of Auto Scaling and ECS (instances
// launching, registering, timing out and terminating; tasks starting and finishing their stop)
// happen one at a time in the order they fell due, each at its own due time, so the outcome does
// not depend on how coarsely the clock is stepped: a task whose stop ended before its host
// terminated stopped cleanly, even when both fell due within one step. Then the service scheduler acts once, at now,
// and the event deliveries due by now reach their queues.
func (s *Sim) stepLocked() {
	now := s.now()
	tasks := s.ecs.dueTasks(now)
	s.asg.beginStep(now)
	defer s.asg.endStep()
	for {
		inst, instDue := s.asg.nextDue()
		if len(tasks) > 0 {
			// On a tie the task goes first: containers that exited at the instant their host
			// went were not killed by it.
			if at, _ := tasks[0].dueAt(); !instDue || !inst.at.Before(at) {
				s.ecs.fireTask(tasks[0], at)
				tasks = tasks[1:]
				continue
			}
		}
		if !instDue {
			break
		}
		s.asg.fire(inst)
	}
	s.ecs.schedule(now)
	s.events.deliverDue(now)
	// Visibility timeouts and delays end on the clock: long polls look again.
	s.sqs.notify()
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

// Handler serves every AWS protocol on "/", plus "/metrics", "/healthz" and "/debug/".
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
