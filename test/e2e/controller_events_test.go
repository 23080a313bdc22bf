package e2e

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"k8s.io/utils/clock"

	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
	"github.com/ecs-drainer/ecs-drainer/pkg/options"
	"github.com/ecs-drainer/ecs-drainer/test/bench/awssample"
	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// The event path's acceptance bounds (issue 9): with a queue and the default resync and poll,
// every drain starts within evDrainBound of Terminating:Wait and every action is completed within
// evCompleteBound of its last task stopping. Both are read from awssim's own timeline.
const (
	evDrainBound    = 2 * time.Second
	evCompleteBound = 2 * time.Second
)

// evDefaultIntervals are the controller's production resync and poll periods (the defaults; given
// explicitly to override ctrlFlags' quick loops).
var evDefaultIntervals = []string{"--resync-period", options.DefaultResyncPeriod.String(), "--poll-interval", options.DefaultPollInterval.String()}

// evFeed says how the event queue is fed.
type evFeed int

const (
	evNoQueue evFeed = iota // polling only
	evRules                 // EventBridge rules for Auto Scaling and ECS events
	evHook                  // the hook's NotificationTargetARN, plus a rule for ECS events
)

// evGroup and evCluster name the scenario's fleet: one managed group of evFleetSize instances.
const (
	evGroup     = "ev-asg"
	evCluster   = "ev"
	evFleetSize = 200
	evScaleIn   = 20
	// evRoleARN is the role a hook's notifications are sent with (awssim checks none).
	evRoleARN = "arn:aws:iam::123456789012:role/ecs-drainer-hook-notify"
)

func evCtrlFleet(size int) demo.Fleet {
	return demo.Fleet{Clusters: []demo.Cluster{{
		Name: evCluster,
		ASGs: []demo.ASG{{Name: evGroup, Min: 0, Desired: size, Max: size, TaskSlots: 4, Managed: true, HookHeartbeatTimeout: 300 * time.Second}},
		Services: []demo.Service{
			{Name: "web", DesiredCount: size, MinimumHealthyPercent: 50, MaximumPercent: 200},
			{Name: "agent", Daemon: true},
		},
	}}}
}

// evSetUpQueue creates the event queue and feeds it as feed says, with standard AWS calls, and
// returns its URL ("" for evNoQueue).
func (e *ctrlEnv) evSetUpQueue(feed evFeed) string {
	e.t.Helper()
	if feed == evNoQueue {
		return ""
	}
	ctx := e.t.Context()
	q, err := demo.CreateEventQueue(ctx, e.url, harness.Region)
	if err != nil {
		e.t.Fatal(err)
	}
	rule := demo.ControllerEvents
	if feed == evHook {
		rule = demo.ECSEvents
		_, err := e.as.PutLifecycleHook(ctx, &autoscaling.PutLifecycleHookInput{
			AutoScalingGroupName:  aws.String(evGroup),
			LifecycleHookName:     aws.String(demo.DefaultHookName),
			LifecycleTransition:   aws.String("autoscaling:EC2_INSTANCE_TERMINATING"),
			HeartbeatTimeout:      aws.Int32(300),
			DefaultResult:         aws.String("CONTINUE"),
			NotificationTargetARN: aws.String(q.ARN),
			RoleARN:               aws.String(evRoleARN),
		})
		if err != nil {
			e.t.Fatalf("pointing the hook at the queue: %v", err)
		}
	}
	if err := demo.RouteEventsTo(ctx, e.url, harness.Region, q, rule); err != nil {
		e.t.Fatal(err)
	}
	return q.URL
}

// evLatencies are the drains' delays read from awssim's timeline.
type evLatencies struct {
	toDraining, toCompleted []time.Duration
}

func (e *ctrlEnv) evLatencies(ids []string) evLatencies {
	e.t.Helper()
	tls := e.timelines()
	var l evLatencies
	for _, id := range ids {
		tl := tls[id]
		l.toDraining = append(l.toDraining, tl.DrainingAt.Sub(tl.TerminatingWaitAt))
		l.toCompleted = append(l.toCompleted, tl.CompletedAt.Sub(tl.LastTaskStoppedAt))
	}
	slices.Sort(l.toDraining)
	slices.Sort(l.toCompleted)
	return l
}

// evQuantiles formats p50, p99 and max of sorted durations.
func evQuantiles(d []time.Duration) string {
	if len(d) == 0 {
		return "none"
	}
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return fmt.Sprintf("p50 %v, p99 %v, max %v", q(0.5).Round(time.Millisecond), q(0.99).Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond))
}

// evScenario builds the fleet, feeds the queue as feed says, runs the controller with the default
// intervals, scales evScaleIn instances in and checks the drains' invariants. It returns the
// latencies and the calls made while the drains ran, by "service/operation".
func evScenario(t *testing.T, feed evFeed, size, scaleIn int, simFlags ...string) (*ctrlEnv, evLatencies, map[string]int) {
	e := newCtrlEnv(t, simFlags...)
	e.build(evCtrlFleet(size))
	queueURL := e.evSetUpQueue(feed)
	flags := slices.Clone(evDefaultIntervals)
	if queueURL != "" {
		flags = append(flags, "--queue-url", queueURL)
	}
	ctrl := e.startController(flags...)
	e.waitReady(ctrl)

	before := e.stats()
	ids := e.scaleIn(evGroup, size-scaleIn)
	if len(ids) != scaleIn {
		t.Fatalf("%d instances in Terminating:Wait, want %d", len(ids), scaleIn)
	}
	e.waitTerminated(ids)
	st := e.stats()
	e.noHarm(st)
	e.completions(st, scaleIn, 0)
	e.drainedOnce(ids)
	if feed != evNoQueue {
		if n := e.ctrlMetric(ctrl, "ecs_drainer_instances_found_by_resync_total", nil); n != 0 {
			t.Errorf("instances_found_by_resync_total = %v, want 0: every instance's event came", n)
		}
	}
	calls := ctrlByOp(ctrlDelta(before, st))
	t.Logf("calls during the drains:\n%s", ctrlFormatCounts(calls))
	return e, e.evLatencies(ids), calls
}

