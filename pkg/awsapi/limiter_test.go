package awsapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"
)

// arrival is a request made of a limiter in a test: urgent with a deadline that far ahead, else
// batched or not.
type arrival struct {
	name     string
	deadline time.Duration // >0: urgent
	batch    bool
}

// orderTest drives a limiter of one token a second, on a fake clock, whose bucket starts empty:
// requests arrive (arrive) and are served one per token (serveOne).
type orderTest struct {
	t       *testing.T
	clk     *clocktesting.FakeClock
	l       *Limiter
	base    time.Time
	arrived int
	mu      sync.Mutex
	served  []string
	wg      sync.WaitGroup
}

func newOrderTest(t *testing.T) *orderTest {
	t.Helper()
	clk := clocktesting.NewFakeClock(time.Unix(1_000_000, 0))
	o := &orderTest{t: t, clk: clk, l: newLimiterOnClock(1, 1, clk), base: clk.Now()}
	if err := o.l.Wait(t.Context()); err != nil { // takes the only token
		t.Fatal(err)
	}
	t.Cleanup(o.wg.Wait)
	return o
}

// arrive makes a request and returns once it waits.
func (o *orderTest) arrive(a arrival) {
	o.t.Helper()
	ctx := o.t.Context()
	if a.deadline > 0 {
		ctx = WithUrgency(ctx, o.base.Add(a.deadline))
	}
	if a.batch {
		ctx = WithBatch(ctx)
	}
	o.wg.Go(func() {
		if err := o.l.Wait(ctx); err != nil {
			o.t.Errorf("%s: %v", a.name, err)
			return
		}
		o.mu.Lock()
		o.served = append(o.served, a.name)
		o.mu.Unlock()
	})
	o.arrived++
	served := func() int { o.mu.Lock(); defer o.mu.Unlock(); return len(o.served) }
	waitFor(o.t, func() bool { return o.l.Waiting() == o.arrived-served() }) // arrival order is the caller's
}

// serveOne lets the next token in and returns the name of the request it served.
func (o *orderTest) serveOne() string {
	o.t.Helper()
	o.mu.Lock()
	n := len(o.served)
	o.mu.Unlock()
	// The limiter arms its timer for the next token after serving one; stepping the fake clock
	// before it has would leave the timer a step behind.
	waitFor(o.t, o.clk.HasWaiters)
	o.clk.Step(time.Second)
	waitFor(o.t, func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return len(o.served) == n+1
	})
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.served[n]
}

// servedOrder makes the requests of arrivals, in that order, then serves them all, and returns the
// order they were served in.
func servedOrder(t *testing.T, arrivals []arrival) []string {
	t.Helper()
	o := newOrderTest(t)
	for _, a := range arrivals {
		o.arrive(a)
	}
	var served []string
	for range arrivals {
		served = append(served, o.serveOne())
	}
	return served
}

// TestLimiterServesUrgentFirst: with the bucket empty, waiters are served one per token: urgent
// ones first, earliest deadline first, then the rest in arrival order, whatever order they came in.
func TestLimiterServesUrgentFirst(t *testing.T) {
	served := servedOrder(t, []arrival{
		{name: "describe-1"},
		{name: "heartbeat-late", deadline: 30 * time.Second},
		{name: "complete"},
		{name: "heartbeat-soon", deadline: 5 * time.Second},
		{name: "describe-2"},
		{name: "heartbeat-mid", deadline: 10 * time.Second},
	})
	want := []string{"heartbeat-soon", "heartbeat-mid", "heartbeat-late", "describe-1", "complete", "describe-2"}
	if diff := cmp.Diff(want, served); diff != "" {
		t.Errorf("order served (-want +got):\n%s", diff)
	}
}

// TestLimiterServesBatchesAheadWithoutStarving: a batched request arriving behind a backlog of
// single-instance ones goes ahead of them, but batched requests take every other token at most
// while single ones wait; urgent ones still go first; with no single one waiting, batched ones take
// every token.
func TestLimiterServesBatchesAheadWithoutStarving(t *testing.T) {
	served := servedOrder(t, []arrival{
		{name: "list-tasks-1"},
		{name: "list-tasks-2"},
		{name: "list-tasks-3"},
		{name: "describe-1", batch: true},
		{name: "describe-2", batch: true},
		{name: "heartbeat", deadline: 10 * time.Second, batch: true},
		{name: "describe-3", batch: true},
		{name: "describe-4", batch: true},
		{name: "describe-5", batch: true},
	})
	want := []string{
		"heartbeat",
		"describe-1", "list-tasks-1",
		"describe-2", "list-tasks-2",
		"describe-3", "list-tasks-3",
		"describe-4", "describe-5",
	}
	if diff := cmp.Diff(want, served); diff != "" {
		t.Errorf("order served (-want +got):\n%s", diff)
	}
}

