package awssim_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
)

// ecsFuzzTargets are the X-Amz-Target values FuzzJSONRequest picks from: every ECS operation the
// simulator serves, then a few it must refuse cleanly (an unknown operation, an empty one, another
// service's prefix).
var ecsFuzzTargets = []string{
	"CreateCluster", "ListClusters", "DescribeClusters",
	"RegisterTaskDefinition", "DescribeTaskDefinition",
	"CreateService", "UpdateService", "DeleteService", "DescribeServices", "ListServices",
	"RunTask", "StopTask", "ListTasks", "DescribeTasks",
	"ListContainerInstances", "DescribeContainerInstances", "UpdateContainerInstancesState",
	"DeregisterContainerInstance",
	"TagResource", "UntagResource", "ListTagsForResource",
	"NoSuchOperation", "",
}

// ecsTargetPrefix is the JSON 1.1 target prefix of ECS operations.
const ecsTargetPrefix = "AmazonEC2ContainerServiceV20141113."

// Placeholders a seed body may carry; each iteration replaces them with the ARNs of its own fleet,
// so the seeds reach the code behind a successful lookup rather than stopping at "not found".
const (
	phContainerInstance = "$CI"
	phTask              = "$TASK"
)

// ecsFuzzSeed is one real request of an operation, as the SDK or the CLI sends it.
type ecsFuzzSeed struct {
	op   string
	body string
}

var ecsFuzzSeeds = []ecsFuzzSeed{
	{"CreateCluster", `{"clusterName":"c2","tags":[{"key":"team","value":"web"}]}`},
	{"CreateCluster", `{}`},
	{"ListClusters", `{"maxResults":1}`},
	{"ListClusters", `{"maxResults":100,"nextToken":"bm90LWEtdG9rZW4="}`},
	{"DescribeClusters", `{"clusters":["c","arn:aws:ecs:us-east-1:123456789012:cluster/c","missing"],"include":["TAGS"]}`},
	{"RegisterTaskDefinition", `{"family":"td2","containerDefinitions":[{"name":"app","image":"busybox","memory":128,"essential":true,"stopTimeout":120}],"networkMode":"bridge","requiresCompatibilities":["EC2"]}`},
	{"DescribeTaskDefinition", `{"taskDefinition":"td:1","include":["TAGS"]}`},
	{"DescribeTaskDefinition", `{"taskDefinition":"arn:aws:ecs:us-east-1:123456789012:task-definition/td"}`},
	{"CreateService", `{"cluster":"c","serviceName":"svc2","taskDefinition":"td","desiredCount":3,"launchType":"EC2","schedulingStrategy":"REPLICA","deploymentConfiguration":{"maximumPercent":200,"minimumHealthyPercent":50}}`},
	{"CreateService", `{"cluster":"c","serviceName":"daemon","taskDefinition":"td","schedulingStrategy":"DAEMON"}`},
	{"UpdateService", `{"cluster":"c","service":"svc","desiredCount":0,"forceNewDeployment":true,"deploymentConfiguration":{"maximumPercent":100,"minimumHealthyPercent":0}}`},
	{"DeleteService", `{"cluster":"c","service":"svc","force":true}`},
	{"DescribeServices", `{"cluster":"c","services":["svc","arn:aws:ecs:us-east-1:123456789012:service/c/svc","nope"],"include":["TAGS"]}`},
	{"ListServices", `{"cluster":"c","launchType":"EC2","schedulingStrategy":"REPLICA","maxResults":10}`},
	{"RunTask", `{"cluster":"c","taskDefinition":"td:1","count":10,"startedBy":"fuzz","group":"family:td","launchType":"EC2","tags":[{"key":"k","value":"v"}]}`},
	{"StopTask", `{"cluster":"c","task":"$TASK","reason":"fuzz"}`},
	{"ListTasks", `{"cluster":"c","containerInstance":"$CI","desiredStatus":"STOPPED","maxResults":100}`},
	{"ListTasks", `{"cluster":"c","family":"td","serviceName":"svc","startedBy":"fuzz","launchType":"EC2"}`},
	{"DescribeTasks", `{"cluster":"c","tasks":["$TASK","arn:aws:ecs:us-east-1:123456789012:task/c/0123456789abcdef0123456789abcdef"],"include":["TAGS"]}`},
	{"ListContainerInstances", `{"cluster":"c","filter":"ec2InstanceId in ['i-0123456789abcdef0', 'i-1'] and runningTasksCount > 0","status":"ACTIVE","maxResults":100}`},
	{"ListContainerInstances", `{"cluster":"c","filter":"attribute:ecs.instance-type == t3.micro or agentConnected == true"}`},
	{"DescribeContainerInstances", `{"cluster":"c","containerInstances":["$CI","not-an-arn"],"include":["TAGS","CONTAINER_INSTANCE_HEALTH"]}`},
	{"UpdateContainerInstancesState", `{"cluster":"c","containerInstances":["$CI"],"status":"DRAINING"}`},
	{"UpdateContainerInstancesState", `{"cluster":"c","containerInstances":["$CI"],"status":"ACTIVE"}`},
	{"DeregisterContainerInstance", `{"cluster":"c","containerInstance":"$CI","force":true}`},
	{"TagResource", `{"resourceArn":"$CI","tags":[{"key":"ecs-drainer/drain-started-at","value":"2026-03-01T12:00:00Z"}]}`},
	{"UntagResource", `{"resourceArn":"$CI","tagKeys":["ecs-drainer/drain-started-at"]}`},
	{"ListTagsForResource", `{"resourceArn":"arn:aws:ecs:us-east-1:123456789012:cluster/c"}`},
	{"NoSuchOperation", `{}`},
	// Bodies that do not fit the request shape.
	{"DescribeTasks", `{"cluster":7,"tasks":"x"}`},
	{"ListContainerInstances", `{"maxResults":-1,"nextToken":""}`},
	{"RunTask", `{"count":1e400}`},
	{"CreateCluster", `[`},
	{"UpdateContainerInstancesState", "{\"status\":\"\\ud800\",\"containerInstances\":[\"\xff\"]}"},
	{"", ``},
}