// evSQSCalls picks the SQS calls out of calls, by operation.
func evSQSCalls(calls map[string]int) map[string]int {
	out := map[string]int{}
	for op, n := range calls {
		if service, name, _ := strings.Cut(op, "/"); service == "sqs" {
			out[name] = n
		}
	}
	return out
}

// evSampleCallsPerDrain runs the AWS sample's drain algorithm (test/bench/awssample: the
// ecs-cid-sample Lambda, in process, with its SNS and Lambda runtime) on evCtrlFleet(size) in an
// awssim of its own, scales scaleIn instances in, hands it each lifecycle notification as SNS
// would, and returns its AWS calls per drain while the drains ran: ECS and Auto Scaling (awssim's
// count, the test's own scale-in included as for ecs-drainer) and its SNS publishes.
func evSampleCallsPerDrain(t *testing.T, size, scaleIn int) float64 {
	e := newCtrlEnv(t)
	e.build(evCtrlFleet(size))
	ctx := t.Context()
	h := &awssample.Handler{ECS: e.ec, AutoScaling: e.as, Clock: clock.RealClock{}, Log: slog.New(slog.DiscardHandler), Delay: awssample.RepublishDelay}
	rt := awssample.NewRuntime(ctx, clock.RealClock{}, awssample.DefaultConfig(), h.Handle, slog.New(slog.DiscardHandler))
	h.SNS = rt

	before := e.stats()
	ids := e.scaleIn(evGroup, size-scaleIn)
	for _, id := range ids {
		msg, err := json.Marshal(awssample.Notification{
			Service: "AWS Auto Scaling", Time: time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), RequestID: "e2e-" + id,
			AccountID: "123456789012", AutoScalingGroupName: evGroup, LifecycleHookName: demo.DefaultHookName,
			EC2InstanceID: id, LifecycleTransition: awssample.TransitionTerminating,
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rt.Notify(evCluster, "Auto Scaling: Lifecycle action 'TERMINATING' for instance "+id+" in progress.", string(msg)); err != nil {
			t.Fatalf("notifying the sample of %s: %v", id, err)
		}
	}
	e.waitTerminated(ids)
	calls := ctrlByOp(ctrlDelta(before, e.stats()))
	publishes := rt.Stats().Publishes
	total := publishes
	for _, n := range calls {
		total += n
	}
	t.Logf("AWS sample, %d of %d scaled in: calls during the drains (and %d SNS publishes):\n%s", scaleIn, size, publishes, ctrlFormatCounts(calls))
	return float64(total) / float64(scaleIn)
}

// evCallsPerDrain is every call in calls (ECS, Auto Scaling and SQS) per drain.
func evCallsPerDrain(calls map[string]int, drains int) float64 {
	total := 0
	for _, n := range calls {
		total += n
	}
	return float64(total) / float64(drains)
}

// TestControllerEventQueueLatency is the acceptance check of the event path: 20 of 200 instances
// scaled in, the controller on its default resync and poll, fed by EventBridge rules or by the
// hook's own notifications (plus ECS's events): every drain starts within evDrainBound of
// Terminating:Wait and every action is completed within evCompleteBound of the last task stopping,
// by awssim's timeline; no task is killed, every action is completed exactly once. The same run
// without a queue is measured for comparison (its delays are the polling intervals').
func TestControllerEventQueueLatency(t *testing.T) {
	t.Parallel()
	var sample float64
	t.Run("aws-sample", func(t *testing.T) { sample = evSampleCallsPerDrain(t, evFleetSize, evScaleIn) })
	for _, tc := range []struct {
		name string
		feed evFeed
	}{{"rules", evRules}, {"hook-notification", evHook}, {"no-queue", evNoQueue}} {
		t.Run(tc.name, func(t *testing.T) {
			_, l, calls := evScenario(t, tc.feed, evFleetSize, evScaleIn)
			sqsCalls := evSQSCalls(calls)
			t.Logf("%s: Terminating:Wait -> DRAINING %s", tc.name, evQuantiles(l.toDraining))
			t.Logf("%s: last task STOPPED -> completed %s", tc.name, evQuantiles(l.toCompleted))
			t.Logf("%s: SQS calls during the drains %v (%d drains)", tc.name, sqsCalls, evScaleIn)
			perDrain := evCallsPerDrain(calls, evScaleIn)
			t.Logf("%s: %.2f AWS calls per drain (SQS included); the AWS sample's algorithm: %.2f", tc.name, perDrain, sample)
			if sample > 0 && perDrain >= sample {
				t.Errorf("%.2f AWS calls per drain (SQS included), want fewer than the AWS sample's %.2f on the same fleet", perDrain, sample)
			}
			if tc.feed == evNoQueue {
				return // latency measured only: the polling delays are the intervals'
			}
			if worst := l.toDraining[len(l.toDraining)-1]; worst > evDrainBound {
				t.Errorf("Terminating:Wait -> DRAINING up to %v, want within %v (%s)", worst, evDrainBound, evQuantiles(l.toDraining))
			}
			if worst := l.toCompleted[len(l.toCompleted)-1]; worst > evCompleteBound {
				t.Errorf("last task STOPPED -> completed up to %v, want within %v (%s)", worst, evCompleteBound, evQuantiles(l.toCompleted))
			}
		})
	}
}
