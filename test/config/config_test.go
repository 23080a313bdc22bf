// Package config_test checks the deployment artefacts under config/ and the Dockerfile: that
// they parse, that they agree with the README (flags) and the metrics (names) and with each other (the
// IAM policy in JSON and in CloudFormation), and, when promtool and cfn-lint are on PATH, that
// those tools accept them. It has no non-test code: the artefacts are the product.
package config_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecs-drainer/ecs-drainer/pkg/events"
)

// ControllerActions is every AWS API action the controller calls, as IAM names it. The IAM
// policy must grant exactly these. A later test derives the set from the code (pkg/awsapi); until
// then this list is the contract.
var ControllerActions = []string{
	"autoscaling:CompleteLifecycleAction",
	"autoscaling:DescribeAutoScalingGroups",
	"autoscaling:DescribeLifecycleHooks",
	"autoscaling:PutLifecycleHook",
	"autoscaling:RecordLifecycleActionHeartbeat",
	"ecs:DescribeContainerInstances",
	"ecs:DescribeServices",
	"ecs:DescribeTasks",
	"ecs:ListClusters",
	"ecs:ListContainerInstances",
	"ecs:ListTasks",
	"ecs:StopTask",
	"ecs:TagResource",
	"ecs:UpdateContainerInstancesState",
	"sqs:DeleteMessage",
	"sqs:GetQueueAttributes",
	"sqs:ReceiveMessage",
}

// unscopedActions are the controller's actions that support no resource-level permission or
// condition, so "Resource": "*" without a condition is the least privilege for them.
var unscopedActions = []string{
	"autoscaling:DescribeAutoScalingGroups",
	"autoscaling:DescribeLifecycleHooks",
	"ecs:ListClusters",
}

const (
	asgTagConditionKey = "aws:ResourceTag/ecs-drainer/enabled"
	drainStartedTagKey = "ecs-drainer/drain-started-at"
	defaultHTTPPort    = "8080"
	imagePlaceholder   = "public.ecr.aws/your-org/ecs-drainer:latest"
)

// repoPath returns the path of a file of the repository; tests run in test/config.
func repoPath(parts ...string) string {
	return filepath.Join(append([]string{"..", ".."}, parts...)...)
}

func readFile(t *testing.T, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(repoPath(parts...))
	if err != nil {
		t.Fatalf("reading %s: %v", filepath.Join(parts...), err)
	}
	return b
}

func readJSON(t *testing.T, v any, parts ...string) {
	t.Helper()
	if err := json.Unmarshal(readFile(t, parts...), v); err != nil {
		t.Fatalf("parsing %s: %v", filepath.Join(parts...), err)
	}
}

func TestJSONArtefactsParse(t *testing.T) {
	files := []string{
		"config/iam/policy.json",
		"config/iam/trust-policy.json",
		"config/ecs/task-definition.json",
		"config/ecs/service.json",
		"config/grafana/ecs-drainer.json",
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			var v map[string]any
			readJSON(t, &v, f)
			if len(v) == 0 {
				t.Errorf("%s is an empty object", f)
			}
		})
	}
}

// policyDocument is an IAM policy. Action and Resource may be a string or a list; stringList
// reads both.
type policyDocument struct {
	Version   string
	Statement []statement
}

type statement struct {
	Sid       string
	Effect    string
	Principal map[string]any
	Action    stringList
	Resource  stringList
	Condition map[string]map[string]stringList
}

type stringList []string

func (s *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = stringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a string or a list of strings, got %s", b)
	}
	*s = many
	return nil
}

