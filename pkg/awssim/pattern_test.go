package awssim

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// patternEvent is an Auto Scaling lifecycle event as aws-event-facts §2 shows it, plus a number
// and an array to exercise numeric and array matching.
const patternEvent = `{"version":"0","id":"782d5b4c-0f6f-1fd6-9d62-ecf6aed0a470","detail-type":"EC2 Instance-terminate Lifecycle Action",
 "source":"aws.autoscaling","account":"123456789012","time":"2020-07-01T22:19:58Z","region":"us-east-1",
 "resources":["arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:26e7:autoScalingGroupName/my-asg"],
 "detail":{"LifecycleActionToken":"0befcbdb","AutoScalingGroupName":"my-ecs-asg","LifecycleHookName":"ecs-drainer",
   "EC2InstanceId":"i-0633ac2b0d9769723","LifecycleTransition":"autoscaling:EC2_INSTANCE_TERMINATING","count":5,"flag":true,"none":null}}`

func TestPatternMatching(t *testing.T) {
	for _, c := range []struct {
		name, pattern string
		want          bool
	}{
		{"exact source", `{"source":["aws.autoscaling"]}`, true},
		{"one of several", `{"source":["aws.ecs","aws.autoscaling"]}`, true},
		{"wrong source", `{"source":["aws.ecs"]}`, false},
		{"case matters", `{"source":["AWS.autoscaling"]}`, false},
		{"the facts doc's rule", `{"source":["aws.autoscaling"],"detail-type":["EC2 Instance-terminate Lifecycle Action"],"detail":{"AutoScalingGroupName":["my-ecs-asg"],"LifecycleHookName":["ecs-drainer"]}}`, true},
		{"nested mismatch", `{"detail":{"LifecycleHookName":["other"]}}`, false},
		{"nested field missing", `{"detail":{"NotificationMetadata":["x"]}}`, false},
		{"object where event has a string", `{"source":{"x":["y"]}}`, false},
		{"prefix", `{"detail":{"EC2InstanceId":[{"prefix":"i-06"}]}}`, true},
		{"prefix no", `{"detail":{"EC2InstanceId":[{"prefix":"i-07"}]}}`, false},
		{"suffix", `{"detail":{"EC2InstanceId":[{"suffix":"723"}]}}`, true},
		{"equals-ignore-case", `{"source":[{"equals-ignore-case":"AWS.AutoScaling"}]}`, true},
		{"anything-but value", `{"detail":{"LifecycleHookName":[{"anything-but":"other"}]}}`, true},
		{"anything-but list hit", `{"detail":{"LifecycleHookName":[{"anything-but":["other","ecs-drainer"]}]}}`, false},
		{"anything-but prefix", `{"detail":{"LifecycleHookName":[{"anything-but":{"prefix":"ecs-"}}]}}`, false},
		{"anything-but on a missing field", `{"detail":{"Nope":[{"anything-but":"x"}]}}`, false},
		{"exists true", `{"detail":{"LifecycleActionToken":[{"exists":true}]}}`, true},
		{"exists true missing", `{"detail":{"NotificationMetadata":[{"exists":true}]}}`, false},
		{"exists false missing", `{"detail":{"NotificationMetadata":[{"exists":false}]}}`, true},
		{"exists false present", `{"detail":{"LifecycleActionToken":[{"exists":false}]}}`, false},
		{"number exact", `{"detail":{"count":[5.0]}}`, true},
		{"numeric range", `{"detail":{"count":[{"numeric":[">",4,"<=",5]}]}}`, true},
		{"numeric out of range", `{"detail":{"count":[{"numeric":["<",5]}]}}`, false},
		{"numeric on a string", `{"source":[{"numeric":[">",0]}]}`, false},
		{"boolean", `{"detail":{"flag":[true]}}`, true},
		{"null", `{"detail":{"none":[null]}}`, true},
		{"array value: any element", `{"resources":[{"suffix":"autoScalingGroupName/my-asg"}]}`, true},
		{"array value: no element", `{"resources":["arn:nope"]}`, false},
		{"$or one side", `{"source":["aws.autoscaling"],"$or":[{"detail-type":["nope"]},{"detail":{"count":[5]}}]}`, true},
		{"$or neither", `{"$or":[{"detail-type":["nope"]},{"region":["eu-west-1"]}]}`, false},
		{"unlisted fields ignored", `{"region":["us-east-1"]}`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := parsePattern(c.pattern)
			if err != nil {
				t.Fatalf("parsePattern(%s): %v", c.pattern, err)
			}
			ev, err := decodeEvent([]byte(patternEvent))
			if err != nil {
				t.Fatal(err)
			}
			if got := p.match(ev); got != c.want {
				t.Errorf("match = %v, want %v", got, c.want)
			}
		})
	}
}

