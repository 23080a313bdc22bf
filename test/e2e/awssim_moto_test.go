package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// TestMotoDifferential builds the same small fleet in moto (an independent, widely used AWS mock
// whose responses are serialized from botocore's service models) and in awssim, then sends both the
// same raw, signed read requests and compares the shape of the raw responses: the set of field paths
// (XML element paths, JSON key paths), ignoring values and list lengths.
//
// Every path is also checked against the AWS model as compiled into aws-sdk-go-v2's output types
// (by reflection), so the rules are:
//   - a path moto returns that the model defines must be in awssim's response too, unless the pair is
//     in diffMotoQuirks (moto's answer would not be AWS's here) or diffAwssimGaps (reported, to be fixed);
//   - every path awssim returns must be one the model defines: an invented field is a fidelity bug.
//
// Paths only one side returns are logged, so a run shows the whole difference.
func TestMotoDifferential(t *testing.T) {
	sides := diffStart(t)
	ctx := t.Context()
	for _, s := range sides {
		s.as, s.ec = harness.Clients(s.url)
		if err := s.build(ctx); err != nil {
			t.Fatalf("building the scenario in %s: %v", s.name, err)
		}
	}
	diffRunOps(t, sides, diffOps())

	// Both sides must name the same error for the same mistake: the code is what clients branch on.
	// Only ECS: moto answers Auto Scaling lifecycle mistakes (no such hook or action) with an HTML 500.
	const noCluster = "ClusterNotFoundException"
	diffRunErrors(t, sides, []diffErrorCase{
		{service: "ecs", op: "ListContainerInstances", request: `{"cluster":"no-such-cluster"}`, status: http.StatusBadRequest, code: noCluster,
			motoDiffers: "moto lists no instances instead of failing [V: ClusterNotFoundException in the ListContainerInstances API reference]"},
		{service: "ecs", op: "ListTasks", request: `{"cluster":"no-such-cluster"}`, status: http.StatusBadRequest, code: noCluster},
		{service: "ecs", op: "DescribeServices", request: `{"cluster":"no-such-cluster","services":["web"]}`, status: http.StatusBadRequest, code: noCluster},
		{service: "ecs", op: "DescribeContainerInstances", request: `{"cluster":"no-such-cluster","containerInstances":["0123"]}`, status: http.StatusBadRequest, code: noCluster},
		{service: "ecs", op: "UpdateContainerInstancesState", request: `{"cluster":"no-such-cluster","containerInstances":["0123"],"status":"DRAINING"}`, status: http.StatusBadRequest, code: noCluster},
		{service: "ecs", op: "DescribeTaskDefinition", request: `{"taskDefinition":"no-such-family:1"}`, status: http.StatusBadRequest, code: "ClientException"},
	})
}

// diffErrorCase is one mistake both sides must answer with the same status and error code.
// request may hold %[1]s, the side's queue URL.
type diffErrorCase struct {
	service, op, request string
	status               int
	code                 string
	motoDiffers          string // why moto's answer is not AWS's, when it is not
}

// diffRunErrors sends each mistake to both sides and checks the error they name.
func diffRunErrors(t *testing.T, sides []*diffSide, cases []diffErrorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.op+" error", func(t *testing.T) {
			for _, s := range sides {
				request := tc.request
				if strings.Contains(request, "%[1]s") {
					request = fmt.Sprintf(request, s.queueURL)
				}
				status, body, err := s.raw(t.Context(), tc.service, tc.op, request)
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				var e struct {
					Type string `json:"__type"`
				}
				_ = json.Unmarshal(body, &e) // a success body has no __type; the check below reports it
				if code := diffErrorCode(e.Type); status != tc.status || code != tc.code {
					if s.moto && tc.motoDiffers != "" {
						t.Logf("moto quirk, allowlisted: answered HTTP %d %q (%s)", status, code, tc.motoDiffers)
						continue
					}
					t.Errorf("%s: %s answered HTTP %d %q, want %d %q:\n%s", s.name, tc.op, status, code, tc.status, tc.code, body)
				}
			}
		})
	}
}

