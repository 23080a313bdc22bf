package ecsview

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/go-logr/logr"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
)

// DrainAnswer is ECS's answer to one container instance's DRAINING request.
type DrainAnswer struct {
	At time.Time
	// Failure is ECS's failure reason, "" on success.
	Failure string
}

// RequestDraining files a DRAINING request for the container instance arn of instance id
// (idempotent while one is pending); the instance is woken with the answer.
func (v *View) RequestDraining(cluster, arn, id string) { v.drains.request(cluster, arn, id) }

// TakeDrainAnswer returns and removes the answer for arn, if there is one.
func (v *View) TakeDrainAnswer(arn string) (DrainAnswer, bool) { return v.drains.take(arn) }

// DrainingPending reports whether a DRAINING request for arn is filed or in flight. Its answer is
// stored and the request dropped under one lock, so a reconcile never sees neither.
func (v *View) DrainingPending(cluster, arn string) bool { return v.drains.isPending(cluster, arn) }

// TagDrainStart writes the drain-started-at tag (value, RFC 3339) on a container instance through
// the write door, and records it in the snapshot once written.
func (v *View) TagDrainStart(ctx context.Context, cluster, arn, value string) error {
	err := v.d.Write(ctx, "tag container instance", []any{"tag", DrainStartedTagKey, "value", value}, func(ctx context.Context) error {
		_, err := v.d.ECS.TagResource(ctx, &ecs.TagResourceInput{
			ResourceArn: aws.String(arn),
			Tags:        []ecstypes.Tag{{Key: aws.String(DrainStartedTagKey), Value: aws.String(value)}},
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("tagging container instance %s with the drain start: %w", arn, err)
	}
	if !v.d.DryRun {
		v.snap.setTag(cluster, arn, value)
	}
	return nil
}

// drainBatcher coalesces DRAINING requests per cluster into UpdateContainerInstancesState calls of
// up to 10 container instances. A reconcile that finds its container instance ACTIVE files a
// request and returns; the batch runs after the batch window (at once when a call's worth is
// waiting) and wakes the instances with the answer waiting for them.
type drainBatcher struct {
	v *View

	mu sync.Mutex
	// pending maps cluster -> container instance ARN -> instance ID.
	pending map[string]map[string]string
	// results maps container instance ARN -> answer, until the instance's reconcile takes it.
	results map[string]DrainAnswer
}

func newDrainBatcher(v *View) *drainBatcher {
	return &drainBatcher{v: v, pending: map[string]map[string]string{}, results: map[string]DrainAnswer{}}
}

func (b *drainBatcher) request(cluster, arn, id string) {
	b.mu.Lock()
	if b.pending[cluster] == nil {
		b.pending[cluster] = map[string]string{}
	}
	b.pending[cluster][arn] = id
	n := len(b.pending[cluster])
	b.mu.Unlock()
	b.v.d.Schedule(Batch{Kind: BatchDrain, Cluster: cluster}, n >= awsapi.MaxUpdateContainerInstancesState)
}

func (b *drainBatcher) take(arn string) (DrainAnswer, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.results[arn]
	delete(b.results, arn)
	return r, ok
}

func (b *drainBatcher) isPending(cluster, arn string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.pending[cluster][arn]
	return ok
}

// forget drops anything filed for arn (its instance is done).
func (b *drainBatcher) forget(cluster, arn string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.pending[cluster], arn)
	delete(b.results, arn)
}

// flush sets every pending container instance of cluster DRAINING, 10 per call.
func (b *drainBatcher) flush(ctx context.Context, cluster string) error {
	b.mu.Lock()
	pending := maps.Clone(b.pending[cluster])
	cutoff := b.v.resultCutoff()
	maps.DeleteFunc(b.results, func(_ string, r DrainAnswer) bool { return r.At.Before(cutoff) })
	b.mu.Unlock()
	// The calls go out together (a call sets 10 at most, and 100 instances of a cluster scaled in at
	// once are 10 calls): one after the other, the last would wait for nine round trips.
	chunks := slices.Collect(slices.Chunk(slices.Sorted(maps.Keys(pending)), awsapi.MaxUpdateContainerInstancesState))
	return sendChunks(ctx, b.v, chunks, func(ctx context.Context, chunk []string) error {
		if err := b.setDraining(ctx, cluster, chunk); err != nil {
			// The chunks answered stay answered; this one stays pending and the batch is retried
			// with backoff. Waiting instances look again after a poll.
			return err
		}
		for _, arn := range chunk {
			b.v.d.Wake(pending[arn])
		}
		return nil
	})
}

// setDraining makes one UpdateContainerInstancesState call and stores its answers.
func (b *drainBatcher) setDraining(ctx context.Context, cluster string, chunk []string) error {
	at := b.v.d.Clock.Now()
	var resp *ecs.UpdateContainerInstancesStateOutput
	err := b.v.d.Write(ctx, "set container instances DRAINING", []any{"cluster", cluster, "containerInstanceArns", chunk},
		func(ctx context.Context) error {
			var err error
			resp, err = b.v.d.ECS.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
				Cluster:            aws.String(cluster),
				ContainerInstances: chunk,
				Status:             ecstypes.ContainerInstanceStatusDraining,
			})
			return err
		})
	if err != nil {
		return fmt.Errorf("setting %d container instances DRAINING in cluster %s: %w", len(chunk), cluster, err)
	}
	failures := map[string]string{}
	if resp != nil {
		answered := map[string]bool{}
		updated := make([]ContainerInstance, 0, len(resp.ContainerInstances))
		for _, ci := range resp.ContainerInstances {
			e := toContainerInstance(ci, at)
			updated = append(updated, e)
			answered[e.ARN] = true
		}
		b.v.snap.put(cluster, updated...)
		for _, f := range resp.Failures {
			failures[aws.ToString(f.Arn)] = strings.TrimSpace(aws.ToString(f.Reason) + " " + aws.ToString(f.Detail))
		}
		for _, arn := range chunk {
			if !answered[arn] {
				// Not described back: read it again rather than trust the old status.
				b.v.snap.invalidate(cluster, arn)
			}
		}
	}
	b.mu.Lock()
	for _, arn := range chunk {
		b.results[arn] = DrainAnswer{At: at, Failure: failures[arn]}
		delete(b.pending[cluster], arn)
	}
	if len(b.pending[cluster]) == 0 {
		delete(b.pending, cluster)
	}
	b.mu.Unlock()
	if len(failures) > 0 {
		logr.FromContextOrDiscard(ctx).V(1).Info("ECS refused DRAINING for some container instances", "cluster", cluster, "failures", failures)
	}
	return nil
}
