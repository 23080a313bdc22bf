package reconciler

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

// drainBatcher coalesces DRAINING requests per cluster into UpdateContainerInstancesState calls of
// up to 10 container instances. A reconcile that finds its container instance ACTIVE files a
// request and returns; the batch item runs after the batch window (at once when a call's worth is
// waiting) and enqueues the instances again with the answer waiting for them.
type drainBatcher struct {
	c *Controller

	mu sync.Mutex
	// pending maps cluster -> container instance ARN -> instance ID.
	pending map[string]map[string]string
	// results maps container instance ARN -> answer, until the instance's reconcile takes it.
	results map[string]drainResult
}

// drainResult is ECS's answer to one container instance's DRAINING request.
type drainResult struct {
	at time.Time
	// failure is ECS's failure reason, "" on success.
	failure string
}

func newDrainBatcher(c *Controller) *drainBatcher {
	return &drainBatcher{c: c, pending: map[string]map[string]string{}, results: map[string]drainResult{}}
}

// request files a DRAINING request (idempotent while one is pending).
func (b *drainBatcher) request(cluster, arn, id string) {
	b.mu.Lock()
	if b.pending[cluster] == nil {
		b.pending[cluster] = map[string]string{}
	}
	b.pending[cluster][arn] = id
	n := len(b.pending[cluster])
	b.mu.Unlock()
	b.c.schedule(item{kind: kindDrain, name: cluster}, n >= awsapi.MaxUpdateContainerInstancesState)
}

// take returns and removes the answer for arn, if there is one.
func (b *drainBatcher) take(arn string) (drainResult, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.results[arn]
	delete(b.results, arn)
	return r, ok
}

// isPending reports whether a DRAINING request for arn is filed or in flight. Its answer is stored
// and the request dropped under one lock, so a reconcile never sees neither.
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

// resultTTL bounds how long a batch answer waits for the reconcile it was for. Answers are taken
// within a batch window or so; one still there after many polls belongs to an instance that was
// forgotten meanwhile.
func (c *Controller) resultTTL() time.Duration { return 10 * c.cfg.PollInterval }

// flush sets every pending container instance of cluster DRAINING, 10 per call.
func (b *drainBatcher) flush(ctx context.Context, cluster string) (result, error) {
	b.mu.Lock()
	pending := maps.Clone(b.pending[cluster])
	cutoff := b.c.clock.Now().Add(-b.c.resultTTL())
	maps.DeleteFunc(b.results, func(_ string, r drainResult) bool { return r.at.Before(cutoff) })
	b.mu.Unlock()
	c := b.c
	log := logr.FromContextOrDiscard(ctx).WithValues("cluster", cluster)
	for chunk := range slices.Chunk(slices.Sorted(maps.Keys(pending)), awsapi.MaxUpdateContainerInstancesState) {
		at := c.clock.Now()
		var resp *ecs.UpdateContainerInstancesStateOutput
		err := c.write(ctx, "set container instances DRAINING", []any{"cluster", cluster, "containerInstanceArns", chunk},
			func(ctx context.Context) error {
				var err error
				resp, err = c.ecs.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
					Cluster:            aws.String(cluster),
					ContainerInstances: chunk,
					Status:             ecstypes.ContainerInstanceStatusDraining,
				})
				return err
			})
		if err != nil {
			// The chunks already sent stay answered; this one and the rest stay pending and the
			// batch item is retried with backoff. Waiting instances look again after a poll.
			return result{}, fmt.Errorf("setting %d container instances DRAINING in cluster %s: %w", len(chunk), cluster, err)
		}
		failures := map[string]string{}
		if resp != nil {
			answered := map[string]bool{}
			var updated []ciEntry
			for _, ci := range resp.ContainerInstances {
				e := toEntry(ci, at)
				updated = append(updated, e)
				answered[e.arn] = true
			}
			c.snap.put(cluster, updated...)
			for _, f := range resp.Failures {
				failures[aws.ToString(f.Arn)] = strings.TrimSpace(aws.ToString(f.Reason) + " " + aws.ToString(f.Detail))
			}
			for _, arn := range chunk {
				if !answered[arn] {
					// Not described back: read it again rather than trust the old status.
					c.snap.invalidate(cluster, arn)
				}
			}
		}
		b.mu.Lock()
		for _, arn := range chunk {
			b.results[arn] = drainResult{at: at, failure: failures[arn]}
			delete(b.pending[cluster], arn)
		}
		if len(b.pending[cluster]) == 0 {
			delete(b.pending, cluster)
		}
		b.mu.Unlock()
		if len(failures) > 0 {
			log.V(1).Info("ECS refused DRAINING for some container instances", "failures", failures)
		}
		for _, arn := range chunk {
			c.enqueueInstance(pending[arn])
		}
	}
	return result{}, nil
}

// taskInfo is what the controller needs of one task.
type taskInfo struct {
	arn           string
	lastStatus    string
	desiredStatus string
	group         string
	startedBy     string
	describedAt   time.Time
}

// service reports whether a service started the task, and which one. Service tasks carry
// startedBy "ecs-svc/<deployment>" and group "service:<name>"; standalone tasks (RunTask,
// StartTask) default to group "family:<family>".
func (t taskInfo) service() (name string, ok bool) {
	if name, ok := strings.CutPrefix(t.group, "service:"); ok {
		return name, true
	}
	return "", strings.HasPrefix(t.startedBy, "ecs-svc/")
}

