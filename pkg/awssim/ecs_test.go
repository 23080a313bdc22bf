package awssim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"
)

func TestECSClusters(t *testing.T) {
	e := newECSEnv(t, Options{})
	ctx := t.Context()
	out, err := e.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod"), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}})
	must(t, err)
	if got, want := aws.ToString(out.Cluster.ClusterArn), "arn:aws:ecs:us-east-1:123456789012:cluster/prod"; got != want {
		t.Errorf("clusterArn = %s, want %s", got, want)
	}
	// CreateCluster of an existing name returns it rather than failing.
	_, err = e.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")})
	must(t, err)
	e.createCluster("default")

	list, err := e.ecs.ListClusters(ctx, &ecs.ListClustersInput{})
	must(t, err)
	if want := []string{"arn:aws:ecs:us-east-1:123456789012:cluster/prod", "arn:aws:ecs:us-east-1:123456789012:cluster/default"}; !slices.Equal(list.ClusterArns, want) {
		t.Errorf("ListClusters = %v, want %v", list.ClusterArns, want)
	}

	td := e.taskDef("web", 0)
	e.register("prod", "i-1", 2)
	e.register("prod", "i-2", 2)
	e.service("prod", "web", td, 3, 100, 200)
	e.advance(time.Second) // place
	e.advance(time.Second) // start
	_, err = e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("web")})
	must(t, err)

	desc, err := e.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{
		Clusters: []string{"arn:aws:ecs:us-east-1:123456789012:cluster/prod", "nope"},
		Include:  []types.ClusterField{types.ClusterFieldTags},
	})
	must(t, err)
	if len(desc.Clusters) != 1 {
		t.Fatalf("DescribeClusters returned %d clusters", len(desc.Clusters))
	}
	c := desc.Clusters[0]
	got := []int32{c.RegisteredContainerInstancesCount, c.RunningTasksCount, c.PendingTasksCount, c.ActiveServicesCount}
	if want := []int32{2, 3, 1, 1}; !slices.Equal(got, want) {
		t.Errorf("instances/running/pending/services = %v, want %v", got, want)
	}
	if len(c.Tags) != 1 || aws.ToString(c.Tags[0].Key) != "team" {
		t.Errorf("tags = %v, want team=a", c.Tags)
	}
	if len(desc.Failures) != 1 || aws.ToString(desc.Failures[0].Reason) != "MISSING" || aws.ToString(desc.Failures[0].Arn) != "arn:aws:ecs:us-east-1:123456789012:cluster/nope" {
		t.Errorf("failures = %+v, want one MISSING for cluster/nope", desc.Failures)
	}

	// No clusters named: the default cluster.
	def, err := e.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{})
	must(t, err)
	if len(def.Clusters) != 1 || aws.ToString(def.Clusters[0].ClusterName) != "default" {
		t.Errorf("DescribeClusters without names = %+v, want the default cluster", def.Clusters)
	}
}

