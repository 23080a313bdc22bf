package reconciler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// Standalone task policies and drain timeout actions (Config values).
const (
	StandalonePolicyStop = "stop"
	StandalonePolicyWait = "wait"

	DrainTimeoutStopTasks = metrics.ActionStopTasks
	DrainTimeoutContinue  = metrics.ActionContinue
	DrainTimeoutAbandon   = metrics.ActionAbandon
)

// DrainStartedTagKey is the container instance tag holding the RFC 3339 time the drain started. It
// is the only state the controller keeps, and it keeps it on AWS, so a restarted controller (or a
// second replica) continues a drain's age, heartbeats and timeout correctly.
const DrainStartedTagKey = "ecs-drainer/drain-started-at"

const (
	// queueName labels the workqueue metrics.
	queueName = "reconciler"

	// Error backoff per queue item: 1 s doubling to 5 min. The first retry comes quickly (a
	// throttle that outlived the SDK's own retries usually clears within seconds); the cap keeps a
	// persistently failing item from hammering the API while still retrying well inside a hook's
	// heartbeat timeout.
	errorBackoffBase = time.Second
	errorBackoffMax  = 5 * time.Minute
	// errorBucketQPS and errorBucketBurst bound error retries across all items together (client-go's
	// default bucket), so a systemic failure (credentials, outage) cannot turn into a retry storm.
	errorBucketQPS   = 10
	errorBucketBurst = 100

	// reconcileTimeout bounds one reconcile, AWS calls and their retries included.
	reconcileTimeout = 2 * time.Minute

	// shutdownGrace is how long the reconciles in hand get to finish once shutdown starts; their
	// AWS calls are cancelled after it. With the HTTP server's 5 s it keeps the whole shutdown
	// under ECS's default stopTimeout of 30 s, after which the agent sends SIGKILL. Nothing is lost
	// by cutting a reconcile short: every step is safe to repeat and all state lives on AWS.
	shutdownGrace = 20 * time.Second

	// batchWindow is how long a lookup or DRAINING request waits for others to share its call. A
	// resync enqueues every new instance at once, and workers get through them in milliseconds, so a
	// fraction of a second gathers a whole burst into full batches while adding little latency.
	batchWindow = 200 * time.Millisecond

	// clusterListTTL is how long the ListClusters answer is reused. Clusters are created rarely, and
	// an instance that is not found in any known cluster triggers an early refresh (see resolve.go).
	clusterListTTL = 5 * time.Minute

	// hookCacheTTL is how long a group's lifecycle hooks are reused before being described again.
	hookCacheTTL = 10 * time.Minute

	// timeoutStopAllowance is the time the stop-tasks drain timeout action is given to stop the
	// remaining tasks before it completes CONTINUE whatever is left, well before the hook's global
	// timeout would apply its DefaultResult. Tasks stop within their stopTimeout (30 s by default, at
	// most 120 s) and daemon tasks only after the others: two stop timeouts and a few polls.
	timeoutStopAllowance = 5 * time.Minute

	// daemonCacheTTL is how long a service's scheduling strategy is reused. The strategy of a service
	// cannot change, but a service can be deleted and created again under the same name.
	daemonCacheTTL = 10 * time.Minute
)