// FuzzJSONRequest sends an arbitrary JSON body to an arbitrary ECS operation of a simulator holding a
// cluster with registered instances, a service, a standalone task and an instance in
// Terminating:Wait, then runs the simulator's timers. No input may panic it, and every answer must be
// JSON with a 200, 4xx or 5xx status, an error answer naming its __type; /metrics must still serve.
func FuzzJSONRequest(f *testing.F) {
	for _, s := range ecsFuzzSeeds {
		f.Add(uint8(targetIndex(s.op)), s.body)
	}
	f.Fuzz(func(t *testing.T, sel uint8, body string) {
		env := newJSONFuzzEnv(t)
		body = strings.NewReplacer(phContainerInstance, env.ciArn, phTask, env.taskArn).Replace(body)
		env.ecs(ecsFuzzTargets[int(sel)%len(ecsFuzzTargets)], body)
		for range 3 {
			env.clock.Step(time.Minute)
			env.sim.Step()
		}
		// The model must still answer ordinary reads after whatever the input did to it.
		env.ecs("DescribeContainerInstances", `{"cluster":"c","containerInstances":["`+env.ciArn+`"]}`)
		env.ecs("ListTasks", `{"cluster":"c"}`)
		env.ecs("DescribeServices", `{"cluster":"c","services":["svc"]}`)
		env.scrape()
	})
}

func targetIndex(op string) int { return indexOrLast(ecsFuzzTargets, op) }

// indexOrLast is the index of op in ops, or the last index (the refused operations) if absent.
func indexOrLast(ops []string, op string) int {
	if i := slices.Index(ops, op); i >= 0 {
		return i
	}
	return len(ops) - 1
}

// jsonFuzzEnv is one simulator on a fake clock, driven through its handler without a network.
type jsonFuzzEnv struct {
	t       *testing.T
	clock   *clocktesting.FakeClock
	sim     *awssim.Sim
	h       http.Handler
	ciArn   string // a container instance of cluster c (the one in Terminating:Wait is first or second)
	taskArn string // a task of cluster c
}

