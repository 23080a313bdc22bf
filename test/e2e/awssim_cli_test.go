package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// cliPath is the AWS CLI v2 from Debian's awscli package. The pyenv `aws` shim that comes
// first on PATH in the development image is CLI v1, so the path is fixed.
const cliPath = "/usr/bin/aws"

// cliExitServiceError is the CLI's exit code when the command was sent and the service answered
// with an error (`aws help return-codes`).
const cliExitServiceError = 254

// TestAWSCLIConformance drives a real awssim process with the AWS CLI v2, an independent client
// (botocore, Python) with its own serializers, error decoding and paginators: the whole drain of one
// instance, the error envelopes, and auto-pagination against one-item pages.
func TestAWSCLIConformance(t *testing.T) {
	requireCLI(t)
	simBin, _, err := harness.Binaries()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("drain one instance", func(t *testing.T) {
		t.Parallel()
		cliDrainFlow(t, simBin)
	})
	t.Run("auto-pagination over one-item pages", func(t *testing.T) {
		t.Parallel()
		cliPagination(t, simBin)
	})
}

// requireCLI skips the test unless the AWS CLI v2 is at cliPath.
func requireCLI(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(cliPath); err != nil {
		t.Skipf("the AWS CLI v2 is not at %s (Debian: apt-get install awscli; CI installs it): %v", cliPath, err)
	}
	out, err := exec.CommandContext(t.Context(), cliPath, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "aws-cli/2.") {
		t.Skipf("%s is not the AWS CLI v2 (%q, %v)", cliPath, out, err)
	}
}

// cliDrainFlow is the flow ecs-drainer automates, done by hand with the CLI: scale in one instance
// held by a terminating hook, drain it, wait for its tasks to stop, complete the action.
func cliDrainFlow(t *testing.T, simBin string) {
	sim := cliStartSim(t, simBin)
	aws := newCLIRunner(t, sim)

	cliBuildFleet(t, aws)
	ci, instanceID := cliFirstInstance(t, aws)
	onInstance := cliStartService(aws, ci, instanceID)
	complete := cliScaleInAndDrain(t, aws, ci, instanceID, onInstance)
	cliCheckErrorEnvelopes(t, aws, complete, instanceID)
	cliCheckSimAccount(t, sim, instanceID)
}

// cliBuildFleet builds the fleet: a cluster, a task definition whose container takes 2 s to
// stop, and a group of two instances that join the cluster and hold two tasks each, with a
// terminating hook.
func cliBuildFleet(t *testing.T, aws *cliRunner) {
	t.Helper()
	var cluster struct {
		Cluster struct{ ClusterName, Status string }
	}
	aws.json(&cluster, "ecs", "create-cluster", "--cluster-name", "web")
	if cluster.Cluster.ClusterName != "web" || cluster.Cluster.Status != "ACTIVE" {
		t.Fatalf("create-cluster returned %+v", cluster.Cluster)
	}
	var td struct {
		TaskDefinition struct {
			Family   string
			Revision int
		}
	}
	// stopTimeout 2: a stopping task takes 2 s to reach STOPPED, so the drain has something to wait for.
	aws.json(&td, "ecs", "register-task-definition", "--family", "web",
		"--container-definitions", `[{"name":"app","image":"public.ecr.aws/nginx/nginx:1","memory":256,"essential":true,"stopTimeout":2}]`)
	if td.TaskDefinition.Family != "web" || td.TaskDefinition.Revision != 1 {
		t.Fatalf("register-task-definition returned %+v", td.TaskDefinition)
	}
	aws.ok("autoscaling", "create-auto-scaling-group", "--auto-scaling-group-name", "web-asg",
		"--launch-template", "LaunchTemplateName=ecs-node,Version=$Latest",
		"--min-size", "0", "--max-size", "4", "--desired-capacity", "2",
		"--tags", "Key=awssim:ecs-cluster,Value=web,PropagateAtLaunch=false", "Key=awssim:task-slots,Value=2,PropagateAtLaunch=false")
	aws.ok("autoscaling", "put-lifecycle-hook", "--auto-scaling-group-name", "web-asg", "--lifecycle-hook-name", "drain",
		"--lifecycle-transition", "autoscaling:EC2_INSTANCE_TERMINATING", "--heartbeat-timeout", "300", "--default-result", "CONTINUE")
	var hooks struct {
		LifecycleHooks []struct {
			LifecycleHookName, LifecycleTransition, DefaultResult string
			HeartbeatTimeout, GlobalTimeout                       int
		}
	}
	aws.json(&hooks, "autoscaling", "describe-lifecycle-hooks", "--auto-scaling-group-name", "web-asg")
	if len(hooks.LifecycleHooks) != 1 || hooks.LifecycleHooks[0].HeartbeatTimeout != 300 ||
		hooks.LifecycleHooks[0].GlobalTimeout != 30000 { // min(48 h, 100 x heartbeat timeout)
		t.Fatalf("describe-lifecycle-hooks returned %+v", hooks.LifecycleHooks)
	}
}

