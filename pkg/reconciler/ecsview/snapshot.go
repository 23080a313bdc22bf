package ecsview

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
)

// ContainerInstance is what the controller needs of one container instance, and when it was read.
type ContainerInstance struct {
	ARN     string
	EC2ID   string
	Status  ecstypes.ContainerInstanceStatus
	Running int32 // tasks with desiredStatus RUNNING
	Pending int32 // tasks in PENDING
	// DrainTag is the drain-started-at tag's value ("" if absent).
	DrainTag string
	// Missing: ECS reported the container instance MISSING (deregistered and gone).
	Missing bool
	// FetchedAt is when the read that produced it started.
	FetchedAt time.Time
}

// HoldsNoTask reports whether no task can run on the container instance: it is gone, deregistered,
// never made it, or not yet ACTIVE (tasks are placed on ACTIVE container instances only).
func (ci ContainerInstance) HoldsNoTask() bool {
	switch ci.Status {
	case awsapi.ContainerInstanceStatusInactive, ecstypes.ContainerInstanceStatusRegistrationFailed, ecstypes.ContainerInstanceStatusRegistering:
		return true
	}
	return ci.Missing
}

func toContainerInstance(ci ecstypes.ContainerInstance, at time.Time) ContainerInstance {
	e := ContainerInstance{
		ARN:       aws.ToString(ci.ContainerInstanceArn),
		EC2ID:     aws.ToString(ci.Ec2InstanceId),
		Status:    ecstypes.ContainerInstanceStatus(aws.ToString(ci.Status)),
		Running:   ci.RunningTasksCount,
		Pending:   ci.PendingTasksCount,
		FetchedAt: at,
	}
	for _, t := range ci.Tags {
		if aws.ToString(t.Key) == DrainStartedTagKey {
			e.DrainTag = aws.ToString(t.Value)
		}
	}
	return e
}

// ContainerInstance returns the container instance arn of cluster as read less than maxAge ago,
// refreshing every tracked container instance of the cluster (arn included) with one
// DescribeContainerInstances per 100 when it is older. Concurrent callers share one refresh.
func (v *View) ContainerInstance(ctx context.Context, cluster, arn string, maxAge time.Duration) (ContainerInstance, error) {
	return v.snap.get(ctx, cluster, arn, maxAge)
}

// LastRead returns the last read of a container instance without refreshing anything.
func (v *View) LastRead(cluster, arn string) (ContainerInstance, bool) {
	return v.snap.peek(cluster, arn)
}

// Invalidate makes the next ContainerInstance of arn read it again.
func (v *View) Invalidate(cluster, arn string) { v.snap.invalidate(cluster, arn) }

// snapshot shares container instance reads across instances: one DescribeContainerInstances call
// per 100 tracked container instances of a cluster refreshes them all, and reconciles read the
// result while it is fresh enough. So each poll of a cluster costs a call per 100 draining
// instances, whatever the number of reconciles.
type snapshot struct {
	v *View

	mu       sync.Mutex
	clusters map[string]*clusterSnapshot
}

type clusterSnapshot struct {
	mu      sync.Mutex
	tracked map[string]bool // container instance ARNs of watched instances
	entries map[string]ContainerInstance
	// inflight is closed when the refresh in progress ends; nil when none is.
	inflight chan struct{}
}

func newSnapshot(v *View) *snapshot {
	return &snapshot{v: v, clusters: map[string]*clusterSnapshot{}}
}

func (s *snapshot) cluster(name string) *clusterSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.clusters[name]
	if cs == nil {
		cs = &clusterSnapshot{tracked: map[string]bool{}, entries: map[string]ContainerInstance{}}
		s.clusters[name] = cs
	}
	return cs
}

// put records fresh entries (from a resolve or an update response) and tracks them.
func (s *snapshot) put(cluster string, entries ...ContainerInstance) {
	cs := s.cluster(cluster)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, e := range entries {
		cs.tracked[e.ARN] = true
		if old, ok := cs.entries[e.ARN]; ok && old.FetchedAt.After(e.FetchedAt) {
			continue
		}
		cs.entries[e.ARN] = e
	}
}

// setTag records a drain-started-at tag the controller just wrote.
func (s *snapshot) setTag(cluster, arn, value string) {
	cs := s.cluster(cluster)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if e, ok := cs.entries[arn]; ok {
		e.DrainTag = value
		cs.entries[arn] = e
	}
}

// invalidate makes the next get of arn read it again.
func (s *snapshot) invalidate(cluster, arn string) {
	cs := s.cluster(cluster)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.entries, arn)
}

// untrack stops refreshing arn (its instance is done).
func (s *snapshot) untrack(cluster, arn string) {
	cs := s.cluster(cluster)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.tracked, arn)
	delete(cs.entries, arn)
}