// Config is what the controller manages and how. See docs/design.md for the matching flags.
type Config struct {
	// ASGTagKey and ASGTagValue select managed groups by tag; an empty value matches any value, an
	// empty key disables tag selection.
	ASGTagKey, ASGTagValue string
	// ASGNames are managed groups named explicitly, in addition to the tagged ones.
	ASGNames []string
	// HookName is the terminating hook acted for; "" selects the group's single
	// EC2_INSTANCE_TERMINATING hook.
	HookName string
	// ManageHooks makes sure every managed group has the hook, creating it when missing.
	ManageHooks bool
	// HookHeartbeatTimeout is the heartbeat timeout of hooks the controller creates.
	HookHeartbeatTimeout time.Duration
	// Clusters restricts container instance lookups to these clusters; empty means all.
	Clusters []string
	// ResyncPeriod is how often the groups are listed; PollInterval how often a drain is looked at.
	ResyncPeriod, PollInterval time.Duration
	// StandaloneTaskPolicy is StandalonePolicyStop (stop standalone tasks after the grace period)
	// or StandalonePolicyWait.
	StandaloneTaskPolicy string
	// StandaloneTaskGrace is how long after the drain started standalone tasks are left to finish.
	StandaloneTaskGrace time.Duration
	// DrainTimeout bounds a drain; DrainTimeoutAction says how it then ends.
	DrainTimeout       time.Duration
	DrainTimeoutAction string
	// Workers is how many queue items are reconciled at once.
	Workers int
	// AWSQPS is the client-side Auto Scaling request rate (requests per second; 0: unlimited). It
	// sizes the heartbeat workers (HeartbeatWorkersFor) and is what heartbeats due are weighed
	// against before they fall behind.
	AWSQPS float64
	// DryRun logs every write it would make and makes none.
	DryRun bool
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.ASGTagKey == "" && len(c.ASGNames) == 0 {
		errs = append(errs, errors.New("no groups selected: set an ASG tag key or ASG names"))
	}
	if c.ManageHooks {
		lo, hi := awsapi.MinHookHeartbeatTimeoutSeconds*time.Second, awsapi.MaxHookHeartbeatTimeoutSeconds*time.Second
		if c.HookHeartbeatTimeout < lo || c.HookHeartbeatTimeout > hi {
			errs = append(errs, fmt.Errorf("hook heartbeat timeout %s must be between %s and %s", c.HookHeartbeatTimeout, lo, hi))
		}
		if c.ResyncPeriod > c.HookHeartbeatTimeout/2 {
			// An instance is first seen up to a resync after its action started; its first heartbeat
			// must come before the heartbeat timeout.
			errs = append(errs, fmt.Errorf("resync period %s must be at most half the hook heartbeat timeout %s", c.ResyncPeriod, c.HookHeartbeatTimeout))
		}
	}
	if c.ResyncPeriod <= 0 {
		errs = append(errs, fmt.Errorf("resync period %s must be positive", c.ResyncPeriod))
	}
	if c.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("poll interval %s must be positive", c.PollInterval))
	}
	switch c.StandaloneTaskPolicy {
	case StandalonePolicyStop, StandalonePolicyWait:
	default:
		errs = append(errs, fmt.Errorf("standalone task policy %q must be %q or %q", c.StandaloneTaskPolicy, StandalonePolicyStop, StandalonePolicyWait))
	}
	if c.StandaloneTaskGrace < 0 {
		errs = append(errs, fmt.Errorf("standalone task grace %s must not be negative", c.StandaloneTaskGrace))
	}
	if c.DrainTimeout <= 0 {
		errs = append(errs, fmt.Errorf("drain timeout %s must be positive", c.DrainTimeout))
	}
	switch c.DrainTimeoutAction {
	case DrainTimeoutStopTasks, DrainTimeoutContinue, DrainTimeoutAbandon:
	default:
		errs = append(errs, fmt.Errorf("drain timeout action %q must be %q, %q or %q", c.DrainTimeoutAction, DrainTimeoutStopTasks, DrainTimeoutContinue, DrainTimeoutAbandon))
	}
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("workers %d must be at least 1", c.Workers))
	}
	if c.AWSQPS < 0 {
		errs = append(errs, fmt.Errorf("AWS request rate %v must not be negative", c.AWSQPS))
	}
	return errors.Join(errs...)
}

// Deps are the controller's collaborators, built in main.
type Deps struct {
	AutoScaling awsapi.AutoScaling
	ECS         awsapi.ECS
	// Metrics may be nil (a private registry is used).
	Metrics *metrics.Metrics
	// Clock may be nil (the real clock).
	Clock clock.WithTicker
	Log   logr.Logger
}

