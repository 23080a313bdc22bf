package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// TestHostileResponses runs the controller against an awssim that spoils its answers (bodies cut in
// half, garbage instead of XML or JSON, 503s with an error code no SDK models), changed at runtime
// through /debug/faults:
//
//   - 20% of answers spoiled: the controller keeps running and still finishes the drains it sees;
//   - every answer spoiled: it keeps running and serving /healthz, and counts the errors; drains
//     that begin now cannot even be discovered;
//   - clean again: those drains converge.
//
// At the end every scaled-in instance was completed exactly once and terminated with no task
// running, and no lifecycle action expired.
func TestHostileResponses(t *testing.T) {
	awssimBin, ctrlBin := chaosBinaries(t)
	sim, err := harness.StartSim(awssimBin, "--seed", "7", "--log-format", "json")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Kill)
	simURL := "http://" + sim.Addr
	as, ec := harness.Clients(simURL)
	fleet := demo.Uniform(demo.Shape{
		Clusters: 2, ASGsPerCluster: 1, InstancesPerASG: 4, ServicesPerCluster: 1, TasksPerInstance: 2,
		Daemon: true, HookHeartbeatTimeout: time.Minute, StopTimeout: 2 * time.Second,
	})
	// The fleet is built while answers are clean: set-up is not what is under test.
	if err := demo.Build(t.Context(), as, ec, fleet); err != nil {
		t.Fatalf("building the fleet: %v", err)
	}
	if err := demo.WaitRegistered(t.Context(), ec, fleet); err != nil {
		t.Fatalf("waiting for the fleet: %v", err)
	}
	groupA, groupB := fleet.Clusters[0].ASGs[0].Name, fleet.Clusters[1].ASGs[0].Name
	size := fleet.Clusters[0].ASGs[0].Desired

	if err := chaosSetFaults(simURL, awssim.Faults{Hostile: 0.2}); err != nil {
		t.Fatal(err)
	}
	ctrl, err := harness.StartController(ctrlBin, simURL, "--resync-period", "1s", "--poll-interval", "1s", "--log-format", "json")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctrl.Kill)
	defer func() {
		if t.Failed() {
			t.Logf("controller output (last 8000 bytes):\n%s", soakTail(ctrl.Output(), 8000))
		}
	}()
	alive := func(phase string) {
		t.Helper()
		hostileAlive(t, ctrl, phase)
	}

	// Phase 1, 20% spoiled: the controller still drains what it finds.
	hostileScaleIn(t, as, simURL, groupA, size, 2)
	err = harness.Eventually(90*time.Second, 500*time.Millisecond, func() (bool, string) {
		alive("20% of answers spoiled")
		return hostileGroupDrained(simURL, groupA)
	})
	if err != nil {
		t.Fatalf("with 20%% of answers spoiled, the drains of %s did not finish: %v", groupA, err)
	}

	// Phase 2, every answer spoiled: new drains cannot be discovered, and nothing may crash.
	if err := chaosSetFaults(simURL, awssim.Faults{Hostile: 1}); err != nil {
		t.Fatal(err)
	}
	hostileScaleIn(t, as, simURL, groupB, size, 2)
	for range 16 {
		alive("every answer spoiled")
		time.Sleep(500 * time.Millisecond)
	}
	if _, finished, err := hostileGroupProgress(simURL, groupB); err != nil || finished != 0 {
		t.Fatalf("test premise: with every answer spoiled the controller cannot list %s, yet %d of its drains finished (err %v)", groupB, finished, err)
	}
	hostileCheckErrorsCounted(t, ctrl)

	// Phase 3, clean: what was left converges.
	if err := chaosSetFaults(simURL, awssim.Faults{}); err != nil {
		t.Fatal(err)
	}
	err = harness.Eventually(90*time.Second, 500*time.Millisecond, func() (bool, string) {
		alive("answers clean again")
		return hostileGroupDrained(simURL, groupB)
	})
	if err != nil {
		t.Fatalf("once answers were clean, the drains of %s did not finish: %v", groupB, err)
	}

	hostileCheckEnd(t, simURL, ctrl)
}

