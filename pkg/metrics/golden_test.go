package metrics

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"k8s.io/client-go/util/workqueue"
)

var update = flag.Bool("update", false, "rewrite testdata/metrics.golden from the current metrics")

// TestMetricsGolden compares the /metrics exposition of a fresh controller that made one AWS
// request (every metric, its help, type, buckets and pre-initialised label values, and the
// workqueue metrics of both queues) with
// testdata/metrics.golden, so any change to a metric shows in review. After an intended change:
//
//	go test ./pkg/metrics -run TestMetricsGolden -update
func TestMetricsGolden(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "v1.2.3", "abc123")
	m.AWSRequestRateLimit.Set(10)
	// One AWS request, so the request counter (labelled by what AWS answers) shows too.
	m.ObserveAWSRequest("ecs", "ListTasks", "OK")
	for _, name := range []string{"reconciler", "heartbeat"} {
		q := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name, MetricsProvider: m.WorkqueueProvider()})
		t.Cleanup(q.ShutDown)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&out, mf); err != nil {
			t.Fatal(err)
		}
	}
	// The Go version the test runs under is not part of the contract.
	got := strings.ReplaceAll(out.String(), `goversion="`+runtime.Version()+`"`, `goversion="GO"`)

	path := filepath.Join("testdata", "metrics.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("/metrics differs from %s (-want +got); if intended, run with -update:\n%s", path, diff)
	}
}
