package awssim_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
)

// spotFleet builds a group of one instance in cluster "spot" running two tasks, with a terminating
// hook, and a rule sending every aws.ec2 and lifecycle-action event to a queue.
func spotFleet(t *testing.T, capacityRebalance bool) (*sqsEnv, string, string) {
	t.Helper()
	e := newSQSEnv(t, awssim.Options{})
	ctx := t.Context()
	q := e.rule("spot", `{"source":["aws.ec2","aws.autoscaling"],"detail-type":["EC2 Spot Instance Interruption Warning","EC2 Instance Rebalance Recommendation","EC2 Instance-terminate Lifecycle Action"]}`, "spot-q")
	ec := e.newECSClient()
	_, err := ec.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("spot")})
	must(t, err)
	_, err = e.client.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("spot"), MinSize: aws.Int32(0), MaxSize: aws.Int32(3), DesiredCapacity: aws.Int32(1),
		CapacityRebalance: aws.Bool(capacityRebalance),
		LaunchTemplate:    &asgtypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("lt"), Version: aws.String("$Latest")},
		Tags:              []asgtypes.Tag{{Key: aws.String("awssim:ecs-cluster"), Value: aws.String("spot"), ResourceId: aws.String("spot"), ResourceType: aws.String("auto-scaling-group")}},
	})
	must(t, err)
	e.putHook("spot", "drain", "autoscaling:EC2_INSTANCE_TERMINATING", 300, "CONTINUE")
	e.advance(launchDelay + registerDelay)
	_, err = ec.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("app"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("nginx"), Memory: aws.Int32(128)}},
	})
	must(t, err)
	_, err = ec.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("spot"), TaskDefinition: aws.String("app"), Count: aws.Int32(2)})
	must(t, err)
	e.advance(time.Second)
	return e, q, e.onlyInstance("spot")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func detailTypes(evs []map[string]any) []string { return field(evs, "detail-type") }

// TestSpotInterruptionWithoutRebalancing: the warning, then two minutes later EC2 reclaims the
// instance with its tasks, and only then does the group run its terminating hook and replace it.
func TestSpotInterruptionWithoutRebalancing(t *testing.T) {
	e, q, id := spotFleet(t, false)
	must(t, e.sim.InterruptSpot(id, "terminate"))
	e.advance(eventDelay)
	evs := e.drain(q)
	if got := detailTypes(evs); len(got) != 1 || got[0] != "EC2 Spot Instance Interruption Warning" {
		t.Fatalf("events = %v, want the interruption warning", got)
	}
	checkInterruptionWarning(t, evs[0], id)

	e.advance(2*time.Minute - eventDelay - time.Millisecond)
	if st := e.states("spot"); st[id] != "InService" || e.sim.Stats().TasksStoppedByReason[awssim.StopReasonHostTerminated] != 0 {
		t.Fatalf("1ms before the reclaim: states %v, want %s still InService with its tasks", st, id)
	}
	e.advance(time.Millisecond)
	st := e.sim.Stats()
	if st.SpotInterruptions != 1 || st.TasksStoppedByReason[awssim.StopReasonHostTerminated] != 2 {
		t.Errorf("after the reclaim: %d interruptions, %d tasks killed; want 1, 2", st.SpotInterruptions, st.TasksStoppedByReason[awssim.StopReasonHostTerminated])
	}
	states := e.states("spot")
	if states[id] != "Terminating:Wait" || len(states) != 2 {
		t.Errorf("states = %v, want %s in Terminating:Wait (the hook runs after the fact) and a replacement", states, id)
	}
	e.advance(eventDelay)
	if got := detailTypes(e.drain(q)); len(got) != 1 || got[0] != "EC2 Instance-terminate Lifecycle Action" {
		t.Errorf("events after the reclaim = %v, want one lifecycle action", got)
	}
}

