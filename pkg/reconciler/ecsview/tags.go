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

// DrainTagStatus reports whether the tag filed for arn was written (in dry run: logged), and
// whether one is filed, queued or in flight (retried with backoff after a failure). Both are read
// under one lock, so a tag written meanwhile is never seen as neither, and filed again.
func (v *View) DrainTagStatus(arn string) (written, pending bool) { return v.tags.status(arn) }

// CancelDrainTag drops the tag filed for arn, unless it is in flight: the drain's start was found
// tagged already (another replica's tag, which may hold an earlier start), and must not be written
// over.
func (v *View) CancelDrainTag(arn string) { v.tags.cancel(arn) }

// drainTagger holds the filed tags and which were written.
type drainTagger struct {
	v *View

	mu sync.Mutex
	// pending maps container instance ARN -> the value of the tag filed for it.
	pending map[string]string
	// written holds the container instance ARNs tagged, until the instance is released.
	written map[string]bool
}

func newDrainTagger(v *View) *drainTagger {
	return &drainTagger{v: v, pending: map[string]string{}, written: map[string]bool{}}
}

func (t *drainTagger) request(cluster, arn, value string) {
	t.mu.Lock()
	t.pending[arn] = value
	t.mu.Unlock()
	t.v.d.Schedule(Batch{Kind: BatchTag, Cluster: cluster, ContainerInstance: arn}, true)
}

func (t *drainTagger) status(arn string) (written, pending bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, pending = t.pending[arn]
	return t.written[arn], pending
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
func (t *drainTagger) flush(ctx context.Context, cluster, arn string) error {
	t.mu.Lock()
	value, ok := t.pending[arn]
	t.mu.Unlock()
	if !ok {
		return nil // released meanwhile, or written by an earlier run of the same batch
	}
	if err := t.v.TagDrainStart(ctx, cluster, arn, value); err != nil {
		if _, pending := t.status(arn); !pending {
			return nil // released meanwhile: nothing to retry
		}
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, live := t.pending[arn]; live && cur == value {
		delete(t.pending, arn)
		t.written[arn] = true
	}
	// Released meanwhile: nothing to keep. Filed again with another value: it stays pending for the
	// next run, which the controller's queue makes as the batch was scheduled again meanwhile.
	return nil
}
