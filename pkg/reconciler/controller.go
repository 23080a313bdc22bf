package reconciler

import (
	"context"
	"errors"
	"fmt"
	"math"
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
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler/ecsview"
)

const (
	// queueName labels the workqueue metrics.
	queueName = "reconciler"
	// batchQueueName labels the metrics of the queue of the View's shared batches, listQueueName
	// those of its task listings, tagQueueName those of its drain-started-at tags.
	batchQueueName = "batches"
	listQueueName  = "task_lists"
	tagQueueName   = "drain_tags"

	// batchWorkers serve the shared batches: there are at most a resolve and a DRAINING and a task
	// batch per cluster, each sending its calls together (within ecsview's bounds), so a few let
	// the clusters' batches of a scale-in run at the same time.
	batchWorkers = 8
	// tagWorkers write the drain-started-at tags. Two are plenty when the budget is free (a tag is
	// one small call), and when it is not, the calls of two workers get two of the turns that the
	// limiter gives per-instance calls in arrival order: the tags, which only a restart needs, take
	// little of the budget from the listings that complete drains.
	tagWorkers = 2

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

	// hookCacheTTL is how long a group's lifecycle hooks are reused before being described again.
	hookCacheTTL = 10 * time.Minute

	// timeoutStopAllowance is the time the stop-tasks drain timeout action is given to stop the
	// remaining tasks before it completes CONTINUE whatever is left, well before the hook's global
	// timeout would apply its DefaultResult. Tasks stop within their stopTimeout (30 s by default, at
	// most 120 s) and daemon tasks only after the others: two stop timeouts and a few polls.
	timeoutStopAllowance = 5 * time.Minute
)

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
	// kindBatch runs an ECS call of the View (batch: resolve, drain/<cluster>, tasks/<cluster>,
	// shared by the instances that filed them; list/<container instance>, one instance's).
	kindBatch
)

// item is a queue key. Instances are keyed by EC2 instance ID; batches by what they do.
type item struct {
	kind  itemKind
	name  string
	batch ecsview.Batch
}

