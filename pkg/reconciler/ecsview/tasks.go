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

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
)

// daemonCacheTTL is how long a service's scheduling strategy is reused. The strategy of a service
// cannot change, but a service can be deleted and created again under the same name.
const daemonCacheTTL = 10 * time.Minute

// Task is what the controller needs of one task.
type Task struct {
	ARN           string
	LastStatus    string
	DesiredStatus ecstypes.DesiredStatus
	Group         string
	StartedBy     string
	DescribedAt   time.Time
}

// Stopped reports whether the task reached STOPPED.
func (t Task) Stopped() bool { return t.LastStatus == awsapi.TaskStatusStopped }

// Service reports whether a service started the task, and which one. Service tasks carry
// startedBy "ecs-svc/<deployment>" and group "service:<name>"; standalone tasks (RunTask,
// StartTask) default to group "family:<family>".
func (t Task) Service() (name string, ok bool) {
	if name, ok := strings.CutPrefix(t.Group, "service:"); ok {
		return name, true
	}
	return "", strings.HasPrefix(t.StartedBy, "ecs-svc/")
}

func toTask(t ecstypes.Task, at time.Time) Task {
	return Task{
		ARN:           aws.ToString(t.TaskArn),
		LastStatus:    aws.ToString(t.LastStatus),
		DesiredStatus: ecstypes.DesiredStatus(aws.ToString(t.DesiredStatus)),
		Group:         aws.ToString(t.Group),
		StartedBy:     aws.ToString(t.StartedBy),
		DescribedAt:   at,
	}
}

// RequestTaskDescribe files a describe of arns for instance id in the cluster's next DescribeTasks
// batch; the instance is woken when it is answered.
func (v *View) RequestTaskDescribe(cluster string, arns []string, id string) {
	v.tasks.request(cluster, arns, id)
}

// TaskDescriptions returns the descriptions of arns if all were described at or after notBefore.
func (v *View) TaskDescriptions(arns []string, notBefore time.Time) ([]Task, bool) {
	return v.tasks.lookup(arns, notBefore)
}

// ForgetTasks drops the descriptions of arns.
func (v *View) ForgetTasks(arns []string) { v.tasks.forget(arns) }

// ListTasks lists the tasks on a container instance with the given desired status.
func (v *View) ListTasks(ctx context.Context, cluster, ciArn string, desired ecstypes.DesiredStatus) ([]string, error) {
	var arns []string
	p := ecs.NewListTasksPaginator(v.d.ECS, &ecs.ListTasksInput{
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

// TasksOn lists the tasks on a container instance with any of the desired statuses, described.
func (v *View) TasksOn(ctx context.Context, cluster, ciArn string, desired ...ecstypes.DesiredStatus) ([]Task, error) {
	var arns []string
	for _, d := range desired {
		a, err := v.ListTasks(ctx, cluster, ciArn, d)
		if err != nil {
			return nil, err
		}
		arns = append(arns, a...)
	}
	if len(arns) == 0 {
		return nil, nil
	}
	return v.describeTasks(ctx, cluster, arns)
}

// IsDaemonTask reports whether a task belongs to a service with the DAEMON scheduling strategy.
// Strategies are cached for daemonCacheTTL.
func (v *View) IsDaemonTask(ctx context.Context, cluster string, t Task) (bool, error) {
	name, ok := t.Service()
	if !ok || name == "" {
		return false, nil
	}
	key := cluster + "/" + name
	now := v.d.Clock.Now()
	if daemon, ok := v.daemons.get(key, now); ok {
		return daemon, nil
	}
	out, err := v.d.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}})
	if err != nil {
		return false, fmt.Errorf("describing service %s in cluster %s: %w", name, cluster, err)
	}
	daemon := false
	for _, s := range out.Services {
		if s.SchedulingStrategy == ecstypes.SchedulingStrategyDaemon {
			daemon = true
		}
	}
	v.daemons.put(key, daemon, now)
	return daemon, nil
}

// StopTask stops one task through the write door with reason as its stoppedReason, and returns the
// stoppedReason ECS answers with ("" in dry run). StopTask answers with the task as it is after the
// call; stopping a task already told to stop changes nothing, so another reason there means
// someone stopped it first.
func (v *View) StopTask(ctx context.Context, cluster, taskArn, reason string, kv []any) (stoppedReason string, err error) {
	var out *ecs.StopTaskOutput
	err = v.d.Write(ctx, "stop task", kv, func(ctx context.Context) error {
		var err error
		out, err = v.d.ECS.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(taskArn), Reason: aws.String(reason)})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("stopping task %s: %w", taskArn, err)
	}
	if out == nil || out.Task == nil {
		return reason, nil
	}
	return aws.ToString(out.Task.StoppedReason), nil
}

