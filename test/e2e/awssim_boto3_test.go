package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// TestBoto3EventsConformance runs testdata/boto3_events.py against a real awssim: boto3 speaks
// SQS's JSON 1.0 protocol (the CLI test covers its Query protocol) and EventBridge's JSON 1.1, with
// botocore's own serializers, error parsing and modeled exceptions. The script asserts every step.
func TestBoto3EventsConformance(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH")
	}
	if out, err := exec.CommandContext(t.Context(), python, "-c", "import boto3").CombinedOutput(); err != nil {
		t.Skipf("boto3 is not installed (it comes with the machine image, with moto): %v %s", err, out)
	}
	simBin, _, err := harness.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	sim := cliStartSim(t, simBin, "--event-delay", "10ms")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/boto3_events.py", "http://"+sim.Addr)
	env := newCLIRunner(t, sim).env // fake credentials, nothing from the host's AWS configuration
	env = append(env, "PYTHONDONTWRITEBYTECODE=1")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || !strings.HasPrefix(lines[len(lines)-1], "ok ") {
		t.Fatalf("boto3_events.py: %v\n%s", err, out)
	}
	t.Logf("boto3_events.py: %s", lines[len(lines)-1])
}
