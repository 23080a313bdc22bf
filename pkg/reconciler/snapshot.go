package reconciler

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

// Container instance statuses.
const (
	ciActive             = "ACTIVE"
	ciDraining           = "DRAINING"
	ciInactive           = "INACTIVE"
	ciRegistering        = "REGISTERING"
	ciDeregistering      = "DEREGISTERING"
	ciRegistrationFailed = "REGISTRATION_FAILED"
)

// ciEntry is what the controller needs of one container instance, and when it was read.
type ciEntry struct {
	arn     string
	ec2ID   string
	status  string
	running int32 // tasks with desiredStatus RUNNING
	pending int32 // tasks in PENDING
	// drainTag is the drain-started-at tag's value ("" if absent).
	drainTag string
	// missing: ECS reported the container instance MISSING (deregistered and gone).
	missing bool
	// fetchedAt is when the read that produced the entry started.
	fetchedAt time.Time
}

func toEntry(ci ecstypes.ContainerInstance, at time.Time) ciEntry {
	e := ciEntry{
		arn:       aws.ToString(ci.ContainerInstanceArn),
		ec2ID:     aws.ToString(ci.Ec2InstanceId),
		status:    aws.ToString(ci.Status),
		running:   ci.RunningTasksCount,
		pending:   ci.PendingTasksCount,
		fetchedAt: at,
	}
	for _, t := range ci.Tags {
		if aws.ToString(t.Key) == DrainStartedTagKey {
			e.drainTag = aws.ToString(t.Value)
		}
	}
	return e
}

// snapshot shares container instance reads across instances: one DescribeContainerInstances call
// per 100 tracked container instances of a cluster refreshes them all, and reconciles read the
// result while it is fresh enough. So each poll of a cluster costs a call per 100 draining
// instances, whatever the number of reconciles.
type snapshot struct {
	c *Controller

	mu       sync.Mutex
	clusters map[string]*clusterSnapshot
}

type clusterSnapshot struct {
	mu      sync.Mutex
	tracked map[string]bool // container instance ARNs of watched instances
	entries map[string]ciEntry
	// inflight is closed when the refresh in progress ends; nil when none is.
	inflight chan struct{}
}

func newSnapshot(c *Controller) *snapshot {
	return &snapshot{c: c, clusters: map[string]*clusterSnapshot{}}
}

func (s *snapshot) cluster(name string) *clusterSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.clusters[name]
	if cs == nil {
		cs = &clusterSnapshot{tracked: map[string]bool{}, entries: map[string]ciEntry{}}
		s.clusters[name] = cs
	}
	return cs
}

// put records fresh entries (from a resolve or an update response) and tracks them.
func (s *snapshot) put(cluster string, entries ...ciEntry) {
	cs := s.cluster(cluster)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, e := range entries {
		cs.tracked[e.arn] = true
		if old, ok := cs.entries[e.arn]; ok && old.fetchedAt.After(e.fetchedAt) {
			continue
		}
		cs.entries[e.arn] = e
	}
}

// setTag records a drain-started-at tag the controller just wrote.
func (s *snapshot) setTag(cluster, arn, value string) {
	cs := s.cluster(cluster)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if e, ok := cs.entries[arn]; ok {
		e.drainTag = value
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

// get returns arn's entry if it is younger than maxAge, and otherwise refreshes every tracked
// container instance of the cluster (arn included) and returns the new entry. Concurrent callers
// share one refresh.
func (s *snapshot) get(ctx context.Context, cluster, arn string, maxAge time.Duration) (ciEntry, error) {
	cs := s.cluster(cluster)
	for {
		now := s.c.clock.Now()
		cs.mu.Lock()
		e, ok := cs.entries[arn]
		if ok && now.Sub(e.fetchedAt) < maxAge {
			cs.mu.Unlock()
			return e, nil
		}
		if ch := cs.inflight; ch != nil {
			cs.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ciEntry{}, fmt.Errorf("waiting for container instances of cluster %s: %w", cluster, ctx.Err())
			}
		}
		cs.tracked[arn] = true
		arns := make([]string, 0, len(cs.tracked))
		for a := range cs.tracked {
			arns = append(arns, a)
		}
		ch := make(chan struct{})
		cs.inflight = ch
		cs.mu.Unlock()

		slices.Sort(arns) // stable batches make logs and tests readable
		entries, err := s.c.describeContainerInstances(ctx, cluster, arns)

		cs.mu.Lock()
		cs.inflight = nil
		close(ch)
		if err == nil {
			for _, e := range entries {
				if cs.tracked[e.arn] {
					cs.entries[e.arn] = e
				}
			}
		}
		cs.mu.Unlock()
		if err != nil {
			return ciEntry{}, err
		}
		for _, e := range entries {
			if e.arn == arn {
				return e, nil
			}
		}
		return ciEntry{}, fmt.Errorf("describing container instance %s: not in the answer", arn)
	}
}

// describeContainerInstances describes arns (with tags) in chunks of 100. Container instances ECS
// reports MISSING, or all of them if the cluster no longer exists, come back with missing set; one
// left out of the answer otherwise is an error.
func (c *Controller) describeContainerInstances(ctx context.Context, cluster string, arns []string) ([]ciEntry, error) {
	out := make([]ciEntry, 0, len(arns))
	for chunk := range slices.Chunk(arns, awsapi.MaxDescribeContainerInstances) {
		at := c.clock.Now()
		resp, err := c.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
			Cluster:            aws.String(cluster),
			ContainerInstances: chunk,
			Include:            []ecstypes.ContainerInstanceField{ecstypes.ContainerInstanceFieldTags},
		})
		if awsapi.IsClusterNotFound(err) {
			for _, a := range chunk {
				out = append(out, ciEntry{arn: a, missing: true, fetchedAt: at})
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("describing %d container instances in cluster %s: %w", len(chunk), cluster, err)
		}
		seen := make(map[string]bool, len(chunk))
		for _, ci := range resp.ContainerInstances {
			e := toEntry(ci, at)
			seen[e.arn] = true
			out = append(out, e)
		}
		// Only a MISSING failure says a container instance is gone (and completes its instance as
		// not registered); anything else left out of the answer is an error to retry.
		missing := missingFailures(resp.Failures)
		for _, a := range chunk {
			switch {
			case seen[a]:
			case missing[a]:
				out = append(out, ciEntry{arn: a, missing: true, fetchedAt: at})
			default:
				return nil, fmt.Errorf("describing container instances in cluster %s: %s left out of the answer (%s)", cluster, a, failureReason(resp.Failures, a))
			}
		}
	}
	return out, nil
}

// failureMissing is the ECS failure reason for an ARN or ID that does not exist.
// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/api_failures_messages.html
const failureMissing = "MISSING"

// missingFailures returns the ARNs ECS reported MISSING.
func missingFailures(failures []ecstypes.Failure) map[string]bool {
	missing := map[string]bool{}
	for _, f := range failures {
		if aws.ToString(f.Reason) == failureMissing {
			missing[aws.ToString(f.Arn)] = true
		}
	}
	return missing
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
