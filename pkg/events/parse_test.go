package events

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

func golden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func at(s string) time.Time {
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return tm
}

// TestParseGolden parses the messages of aws-event-facts.md exactly as printed there (testdata/),
// one per event the consumer knows.
func TestParseGolden(t *testing.T) {
	for _, tc := range []struct {
		file             string
		source, typ, res string
		want             hint
	}{
		{"lifecycle-terminate.json", metrics.EventSourceAutoScaling, metrics.EventTypeLifecycleTerminate, metrics.EventResultHandled, InstanceHint{
			Event: Event{ID: "782d5b4c-0f6f-1fd6-9d62-ecf6aed0a470", Time: at("2020-07-01T22:19:58Z"), Via: ViaEventBridge},
			Kind:  InstanceTerminating, InstanceID: "i-0633ac2b0d9769723", AutoScalingGroupName: "my-asg",
			LifecycleHookName: "ecs-drainer", LifecycleActionToken: "0befcbdb-6ecd-498a-9ff7-ae9b54447cd6",
			NotificationMetadata: "additional-info", Destination: "EC2",
		}},
		{"lifecycle-launch.json", metrics.EventSourceAutoScaling, metrics.EventTypeLifecycleLaunch, metrics.EventResultHandled, InstanceHint{
			Event: Event{ID: "8a9e5b4c-0f6f-1fd6-9d62-ecf6aed0a471", Time: at("2020-07-01T22:10:01Z"), Via: ViaEventBridge},
			Kind:  InstanceLaunching, InstanceID: "i-1234567890abcdef0", AutoScalingGroupName: "my-asg",
			LifecycleHookName: "warm-up", LifecycleActionToken: "87654321-4321-4321-4321-210987654321", Destination: "AutoScalingGroup",
		}},
		{"terminate-successful.json", metrics.EventSourceAutoScaling, metrics.EventTypeTerminateSuccessful, metrics.EventResultHandled, InstanceHint{
			Event: Event{ID: "3e3c153a-8339-4e30-8c35-687ebef853fe", Time: at("2021-01-13T00:13:37Z"), Via: ViaEventBridge},
			Kind:  InstanceTerminated, InstanceID: "i-1234567890abcdef0", AutoScalingGroupName: "my-asg",
		}},
		{"hook-notification.json", metrics.EventSourceAutoScalingHook, metrics.EventTypeLifecycleTerminate, metrics.EventResultHandled, InstanceHint{
			Event: Event{ID: "0af658d8-4d1c-4bf0-9886-16872eb3a892", Time: at("2018-12-12T11:28:51.086Z"), Via: ViaHookNotification},
			Kind:  InstanceTerminating, InstanceID: "i-0608a68b58a51e71a", AutoScalingGroupName: "EC2ContainerService-api-production-asg",
			LifecycleHookName: "scale-in-lifecycle", LifecycleActionToken: "888d9b5e-fca7-49ac-a588-ef86a5f4c25b",
		}},
		{"hook-test-notification.json", metrics.EventSourceAutoScalingHook, metrics.EventTypeTestNotification, metrics.EventResultIgnored, nil},
		{"container-instance.json", metrics.EventSourceECS, metrics.EventTypeContainerInstance, metrics.EventResultHandled, ContainerInstanceHint{
			Event:                Event{ID: "8952ba83-7be2-4ab5-9c32-6687532d15a2", Time: at("2016-12-06T16:41:06Z"), Via: ViaEventBridge},
			ClusterARN:           "arn:aws:ecs:us-east-1:111122223333:cluster/default",
			ContainerInstanceARN: "arn:aws:ecs:us-east-1:111122223333:container-instance/b54a2a04-046f-4331-9d74-3f6d7f6ca315",
			EC2InstanceID:        "i-f3a8506b", Status: "ACTIVE", AgentConnected: true, Version: 14801,
		}},
		{"task.json", metrics.EventSourceECS, metrics.EventTypeTask, metrics.EventResultHandled, TaskHint{
			Event:      Event{ID: "3317b2af-7005-947d-b652-f55e762e571a", Time: at("2020-01-23T17:57:58Z"), Via: ViaEventBridge},
			ClusterARN: "arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster",
			TaskARN:    "arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb40f1f4fe4a2971f76ae5a47ad",
			LastStatus: "RUNNING", DesiredStatus: "RUNNING", Group: "family:sample-fargate", Version: 4,
		}},
		{"spot-interruption.json", metrics.EventSourceEC2, metrics.EventTypeSpotInterruption, metrics.EventResultHandled, SpotHint{
			Event:      Event{ID: "1e5527d7-bb36-4607-3370-4164db56a40e", Time: at("2020-10-26T14:14:14Z"), Via: ViaEventBridge},
			InstanceID: "i-0b662ef9931388ba0", Action: "terminate",
		}},
		{"rebalance.json", metrics.EventSourceEC2, metrics.EventTypeRebalance, metrics.EventResultHandled, RebalanceHint{
			Event:      Event{ID: "2d3a6c1e-1f4b-4f5e-8c3d-9b0a1e2f3a4b", Time: at("2020-10-26T14:14:14Z"), Via: ViaEventBridge},
			InstanceID: "i-0b662ef9931388ba0",
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			p := parse(golden(t, tc.file))
			if p.source != tc.source || p.typ != tc.typ || p.result != tc.res {
				t.Errorf("counted as %s/%s/%s (%s), want %s/%s/%s", p.source, p.typ, p.result, p.reason, tc.source, tc.typ, tc.res)
			}
			if diff := cmp.Diff(tc.want, p.hint); diff != "" {
				t.Errorf("hint (-want +got):\n%s", diff)
			}
			checkLabels(t, p)
		})
	}
}