// itemKind says what a queue item stands for.
type itemKind uint8

const (
	// kindDiscovery lists the managed groups (name unused).
	kindDiscovery itemKind = iota
	// kindInstance reconciles one EC2 instance (name is its ID).
	kindInstance
	// kindResolve finds the container instances of newly seen instances (name unused).
	kindResolve
	// kindDrain sets the container instances waiting in one cluster DRAINING (name is the cluster).
	kindDrain
	// kindTasks describes the tasks waiting to be described in one cluster (name is the cluster).
	kindTasks
)

// item is a queue key. Instances are keyed by EC2 instance ID; the other kinds are shared batches.
type item struct {
	kind itemKind
	name string
}

func (it item) String() string {
	switch it.kind {
	case kindDiscovery:
		return "discovery"
	case kindInstance:
		return "instance/" + it.name
	case kindResolve:
		return "resolve"
	case kindDrain:
		return "drain/" + it.name
	case kindTasks:
		return "tasks/" + it.name
	}
	return "unknown/" + it.name
}

// result is what a reconcile asks of the queue besides error handling: look again after
// requeueAfter (0: only when something else enqueues the item).
type result struct {
	requeueAfter time.Duration
}

// terminalError marks an error that retrying the same item cannot fix. The worker forgets the item
// instead of backing off forever; a later resync may enqueue it afresh.
type terminalError struct{ err error }

func (e terminalError) Error() string { return e.err.Error() }
func (e terminalError) Unwrap() error { return e.err }

func terminal(err error) error { return terminalError{err: err} }

// Controller drains the ECS container instances of Auto Scaling instances held by a terminating
// lifecycle hook and completes the hook when they are empty.
type Controller struct {
	cfg   Config
	as    awsapi.AutoScaling
	ecs   awsapi.ECS
	m     *metrics.Metrics
	clock clock.WithTicker
	log   logr.Logger

	queue       workqueue.TypedRateLimitingInterface[item]
	batchWindow time.Duration
	ready       atomic.Bool
	// lastResync is the time of the last successful resync in Unix nanoseconds; 0 before the first.
	lastResync atomic.Int64
	// ended remembers the last drains that ended, for the drains page (drains.go).
	ended endedDrains
	// active counts items being processed; with the queue length it tells tests the controller is idle.
	active atomic.Int32
	// hbQueue schedules lifecycle action heartbeats, keyed by EC2 instance ID, apart from queue so
	// that no heartbeat ever waits behind ECS work (heartbeat.go); hbActive counts heartbeats in
	// hand.
	hbQueue  workqueue.TypedDelayingInterface[string]
	hbActive atomic.Int32

	snap     *snapshot
	resolver *resolver
	drains   *drainBatcher
	tasks    *taskBatcher

	mu sync.Mutex // guards everything below
	// instances are the watched instances: in Terminating:Wait on a managed group with a usable hook,
	// or gone from that state and not yet forgotten.
	instances map[string]*instance
	groups    map[string]*groupState
	// clusterHints maps a group to the clusters its instances were found in, so later instances of
	// the group are looked up there first.
	clusterHints map[string]map[string]bool
	// daemonServices caches whether a service (cluster + "/" + name) uses the DAEMON strategy.
	daemonServices map[string]daemonEntry
	// selected maps each managed group to what selected it, as last listed (nil before the first).
	selected map[string]string
	// warned holds the keys of conditions already warned about, so each is logged once until it
	// clears.
	warned map[string]bool
	// stopReason is the reason given to StopTask. It names this process, so a StopTask answer whose
	// stoppedReason differs shows the task was already stopping (another replica, ECS) and the stop
	// is not counted as this controller's.
	stopReason func(why string) string
}

// daemonEntry is a cached service scheduling strategy.
type daemonEntry struct {
	daemon bool
	at     time.Time
}

