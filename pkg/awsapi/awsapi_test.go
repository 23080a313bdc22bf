package awsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/ecs-drainer/ecs-drainer/internal/awstest"
)

// recorder is a RequestObserver keeping every observation.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) ObserveAWSRequest(service, operation, code string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, service+"/"+operation+"/"+code)
}

func (r *recorder) observed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// reply is one canned HTTP answer.
type reply struct {
	status int
	body   string
}

// server answers each request with the next canned reply (the last one repeats).
func server(t *testing.T, replies ...reply) (string, *int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		rep := replies[min(n, len(replies)-1)]
		n++
		mu.Unlock()
		if r.Header.Get("X-Amz-Target") != "" {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		} else {
			w.Header().Set("Content-Type", "text/xml")
		}
		w.WriteHeader(rep.status)
		_, _ = w.Write([]byte(rep.body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

func queryError(code, msg string) string {
	return fmt.Sprintf(`<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>r</RequestId></ErrorResponse>`, code, msg)
}

const hooksOK = `<DescribeLifecycleHooksResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><DescribeLifecycleHooksResult><LifecycleHooks/></DescribeLifecycleHooksResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeLifecycleHooksResponse>`

func clients(t *testing.T, url string, opts ClientOptions) (AutoScaling, ECS) {
	t.Helper()
	awstest.IsolateConfig(t)
	opts.EndpointURL = url
	opts.Region = "us-east-1"
	opts.Credentials = credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")
	opts.MaxBackoff = time.Millisecond
	as, e, err := NewClients(t.Context(), opts)
	if err != nil {
		t.Fatalf("NewClients: %v", err)
	}
	return as, e
}

func TestObserverSeesEveryAttempt(t *testing.T) {
	url, _ := server(t,
		reply{500, queryError("InternalFailure", "boom")},
		reply{503, queryError("ServiceUnavailable", "try later")},
		reply{200, hooksOK},
	)
	rec := &recorder{}
	as, _ := clients(t, url, ClientOptions{MaxAttempts: 3, Observer: rec})
	if _, err := as.DescribeLifecycleHooks(t.Context(), &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String("g")}); err != nil {
		t.Fatalf("DescribeLifecycleHooks: %v", err)
	}
	want := []string{
		"autoscaling/DescribeLifecycleHooks/InternalFailure",
		"autoscaling/DescribeLifecycleHooks/ServiceUnavailable",
		"autoscaling/DescribeLifecycleHooks/OK",
	}
	if diff := cmp.Diff(want, rec.observed()); diff != "" {
		t.Errorf("observations (-want +got):\n%s", diff)
	}
}

func TestErrorPredicates(t *testing.T) {
	for _, tc := range []struct {
		name                        string
		reply                       reply
		wantCode                    string
		noActive, invalid, throttle bool
		wantAttempts                int
	}{
		{"no active lifecycle action", reply{400, queryError("ValidationError", "No active Lifecycle Action found with instance ID i-0abc")},
			"ValidationError", true, false, false, 1},
		{"other validation error", reply{400, queryError("ValidationError", "No Lifecycle Hook found")},
			"ValidationError", false, true, false, 1},
		{"throttled on every attempt", reply{400, queryError("Throttling", "Rate exceeded")},
			"Throttling", false, false, true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, n := server(t, tc.reply)
			rec := &recorder{}
			as, _ := clients(t, url, ClientOptions{MaxAttempts: 2, Observer: rec})
			_, err := as.CompleteLifecycleAction(t.Context(), &autoscaling.CompleteLifecycleActionInput{
				AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("h"),
				InstanceId: aws.String("i-0abc"), LifecycleActionResult: aws.String("CONTINUE"),
			})
			if err == nil {
				t.Fatal("CompleteLifecycleAction succeeded, want an error")
			}
			if got := ErrorCode(err); got != tc.wantCode {
				t.Errorf("ErrorCode = %q, want %q", got, tc.wantCode)
			}
			if IsNoActiveLifecycleAction(err) != tc.noActive || IsInvalidRequest(err) != tc.invalid || IsThrottle(err) != tc.throttle {
				t.Errorf("noActive %v invalid %v throttle %v, want %v %v %v", IsNoActiveLifecycleAction(err), IsInvalidRequest(err), IsThrottle(err), tc.noActive, tc.invalid, tc.throttle)
			}
			if *n != tc.wantAttempts || len(rec.observed()) != tc.wantAttempts {
				t.Errorf("%d attempts sent, %d observed; want %d", *n, len(rec.observed()), tc.wantAttempts)
			}
		})
	}
}

func TestECSErrors(t *testing.T) {
	url, _ := server(t, reply{400, `{"__type":"ClusterNotFoundException","message":"Cluster not found."}`})
	rec := &recorder{}
	_, e := clients(t, url, ClientOptions{Observer: rec})
	_, err := e.ListContainerInstances(t.Context(), &ecs.ListContainerInstancesInput{Cluster: aws.String("nope")})
	if !IsClusterNotFound(err) || IsInvalidRequest(err) {
		t.Errorf("ListContainerInstances error %v: cluster not found %v, invalid %v; want true, false", err, IsClusterNotFound(err), IsInvalidRequest(err))
	}
	if diff := cmp.Diff([]string{"ecs/ListContainerInstances/ClusterNotFoundException"}, rec.observed()); diff != "" {
		t.Errorf("observations (-want +got):\n%s", diff)
	}
}

// TestRateLimitAppliesToAttempts: with a bucket of one token refilled once in 1000 s, the second
// call cannot get a token before its deadline and is never sent.
func TestRateLimitAppliesToAttempts(t *testing.T) {
	url, n := server(t, reply{200, `{"clusterArns":[]}`})
	rec := &recorder{}
	_, e := clients(t, url, ClientOptions{QPS: 0.001, Burst: 1, Observer: rec})
	if _, err := e.ListClusters(t.Context(), &ecs.ListClustersInput{}); err != nil {
		t.Fatalf("first ListClusters: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := e.ListClusters(ctx, &ecs.ListClustersInput{})
	if err == nil || !strings.Contains(err.Error(), "rate limit") {
		t.Errorf("second ListClusters error = %v, want a rate limit error", err)
	}
	if *n != 1 {
		t.Errorf("%d requests reached the server, want 1", *n)
	}
}

func TestAttemptCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, CodeOK},
		{context.Canceled, CodeCanceled},
		{fmt.Errorf("sending: %w", context.DeadlineExceeded), CodeCanceled},
		{errors.New("connection refused"), CodeNetworkError},
		{&smithy.GenericAPIError{Code: "ThrottlingException"}, "ThrottlingException"},
		{&smithy.GenericAPIError{Code: "AWS.SimpleQueueService.NonExistentQueue"}, "AWS.SimpleQueueService.NonExistentQueue"},
		// Codes no AWS service sends are folded, so a hostile endpoint cannot grow the label set.
		{&smithy.GenericAPIError{Code: "<html>oops</html>"}, CodeOther},
		{&smithy.GenericAPIError{Code: "9Lives"}, CodeOther},
		{&smithy.GenericAPIError{Code: strings.Repeat("A", 65)}, CodeOther},
		{&smithy.GenericAPIError{Code: "Sender:Throttling"}, CodeOther},
	} {
		if got := AttemptCode(tc.err); got != tc.want {
			t.Errorf("AttemptCode(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestServiceLabel(t *testing.T) {
	for id, want := range map[string]string{"Auto Scaling": ServiceAutoScaling, "ECS": ServiceECS, "Some Service": "someservice"} {
		if got := serviceLabel(id); got != want {
			t.Errorf("serviceLabel(%q) = %q, want %q", id, got, want)
		}
	}
}

// TestAttemptLog: a call whose first attempt got no definite answer (a 5xx) and whose retry says
// "No active Lifecycle Action" is uncertain, so the caller may count the completion as its own;
// one refused with a client error (throttled) first is not.
func TestAttemptLog(t *testing.T) {
	noActive := reply{400, queryError("ValidationError", "No active Lifecycle Action found with instance ID i-0abc")}
	for _, tc := range []struct {
		name          string
		replies       []reply
		wantAttempts  int
		wantUncertain bool
	}{
		{"server error then no active", []reply{{500, queryError("InternalFailure", "boom")}, noActive}, 2, true},
		{"throttled then no active", []reply{{400, queryError("Throttling", "Rate exceeded")}, noActive}, 2, false},
		{"no active at once", []reply{noActive}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := server(t, tc.replies...)
			as, _ := clients(t, url, ClientOptions{MaxAttempts: 3})
			var log AttemptLog
			_, err := as.CompleteLifecycleAction(t.Context(), &autoscaling.CompleteLifecycleActionInput{
				AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("h"),
				InstanceId: aws.String("i-0abc"), LifecycleActionResult: aws.String("CONTINUE"),
			}, func(o *autoscaling.Options) { o.APIOptions = append(o.APIOptions, log.Middleware) })
			if !IsNoActiveLifecycleAction(err) {
				t.Fatalf("CompleteLifecycleAction error %v, want No active Lifecycle Action", err)
			}
			if log.Attempts() != tc.wantAttempts || log.Uncertain() != tc.wantUncertain {
				t.Errorf("attempts %d, uncertain %v; want %d, %v", log.Attempts(), log.Uncertain(), tc.wantAttempts, tc.wantUncertain)
			}
		})
	}
}

func TestUncertain(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"network", errors.New("connection reset by peer"), true},
		{"canceled", context.Canceled, true},
		{"API error without a response", &smithy.GenericAPIError{Code: "ValidationError"}, true},
	} {
		if got := Uncertain(tc.err); got != tc.want {
			t.Errorf("%s: Uncertain = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestServicesDoNotShareRateLimits: ECS throttled and its client-side bucket emptied by its own
// retries leaves Auto Scaling's bucket (and retryer) untouched, so the lifecycle heartbeats and
// completions that keep hooks alive are not starved by ECS trouble.
func TestServicesDoNotShareRateLimits(t *testing.T) {
	var mu sync.Mutex
	sent := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("X-Amz-Target") != "" {
			sent[ServiceECS]++
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"ThrottlingException","message":"Rate exceeded"}`))
			return
		}
		sent[ServiceAutoScaling]++
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(hooksOK))
	}))
	t.Cleanup(srv.Close)
	as, e := clients(t, srv.URL, ClientOptions{QPS: 0.001, Burst: 1})

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	// The first attempt takes ECS's only token; its retry cannot get another before the deadline.
	if _, err := e.ListClusters(ctx, &ecs.ListClustersInput{}); err == nil {
		t.Fatal("ListClusters succeeded against a throttling ECS")
	}
	asCtx, asCancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer asCancel()
	if _, err := as.DescribeLifecycleHooks(asCtx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String("web")}); err != nil {
		t.Errorf("DescribeLifecycleHooks after ECS used up its bucket: %v, want success", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if sent[ServiceECS] != 1 || sent[ServiceAutoScaling] != 1 {
		t.Errorf("requests sent %v, want one to each service", sent)
	}
}