// diffStart starts moto and awssim and returns their two sides, moto first. It skips the test
// when moto is not installed.
func diffStart(t *testing.T) []*diffSide {
	t.Helper()
	motoBin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skip("moto_server is not on PATH: install moto[server] (pip install 'moto[server]') to run the differential test")
	}
	simBin, _, err := harness.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	moto := startMoto(t, motoBin)
	sim, err := harness.StartSim(simBin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Kill)
	return []*diffSide{{name: "moto", url: moto, moto: true}, {name: "awssim", url: "http://" + sim.Addr}}
}

// diffRunOps sends each op's request to both sides and compares the shapes of the answers.
func diffRunOps(t *testing.T, sides []*diffSide, ops []diffOp) {
	t.Helper()
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			shapes := make([]map[string]bool, 2)
			bodies := make([][]byte, 2)
			for i, s := range sides {
				status, body, err := s.raw(t.Context(), op.service, op.name, op.request(s))
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				if status != op.status {
					t.Fatalf("%s answered %s with HTTP %d, want %d:\n%s", s.name, op.name, status, op.status, body)
				}
				bodies[i] = body
				shapes[i], err = op.shape(body)
				if err != nil {
					t.Fatalf("%s: reading the %s response: %v\n%s", s.name, op.name, err, body)
				}
			}
			diffCompare(t, op, shapes[0], shapes[1])
			if t.Failed() {
				t.Logf("moto answered:\n%s\nawssim answered:\n%s", bodies[0], bodies[1])
			}
		})
	}
}

// diffMotoQuirks are paths moto returns that AWS would not return for this scenario. Each says why;
// [V] marks a reason checked against an AWS source (the API reference, or the AWS examples botocore
// ships in examples-1.json), [I] an inference.
var diffMotoQuirks = diffAllowlist{
	{"DescribeLifecycleHooks", "/LifecycleHooks[]/NotificationTargetARN",
		"moto fills in a placeholder queue (arn:aws:sqs:...:my-queue) for a hook created without one; " +
			"AWS returns only what was set [V: moto's body]"},
	{"DescribeLifecycleHooks", "/LifecycleHooks[]/RoleARN",
		"moto fills in a placeholder role for a hook created without one [V: moto's body]"},
	{"DescribeClusters", "/clusters[]/settings",
		"AWS returns settings only with include=SETTINGS, which the request does not send [V: " +
			"DescribeClusters include parameter; the AWS example has no settings]"},
	{"DescribeClusters", "/clusters[]/settings[]/name",
		"see /clusters[]/settings"},
	{"DescribeClusters", "/clusters[]/settings[]/value",
		"see /clusters[]/settings"},
	{"DescribeServices", "/services[]/deployments[]/platformFamily",
		"platformFamily is a Fargate field; moto sets it for EC2 deployments [I]"},
	{"DescribeServices", "/services[]/networkConfiguration",
		"moto returns an empty object for a service without awsvpc networking; AWS omits it [I]"},
	{"DescribeServices", "/services[]/taskSets",
		"task sets exist only with the EXTERNAL deployment controller; moto returns an empty list for " +
			"an ECS-controlled service [I]"},
	{"DescribeTasks", "/tasks[]/stoppedReason",
		"moto returns an empty stoppedReason for a task that has not stopped [I]"},
	{"DescribeTasks", "/tasks[]/containers[]/exitCode",
		"moto returns exitCode 0 for a container that has not exited [I]"},
	{"DescribeTaskDefinition", "/taskDefinition/networkMode",
		"moto reports the bridge default for a definition registered without a network mode; AWS omits " +
			"it [V: the AWS CLI register-task-definition example (an EC2 definition registered without " +
			"networkMode, answered without it); sil-org/ecs-deploy#61]"},
}

