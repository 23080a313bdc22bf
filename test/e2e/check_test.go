package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ecs-drainer/ecs-drainer/pkg/check"
	"github.com/ecs-drainer/ecs-drainer/pkg/check/checktest"
	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// runCheck runs the real binary's `ecs-drainer check` against the scenario's awssim, as an
// operator would with the controller's environment, and returns its exit status and output.
func (e *ctrlEnv) runCheck(args ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.ctrlBin, append([]string{"check"}, args...)...)
	cmd.Env = append(cmd.Environ(), harness.ControllerEnv(e.url)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		e.t.Fatalf("running ecs-drainer check: %v", err)
	}
	return code, out.String(), errOut.String()
}

// TestCheckExitCodes runs the binary's check on a fleet with every problem (exit 1, each named with
// its fix, in text and JSON), on a good fleet (exit 0), and with bad flags (exit 2); awssim's own
// counters show it never wrote.
func TestCheckExitCodes(t *testing.T) {
	t.Parallel()
	broken := newCtrlEnv(t)
	good := newCtrlEnv(t)
	for _, c := range []struct {
		e     *ctrlEnv
		fleet []checktest.Group
	}{{broken, checktest.Broken}, {good, checktest.Good}} {
		if err := checktest.Build(t.Context(), c.e.as, c.e.ec, c.fleet); err != nil {
			t.Fatalf("building the fleet: %v", err)
		}
	}
	before := broken.stats().WriteCalls

	code, out, errOut := broken.runCheck(checktest.BrokenFlags...)
	if code != 1 {
		t.Errorf("check on the broken fleet exited %d, want 1\n%s%s", code, out, errOut)
	}
	for _, w := range []string{
		"NOT OK", "FAIL no-hook: no terminating lifecycle hook",
		"fix: aws autoscaling put-lifecycle-hook --auto-scaling-group-name no-hook --lifecycle-hook-name ecs-drainer",
		"FAIL typo: NOT selected", "fix: --clusters web,batch,other", "Event queue: not configured",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("the report lacks %q:\n%s", w, out)
		}
	}

	code, out, _ = broken.runCheck(append([]string{"--output", "json"}, checktest.BrokenFlags...)...)
	var rep check.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || rep.OK || rep.SchemaVersion != check.SchemaVersion {
		t.Errorf("--output json: exit %d, ok %v, schema %d, parse error %v", code, rep.OK, rep.SchemaVersion, err)
	}
	if after := broken.stats().WriteCalls; after != before {
		t.Errorf("the checks made %d write calls, want none", after-before)
	}

	if code, out, errOut := good.runCheck(); code != 0 {
		t.Errorf("check on the good fleet exited %d, want 0\n%s%s", code, out, errOut)
	}
	if code, _, errOut := good.runCheck("--output", "yaml"); code != 2 || !strings.Contains(errOut, `--output is "yaml"`) {
		t.Errorf("check --output yaml exited %d, want 2 naming the flag:\n%s", code, errOut)
	}
}