// New checks the configuration and builds a controller. Nothing runs until Run.
func New(cfg Config, deps Deps) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	if deps.AutoScaling == nil || deps.ECS == nil {
		return nil, errors.New("invalid dependencies: AutoScaling and ECS clients are required")
	}
	if deps.Metrics == nil {
		deps.Metrics = metrics.New(prometheus.NewRegistry(), "", "")
	}
	if deps.Clock == nil {
		deps.Clock = clock.RealClock{}
	}
	limiter := workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[item](errorBackoffBase, errorBackoffMax),
		&workqueue.TypedBucketRateLimiter[item]{Limiter: rate.NewLimiter(rate.Limit(errorBucketQPS), errorBucketBurst)},
	)
	c := &Controller{
		cfg:   cfg,
		as:    deps.AutoScaling,
		ecs:   boundedECS{ecs: deps.ECS, clock: deps.Clock},
		m:     deps.Metrics,
		clock: deps.Clock,
		log:   deps.Log,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(limiter, workqueue.TypedRateLimitingQueueConfig[item]{
			Name:            queueName,
			MetricsProvider: deps.Metrics.WorkqueueProvider(),
			Clock:           deps.Clock,
		}),
		batchWindow:    batchWindow,
		instances:      map[string]*instance{},
		groups:         map[string]*groupState{},
		clusterHints:   map[string]map[string]bool{},
		daemonServices: map[string]daemonEntry{},
		warned:         map[string]bool{},
	}
	replica := uuid.NewString()[:8]
	c.stopReason = func(why string) string {
		return fmt.Sprintf("ecs-drainer (%s): %s", replica, why)
	}
	deps.Metrics.SetDrainStatsSource(c.drainStats)
	c.hbQueue = newHeartbeatQueue(c)
	c.snap = newSnapshot(c)
	c.resolver = newResolver(c)
	c.drains = newDrainBatcher(c)
	c.tasks = newTaskBatcher(c)
	return c, nil
}

// Ready reports whether a resync has succeeded (for /readyz).
func (c *Controller) Ready() bool { return c.ready.Load() }

// Run blocks until ctx is done; then it stops taking work, finishes the reconciles in hand and
// returns.
func (c *Controller) Run(ctx context.Context) error {
	ctx = logr.NewContext(ctx, c.log)
	c.log.Info("Starting controller", "workers", c.cfg.Workers, "dryRun", c.cfg.DryRun,
		"asgTag", c.cfg.ASGTagKey+"="+c.cfg.ASGTagValue, "asgNames", c.cfg.ASGNames, "hook", c.cfg.HookName)
	c.queue.Add(item{kind: kindDiscovery})

	var wg sync.WaitGroup
	for range c.cfg.Workers {
		wg.Go(func() {
			for c.processNext(ctx) {
			}
		})
	}
	for range HeartbeatWorkersFor(c.cfg.AWSQPS) {
		wg.Go(func() {
			for c.processHeartbeat(ctx) {
			}
		})
	}
	<-ctx.Done()
	c.log.Info("Stopping controller: finishing reconciles in hand")
	c.queue.ShutDown()
	c.hbQueue.ShutDown()
	wg.Wait()
	c.log.Info("Controller stopped")
	return nil
}

