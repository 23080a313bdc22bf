package awssim_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
)

// putFaults sends body to PUT /debug/faults and returns the status.
func (e *asgEnv) putFaults(body string) int {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), http.MethodPut, e.url+"/debug/faults", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestDenyAnswersAccessDenied: a denied operation gets each service's access-denied error, as a
// caller missing the IAM permission would, through the real SDK clients; other operations of the
// same service still run, and clearing the list lets the operation through again.
func TestDenyAnswersAccessDenied(t *testing.T) {
	e := newSQSEnv(t, awssim.Options{})
	ctx := t.Context()
	ec := e.ecsClientAttempts(1)
	calls := []struct {
		op, code string
		status   int
		call     func() error
	}{
		{"DescribeAutoScalingGroups", "AccessDenied", http.StatusForbidden, func() error {
			_, err := e.client.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
			return err
		}},
		{"ListClusters", "AccessDeniedException", http.StatusBadRequest, func() error {
			_, err := ec.ListClusters(ctx, &ecs.ListClustersInput{})
			return err
		}},
		// SQS's JSON protocol: the query-compatible SDK reports the Query code, AccessDenied.
		{"ListQueues", "AccessDenied", http.StatusBadRequest, func() error {
			_, err := e.sqs.ListQueues(ctx, &sqs.ListQueuesInput{})
			return err
		}},
		{"ListRules", "AccessDeniedException", http.StatusBadRequest, func() error {
			_, err := e.eb.ListRules(ctx, &eventbridge.ListRulesInput{})
			return err
		}},
	}
	if code := e.putFaults(`{"deny":["ListRules","ListQueues","ListClusters","DescribeAutoScalingGroups"]}`); code != http.StatusOK {
		t.Fatalf("PUT deny: status %d", code)
	}
	if got, want := e.sim.Faults().Deny, []string{"DescribeAutoScalingGroups", "ListClusters", "ListQueues", "ListRules"}; !slices.Equal(got, want) {
		t.Errorf("Faults().Deny = %v, want %v", got, want)
	}
	for _, c := range calls {
		err := c.call()
		if got := apiCode(t, err); got != c.code || httpStatus(t, err) != c.status {
			t.Errorf("%s denied: %v, want %s (HTTP %d)", c.op, err, c.code, c.status)
		}
		if ae := (smithy.APIError)(nil); errors.As(err, &ae) && !strings.Contains(ae.ErrorMessage(), "is not authorized to perform: ") {
			t.Errorf("%s denied with message %q, want IAM's form", c.op, ae.ErrorMessage())
		}
	}
	if _, err := ec.DescribeClusters(ctx, &ecs.DescribeClustersInput{}); err != nil {
		t.Errorf("DescribeClusters, not denied: %v", err)
	}
	if got := e.sim.Stats().Requests["ecs/ListClusters/AccessDeniedException"]; got != 1 {
		t.Errorf("awssim counted %d denied ListClusters, want 1", got)
	}
	denyQuery(t, e.asgEnv)
	if code := e.putFaults(`{"deny":null}`); code != http.StatusOK {
		t.Fatalf("PUT deny null: status %d", code)
	}
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Errorf("%s after the deny list was cleared: %v", c.op, err)
		}
	}
}

// denyQuery checks SQS's Query protocol while ListQueues is denied: the Query code in the XML body.
func denyQuery(t *testing.T, e *asgEnv) {
	t.Helper()
	form := url.Values{"Action": {"ListQueues"}, "Version": {"2012-11-05"}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url+"/", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "<Code>AccessDenied</Code>") {
		t.Errorf("SQS Query ListQueues denied: HTTP %d %s, want code AccessDenied", resp.StatusCode, body)
	}
}

// TestThrottleRatesAtRuntime: /debug/faults throttles one operation for a phase, over the Options'
// buckets, and clearing the override restores them with a full bucket. Bad overrides are refused.
func TestThrottleRatesAtRuntime(t *testing.T) {
	e := newASGEnv(t, awssim.Options{ThrottleRates: map[string]awssim.Bucket{"DescribeAutoScalingInstances": {Rate: 0.001, Burst: 1}}})
	ctx := t.Context()
	once := e.newClient(1)
	groups := func() string {
		_, err := once.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
		return apiCode(t, err)
	}
	instances := func() string {
		_, err := once.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{})
		return apiCode(t, err)
	}
	if code := e.putFaults(`{"throttle":true,"throttleRates":{"DescribeAutoScalingGroups":{"rate":0.001,"burst":1},"DescribeAutoScalingInstances":{"rate":0.001,"burst":2}}}`); code != http.StatusOK {
		t.Fatalf("PUT throttleRates: status %d", code)
	}
	if got, want := []string{groups(), groups(), instances(), instances(), instances()}, []string{"", "Throttling", "", "", "Throttling"}; !slices.Equal(got, want) {
		t.Errorf("codes under the run-time buckets %q, want %q", got, want)
	}
	if got := e.sim.Faults().ThrottleRates["DescribeAutoScalingGroups"]; got != (awssim.Bucket{Rate: 0.001, Burst: 1}) {
		t.Errorf("Faults().ThrottleRates[DescribeAutoScalingGroups] = %+v", got)
	}
	if code := e.putFaults(`{"throttleRates":null}`); code != http.StatusOK {
		t.Fatalf("PUT throttleRates null: status %d", code)
	}
	// Back to the default bucket for groups and the Options' bucket (burst 1) for instances, each full.
	if got, want := []string{groups(), groups(), instances(), instances()}, []string{"", "", "", "Throttling"}; !slices.Equal(got, want) {
		t.Errorf("codes after clearing %q, want %q", got, want)
	}
	for _, bad := range []string{
		`{"throttleRates":{"Nope":{"rate":1,"burst":1}}}`, `{"throttleRates":{"ListTasks":{"rate":0,"burst":1}}}`,
		`{"throttleRates":{"ListTasks":{"rate":1,"burst":0.5}}}`, `{"throttleRates":[1]}`,
		`{"deny":["Nope"]}`, `{"deny":{"ListTasks":1}}`,
	} {
		if code := e.putFaults(bad); code != http.StatusBadRequest {
			t.Errorf("PUT %s: status %d, want 400", bad, code)
		}
	}
}