// peek returns the last read of a container instance without refreshing anything.
func (s *snapshot) peek(cluster, arn string) (ContainerInstance, bool) {
	s.mu.Lock()
	cs := s.clusters[cluster]
	s.mu.Unlock()
	if cs == nil {
		return ContainerInstance{}, false
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	e, ok := cs.entries[arn]
	return e, ok
}

// get returns arn's entry if it is younger than maxAge, and otherwise refreshes every tracked
// container instance of the cluster (arn included) and returns the new entry. Concurrent callers
// share one refresh.
func (s *snapshot) get(ctx context.Context, cluster, arn string, maxAge time.Duration) (ContainerInstance, error) {
	cs := s.cluster(cluster)
	for {
		now := s.v.d.Clock.Now()
		cs.mu.Lock()
		e, ok := cs.entries[arn]
		if ok && now.Sub(e.FetchedAt) < maxAge {
			cs.mu.Unlock()
			return e, nil
		}
		if ch := cs.inflight; ch != nil {
			cs.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ContainerInstance{}, fmt.Errorf("waiting for container instances of cluster %s: %w", cluster, ctx.Err())
			}
		}
		return s.refresh(ctx, cs, cluster, arn)
	}
}

// refresh describes every tracked container instance of the cluster and arn; called with cs.mu
// held, which it releases.
func (s *snapshot) refresh(ctx context.Context, cs *clusterSnapshot, cluster, arn string) (ContainerInstance, error) {
	cs.tracked[arn] = true
	arns := make([]string, 0, len(cs.tracked))
	for a := range cs.tracked {
		arns = append(arns, a)
	}
	ch := make(chan struct{})
	cs.inflight = ch
	cs.mu.Unlock()

	slices.Sort(arns) // stable batches make logs and tests readable
	entries, err := s.v.describeContainerInstances(ctx, cluster, arns)

	cs.mu.Lock()
	cs.inflight = nil
	close(ch)
	if err == nil {
		for _, e := range entries {
			if cs.tracked[e.ARN] {
				cs.entries[e.ARN] = e
			}
		}
	}
	cs.mu.Unlock()
	if err != nil {
		return ContainerInstance{}, err
	}
	for _, e := range entries {
		if e.ARN == arn {
			return e, nil
		}
	}
	return ContainerInstance{}, fmt.Errorf("describing container instance %s: not in the answer", arn)
}

// describeContainerInstances describes arns (with tags) in chunks of 100. Container instances ECS
// reports MISSING, or all of them if the cluster no longer exists, come back with Missing set; one
// left out of the answer otherwise is an error.
func (v *View) describeContainerInstances(ctx context.Context, cluster string, arns []string) ([]ContainerInstance, error) {
	out := make([]ContainerInstance, 0, len(arns))
	for chunk := range slices.Chunk(arns, awsapi.MaxDescribeContainerInstances) {
		at := v.d.Clock.Now()
		resp, err := v.d.ECS.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
			Cluster:            aws.String(cluster),
			ContainerInstances: chunk,
			Include:            []ecstypes.ContainerInstanceField{ecstypes.ContainerInstanceFieldTags},
		})
		if awsapi.IsClusterNotFound(err) {
			for _, a := range chunk {
				out = append(out, ContainerInstance{ARN: a, Missing: true, FetchedAt: at})
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("describing %d container instances in cluster %s: %w", len(chunk), cluster, err)
		}
		got := make([]ContainerInstance, 0, len(resp.ContainerInstances))
		for _, ci := range resp.ContainerInstances {
			got = append(got, toContainerInstance(ci, at))
		}
		// Only a MISSING failure says a container instance is gone (and completes its instance as
		// not registered); anything else left out of the answer is an error to retry.
		err = eachMissing(chunk, got, func(ci ContainerInstance) string { return ci.ARN }, resp.Failures, func(a string) {
			got = append(got, ContainerInstance{ARN: a, Missing: true, FetchedAt: at})
		})
		if err != nil {
			return nil, fmt.Errorf("describing container instances in cluster %s: %w", cluster, err)
		}
		out = append(out, got...)
	}
	return out, nil
}

// eachMissing checks a describe answer against what was asked: for each ARN asked for and not
// described, it calls missing if ECS reported it MISSING, and otherwise fails. Describe answers are
// trusted only for what they say.
func eachMissing[T any](asked []string, described []T, arnOf func(T) string, failures []ecstypes.Failure, missing func(arn string)) error {
	seen := make(map[string]bool, len(described))
	for _, d := range described {
		seen[arnOf(d)] = true
	}
	gone := map[string]bool{}
	for _, f := range failures {
		if aws.ToString(f.Reason) == awsapi.FailureMissing {
			gone[aws.ToString(f.Arn)] = true
		}
	}
	for _, a := range asked {
		switch {
		case seen[a]:
		case gone[a]:
			missing(a)
		default:
			return fmt.Errorf("%s left out of the answer (%s)", a, failureReason(failures, a))
		}
	}
	return nil
}

// failureReason is ECS's failure reason for arn, for an error message.
func failureReason(failures []ecstypes.Failure, arn string) string {
	for _, f := range failures {
		if aws.ToString(f.Arn) == arn {
			return strings.TrimSpace("failure " + aws.ToString(f.Reason) + " " + aws.ToString(f.Detail))
		}
	}
	return "no failure given"
}