// checkInterruptionWarning checks the Spot interruption warning event of instance id.
func checkInterruptionWarning(t *testing.T, ev map[string]any, id string) {
	t.Helper()
	d := checkEnvelope(t, ev, "aws.ec2", "EC2 Spot Instance Interruption Warning")
	if d["instance-id"] != id || d["instance-action"] != "terminate" || len(d) != 2 {
		t.Errorf("detail = %v", d)
	}
	if r := ev["resources"].([]any); len(r) != 1 || r[0] != "arn:aws:ec2:us-east-1a:instance/"+id {
		t.Errorf("resources = %v, want the instance ARN with its AZ", r)
	}
}

// TestSpotInterruptionWithRebalancing: the warning starts the termination at once, hook and all,
// with a replacement launching; the reclaim two minutes later kills what still runs.
func TestSpotInterruptionWithRebalancing(t *testing.T) {
	e, q, id := spotFleet(t, true)
	must(t, e.sim.RecommendRebalance(id))
	e.advance(eventDelay)
	if got := detailTypes(e.drain(q)); len(got) != 2 || got[0] != "EC2 Instance Rebalance Recommendation" || got[1] != "EC2 Instance-terminate Lifecycle Action" {
		t.Fatalf("events = %v, want the recommendation, then the lifecycle action", got)
	}
	if states := e.states("spot"); states[id] != "Terminating:Wait" || len(states) != 2 {
		t.Fatalf("states = %v, want %s in Terminating:Wait and a replacement", states, id)
	}
	must(t, e.sim.InterruptSpot(id, ""))
	e.advance(2 * time.Minute)
	if st := e.sim.Stats(); st.TasksStoppedByReason[awssim.StopReasonHostTerminated] != 2 {
		t.Errorf("tasks killed = %d, want 2: a hook does not hold back a Spot reclaim", st.TasksStoppedByReason[awssim.StopReasonHostTerminated])
	}
	if err := e.sim.InterruptSpot("i-nope", ""); err == nil {
		t.Error("InterruptSpot of an unknown instance succeeded")
	}
	if err := e.sim.InterruptSpot(id, "explode"); err == nil {
		t.Error("InterruptSpot with action explode succeeded")
	}
}

// TestSpotDebugEndpoints starts an interruption over HTTP and refuses bad requests with a message
// that says what is wrong.
func TestSpotDebugEndpoints(t *testing.T) {
	e, q, id := spotFleet(t, false)
	for _, c := range []struct {
		path, body string
		status     int
		want       string
	}{
		{"/debug/spot/interrupt", `{"instanceId":`, http.StatusBadRequest, `send JSON like {"instanceId"`},
		{"/debug/spot/interrupt", `{"instanceId":"i-1","color":"red"}`, http.StatusBadRequest, `unknown field "color"`},
		{"/debug/spot/interrupt", `{"instanceId":"i-nope"}`, http.StatusBadRequest, "no such Auto Scaling instance"},
		{"/debug/spot/interrupt", `{"instanceId":"` + id + `","action":"melt"}`, http.StatusBadRequest, "must be terminate, stop or hibernate"},
		{"/debug/spot/rebalance", `{"instanceId":"` + id + `"}`, http.StatusNoContent, ""},
		{"/debug/spot/interrupt", `{"instanceId":"` + id + `","action":"stop"}`, http.StatusNoContent, ""},
		{"/debug/spot/interrupt", `{"instanceId":"` + id + `"}`, http.StatusBadRequest, "already interrupted"},
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url+c.path, strings.NewReader(c.body))
		must(t, err)
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(b), c.want) {
			t.Errorf("POST %s %s = %d %q, want %d %q", c.path, c.body, resp.StatusCode, b, c.status, c.want)
		}
	}
	e.advance(eventDelay)
	if got := detailTypes(e.drain(q)); len(got) != 2 || got[0] != "EC2 Instance Rebalance Recommendation" || got[1] != "EC2 Spot Instance Interruption Warning" {
		t.Errorf("events = %v, want the recommendation and the warning", got)
	}
}
