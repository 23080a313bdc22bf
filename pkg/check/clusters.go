package check

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler"
)

const (
	actListClusters     = "ecs:ListClusters"
	actListCIs          = "ecs:ListContainerInstances"
	actDescribeCIs      = "ecs:DescribeContainerInstances"
	actListTasks        = "ecs:ListTasks"
	actDescribeTasks    = "ecs:DescribeTasks"
	actDescribeServices = "ecs:DescribeServices"

	// samplePerGroup is how many in-service instances of each group are looked up in ECS. A group's
	// instances normally all join one cluster (their launch template says which), so a few show
	// where, and the cost stays one ListContainerInstances per cluster per 33 groups.
	samplePerGroup = 3
	// probeTaskID and probeServiceName name nothing: describing them proves the permission (ECS
	// answers with a MISSING failure once IAM allowed the call) without reading anything real.
	probeTaskID      = "00000000000000000000000000000000"
	probeServiceName = "ecs-drainer-check-permission-probe"

	// ciInactive is the status of a deregistered container instance: a past registration, not
	// where the instance lives (the SDK has no constant for it).
	ciInactive = "INACTIVE"
)

// clusterSet is the clusters searched: every cluster of the account, and those --clusters names.
type clusterSet struct {
	ids     map[string]string // name -> identifier to call with (the ARN when listed)
	inScope map[string]bool   // names the controller looks in
	all     bool              // no --clusters: every cluster is in scope
}

func (s clusterSet) scoped(name string) bool { return s.all || s.inScope[name] }

// clusterName is the name in a cluster ARN (arn:aws:ecs:region:account:cluster/NAME), or s.
func clusterName(s string) string {
	if i := strings.LastIndex(s, "cluster/"); strings.HasPrefix(s, "arn:") && i >= 0 {
		return s[i+len("cluster/"):]
	}
	return s
}

// checkRegistration looks up a sample of each group's in-service instances in every cluster, says
// where they are registered and whether the controller would look there, and probes the ECS read
// permissions the controller needs in the clusters that hold them.
func (c *checker) checkRegistration(ctx context.Context, groups []*groupCheck) {
	set, ok := c.clusters(ctx)
	if !ok {
		return
	}
	owner := map[string]*groupCheck{}
	for _, g := range groups {
		sample := g.inService[:min(len(g.inService), samplePerGroup)]
		g.out.InstancesChecked = len(sample)
		for _, id := range sample {
			owner[id] = g
		}
	}
	ids := slices.Sorted(maps.Keys(owner))
	foundIn := map[string]string{} // instance ID -> cluster name
	holding := map[string]bool{}   // in-scope clusters holding a sampled instance
	unsearched := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(set.ids)) {
		if len(ids) == 0 {
			c.notChecked(actListCIs, "cluster "+name, "no in-service instance of a selected group to look up")
			continue
		}
		found, err := c.findInstances(ctx, set.ids[name], ids, set.scoped(name), "cluster "+name)
		if err != nil {
			unsearched[name] = true
			continue
		}
		for _, id := range found {
			foundIn[id] = name
			if set.scoped(name) {
				holding[name] = true
			}
		}
	}
	for _, g := range groups {
		c.judgeRegistration(g, set, foundIn, unsearched)
	}
	c.probeClusterReads(ctx, set, holding)
}

// clusters lists the account's clusters and adds --clusters. It reports false when there is
// nothing to search.
func (c *checker) clusters(ctx context.Context) (clusterSet, bool) {
	set := clusterSet{ids: map[string]string{}, inScope: map[string]bool{}, all: len(c.rcfg.Clusters) == 0}
	var listErr error
	p := ecs.NewListClustersPaginator(c.ecs, &ecs.ListClustersInput{MaxResults: aws.Int32(awsapi.MaxECSListResults)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			listErr = err
			break
		}
		for _, arn := range page.ClusterArns {
			set.ids[clusterName(arn)] = arn
		}
	}
	switch {
	case listErr == nil || set.all:
		c.permission(actListClusters, "*", listErr)
	default:
		// With --clusters the controller never lists clusters: only the search outside them suffers.
		c.addPermission(Permission{Action: actListClusters, Scope: "*", Result: resultOf(listErr), Code: errCode(listErr),
			Detail: "not needed with --clusters; clusters outside it were not searched: " + listErr.Error()})
	}
	for _, cl := range c.rcfg.Clusters {
		name := clusterName(cl)
		set.inScope[name] = true
		if _, listed := set.ids[name]; !listed {
			set.ids[name] = cl
			if listErr == nil {
				c.problem(SeverityWarning, "cluster-not-found", name, "--clusters names "+cl+", which is not a cluster of this account and region: the controller finds nothing there",
					clustersFix(slices.DeleteFunc(slices.Clone(c.rcfg.Clusters), func(s string) bool { return s == cl })))
			}
		}
	}
	return set, listErr == nil || !set.all
}

func resultOf(err error) string {
	if isDenied(err) {
		return PermDenied
	}
	return PermError
}