// processNext is the worker loop body, written once: Get, defer Done, reconcile, then map the
// outcome onto Forget / AddRateLimited / AddAfter. It returns false when the worker should exit.
func (c *Controller) processNext(ctx context.Context) bool {
	it, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	c.active.Add(1)
	defer c.active.Add(-1)
	defer c.queue.Done(it)
	if ctx.Err() != nil {
		// Shutting down: items still queued are left; all state lives on AWS.
		return false
	}

	// The reconcile in hand is finished even when shutdown starts, within its own timeout, and
	// within shutdownGrace of the start of the shutdown.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reconcileTimeout)
	defer cancel()
	stopGrace := context.AfterFunc(ctx, func() {
		t := c.clock.NewTimer(shutdownGrace)
		defer t.Stop()
		select {
		case <-t.C():
			cancel()
		case <-rctx.Done(): // finished (or timed out) within the grace
		}
	})
	defer stopGrace()
	log := c.log.WithValues("item", it.String())
	rctx = logr.NewContext(rctx, log)

	start := c.clock.Now()
	res, err := c.reconcile(rctx, it)
	c.m.ReconcileDurationSeconds.Observe(c.clock.Since(start).Seconds())

	var term terminalError
	switch {
	case errors.As(err, &term):
		c.queue.Forget(it)
		c.m.ReconcileTotal.WithLabelValues(metrics.ReconcileError).Inc()
		log.Error(err, "Giving up on item after an error retrying cannot fix")
	case err != nil:
		c.queue.AddRateLimited(it)
		if res.requeueAfter > 0 {
			// The reconcile knows something due sooner than the backoff: the queue keeps the
			// earlier of the two times, and the backoff still grows.
			c.queue.AddAfter(it, res.requeueAfter)
		}
		c.m.ReconcileTotal.WithLabelValues(metrics.ReconcileError).Inc()
		log.Error(err, "Reconcile failed; retrying with backoff", "retries", c.queue.NumRequeues(it))
	case res.requeueAfter > 0:
		c.queue.Forget(it)
		c.queue.AddAfter(it, res.requeueAfter)
		c.m.ReconcileTotal.WithLabelValues(metrics.ReconcileRequeue).Inc()
	default:
		c.queue.Forget(it)
		c.m.ReconcileTotal.WithLabelValues(metrics.ReconcileDone).Inc()
	}
	return true
}

func (c *Controller) reconcile(ctx context.Context, it item) (result, error) {
	switch it.kind {
	case kindDiscovery:
		return c.resync(ctx)
	case kindInstance:
		return c.reconcileInstance(ctx, it.name)
	case kindResolve:
		return c.resolver.flush(ctx)
	case kindDrain:
		return c.drains.flush(ctx, it.name)
	case kindTasks:
		return c.tasks.flush(ctx, it.name)
	}
	return result{}, terminal(fmt.Errorf("unknown queue item kind %d", it.kind))
}

// enqueueInstance asks for a reconcile of one instance now.
func (c *Controller) enqueueInstance(id string) { c.queue.Add(item{kind: kindInstance, name: id}) }

// schedule asks for a batch item to run after the batch window, or at once when full.
func (c *Controller) schedule(it item, full bool) {
	if full {
		c.queue.Add(it)
		return
	}
	c.queue.AddAfter(it, c.batchWindow)
}

// write is the single door for every call that changes AWS state. In dry run it logs what it would
// do, with the details, and reports success without calling AWS.
func (c *Controller) write(ctx context.Context, action string, kv []any, call func(context.Context) error) error {
	if c.cfg.DryRun {
		logr.FromContextOrDiscard(ctx).Info("Would "+action, kv...)
		return nil
	}
	return call(ctx)
}

// warnOnce logs a warning the first time key is seen, until clearWarning(key).
func (c *Controller) warnOnce(log logr.Logger, key, msg string, kv ...any) {
	c.mu.Lock()
	seen := c.warned[key]
	c.warned[key] = true
	c.mu.Unlock()
	if !seen {
		// logr has no warning level; these are Info lines a person should act on.
		log.Info(msg, kv...)
	}
}

func (c *Controller) clearWarning(key string) {
	c.mu.Lock()
	delete(c.warned, key)
	c.mu.Unlock()
}

// idle reports whether no item is queued or being processed (items waiting for a delay excluded).
// Tests use it to let the controller settle between fake clock steps.
func (c *Controller) idle() bool {
	return c.queue.Len() == 0 && c.active.Load() == 0 && c.heartbeatIdle()
}

// heartbeatIdle reports whether no heartbeat is queued or being recorded (scheduled ones excluded).
func (c *Controller) heartbeatIdle() bool { return c.hbQueue.Len() == 0 && c.hbActive.Load() == 0 }
