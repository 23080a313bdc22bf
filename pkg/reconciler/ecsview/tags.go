package ecsview

import (
	"context"
	"sync"
)

// RequestDrainTag files the drain-started-at tag (value, RFC 3339) for the container instance arn.
// The tag is written apart from the reconciles (BatchTag), and nothing waits for it: it only
// matters to a process that restarts before the drain ends, so a drain goes on without it, and a
// drain that ends first (Release) takes its request away unwritten. Under the ECS rate limit that
// keeps a backlog of tags from holding the workers that complete drains, and saves the tags of the
// drains that end in the meantime.
func (v *View) RequestDrainTag(cluster, arn, value string) { v.tags.request(cluster, arn, value) }

// DrainTagWritten reports whether the tag filed for arn was written (in dry run: logged).
func (v *View) DrainTagWritten(arn string) bool { return v.tags.isWritten(arn) }

// DrainTagPending reports whether a tag for arn is filed, queued or in flight (retried with backoff
// after a failure). A written tag stops being pending only once DrainTagWritten reports it, under
// one lock: asked in that order, a reconcile never sees neither.
func (v *View) DrainTagPending(arn string) bool { return v.tags.isPending(arn) }

// CancelDrainTag drops the tag filed for arn, unless it is in flight: the drain's start was found
// tagged already (another replica's tag, which may hold an earlier start), and must not be written
// over.
func (v *View) CancelDrainTag(arn string) { v.tags.cancel(arn) }

// drainTagger holds the filed tags and which were written.
type drainTagger struct {
	v *View

	mu sync.Mutex
	// pending maps container instance ARN -> the tag filed for it.
	pending map[string]tagRequest
	// written holds the container instance ARNs tagged, until the instance is released.
	written map[string]bool
}

type tagRequest struct {
	cluster, value string
}

func newDrainTagger(v *View) *drainTagger {
	return &drainTagger{v: v, pending: map[string]tagRequest{}, written: map[string]bool{}}
}

func (t *drainTagger) request(cluster, arn, value string) {
	t.mu.Lock()
	t.pending[arn] = tagRequest{cluster: cluster, value: value}
	t.mu.Unlock()
	t.v.d.Schedule(Batch{Kind: BatchTag, Cluster: cluster, ContainerInstance: arn}, true)
}

func (t *drainTagger) isWritten(arn string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.written[arn]
}

func (t *drainTagger) isPending(arn string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.pending[arn]
	return ok
}

func (t *drainTagger) cancel(arn string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pending, arn)
}

func (t *drainTagger) forget(arn string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pending, arn)
	delete(t.written, arn)
}

// flush writes the tag filed for arn, if its instance still wants it. An error leaves the request
// pending, for the controller to retry.
func (t *drainTagger) flush(ctx context.Context, arn string) error {
	t.mu.Lock()
	r, ok := t.pending[arn]
	t.mu.Unlock()
	if !ok {
		return nil // released meanwhile, or written by an earlier run of the same batch
	}
	if err := t.v.TagDrainStart(ctx, r.cluster, arn, r.value); err != nil {
		if !t.isPending(arn) {
			return nil // released meanwhile: nothing to retry
		}
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, live := t.pending[arn]; live && cur == r {
		delete(t.pending, arn)
		t.written[arn] = true
	}
	// Released meanwhile: nothing to keep. Filed again with another value: it stays pending for the
	// next run, which the controller's queue makes as the batch was scheduled again meanwhile.
	return nil
}
