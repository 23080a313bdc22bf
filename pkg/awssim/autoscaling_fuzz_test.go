package awssim_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
)

// FuzzQueryRequest sends arbitrary Query-protocol bodies to a simulator holding a group with
// instances and hooks, then runs its timers: no input may panic it, and every answer must be a
// well-formed XML document with a 200, 4xx or 5xx status.
func FuzzQueryRequest(f *testing.F) {
	for _, seed := range []string{
		"Action=DescribeAutoScalingGroups&Version=2011-01-01",
		"Action=DescribeAutoScalingGroups&AutoScalingGroupNames=&MaxRecords=1&Filters.member.1.Name=tag%3Aenv&Filters.member.1.Values.member.1=prod",
		"Action=DescribeAutoScalingInstances&InstanceIds.member.1=i-0abc&MaxRecords=50&NextToken=Zm9v",
		"Action=CreateAutoScalingGroup&AutoScalingGroupName=x&MinSize=0&MaxSize=3&DesiredCapacity=2&Tags.member.1.Key=k&Tags.member.1.Value=v&LifecycleHookSpecificationList.member.1.LifecycleHookName=h&LifecycleHookSpecificationList.member.1.LifecycleTransition=autoscaling%3AEC2_INSTANCE_TERMINATING",
		"Action=UpdateAutoScalingGroup&AutoScalingGroupName=g&MinSize=1&MaxSize=1&AvailabilityZones.member.1=",
		"Action=SetDesiredCapacity&AutoScalingGroupName=g&DesiredCapacity=0",
		"Action=DeleteAutoScalingGroup&AutoScalingGroupName=g&ForceDelete=true",
		"Action=TerminateInstanceInAutoScalingGroup&InstanceId=i-0&ShouldDecrementDesiredCapacity=true",
		"Action=PutLifecycleHook&AutoScalingGroupName=g&LifecycleHookName=h2&LifecycleTransition=autoscaling%3AEC2_INSTANCE_LAUNCHING&HeartbeatTimeout=30&DefaultResult=CONTINUE",
		"Action=CompleteLifecycleAction&AutoScalingGroupName=g&LifecycleHookName=drain&InstanceId=i-0&LifecycleActionResult=ABANDON",
		"Action=RecordLifecycleActionHeartbeat&AutoScalingGroupName=g&LifecycleHookName=drain&LifecycleActionToken=00000000-0000-4000-8000-000000000000",
		"Action=SetInstanceProtection&AutoScalingGroupName=g&InstanceIds.member.1=i-0&ProtectedFromScaleIn=maybe",
		"Action=CreateOrUpdateTags&Tags.member.1.ResourceId=g&Tags.member.1.Key=%00&Tags.member.99999999999999999999.Key=x",
		"Action=DeleteLifecycleHook&AutoScalingGroupName=g&LifecycleHookName=drain",
		"%%%",
		"Action=",
		// Found by this target: an invalid-UTF-8 action name once became a metric label and panicked.
		"Action=Descr%80000000000000000000000",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		clk := clocktesting.NewFakeClock(asgEpoch)
		sim := awssim.New(awssim.Options{Clock: clk})
		h := sim.Handler()
		post := func(body string) {
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK && (rec.Code < 400 || rec.Code > 599) {
				t.Fatalf("status %d for %q", rec.Code, body)
			}
			dec := xml.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
			for {
				_, err := dec.Token()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("malformed XML answer to %q: %v\n%s", body, err, rec.Body.Bytes())
				}
			}
		}
		// A group in every interesting state: waiting on a terminating hook, in service, pending.
		post("Action=CreateAutoScalingGroup&AutoScalingGroupName=g&MinSize=0&MaxSize=5&DesiredCapacity=3&Tags.member.1.Key=env&Tags.member.1.Value=prod")
		post("Action=PutLifecycleHook&AutoScalingGroupName=g&LifecycleHookName=drain&LifecycleTransition=autoscaling%3AEC2_INSTANCE_TERMINATING&HeartbeatTimeout=60")
		clk.Step(time.Second)
		sim.Step()
		post("Action=SetDesiredCapacity&AutoScalingGroupName=g&DesiredCapacity=2")

		post(body)
		for range 3 {
			clk.Step(time.Minute)
			sim.Step()
		}
		post("Action=DescribeAutoScalingGroups")
	})
}