// TestECSErrors checks that each error reaches the SDK as the code and type ECS uses.
func TestECSErrors(t *testing.T) {
	e := newECSEnv(t, Options{})
	e.createCluster("prod")
	td := e.taskDef("web", 0)
	ci := e.register("prod", "i-1", 2)
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("id%d", i)
		}
		return out
	}
	tests := []struct {
		name string
		call func() error
		code string
		is   func(error) bool
	}{
		{"unknown cluster", func() error {
			_, err := e.ecs.ListContainerInstances(t.Context(), &ecs.ListContainerInstancesInput{Cluster: aws.String("nope")})
			return err
		}, "ClusterNotFoundException", isA[*types.ClusterNotFoundException]},
		{"default cluster absent", func() error {
			_, err := e.ecs.ListTasks(t.Context(), &ecs.ListTasksInput{})
			return err
		}, "ClusterNotFoundException", isA[*types.ClusterNotFoundException]},
		{"maxResults over 100", func() error {
			_, err := e.ecs.ListContainerInstances(t.Context(), &ecs.ListContainerInstancesInput{Cluster: aws.String("prod"), MaxResults: aws.Int32(101)})
			return err
		}, "InvalidParameterException", isA[*types.InvalidParameterException]},
		{"maxResults zero", func() error {
			_, err := e.ecs.ListTasks(t.Context(), &ecs.ListTasksInput{Cluster: aws.String("prod"), MaxResults: aws.Int32(0)})
			return err
		}, "InvalidParameterException", isA[*types.InvalidParameterException]},
		{"bad nextToken", func() error {
			_, err := e.ecs.ListTasks(t.Context(), &ecs.ListTasksInput{Cluster: aws.String("prod"), NextToken: aws.String("garbage!")})
			return err
		}, "InvalidParameterException", isA[*types.InvalidParameterException]},
		{"describe 101 instances", func() error {
			_, err := e.ecs.DescribeContainerInstances(t.Context(), &ecs.DescribeContainerInstancesInput{Cluster: aws.String("prod"), ContainerInstances: ids(101)})
			return err
		}, "InvalidParameterException", isA[*types.InvalidParameterException]},
		{"describe 101 tasks", func() error {
			_, err := e.ecs.DescribeTasks(t.Context(), &ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: ids(101)})
			return err
		}, "InvalidParameterException", isA[*types.InvalidParameterException]},
		{"update 11 instances", func() error {
			_, err := e.ecs.UpdateContainerInstancesState(t.Context(), &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String("prod"), ContainerInstances: ids(11), Status: types.ContainerInstanceStatusDraining})
			return err
		}, "InvalidParameterException", isA[*types.InvalidParameterException]},
		{"update to REGISTERING", func() error {
			_, err := e.ecs.UpdateContainerInstancesState(t.Context(), &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String("prod"), ContainerInstances: []string{ci}, Status: types.ContainerInstanceStatusRegistering})
			return err
		}, "InvalidParameterException", isA[*types.InvalidParameterException]},
		{"run 11 tasks", func() error {
			_, err := e.ecs.RunTask(t.Context(), &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), Count: aws.Int32(11)})
			return err
		}, "InvalidParameterException", isA[*types.InvalidParameterException]},
		{"run unknown task definition", func() error {
			_, err := e.ecs.RunTask(t.Context(), &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("nope:3")})
			return err
		}, "InvalidParameterException", isA[*types.InvalidParameterException]},
		{"stop unknown task", func() error {
			_, err := e.ecs.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: aws.String("0123")})
			return err
		}, "InvalidParameterException", isA[*types.InvalidParameterException]},
		{"list tasks of unknown service", func() error {
			_, err := e.ecs.ListTasks(t.Context(), &ecs.ListTasksInput{Cluster: aws.String("prod"), ServiceName: aws.String("nope")})
			return err
		}, "ServiceNotFoundException", isA[*types.ServiceNotFoundException]},
		{"update unknown service", func() error {
			_, err := e.ecs.UpdateService(t.Context(), &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("nope"), DesiredCount: aws.Int32(1)})
			return err
		}, "ServiceNotFoundException", isA[*types.ServiceNotFoundException]},
		{"describe unknown task definition", func() error {
			_, err := e.ecs.DescribeTaskDefinition(t.Context(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("nope")})
			return err
		}, "ClientException", isA[*types.ClientException]},
		{"invalid filter", func() error {
			_, err := e.ecs.ListContainerInstances(t.Context(), &ecs.ListContainerInstancesInput{Cluster: aws.String("prod"), Filter: aws.String("ec2InstanceId in ['i-1'")})
			return err
		}, "InvalidParameterException", isA[*types.InvalidParameterException]},
		{"tag unknown resource", func() error {
			_, err := e.ecs.TagResource(t.Context(), &ecs.TagResourceInput{ResourceArn: aws.String("arn:aws:ecs:us-east-1:123456789012:cluster/nope"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
			return err
		}, "ResourceNotFoundException", isA[*types.ResourceNotFoundException]},
		{"reserved tag key", func() error {
			_, err := e.ecs.TagResource(t.Context(), &ecs.TagResourceInput{ResourceArn: aws.String(ci), Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}})
			return err
		}, "InvalidParameterException", isA[*types.InvalidParameterException]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatalf("got no error, want %s", tt.code)
			}
			if got := errorCode(err); got != tt.code {
				t.Errorf("error code = %q, want %q (%v)", got, tt.code, err)
			}
			if !tt.is(err) {
				t.Errorf("error %T does not unwrap to the modelled type: %v", err, err)
			}
		})
	}
}

func isA[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

// TestECSWireErrors covers what the SDK cannot send: unknown operations and malformed bodies.
func TestECSWireErrors(t *testing.T) {
	sim := New(Options{})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	tests := []struct {
		name, target, body string
		code               string
	}{
		{"unknown operation", "AmazonEC2ContainerServiceV20141113.Nope", `{}`, "UnknownOperationException"},
		{"not an object", "AmazonEC2ContainerServiceV20141113.ListClusters", `[1,2]`, "SerializationException"},
		{"wrong member type", "AmazonEC2ContainerServiceV20141113.ListClusters", `{"maxResults":"ten"}`, "SerializationException"},
		{"truncated", "AmazonEC2ContainerServiceV20141113.ListClusters", `{"maxResults":`, "SerializationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, strings.NewReader(tt.body))
			must(t, err)
			req.Header.Set("X-Amz-Target", tt.target)
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			resp, err := srv.Client().Do(req)
			must(t, err)
			defer func() { _ = resp.Body.Close() }()
			body, err := io.ReadAll(resp.Body)
			must(t, err)
			var env struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			must(t, json.Unmarshal(body, &env))
			if resp.StatusCode != http.StatusBadRequest || env.Type != tt.code || env.Message == "" {
				t.Errorf("got %d %s, want 400 with __type %s and a message", resp.StatusCode, body, tt.code)
			}
		})
	}
}

