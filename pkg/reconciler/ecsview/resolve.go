package ecsview

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

// clusterListTTL is how long the ListClusters answer is reused. Clusters are created rarely, and
// an instance that is not found in any known cluster triggers an early refresh.
const clusterListTTL = 5 * time.Minute

// RegState says what is known of where an instance is registered in ECS.
type RegState uint8

const (
	// Unknown is not looked up yet, or a cluster could not be searched.
	Unknown RegState = iota
	// Found is registered as Registration.ARN in Registration.Cluster.
	Found
	// NotFound is no container instance in any cluster (never registered, or deregistered).
	NotFound
)

// Registration is where an EC2 instance is registered in ECS.
type Registration struct {
	State   RegState
	Cluster string
	ARN     string
}

// RequestRegistration files an instance of group asg for the next lookup batch; the instance is
// woken when it is answered.
func (v *View) RequestRegistration(id, asg string) { v.resolver.request(id, asg) }

// TakeRegistration returns and removes the answer of the lookup of id, if there is one: Found, or
// NotFound when every cluster answered. While a cluster cannot be searched there is none, and the
// instance asks again.
func (v *View) TakeRegistration(id string) (Registration, bool) { return v.resolver.take(id) }

// InstanceFilter is the cluster query language expression matching these EC2 instance IDs, as
// ListContainerInstances is asked it (at most awsapi.MaxInstanceIDFilter IDs).
func InstanceFilter(ids []string) string {
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = "'" + id + "'"
	}
	return "ec2InstanceId in [" + strings.Join(quoted, ", ") + "]"
}

// resolver finds where newly seen instances are registered, for all of them at once. Nothing in
// ECS maps an EC2 instance to its container instance except the cluster query language, so per
// cluster it lists `ec2InstanceId in [...]` (100 IDs a call) and describes what it finds. Clusters
// where other instances of the same group were found are asked first; only what is still missing is
// looked for everywhere. The describe answers seed the snapshot, so a resolved instance costs no
// further read before its first decision.
type resolver struct {
	v *View

	mu sync.Mutex
	// pending maps instance IDs waiting to be looked up to their group.
	pending map[string]string
	// answers holds the lookups answered, until the instance takes them.
	answers map[string]Registration
	// hints maps a group to the clusters its instances were found in, so later instances of the
	// group are looked up there first.
	hints map[string]map[string]bool
	// clusters is the ListClusters answer (or --clusters) and when it was read.
	clusters   []string
	clustersAt time.Time
}

func newResolver(v *View) *resolver {
	return &resolver{v: v, pending: map[string]string{}, answers: map[string]Registration{}, hints: map[string]map[string]bool{}}
}

// request queues an instance for the next lookup batch.
func (r *resolver) request(id, asg string) {
	r.mu.Lock()
	r.pending[id] = asg
	n := len(r.pending)
	r.mu.Unlock()
	r.v.d.Schedule(Batch{Kind: BatchResolve}, n >= awsapi.MaxInstanceIDFilter)
}

func (r *resolver) take(id string) (Registration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reg, ok := r.answers[id]
	delete(r.answers, id)
	return reg, ok
}

// forget drops a pending lookup and its answer (the instance is no longer watched).
func (r *resolver) forget(id string) {
	r.mu.Lock()
	delete(r.pending, id)
	delete(r.answers, id)
	r.mu.Unlock()
}

func (r *resolver) forgetGroup(asg string) {
	r.mu.Lock()
	delete(r.hints, asg)
	r.mu.Unlock()
}

// lookup is one flush's search: what was found where, what was asked where, and which clusters
// could not be searched. While any could not, an instance found nowhere else may be registered
// there: it is left unknown, not answered "not registered" with its tasks running; its drain
// timeout still applies.
type lookup struct {
	pending map[string]string            // instance ID -> group
	found   map[string]ContainerInstance // instance ID -> container instance
	foundIn map[string]string            // instance ID -> cluster
	asked   map[string]map[string]bool   // cluster -> instance IDs already asked there
	failed  map[string]error             // cluster -> why it could not be searched
}

