// Package ecsview is the reconciler's read and batch layer over Amazon ECS: where an EC2 instance
// is registered (the registration lookup), a shared snapshot of the container instances in hand,
// DRAINING requests coalesced into UpdateContainerInstancesState calls, task describes shared by a
// cluster's instances, and every ECS call bounded in time.
//
// A View is a collaborator of the controller with its own dependencies (an ECS client, a clock, the
// controller's write door, a "wake this instance" callback and a "run this batch" callback) and no
// pointer back to it. A per-instance reconcile files requests (RequestRegistration,
// RequestDraining, RequestTaskList, RequestTaskDescribe, RequestDrainTag) and, when woken, reads
// their answers (TakeRegistration, TakeDrainAnswer, TaskList, TaskDescriptions, DrainTagStatus);
// the controller runs each Batch the View schedules by calling Flush. Answers are values; the View
// never changes the controller's state.
package ecsview

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	"k8s.io/utils/clock"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
)

// DrainStartedTagKey is the container instance tag holding the RFC 3339 time the drain started. It
// is the only state the controller keeps, and it keeps it on AWS, so a restarted controller (or a
// second replica) continues a drain's age, heartbeats and timeout correctly.
const DrainStartedTagKey = "ecs-drainer/drain-started-at"

// WriteFunc is the controller's single door for calls that change AWS state: in dry run it logs
// "Would <action>" with kv and reports success without calling.
type WriteFunc func(ctx context.Context, action string, kv []any, call func(context.Context) error) error

// Deps are what a View needs, passed in by the controller.
type Deps struct {
	// ECS is the client; every call through it is bounded by CallTimeout.
	ECS   awsapi.ECS
	Clock clock.Clock
	// Write is the door every ECS write goes through; DryRun says whether it writes.
	Write  WriteFunc
	DryRun bool
	// Wake asks for a reconcile of an instance now: an answer it waits for is in.
	Wake func(instanceID string)
	// Schedule asks for Flush(b) after the batch window, or at once when full (a call's worth is
	// waiting).
	Schedule func(b Batch, full bool)
	// Warn logs a warning once per key until ClearWarning(key).
	Warn         func(log logr.Logger, key, msg string, kv ...any)
	ClearWarning func(key string)
	// Clusters restricts lookups to these clusters (--clusters); empty means all.
	Clusters []string
	// PollInterval is how often the controller looks at a drain: answers not taken within
	// resultTTLPolls of it are dropped, and the cluster list is read again at most once per poll.
	PollInterval time.Duration
}

// View is the ECS read and batch layer. Its methods are safe for concurrent use.
type View struct {
	d        Deps
	snap     *snapshot
	resolver *resolver
	drains   *drainBatcher
	tasks    *taskBatcher
	lists    *taskLister
	tags     *drainTagger
	daemons  *daemonCache
	// chunkSlots holds a token per chunk call in flight (sendChunks).
	chunkSlots chan struct{}
}

// New builds a View. Nothing runs until the controller flushes a batch.
func New(d Deps) *View {
	d.ECS = boundedECS{ecs: d.ECS, clock: d.Clock}
	v := &View{d: d, chunkSlots: make(chan struct{}, maxChunkCallsInFlight)}
	v.snap = newSnapshot(v)
	v.resolver = newResolver(v)
	v.drains = newDrainBatcher(v)
	v.tasks = newTaskBatcher(v)
	v.lists = newTaskLister(v)
	v.tags = newDrainTagger(v)
	v.daemons = newDaemonCache()
	return v
}

// BatchKind says what a Batch does.
type BatchKind uint8

const (
	// BatchResolve looks up where the instances filed with RequestRegistration are registered.
	BatchResolve BatchKind = iota + 1
	// BatchDrain sets the container instances filed with RequestDraining in one cluster DRAINING.
	BatchDrain
	// BatchTasks describes the tasks filed with RequestTaskDescribe in one cluster.
	BatchTasks
	// BatchList lists the tasks told to stop on one container instance, filed with
	// RequestTaskList.
	BatchList
	// BatchTag writes the drain-started-at tag of one container instance, filed with
	// RequestDrainTag.
	BatchTag
)