func (it item) String() string {
	switch it.kind {
	case kindDiscovery:
		return "discovery"
	case kindInstance:
		return "instance/" + it.name
	case kindBatch:
		return it.batch.String()
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
	m     *metrics.Metrics
	clock clock.WithTicker
	log   logr.Logger

	// queue holds the reconciles (instances, and discovery), served by cfg.Workers workers.
	queue       *itemQueue
	batchWindow time.Duration
	// view is the ECS read and batch layer (ecsview): every ECS call goes through it.
	view  *ecsview.View
	ready atomic.Bool
	// lastResync is the time of the last successful resync in Unix nanoseconds; 0 before the first.
	lastResync atomic.Int64
	// ended remembers the last drains that ended, for the drains page (drains.go).
	ended endedDrains
	// batches queues the View's shared batches (the calls the reconciles file that answer for many
	// instances: lookups, DRAINING, task describes), lists its task listings (one call per
	// instance; ECS lists one container instance's tasks per call) and tags its drain-started-at
	// tags (one call per instance), each served by workers of its own. The reconciles still make
	// their own instance's calls (the shared container instance read, the completion, a task stop),
	// but the filed ones, most of the ECS calls and all that pile up in a scale-in, wait for the ECS
	// rate limit or a slow API without holding the workers that take the next instance to its next
	// step; a backlog of listings holds up no shared batch, and one of tags no listing.
	batches *itemQueue
	lists   *itemQueue
	tags    *itemQueue
	// hbQueue schedules lifecycle action heartbeats, keyed by EC2 instance ID, apart from queue so
	// that no heartbeat ever waits behind ECS work (heartbeat.go); hbActive counts heartbeats in
	// hand.
	hbQueue  workqueue.TypedDelayingInterface[string]
	hbActive atomic.Int32
	// events is the event queue feeding the controller's hints (hints.go); zero without one. Set
	// before Run, read-only after.
	events EventQueue

	mu sync.Mutex // guards everything below
	// instances are the watched instances: in Terminating:Wait on a managed group with a usable hook,
	// or gone from that state and not yet forgotten.
	instances map[string]*instance
	// byContainerInstance maps the container instance ARN of every watched instance found
	// registered to its EC2 instance ID (publishDrain, forget), for the ECS events' wake-ups.
	byContainerInstance map[string]string
	groups              map[string]*groupState
	// selected maps each managed group to what selected it, as last listed (nil before the first).
	selected map[string]string
	// warned holds the keys of conditions already warned about, so each is logged once until it
	// clears.
	warned map[string]bool
	// hinted holds the instances a terminating hint named, and when, until a resync watches them
	// (the found-by-resync count, hints.go).
	hinted map[string]time.Time
	// unhinted holds the instances a resync watched before their hint came, from first sight
	// until the hint or eventGrace (hints.go).
	unhinted map[string]time.Time
	// early holds the instances to drain ahead of their lifecycle action (Spot interruption
	// warnings, rebalance recommendations; spot.go), until they are no longer watched.
	early map[string]earlyDrain
	// stopReason is the reason given to StopTask. It names this process, so a StopTask answer whose
	// stoppedReason differs shows the task was already stopping (another replica, ECS) and the stop
	// is not counted as this controller's.
	stopReason func(why string) string
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
	newQueue := func(name string, workers int) *itemQueue {
		limiter := workqueue.NewTypedMaxOfRateLimiter(
			workqueue.NewTypedItemExponentialFailureRateLimiter[item](errorBackoffBase, errorBackoffMax),
			&workqueue.TypedBucketRateLimiter[item]{Limiter: rate.NewLimiter(rate.Limit(errorBucketQPS), errorBucketBurst)},
		)
		q := workqueue.NewTypedRateLimitingQueueWithConfig(limiter, workqueue.TypedRateLimitingQueueConfig[item]{
			Name:            name,
			MetricsProvider: deps.Metrics.WorkqueueProvider(),
			Clock:           deps.Clock,
		})
		return &itemQueue{TypedRateLimitingInterface: q, workers: workers}
	}
	c := &Controller{
		cfg:                 cfg,
		as:                  deps.AutoScaling,
		m:                   deps.Metrics,
		clock:               deps.Clock,
		log:                 deps.Log,
		queue:               newQueue(queueName, cfg.Workers),
		batches:             newQueue(batchQueueName, batchWorkers),
		lists:               newQueue(listQueueName, ListWorkersFor(cfg.AWSQPS)),
		tags:                newQueue(tagQueueName, tagWorkers),
		batchWindow:         batchWindow,
		instances:           map[string]*instance{},
		byContainerInstance: map[string]string{},
		groups:              map[string]*groupState{},
		warned:              map[string]bool{},
		hinted:              map[string]time.Time{},
		unhinted:            map[string]time.Time{},
		early:               map[string]earlyDrain{},
	}
	replica := uuid.NewString()[:8]
	c.stopReason = func(why string) string {
		return fmt.Sprintf("ecs-drainer (%s): %s", replica, why)
	}
	deps.Metrics.SetDrainStatsSource(c.drainStats)
	c.hbQueue = newHeartbeatQueue(deps.Metrics, deps.Clock)
	c.view = ecsview.New(ecsview.Deps{
		ECS:          deps.ECS,
		Clock:        deps.Clock,
		Write:        c.write,
		DryRun:       cfg.DryRun,
		Wake:         c.enqueueInstance,
		Schedule:     func(b ecsview.Batch, full bool) { c.schedule(item{kind: kindBatch, batch: b}, full) },
		Warn:         c.warnOnce,
		ClearWarning: c.clearWarning,
		Clusters:     cfg.Clusters,
		PollInterval: cfg.PollInterval,
	})
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
	for _, q := range c.itemQueues() {
		for range q.workers {
			wg.Go(func() {
				for c.processNext(ctx, q) {
				}
			})
		}
	}
	for range HeartbeatWorkersFor(c.cfg.AWSQPS) {
		wg.Go(func() {
			for c.processHeartbeat(ctx) {
			}
		})
	}
	<-ctx.Done()
	c.log.Info("Stopping controller")
	for _, q := range c.itemQueues() {
		q.ShutDown()
	}
	c.hbQueue.ShutDown()
	wg.Wait()
	c.log.Info("Controller stopped")
	return nil
}

// ListWorkersFor is how many of the View's task listings are in hand at once under a client-side
// ECS rate of qps (0: unlimited): enough to use the whole budget with calls of up to
// listCallSeconds. More would only move a backlog from the queue, where a listing is a key, into
// calls waiting for the rate limiter, each holding an SDK request.
func ListWorkersFor(qps float64) int {
	if qps <= 0 {
		return listWorkersUnlimited
	}
	return min(max(int(math.Ceil(listCallSeconds*qps)), listWorkersMin), listWorkersMax)
}

// listCallSeconds, listWorkersMin, listWorkersMax and listWorkersUnlimited size the listing
// workers (ListWorkersFor). A listing is a small read: half a second covers it with room; a slower
// API makes the drains slower, never the heartbeats (their own workers).
const (
	listCallSeconds      = 0.5
	listWorkersMin       = 4
	listWorkersMax       = 256
	listWorkersUnlimited = 32
)

// itemQueue is one of the controller's queues of items, with how many workers serve it and how
// many items they have in hand.
type itemQueue struct {
	workqueue.TypedRateLimitingInterface[item]
	workers int
	active  atomic.Int32
}

// idle reports whether no item is queued or in hand (items waiting for a delay excluded).
func (q *itemQueue) idle() bool { return q.Len() == 0 && q.active.Load() == 0 }

// itemQueues are the queues of items, each with workers of its own: the reconciles, then the
// View's shared batches, listings and tags.
func (c *Controller) itemQueues() []*itemQueue {
	return []*itemQueue{c.queue, c.batches, c.lists, c.tags}
}

// processNext is the worker loop body, written once for the queues of items (itemQueues): Get,
// defer Done, reconcile, then map the outcome onto Forget / AddRateLimited / AddAfter. It returns
// false when the worker should exit.
func (c *Controller) processNext(ctx context.Context, queue *itemQueue) bool {
	it, shutdown := queue.Get()
	if shutdown {
		return false
	}
	queue.active.Add(1)
	defer queue.active.Add(-1)
	defer queue.Done(it)
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
		queue.Forget(it)
		c.m.ReconcileTotal.WithLabelValues(metrics.ReconcileError).Inc()
		log.Error(err, "Giving up on item", "why", "the error is permanent")
	case err != nil:
		queue.AddRateLimited(it)
		if res.requeueAfter > 0 {
			// The reconcile knows something due sooner than the backoff: the queue keeps the
			// earlier of the two times, and the backoff still grows.
			queue.AddAfter(it, res.requeueAfter)
		}
		c.m.ReconcileTotal.WithLabelValues(metrics.ReconcileError).Inc()
		log.Error(err, "Reconcile failed", "next", "retrying with backoff", "retries", queue.NumRequeues(it))
	case res.requeueAfter > 0:
		queue.Forget(it)
		queue.AddAfter(it, res.requeueAfter)
		c.m.ReconcileTotal.WithLabelValues(metrics.ReconcileRequeue).Inc()
	default:
		queue.Forget(it)
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
	case kindBatch:
		return result{}, c.view.Flush(ctx, it.batch)
	}
	return result{}, terminal(fmt.Errorf("unknown queue item kind %d", it.kind))
}