// findInstances returns which of ids are registered in cluster (any status but INACTIVE), as the
// controller looks them up: ListContainerInstances filtered by EC2 instance ID, then
// DescribeContainerInstances for the mapping. Permissions are recorded for in-scope clusters only:
// the controller never calls outside them.
func (c *checker) findInstances(ctx context.Context, cluster string, ids []string, scoped bool, scope string) ([]string, error) {
	record := func(action string, err error) {
		if scoped {
			c.permission(action, scope, err)
		}
	}
	var arns []string
	for chunk := range slices.Chunk(ids, awsapi.MaxInstanceIDFilter) {
		p := ecs.NewListContainerInstancesPaginator(c.ecs, &ecs.ListContainerInstancesInput{
			Cluster:    aws.String(cluster),
			Filter:     aws.String(reconciler.InstanceFilter(chunk)),
			MaxResults: aws.Int32(awsapi.MaxECSListResults),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if awsapi.IsClusterNotFound(err) {
				record(actListCIs, nil)
				return nil, nil
			}
			if err != nil {
				record(actListCIs, err)
				return nil, err
			}
			arns = append(arns, page.ContainerInstanceArns...)
		}
	}
	record(actListCIs, nil)
	var found []string
	for chunk := range slices.Chunk(arns, awsapi.MaxDescribeContainerInstances) {
		out, err := c.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: chunk})
		record(actDescribeCIs, err)
		if err != nil {
			return nil, err
		}
		for _, ci := range out.ContainerInstances {
			if aws.ToString(ci.Status) != ciInactive {
				found = append(found, aws.ToString(ci.Ec2InstanceId))
			}
		}
	}
	return found, nil
}

// judgeRegistration records where a group's sampled instances are and what that means.
func (c *checker) judgeRegistration(g *groupCheck, set clusterSet, foundIn map[string]string, unsearched map[string]bool) {
	name := g.out.Name
	if g.out.InstancesChecked == 0 {
		c.groupProblem(name, SeverityNote, "no-instances", "no in-service instance: where its instances register could not be checked", "")
		return
	}
	counts := map[string]int{}
	for _, id := range g.inService[:g.out.InstancesChecked] {
		if cl, ok := foundIn[id]; ok {
			counts[cl]++
		} else {
			g.out.NotRegistered++
		}
	}
	var outside []string
	for _, cl := range slices.Sorted(maps.Keys(counts)) {
		g.out.RegisteredIn = append(g.out.RegisteredIn, Registration{Cluster: cl, Instances: counts[cl], InScope: set.scoped(cl)})
		if !set.scoped(cl) {
			outside = append(outside, cl)
		}
	}
	checked := fmt.Sprintf("%d in-service instances checked (of %d)", g.out.InstancesChecked, g.out.InServiceInstances)
	switch {
	case len(outside) > 0:
		c.groupProblem(name, SeverityFail, "registered-outside-clusters",
			"instances registered in "+strings.Join(outside, ", ")+", outside --clusters: the controller treats them as not registered and completes their hooks at once, tasks and all",
			clustersFix(slices.Concat(c.rcfg.Clusters, outside)))
	case len(unsearched) > 0 && g.out.NotRegistered > 0:
		c.groupProblem(name, SeverityWarning, "registration-unknown",
			fmt.Sprintf("%d of %s were found in no cluster searched, and %s could not be searched (see the permissions)", g.out.NotRegistered, checked, strings.Join(slices.Sorted(maps.Keys(unsearched)), ", ")), "")
	case len(counts) == 0:
		c.groupProblem(name, SeverityFail, "not-registered",
			"none of "+checked+" is registered in an ECS cluster: the controller has nothing to drain and completes their hooks at once",
			"make the instances join their cluster (ECS_CLUSTER=<cluster> in /etc/ecs/ecs.config, from the launch template's user data), or stop selecting the group: "+c.unselectFix(name, g.out.SelectedBy))
	case g.out.NotRegistered > 0:
		c.groupProblem(name, SeverityWarning, "partly-registered",
			fmt.Sprintf("%d of %s are registered in no cluster: their hooks are completed at once (an agent that failed to start?)", g.out.NotRegistered, checked),
			"look at the ECS agent on those instances, or replace them: aws autoscaling start-instance-refresh --auto-scaling-group-name "+sh(name))
	}
}

// probeClusterReads makes the harmless reads that prove the controller may read tasks, services
// and container instances in the in-scope clusters holding a selected group's instance.
func (c *checker) probeClusterReads(ctx context.Context, set clusterSet, holding map[string]bool) {
	if len(holding) == 0 {
		for _, a := range []string{actDescribeCIs, actListTasks, actDescribeTasks, actDescribeServices} {
			c.notChecked(a, "*", "no cluster the controller looks in holds an instance of a selected group")
		}
		return
	}
	for _, name := range slices.Sorted(maps.Keys(holding)) {
		cl, scope := aws.String(set.ids[name]), "cluster "+name
		_, err := c.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: cl, MaxResults: aws.Int32(1)})
		c.permission(actListTasks, scope, err)
		_, err = c.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: cl, Tasks: []string{probeTaskID}})
		c.permission(actDescribeTasks, scope, err)
		_, err = c.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: cl, Services: []string{probeServiceName}})
		c.permission(actDescribeServices, scope, err)
	}
}