// flush resolves every pending instance: first in the clusters each group's instances were found
// in before, then everywhere (probe), and publishes the answers.
func (r *resolver) flush(ctx context.Context) error {
	r.mu.Lock()
	pending := maps.Clone(r.pending)
	known := map[string]map[string]bool{}
	for _, asg := range pending {
		known[asg] = maps.Clone(r.hints[asg])
	}
	r.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	l := &lookup{pending: pending, found: map[string]ContainerInstance{}, foundIn: map[string]string{},
		asked: map[string]map[string]bool{}, failed: map[string]error{}}
	r.askByHint(ctx, l, known)
	if err := r.probe(ctx, l); err != nil {
		return err
	}
	r.publish(l)
	logr.FromContextOrDiscard(ctx).V(1).Info("Resolved container instances",
		"instances", len(pending), "found", len(l.found), "clustersFailed", len(l.failed))
	for id := range pending {
		r.v.d.Wake(id)
	}
	return r.clusterErrors(ctx, l)
}

// probe asks every cluster, first for one instance of each group still unplaced (a group's
// instances normally all join one cluster) and the group's other instances where it was found: so
// a cold start over many clusters costs a call per cluster, not one per cluster per 100 instances.
// Then every cluster for whatever is left; if some are still missing and the cluster list is not
// brand new, it reads the list again once and asks only the clusters that are new.
func (r *resolver) probe(ctx context.Context, l *lookup) error {
	probes := map[string]string{} // group -> the instance asked for it
	for _, id := range l.unfound() {
		if _, ok := probes[l.pending[id]]; !ok {
			probes[l.pending[id]] = id
		}
	}
	for attempt := range 3 {
		rest := l.unfound()
		if attempt == 0 {
			rest = slices.Sorted(maps.Values(probes))
		}
		if len(rest) == 0 {
			return nil
		}
		clusters, refreshed, err := r.clusterList(ctx, attempt > 1)
		if err != nil {
			return err
		}
		if attempt > 1 && !refreshed {
			return nil
		}
		for _, cl := range clusters {
			r.ask(ctx, l, cl, rest)
		}
		if attempt == 0 {
			learned := map[string]map[string]bool{}
			for asg, id := range probes {
				if cl, ok := l.foundIn[id]; ok {
					learned[asg] = map[string]bool{cl: true}
				}
			}
			r.askByHint(ctx, l, learned)
		}
	}
	return nil
}

// askByHint asks, for each pending instance not found yet, the clusters its group's instances were
// found in.
func (r *resolver) askByHint(ctx context.Context, l *lookup, hints map[string]map[string]bool) {
	byHint := map[string][]string{}
	for _, id := range l.unfound() {
		for cl := range hints[l.pending[id]] {
			byHint[cl] = append(byHint[cl], id)
		}
	}
	for _, cl := range slices.Sorted(maps.Keys(byHint)) {
		r.ask(ctx, l, cl, byHint[cl])
	}
}

// ask looks for the instances of ids not found yet and not asked there yet in one cluster.
func (r *resolver) ask(ctx context.Context, l *lookup, cluster string, ids []string) {
	if l.failed[cluster] != nil {
		return
	}
	if l.asked[cluster] == nil {
		l.asked[cluster] = map[string]bool{}
	}
	var todo []string
	for _, id := range ids {
		if _, ok := l.found[id]; !ok && !l.asked[cluster][id] {
			todo = append(todo, id)
			l.asked[cluster][id] = true
		}
	}
	if len(todo) == 0 {
		return
	}
	entries, err := r.v.findContainerInstances(ctx, cluster, todo)
	if err != nil {
		l.failed[cluster] = err
		return
	}
	for _, e := range entries {
		l.found[e.EC2ID] = e
		l.foundIn[e.EC2ID] = cluster
	}
}

// unfound are the pending instances not found yet, sorted.
func (l *lookup) unfound() []string {
	var rest []string
	for id := range l.pending {
		if _, ok := l.found[id]; !ok {
			rest = append(rest, id)
		}
	}
	slices.Sort(rest)
	return rest
}