// enqueueInstance asks for a reconcile of one instance now. It is the wake-up every input uses:
// discovery, the View's answered batches, a refused heartbeat, and Wake.
func (c *Controller) enqueueInstance(id string) { c.queue.Add(item{kind: kindInstance, name: id}) }

// Wake asks for a reconcile of an instance soon (within the batch window), as an external hint (an event saying its state
// changed) rather than at its next poll. The reconcile is level-triggered, so a hint that changes
// nothing costs at most one shared container instance read (a read older than the hint is not
// used); an instance not watched yet is ignored (discovery finds new instances).
func (c *Controller) Wake(instanceID string) {
	c.mu.Lock()
	if inst := c.instances[instanceID]; inst != nil {
		inst.hintedAt = c.clock.Now()
	}
	c.mu.Unlock()
	c.wakeAfterHint(instanceID)
}

// wakeAfterHint enqueues a hinted instance after the batch window: one change sends several
// events (a task stopping sends a task and a container instance change, and its neighbours' stop
// at about the same time), and each look after a hint needs a container instance read newer than
// the hint. Gathered, a burst costs one look per instance and one shared read per cluster rather
// than one read per event, which under the client-side rate limit would delay them all.
func (c *Controller) wakeAfterHint(id string) {
	c.queue.AddAfter(item{kind: kindInstance, name: id}, c.batchWindow)
}

// WakeContainerInstance wakes the watched instance registered as the ECS container instance arn,
// if there is one, and reports whether there was.
func (c *Controller) WakeContainerInstance(arn string) bool {
	c.mu.Lock()
	var id string
	if inst := c.instances[c.byContainerInstance[arn]]; inst != nil && inst.reg.State == ecsview.Found && inst.reg.ARN == arn {
		id = inst.id
		inst.hintedAt = c.clock.Now()
	}
	c.mu.Unlock()
	if id == "" {
		return false
	}
	c.wakeAfterHint(id)
	return true
}

// schedule asks for a shared batch to run after the batch window, or at once when full; a
// listing or a tag, at once, on its own queue.
func (c *Controller) schedule(it item, full bool) {
	switch it.batch.Kind {
	case ecsview.BatchList:
		c.lists.Add(it)
		return
	case ecsview.BatchTag:
		c.tags.Add(it)
		return
	}
	if full {
		c.batches.Add(it)
		return
	}
	c.batches.AddAfter(it, c.batchWindow)
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
	for _, q := range c.itemQueues() {
		if !q.idle() {
			return false
		}
	}
	return c.heartbeatIdle()
}

// heartbeatIdle reports whether no heartbeat is queued or being recorded (scheduled ones excluded).
func (c *Controller) heartbeatIdle() bool { return c.hbQueue.Len() == 0 && c.hbActive.Load() == 0 }
