package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
	"github.com/ecs-drainer/ecs-drainer/pkg/options"
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
// latencies and the SQS calls made while the drains ran.
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
	sqsCalls := map[string]int{}
	for op, n := range calls {
		if service, name, _ := strings.Cut(op, "/"); service == "sqs" {
			sqsCalls[name] = n
		}
	}
	return e, e.evLatencies(ids), sqsCalls
}

// TestControllerEventQueueLatency is the acceptance check of the event path: 20 of 200 instances
// scaled in, the controller on its default resync and poll, fed by EventBridge rules or by the
// hook's own notifications (plus ECS's events): every drain starts within evDrainBound of
// Terminating:Wait and every action is completed within evCompleteBound of the last task stopping,
// by awssim's timeline; no task is killed, every action is completed exactly once. The same run
// without a queue is measured for comparison (its delays are the polling intervals').
func TestControllerEventQueueLatency(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		feed evFeed
	}{{"rules", evRules}, {"hook-notification", evHook}, {"no-queue", evNoQueue}} {
		t.Run(tc.name, func(t *testing.T) {
			_, l, sqsCalls := evScenario(t, tc.feed, evFleetSize, evScaleIn)
			t.Logf("%s: Terminating:Wait -> DRAINING %s", tc.name, evQuantiles(l.toDraining))
			t.Logf("%s: last task STOPPED -> completed %s", tc.name, evQuantiles(l.toCompleted))
			t.Logf("%s: SQS calls during the drains %v (%d drains)", tc.name, sqsCalls, evScaleIn)
			if tc.feed == evNoQueue {
				return // measured only: the polling delays are the intervals'
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