// TestParseRunningTasksCount: the schema's counters are read when an event carries them.
func TestParseRunningTasksCount(t *testing.T) {
	body := strings.Replace(string(golden(t, "container-instance.json")), `"status":"ACTIVE"`, `"status":"DRAINING","runningTasksCount":0,"pendingTasksCount":2`, 1)
	h, ok := parse([]byte(body)).hint.(ContainerInstanceHint)
	if !ok || h.Status != "DRAINING" || h.RunningTasksCount == nil || *h.RunningTasksCount != 0 || *h.PendingTasksCount != 2 {
		t.Errorf("hint %+v, want DRAINING with 0 running and 2 pending", h)
	}
}

// TestParseRejects: what is no event for the controller is counted under bounded labels with a
// reason, and yields no hint.
func TestParseRejects(t *testing.T) {
	lifecycle := string(golden(t, "lifecycle-terminate.json"))
	hook := string(golden(t, "hook-notification.json"))
	for _, tc := range []struct {
		name, body       string
		source, typ, res string
		reason           string
	}{
		{"not JSON", "hello", metrics.EventSourceOther, metrics.EventTypeOther, metrics.EventResultMalformed, "not a JSON object"},
		{"empty", "", metrics.EventSourceOther, metrics.EventTypeOther, metrics.EventResultMalformed, "not a JSON object"},
		{"truncated", lifecycle[:len(lifecycle)/2], metrics.EventSourceOther, metrics.EventTypeOther, metrics.EventResultMalformed, "not a JSON object"},
		{"array", `[1,2]`, metrics.EventSourceOther, metrics.EventTypeOther, metrics.EventResultMalformed, "not a JSON object"},
		{"null", `null`, metrics.EventSourceOther, metrics.EventTypeOther, metrics.EventResultMalformed, "neither an EventBridge event"},
		{"other JSON", `{"hello":"world"}`, metrics.EventSourceOther, metrics.EventTypeOther, metrics.EventResultMalformed, "neither an EventBridge event"},
		{"SNS envelope", `{"Type":"Notification","MessageId":"m","Message":"{}"}`, metrics.EventSourceOther, metrics.EventTypeOther, metrics.EventResultMalformed, "neither an EventBridge event"},
		{"unknown ECS type", strings.Replace(string(golden(t, "task.json")), "ECS Task State Change", "ECS Service Action", 1),
			metrics.EventSourceECS, metrics.EventTypeOther, metrics.EventResultIgnored, `unknown detail-type "ECS Service Action"`},
		{"unknown source", `{"version":"0","id":"x","detail-type":"Order Placed","source":"my.shop","time":"2020-01-01T00:00:00Z","detail":{}}`,
			metrics.EventSourceOther, metrics.EventTypeOther, metrics.EventResultIgnored, `unknown detail-type "Order Placed"`},
		{"forged source", strings.Replace(lifecycle, `"source":"aws.autoscaling"`, `"source":"my.app"`, 1),
			metrics.EventSourceOther, metrics.EventTypeOther, metrics.EventResultIgnored, `comes from aws.autoscaling, but this event's source is "my.app"`},
		{"lifecycle type from ECS", strings.Replace(lifecycle, `"source":"aws.autoscaling"`, `"source":"aws.ecs"`, 1),
			metrics.EventSourceECS, metrics.EventTypeOther, metrics.EventResultIgnored, "comes from aws.autoscaling"},
		{"no instance", strings.Replace(lifecycle, `"EC2InstanceId":"i-0633ac2b0d9769723",`, "", 1),
			metrics.EventSourceAutoScaling, metrics.EventTypeLifecycleTerminate, metrics.EventResultMalformed, "want an instance"},
		{"launch transition in a terminate event", strings.Replace(lifecycle, "EC2_INSTANCE_TERMINATING", "EC2_INSTANCE_LAUNCHING", 1),
			metrics.EventSourceAutoScaling, metrics.EventTypeLifecycleTerminate, metrics.EventResultMalformed, "want an instance"},
		{"detail not an object", strings.Replace(string(golden(t, "spot-interruption.json")), `{"instance-id":"i-0b662ef9931388ba0","instance-action":"terminate"}`, `"terminate"`, 1),
			metrics.EventSourceEC2, metrics.EventTypeSpotInterruption, metrics.EventResultMalformed, "detail"},
		{"no id", strings.Replace(lifecycle, `"id":"782d5b4c-0f6f-1fd6-9d62-ecf6aed0a470",`, "", 1),
			metrics.EventSourceAutoScaling, metrics.EventTypeLifecycleTerminate, metrics.EventResultMalformed, "envelope"},
		{"bad time", strings.Replace(lifecycle, "2020-07-01T22:19:58Z", "yesterday", 1),
			metrics.EventSourceAutoScaling, metrics.EventTypeLifecycleTerminate, metrics.EventResultMalformed, "not RFC 3339"},
		{"hook notification of another service", strings.Replace(hook, "AWS Auto Scaling", "Amazon SNS", 1),
			metrics.EventSourceOther, metrics.EventTypeOther, metrics.EventResultMalformed, "neither an EventBridge event"},
		{"hook notification without instance", strings.Replace(hook, `"EC2InstanceId":"i-0608a68b58a51e71a",`, "", 1),
			metrics.EventSourceAutoScalingHook, metrics.EventTypeLifecycleTerminate, metrics.EventResultMalformed, "without"},
		{"hook notification of an unknown transition", strings.Replace(hook, "autoscaling:EC2_INSTANCE_TERMINATING", "autoscaling:EC2_INSTANCE_REBOOTING", 1),
			metrics.EventSourceAutoScalingHook, metrics.EventTypeOther, metrics.EventResultIgnored, "EC2_INSTANCE_REBOOTING"},
		{"test notification as a transition", `{"Service":"AWS Auto Scaling","LifecycleTransition":"autoscaling:TEST_NOTIFICATION","AutoScalingGroupName":"g"}`,
			metrics.EventSourceAutoScalingHook, metrics.EventTypeTestNotification, metrics.EventResultIgnored, "test notification"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := parse([]byte(tc.body))
			if p.hint != nil {
				t.Fatalf("hint %+v, want none", p.hint)
			}
			if p.source != tc.source || p.typ != tc.typ || p.result != tc.res || !strings.Contains(p.reason, tc.reason) {
				t.Errorf("counted as %s/%s/%s, reason %q; want %s/%s/%s, a reason containing %q", p.source, p.typ, p.result, p.reason, tc.source, tc.typ, tc.res, tc.reason)
			}
			checkLabels(t, p)
		})
	}
}

// checkLabels: every parse result is counted under a pre-initialised label combination.
func checkLabels(t *testing.T, p parsed) {
	t.Helper()
	types := metrics.EventTypes(p.source)
	found := false
	for _, typ := range types {
		found = found || typ == p.typ
	}
	if !found {
		t.Errorf("type %q is not among source %q's types %v", p.typ, p.source, types)
	}
}

func TestBodyForLog(t *testing.T) {
	if got := bodyForLog("short"); got != "short" {
		t.Errorf("bodyForLog(short) = %q", got)
	}
	long := strings.Repeat("é", 300)
	if got := bodyForLog(long); got != strings.Repeat("é", maxLoggedBodyRunes)+"…" {
		t.Errorf("bodyForLog cut %d runes, want %d and an ellipsis", len([]rune(got)), maxLoggedBodyRunes)
	}
}

// BenchmarkParse reports the cost of parsing each golden message.
func BenchmarkParse(b *testing.B) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range files {
		body := golden(b, filepath.Base(f))
		b.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if p := parse(body); p.result == metrics.EventResultMalformed {
					b.Fatal(p.reason)
				}
			}
		})
	}
}