// TestECSPagination lists 101 container instances and 101 tasks one item per page, and with
// default pages, through the SDK paginators.
func TestECSPagination(t *testing.T) {
	tests := []struct {
		name      string
		override  int
		wantPages int
	}{
		{"one per page", 1, 101},
		{"default pages", 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newECSEnv(t, Options{PageSizeOverride: tt.override})
			ctx := t.Context()
			e.createCluster("prod")
			td := e.taskDef("batch", 0)
			var want []string
			for i := range 101 {
				want = append(want, e.register("prod", fmt.Sprintf("i-%03d", i), 1))
			}
			for range 11 {
				_, err := e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), Count: aws.Int32(10)})
				must(t, err)
			}

			var got []string
			pages := 0
			p := ecs.NewListContainerInstancesPaginator(e.ecs, &ecs.ListContainerInstancesInput{Cluster: aws.String("prod")})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				must(t, err)
				got = append(got, page.ContainerInstanceArns...)
				pages++
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ListContainerInstances (-want +got):\n%s", diff)
			}
			if pages != tt.wantPages {
				t.Errorf("ListContainerInstances took %d pages, want %d", pages, tt.wantPages)
			}

			var tasks []string
			pages = 0
			tp := ecs.NewListTasksPaginator(e.ecs, &ecs.ListTasksInput{Cluster: aws.String("prod")})
			for tp.HasMorePages() {
				page, err := tp.NextPage(ctx)
				must(t, err)
				tasks = append(tasks, page.TaskArns...)
				pages++
			}
			if len(tasks) != 101 || pages != tt.wantPages {
				t.Errorf("ListTasks returned %d tasks in %d pages, want 101 in %d", len(tasks), pages, tt.wantPages)
			}
			if n := len(slices.Compact(slices.Sorted(slices.Values(tasks)))); n != 101 {
				t.Errorf("ListTasks returned %d distinct tasks, want 101", n)
			}
		})
	}
}

// TestECSPageTokenSurvivesChanges removes and adds items between pages: a token marks a position,
// so nothing is skipped or repeated.
func TestECSPageTokenSurvivesChanges(t *testing.T) {
	e := newECSEnv(t, Options{StoppedTaskRetention: time.Minute})
	ctx := t.Context()
	e.createCluster("prod")
	td := e.taskDef("batch", 1)
	e.register("prod", "i-1", 10)
	run, err := e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), Count: aws.Int32(6)})
	must(t, err)
	first, err := e.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prod"), MaxResults: aws.Int32(3)})
	must(t, err)
	// The first page's tasks stop and vanish; a new task arrives.
	for _, arn := range first.TaskArns {
		_, err := e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: aws.String(arn)})
		must(t, err)
	}
	e.advance(2 * time.Minute)
	extra, err := e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td)})
	must(t, err)
	second, err := e.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prod"), NextToken: first.NextToken})
	must(t, err)
	var want []string
	for _, tk := range run.Tasks[3:] {
		want = append(want, aws.ToString(tk.TaskArn))
	}
	want = append(want, aws.ToString(extra.Tasks[0].TaskArn))
	if diff := cmp.Diff(want, second.TaskArns); diff != "" {
		t.Errorf("second page (-want +got):\n%s", diff)
	}
}

func TestECSListContainerInstancesFilter(t *testing.T) {
	e := newECSEnv(t, Options{})
	ctx := t.Context()
	e.createCluster("prod")
	td := e.taskDef("web", 0)
	arns := map[string]string{}
	// Two tasks on i-a, one on i-b (each placed while its instance is the emptiest); i-c
	// draining; i-d deregistered.
	for _, id := range []string{"i-a", "i-b"} {
		arns[id] = e.register("prod", id, 4)
		n := int32(3 - len(arns))
		_, err := e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), Count: aws.Int32(n), Group: aws.String(fmt.Sprintf("batch%d", n))})
		must(t, err)
	}
	for _, id := range []string{"i-c", "i-d"} {
		arns[id] = e.register("prod", id, 4)
	}
	e.drain("prod", arns["i-c"])
	_, err := e.ecs.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("prod"), ContainerInstance: aws.String(arns["i-d"])})
	must(t, err)

	tests := []struct {
		filter string
		status types.ContainerInstanceStatus
		want   []string
	}{
		{filter: "ec2InstanceId == i-b", want: []string{"i-b"}},
		{filter: "ec2InstanceId == 'i-b' or ec2InstanceId == \"i-c\"", want: []string{"i-b", "i-c"}},
		{filter: "ec2InstanceId in ['i-a', 'i-c', 'i-x']", want: []string{"i-a", "i-c"}},
		{filter: "ec2InstanceId in (i-a, i-b)", want: []string{"i-a", "i-b"}},
		{filter: "ec2InstanceId not_in ['i-a']", want: []string{"i-b", "i-c"}},
		{filter: "ec2InstanceId !in ['i-a'] and ec2InstanceId != i-c", want: []string{"i-b"}},
		{filter: "ec2InstanceId in ['i-a', 'i-c']", status: types.ContainerInstanceStatusDraining, want: []string{"i-c"}},
		{filter: "runningTasksCount > 0", want: []string{"i-a", "i-b"}},
		{filter: "runningTasksCount == 0 or (ec2InstanceId == i-a and runningTasksCount >= 2)", want: []string{"i-a", "i-c"}},
		{filter: "agentConnected == true", want: []string{"i-a", "i-b", "i-c"}},
		{filter: "task:group == batch2", want: []string{"i-a"}},
		{filter: "ec2InstanceId =~ 'i-[ab]'", want: []string{"i-a", "i-b"}},
		{filter: "not ec2InstanceId == i-a", want: []string{"i-b", "i-c"}},
		{filter: "attribute:ecs.os-type == linux and ec2InstanceId == i-c", want: []string{"i-c"}},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			out, err := e.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("prod"), Filter: aws.String(tt.filter), Status: tt.status})
			must(t, err)
			var want []string
			for _, id := range tt.want {
				want = append(want, arns[id])
			}
			if diff := cmp.Diff(want, out.ContainerInstanceArns); diff != "" {
				t.Errorf("ListContainerInstances (-want +got):\n%s", diff)
			}
		})
	}
}