func TestPatternErrors(t *testing.T) {
	for _, c := range []struct{ pattern, want string }{
		{`not json`, "not valid JSON"},
		{`[]`, "not an object"},
		{`{}`, "not an object"},
		{`{"source":"aws.ecs"}`, "Match value must be"},
		{`{"source":[]}`, "Empty arrays"},
		{`{"source":[["x"]]}`, "Match value must be"},
		{`{"source":[{"wildcard-ish":"x"}]}`, "Unrecognized match type"},
		{`{"source":[{"prefix":1}]}`, "prefix match pattern must be a string"},
		{`{"source":[{"exists":"yes"}]}`, "exists match pattern"},
		{`{"source":[{"numeric":[">"]}]}`, "numeric"},
		{`{"source":[{"prefix":"a","suffix":"b"}]}`, "Only one key"},
		{`{"$or":[{"source":["a"]}]}`, "at least 2"},
		{strings.Repeat(`{"a":`, 40) + `["x"]` + strings.Repeat(`}`, 40), "nested deeper"},
		{`{"source":["a"]} {}`, "trailing"},
	} {
		_, err := parsePattern(c.pattern)
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(c.want)) {
			t.Errorf("parsePattern(%.40s) = %v, want an error about %q", c.pattern, err, c.want)
		}
	}
}

// FuzzEventPattern feeds arbitrary patterns and events to the parser and matcher: neither may panic.
func FuzzEventPattern(f *testing.F) {
	f.Add(`{"source":["aws.ecs"],"detail":{"status":["DRAINING"]}}`, patternEvent)
	f.Add(`{"detail":{"count":[{"numeric":[">",1,"<",9]}]},"$or":[{"a":[1]},{"b":[{"exists":false}]}]}`, patternEvent)
	f.Add(`{"x":[{"anything-but":{"prefix":"a"}},{"anything-but":[1,"b",null]}]}`, `{"x":["a",2,{"y":1}]}`)
	f.Fuzz(func(t *testing.T, pattern, event string) {
		p, err := parsePattern(pattern)
		if err != nil {
			return
		}
		if ev, err := decodeEvent([]byte(event)); err == nil {
			p.match(ev)
		}
	})
}

// TestMatchableIsTheDecodedEvent: an ECS event's envelope, matched without being encoded
// (eventEnvelope.matchable), is exactly what decoding its JSON gives: numbers, timestamps, nested
// objects and arrays, nulls and booleans; so rules match the events they would match encoded.
func TestMatchableIsTheDecodedEvent(t *testing.T) {
	type attr struct {
		Name  string  `json:"name"`
		Value *string `json:"value"`
	}
	resource := struct {
		ARN        string  `json:"containerInstanceArn"`
		Running    int     `json:"runningTasksCount"`
		Version    int64   `json:"version"`
		Registered float64 `json:"registeredAt"`
		Connected  bool    `json:"agentConnected"`
		Attributes []attr  `json:"attributes"`
		Hidden     string  `json:"notInTheSchema"`
	}{"arn:ci/1", 3, 9007199254740993, 1733561234.123, true, []attr{{Name: "a"}}, "x"}
	fields := setOf("containerInstanceArn", "runningTasksCount", "version", "registeredAt", "agentConnected", "attributes")
	detail := eventDetail(resource, fields, map[string]string{"clusterArn": "arn:cluster/c1"}, time.Unix(1733561300, 0))
	env := eventEnvelope{Version: "0", ID: "id-1", DetailType: "ECS Container Instance State Change", Source: "aws.ecs",
		Account: "123456789012", Time: "2026-12-07T00:00:00Z", Region: "us-east-1", Resources: []string{"arn:ci/1"}, Detail: detail}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	want, err := decodeEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := env.matchable(); !reflect.DeepEqual(got, want) {
		t.Errorf("matchable\n%#v\nwant (decoded)\n%#v", got, want)
	}
	if (eventEnvelope{Detail: map[string]any{"x": 1}}).matchable() != nil {
		t.Error("a detail not known to be in decoded form was matched as it is")
	}
}