func toTaskInfo(t ecstypes.Task, at time.Time) taskInfo {
	return taskInfo{
		arn:           aws.ToString(t.TaskArn),
		lastStatus:    aws.ToString(t.LastStatus),
		desiredStatus: aws.ToString(t.DesiredStatus),
		group:         aws.ToString(t.Group),
		startedBy:     aws.ToString(t.StartedBy),
		describedAt:   at,
	}
}

// taskBatcher coalesces DescribeTasks per cluster across instances (up to 100 tasks a call) for the
// final "every task STOPPED" check, the same way drainBatcher coalesces DRAINING.
type taskBatcher struct {
	c *Controller

	mu sync.Mutex
	// pending maps cluster -> task ARN -> the instances waiting for it.
	pending map[string]map[string]map[string]bool
	// results maps task ARN -> latest description, until the instance forgets it.
	results map[string]taskInfo
}

func newTaskBatcher(c *Controller) *taskBatcher {
	return &taskBatcher{c: c, pending: map[string]map[string]map[string]bool{}, results: map[string]taskInfo{}}
}

// request files a describe of arns for instance id.
func (b *taskBatcher) request(cluster string, arns []string, id string) {
	b.mu.Lock()
	if b.pending[cluster] == nil {
		b.pending[cluster] = map[string]map[string]bool{}
	}
	for _, a := range arns {
		if b.pending[cluster][a] == nil {
			b.pending[cluster][a] = map[string]bool{}
		}
		b.pending[cluster][a][id] = true
	}
	n := len(b.pending[cluster])
	b.mu.Unlock()
	b.c.schedule(item{kind: kindTasks, name: cluster}, n >= awsapi.MaxDescribeTasks)
}

// lookup returns the descriptions of arns if all were described at or after notBefore.
func (b *taskBatcher) lookup(arns []string, notBefore time.Time) ([]taskInfo, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]taskInfo, 0, len(arns))
	for _, a := range arns {
		t, ok := b.results[a]
		if !ok || t.describedAt.Before(notBefore) {
			return nil, false
		}
		out = append(out, t)
	}
	return out, true
}

// forget drops the descriptions of arns.
func (b *taskBatcher) forget(arns []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range arns {
		delete(b.results, a)
	}
}

// flush describes every pending task of cluster, 100 per call.
func (b *taskBatcher) flush(ctx context.Context, cluster string) (result, error) {
	b.mu.Lock()
	pending := maps.Clone(b.pending[cluster])
	cutoff := b.c.clock.Now().Add(-b.c.resultTTL())
	maps.DeleteFunc(b.results, func(_ string, t taskInfo) bool { return t.describedAt.Before(cutoff) })
	b.mu.Unlock()
	c := b.c
	for chunk := range slices.Chunk(slices.Sorted(maps.Keys(pending)), awsapi.MaxDescribeTasks) {
		infos, err := c.describeTasks(ctx, cluster, chunk)
		if err != nil {
			return result{}, err
		}
		waiting := map[string]bool{}
		b.mu.Lock()
		for _, t := range infos {
			b.results[t.arn] = t
		}
		for _, a := range chunk {
			for id := range b.pending[cluster][a] {
				waiting[id] = true
			}
			delete(b.pending[cluster], a)
		}
		if len(b.pending[cluster]) == 0 {
			delete(b.pending, cluster)
		}
		b.mu.Unlock()
		for id := range waiting {
			c.enqueueInstance(id)
		}
	}
	return result{}, nil
}

// describeTasks describes arns in chunks of 100. A task ECS no longer knows (MISSING: stopped
// longer ago than ECS keeps stopped tasks) is reported STOPPED; one left out of the answer
// otherwise is an error.
func (c *Controller) describeTasks(ctx context.Context, cluster string, arns []string) ([]taskInfo, error) {
	out := make([]taskInfo, 0, len(arns))
	for chunk := range slices.Chunk(arns, awsapi.MaxDescribeTasks) {
		at := c.clock.Now()
		resp, err := c.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: chunk})
		if err != nil {
			return nil, fmt.Errorf("describing %d tasks in cluster %s: %w", len(chunk), cluster, err)
		}
		seen := map[string]bool{}
		for _, t := range resp.Tasks {
			info := toTaskInfo(t, at)
			seen[info.arn] = true
			out = append(out, info)
		}
		// Only a MISSING failure says a task is long gone; a task left out of the answer otherwise
		// may well be running, so that is an error to retry, never a STOPPED.
		missing := missingFailures(resp.Failures)
		for _, a := range chunk {
			switch {
			case seen[a]:
			case missing[a]:
				out = append(out, taskInfo{arn: a, lastStatus: taskStopped, desiredStatus: taskStopped, describedAt: at})
			default:
				return nil, fmt.Errorf("describing tasks in cluster %s: %s left out of the answer (%s)", cluster, a, failureReason(resp.Failures, a))
			}
		}
	}
	return out, nil
}

// listTasks lists the tasks on a container instance with the given desired status.
func (c *Controller) listTasks(ctx context.Context, cluster, ciArn string, desired ecstypes.DesiredStatus) ([]string, error) {
	var arns []string
	p := ecs.NewListTasksPaginator(c.ecs, &ecs.ListTasksInput{
		Cluster:           aws.String(cluster),
		ContainerInstance: aws.String(ciArn),
		DesiredStatus:     desired,
		MaxResults:        aws.Int32(awsapi.MaxECSListResults),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing %s tasks of container instance %s: %w", desired, ciArn, err)
		}
		arns = append(arns, page.TaskArns...)
	}
	return arns, nil
}