func TestECSDescribeContainerInstances(t *testing.T) {
	e := newECSEnv(t, Options{TaskStartDelay: time.Second})
	ctx := t.Context()
	e.createCluster("prod")
	e.createCluster("other")
	td := e.taskDef("web", 5)
	ci := e.register("prod", "i-1", 3)
	otherCI := e.register("other", "i-2", 1)
	id := ci[strings.LastIndex(ci, "/")+1:]
	if !strings.HasPrefix(ci, "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/") || len(id) != 32 {
		t.Fatalf("container instance ARN %s is not in the long format", ci)
	}
	v0 := e.describeInstance("prod", ci).Version

	run, err := e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), Count: aws.Int32(2)})
	must(t, err)
	_, err = e.ecs.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(ci), Tags: []types.Tag{{Key: aws.String("ecs-drainer/drain-started-at"), Value: aws.String("2026-03-01T12:00:00Z")}}})
	must(t, err)

	out, err := e.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
		Cluster:            aws.String("prod"),
		ContainerInstances: []string{id, "0123456789abcdef0123456789abcdef", otherCI},
		Include:            []types.ContainerInstanceField{types.ContainerInstanceFieldTags},
	})
	must(t, err)
	if len(out.ContainerInstances) != 1 {
		t.Fatalf("got %d instances, want 1 (bare ID accepted)", len(out.ContainerInstances))
	}
	got := out.ContainerInstances[0]
	if aws.ToString(got.ContainerInstanceArn) != ci || aws.ToString(got.Ec2InstanceId) != "i-1" || aws.ToString(got.Status) != "ACTIVE" || !got.AgentConnected {
		t.Errorf("instance = %s %s %s connected=%v", aws.ToString(got.ContainerInstanceArn), aws.ToString(got.Ec2InstanceId), aws.ToString(got.Status), got.AgentConnected)
	}
	if got.RunningTasksCount != 2 || got.PendingTasksCount != 2 {
		t.Errorf("running/pending = %d/%d, want 2/2 (a PENDING task has desiredStatus RUNNING)", got.RunningTasksCount, got.PendingTasksCount)
	}
	if got.Version <= v0 {
		t.Errorf("version = %d after placing tasks, want more than %d", got.Version, v0)
	}
	if !aws.ToTime(got.RegisteredAt).Equal(simStart) {
		t.Errorf("registeredAt = %v, want %v", aws.ToTime(got.RegisteredAt), simStart)
	}
	if len(got.Tags) != 1 || aws.ToString(got.Tags[0].Value) != "2026-03-01T12:00:00Z" {
		t.Errorf("tags = %v", got.Tags)
	}
	checkMissingFailures(t, out.Failures, otherCI)
	checkStoppingCounts(t, e, ci, run.Tasks[0].TaskArn)
}

// checkMissingFailures checks DescribeContainerInstances reported the unknown ID and the other
// cluster's instance (otherCI) MISSING.
func checkMissingFailures(t *testing.T, failures []types.Failure, otherCI string) {
	t.Helper()
	var reasons, failed []string
	for _, f := range failures {
		reasons = append(reasons, aws.ToString(f.Reason))
		failed = append(failed, aws.ToString(f.Arn))
	}
	if want := []string{"MISSING", "MISSING"}; !slices.Equal(reasons, want) {
		t.Errorf("failure reasons = %v, want %v", reasons, want)
	}
	if want := []string{"arn:aws:ecs:us-east-1:123456789012:container-instance/prod/0123456789abcdef0123456789abcdef", otherCI}; !slices.Equal(failed, want) {
		t.Errorf("failure ARNs = %v, want %v", failed, want)
	}
}

