package awsapi

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/google/go-cmp/cmp"
)

// safetyTimeout only keeps a broken test from hanging; nothing is asserted about time.
const safetyTimeout = 10 * time.Second

// lateWriter reproduces, on demand, the scheduling that made 1 to 25 calls per 10k benchmark fail
// with "DeserializationError ... use of closed network connection": the transport's write goroutine
// is held right after it has put the request body on the wire, and let go only once the SDK has its
// response and is reading the body. net/http flushes the headers of an SDK request on their own
// (the SDK's body is not a type it knows to be in memory), so every Write after a connection's first
// carries body bytes, and is held.
type lateWriter struct {
	doReturned atomic.Bool   // the HTTP client's Do returned: the SDK then closes the request body
	release    chan struct{} // closed by the first read after that: lets the held Write go
	once       sync.Once
	held       atomic.Int32 // how many Writes were held (the test asserts the race was staged)
}

type lateConn struct {
	net.Conn
	w      *lateWriter
	writes int // only the transport's write goroutine writes
}

func (c *lateConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.writes++
	if c.writes > 1 {
		c.w.held.Add(1)
		select {
		case <-c.w.release:
		case <-time.After(safetyTimeout):
		}
	}
	return n, err
}

func (c *lateConn) Read(p []byte) (int, error) {
	if c.w.doReturned.Load() {
		// Do has returned and the SDK closed the request body (it does so before reading the
		// response), so the transport's late look at that body comes after the close.
		c.w.once.Do(func() { close(c.w.release) })
	}
	return c.Conn.Read(p)
}

// doHook tells lateWriter when the SDK's HTTP client call returned.
type doHook struct {
	client *awshttp.BuildableClient
	w      *lateWriter
}

func (h doHook) Do(r *http.Request) (*http.Response, error) {
	resp, err := h.client.Do(r)
	h.w.doReturned.Store(true)
	return resp, err
}

// TestResponseSurvivesLateRequestBodyCheck: the SDK closes a request's body as soon as the response
// headers arrive, and net/http, after sending a body of known length, reads it once more to check
// that nothing is left over. When that check ran after the close (the write goroutine descheduled
// on a loaded machine), the SDK's closed body answered io.EOF through WriteTo, net/http took it for
// a failed request write and closed the connection under the response being read: a
// DeserializationError, and a retry, for a request the server had answered. Each call is one
// attempt, answered OK, whatever the scheduling and whatever the size of the request.
func TestResponseSurvivesLateRequestBodyCheck(t *testing.T) {
	// A DescribeContainerInstances of 100 ARNs (about 10 KiB of request body) as in the benchmark's
	// lookups, a small ECS request, and an Auto Scaling (query protocol) request.
	arns := make([]string, MaxDescribeContainerInstances)
	var described strings.Builder
	described.WriteString(`{"containerInstances":[`)
	for i := range arns {
		arns[i] = fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:container-instance/cluster-00/%032x", i)
		if i > 0 {
			described.WriteString(",")
		}
		fmt.Fprintf(&described, `{"containerInstanceArn":%q,"ec2InstanceId":"i-%017x","status":"ACTIVE","runningTasksCount":3}`, arns[i], i)
	}
	described.WriteString(`],"failures":[]}`)

	for _, tc := range []struct {
		name        string
		contentType string
		answer      string
		want        string
		call        func(context.Context, AutoScaling, ECS) error
	}{
		{"DescribeContainerInstances of 100", "application/x-amz-json-1.1", described.String(), "ecs/DescribeContainerInstances/OK",
			func(ctx context.Context, _ AutoScaling, e ECS) error {
				out, err := e.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: arns})
				if err == nil && len(out.ContainerInstances) != len(arns) {
					err = fmt.Errorf("%d container instances described, want %d", len(out.ContainerInstances), len(arns))
				}
				return err
			}},
		{"ListContainerInstances", "application/x-amz-json-1.1", `{"containerInstanceArns":["` + strings.Join(arns, `","`) + `"]}`, "ecs/ListContainerInstances/OK",
			func(ctx context.Context, _ AutoScaling, e ECS) error {
				out, err := e.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("cluster-00")})
				if err == nil && len(out.ContainerInstanceArns) != len(arns) {
					err = fmt.Errorf("%d container instances listed, want %d", len(out.ContainerInstanceArns), len(arns))
				}
				return err
			}},
		{"DescribeLifecycleHooks", "text/xml", hooksOK, "autoscaling/DescribeLifecycleHooks/OK",
			func(ctx context.Context, as AutoScaling, _ ECS) error {
				_, err := as.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String("g")})
				return err
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wrote := make(chan error, 4) // the transport's own verdict on each request write
			var requests atomic.Int32
			srv := lateAnswerServer(tc.contentType, tc.answer, wrote, &requests)
			t.Cleanup(srv.Close)

			lw := &lateWriter{release: make(chan struct{})}
			dialer := &net.Dialer{}
			base := awshttp.NewBuildableClient().WithTimeout(attemptTimeout).WithTransportOptions(func(tr *http.Transport) {
				tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
					c, err := dialer.DialContext(ctx, network, addr)
					if err != nil {
						return nil, err
					}
					return &lateConn{Conn: c, w: lw}, nil
				}
			})
			rec := &recorder{}
			// The SDK can install a CA bundle only into its own client type, not into doHook.
			t.Setenv("AWS_CA_BUNDLE", "")
			as, e := clients(t, srv.URL, ClientOptions{QPS: 100, Burst: 200, Observer: rec, HTTPClient: doHook{client: base, w: lw}})

			ctx, cancel := context.WithTimeout(t.Context(), safetyTimeout)
			defer cancel()
			ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
				WroteRequest: func(info httptrace.WroteRequestInfo) { wrote <- info.Err },
			})
			if err := tc.call(ctx, as, e); err != nil {
				t.Fatalf("call: %v", err)
			}
			if lw.held.Load() == 0 {
				t.Fatal("no request write was held: the race was not staged")
			}
			if diff := cmp.Diff([]string{tc.want}, rec.observed()); diff != "" {
				t.Errorf("attempts observed (-want +got):\n%s", diff)
			}
			if n := requests.Load(); n != 1 {
				t.Errorf("server answered %d requests, want 1", n)
			}
		})
	}
}