// hostileAlive fails the test if the controller exited or its /healthz does not answer OK; phase
// says when.
func hostileAlive(t *testing.T, ctrl *harness.Process, phase string) {
	t.Helper()
	if ctrl.Exited() {
		t.Fatalf("%s: the controller exited", phase)
	}
	resp, err := http.Get("http://" + ctrl.Addr + "/healthz")
	if err != nil {
		t.Fatalf("%s: /healthz: %v", phase, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: /healthz answered %s", phase, resp.Status)
	}
}

// hostileCheckErrorsCounted checks the controller counted the spoiled answers as AWS errors
// (DeserializationError among them) and its reconciles as errors.
func hostileCheckErrorsCounted(t *testing.T, ctrl *harness.Process) {
	t.Helper()
	mfs, err := harness.Metrics(ctrl.Addr)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]float64{}
	for _, m := range mfs["ecs_drainer_aws_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "code" && l.GetValue() != "OK" {
				codes[l.GetValue()] += m.GetCounter().GetValue()
			}
		}
	}
	t.Logf("AWS errors the controller counted while answers were spoiled, by code: %v", codes)
	if codes["DeserializationError"] == 0 {
		t.Errorf("no DeserializationError counted in ecs_drainer_aws_requests_total after spoiled answers (codes %v)", codes)
	}
	// A 503 carrying an error code no SDK models (SimulatedWeirdFault) is counted under that code when
	// the ECS client reads it; the Auto Scaling client cannot parse its JSON body as XML and counts a
	// DeserializationError. Which clients drew one is up to chance, so it is logged, not required.
	if n := harness.Sum(mfs, "ecs_drainer_reconcile_total", map[string]string{"result": "error"}); n == 0 {
		t.Errorf("ecs_drainer_reconcile_total{result=\"error\"} is 0 after spoiled answers")
	}
}

// hostileCheckEnd checks every drain of both groups ended right, the controller never panicked,
// and it stops cleanly.
func hostileCheckEnd(t *testing.T, simURL string, ctrl *harness.Process) {
	t.Helper()
	stats, err := chaosStats(simURL)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := chaosTimelines(simURL)
	if err != nil {
		t.Fatal(err)
	}
	if d := chaosCheckDrains(t, stats, tl); d.scaledIn != 4 || d.completedOnce != 4 || d.terminated != 4 {
		t.Errorf("drains: %+v, want 4 instances scaled in, terminated and completed once", d)
	}
	if strings.Contains(ctrl.Output(), "panic") {
		t.Errorf("the controller's output mentions a panic")
	}
	if err := ctrl.Stop(30 * time.Second); err != nil {
		t.Errorf("the controller did not stop cleanly on SIGTERM: %v", err)
	}
}

// hostileScaleIn sets group's desired capacity from size to size-n while answers may be
// spoiled. awssim applies a call before it spoils the answer, so the call's error says nothing; the
// simulator's timeline says whether n more instances entered Terminating:Wait. SetDesiredCapacity
// with an absolute value is idempotent, so the SDK retrying it is harmless.
func hostileScaleIn(t *testing.T, as *autoscaling.Client, simURL, group string, size, n int) {
	t.Helper()
	before, _, err := hostileGroupProgress(simURL, group)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = as.SetDesiredCapacity(t.Context(), &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(group), DesiredCapacity: aws.Int32(int32(size - n)), HonorCooldown: aws.Bool(false),
	})
	err = harness.Eventually(10*time.Second, 100*time.Millisecond, func() (bool, string) {
		got, _, err := hostileGroupProgress(simURL, group)
		if err != nil {
			return false, err.Error()
		}
		return got == before+n, fmt.Sprintf("%d instances of %s in or through Terminating:Wait, want %d", got, group, before+n)
	})
	if err != nil {
		t.Fatalf("scaling in %s: %v", group, err)
	}
}

// hostileGroupProgress counts, from awssim's timelines, the instances of group that entered
// Terminating:Wait and those of them that were completed and terminated.
func hostileGroupProgress(simURL, group string) (scaledIn, finished int, err error) {
	tl, err := chaosTimelines(simURL)
	if err != nil {
		return 0, 0, err
	}
	for _, x := range tl {
		if x.Group != group || x.TerminatingWaitAt.IsZero() {
			continue
		}
		scaledIn++
		if !x.CompletedAt.IsZero() && !x.TerminatedAt.IsZero() {
			finished++
		}
	}
	return scaledIn, finished, nil
}

// hostileGroupDrained is a harness.Eventually condition: every scaled-in instance of group finished.
func hostileGroupDrained(simURL, group string) (bool, string) {
	scaled, finished, err := hostileGroupProgress(simURL, group)
	if err != nil {
		return false, err.Error()
	}
	return scaled > 0 && finished == scaled, fmt.Sprintf("%d of %d scaled-in instances of %s completed and terminated", finished, scaled, group)
}