// checkStoppingCounts starts the tasks on container instance ci, stops one (task), and checks the
// instance's counts: a stopping task is in neither count, though it has not stopped.
func checkStoppingCounts(t *testing.T, e *ecsEnv, ci string, task *string) {
	t.Helper()
	// Running: counts move, version moves.
	e.advance(time.Second)
	got := e.describeInstance("prod", ci)
	if got.RunningTasksCount != 2 || got.PendingTasksCount != 0 {
		t.Errorf("after start running/pending = %d/%d, want 2/0", got.RunningTasksCount, got.PendingTasksCount)
	}
	// A stopping task is in neither count, though it has not stopped.
	_, err := e.ecs.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: task})
	must(t, err)
	got = e.describeInstance("prod", ci)
	if got.RunningTasksCount != 1 || got.PendingTasksCount != 0 {
		t.Errorf("with a stopping task running/pending = %d/%d, want 1/0", got.RunningTasksCount, got.PendingTasksCount)
	}
	if st := byLastStatus(e.tasksOn("prod", ci)); st["STOPPED"] != 0 || st["STOPPING"] != 1 {
		t.Errorf("task statuses = %v, want one STOPPING and none STOPPED", st)
	}
	// remainingResources still counts the stopping task's slot.
	if rem := got.RemainingResources; len(rem) == 0 || rem[0].IntegerValue != 1*slotUnits {
		t.Errorf("remainingResources = %+v, want CPU %d", rem, slotUnits)
	}
}

func TestECSRunTask(t *testing.T) {
	e := newECSEnv(t, Options{})
	ctx := t.Context()
	e.createCluster("prod")
	td := e.taskDef("job", 0)

	// No instances yet.
	_, err := e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td)})
	if errorCode(err) != "InvalidParameterException" {
		t.Fatalf("RunTask on an empty cluster: %v, want InvalidParameterException", err)
	}
	a := e.register("prod", "i-a", 2)
	b := e.register("prod", "i-b", 2)
	out, err := e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("job"), Count: aws.Int32(3), StartedBy: aws.String("me")})
	must(t, err)
	if len(out.Tasks) != 3 || len(out.Failures) != 0 {
		t.Fatalf("placed %d tasks with failures %v, want 3", len(out.Tasks), out.Failures)
	}
	checkRunTaskPlacement(t, out.Tasks, a, b)
	// One slot left: two asked, one placed, and a RESOURCE failure for the full instance.
	out, err = e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), Count: aws.Int32(2)})
	must(t, err)
	if len(out.Tasks) != 1 || len(out.Failures) != 2 {
		t.Fatalf("got %d tasks and failures %v, want 1 task and 2 failures", len(out.Tasks), out.Failures)
	}
	for _, f := range out.Failures {
		if !strings.HasPrefix(aws.ToString(f.Reason), "RESOURCE:") {
			t.Errorf("failure reason = %s, want RESOURCE:...", aws.ToString(f.Reason))
		}
	}
	checkListTaskFilters(t, e, b)
}

// checkRunTaskPlacement checks three tasks RunTask started by "me" spread two on container
// instance a and one on b, each PENDING with its defaults.
func checkRunTaskPlacement(t *testing.T, tasks []types.Task, a, b string) {
	t.Helper()
	placed := map[string]int{}
	for _, tk := range tasks {
		placed[aws.ToString(tk.ContainerInstanceArn)]++
		if aws.ToString(tk.Group) != "family:job" || aws.ToString(tk.StartedBy) != "me" || aws.ToString(tk.LastStatus) != "PENDING" || aws.ToString(tk.DesiredStatus) != "RUNNING" || tk.LaunchType != types.LaunchTypeEc2 {
			t.Errorf("task = group %s startedBy %s %s/%s %s", aws.ToString(tk.Group), aws.ToString(tk.StartedBy), aws.ToString(tk.LastStatus), aws.ToString(tk.DesiredStatus), tk.LaunchType)
		}
	}
	if placed[a] != 2 || placed[b] != 1 {
		t.Errorf("placement = %v, want spread 2 on a and 1 on b", placed)
	}
}

// checkListTaskFilters checks ListTasks' filters over the four tasks RunTask started in
// cluster prod, two of them on container instance b.
func checkListTaskFilters(t *testing.T, e *ecsEnv, b string) {
	t.Helper()
	ctx := t.Context()
	// ListTasks filters.
	list := func(in *ecs.ListTasksInput) int {
		in.Cluster = aws.String("prod")
		out, err := e.ecs.ListTasks(ctx, in)
		must(t, err)
		return len(out.TaskArns)
	}
	counts := []int{
		list(&ecs.ListTasksInput{}),
		list(&ecs.ListTasksInput{StartedBy: aws.String("me")}),
		list(&ecs.ListTasksInput{Family: aws.String("job")}),
		list(&ecs.ListTasksInput{Family: aws.String("other")}),
		list(&ecs.ListTasksInput{ContainerInstance: aws.String(b)}),
		list(&ecs.ListTasksInput{DesiredStatus: types.DesiredStatusPending}),
		list(&ecs.ListTasksInput{DesiredStatus: types.DesiredStatusStopped}),
		list(&ecs.ListTasksInput{LaunchType: types.LaunchTypeFargate}),
	}
	if want := []int{4, 3, 4, 0, 2, 0, 0, 0}; !slices.Equal(counts, want) {
		t.Errorf("ListTasks counts = %v, want %v", counts, want)
	}
}