// cliFirstInstance waits for the group's two container instances and returns the first one's
// ARN and EC2 instance ID.
func cliFirstInstance(t *testing.T, aws *cliRunner) (string, string) {
	t.Helper()
	var arns struct{ ContainerInstanceArns []string }
	aws.eventually("two container instances registered", func() (bool, string) {
		aws.json(&arns, "ecs", "list-container-instances", "--cluster", "web")
		return len(arns.ContainerInstanceArns) == 2, fmt.Sprint(arns.ContainerInstanceArns)
	})
	var cis struct {
		ContainerInstances []struct {
			ContainerInstanceArn, Status string
			EC2InstanceID                string `json:"ec2InstanceId"`
		}
	}
	aws.json(&cis, "ecs", "describe-container-instances", "--cluster", "web", "--container-instances", arns.ContainerInstanceArns[0])
	if len(cis.ContainerInstances) != 1 || cis.ContainerInstances[0].Status != "ACTIVE" || cis.ContainerInstances[0].EC2InstanceID == "" {
		t.Fatalf("describe-container-instances returned %+v", cis.ContainerInstances)
	}
	ci, instanceID := cis.ContainerInstances[0].ContainerInstanceArn, cis.ContainerInstances[0].EC2InstanceID
	return ci, instanceID
}

// cliStartService starts a service of four tasks and returns the two on container instance ci
// (EC2 instance instanceID). minimumHealthyPercent 50: the fleet has no room for replacements
// after the scale-in, so the scheduler may stop the drained instance's tasks without starting
// others first.
func cliStartService(aws *cliRunner, ci, instanceID string) []string {
	aws.ok("ecs", "create-service", "--cluster", "web", "--service-name", "web", "--task-definition", "web",
		"--desired-count", "4", "--deployment-configuration", "minimumHealthyPercent=50,maximumPercent=200")
	var onInstance []string
	aws.eventually("four tasks RUNNING, two on the instance", func() (bool, string) {
		all := aws.taskArns("--cluster", "web", "--desired-status", "RUNNING")
		if len(all) != 4 {
			return false, fmt.Sprintf("%d tasks", len(all))
		}
		if st := aws.lastStatuses(all); len(st) != 1 || st[0] != "RUNNING" {
			return false, fmt.Sprintf("last statuses %v", st)
		}
		onInstance = aws.taskArns("--cluster", "web", "--container-instance", ci, "--desired-status", "RUNNING")
		return len(onInstance) == 2, fmt.Sprintf("%d tasks on %s", len(onInstance), instanceID)
	})
	return onInstance
}

