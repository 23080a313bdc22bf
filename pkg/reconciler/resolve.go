package reconciler

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/go-logr/logr"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
)

// resolver finds where newly seen instances are registered, for all of them at once. Nothing in
// ECS maps an EC2 instance to its container instance except the cluster query language, so per
// cluster it lists `ec2InstanceId in [...]` (100 IDs a call) and describes what it finds. Clusters
// where other instances of the same group were found are asked first; only what is still missing is
// looked for everywhere. The describe answers seed the snapshot, so a resolved instance costs no
// further read before its first decision.
type resolver struct {
	c *Controller

	mu sync.Mutex
	// pending maps instance IDs waiting to be looked up to their group.
	pending map[string]string
	// clusters is the ListClusters answer (or --clusters) and when it was read.
	clusters   []string
	clustersAt time.Time
}

func newResolver(c *Controller) *resolver {
	return &resolver{c: c, pending: map[string]string{}}
}

// request queues an instance for the next lookup batch.
func (r *resolver) request(id, asg string) {
	r.mu.Lock()
	r.pending[id] = asg
	n := len(r.pending)
	r.mu.Unlock()
	r.c.schedule(item{kind: kindResolve}, n >= awsapi.MaxInstanceIDFilter)
}

// forget drops a pending lookup (the instance is no longer watched).
func (r *resolver) forget(id string) {
	r.mu.Lock()
	delete(r.pending, id)
	r.mu.Unlock()
}

// flush resolves every pending instance.
func (r *resolver) flush(ctx context.Context) (result, error) {
	r.mu.Lock()
	pending := maps.Clone(r.pending)
	r.mu.Unlock()
	if len(pending) == 0 {
		return result{}, nil
	}
	c := r.c
	log := logr.FromContextOrDiscard(ctx)

	found := map[string]ciEntry{}         // instance ID -> entry
	foundIn := map[string]string{}        // instance ID -> cluster
	asked := map[string]map[string]bool{} // cluster -> instance IDs already asked there
	// failed holds the clusters that could not be searched this time (not allowed, or an error).
	// While any did, an instance found nowhere else may be registered there: it is left unknown, not
	// completed as "not registered" with its tasks running; its drain timeout still applies.
	failed := map[string]error{}
	lookup := func(cluster string, ids []string) {
		if failed[cluster] != nil {
			return
		}
		if asked[cluster] == nil {
			asked[cluster] = map[string]bool{}
		}
		var todo []string
		for _, id := range ids {
			if _, ok := found[id]; !ok && !asked[cluster][id] {
				todo = append(todo, id)
				asked[cluster][id] = true
			}
		}
		if len(todo) == 0 {
			return
		}
		entries, err := c.findContainerInstances(ctx, cluster, todo)
		if err != nil {
			failed[cluster] = err
			return
		}
		for _, e := range entries {
			found[e.ec2ID] = e
			foundIn[e.ec2ID] = cluster
		}
	}

	// lookupByHint asks, for each pending instance not found yet, the clusters its group's
	// instances were found in.
	lookupByHint := func(hints map[string]map[string]bool) {
		byHint := map[string][]string{}
		for _, id := range r.unfound(pending, found) {
			for cl := range hints[pending[id]] {
				byHint[cl] = append(byHint[cl], id)
			}
		}
		for _, cl := range slices.Sorted(maps.Keys(byHint)) {
			lookup(cl, byHint[cl])
		}
	}

	// First the clusters each group's instances were found in before.
	c.mu.Lock()
	known := map[string]map[string]bool{}
	for _, asg := range pending {
		known[asg] = maps.Clone(c.clusterHints[asg])
	}
	c.mu.Unlock()
	lookupByHint(known)

	// Then every cluster, for one instance of each group still unplaced (a group's instances
	// normally all join one cluster), and the group's other instances where it was found: so a cold
	// start over many clusters costs a call per cluster, not one per cluster per 100 instances.
	// Then every cluster for whatever is left; if some are still missing and the cluster list is
	// not brand new, read it again once and ask only the clusters that are new.
	probe := map[string]string{} // group -> the instance asked for it
	for _, id := range r.unfound(pending, found) {
		if _, ok := probe[pending[id]]; !ok {
			probe[pending[id]] = id
		}
	}
	for attempt := 0; attempt < 3; attempt++ {
		rest := r.unfound(pending, found)
		if attempt == 0 {
			rest = slices.Sorted(maps.Values(probe))
		}
		if len(rest) == 0 {
			break
		}
		clusters, refreshed, err := r.clusterList(ctx, attempt > 1)
		if err != nil {
			return result{}, err
		}
		if attempt > 1 && !refreshed {
			break
		}
		for _, cl := range clusters {
			lookup(cl, rest)
		}
		if attempt == 0 {
			learned := map[string]map[string]bool{}
			for asg, id := range probe {
				if cl, ok := foundIn[id]; ok {
					learned[asg] = map[string]bool{cl: true}
				}
			}
			lookupByHint(learned)
		}
	}

	// Publish: found instances are tracked in the snapshot. The rest are not registered anywhere if
	// every cluster answered; otherwise they stay unknown and are looked up again at their next
	// reconcile.
	byCluster := map[string][]ciEntry{}
	for id, e := range found {
		byCluster[foundIn[id]] = append(byCluster[foundIn[id]], e)
	}
	for cl, entries := range byCluster {
		c.snap.put(cl, entries...)
	}
	c.mu.Lock()
	for id, asg := range pending {
		inst := c.instances[id]
		if inst == nil {
			continue
		}
		if e, ok := found[id]; ok {
			inst.mapping = mapping{state: mapFound, cluster: foundIn[id], arn: e.arn}
			if c.clusterHints[asg] == nil {
				c.clusterHints[asg] = map[string]bool{}
			}
			c.clusterHints[asg][foundIn[id]] = true
		} else if len(failed) == 0 {
			inst.mapping = mapping{state: mapNotFound}
		}
	}
	c.mu.Unlock()
	r.mu.Lock()
	for id := range pending {
		delete(r.pending, id)
	}
	r.mu.Unlock()
	log.V(1).Info("Resolved container instances", "instances", len(pending), "found", len(found), "clustersFailed", len(failed))
	for id := range pending {
		c.enqueueInstance(id)
	}

	var errs []error
	for _, cl := range slices.Sorted(maps.Keys(failed)) {
		err := failed[cl]
		if awsapi.IsAccessDenied(err) {
			// IAM scopes container-instance actions by cluster (the ecs:cluster condition). Said
			// once, not retried as an error: only a policy change fixes it. Instances not found
			// elsewhere wait (heartbeats continue) until their drain timeout.
			c.warnOnce(log, "access-denied/"+cl, "Not allowed to look for container instances in a cluster; instances not found in another cluster wait for the drain timeout. Allow the cluster in the IAM policy, or leave it out of --clusters (instances outside --clusters are treated as not registered)",
				"cluster", cl, "error", err.Error())
			continue
		}
		c.clearWarning("access-denied/" + cl)
		errs = append(errs, err)
	}
	for cl := range asked {
		if failed[cl] == nil {
			c.clearWarning("access-denied/" + cl)
		}
	}
	return result{}, errors.Join(errs...)
}