// diffAwssimGaps are model-defined paths AWS returns (moto follows AWS here) that awssim does not
// return yet. Each is reported for routing to pkg/awssim; remove an entry once awssim returns it
// (the test logs entries that no longer differ). Empty: every gap the first run found is fixed.
var diffAwssimGaps = diffAllowlist{}

// diffAwssimExtras are paths awssim returns that the SDK's model types do not define.
var diffAwssimExtras = diffAllowlist{}

// diffAllowlist is a set of operation paths, each with the reason it is allowed to differ.
type diffAllowlist []struct{ op, path, why string }

// reason is why op's path is allowed to differ, or "" when it is not.
func (l diffAllowlist) reason(op, path string) string {
	for _, a := range l {
		if a.op == op && a.path == path {
			return a.why
		}
	}
	return ""
}

func diffCompare(t *testing.T, op diffOp, motoPaths, simPaths map[string]bool) {
	t.Helper()
	for _, p := range diffSortedKeys(motoPaths) {
		quirk, gap := diffMotoQuirks.reason(op.name, p), diffAwssimGaps.reason(op.name, p)
		switch {
		case !motoPaths[p]:
			t.Logf("moto returns %s, which the AWS model does not define: ignored", p)
		case diffHas(simPaths, p):
			if quirk != "" {
				t.Logf("allowlisted moto quirk %s %s no longer differs (%s): remove it", op.name, p, quirk)
			}
			if gap != "" {
				t.Logf("known awssim gap %s %s is fixed (%s): remove it", op.name, p, gap)
			}
		case quirk != "":
			t.Logf("moto quirk, allowlisted: %s (%s)", p, quirk)
		case gap != "":
			t.Logf("known awssim gap, allowlisted: %s (%s)", p, gap)
		default:
			t.Errorf("awssim's %s response lacks %s, which moto returns and the AWS model defines", op.name, p)
		}
	}
	for _, p := range diffSortedKeys(simPaths) {
		extra := diffAwssimExtras.reason(op.name, p)
		switch {
		case !simPaths[p] && extra == "":
			t.Errorf("awssim's %s response has %s, which the AWS model does not define", op.name, p)
		case !simPaths[p]:
			t.Logf("awssim extra, allowlisted: %s (%s)", p, extra)
		case !diffHas(motoPaths, p):
			t.Logf("awssim returns %s, moto does not", p)
		}
	}
}

func diffHas(m map[string]bool, k string) bool { _, ok := m[k]; return ok }

func diffSortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// diffOp is one read request sent to both sides.
type diffOp struct {
	service string // "autoscaling", "ecs", "sqs" or "events"
	name    string
	// request is the Query form (without Action and Version) or the JSON body, built from the IDs
	// the side's scenario produced.
	request func(*diffSide) string
	status  int
	model   reflect.Type // the SDK's output type: the AWS model's shape of a success response
}

// shape turns a raw response into its set of field paths, each mapped to whether the model defines it.
func (op diffOp) shape(body []byte) (map[string]bool, error) {
	if op.service == "autoscaling" {
		return diffQueryShape(body, op.name, op.model)
	}
	return diffJSONShape(body, op.model) // ECS, EventBridge (JSON 1.1) and SQS (JSON 1.0)
}