func TestECSStopTaskTakesStopTimeout(t *testing.T) {
	e := newECSEnv(t, Options{StopTimeoutScale: 1})
	ctx := t.Context()
	e.createCluster("prod")
	td := e.taskDef("web", 10)
	e.register("prod", "i-1", 1)
	run, err := e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td)})
	must(t, err)
	arn := run.Tasks[0].TaskArn
	e.advance(time.Second)

	stop, err := e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: arn, Reason: aws.String("maintenance")})
	must(t, err)
	if got := [2]string{aws.ToString(stop.Task.DesiredStatus), aws.ToString(stop.Task.LastStatus)}; got != [2]string{"STOPPED", "STOPPING"} {
		t.Errorf("StopTask returned desired/last %v, want STOPPED/STOPPING", got)
	}
	status := func() types.Task { return e.describeTasks("prod", []string{aws.ToString(arn)})[0] }
	e.advance(9 * time.Second)
	if got := aws.ToString(status().LastStatus); got != "STOPPING" {
		t.Errorf("after 9s lastStatus = %s, want STOPPING", got)
	}
	if n := e.sim.Stats().TasksStoppedByReason[StopReasonUser]; n != 0 {
		t.Errorf("counted %d stops before the task stopped", n)
	}
	e.advance(time.Second)
	got := status()
	if aws.ToString(got.LastStatus) != "STOPPED" || aws.ToString(got.StoppedReason) != "maintenance" || got.StopCode != types.TaskStopCodeUserInitiated {
		t.Errorf("after 10s task = %s reason %q code %s, want STOPPED maintenance UserInitiated", aws.ToString(got.LastStatus), aws.ToString(got.StoppedReason), got.StopCode)
	}
	if d := aws.ToTime(got.StoppedAt).Sub(aws.ToTime(got.StoppingAt)); d != 10*time.Second {
		t.Errorf("stoppedAt - stoppingAt = %v, want 10s", d)
	}
	// Stopping again changes nothing and counts nothing.
	_, err = e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: arn})
	must(t, err)
	e.advance(time.Minute)
	if diff := cmp.Diff(map[string]int{StopReasonUser: 1}, e.sim.Stats().TasksStoppedByReason); diff != "" {
		t.Errorf("TasksStoppedByReason (-want +got):\n%s", diff)
	}
}

func TestECSStopTimeoutDefaultAndScale(t *testing.T) {
	tests := []struct {
		name        string
		stopTimeout int32
		scale       float64
		want        time.Duration
	}{
		{"ECS default 30s", 0, 1, 30 * time.Second},
		{"scaled down", 0, 0.1, 3 * time.Second},
		{"container value", 120, 0.5, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newECSEnv(t, Options{StopTimeoutScale: tt.scale})
			e.createCluster("prod")
			td := e.taskDef("web", tt.stopTimeout)
			e.register("prod", "i-1", 1)
			run, err := e.ecs.RunTask(t.Context(), &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td)})
			must(t, err)
			e.advance(time.Second)
			_, err = e.ecs.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: run.Tasks[0].TaskArn})
			must(t, err)
			e.advance(tt.want - time.Millisecond)
			if got := aws.ToString(e.describeTasks("prod", []string{aws.ToString(run.Tasks[0].TaskArn)})[0].LastStatus); got == "STOPPED" {
				t.Errorf("STOPPED before %v", tt.want)
			}
			e.advance(time.Millisecond)
			if got := aws.ToString(e.describeTasks("prod", []string{aws.ToString(run.Tasks[0].TaskArn)})[0].LastStatus); got != "STOPPED" {
				t.Errorf("lastStatus = %s after %v, want STOPPED", got, tt.want)
			}
		})
	}
}

func TestECSPendingTaskStopsAtOnce(t *testing.T) {
	e := newECSEnv(t, Options{})
	e.createCluster("prod")
	td := e.taskDef("web", 60)
	e.register("prod", "i-1", 1)
	run, err := e.ecs.RunTask(t.Context(), &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td)})
	must(t, err)
	stop, err := e.ecs.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: run.Tasks[0].TaskArn})
	must(t, err)
	if got := aws.ToString(stop.Task.LastStatus); got != "STOPPED" {
		t.Errorf("a PENDING task stopped to %s, want STOPPED at once", got)
	}
	if n := e.sim.Stats().TasksStoppedByReason[StopReasonUser]; n != 1 {
		t.Errorf("user stops = %d, want 1", n)
	}
}

