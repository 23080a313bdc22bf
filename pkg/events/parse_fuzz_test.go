package events

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// FuzzParse: whatever a queue holds, parse never panics, counts it under a pre-initialised label
// combination, and gives a hint exactly when it says handled, with an ID to deduplicate on.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","version":"0","id":"x","time":"2020-01-01T00:00:00Z","detail":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p := parse(body)
		if !slices.Contains(metrics.EventTypes(p.source), p.typ) {
			t.Fatalf("counted as %s/%s, not a pre-initialised pair", p.source, p.typ)
		}
		if !slices.Contains(metrics.EventResults, p.result) {
			t.Fatalf("result %q unknown", p.result)
		}
		if (p.hint != nil) != (p.result == metrics.EventResultHandled) {
			t.Fatalf("result %s with hint %v", p.result, p.hint)
		}
		if p.hint != nil && (p.hint.event().ID == "" || p.hint.event().Time.IsZero()) {
			t.Fatalf("hint %+v without an ID or a time", p.hint)
		}
		if p.hint == nil && p.reason == "" {
			t.Fatal("no hint and no reason")
		}
	})
}