func diffOps() []diffOp {
	ec := func(name, body string, model any) diffOp {
		return diffOp{service: "ecs", name: name, status: 200, model: reflect.TypeOf(model),
			request: func(*diffSide) string { return body }}
	}
	as := func(name, form string, model any) diffOp {
		return diffOp{service: "autoscaling", name: name, status: 200, model: reflect.TypeOf(model),
			request: func(*diffSide) string { return form }}
	}
	describeCI := ec("DescribeContainerInstances", "", ecs.DescribeContainerInstancesOutput{})
	describeCI.request = func(s *diffSide) string {
		return fmt.Sprintf(`{"cluster":%q,"containerInstances":[%q]}`, diffCluster, s.containerInstanceArn)
	}
	describeTasks := ec("DescribeTasks", "", ecs.DescribeTasksOutput{})
	describeTasks.request = func(s *diffSide) string {
		return fmt.Sprintf(`{"cluster":%q,"tasks":[%q]}`, diffCluster, s.taskArn)
	}
	return []diffOp{
		as("DescribeAutoScalingGroups", "AutoScalingGroupNames.member.1="+diffGroup, autoscaling.DescribeAutoScalingGroupsOutput{}),
		as("DescribeAutoScalingInstances", "", autoscaling.DescribeAutoScalingInstancesOutput{}),
		as("DescribeLifecycleHooks", "AutoScalingGroupName="+diffGroup, autoscaling.DescribeLifecycleHooksOutput{}),
		ec("ListClusters", `{}`, ecs.ListClustersOutput{}),
		// A missing cluster too, so that failures[] is compared.
		ec("DescribeClusters", `{"clusters":["`+diffCluster+`","no-such-cluster"]}`, ecs.DescribeClustersOutput{}),
		ec("ListContainerInstances", `{"cluster":"`+diffCluster+`"}`, ecs.ListContainerInstancesOutput{}),
		describeCI,
		ec("ListServices", `{"cluster":"`+diffCluster+`"}`, ecs.ListServicesOutput{}),
		ec("DescribeServices", `{"cluster":"`+diffCluster+`","services":["`+diffService+`","no-such-service"]}`, ecs.DescribeServicesOutput{}),
		ec("ListTasks", `{"cluster":"`+diffCluster+`"}`, ecs.ListTasksOutput{}),
		describeTasks,
		ec("DescribeTaskDefinition", `{"taskDefinition":"`+diffFamily+`:1"}`, ecs.DescribeTaskDefinitionOutput{}),
	}
}

// The scenario's names, the same on both sides.
const (
	diffCluster = "diff"
	diffGroup   = "diff-asg"
	diffHook    = "drain"
	diffService = "web"
	diffFamily  = "web"
	diffLC      = "diff-lc"
	// motoAMI is one of the images moto knows out of the box; CreateLaunchConfiguration checks it.
	motoAMI = "ami-12c6146b"
)

// diffSide is one of the two servers and the IDs its copy of the scenario produced.
type diffSide struct {
	name string
	url  string
	moto bool
	as   *autoscaling.Client
	ec   *ecs.Client

	containerInstanceArn string
	taskArn              string // a RunTask task, RUNNING
	queueURL             string // the events scenario's queue (awssim_moto_events_test.go)
}