func TestECSStoppedTaskRetention(t *testing.T) {
	e := newECSEnv(t, Options{StoppedTaskRetention: time.Hour})
	ctx := t.Context()
	e.createCluster("prod")
	td := e.taskDef("web", 0)
	e.register("prod", "i-1", 1)
	run, err := e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td)})
	must(t, err)
	arn := aws.ToString(run.Tasks[0].TaskArn)
	_, err = e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: aws.String(arn)})
	must(t, err)
	stopped := func() []string {
		out, err := e.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prod"), DesiredStatus: types.DesiredStatusStopped})
		must(t, err)
		return out.TaskArns
	}
	e.advance(59 * time.Minute)
	if got := stopped(); !slices.Equal(got, []string{arn}) {
		t.Errorf("after 59m ListTasks STOPPED = %v, want the task", got)
	}
	e.advance(time.Minute)
	if got := stopped(); len(got) != 0 {
		t.Errorf("after 1h ListTasks STOPPED = %v, want none", got)
	}
	out, err := e.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: []string{arn}})
	must(t, err)
	if len(out.Tasks) != 0 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "MISSING" || aws.ToString(out.Failures[0].Arn) != arn {
		t.Errorf("DescribeTasks after retention = %d tasks, failures %+v; want MISSING", len(out.Tasks), out.Failures)
	}
}

func TestECSThrottlingAbsorbedByRetryer(t *testing.T) {
	e := newECSEnv(t, Options{Throttle: true, ThrottleRates: map[string]Bucket{"ListClusters": {Rate: 1, Burst: 1}}})
	e.createCluster("prod")
	for range 3 {
		_, err := e.ecs.ListClusters(t.Context(), &ecs.ListClustersInput{})
		must(t, err)
	}
	req := e.sim.Stats().Requests
	// The bucket holds one token and the retryer's backoff moves the clock one second, refilling
	// one: each call after the first is throttled once, then succeeds.
	if got := [2]int{req["ecs/ListClusters/OK"], req["ecs/ListClusters/ThrottlingException"]}; got != [2]int{3, 2} {
		t.Errorf("ListClusters OK/throttled = %v, want [3 2]", got)
	}
}

func TestECSServices(t *testing.T) {
	e := newECSEnv(t, Options{StopTimeoutScale: 0.1})
	ctx := t.Context()
	e.createCluster("prod")
	td1 := e.taskDef("web", 0)
	td2 := e.taskDef("web", 0)
	if !strings.HasSuffix(td2, ":2") {
		t.Fatalf("second revision ARN %s, want family:2", td2)
	}
	e.register("prod", "i-1", 4)
	e.register("prod", "i-2", 4)
	created, err := e.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("web"), TaskDefinition: aws.String(td1), DesiredCount: aws.Int32(3)})
	must(t, err)
	dc := created.Service.DeploymentConfiguration
	if aws.ToInt32(dc.MinimumHealthyPercent) != 100 || aws.ToInt32(dc.MaximumPercent) != 200 || created.Service.SchedulingStrategy != types.SchedulingStrategyReplica {
		t.Errorf("defaults = min %d max %d %s, want 100/200 REPLICA", aws.ToInt32(dc.MinimumHealthyPercent), aws.ToInt32(dc.MaximumPercent), created.Service.SchedulingStrategy)
	}
	_, err = e.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("web"), TaskDefinition: aws.String(td1), DesiredCount: aws.Int32(1)})
	if errorCode(err) != "InvalidParameterException" {
		t.Errorf("duplicate CreateService: %v, want InvalidParameterException", err)
	}
	e.settle(time.Second, 2)

	describe := func() types.Service { return describeWeb(t, e) }
	svc := describe()
	if svc.RunningCount != 3 || svc.PendingCount != 0 || svc.DesiredCount != 3 || len(svc.Deployments) != 1 {
		t.Errorf("service running/pending/desired = %d/%d/%d with %d deployments", svc.RunningCount, svc.PendingCount, svc.DesiredCount, len(svc.Deployments))
	}
	list, err := e.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prod"), ServiceName: aws.String("web")})
	must(t, err)
	tasks := e.describeTasks("prod", list.TaskArns)
	for _, tk := range tasks {
		if aws.ToString(tk.Group) != "service:web" || aws.ToString(tk.StartedBy) != aws.ToString(svc.Deployments[0].Id) || !strings.HasPrefix(aws.ToString(tk.StartedBy), "ecs-svc/") {
			t.Errorf("service task group %s startedBy %s, want service:web and the deployment id", aws.ToString(tk.Group), aws.ToString(tk.StartedBy))
		}
	}

	// A user-stopped task is replaced.
	_, err = e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: tasks[0].TaskArn})
	must(t, err)
	e.settle(time.Second, 5)
	if svc = describe(); svc.RunningCount != 3 {
		t.Errorf("after a user stop running = %d, want 3", svc.RunningCount)
	}

	checkRolloutAndScaleIn(t, e, td2)

	checkDeleteService(t, e)
}