// daemonCache holds services' scheduling strategies (cluster + "/" + name).
type daemonCache struct {
	mu      sync.Mutex
	entries map[string]daemonEntry
}

type daemonEntry struct {
	daemon bool
	at     time.Time
}

func newDaemonCache() *daemonCache { return &daemonCache{entries: map[string]daemonEntry{}} }

func (d *daemonCache) get(key string, now time.Time) (daemon, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, known := d.entries[key]
	if !known || now.Sub(e.at) >= daemonCacheTTL {
		return false, false
	}
	return e.daemon, true
}

func (d *daemonCache) put(key string, daemon bool, now time.Time) {
	d.mu.Lock()
	d.entries[key] = daemonEntry{daemon: daemon, at: now}
	d.mu.Unlock()
}

func (d *daemonCache) prune(now time.Time) {
	d.mu.Lock()
	maps.DeleteFunc(d.entries, func(_ string, e daemonEntry) bool { return now.Sub(e.at) >= daemonCacheTTL })
	d.mu.Unlock()
}

// taskBatcher coalesces DescribeTasks per cluster across instances (up to 100 tasks a call) for the
// final "every task STOPPED" check, the same way drainBatcher coalesces DRAINING.
type taskBatcher struct {
	v *View

	mu sync.Mutex
	// pending maps cluster -> task ARN -> the instances waiting for it.
	pending map[string]map[string]map[string]bool
	// results maps task ARN -> latest description, until the instance forgets it.
	results map[string]Task
}

func newTaskBatcher(v *View) *taskBatcher {
	return &taskBatcher{v: v, pending: map[string]map[string]map[string]bool{}, results: map[string]Task{}}
}

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
	b.v.d.Schedule(Batch{Kind: BatchTasks, Cluster: cluster}, n >= awsapi.MaxDescribeTasks)
}

func (b *taskBatcher) lookup(arns []string, notBefore time.Time) ([]Task, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Task, 0, len(arns))
	for _, a := range arns {
		t, ok := b.results[a]
		if !ok || t.DescribedAt.Before(notBefore) {
			return nil, false
		}
		out = append(out, t)
	}
	return out, true
}

func (b *taskBatcher) forget(arns []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range arns {
		delete(b.results, a)
	}
}

// flush describes every pending task of cluster, 100 per call, the calls together.
func (b *taskBatcher) flush(ctx context.Context, cluster string) error {
	b.mu.Lock()
	pending := maps.Clone(b.pending[cluster])
	cutoff := b.v.resultCutoff()
	maps.DeleteFunc(b.results, func(_ string, t Task) bool { return t.DescribedAt.Before(cutoff) })
	b.mu.Unlock()
	chunks := slices.Collect(slices.Chunk(slices.Sorted(maps.Keys(pending)), awsapi.MaxDescribeTasks))
	return sendChunks(ctx, b.v, chunks, func(ctx context.Context, chunk []string) error {
		infos, err := b.v.describeTasks(ctx, cluster, chunk)
		if err != nil {
			return err
		}
		waiting := map[string]bool{}
		b.mu.Lock()
		for _, t := range infos {
			b.results[t.ARN] = t
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
			b.v.d.Wake(id)
		}
		return nil
	})
}

// describeTasks describes arns in chunks of 100. A task ECS no longer knows (MISSING: stopped
// longer ago than ECS keeps stopped tasks) is reported STOPPED; one left out of the answer
// otherwise may well be running, so that is an error to retry, never a STOPPED.
func (v *View) describeTasks(ctx context.Context, cluster string, arns []string) ([]Task, error) {
	out := make([]Task, 0, len(arns))
	for chunk := range slices.Chunk(arns, awsapi.MaxDescribeTasks) {
		at := v.d.Clock.Now()
		resp, err := v.d.ECS.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: chunk})
		if err != nil {
			return nil, fmt.Errorf("describing %d tasks in cluster %s: %w", len(chunk), cluster, err)
		}
		got := make([]Task, 0, len(resp.Tasks))
		for _, t := range resp.Tasks {
			got = append(got, toTask(t, at))
		}
		err = eachMissing(chunk, got, func(t Task) string { return t.ARN }, resp.Failures, func(a string) {
			got = append(got, Task{ARN: a, LastStatus: awsapi.TaskStatusStopped, DesiredStatus: ecstypes.DesiredStatusStopped, DescribedAt: at})
		})
		if err != nil {
			return nil, fmt.Errorf("describing tasks in cluster %s: %w", cluster, err)
		}
		out = append(out, got...)
	}
	return out, nil
}