func (r *resolver) unfound(pending map[string]string, found map[string]ciEntry) []string {
	var rest []string
	for id := range pending {
		if _, ok := found[id]; !ok {
			rest = append(rest, id)
		}
	}
	slices.Sort(rest)
	return rest
}

// clusterList returns the clusters to search: --clusters, or ListClusters cached for
// clusterListTTL. With refresh it reads the list again unless it was read within the last poll
// interval, and reports whether it did.
func (r *resolver) clusterList(ctx context.Context, refresh bool) ([]string, bool, error) {
	c := r.c
	if len(c.cfg.Clusters) > 0 {
		return c.cfg.Clusters, false, nil
	}
	now := c.clock.Now()
	r.mu.Lock()
	cached, at := r.clusters, r.clustersAt
	r.mu.Unlock()
	fresh := !at.IsZero() && now.Sub(at) < clusterListTTL
	if fresh && (!refresh || now.Sub(at) < c.cfg.PollInterval) {
		return cached, false, nil
	}
	var clusters []string
	p := ecs.NewListClustersPaginator(c.ecs, &ecs.ListClustersInput{MaxResults: aws.Int32(awsapi.MaxECSListResults)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("listing ECS clusters: %w", err)
		}
		clusters = append(clusters, page.ClusterArns...)
	}
	r.mu.Lock()
	r.clusters, r.clustersAt = clusters, now
	r.mu.Unlock()
	return clusters, true, nil
}

// findContainerInstances returns the container instances of cluster registered for any of ids
// (status other than INACTIVE), described. A cluster that no longer exists holds none.
func (c *Controller) findContainerInstances(ctx context.Context, cluster string, ids []string) ([]ciEntry, error) {
	var arns []string
	for chunk := range slices.Chunk(ids, awsapi.MaxInstanceIDFilter) {
		p := ecs.NewListContainerInstancesPaginator(c.ecs, &ecs.ListContainerInstancesInput{
			Cluster:    aws.String(cluster),
			Filter:     aws.String(instanceFilter(chunk)),
			MaxResults: aws.Int32(awsapi.MaxECSListResults),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if awsapi.IsClusterNotFound(err) {
				return nil, nil
			}
			if err != nil {
				return nil, fmt.Errorf("listing container instances of %d instances in cluster %s: %w", len(chunk), cluster, err)
			}
			arns = append(arns, page.ContainerInstanceArns...)
		}
	}
	if len(arns) == 0 {
		return nil, nil
	}
	entries, err := c.describeContainerInstances(ctx, cluster, arns)
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	out := entries[:0]
	for _, e := range entries {
		// An INACTIVE container instance is a past registration, not where the instance lives.
		if !e.missing && e.status != ciInactive && want[e.ec2ID] {
			out = append(out, e)
		}
	}
	return out, nil
}

// instanceFilter is the cluster query language expression matching these EC2 instance IDs.
func instanceFilter(ids []string) string {
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = "'" + id + "'"
	}
	return "ec2InstanceId in [" + strings.Join(quoted, ", ") + "]"
}