// describeWeb describes service web of cluster prod, with a name that does not exist beside it.
func describeWeb(t *testing.T, e *ecsEnv) types.Service {
	t.Helper()
	out, err := e.ecs.DescribeServices(t.Context(), &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web", "nope"}})
	must(t, err)
	if len(out.Services) != 1 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "MISSING" {
		t.Fatalf("DescribeServices = %d services, failures %+v", len(out.Services), out.Failures)
	}
	return out.Services[0]
}

// checkRolloutAndScaleIn moves service web to task definition td2, a rolling replacement, then
// scales it in to one task.
func checkRolloutAndScaleIn(t *testing.T, e *ecsEnv, td2 string) {
	t.Helper()
	ctx := t.Context()
	describe := func() types.Service { return describeWeb(t, e) }
	var svc types.Service
	var err error
	// New task definition: a rolling replacement, old tasks stopped by the scheduler.
	_, err = e.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"), TaskDefinition: aws.String(td2)})
	must(t, err)
	e.advance(time.Second)
	if svc = describe(); len(svc.Deployments) != 2 || svc.Deployments[0].RolloutState != types.DeploymentRolloutStateInProgress {
		t.Errorf("during the rollout: %d deployments, primary %s", len(svc.Deployments), svc.Deployments[0].RolloutState)
	}
	e.settle(time.Second, 10)
	svc = describe()
	if svc.RunningCount != 3 || len(svc.Deployments) != 1 || aws.ToString(svc.TaskDefinition) != td2 || svc.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted {
		t.Errorf("after the rollout running=%d deployments=%d taskDefinition=%s", svc.RunningCount, len(svc.Deployments), aws.ToString(svc.TaskDefinition))
	}

	// Scale in.
	_, err = e.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"), DesiredCount: aws.Int32(1)})
	must(t, err)
	e.settle(time.Second, 5)
	if svc = describe(); svc.RunningCount != 1 {
		t.Errorf("after scale-in running = %d, want 1", svc.RunningCount)
	}
	if len(svc.Events) == 0 || !strings.Contains(aws.ToString(svc.Events[0].Message), "steady state") {
		t.Errorf("newest event = %v, want steady state", svc.Events)
	}
}

// checkDeleteService deletes service web of cluster prod: refused while scaled up, then forced.
func checkDeleteService(t *testing.T, e *ecsEnv) {
	t.Helper()
	ctx := t.Context()
	describe := func() types.Service { return describeWeb(t, e) }
	var svc types.Service
	var err error
	// Delete: refused while scaled up, then forced.
	_, err = e.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("prod"), Service: aws.String("web")})
	if errorCode(err) != "InvalidParameterException" {
		t.Errorf("DeleteService without force: %v, want InvalidParameterException", err)
	}
	del, err := e.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"), Force: aws.Bool(true)})
	must(t, err)
	if aws.ToString(del.Service.Status) != "DRAINING" {
		t.Errorf("deleted service status = %s, want DRAINING", aws.ToString(del.Service.Status))
	}
	e.settle(time.Second, 5)
	if svc = describe(); aws.ToString(svc.Status) != "INACTIVE" {
		t.Errorf("status after its tasks stopped = %s, want INACTIVE", aws.ToString(svc.Status))
	}
	ls, err := e.ecs.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("prod")})
	must(t, err)
	if len(ls.ServiceArns) != 0 {
		t.Errorf("ListServices = %v, want none", ls.ServiceArns)
	}
	st := e.sim.Stats().TasksStoppedByReason
	// 1 user stop; 3 replaced by the rollout, 2 scaled in, 1 deleted.
	if diff := cmp.Diff(map[string]int{StopReasonUser: 1, StopReasonServiceScheduler: 6}, st); diff != "" {
		t.Errorf("TasksStoppedByReason (-want +got):\n%s", diff)
	}
}

func TestECSTags(t *testing.T) {
	e := newECSEnv(t, Options{})
	ctx := t.Context()
	e.createCluster("prod")
	td := e.taskDef("web", 0)
	ci := e.register("prod", "i-1", 2)
	e.service("prod", "web", td, 1, 100, 200)
	run, err := e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(td)})
	must(t, err)
	arns := []string{
		"arn:aws:ecs:us-east-1:123456789012:cluster/prod",
		ci,
		aws.ToString(run.Tasks[0].TaskArn),
		"arn:aws:ecs:us-east-1:123456789012:service/prod/web",
		td,
	}
	for _, arn := range arns {
		t.Run(arn, func(t *testing.T) {
			_, err := e.ecs.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{
				{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("b"), Value: aws.String("2")},
			}})
			must(t, err)
			_, err = e.ecs.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("3")}}})
			must(t, err)
			_, err = e.ecs.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"b"}})
			must(t, err)
			out, err := e.ecs.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
			must(t, err)
			if len(out.Tags) != 1 || aws.ToString(out.Tags[0].Key) != "a" || aws.ToString(out.Tags[0].Value) != "3" {
				t.Errorf("tags = %+v, want a=3", out.Tags)
			}
		})
	}
}