// build creates the scenario: a cluster, a task definition, a two-instance group in the cluster with
// a terminating hook, a service, and one standalone task. moto cannot launch ECS instances from a
// group, so on moto the group's instances are registered by hand (RegisterContainerInstance with an
// instance identity document) and moto needs a launch configuration that awssim only echoes.
func (s *diffSide) build(ctx context.Context) error {
	if _, err := s.ec.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(diffCluster)}); err != nil {
		return fmt.Errorf("creating the cluster: %w", err)
	}
	if _, err := s.ec.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(diffFamily),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String("public.ecr.aws/nginx/nginx:1"),
			Memory: aws.Int32(256), Essential: aws.Bool(true), StopTimeout: aws.Int32(2),
		}},
	}); err != nil {
		return fmt.Errorf("registering the task definition: %w", err)
	}
	if s.moto {
		if _, err := s.as.CreateLaunchConfiguration(ctx, &autoscaling.CreateLaunchConfigurationInput{
			LaunchConfigurationName: aws.String(diffLC), ImageId: aws.String(motoAMI), InstanceType: aws.String("t3.large"),
		}); err != nil {
			return fmt.Errorf("creating the launch configuration: %w", err)
		}
	}
	if _, err := s.as.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName:    aws.String(diffGroup),
		LaunchConfigurationName: aws.String(diffLC),
		MinSize:                 aws.Int32(0), MaxSize: aws.Int32(4), DesiredCapacity: aws.Int32(2),
		AvailabilityZones: []string{"us-east-1a"},
		Tags: []astypes.Tag{
			{Key: aws.String("awssim:ecs-cluster"), Value: aws.String(diffCluster), PropagateAtLaunch: aws.Bool(false)},
			{Key: aws.String("awssim:task-slots"), Value: aws.String("2"), PropagateAtLaunch: aws.Bool(false)},
		},
	}); err != nil {
		return fmt.Errorf("creating the group: %w", err)
	}
	if _, err := s.as.PutLifecycleHook(ctx, &autoscaling.PutLifecycleHookInput{
		AutoScalingGroupName: aws.String(diffGroup), LifecycleHookName: aws.String(diffHook),
		LifecycleTransition: aws.String("autoscaling:EC2_INSTANCE_TERMINATING"),
		HeartbeatTimeout:    aws.Int32(300), DefaultResult: aws.String("CONTINUE"),
	}); err != nil {
		return fmt.Errorf("putting the lifecycle hook: %w", err)
	}

	if err := s.waitInstances(ctx); err != nil {
		return err
	}

	return s.startTasks(ctx)
}

// waitInstances waits for the group's two instances and their container instances, which on
// moto it registers by hand.
func (s *diffSide) waitInstances(ctx context.Context) error {
	var instanceIDs []string
	if err := harness.Eventually(20*time.Second, 100*time.Millisecond, func() (bool, string) {
		out, err := s.as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{diffGroup}})
		if err != nil {
			return false, err.Error()
		}
		instanceIDs = instanceIDs[:0]
		for _, g := range out.AutoScalingGroups {
			for _, i := range g.Instances {
				if i.LifecycleState == astypes.LifecycleStateInService {
					instanceIDs = append(instanceIDs, aws.ToString(i.InstanceId))
				}
			}
		}
		return len(instanceIDs) == 2, fmt.Sprintf("%d instances InService", len(instanceIDs))
	}); err != nil {
		return fmt.Errorf("waiting for the group's instances: %w", err)
	}
	if s.moto {
		for _, id := range instanceIDs {
			doc := fmt.Sprintf(`{"instanceId":%q,"region":"us-east-1","availabilityZone":"us-east-1a","instanceType":"t3.large"}`, id)
			if _, err := s.ec.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{
				Cluster: aws.String(diffCluster), InstanceIdentityDocument: aws.String(doc),
			}); err != nil {
				return fmt.Errorf("registering container instance %s: %w", id, err)
			}
		}
	}
	if err := harness.Eventually(20*time.Second, 100*time.Millisecond, func() (bool, string) {
		out, err := s.ec.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(diffCluster)})
		if err != nil {
			return false, err.Error()
		}
		if len(out.ContainerInstanceArns) != 2 {
			return false, fmt.Sprintf("%d container instances", len(out.ContainerInstanceArns))
		}
		s.containerInstanceArn = out.ContainerInstanceArns[0]
		return true, ""
	}); err != nil {
		return fmt.Errorf("waiting for the container instances: %w", err)
	}
	return nil
}