// publish tracks the found container instances in the snapshot and answers the lookups: Found, or
// NotFound if every cluster answered; otherwise the rest stay unanswered and are asked again at
// their next reconcile.
func (r *resolver) publish(l *lookup) {
	byCluster := map[string][]ContainerInstance{}
	for id, e := range l.found {
		byCluster[l.foundIn[id]] = append(byCluster[l.foundIn[id]], e)
	}
	for cl, entries := range byCluster {
		r.v.snap.put(cl, entries...)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, asg := range l.pending {
		if _, still := r.pending[id]; !still {
			continue // forgotten meanwhile
		}
		delete(r.pending, id)
		if e, ok := l.found[id]; ok {
			cl := l.foundIn[id]
			r.answers[id] = Registration{State: Found, Cluster: cl, ARN: e.ARN}
			if r.hints[asg] == nil {
				r.hints[asg] = map[string]bool{}
			}
			r.hints[asg][cl] = true
		} else if len(l.failed) == 0 {
			r.answers[id] = Registration{State: NotFound}
		}
	}
}

// clusterErrors reports the clusters that could not be searched. AccessDenied is said once, not
// retried as an error: IAM scopes container-instance actions by cluster (the ecs:cluster
// condition), and only a policy change fixes it. Instances not found elsewhere wait (heartbeats
// continue) until their drain timeout.
func (r *resolver) clusterErrors(ctx context.Context, l *lookup) error {
	log := logr.FromContextOrDiscard(ctx)
	var errs []error
	for _, cl := range slices.Sorted(maps.Keys(l.failed)) {
		err := l.failed[cl]
		if awsapi.IsAccessDenied(err) {
			r.v.d.Warn(log, "access-denied/"+cl, "Not allowed to look for container instances in a cluster; instances not found in another cluster wait for the drain timeout. Allow the cluster in the IAM policy, or leave it out of --clusters (instances outside --clusters are treated as not registered)",
				"cluster", cl, "error", err.Error())
			continue
		}
		r.v.d.ClearWarning("access-denied/" + cl)
		errs = append(errs, err)
	}
	for cl := range l.asked {
		if l.failed[cl] == nil {
			r.v.d.ClearWarning("access-denied/" + cl)
		}
	}
	return errors.Join(errs...)
}

// clusterList returns the clusters to search: --clusters, or ListClusters cached for
// clusterListTTL. With refresh it reads the list again unless it was read within the last poll
// interval, and reports whether it did.
func (r *resolver) clusterList(ctx context.Context, refresh bool) ([]string, bool, error) {
	if len(r.v.d.Clusters) > 0 {
		return r.v.d.Clusters, false, nil
	}
	now := r.v.d.Clock.Now()
	r.mu.Lock()
	cached, at := r.clusters, r.clustersAt
	r.mu.Unlock()
	fresh := !at.IsZero() && now.Sub(at) < clusterListTTL
	if fresh && (!refresh || now.Sub(at) < r.v.d.PollInterval) {
		return cached, false, nil
	}
	var clusters []string
	p := ecs.NewListClustersPaginator(r.v.d.ECS, &ecs.ListClustersInput{MaxResults: aws.Int32(awsapi.MaxECSListResults)})
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
func (v *View) findContainerInstances(ctx context.Context, cluster string, ids []string) ([]ContainerInstance, error) {
	var arns []string
	for chunk := range slices.Chunk(ids, awsapi.MaxInstanceIDFilter) {
		p := ecs.NewListContainerInstancesPaginator(v.d.ECS, &ecs.ListContainerInstancesInput{
			Cluster:    aws.String(cluster),
			Filter:     aws.String(InstanceFilter(chunk)),
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
	entries, err := v.describeContainerInstances(ctx, cluster, arns)
	if err != nil {
		return nil, err
	}
	out := entries[:0]
	for _, e := range entries {
		// An INACTIVE container instance is a past registration, not where the instance lives.
		if !e.Missing && e.Status != awsapi.ContainerInstanceStatusInactive && slices.Contains(ids, e.EC2ID) {
			out = append(out, e)
		}
	}
	return out, nil
}