// grantedActions returns the sorted, de-duplicated actions of every statement.
func grantedActions(doc policyDocument) []string {
	var all []string
	for _, s := range doc.Statement {
		all = append(all, s.Action...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// actionDiff compares granted actions with ControllerActions and describes the difference, or
// returns "" when they are the same set.
func actionDiff(granted []string) string {
	var missing, extra []string
	for _, a := range ControllerActions {
		if !slices.Contains(granted, a) {
			missing = append(missing, a)
		}
	}
	for _, a := range granted {
		if !slices.Contains(ControllerActions, a) {
			extra = append(extra, a)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	return fmt.Sprintf("missing %v, not called by the controller %v", missing, extra)
}

// statementsFor returns the statements that grant action.
func statementsFor(doc policyDocument, action string) []statement {
	var out []statement
	for _, s := range doc.Statement {
		if slices.Contains(s.Action, action) {
			out = append(out, s)
		}
	}
	return out
}

func TestIAMPolicyGrantsExactlyTheControllerActions(t *testing.T) {
	var doc policyDocument
	readJSON(t, &doc, "config/iam/policy.json")
	if doc.Version != "2012-10-17" {
		t.Errorf("Version = %q, want 2012-10-17 (the only version that supports policy variables)", doc.Version)
	}
	if d := actionDiff(grantedActions(doc)); d != "" {
		t.Errorf("policy.json does not grant exactly ControllerActions: %s", d)
	}
	sids := map[string]bool{}
	for i, s := range doc.Statement {
		if s.Effect != "Allow" {
			t.Errorf("statement %d (%s): Effect %q, want Allow", i, s.Sid, s.Effect)
		}
		if s.Sid == "" || sids[s.Sid] {
			t.Errorf("statement %d: Sid %q is empty or repeated; Sids name statements in the README", i, s.Sid)
		}
		sids[s.Sid] = true
		for _, a := range s.Action {
			if strings.Contains(a, "*") {
				t.Errorf("statement %s: wildcard action %q", s.Sid, a)
			}
		}
		if len(s.Resource) == 0 {
			t.Errorf("statement %s: no Resource", s.Sid)
		}
		if slices.Contains(s.Resource, "*") && len(s.Condition) == 0 {
			for _, a := range s.Action {
				if !slices.Contains(unscopedActions, a) {
					t.Errorf("statement %s: %s on Resource * without a condition; it supports a narrower scope", s.Sid, a)
				}
			}
		}
	}
}

func TestIAMPolicyScopes(t *testing.T) {
	var doc policyDocument
	readJSON(t, &doc, "config/iam/policy.json")

	tests := []struct {
		action string
		check  func(statement) error
	}{
		{"autoscaling:CompleteLifecycleAction", requireASGTag},
		{"autoscaling:RecordLifecycleActionHeartbeat", requireASGTag},
		{"autoscaling:PutLifecycleHook", requireASGTag},
		{"ecs:DescribeContainerInstances", requireClusterCondition},
		{"ecs:UpdateContainerInstancesState", requireClusterCondition},
		{"ecs:ListTasks", requireClusterCondition},
		{"ecs:DescribeTasks", requireClusterCondition},
		{"ecs:StopTask", requireClusterCondition},
		{"ecs:ListContainerInstances", requireResources("arn:aws:ecs:*:*:cluster/*")},
		{"ecs:TagResource", requireDrainTagOnContainerInstances},
		{"sqs:ReceiveMessage", requireOneQueue},
		{"sqs:DeleteMessage", requireOneQueue},
		{"sqs:GetQueueAttributes", requireOneQueue},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			stmts := statementsFor(doc, tt.action)
			if len(stmts) == 0 {
				t.Fatalf("no statement grants %s", tt.action)
			}
			// Every statement granting the action must be narrow: one broad statement
			// would make the narrow ones pointless.
			for _, s := range stmts {
				if err := tt.check(s); err != nil {
					t.Errorf("statement %s: %v", s.Sid, err)
				}
			}
		})
	}
}

// requireOneQueue: the event consumer's actions apply to its queue only, named in full.
func requireOneQueue(s statement) error {
	if len(s.Resource) != 1 {
		return fmt.Errorf("resources %v, want the one event queue", s.Resource)
	}
	r := s.Resource[0]
	name := r[strings.LastIndex(r, ":")+1:]
	if !strings.HasPrefix(r, "arn:aws:sqs:") || strings.ContainsAny(name, "*?") || name == "" {
		return fmt.Errorf("resource %q is not one SQS queue's ARN", r)
	}
	return nil
}

func requireASGTag(s statement) error {
	if got := s.Condition["StringEquals"][asgTagConditionKey]; !slices.Equal(got, stringList{"true"}) {
		return fmt.Errorf("condition StringEquals %s = %v, want [true]", asgTagConditionKey, got)
	}
	for _, r := range s.Resource {
		if !strings.HasPrefix(r, "arn:aws:autoscaling:") || !strings.Contains(r, ":autoScalingGroup:") {
			return fmt.Errorf("resource %q is not an Auto Scaling group ARN", r)
		}
	}
	return nil
}

func requireClusterCondition(s statement) error {
	got := s.Condition["ArnLike"]["ecs:cluster"]
	if len(got) == 0 {
		return fmt.Errorf("no ArnLike ecs:cluster condition")
	}
	for _, c := range got {
		if !strings.HasPrefix(c, "arn:aws:ecs:") || !strings.Contains(c, ":cluster/") {
			return fmt.Errorf("ecs:cluster %q is not a cluster ARN pattern", c)
		}
	}
	return nil
}

func requireResources(want ...string) func(statement) error {
	return func(s statement) error {
		if !slices.Equal([]string(s.Resource), want) {
			return fmt.Errorf("Resource = %v, want %v", s.Resource, want)
		}
		return nil
	}
}

func requireDrainTagOnContainerInstances(s statement) error {
	for _, r := range s.Resource {
		if !strings.HasPrefix(r, "arn:aws:ecs:") || !strings.Contains(r, ":container-instance/") {
			return fmt.Errorf("resource %q is not a container-instance ARN", r)
		}
	}
	if got := s.Condition["ForAllValues:StringEquals"]["aws:TagKeys"]; !slices.Equal(got, stringList{drainStartedTagKey}) {
		return fmt.Errorf("ForAllValues:StringEquals aws:TagKeys = %v, want [%s]", got, drainStartedTagKey)
	}
	// ForAllValues holds for an empty key list, so require the key to be present.
	if got := s.Condition["Null"]["aws:TagKeys"]; !slices.Equal(got, stringList{"false"}) {
		return fmt.Errorf(`Null aws:TagKeys = %v, want ["false"]`, got)
	}
	return nil
}

func TestTrustPolicyLetsOnlyECSTasksAssumeTheRole(t *testing.T) {
	var doc policyDocument
	readJSON(t, &doc, "config/iam/trust-policy.json")
	if len(doc.Statement) != 1 {
		t.Fatalf("%d statements, want 1", len(doc.Statement))
	}
	s := doc.Statement[0]
	if s.Effect != "Allow" || !slices.Equal(s.Action, stringList{"sts:AssumeRole"}) {
		t.Errorf("Effect %q Action %v, want Allow sts:AssumeRole", s.Effect, s.Action)
	}
	want := map[string]any{"Service": "ecs-tasks.amazonaws.com"}
	if fmt.Sprint(s.Principal) != fmt.Sprint(want) {
		t.Errorf("Principal = %v, want %v", s.Principal, want)
	}
}

// flagEnvNames reads the flag table of the README's Configuration section and returns each
// flag's environment variable, except --version, which is not read from the environment.
func flagEnvNames(t *testing.T) []string {
	t.Helper()
	readme := string(readFile(t, "README.md"))
	_, section, ok := strings.Cut(readme, "\n## Configuration\n")
	if !ok {
		t.Fatal(`README.md has no "## Configuration" section`)
	}
	section, _, _ = strings.Cut(section, "\n#")
	flagRE := regexp.MustCompile("`--([a-z0-9-]+)`")
	var names []string
	for line := range strings.Lines(section) {
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		for _, m := range flagRE.FindAllStringSubmatch(cells[1], -1) {
			if m[1] != "version" {
				names = append(names, envName(m[1]))
			}
		}
	}
	if len(names) < 10 {
		t.Fatalf("found only %d flags in README.md: %v; has the table changed shape?", len(names), names)
	}
	return names
}

// envName is the environment variable of a flag: its name in SCREAMING_SNAKE case.
func envName(flag string) string {
	return strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// sdkEnvNames are environment variables read by the AWS SDK, not by a flag, that a deployment
// may set.
var sdkEnvNames = []string{"AWS_REGION", "AWS_DEFAULT_REGION"}

// checkControllerEnv checks a container's environment: every name is a flag's variable or an
// SDK's, none is repeated, --simulate is off, the HTTP port is the one exposed, and each value
// has its flag's type.
func checkControllerEnv(t *testing.T, env map[string]string, names []string) {
	t.Helper()
	flags := flagEnvNames(t)
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("environment variable %s is set twice", n)
		}
		seen[n] = true
		if !slices.Contains(flags, n) && !slices.Contains(sdkEnvNames, n) {
			t.Errorf("environment variable %s is neither a flag of README.md nor an AWS SDK variable", n)
		}
	}
	if env["SIMULATE"] != "" && env["SIMULATE"] != "false" {
		t.Errorf("SIMULATE=%s: a deployment must talk to AWS", env["SIMULATE"])
	}
	if _, port, err := net.SplitHostPort(env["HTTP_ADDR"]); err != nil || port != defaultHTTPPort {
		t.Errorf("HTTP_ADDR=%q: want port %s, the port mapped and exposed", env["HTTP_ADDR"], defaultHTTPPort)
	}
	for name, value := range env {
		if err := checkFlagValue(name, value); err != nil {
			t.Errorf("%s=%q: %v", name, value, err)
		}
	}
}

// flagKinds gives the type of each flag whose values can be checked here, as README.md
// defines them: a duration, a number, a boolean, or one of a list of words.
var flagKinds = map[string]any{
	"HOOK_HEARTBEAT_TIMEOUT": time.Duration(0),
	"RESYNC_PERIOD":          time.Duration(0),
	"POLL_INTERVAL":          time.Duration(0),
	"STANDALONE_TASK_GRACE":  time.Duration(0),
	"DRAIN_TIMEOUT":          time.Duration(0),
	"WORKERS":                0,
	"AWS_BURST":              0,
	"AWS_QPS":                0.0,
	"MANAGE_HOOKS":           false,
	"DRY_RUN":                false,
	"SIMULATE":               false,
	"STANDALONE_TASK_POLICY": []string{"stop", "wait"},
	"DRAIN_TIMEOUT_ACTION":   []string{"stop-tasks", "continue", "abandon"},
	"LOG_FORMAT":             []string{"json", "console"},
	"LOG_LEVEL":              []string{"info", "debug"},
	"QUEUE_URL":              queueURL{},
}

// queueURL is the kind of --queue-url: empty (poll only) or a standard SQS queue's URL.
type queueURL struct{}

func TestFlagKindsNameRealFlags(t *testing.T) {
	flags := flagEnvNames(t)
	for name := range flagKinds {
		if !slices.Contains(flags, name) {
			t.Errorf("flagKinds has %s, which is no flag of README.md", name)
		}
	}
}

func checkFlagValue(name, value string) error {
	var err error
	switch kind := flagKinds[name].(type) {
	case time.Duration:
		var d time.Duration
		if d, err = time.ParseDuration(value); err == nil && d <= 0 {
			err = fmt.Errorf("want a positive duration")
		}
	case int:
		var n int
		if n, err = strconv.Atoi(value); err == nil && n <= 0 {
			err = fmt.Errorf("want a positive integer")
		}
	case float64:
		var f float64
		if f, err = strconv.ParseFloat(value, 64); err == nil && f <= 0 {
			err = fmt.Errorf("want a positive number")
		}
	case bool:
		_, err = strconv.ParseBool(value)
	case []string:
		if !slices.Contains(kind, value) {
			err = fmt.Errorf("want one of %v", kind)
		}
	case queueURL:
		err = events.Config{QueueURL: value}.Validate()
	}
	return err
}

type taskDefinition struct {
	Family                  string
	TaskRoleArn             string
	ExecutionRoleArn        string
	NetworkMode             string
	RequiresCompatibilities []string
	CPU                     string `json:"cpu"`
	Memory                  string
	ContainerDefinitions    []struct {
		Name                   string
		Image                  string
		Essential              bool
		ReadonlyRootFilesystem bool
		User                   string
		HealthCheck            json.RawMessage
		PortMappings           []struct {
			ContainerPort int
			Protocol      string
		}
		Environment []struct {
			Name  string
			Value string
		}
		LogConfiguration struct {
			LogDriver string
			Options   map[string]string
		}
	}
}

func TestTaskDefinition(t *testing.T) {
	var td taskDefinition
	readJSON(t, &td, "config/ecs/task-definition.json")

	checkFargateSettings(t, td)
	if len(td.ContainerDefinitions) != 1 {
		t.Fatalf("%d containers, want 1", len(td.ContainerDefinitions))
	}
	c := td.ContainerDefinitions[0]
	if c.Image != imagePlaceholder {
		t.Errorf("image %q, want the placeholder %q the README tells people to replace", c.Image, imagePlaceholder)
	}
	if !c.Essential || !c.ReadonlyRootFilesystem {
		t.Errorf("essential=%v readonlyRootFilesystem=%v, want both true", c.Essential, c.ReadonlyRootFilesystem)
	}
	if len(c.HealthCheck) != 0 {
		t.Error("healthCheck set: the distroless image has no command to run it (see config/README.md)")
	}
	if len(c.PortMappings) != 1 || fmt.Sprint(c.PortMappings[0].ContainerPort) != defaultHTTPPort {
		t.Errorf("portMappings %+v, want one for %s", c.PortMappings, defaultHTTPPort)
	}
	if c.LogConfiguration.LogDriver != "awslogs" {
		t.Errorf("logDriver %q, want awslogs", c.LogConfiguration.LogDriver)
	}
	env := map[string]string{}
	var names []string
	for _, e := range c.Environment {
		env[e.Name] = e.Value
		names = append(names, e.Name)
	}
	checkControllerEnv(t, env, names)
	checkQueueURL(t, env)
}

// checkQueueURL: the task definition shows where the event queue goes (QUEUE_URL, empty while
// there is none), and a queue it names is the one the IAM policy lets the task role consume.
func checkQueueURL(t *testing.T, env map[string]string) {
	t.Helper()
	url, ok := env["QUEUE_URL"]
	if !ok {
		t.Error(`no QUEUE_URL: set it to "" (poll only), for people to fill in with their event queue's URL`)
	}
	if url == "" {
		return
	}
	var doc policyDocument
	readJSON(t, &doc, "config/iam/policy.json")
	name := url[strings.LastIndex(url, "/")+1:]
	for _, s := range statementsFor(doc, "sqs:ReceiveMessage") {
		for _, r := range s.Resource {
			if r[strings.LastIndex(r, ":")+1:] == name {
				return
			}
		}
	}
	t.Errorf("QUEUE_URL %q names a queue config/iam/policy.json does not let the task role receive from", url)
}

// checkFargateSettings checks the task definition's network mode, compatibilities, size and roles.
func checkFargateSettings(t *testing.T, td taskDefinition) {
	t.Helper()
	if td.NetworkMode != "awsvpc" {
		t.Errorf("networkMode %q, want awsvpc (required by Fargate)", td.NetworkMode)
	}
	if !slices.Contains(td.RequiresCompatibilities, "FARGATE") {
		t.Errorf("requiresCompatibilities %v lacks FARGATE", td.RequiresCompatibilities)
	}
	if td.CPU != "256" || td.Memory != "512" {
		t.Errorf("cpu/memory = %s/%s, want 256/512 (0.25 vCPU, 512 MiB)", td.CPU, td.Memory)
	}
	if td.TaskRoleArn == "" || td.ExecutionRoleArn == "" {
		t.Error("taskRoleArn and executionRoleArn must both be set")
	}
}

func TestService(t *testing.T) {
	var svc struct {
		DesiredCount            int
		LaunchType              string
		DeploymentConfiguration struct {
			MaximumPercent           int
			MinimumHealthyPercent    int
			DeploymentCircuitBreaker struct{ Enable, Rollback bool }
		}
		NetworkConfiguration struct {
			AwsvpcConfiguration struct {
				Subnets, SecurityGroups []string
				AssignPublicIP          string `json:"assignPublicIp"`
			}
		}
	}
	readJSON(t, &svc, "config/ecs/service.json")
	dc := svc.DeploymentConfiguration
	if svc.DesiredCount != 1 {
		t.Errorf("desiredCount %d, want 1", svc.DesiredCount)
	}
	if svc.LaunchType != "FARGATE" {
		t.Errorf("launchType %q, want FARGATE", svc.LaunchType)
	}
	if dc.MaximumPercent != 200 || dc.MinimumHealthyPercent != 100 {
		t.Errorf("deployment max/min %d/%d, want 200/100", dc.MaximumPercent, dc.MinimumHealthyPercent)
	}
	if !dc.DeploymentCircuitBreaker.Enable || !dc.DeploymentCircuitBreaker.Rollback {
		t.Errorf("circuit breaker %+v, want enabled with rollback", dc.DeploymentCircuitBreaker)
	}
	if aws := svc.NetworkConfiguration.AwsvpcConfiguration; len(aws.Subnets) == 0 || len(aws.SecurityGroups) == 0 {
		t.Errorf("awsvpcConfiguration %+v needs subnets and security groups", aws)
	}
}

// ciTools are the checkers .ci/run installs or requires: in CI (CI=true) a missing one fails the
// test instead of skipping it, so that a check cannot quietly stop running.
var ciTools = []string{"promtool", "amtool", "cfn-lint"}

// lookTool finds an external checker, or skips the test when it is not installed, so that `go
// test ./...` works on a bare machine; CI installs the tools.
func lookTool(t *testing.T, tool string) string {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") == "true" && slices.Contains(ciTools, tool) {
			t.Fatalf("%s is not on PATH, and CI must run this check: see .ci/run", tool)
		}
		t.Skipf("%s is not on PATH: skipping this check; install it to run it", tool)
	}
	return path
}

// runTool runs an external checker from dir (see lookTool when it is missing).
func runTool(t *testing.T, dir, tool string, args ...string) {
	t.Helper()
	path := lookTool(t, tool)
	cmd := exec.CommandContext(t.Context(), path, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
}