// startTasks creates the service and runs one standalone task, and on awssim waits for it to
// start, so both sides describe a RUNNING task.
func (s *diffSide) startTasks(ctx context.Context) error {
	if _, err := s.ec.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String(diffCluster), ServiceName: aws.String(diffService), TaskDefinition: aws.String(diffFamily),
		DesiredCount: aws.Int32(1), LaunchType: ecstypes.LaunchTypeEc2,
	}); err != nil {
		return fmt.Errorf("creating the service: %w", err)
	}
	// RunTask goes raw: moto answers it with numbers where the model has strings (task cpu and
	// memory), which the SDK rightly refuses to decode.
	status, body, err := s.raw(ctx, "ecs", "RunTask", fmt.Sprintf(
		`{"cluster":%q,"taskDefinition":%q,"count":1,"startedBy":"differential","launchType":"EC2"}`, diffCluster, diffFamily))
	if err != nil {
		return err
	}
	var run struct {
		Tasks []struct {
			TaskArn string `json:"taskArn"`
		} `json:"tasks"`
	}
	if status != http.StatusOK {
		return fmt.Errorf("running a task: HTTP %d:\n%s", status, body)
	}
	if err := json.Unmarshal(body, &run); err != nil {
		return fmt.Errorf("decoding the RunTask response: %w", err)
	}
	if len(run.Tasks) != 1 {
		return fmt.Errorf("running a task: want one task, got:\n%s", body)
	}
	s.taskArn = run.Tasks[0].TaskArn
	if s.moto {
		return nil // moto's tasks are RUNNING at once
	}
	// Wait for awssim's task to start, so both sides describe a RUNNING task.
	return harness.Eventually(20*time.Second, 100*time.Millisecond, func() (bool, string) {
		out, err := s.ec.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(diffCluster), Tasks: []string{s.taskArn}})
		if err != nil {
			return false, err.Error()
		}
		if len(out.Tasks) != 1 || aws.ToString(out.Tasks[0].LastStatus) != "RUNNING" {
			return false, fmt.Sprintf("task not RUNNING: %+v", out.Tasks)
		}
		return true, ""
	})
}

// diffTargetPrefix is each JSON service's X-Amz-Target prefix.
var diffTargetPrefix = map[string]string{
	"ecs": "AmazonEC2ContainerServiceV20141113.", "events": "AWSEvents.", "sqs": "AmazonSQS.",
}

// raw sends one signed request with net/http, as an SDK would, and returns the status and body.
func (s *diffSide) raw(ctx context.Context, service, op, payload string) (int, []byte, error) {
	var body string
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/", nil)
	if err != nil {
		return 0, nil, fmt.Errorf("building the %s request: %w", op, err)
	}
	switch service {
	case "ecs", "events", "sqs":
		body = payload
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", diffTargetPrefix[service]+op)
		if service == "sqs" {
			req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		}
	default:
		body = "Action=" + op + "&Version=2011-01-01"
		if payload != "" {
			body += "&" + payload
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	}
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: harness.FakeAccessKey, SecretAccessKey: harness.FakeSecretKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, harness.Region, time.Now()); err != nil {
		return 0, nil, fmt.Errorf("signing the %s request: %w", op, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("sending %s to %s: %w", op, s.name, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("reading the %s response from %s: %w", op, s.name, err)
	}
	return resp.StatusCode, out, nil
}

// diffJSONShape lists the key paths of a JSON body: "/tasks[]/containers[]/name". Keys under a map
// shape are data, not fields, so they become "*". Null values are absent, as the SDK reads them.
func diffJSONShape(body []byte, model reflect.Type) (map[string]bool, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decoding JSON: %w", err)
	}
	out := map[string]bool{}
	diffWalkJSON(v, model, "", true, out)
	return out, nil
}

func diffWalkJSON(v any, t reflect.Type, prefix string, known bool, out map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		if m := diffMapType(t); m != nil {
			for _, child := range v {
				out[prefix+"/*"] = known
				diffWalkJSON(child, m.Elem(), prefix+"/*", known, out)
			}
			return
		}
		for k, child := range v {
			if child == nil {
				continue
			}
			ct := diffModelField(t, k)
			p := prefix + "/" + k
			out[p] = known && ct != nil
			diffWalkJSON(child, ct, p, known && ct != nil, out)
		}
	case []any:
		for _, item := range v {
			diffWalkJSON(item, diffSliceElem(t), prefix+"[]", known, out)
		}
	}
}