// Batch is a call the View wants run, shared by the instances that filed it where ECS allows: the
// controller queues it (deduplicated) and calls Flush from a worker of its own, so no reconcile
// waits for a batch's calls.
type Batch struct {
	Kind    BatchKind
	Cluster string // "" for BatchResolve
	// ContainerInstance is the container instance ARN of a BatchList or a BatchTag.
	ContainerInstance string
}

func (b Batch) String() string {
	switch b.Kind {
	case BatchResolve:
		return "resolve"
	case BatchDrain:
		return "drain/" + b.Cluster
	case BatchTasks:
		return "tasks/" + b.Cluster
	case BatchList:
		return "list/" + b.ContainerInstance
	case BatchTag:
		return "tag/" + b.ContainerInstance
	}
	return "unknown/" + b.Cluster
}

// Flush runs one batch. An error leaves what was not answered pending; the controller retries the
// batch with backoff.
func (v *View) Flush(ctx context.Context, b Batch) error {
	switch b.Kind {
	case BatchResolve:
		return v.resolver.flush(ctx)
	case BatchDrain:
		return v.drains.flush(ctx, b.Cluster)
	case BatchTasks:
		return v.tasks.flush(ctx, b.Cluster)
	case BatchList:
		return v.lists.flush(ctx, b.Cluster, b.ContainerInstance)
	case BatchTag:
		return v.tags.flush(ctx, b.Cluster, b.ContainerInstance)
	}
	return fmt.Errorf("unknown batch kind %d", b.Kind)
}

// Release drops everything filed or held for an instance that is done: its lookup, and for a
// registered one its snapshot entry, DRAINING request, the tasks it waited for, its listing and
// its tag, unwritten if still pending.
func (v *View) Release(id string, reg Registration, pendingTasks []string) {
	v.resolver.forget(id)
	if reg.State != Found {
		return
	}
	v.snap.untrack(reg.Cluster, reg.ARN)
	v.drains.forget(reg.Cluster, reg.ARN)
	v.tasks.forget(pendingTasks)
	v.lists.forget(reg.ARN)
	v.tags.forget(reg.ARN)
}

// ForgetGroup drops what the lookup learned of a group no longer managed.
func (v *View) ForgetGroup(asg string) { v.resolver.forgetGroup(asg) }

// PruneCaches drops cached service strategies older than their TTL.
func (v *View) PruneCaches() { v.daemons.prune(v.d.Clock.Now()) }

// maxCallsPerBatch is how many calls of one batch run at once: a batch of more than a call's worth
// sends its calls together, so none waits for the round trips of the others (the rate limiter
// still paces them). maxChunkCallsInFlight bounds them across every batch: each answer holds up to
// 100 container instances or tasks until it is decoded, and a scale-in over 50 clusters would
// otherwise have hundreds in memory at once for no gain in speed, the rate limiter being the
// bound.
const (
	maxCallsPerBatch      = 10
	maxChunkCallsInFlight = 16
)

// sendChunks makes call for each chunk, the calls together within maxCallsPerBatch and
// maxChunkCallsInFlight. It returns the first error; the chunks answered stay answered.
func sendChunks[T any](ctx context.Context, v *View, chunks [][]T, call func(context.Context, []T) error) error {
	var calls errgroup.Group
	calls.SetLimit(maxCallsPerBatch)
	for _, chunk := range chunks {
		calls.Go(func() error {
			select {
			case v.chunkSlots <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			defer func() { <-v.chunkSlots }()
			return call(ctx, chunk)
		})
	}
	return calls.Wait()
}

// resultTTLPolls bounds, in poll intervals, how long a batch answer waits for the reconcile it was
// for. Answers are taken within a batch window or so; one still there after many polls belongs to
// an instance that was forgotten meanwhile.
const resultTTLPolls = 10

func (v *View) resultCutoff() time.Time {
	return v.d.Clock.Now().Add(-resultTTLPolls * v.d.PollInterval)
}