// cliScaleInAndDrain scales in instanceID (container instance ci, running the tasks onInstance),
// drains it, waits for its tasks to stop and completes the lifecycle action, as ecs-drainer
// would. It returns the completion command.
func cliScaleInAndDrain(t *testing.T, aws *cliRunner, ci, instanceID string, onInstance []string) []string {
	t.Helper()
	var term struct {
		Activity struct{ Description, StatusCode string }
	}
	aws.json(&term, "autoscaling", "terminate-instance-in-auto-scaling-group", "--instance-id", instanceID,
		"--should-decrement-desired-capacity")
	if !strings.Contains(term.Activity.Description, instanceID) {
		t.Fatalf("terminate-instance-in-auto-scaling-group returned activity %+v", term.Activity)
	}
	aws.eventually("instance in Terminating:Wait", func() (bool, string) {
		state := aws.lifecycleState(instanceID)
		return state == "Terminating:Wait", state
	})

	var drained struct {
		ContainerInstances []struct{ Status string }
		Failures           []any
	}
	aws.json(&drained, "ecs", "update-container-instances-state", "--cluster", "web", "--container-instances", ci, "--status", "DRAINING")
	if len(drained.ContainerInstances) != 1 || drained.ContainerInstances[0].Status != "DRAINING" || len(drained.Failures) != 0 {
		t.Fatalf("update-container-instances-state returned %+v", drained)
	}
	aws.eventually("no task on the instance desired RUNNING", func() (bool, string) {
		left := aws.taskArns("--cluster", "web", "--container-instance", ci, "--desired-status", "RUNNING")
		return len(left) == 0, fmt.Sprint(left)
	})
	aws.eventually("the instance's tasks STOPPED", func() (bool, string) {
		st := aws.lastStatuses(onInstance)
		return slices.Equal(st, []string{"STOPPED"}), fmt.Sprintf("last statuses %v", st)
	})
	// The hook still holds the instance: nothing has completed the action.
	if state := aws.lifecycleState(instanceID); state != "Terminating:Wait" {
		t.Fatalf("instance %s is %q before the lifecycle action was completed, want Terminating:Wait", instanceID, state)
	}

	complete := []string{"autoscaling", "complete-lifecycle-action", "--auto-scaling-group-name", "web-asg",
		"--lifecycle-hook-name", "drain", "--lifecycle-action-result", "CONTINUE", "--instance-id", instanceID}
	aws.ok(complete...)
	aws.eventually("instance terminated", func() (bool, string) {
		state := aws.lifecycleState(instanceID)
		return state == "" || state == "Terminated", state
	})
	return complete
}

// cliCheckErrorEnvelopes checks the error envelopes, decoded by botocore: a second completion
// (the command complete), and calls about a missing cluster.
func cliCheckErrorEnvelopes(t *testing.T, aws *cliRunner, complete []string, instanceID string) {
	t.Helper()
	_, stderr := aws.fails(cliExitServiceError, complete...)
	if want := "No active Lifecycle Action found with instance ID " + instanceID; !strings.Contains(stderr, "(ValidationError)") || !strings.Contains(stderr, want) {
		t.Errorf("a second complete-lifecycle-action printed %q, want ValidationError and %q", stderr, want)
	}
	var missing struct {
		Clusters []any
		Failures []struct{ Arn, Reason string }
	}
	aws.json(&missing, "ecs", "describe-clusters", "--clusters", "no-such-cluster")
	if len(missing.Clusters) != 0 || len(missing.Failures) != 1 || missing.Failures[0].Reason != "MISSING" ||
		!strings.HasSuffix(missing.Failures[0].Arn, ":cluster/no-such-cluster") {
		t.Errorf("describe-clusters of a missing cluster returned %+v", missing)
	}
	if _, stderr := aws.fails(cliExitServiceError, "ecs", "list-container-instances", "--cluster", "no-such-cluster"); !strings.Contains(stderr, "(ClusterNotFoundException)") {
		t.Errorf("list-container-instances on a missing cluster printed %q, want ClusterNotFoundException", stderr)
	}
}