// diffQueryShape lists the element paths inside <OpResult> of an AWS Query response after checking the
// envelope (<OpResponse><OpResult/><ResponseMetadata><RequestId/></ResponseMetadata></OpResponse>).
// List items (<member>) become "[]".
func diffQueryShape(body []byte, op string, model reflect.Type) (map[string]bool, error) {
	root, err := diffParseXML(body)
	if err != nil {
		return nil, err
	}
	if root.name != op+"Response" {
		return nil, fmt.Errorf("root element is <%s>, want <%sResponse>", root.name, op)
	}
	var result *diffXMLNode
	hasRequestID := false
	for _, c := range root.children {
		switch c.name {
		case op + "Result":
			result = c
		case "ResponseMetadata":
			hasRequestID = slices.ContainsFunc(c.children, func(n *diffXMLNode) bool { return n.name == "RequestId" })
		}
	}
	if result == nil || !hasRequestID {
		return nil, fmt.Errorf("envelope lacks <%sResult> or <ResponseMetadata><RequestId>", op)
	}
	out := map[string]bool{}
	diffWalkXML(result, model, "", true, out)
	return out, nil
}

func diffWalkXML(n *diffXMLNode, t reflect.Type, prefix string, known bool, out map[string]bool) {
	for _, c := range n.children {
		if c.name == "member" {
			diffWalkXML(c, diffSliceElem(t), prefix+"[]", known, out)
			continue
		}
		ct := diffModelField(t, c.name)
		p := prefix + "/" + c.name
		out[p] = known && ct != nil
		diffWalkXML(c, ct, p, known && ct != nil, out)
	}
}

type diffXMLNode struct {
	name     string
	children []*diffXMLNode
}

