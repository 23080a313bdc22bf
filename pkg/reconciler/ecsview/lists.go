package ecsview

import (
	"context"
	"maps"
	"sync"
	"time"

	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TaskList is the answer to one container instance's listing of the tasks told to stop.
type TaskList struct {
	// ARNs are the tasks whose desired status is STOPPED (some may be STOPPED already).
	ARNs []string
	// At is when the listing was sent.
	At time.Time
}

// RequestTaskList files a listing of the tasks told to stop on the container instance arn, for
// instance id (idempotent while one is pending); the instance is woken with the answer. ECS lists
// one container instance's tasks per call, so nothing is shared: the listing is a Batch of its own
// (BatchList) so that, like every batch, it runs apart from the reconciles. A backlog of listings
// waiting for the ECS rate limit then holds none of the workers that look at instances whose tasks
// have stopped.
func (v *View) RequestTaskList(cluster, arn, id string) { v.lists.request(cluster, arn, id) }

// TaskList returns the listing of the tasks told to stop on arn if one was sent at or after
// notBefore.
func (v *View) TaskList(arn string, notBefore time.Time) (TaskList, bool) {
	return v.lists.lookup(arn, notBefore)
}

// TaskListPending reports whether a listing of arn is filed, queued or in flight (retried with
// backoff after a failure). Its answer is stored and the request dropped under one lock, so a
// reconcile never sees neither.
func (v *View) TaskListPending(arn string) bool { return v.lists.isPending(arn) }

// taskLister holds the filed listings and their answers.
type taskLister struct {
	v *View

	mu sync.Mutex
	// pending maps container instance ARN -> instance waiting for its listing -> the sequence
	// number of its latest request.
	pending map[string]map[string]uint64
	seq     uint64
	// results maps container instance ARN -> its latest listing, until the instance is released.
	// Unlike the other batches' answers, a listing is not dropped after a while: its instance may
	// come back to it late (a reconcile queue held up by completions under the Auto Scaling rate
	// limit) and would only list again, and again.
	results map[string]TaskList
}

func newTaskLister(v *View) *taskLister {
	return &taskLister{v: v, pending: map[string]map[string]uint64{}, results: map[string]TaskList{}}
}

func (l *taskLister) request(cluster, arn, id string) {
	l.mu.Lock()
	if l.pending[arn] == nil {
		l.pending[arn] = map[string]uint64{}
	}
	l.seq++
	l.pending[arn][id] = l.seq
	l.mu.Unlock()
	l.v.d.Schedule(Batch{Kind: BatchList, Cluster: cluster, ContainerInstance: arn}, true)
}

func (l *taskLister) lookup(arn string, notBefore time.Time) (TaskList, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.results[arn]
	if !ok || r.At.Before(notBefore) {
		return TaskList{}, false
	}
	return r, true
}

func (l *taskLister) isPending(arn string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.pending[arn]
	return ok
}

func (l *taskLister) forget(arn string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.pending, arn)
	delete(l.results, arn)
}

// flush lists the tasks told to stop on arn and wakes the instances waiting for it. An error leaves
// the request pending, for the controller to retry.
func (l *taskLister) flush(ctx context.Context, cluster, arn string) error {
	l.mu.Lock()
	sent := maps.Clone(l.pending[arn])
	l.mu.Unlock()
	if len(sent) == 0 {
		return nil // released meanwhile, or answered by an earlier run of the same batch
	}
	at := l.v.d.Clock.Now()
	arns, err := l.v.ListTasks(ctx, cluster, arn, ecstypes.DesiredStatusStopped)
	if err != nil {
		return err
	}
	// The answer is for the requests filed before it was sent. One filed since (a newer sequence
	// number) stays pending for the next run, which the controller's queue makes as the batch was
	// scheduled again meanwhile. An instance released meanwhile took its requests away (forget):
	// the answer is dropped.
	l.mu.Lock()
	if _, live := l.pending[arn]; !live {
		l.mu.Unlock()
		return nil
	}
	for id, seq := range sent {
		if l.pending[arn][id] == seq {
			delete(l.pending[arn], id)
		}
	}
	if len(l.pending[arn]) == 0 {
		delete(l.pending, arn)
	}
	l.results[arn] = TaskList{ARNs: arns, At: at}
	l.mu.Unlock()
	for id := range sent {
		l.v.d.Wake(id)
	}
	return nil
}