func newJSONFuzzEnv(t *testing.T) *jsonFuzzEnv {
	clk := clocktesting.NewFakeClock(asgEpoch)
	sim := awssim.New(awssim.Options{Clock: clk})
	e := &jsonFuzzEnv{t: t, clock: clk, sim: sim, h: sim.Handler()}
	step := func() {
		clk.Step(time.Second)
		sim.Step()
	}
	e.ecs("CreateCluster", `{"clusterName":"c"}`)
	e.ecs("RegisterTaskDefinition", `{"family":"td","containerDefinitions":[{"name":"app","image":"busybox","memory":128,"essential":true,"stopTimeout":5}]}`)
	e.query(url.Values{
		"Action": {"CreateAutoScalingGroup"}, "AutoScalingGroupName": {"g"},
		"MinSize": {"0"}, "MaxSize": {"4"}, "DesiredCapacity": {"3"},
		"Tags.member.1.Key": {"awssim:ecs-cluster"}, "Tags.member.1.Value": {"c"},
		"Tags.member.2.Key": {"awssim:task-slots"}, "Tags.member.2.Value": {"3"},
	})
	e.query(url.Values{
		"Action": {"PutLifecycleHook"}, "AutoScalingGroupName": {"g"}, "LifecycleHookName": {"drain"},
		"LifecycleTransition": {"autoscaling:EC2_INSTANCE_TERMINATING"}, "HeartbeatTimeout": {"60"},
	})
	step()
	step()
	e.ecs("CreateService", `{"cluster":"c","serviceName":"svc","taskDefinition":"td","desiredCount":3,"launchType":"EC2"}`)
	e.ecs("RunTask", `{"cluster":"c","taskDefinition":"td","count":1,"startedBy":"fuzz"}`)
	step()
	e.query(url.Values{"Action": {"SetDesiredCapacity"}, "AutoScalingGroupName": {"g"}, "DesiredCapacity": {"2"}})
	step()

	var cis struct {
		ContainerInstanceArns []string `json:"containerInstanceArns"`
	}
	var tasks struct {
		TaskArns []string `json:"taskArns"`
	}
	if err := json.Unmarshal(e.ecs("ListContainerInstances", `{"cluster":"c"}`), &cis); err != nil || len(cis.ContainerInstanceArns) == 0 {
		t.Fatalf("setting up: no container instance registered (err %v)", err)
	}
	if err := json.Unmarshal(e.ecs("ListTasks", `{"cluster":"c"}`), &tasks); err != nil || len(tasks.TaskArns) == 0 {
		t.Fatalf("setting up: no task placed (err %v)", err)
	}
	e.ciArn, e.taskArn = cis.ContainerInstanceArns[0], tasks.TaskArns[0]
	return e
}

// ecs posts body to operation op (a bare name, without the target prefix) and checks the answer's
// form; it returns the body.
func (e *jsonFuzzEnv) ecs(op, body string) []byte {
	e.t.Helper()
	req := httptest.NewRequestWithContext(e.t.Context(), http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	target := ecsTargetPrefix + op
	if op == "" {
		target = "OtherServiceV1.Op" // not ECS's prefix at all
	}
	req.Header.Set("X-Amz-Target", target)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	got := rec.Body.Bytes()
	if rec.Code != http.StatusOK && (rec.Code < 400 || rec.Code > 599) {
		e.t.Fatalf("%s %q: status %d", target, body, rec.Code)
	}
	var obj map[string]any
	if err := json.Unmarshal(got, &obj); err != nil {
		e.t.Fatalf("%s %q: answer is not a JSON object: %v\n%s", target, body, err, got)
	}
	if rec.Code != http.StatusOK {
		typ, _ := obj["__type"].(string)
		if typ == "" {
			e.t.Fatalf("%s %q: error answer (status %d) without __type:\n%s", target, body, rec.Code, got)
		}
		if h := rec.Header().Get("X-Amzn-Errortype"); h != typ {
			e.t.Fatalf("%s %q: X-Amzn-Errortype %q differs from __type %q", target, body, h, typ)
		}
	}
	return got
}

// query posts a set-up request in the Query protocol and insists it succeeds.
func (e *jsonFuzzEnv) query(form url.Values) {
	e.t.Helper()
	req := httptest.NewRequestWithContext(e.t.Context(), http.MethodPost, "/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		e.t.Fatalf("setting up with %s: status %d\n%s", form.Get("Action"), rec.Code, rec.Body.Bytes())
	}
}

// scrape checks that /metrics still serves: a label value taken from bad input would break it.
func (e *jsonFuzzEnv) scrape() {
	e.t.Helper()
	req := httptest.NewRequestWithContext(e.t.Context(), http.MethodGet, "/metrics", nil)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		e.t.Fatalf("/metrics after the input: status %d\n%s", rec.Code, rec.Body.Bytes())
	}
}