// lateAnswerServer answers every request with answer. The first answer is cut in two: the headers
// and its first half at once, the rest only once the client's transport has judged its request
// written (wrote); if it judged it failed, the transport closes the connection and the answer is
// cut. requests counts the requests.
func lateAnswerServer(contentType, answer string, wrote <-chan error, requests *atomic.Int32) *httptest.Server {
	head := len(answer) / 2
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		first := requests.Add(1) == 1
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", fmt.Sprint(len(answer)))
		w.WriteHeader(http.StatusOK)
		if !first {
			_, _ = io.WriteString(w, answer)
			return
		}
		_, _ = io.WriteString(w, answer[:head])
		w.(http.Flusher).Flush()
		select {
		case err := <-wrote:
			if err != nil {
				<-r.Context().Done()
				return
			}
		case <-r.Context().Done():
			return
		case <-time.After(safetyTimeout):
		}
		_, _ = io.WriteString(w, answer[head:])
	}))
}

// TestGuardedBodyIsResentWhole: with the request body guard in place, a retried attempt still
// sends the whole body again (the retryer rewinds the guarded stream).
func TestGuardedBodyIsResentWhole(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		n := len(bodies)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if n == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"__type":"ServerException","message":"boom"}`)
			return
		}
		_, _ = io.WriteString(w, `{"containerInstances":[],"failures":[]}`)
	}))
	t.Cleanup(srv.Close)
	rec := &recorder{}
	_, e := clients(t, srv.URL, ClientOptions{MaxAttempts: 2, Observer: rec})
	arns := make([]string, MaxDescribeContainerInstances)
	for i := range arns {
		arns[i] = fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:container-instance/c/%032x", i)
	}
	if _, err := e.DescribeContainerInstances(t.Context(), &ecs.DescribeContainerInstancesInput{ContainerInstances: arns}); err != nil {
		t.Fatalf("DescribeContainerInstances: %v", err)
	}
	if diff := cmp.Diff([]string{"ecs/DescribeContainerInstances/ServerException", "ecs/DescribeContainerInstances/OK"}, rec.observed()); diff != "" {
		t.Errorf("attempts observed (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 2 || bodies[0] != bodies[1] || !strings.Contains(bodies[0], arns[len(arns)-1]) {
		t.Errorf("request bodies differ between attempts or are cut: %d bodies, lengths %v", len(bodies), lengths(bodies))
	}
}

func lengths(ss []string) []int {
	out := make([]int, len(ss))
	for i, s := range ss {
		out[i] = len(s)
	}
	return out
}