// cliCheckSimAccount checks the simulator's own account of the drain of instanceID: no task
// died with the host, one completion.
func cliCheckSimAccount(t *testing.T, sim *harness.Process, instanceID string) {
	t.Helper()
	mfs, err := harness.Metrics(sim.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mfs["awssim_tasks_stopped_total"]; !ok {
		t.Fatal("awssim /metrics has no awssim_tasks_stopped_total")
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"awssim_tasks_stopped_total", map[string]string{"reason": "host_terminated"}, 0},
		{"awssim_tasks_stopped_total", map[string]string{"reason": "draining"}, 2},
		{"awssim_lifecycle_actions_completed_total", map[string]string{"result": "CONTINUE"}, 1},
		{"awssim_lifecycle_actions_timed_out_total", nil, 0},
	} {
		if got := harness.Sum(mfs, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	var timelines []cliTimeline
	cliDebugJSON(t, sim, "/debug/timeline", &timelines)
	i := slices.IndexFunc(timelines, func(tl cliTimeline) bool { return tl.InstanceID == instanceID })
	if i < 0 || timelines[i].Completions != 1 || timelines[i].TasksKilled != 0 {
		t.Errorf("/debug/timeline for %s: %+v, want one completion and no task killed", instanceID, timelines)
	}
}

// cliTimeline is the part of an awssim /debug/timeline entry the test reads.
type cliTimeline struct {
	InstanceID               string
	Completions, TasksKilled int
}

// cliPagination checks that the CLI's paginators (botocore paginators-1.json) follow awssim's
// tokens to the end when every page holds one item, and that each page is one request.
func cliPagination(t *testing.T, simBin string) {
	sim := cliStartSim(t, simBin, "--page-size", "1")
	aws := newCLIRunner(t, sim)

	for _, c := range []string{"a", "b", "c"} {
		aws.ok("ecs", "create-cluster", "--cluster-name", c)
	}
	aws.ok("ecs", "register-task-definition", "--family", "web",
		"--container-definitions", `[{"name":"app","image":"public.ecr.aws/nginx/nginx:1","memory":128}]`)
	aws.ok("autoscaling", "create-auto-scaling-group", "--auto-scaling-group-name", "g1", "--min-size", "0", "--max-size", "4",
		"--desired-capacity", "3", "--launch-template", "LaunchTemplateName=ecs-node", "--tags", "Key=awssim:ecs-cluster,Value=a")
	aws.ok("autoscaling", "create-auto-scaling-group", "--auto-scaling-group-name", "g2", "--min-size", "0", "--max-size", "4",
		"--desired-capacity", "0", "--launch-template", "LaunchTemplateName=ecs-node")
	aws.eventually("three container instances", func() (bool, string) {
		var out struct{ ContainerInstanceArns []string }
		aws.json(&out, "ecs", "list-container-instances", "--cluster", "a")
		return len(out.ContainerInstanceArns) == 3, fmt.Sprint(out.ContainerInstanceArns)
	})
	aws.ok("ecs", "create-service", "--cluster", "a", "--service-name", "s1", "--task-definition", "web", "--desired-count", "4")
	aws.ok("ecs", "create-service", "--cluster", "a", "--service-name", "s2", "--task-definition", "web", "--desired-count", "1")
	aws.eventually("five tasks placed", func() (bool, string) {
		n := len(aws.taskArns("--cluster", "a"))
		return n == 5, fmt.Sprintf("%d tasks", n)
	})

	for _, c := range []struct {
		op   string // service/Operation as awssim counts it
		args []string
		key  string
		want int
	}{
		{"ecs/ListClusters", []string{"ecs", "list-clusters"}, "clusterArns", 3},
		{"ecs/ListContainerInstances", []string{"ecs", "list-container-instances", "--cluster", "a"}, "containerInstanceArns", 3},
		{"ecs/ListServices", []string{"ecs", "list-services", "--cluster", "a"}, "serviceArns", 2},
		{"ecs/ListTasks", []string{"ecs", "list-tasks", "--cluster", "a"}, "taskArns", 5},
		{"autoscaling/DescribeAutoScalingGroups", []string{"autoscaling", "describe-auto-scaling-groups"}, "AutoScalingGroups", 2},
		{"autoscaling/DescribeAutoScalingInstances", []string{"autoscaling", "describe-auto-scaling-instances"}, "AutoScalingInstances", 3},
	} {
		before := cliRequestCount(t, sim, c.op)
		var out map[string]json.RawMessage
		aws.json(&out, c.args...)
		var items []json.RawMessage
		if err := json.Unmarshal(out[c.key], &items); err != nil {
			t.Fatalf("%v: decoding %s: %v", c.args, c.key, err)
		}
		if len(items) != c.want {
			t.Errorf("%v returned %d %s, want %d", c.args, len(items), c.key, c.want)
		}
		// One page per item, and no trailing empty page: awssim sends a token only when more follow.
		if pages := cliRequestCount(t, sim, c.op) - before; pages != c.want {
			t.Errorf("%v took %d %s requests, want %d", c.args, pages, c.op, c.want)
		}
	}

	// Without auto-pagination the CLI shows the first page and the token it was given.
	var page struct {
		ClusterArns []string `json:"clusterArns"`
		NextToken   string   `json:"nextToken"`
	}
	aws.json(&page, "ecs", "list-clusters", "--no-paginate")
	if len(page.ClusterArns) != 1 || page.NextToken == "" {
		t.Errorf("list-clusters --no-paginate returned %+v, want one cluster and a nextToken", page)
	}
}

func cliStartSim(t *testing.T, bin string, flags ...string) *harness.Process {
	t.Helper()
	sim, err := harness.StartSim(bin, flags...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Kill)
	return sim
}

// cliRunner runs /usr/bin/aws against one awssim with fake credentials and nothing from the host's
// AWS configuration.
type cliRunner struct {
	t        *testing.T
	endpoint string
	env      []string
}

func newCLIRunner(t *testing.T, sim *harness.Process) *cliRunner {
	endpoint := "http://" + sim.Addr
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "PAGER=")
	})
	env = append(env, harness.ControllerEnv(endpoint)...)
	env = append(env, "AWS_PAGER=", "AWS_CLI_AUTO_PROMPT=off")
	return &cliRunner{t: t, endpoint: endpoint, env: env}
}