func diffParseXML(body []byte) (*diffXMLNode, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	var stack []*diffXMLNode
	var root *diffXMLNode
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("decoding XML: %w", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &diffXMLNode{name: tok.Name.Local}
			if len(stack) == 0 {
				root = n
			} else {
				parent := stack[len(stack)-1]
				parent.children = append(parent.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if root == nil {
		return nil, errors.New("no XML root element")
	}
	return root, nil
}

// diffModelField is the type of the member of struct type t whose name is key, or nil if the model has
// no such member. The SDK's Go field names are the model's member names with the first letter
// capitalised, so a case-insensitive match finds them.
func diffModelField(t reflect.Type, key string) reflect.Type {
	t = diffDeref(t)
	if t == nil || t.Kind() != reflect.Struct || t == reflect.TypeFor[time.Time]() {
		return nil
	}
	for f := range t.Fields() {
		if f.IsExported() && f.Name != "ResultMetadata" && strings.EqualFold(f.Name, key) {
			return f.Type
		}
	}
	return nil
}

func diffSliceElem(t reflect.Type) reflect.Type {
	t = diffDeref(t)
	if t == nil || t.Kind() != reflect.Slice {
		return nil
	}
	return t.Elem()
}

func diffMapType(t reflect.Type) reflect.Type {
	t = diffDeref(t)
	if t == nil || t.Kind() != reflect.Map {
		return nil
	}
	return t
}

func diffDeref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// diffErrorCode reduces an awsJson __type to its code as the SDK does: drop a namespace up to
// '#' and anything after ':'.
func diffErrorCode(s string) string {
	if i := strings.LastIndexByte(s, '#'); i >= 0 {
		s = s[i+1:]
	}
	s, _, _ = strings.Cut(s, ":")
	return s
}

// startMoto runs moto_server on a free loopback port in its own process group, killed when the test
// ends, and returns its URL once it answers.
func startMoto(t *testing.T, bin string) string {
	t.Helper()
	addr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(bin, "-H", host, "-p", port)
	out := &motoOutput{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// moto reads AWS settings from the environment; keep its account and region fixed.
	cmd.Env = append(cmd.Environ(), "MOTO_ACCOUNT_ID=123456789012", "AWS_DEFAULT_REGION="+harness.Region)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting moto_server: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	u := "http://" + addr
	err = harness.Eventually(30*time.Second, 100*time.Millisecond, func() (bool, string) {
		select {
		case <-done:
			return false, "moto_server exited"
		default:
		}
		resp, err := http.Get(u + "/moto-api/data.json")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	if err != nil {
		t.Fatalf("moto_server did not come up on %s: %v\n%s", addr, err, out.String())
	}
	return u
}

// motoOutput keeps a child's output for diagnosis; the child writes while the test may read.
type motoOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *motoOutput) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *motoOutput) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestDiffShapePaths checks the path extraction the differential test relies on, with no servers: list
// items and map keys collapse, nulls are absent, and fields the model lacks are marked so.
func TestDiffShapePaths(t *testing.T) {
	tests := []struct {
		name string
		got  func() (map[string]bool, error)
		want map[string]bool
	}{
		{
			name: "JSON lists, nulls and unknown fields",
			got: func() (map[string]bool, error) {
				return diffJSONShape([]byte(`{"tasks":[{"taskArn":"a","containers":[{"name":"x"},{"name":"y","made":"up"}],
					"stoppedReason":null,"invented":{"deep":1}}],"failures":[]}`), reflect.TypeFor[ecs.DescribeTasksOutput]())
			},
			want: map[string]bool{
				"/tasks": true, "/tasks[]/taskArn": true, "/tasks[]/containers": true, "/tasks[]/containers[]/name": true,
				"/tasks[]/containers[]/made": false, "/tasks[]/invented": false, "/tasks[]/invented/deep": false, "/failures": true,
			},
		},
		{
			name: "JSON map keys are data",
			got: func() (map[string]bool, error) {
				return diffJSONShape([]byte(`{"taskDefinition":{"containerDefinitions":[{"dockerLabels":{"team":"a","tier":"b"}}]}}`),
					reflect.TypeFor[ecs.DescribeTaskDefinitionOutput]())
			},
			want: map[string]bool{
				"/taskDefinition": true, "/taskDefinition/containerDefinitions": true,
				"/taskDefinition/containerDefinitions[]/dockerLabels": true, "/taskDefinition/containerDefinitions[]/dockerLabels/*": true,
			},
		},
		{
			name: "Query XML members and envelope",
			got: func() (map[string]bool, error) {
				return diffQueryShape([]byte(`<DescribeLifecycleHooksResponse xmlns="x"><DescribeLifecycleHooksResult><LifecycleHooks>
					<member><LifecycleHookName>a</LifecycleHookName><Bogus/></member><member><HeartbeatTimeout>1</HeartbeatTimeout></member>
					</LifecycleHooks></DescribeLifecycleHooksResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>
					</DescribeLifecycleHooksResponse>`), "DescribeLifecycleHooks", reflect.TypeFor[autoscaling.DescribeLifecycleHooksOutput]())
			},
			want: map[string]bool{
				"/LifecycleHooks": true, "/LifecycleHooks[]/LifecycleHookName": true, "/LifecycleHooks[]/Bogus": false,
				"/LifecycleHooks[]/HeartbeatTimeout": true,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.got()
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("paths:\n got %v\nwant %v", got, tc.want)
			}
		})
	}

	for _, bad := range []struct{ name, body string }{
		{"wrong root", `<OtherResponse><DescribeLifecycleHooksResult/><ResponseMetadata><RequestId/></ResponseMetadata></OtherResponse>`},
		{"no request ID", `<DescribeLifecycleHooksResponse><DescribeLifecycleHooksResult/></DescribeLifecycleHooksResponse>`},
		{"not XML", `{"LifecycleHooks":[]}`},
	} {
		if _, err := diffQueryShape([]byte(bad.body), "DescribeLifecycleHooks", reflect.TypeFor[autoscaling.DescribeLifecycleHooksOutput]()); err == nil {
			t.Errorf("diffQueryShape accepted a response with %s", bad.name)
		}
	}
}