// TestLimiterUrgentKeepsTheAlternation: an urgent request served between two batched ones does not
// reset their alternation with single ones, so heartbeats interleaved with batched reads cannot
// keep a completion waiting.
func TestLimiterUrgentKeepsTheAlternation(t *testing.T) {
	o := newOrderTest(t)
	o.arrive(arrival{name: "complete"})
	o.arrive(arrival{name: "describe-1", batch: true})
	o.arrive(arrival{name: "describe-2", batch: true})
	var served []string
	served = append(served, o.serveOne())
	o.arrive(arrival{name: "heartbeat", deadline: 10 * time.Second})
	served = append(served, o.serveOne(), o.serveOne(), o.serveOne())
	want := []string{"describe-1", "heartbeat", "complete", "describe-2"}
	if diff := cmp.Diff(want, served); diff != "" {
		t.Errorf("order served (-want +got):\n%s", diff)
	}
}

// TestLimiterWaitEndsWithContext: a waiter whose context ends leaves the queue and does not take
// the next token.
func TestLimiterWaitEndsWithContext(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_000_000, 0))
	l := newLimiterOnClock(1, 1, clk)
	if err := l.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx) }()
	waitFor(t, func() bool { return l.Waiting() == 1 })
	cancel()
	if err := <-done; err == nil {
		t.Fatal("Wait returned nil after its context was canceled")
	}
	if n := l.Waiting(); n != 0 {
		t.Fatalf("%d waiting after cancel, want 0", n)
	}
	clk.Step(time.Second)
	if err := l.Wait(t.Context()); err != nil { // the refilled token is still there
		t.Fatal(err)
	}
}

// waitFor waits for goroutines to reach a state; it bounds a failure, it does not time anything.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestThrottledOperationLeavesHeartbeatsAlone: CompleteLifecycleAction throttled on every attempt
// slows its own adaptive send rate only: a heartbeat that fails once still gets its retry at once,
// and a describe is sent at once. With one retryer per client (as before), both waited behind the
// completions' slowed send rate until their deadline, and the heartbeat failed with the error seen
// in the field: "failed to get retry Send token".
func TestThrottledOperationLeavesHeartbeatsAlone(t *testing.T) {
	var mu sync.Mutex
	sent := map[string]int{}
	heartbeatFailures := 1
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		op := opFromQuery(string(body))
		mu.Lock()
		sent[op]++
		fail := op == OpRecordLifecycleActionHeartbeat && heartbeatFailures > 0
		if fail {
			heartbeatFailures--
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		switch {
		case op == "CompleteLifecycleAction":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(queryError("Throttling", "Rate exceeded")))
		case fail:
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(queryError("InternalFailure", "boom")))
		case op == "DescribeLifecycleHooks":
			_, _ = w.Write([]byte(hooksOK))
		default:
			_, _ = w.Write([]byte(`<` + op + `Response xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><` + op + `Result/><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></` + op + `Response>`))
		}
	}))
	t.Cleanup(srv.Close)
	as, _ := clients(t, srv.URL, ClientOptions{MaxAttempts: 3})
	aws5 := func() *autoscaling.CompleteLifecycleActionInput {
		return &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("h"),
			InstanceId: aws.String("i-1"), LifecycleActionResult: aws.String("CONTINUE")}
	}
	for range 30 {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		_, _ = as.CompleteLifecycleAction(ctx, aws5())
		cancel()
	}
	// A second is ample for two attempts on loopback; a client slowed by the completions' throttling
	// would not send them within it.
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := as.RecordLifecycleActionHeartbeat(ctx, &autoscaling.RecordLifecycleActionHeartbeatInput{
		AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("h"), InstanceId: aws.String("i-1"),
	}); err != nil {
		t.Errorf("heartbeat after throttled completions: %v, want success on its retry", err)
	}
	if _, err := as.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String("g")}); err != nil {
		t.Errorf("describe after throttled completions: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if sent[OpRecordLifecycleActionHeartbeat] != 2 || sent["DescribeLifecycleHooks"] != 1 {
		t.Errorf("sent %v, want 2 heartbeat attempts (one failed, one retried) and 1 describe", sent)
	}
}

func opFromQuery(body string) string {
	for kv := range strings.SplitSeq(body, "&") {
		if v, ok := strings.CutPrefix(kv, "Action="); ok {
			return v
		}
	}
	return ""
}