// run returns stdout, stderr and the exit code. --endpoint-url is always passed as well as
// AWS_ENDPOINT_URL: CLI releases before 2.13 (Debian 12 ships 2.9) ignore the variable and would
// otherwise call the real AWS endpoint.
func (c *cliRunner) run(args ...string) (string, string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 60*time.Second)
	defer cancel()
	full := append([]string{"--endpoint-url", c.endpoint, "--output", "json", "--no-cli-pager"}, args...)
	cmd := exec.CommandContext(ctx, cliPath, full...)
	cmd.Env = c.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitCode()
	default:
		c.t.Fatalf("running aws %s: %v", strings.Join(args, " "), err)
		return "", "", -1
	}
}

// ok runs a command that must succeed and returns its stdout.
func (c *cliRunner) ok(args ...string) string {
	c.t.Helper()
	stdout, stderr, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("aws %s exited %d:\n%s%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// json runs a command that must succeed and decodes its JSON output into v.
func (c *cliRunner) json(v any, args ...string) {
	c.t.Helper()
	stdout := c.ok(args...)
	if err := json.Unmarshal([]byte(stdout), v); err != nil {
		c.t.Fatalf("decoding the output of aws %s: %v\n%s", strings.Join(args, " "), err, stdout)
	}
}

// fails runs a command that must exit with code and returns its stdout and stderr.
func (c *cliRunner) fails(code int, args ...string) (string, string) {
	c.t.Helper()
	stdout, stderr, got := c.run(args...)
	if got != code {
		c.t.Fatalf("aws %s exited %d, want %d:\n%s%s", strings.Join(args, " "), got, code, stdout, stderr)
	}
	return stdout, stderr
}

func (c *cliRunner) eventually(what string, cond func() (bool, string)) {
	c.t.Helper()
	if err := harness.Eventually(30*time.Second, 200*time.Millisecond, cond); err != nil {
		c.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// taskArns is `aws ecs list-tasks` with the given filters, every page.
func (c *cliRunner) taskArns(filters ...string) []string {
	c.t.Helper()
	var out struct{ TaskArns []string }
	c.json(&out, append([]string{"ecs", "list-tasks"}, filters...)...)
	return out.TaskArns
}

// lastStatuses is the sorted set of lastStatus values of tasks in cluster web.
func (c *cliRunner) lastStatuses(tasks []string) []string {
	c.t.Helper()
	var out struct{ Tasks []struct{ LastStatus string } }
	c.json(&out, append([]string{"ecs", "describe-tasks", "--cluster", "web", "--tasks"}, tasks...)...)
	var st []string
	for _, task := range out.Tasks {
		st = append(st, task.LastStatus)
	}
	slices.Sort(st)
	return slices.Compact(st)
}

// lifecycleState is the instance's Auto Scaling lifecycle state, "" when the group no longer lists it.
func (c *cliRunner) lifecycleState(instanceID string) string {
	c.t.Helper()
	var out struct {
		AutoScalingInstances []struct{ LifecycleState string }
	}
	c.json(&out, "autoscaling", "describe-auto-scaling-instances", "--instance-ids", instanceID)
	if len(out.AutoScalingInstances) == 0 {
		return ""
	}
	return out.AutoScalingInstances[0].LifecycleState
}

// cliRequestCount is how many successful requests of op ("service/Operation") awssim has answered.
func cliRequestCount(t *testing.T, sim *harness.Process, op string) int {
	t.Helper()
	var stats struct{ Requests map[string]int }
	cliDebugJSON(t, sim, "/debug/stats", &stats)
	return stats.Requests[op+"/OK"]
}

// cliDebugJSON reads one of awssim's /debug endpoints (the simulator's ground truth; no AWS API).
func cliDebugJSON(t *testing.T, sim *harness.Process, path string, v any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+sim.Addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reading %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
}
