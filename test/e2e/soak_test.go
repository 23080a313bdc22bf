package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	dto "github.com/prometheus/client_model/go"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
	"github.com/ecs-drainer/ecs-drainer/pkg/events"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

var (
	soakLong = flag.Bool("soak.long", false, "run the full chaos soak (make soak): 200+ scale-ins, 3+ SIGKILL restarts, drains past the heartbeat timeout")
	soakSeed = flag.Uint64("soak.seed", 1, "seed of the soak's random choices (scale-in sizes, restart times) and of awssim's faults")
	// A longer storm shows how the controller copes with ECS throttled for that long. Storms of 20 s
	// and more once made 30 s hooks expire, while heartbeats waited behind throttled ECS calls; since
	// heartbeats have their own queue the long soak runs a 25 s storm to keep that fixed.
	soakStorm = flag.Duration("soak.storm", 0, "how long the noisy neighbour drains the account's read buckets (0: 9s, 25s with -soak.long)")
)

// soakHeartbeatTimeout is every group's hook heartbeat timeout: Auto Scaling's minimum, so the slow
// drains outlive it and only heartbeats keep their lifecycle actions alive.
const soakHeartbeatTimeout = 30 * time.Second

// soakSlowStop is the slow cluster's container stopTimeout: one stop outlasts the heartbeat timeout.
const soakSlowStop = 35 * time.Second

// soakPlan is the shape of one soak run. Times are measured from the start of the scale loop.
type soakPlan struct {
	mode         string
	scaleFor     time.Duration // how long the scale loop runs
	fastClusters int           // clusters of quick drains, two groups of 8 each
	// minScaleIns is how many instances must go through Terminating:Wait. A group scales in again
	// only once its last drain ended, so a loaded machine gets fewer cycles in the same time: the
	// short soak's floor sits well below what it reaches (about 65 on a quiet machine, 44 under a
	// CPU hog), the long one's is the 200 (a 3-minute loop reached 174-189 on a quiet
	// 2-core machine with the event queue's outages in it, 3.5 minutes exactly 200; hence 4).
	minScaleIns int
	restarts    int // SIGKILL restarts of the primary controller
	// Restarts fall at random within [restartFrom, restartTo] of scaleFor, so the last controller
	// process lives long enough for its memory to be judged.
	restartFrom, restartTo float64
	replicaFrom, replicaTo float64 // the second replica's window, as shares of scaleFor
	// Another tool in the account calls the controller's read operations fast enough to empty their
	// AWS-like token buckets for storm from neighbourFrom (a share of scaleFor), so the controller is
	// throttled for a while.
	neighbourFrom float64
	storm         time.Duration
	// Another tool calls CompleteLifecycleAction fast enough to keep that one operation's bucket
	// empty for completionStorm from completionFrom: the controller's completions are throttled while
	// every other operation is not, and its heartbeats must not suffer for it.
	completionFrom  float64
	completionStorm time.Duration
	// Every request takes slowLatency for slowFor from slowFrom: a slow but healthy API.
	slowFrom float64
	slowFor  time.Duration
	tail     time.Duration
	// The event queue's outages, each from a share of scaleFor until the controller has logged
	// that it cannot receive (and at least soakOutageMin): the queue deleted and created again,
	// and, when denyFrom > 0, ReceiveMessage and DeleteMessageBatch denied.
	deleteFrom, denyFrom float64
}

// soakSlowLatency is the slow API phase's latency per request, as measured on a sick account.
const soakSlowLatency = 700 * time.Millisecond

func soakPlanFor(long bool) soakPlan {
	if long {
		return soakPlan{
			mode: "long", scaleFor: 4 * time.Minute, fastClusters: 4, minScaleIns: 200, restarts: 4,
			restartFrom: 0.1, restartTo: 0.5, replicaFrom: 0.3, replicaTo: 0.65, neighbourFrom: 0.7, storm: 25 * time.Second,
			completionFrom: 0.05, completionStorm: 40 * time.Second, slowFrom: 0.87, slowFor: 20 * time.Second,
			tail: 2 * time.Minute, deleteFrom: 0.55, denyFrom: 0.72,
		}
	}
	return soakPlan{
		mode: "short", scaleFor: 45 * time.Second, fastClusters: 4, minScaleIns: 25, restarts: 1,
		restartFrom: 0.15, restartTo: 0.4, replicaFrom: 0.45, replicaTo: 0.7, neighbourFrom: 0.55, storm: 9 * time.Second,
		completionFrom: 0.1, completionStorm: 10 * time.Second, slowFrom: 0.78, slowFor: 8 * time.Second,
		tail: time.Minute, deleteFrom: 0.45,
	}
}

// soakGroup is one Auto Scaling group the scale loop drives.
type soakGroup struct {
	name          string
	size          int           // its described desired capacity; scale-out returns to it
	maxIn         int           // a scale-in removes 1..maxIn instances
	scaleInBefore time.Duration // no scale-in after this, so its drains end soon after the loop
}

// soakSample is one reading of the primary controller.
type soakSample struct {
	at          time.Duration
	incarnation int
	rss         float64
	heapInuse   float64
	goroutines  float64
	inLoop      bool           // taken while the scale loop ran
	simRequests map[string]int // awssim's request counts by service/operation/code at the time
}

// TestSoak is the chaos soak: scale-ins across several groups and clusters while awssim injects a
// 5% error rate and throttles with AWS-like buckets, the controller is SIGKILLed and restarted, a
// second replica runs beside it for a while, and some drains outlast the hook's heartbeat timeout.
// Both controllers consume an event queue fed by EventBridge, which duplicates, loses and reorders
// deliveries; garbage lands on the queue all along, and the queue is deleted and created again
// (and, in the long soak, denied to the controller for a while).
// It then checks the simulator's ground truth (no task killed by a termination, no lifecycle action
// expired, every scaled-in instance terminated and completed exactly once) and the controller's
// health (memory flat, goroutines back to where they started), and prints a summary. The default is
// the short version CI runs; -soak.long (make soak) is the full one.
func TestSoak(t *testing.T) {
	plan := soakPlanFor(*soakLong)
	if *soakStorm > 0 {
		plan.storm = *soakStorm
	}
	runSoak(t, plan)
}

// runSoak runs one soak of the given shape and checks and prints its outcome.
func runSoak(t *testing.T, plan soakPlan) {
	s := startSoak(t, plan)
	s.primary = s.startCtrl("the controller")
	defer s.dumpOnFailure()
	if err := chaosWaitReady(s.primary.Addr, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// Baseline goroutines: the controller idle with the fleet listed, before any scale-in.
	time.Sleep(3 * time.Second)
	base, err := harness.Metrics(s.primary.Addr)
	if err != nil {
		t.Fatal(err)
	}
	r := soakResult{baseGoroutines: harness.Sum(base, "go_goroutines", nil)}

	s.scheduleRestarts()
	s.start = time.Now()
	s.scaleLoop()
	r.loopTime = time.Since(s.start)
	s.endLoop()
	s.waitTail()
	r.endGoroutines = s.waitGoroutines(r.baseGoroutines)
	s.judge(&r)
	s.summarize(r)
}

// soak is one soak run in progress: the simulator, the controller processes, and what the scale
// loop has planned and done.
type soak struct {
	t         *testing.T
	plan      soakPlan
	rng       *rand.Rand
	sim       *harness.Process
	simURL    string
	ctrlBin   string
	ctrlFlags []string
	loopAS    *autoscaling.Client
	fast      demo.Fleet
	groups    []soakGroup

	outputs        []string     // every finished controller process's output, for diagnosis
	samples        []soakSample // readings of the primary controller, every second
	primary        *harness.Process
	replica        *harness.Process
	replicaStopped chan error // receives the replica's exit once it was told to stop
	incarnation    int

	start                   time.Time
	restartAt, restartsDone []time.Duration
	replicaFrom, replicaTo  time.Duration
	replicaRan              bool
	neighbour, completer    *soakNeighbour
	slowStarted, slowEnded  bool
	scaleIns, scaleOut      int
	scaleInCalls, scaleErrs int

	ev soakEvents
}

// soakResult is what the soak measured, for its checks and its summary.
type soakResult struct {
	loopTime                      time.Duration
	baseGoroutines, endGoroutines float64
	stats                         awssim.Stats
	drains                        chaosDrains
	mem                           soakMemory
	injected, throttled           int
	ctrlErrors, ctrlThrottled     float64
	events                        soakEventResult
}

// startSoak starts awssim and builds the soak's fleet: quick drains in plan.fastClusters clusters
// and a slow cluster whose drains outlast the heartbeat timeout.
func startSoak(t *testing.T, plan soakPlan) *soak {
	s := &soak{t: t, plan: plan, rng: rand.New(rand.NewPCG(*soakSeed, *soakSeed^0x50a4))}
	var awssimBin string
	awssimBin, s.ctrlBin = chaosBinaries(t)
	simFlags := append([]string{"--throttle", "--error-rate", fmt.Sprint(soakErrorRate), "--seed", fmt.Sprint(*soakSeed), "--log-format", "json"}, soakEventFlags...)
	sim, err := harness.StartSim(awssimBin, simFlags...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Kill)
	s.sim, s.simURL = sim, "http://"+sim.Addr
	as, ec := harness.Clients(s.simURL)
	// The scale loop gives up on a call sooner than the set-up clients, so that a throttled pass is
	// skipped rather than holding up the loop (and its restarts, replica and samples) for seconds.
	s.loopAS = autoscaling.NewFromConfig(soakAWSConfig(s.simURL, retry.AddWithMaxAttempts(retry.NewStandard(), 3)))

	s.fast = demo.Uniform(demo.Shape{
		Clusters: plan.fastClusters, ASGsPerCluster: 2, InstancesPerASG: 8,
		ServicesPerCluster: 2, TasksPerInstance: 2, Daemon: true, StandalonePerASG: 1,
		HookHeartbeatTimeout: soakHeartbeatTimeout, StopTimeout: 2 * time.Second,
	})
	slow := demo.Fleet{StopTimeout: soakSlowStop, Clusters: []demo.Cluster{{
		Name: "slow",
		ASGs: []demo.ASG{
			{Name: "slow-asg-00", Min: 0, Desired: 4, Max: 8, TaskSlots: 6, Managed: true, HookName: demo.DefaultHookName, HookHeartbeatTimeout: soakHeartbeatTimeout},
			{Name: "slow-asg-01", Min: 0, Desired: 4, Max: 8, TaskSlots: 6, Managed: true, HookName: demo.DefaultHookName, HookHeartbeatTimeout: soakHeartbeatTimeout},
		},
		// Replacements start before old tasks stop, so a slow drain is one stopTimeout long.
		Services: []demo.Service{{Name: "svc", DesiredCount: 8, MinimumHealthyPercent: 100, MaximumPercent: 200}},
	}}}
	for _, f := range []demo.Fleet{s.fast, slow} {
		if err := demo.Build(t.Context(), as, ec, f); err != nil {
			t.Fatalf("building the soak fleet: %v", err)
		}
		if err := demo.WaitRegistered(t.Context(), ec, f); err != nil {
			t.Fatalf("waiting for the soak fleet: %v", err)
		}
	}
	for _, g := range s.fast.ManagedASGs() {
		s.groups = append(s.groups, soakGroup{name: g.Name, size: g.Desired, maxIn: 4, scaleInBefore: plan.scaleFor})
	}
	for _, g := range slow.ManagedASGs() {
		// A slow drain takes a stopTimeout and a little more; the last may start that long before the end.
		s.groups = append(s.groups, soakGroup{name: g.Name, size: g.Desired, maxIn: 2, scaleInBefore: plan.scaleFor - soakSlowStop - 5*time.Second})
	}
	s.ev = startSoakEvents(t, s.simURL, plan)
	s.ctrlFlags = []string{
		"--resync-period", "2s", "--poll-interval", "1s", "--standalone-task-grace", "5s",
		"--hook-heartbeat-timeout", "30s", "--log-format", "json", "--queue-url", s.ev.queueURL,
	}
	return s
}

// startCtrl starts a controller process, killed when the test ends.
func (s *soak) startCtrl(name string) *harness.Process {
	s.t.Helper()
	p, err := harness.StartController(s.ctrlBin, s.simURL, s.ctrlFlags...)
	if err != nil {
		s.t.Fatalf("starting %s: %v", name, err)
	}
	s.t.Cleanup(p.Kill)
	return p
}

// dumpOnFailure logs the tails of every process's output when the test failed, and writes the
// whole outputs, the request counts and the simulator's view of every instance to bin/soak-logs.
func (s *soak) dumpOnFailure() {
	t := s.t
	if !t.Failed() {
		return
	}
	if s.replica != nil && !slices.Contains(s.outputs, s.replica.Output()) {
		s.outputs = append(s.outputs, s.replica.Output())
	}
	s.outputs = append(s.outputs, s.primary.Output())
	dir := t.TempDir()
	if root, err := harness.RepoRoot(); err == nil {
		dir = filepath.Join(root, "bin", "soak-logs")
	}
	for i, o := range s.outputs {
		t.Logf("controller process %d of %d, output (last 4000 bytes):\n%s", i+1, len(s.outputs), soakTail(o, 4000))
	}
	t.Logf("awssim output (last 2000 bytes):\n%s", soakTail(s.sim.Output(), 2000))
	// The whole outputs, and the simulator's view of every instance, for a closer look.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	for i, o := range s.outputs {
		_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("controller-%d.log", i+1)), []byte(o), 0o644)
	}
	_ = os.WriteFile(filepath.Join(dir, "awssim.log"), []byte(s.sim.Output()), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "requests.tsv"), soakRequestDeltas(s.samples), 0o644)
	if tl, err := chaosTimelines(s.simURL); err == nil {
		if b, err := json.MarshalIndent(tl, "", "  "); err == nil {
			_ = os.WriteFile(filepath.Join(dir, "timeline.json"), b, 0o644)
		}
	}
	t.Logf("full outputs and timelines written to %s", dir)
}

// at is a share of the scale loop's length.
func (s *soak) at(share float64) time.Duration {
	return time.Duration(share * float64(s.plan.scaleFor))
}

// scheduleRestarts picks the restart times, one random point in the middle half of each of
// plan.restarts equal slices of the window, so restarts are random yet never back to back, and
// the second replica's window.
func (s *soak) scheduleRestarts() {
	p := s.plan
	slot := (s.at(p.restartTo) - s.at(p.restartFrom)) / time.Duration(p.restarts)
	for i := range p.restarts {
		s.restartAt = append(s.restartAt, s.at(p.restartFrom)+time.Duration(i)*slot+slot/4+time.Duration(s.rng.Int64N(int64(slot/2))))
	}
	s.replicaFrom, s.replicaTo = s.at(p.replicaFrom), s.at(p.replicaTo)
}

// sample reads the primary controller's memory and goroutines; inLoop says the scale loop runs.
func (s *soak) sample(inLoop bool) {
	t := s.t
	t.Helper()
	if s.primary.Exited() {
		t.Fatalf("the controller exited on its own at %s", time.Since(s.start).Round(time.Second))
	}
	ps, err := harness.ReadProcStats(s.primary.PID())
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := harness.Metrics(s.primary.Addr)
	if err != nil {
		t.Fatalf("the controller stopped serving /metrics: %v", err)
	}
	// The simulator's counts are kept only to explain a failure; a failed read leaves them out.
	st, _ := chaosStats(s.simURL)
	s.samples = append(s.samples, soakSample{
		at: time.Since(s.start), incarnation: s.incarnation, inLoop: inLoop, simRequests: st.Requests,
		rss: float64(ps.RSSBytes), heapInuse: harness.Sum(mfs, "go_memstats_heap_inuse_bytes", nil),
		goroutines: harness.Sum(mfs, "go_goroutines", nil),
	})
}

// scaleLoop scales the groups in and out every second for plan.scaleFor, while the restarts, the
// second replica, the noisy neighbours and the slow API come and go on their schedule.
func (s *soak) scaleLoop() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for elapsed := time.Duration(0); elapsed < s.plan.scaleFor; elapsed = time.Since(s.start) {
		in, out, calls, errs := soakScaleStep(s.t, s.loopAS, s.groups, elapsed, s.rng)
		s.scaleIns, s.scaleOut, s.scaleInCalls, s.scaleErrs = s.scaleIns+in, s.scaleOut+out, s.scaleInCalls+calls, s.scaleErrs+errs
		s.restartIfDue(elapsed)
		if s.replica == nil && !s.replicaRan && elapsed >= s.replicaFrom {
			s.replica, s.replicaRan = s.startCtrl("the second replica"), true
		}
		s.neighbourStep(elapsed)
		s.ev.step(s.t, elapsed, s.primary)
		s.stopReplicaIfDue(elapsed)
		s.sample(true)
		<-tick.C
	}
}

// restartIfDue SIGKILLs and restarts the primary controller when its next restart is due: no
// shutdown, no flush; whatever was in flight is lost, as in an OOM kill.
func (s *soak) restartIfDue(elapsed time.Duration) {
	if len(s.restartsDone) >= len(s.restartAt) || elapsed < s.restartAt[len(s.restartsDone)] {
		return
	}
	s.primary.Kill()
	s.outputs = append(s.outputs, s.primary.Output())
	s.primary = s.startCtrl("the restarted controller")
	s.incarnation++
	s.restartsDone = append(s.restartsDone, elapsed)
}

// stopReplicaIfDue stops the second replica at the end of its window. It is stopped in the
// background: a graceful shutdown finishes the reconciles in hand, which may take a while under
// throttling, and the scale loop must not pause meanwhile.
func (s *soak) stopReplicaIfDue(elapsed time.Duration) {
	if s.replica == nil || s.replicaStopped != nil || elapsed < s.replicaTo {
		return
	}
	stopped := make(chan error, 1)
	s.replicaStopped = stopped
	go func(p *harness.Process) { stopped <- p.Stop(time.Minute) }(s.replica)
}

// neighbourStep starts and stops the noisy neighbours and the slow API on their schedule.
func (s *soak) neighbourStep(elapsed time.Duration) {
	p := s.plan
	if s.neighbour == nil && elapsed >= s.at(p.neighbourFrom) {
		s.neighbour = startSoakNeighbour(s.t, soakReadOps(s.simURL, s.fast.Clusters[0].Name))
	}
	if s.completer == nil && elapsed >= s.at(p.completionFrom) {
		s.completer = startSoakNeighbour(s.t, soakCompletionOps(s.simURL, s.groups[0].name))
	}
	if s.completer != nil && elapsed >= s.at(p.completionFrom)+p.completionStorm {
		s.completer.stop()
	}
	if !s.slowStarted && elapsed >= s.at(p.slowFrom) {
		s.slowStarted = true
		soakFaults(s.t, s.simURL, soakSlowLatency)
	}
	if s.slowStarted && !s.slowEnded && elapsed >= s.at(p.slowFrom)+p.slowFor {
		s.slowEnded = true
		soakFaults(s.t, s.simURL, 0)
	}
	if s.neighbour != nil && elapsed >= s.at(p.neighbourFrom)+p.storm {
		s.neighbour.stop()
	}
}

// endLoop waits for the second replica's clean stop and stops the neighbours and the slow API.
func (s *soak) endLoop() {
	t := s.t
	if s.replicaStopped == nil {
		t.Fatal("the scale loop ended before the second replica's window did")
	}
	if err := <-s.replicaStopped; err != nil {
		t.Errorf("the second replica did not stop cleanly on SIGTERM: %v\n%s", err, soakTail(s.replica.Output(), 4000))
	}
	s.outputs = append(s.outputs, s.replica.Output())
	if s.neighbour == nil || s.completer == nil || !s.slowStarted {
		t.Fatal("the scale loop ended before the noisy neighbours' or the slow API's window")
	}
	s.neighbour.stop()
	s.completer.stop()
	if !s.slowEnded {
		soakFaults(t, s.simURL, 0)
	}
	s.ev.endOutages(t, time.Since(s.start))
}

// waitTail waits until every instance the loop scaled in has been completed and terminated.
func (s *soak) waitTail() {
	err := harness.Eventually(s.plan.tail, time.Second, func() (bool, string) {
		s.sample(false)
		tl, err := chaosTimelines(s.simURL)
		if err != nil {
			return false, err.Error()
		}
		waiting := 0
		for _, x := range tl {
			if !x.TerminatingWaitAt.IsZero() && x.TerminatedAt.IsZero() {
				waiting++
			}
		}
		// Messages a killed controller left in flight come back after the visibility timeout;
		// every message must end consumed.
		left, err := soakQueueLeft(s.simURL)
		if err != nil {
			return false, err.Error()
		}
		return waiting == 0 && left == 0, fmt.Sprintf("%d scaled-in instances not yet terminated, %d messages on the event queue", waiting, left)
	})
	if err != nil {
		s.t.Fatalf("drains did not all end, or the event queue was not emptied, after the scale loop: %v", err)
	}
}

// waitGoroutines waits for the controller's goroutines to come back to the idle baseline and
// returns their count. Slack: the controller's one HTTP transport (both services, one awssim host)
// keeps up to 10 idle keep-alive connections, two goroutines each, that close only after 90 s;
// hooks are described 10 groups at a time, so all 10 get opened. The event consumer reads a
// backlog with up to events.MaxReceivers receives at once, each on a connection of its own, also
// kept alive. Plus a few for the scrape's own connection. A leak grows with the drains done
// (dozens here, hundreds in the long soak), beyond this.
func (s *soak) waitGoroutines(base float64) float64 {
	goroutineSlack := 2*awshttp.DefaultHTTPTransportMaxIdleConnsPerHost + 2*events.MaxReceivers + 4
	var end float64
	err := harness.Eventually(30*time.Second, time.Second, func() (bool, string) {
		s.sample(false)
		end = s.samples[len(s.samples)-1].goroutines
		return end <= base+float64(goroutineSlack), fmt.Sprintf("%v goroutines, idle baseline %v (+%d allowed)", end, base, goroutineSlack)
	})
	if err != nil {
		s.t.Errorf("goroutine leak: %v", err)
	}
	return end
}

// judge reads the simulator's ground truth and the last controller's metrics, stops the
// controller, and checks the drains, the schedule, the memory and that faults were injected.
func (s *soak) judge(r *soakResult) {
	t := s.t
	var err error
	if r.stats, err = chaosStats(s.simURL); err != nil {
		t.Fatal(err)
	}
	tl, err := chaosTimelines(s.simURL)
	if err != nil {
		t.Fatal(err)
	}
	final, err := harness.Metrics(s.primary.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.primary.Stop(30 * time.Second); err != nil {
		t.Errorf("the controller did not stop cleanly on SIGTERM: %v", err)
	}

	r.drains = chaosCheckDrains(t, r.stats, tl)
	if r.drains.scaledIn != s.scaleIns {
		t.Errorf("%d instances went through Terminating:Wait, the scale loop asked for %d", r.drains.scaledIn, s.scaleIns)
	}
	if r.drains.scaledIn < s.plan.minScaleIns {
		t.Errorf("only %d scale-in events, the %s soak needs at least %d", r.drains.scaledIn, s.plan.mode, s.plan.minScaleIns)
	}
	if len(s.restartsDone) < s.plan.restarts {
		t.Errorf("only %d SIGKILL restarts, want %d", len(s.restartsDone), s.plan.restarts)
	}
	if r.drains.pastHeartbeat == 0 {
		t.Errorf("no drain outlasted the %s heartbeat timeout: the soak did not exercise heartbeats", soakHeartbeatTimeout)
	}
	r.mem = soakJudgeMemory(s.samples, s.incarnation)
	for _, p := range r.mem.problems {
		t.Error(p)
	}
	r.injected, r.throttled = soakInjected(r.stats)
	r.ctrlErrors, r.ctrlThrottled = soakControllerErrors(final)
	if r.injected == 0 {
		t.Errorf("awssim injected no errors: the soak ran without faults")
	}
	if r.ctrlThrottled == 0 {
		t.Errorf("the last controller was never throttled: the soak did not exercise throttling (awssim throttled %d calls of all callers)", r.throttled)
	}
	r.events = s.ev.judge(t, r.stats, final, s.primary)
}

// soakInjected counts the 5xx awssim injected and the calls it throttled, of all callers.
func soakInjected(stats awssim.Stats) (injected, throttled int) {
	for k, n := range stats.Requests {
		switch code := k[strings.LastIndexByte(k, '/')+1:]; code {
		case "InternalFailure", "ServerException":
			injected += n
		case "Throttling", "ThrottlingException":
			throttled += n
		}
	}
	return injected, throttled
}

// soakControllerErrors counts the AWS errors, and the throttles among them, that the controller's
// metrics in final report.
func soakControllerErrors(final map[string]*dto.MetricFamily) (errs, throttled float64) {
	for _, m := range final["ecs_drainer_aws_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() != "code" || l.GetValue() == "OK" {
				continue
			}
			errs += m.GetCounter().GetValue()
			if l.GetValue() == "Throttling" || l.GetValue() == "ThrottlingException" {
				throttled += m.GetCounter().GetValue()
			}
		}
	}
	return errs, throttled
}

// summarize logs the soak's summary and keeps it in bin/, since go test hides a passing test's
// output unless -v.
func (s *soak) summarize(r soakResult) {
	p, d, stats, mem := s.plan, r.drains, r.stats, r.mem
	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	row := func(k string, format string, a ...any) { fmt.Fprintf(w, "  %s\t%s\n", k, fmt.Sprintf(format, a...)) }
	fmt.Fprintf(w, "ecs-drainer chaos soak (%s, seed %d): %d groups in %d clusters, scale loop %s, tail %s\n",
		p.mode, *soakSeed, len(s.groups), p.fastClusters+1, r.loopTime.Round(time.Second), (time.Since(s.start) - r.loopTime).Round(time.Second))
	row("scale-in events (instances through Terminating:Wait)", "%d (asked for %d in %d SetDesiredCapacity calls; at least %d needed)", d.scaledIn, s.scaleIns, s.scaleInCalls, p.minScaleIns)
	row("scale-outs / scale-loop calls that failed after retries", "%d / %d", s.scaleOut, s.scaleErrs)
	row("controller SIGKILL restarts at", "%s", soakDurations(s.restartsDone))
	row("second replica ran", "%s to %s", s.replicaFrom.Round(time.Second), s.replicaTo.Round(time.Second))
	nCalls, nThrottled := s.neighbour.totals()
	row("noisy neighbour ran", "%s for %s: %d calls, %d throttled", s.at(p.neighbourFrom).Round(time.Second), s.neighbour.ran.Round(time.Second), nCalls, nThrottled)
	cCalls, cThrottled := s.completer.totals()
	row("completion neighbour ran", "%s for %s: %d CompleteLifecycleAction calls, %d throttled", s.at(p.completionFrom).Round(time.Second), s.completer.ran.Round(time.Second), cCalls, cThrottled)
	row("slow API", "%s per request for %s from %s", soakSlowLatency, p.slowFor, s.at(p.slowFrom).Round(time.Second))
	row("drains longer than the heartbeat timeout ("+soakHeartbeatTimeout.String()+")", "%d (heartbeats on them: %d; longest drain %s)", d.pastHeartbeat, d.heartbeatsPast, d.longest.Round(time.Second))
	row("Terminating:Wait to DRAINING, p50 / p90 / max", "%s", soakPercentiles(d.toDraining))
	row("Terminating:Wait to completion, p50 / p90 / max", "%s", soakPercentiles(d.toCompleted))
	row("tasks killed by termination", "%d (instances terminated with tasks: %d)", d.tasksKilled, stats.TerminatedWithTasks)
	row("lifecycle actions expired", "%d", stats.LifecycleActionsTimedOut)
	row("terminated / completed exactly once", "%d / %d of %d", d.terminated, d.completedOnce, d.scaledIn)
	row("completions CONTINUE / ABANDON", "%d / %d", stats.LifecycleActionsCompleted["CONTINUE"], stats.LifecycleActionsCompleted["ABANDON"])
	row("awssim injected 5xx / throttled (all callers)", "%d / %d", r.injected, r.throttled)
	s.ev.summarize(row, r.events, r.stats)
	row("AWS errors counted by the last controller (throttles)", "%.0f (%.0f)", r.ctrlErrors, r.ctrlThrottled)
	row("last controller RSS, median middle/last third", "%.1f / %.1f MiB (peak %.1f MiB)", mem.rssMid/soakMiB, mem.rssLast/soakMiB, mem.rssPeak/soakMiB)
	row("last controller heap in use, median middle/last third", "%.1f / %.1f MiB", mem.heapMid/soakMiB, mem.heapLast/soakMiB)
	row("goroutines idle before / peak / idle after", "%.0f / %.0f / %.0f", r.baseGoroutines, mem.goroutinesPeak, r.endGoroutines)
	_ = w.Flush()
	s.t.Log("\n" + b.String())
	if root, err := harness.RepoRoot(); err == nil {
		path := filepath.Join(root, "bin", "soak-summary-"+p.mode+".txt")
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			s.t.Logf("writing %s: %v", path, err)
		}
	}
}

// soakNeighbour is another tool in the same account: it calls the read operations the controller
// depends on faster than their token buckets refill (AWS meters per account, not per caller), with
// no retries of its own.
type soakNeighbour struct {
	cancel    context.CancelFunc
	started   time.Time
	ran       time.Duration // how long it ran, once stopped
	wg        sync.WaitGroup
	calls     []int // per operation, each written by its own goroutine until wg is done
	throttled []int
	stopped   bool
}

// soakAWSConfig is an SDK configuration for the simulator with fake credentials and the given retryer.
func soakAWSConfig(simURL string, r aws.Retryer) aws.Config {
	return aws.Config{
		Region:       harness.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(harness.FakeAccessKey, harness.FakeSecretKey, ""),
		BaseEndpoint: aws.String(simURL),
		Retryer:      func() aws.Retryer { return r },
	}
}

// soakErrorRate is the share of requests awssim fails with a 5xx throughout the soak.
const soakErrorRate = 0.05

// soakNeighbourRate is the neighbour's calls per second to each operation: twice the 20/s refill of
// awssim's read buckets and four times a write's 10/s, so they run dry after their burst and the
// controller shares the shortage.
const soakNeighbourRate = 40

// soakReadOps are the read operations the controller uses most, on one cluster:
// DescribeAutoScalingGroups first, then the ECS ones.
func soakReadOps(simURL, cluster string) []func(context.Context) error {
	cfg := soakAWSConfig(simURL, aws.NopRetryer{})
	as, ec := autoscaling.NewFromConfig(cfg), ecs.NewFromConfig(cfg)
	return []func(context.Context) error{
		func(ctx context.Context) error {
			_, err := as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
			return err
		},
		func(ctx context.Context) error {
			_, err := ec.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: []string{"none"}})
			return err
		},
		func(ctx context.Context) error {
			_, err := ec.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(cluster)})
			return err
		},
	}
}

// soakCompletionOps is another tool completing lifecycle actions in the account (of an instance
// that is not waiting): it uses up CompleteLifecycleAction's bucket and nothing else.
func soakCompletionOps(simURL, group string) []func(context.Context) error {
	as := autoscaling.NewFromConfig(soakAWSConfig(simURL, aws.NopRetryer{}))
	return []func(context.Context) error{func(ctx context.Context) error {
		_, err := as.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
			AutoScalingGroupName: aws.String(group), LifecycleHookName: aws.String(demo.DefaultHookName),
			InstanceId: aws.String("i-0000000000000000f"), LifecycleActionResult: aws.String("CONTINUE"),
		})
		return err
	}}
}

// soakFaults sets the soak's faults (AWS-like throttling, 5% errors) with a latency per request,
// leaving the event delivery faults and the queue's denial as they are.
func soakFaults(t *testing.T, simURL string, latency time.Duration) {
	t.Helper()
	patch := map[string]any{"throttle": true, "errorRate": soakErrorRate, "latencyMs": int(latency / time.Millisecond)}
	if err := harness.PatchFaults(simURL, patch); err != nil {
		t.Fatal(err)
	}
}

// startSoakNeighbour calls each of ops soakNeighbourRate times a second until stopped.
func startSoakNeighbour(t *testing.T, ops []func(context.Context) error) *soakNeighbour {
	ctx, cancel := context.WithCancel(t.Context())
	n := &soakNeighbour{cancel: cancel, started: time.Now(), calls: make([]int, len(ops)), throttled: make([]int, len(ops))}
	// One goroutine per operation, so a slow answer to one does not hold back the others.
	for i, op := range ops {
		n.wg.Go(func() {
			tick := time.NewTicker(time.Second / soakNeighbourRate)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				err := op(ctx)
				if ctx.Err() != nil {
					return
				}
				n.calls[i]++
				if awsapi.IsThrottle(err) {
					n.throttled[i]++
				}
			}
		})
	}
	return n
}

// stop ends the neighbour's calls and waits for its goroutines; calling it again does nothing.
func (n *soakNeighbour) stop() {
	if n.stopped {
		return
	}
	n.stopped = true
	n.cancel()
	n.wg.Wait()
	n.ran = time.Since(n.started)
}

// totals adds up the calls and throttles over the operations, once stop has returned.
func (n *soakNeighbour) totals() (calls, throttled int) {
	for i := range n.calls {
		calls += n.calls[i]
		throttled += n.throttled[i]
	}
	return calls, throttled
}

// soakScaleStep makes one pass over the groups: a group below its size is scaled back out; a group
// at its size with no instance terminating is, most of the time, scaled in by 1..maxIn. Waiting for a
// group's drains to end before scaling it in again keeps enough ACTIVE capacity for every drained
// task to be placed elsewhere. It returns the instances scaled in, the scale-outs, the scale-in calls
// and the calls that failed (after the client's retries).
func soakScaleStep(t *testing.T, as *autoscaling.Client, groups []soakGroup, elapsed time.Duration, rng *rand.Rand) (in, out, calls, errs int) {
	t.Helper()
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = g.name
	}
	resp, err := as.DescribeAutoScalingGroups(t.Context(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: names})
	if err != nil {
		// Injected faults can outlast the retries; the next pass tries again.
		return 0, 0, 0, 1
	}
	for _, g := range groups {
		i := slices.IndexFunc(resp.AutoScalingGroups, func(x asgtypes.AutoScalingGroup) bool { return aws.ToString(x.AutoScalingGroupName) == g.name })
		if i < 0 {
			t.Fatalf("group %s missing from DescribeAutoScalingGroups", g.name)
		}
		desc := resp.AutoScalingGroups[i]
		desired := int(aws.ToInt32(desc.DesiredCapacity))
		terminating := slices.ContainsFunc(desc.Instances, func(x asgtypes.Instance) bool {
			return strings.HasPrefix(string(x.LifecycleState), "Terminating")
		})
		target := desired
		switch {
		case desired < g.size:
			target = g.size
		case !terminating && elapsed < g.scaleInBefore && rng.Float64() < 0.8:
			target = g.size - 1 - rng.IntN(g.maxIn)
		}
		if target == desired {
			continue
		}
		_, err := as.SetDesiredCapacity(t.Context(), &autoscaling.SetDesiredCapacityInput{
			AutoScalingGroupName: aws.String(g.name), DesiredCapacity: aws.Int32(int32(target)), HonorCooldown: aws.Bool(false),
		})
		switch {
		case err != nil:
			// awssim rejects an injected fault or a throttle before applying the call, so a failed
			// call changed nothing and the count of scaled-in instances stays exact.
			errs++
		case target < desired:
			in += desired - target
			calls++
		default:
			out++
		}
	}
	return in, out, calls, errs
}

// soakRequestDeltas tabulates, per sample, the requests awssim answered since the previous sample
// by operation and code (only the non-zero ones), so a failure can be lined up with throttling.
func soakRequestDeltas(samples []soakSample) []byte {
	var b bytes.Buffer
	var prev map[string]int
	for _, s := range samples {
		if s.simRequests == nil {
			continue
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(s.simRequests)) {
			if d := s.simRequests[k] - prev[k]; d != 0 {
				parts = append(parts, fmt.Sprintf("%s=%d", k, d))
			}
		}
		fmt.Fprintf(&b, "%s\tprocess %d\t%s\n", s.at.Round(100*time.Millisecond), s.incarnation+1, strings.Join(parts, " "))
		prev = s.simRequests
	}
	return b.Bytes()
}

// soakMemory is the verdict on the last controller process's memory.
type soakMemory struct {
	rssMid, rssLast, rssPeak float64
	heapMid, heapLast        float64
	goroutinesPeak           float64
	problems                 []string
}

const soakMiB = 1 << 20

// soakJudgeMemory compares the median of the last third of the last process's samples taken under load
// with the median of the middle third: a leak grows with the work done, so it shows as a last third
// well above the middle one. The tolerances are generous on purpose: GC timing moves the heap by
// megabytes between samples, and RSS lags frees.
func soakJudgeMemory(samples []soakSample, incarnation int) soakMemory {
	var m soakMemory
	var load []soakSample
	for _, s := range samples {
		if s.incarnation != incarnation {
			continue
		}
		m.rssPeak = max(m.rssPeak, s.rss)
		m.goroutinesPeak = max(m.goroutinesPeak, s.goroutines)
		if s.inLoop {
			load = append(load, s)
		}
	}
	if len(load) < 9 {
		m.problems = append(m.problems, fmt.Sprintf("only %d samples of the last controller under load: too few to judge its memory", len(load)))
		return m
	}
	third := len(load) / 3
	mid, last := load[third:2*third], load[len(load)-third:]
	pick := func(ss []soakSample, f func(soakSample) float64) float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	m.rssMid, m.rssLast = pick(mid, func(s soakSample) float64 { return s.rss }), pick(last, func(s soakSample) float64 { return s.rss })
	m.heapMid, m.heapLast = pick(mid, func(s soakSample) float64 { return s.heapInuse }), pick(last, func(s soakSample) float64 { return s.heapInuse })
	if m.rssLast > m.rssMid*1.25+8*soakMiB {
		m.problems = append(m.problems, fmt.Sprintf("controller RSS grew: median %.1f MiB in the middle third, %.1f MiB in the last", m.rssMid/soakMiB, m.rssLast/soakMiB))
	}
	if m.heapLast > m.heapMid*1.5+4*soakMiB {
		m.problems = append(m.problems, fmt.Sprintf("controller heap grew: median %.1f MiB in use in the middle third, %.1f MiB in the last", m.heapMid/soakMiB, m.heapLast/soakMiB))
	}
	return m
}

// chaosDrains is what the simulator's ground truth says about the drains of a run.
type chaosDrains struct {
	scaledIn       int // instances that went through Terminating:Wait
	terminated     int
	completedOnce  int
	tasksKilled    int
	pastHeartbeat  int // drains longer than their hook's heartbeat timeout
	heartbeatsPast int // heartbeats recorded on those
	longest        time.Duration
	toDraining     []time.Duration // Terminating:Wait to DRAINING, per instance that was drained
	toCompleted    []time.Duration // Terminating:Wait to the completion
}

// chaosCheckDrains asserts the invariants of every drain: each instance that entered
// Terminating:Wait was terminated, with no task still running, after exactly one successful
// CompleteLifecycleAction, and none of its lifecycle actions expired.
func chaosCheckDrains(t *testing.T, stats awssim.Stats, tl []awssim.Timeline) chaosDrains {
	t.Helper()
	var d chaosDrains
	for _, x := range tl {
		if x.TerminatingWaitAt.IsZero() {
			continue
		}
		d.scaledIn++
		if x.TerminatedAt.IsZero() {
			t.Errorf("instance %s (%s) scaled in but never terminated", x.InstanceID, x.Group)
		} else {
			d.terminated++
		}
		if n := stats.CompletionsByInstance[x.InstanceID]; n == 1 && x.Completions == 1 {
			d.completedOnce++
		} else {
			t.Errorf("instance %s (%s): lifecycle action completed %d times (timeline says %d), want exactly once", x.InstanceID, x.Group, n, x.Completions)
		}
		if x.TimedOut > 0 {
			t.Errorf("instance %s (%s): %d lifecycle actions expired", x.InstanceID, x.Group, x.TimedOut)
		}
		if x.TasksKilled > 0 {
			t.Errorf("instance %s (%s): terminated with %d tasks still running", x.InstanceID, x.Group, x.TasksKilled)
		}
		d.tasksKilled += x.TasksKilled
		d.addDurations(x)
	}
	for id, n := range stats.CompletionsByInstance {
		if n != 1 {
			t.Errorf("instance %s: %d successful CompleteLifecycleAction calls", id, n)
		}
	}
	if stats.LifecycleActionsTimedOut != 0 {
		t.Errorf("%d lifecycle actions expired", stats.LifecycleActionsTimedOut)
	}
	if stats.TerminatedWithTasks != 0 || stats.TasksStoppedByReason["host_terminated"] != 0 {
		t.Errorf("%d instances terminated with tasks, %d tasks killed by a termination", stats.TerminatedWithTasks, stats.TasksStoppedByReason["host_terminated"])
	}
	if n := stats.LifecycleActionsCompleted["ABANDON"]; n != 0 {
		t.Errorf("%d lifecycle actions completed with ABANDON", n)
	}
	return d
}

// addDurations adds the times to DRAINING and to completion of scaled-in instance x.
func (d *chaosDrains) addDurations(x awssim.Timeline) {
	if !x.DrainingAt.IsZero() {
		d.toDraining = append(d.toDraining, x.DrainingAt.Sub(x.TerminatingWaitAt))
	}
	if !x.CompletedAt.IsZero() {
		dur := x.CompletedAt.Sub(x.TerminatingWaitAt)
		d.toCompleted = append(d.toCompleted, dur)
		d.longest = max(d.longest, dur)
		if dur > soakHeartbeatTimeout {
			d.pastHeartbeat++
			d.heartbeatsPast += x.Heartbeats
		}
	}
}

// chaosBinaries builds the binaries and copies them into the test's own directory, so that every
// process of the run, restarts included, is the same build even if bin/ is rebuilt meanwhile (by a
// developer's make build, or another test package).
func chaosBinaries(t *testing.T) (awssimBin, ctrlBin string) {
	t.Helper()
	a, c, err := harness.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, p := range []*string{&a, &c} {
		b, err := os.ReadFile(*p)
		if err != nil {
			t.Fatalf("copying %s: %v", *p, err)
		}
		dst := filepath.Join(dir, filepath.Base(*p))
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatalf("copying %s: %v", *p, err)
		}
		*p = dst
	}
	return a, c
}

// chaosStats reads awssim's ground-truth counters from /debug/stats.
func chaosStats(simURL string) (awssim.Stats, error) {
	var s awssim.Stats
	return s, chaosGetJSON(simURL+"/debug/stats", &s)
}

// chaosTimelines reads awssim's per-instance timelines from /debug/timeline.
func chaosTimelines(simURL string) ([]awssim.Timeline, error) {
	var tl []awssim.Timeline
	return tl, chaosGetJSON(simURL+"/debug/timeline", &tl)
}

func chaosGetJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return fmt.Errorf("reading %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reading %s: status %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("decoding %s: %w", url, err)
	}
	return nil
}

// chaosSetFaults changes awssim's faults at runtime through PUT /debug/faults.
func chaosSetFaults(simURL string, f awssim.Faults) error {
	body, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encoding faults: %w", err)
	}
	req, err := http.NewRequest(http.MethodPut, simURL+"/debug/faults", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building the faults request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("setting faults %+v: %w", f, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("setting faults %+v: status %s", f, resp.Status)
	}
	return nil
}

// chaosWaitReady waits until the controller at addr has listed the fleet (/readyz answers 200).
func chaosWaitReady(addr string, limit time.Duration) error {
	return harness.Eventually(limit, 100*time.Millisecond, func() (bool, string) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, "/readyz answered " + resp.Status
	})
}

func soakTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// soakPercentiles formats the median, 90th percentile and maximum of ds.
func soakPercentiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "(none)"
	}
	s := slices.Sorted(slices.Values(ds))
	q := func(p float64) time.Duration { return s[int(p*float64(len(s)-1))].Round(100 * time.Millisecond) }
	return fmt.Sprintf("%s / %s / %s", q(0.5), q(0.9), s[len(s)-1].Round(100*time.Millisecond))
}

func soakDurations(ds []time.Duration) string {
	if len(ds) == 0 {
		return "(none)"
	}
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.Round(time.Second).String()
	}
	return strings.Join(parts, ", ")
}

// soakEventFlags are awssim's EventBridge faults in the soak: nearly a third of the deliveries
// made twice, a fifth lost, each up to a second late, which reorders them.
var soakEventFlags = []string{"--event-duplicate", "0.3", "--event-loss", "0.2", "--event-reorder", "1s"}

// Bounds of a queue outage. It lasts until the controller has logged that it cannot receive,
// and at least soakOutageMin, so the drains meanwhile are polling's alone; soakOutageMax ends one
// the controller missed (its long poll lasts 20 s, then it backs off), which the soak reports.
const (
	soakOutageMin = 5 * time.Second
	soakOutageMax = 45 * time.Second
	// soakGarbageEvery is how often the scale loop puts a message on the queue that holds no event.
	soakGarbageEvery = 2 * time.Second
)

// soakEvents is the soak's event queue: its rules, the garbage sent to it and its outages.
type soakEvents struct {
	simURL, queueURL string
	sqs              *sqs.Client
	outages          []*soakOutage
	garbageSent      int
	garbageFailed    int // sends that failed, the queue being gone or denied
	lastGarbage      time.Duration
}

// soakOutage is one outage of the event queue.
type soakOutage struct {
	name       string
	from       time.Duration // when it begins, from the start of the scale loop
	code       string        // the queue error code the controller must count for it
	begin, end func() error
	proc       *harness.Process // the primary controller when it began
	logsBefore int              // its "Cannot receive" log lines then
	began      time.Duration
	ended      time.Duration
	on         bool
	noticed    bool // the controller logged that it could not receive, while the outage lasted
}

// soakEventResult is what the last controller counted of the event queue.
type soakEventResult struct {
	handled, duplicate, malformed, ignored float64
}

// startSoakEvents creates the event queue with an EventBridge rule for the controller's events,
// and plans the outages.
func startSoakEvents(t *testing.T, simURL string, plan soakPlan) soakEvents {
	t.Helper()
	// The queue is created again within the outage: awssim's QueueDeletedRecently wait shortened.
	if err := harness.PatchFaults(simURL, map[string]any{"queueRecreateDelayMs": int(ecRecreateDelay / time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	q, err := demo.CreateEventQueue(t.Context(), simURL, harness.Region)
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.RouteEventsTo(t.Context(), simURL, harness.Region, q, demo.ControllerEvents); err != nil {
		t.Fatal(err)
	}
	ev := soakEvents{simURL: simURL, queueURL: q.URL, sqs: harness.SQSClient(simURL)}
	at := func(share float64) time.Duration { return time.Duration(share * float64(plan.scaleFor)) }
	ev.outages = append(ev.outages, &soakOutage{
		name: "queue deleted", from: at(plan.deleteFrom), code: metrics.QueueErrorQueueDoesNotExist,
		begin: func() error {
			_, err := ev.sqs.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(ev.queueURL)})
			return err
		},
		end: func() error {
			again, err := demo.CreateEventQueue(context.Background(), simURL, harness.Region)
			if err == nil && again.URL != ev.queueURL {
				err = fmt.Errorf("the queue created again has URL %s, the controllers consume %s", again.URL, ev.queueURL)
			}
			return err
		},
	})
	if plan.denyFrom > 0 {
		ev.outages = append(ev.outages, &soakOutage{
			name: "queue denied", from: at(plan.denyFrom), code: metrics.QueueErrorAccessDenied,
			begin: func() error {
				return harness.PatchFaults(simURL, map[string]any{"deny": []string{"ReceiveMessage", "DeleteMessageBatch"}})
			},
			end: func() error { return harness.PatchFaults(simURL, map[string]any{"deny": nil}) },
		})
	}
	return ev
}

// step sends garbage every soakGarbageEvery and begins and ends the outages on their schedule,
// one at a time.
func (ev *soakEvents) step(t *testing.T, elapsed time.Duration, primary *harness.Process) {
	t.Helper()
	if elapsed-ev.lastGarbage >= soakGarbageEvery {
		ev.lastGarbage = elapsed
		msgs := ecGarbage(ev.garbageSent + ev.garbageFailed)
		body := msgs[(ev.garbageSent+ev.garbageFailed)%len(msgs)].body
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		_, err := ev.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(ev.queueURL), MessageBody: aws.String(body)})
		cancel()
		if err != nil {
			ev.garbageFailed++ // the queue is gone, or a fault outlasted the retries
		} else {
			ev.garbageSent++
		}
	}
	for _, o := range ev.outages {
		switch {
		case o.on:
			if o.proc != primary { // restarted meanwhile: its log starts afresh
				o.proc, o.logsBefore = primary, 0
			}
			o.noticed = soakLogCount(primary, ecLogReceiveFailed) > o.logsBefore
			if (o.noticed && elapsed-o.began >= soakOutageMin) || elapsed-o.began >= soakOutageMax {
				ev.endOutage(t, o, elapsed)
			}
			return // one outage at a time
		case o.began == 0 && elapsed >= o.from:
			o.proc, o.logsBefore = primary, soakLogCount(primary, ecLogReceiveFailed)
			if err := o.begin(); err != nil {
				t.Fatalf("beginning the outage %q: %v", o.name, err)
			}
			o.began, o.on = elapsed, true
			return
		}
	}
}

func (ev *soakEvents) endOutage(t *testing.T, o *soakOutage, elapsed time.Duration) {
	t.Helper()
	if err := o.end(); err != nil {
		t.Fatalf("ending the outage %q: %v", o.name, err)
	}
	o.ended, o.on = elapsed, false
}

// endOutages ends an outage still on when the scale loop ends; each must have happened.
func (ev *soakEvents) endOutages(t *testing.T, elapsed time.Duration) {
	t.Helper()
	for _, o := range ev.outages {
		if o.on {
			ev.endOutage(t, o, elapsed)
		}
		if o.began == 0 {
			t.Errorf("the event queue outage %q never began: the scale loop ended first", o.name)
		}
	}
}

// judge checks that the event path was exercised and that the last controller saw it: EventBridge
// duplicated, lost and could not deliver events, garbage reached the controller, and it noticed
// and counted every outage and received again after each.
func (ev *soakEvents) judge(t *testing.T, stats awssim.Stats, final map[string]*dto.MetricFamily, primary *harness.Process) soakEventResult {
	t.Helper()
	for _, k := range []string{"duplicated", "lost", "undeliverable"} {
		if stats.Deliveries[k] == 0 {
			t.Errorf("awssim's EventBridge %s no delivery: the soak did not exercise it (%v)", k, stats.Deliveries)
		}
	}
	if ev.garbageSent == 0 {
		t.Errorf("no garbage message reached the event queue")
	}
	count := func(result string) float64 {
		return harness.Sum(final, "ecs_drainer_events_received_total", map[string]string{"result": result})
	}
	r := soakEventResult{handled: count(metrics.EventResultHandled), duplicate: count(metrics.EventResultDuplicate),
		malformed: count(metrics.EventResultMalformed), ignored: count(metrics.EventResultIgnored)}
	if r.handled == 0 || r.malformed == 0 {
		t.Errorf("the last controller handled %v events and counted %v malformed messages: want some of each", r.handled, r.malformed)
	}
	for _, o := range ev.outages {
		if !o.noticed {
			t.Errorf("the controller did not log that it could not receive during the outage %q (%s to %s)", o.name, o.began.Round(time.Second), o.ended.Round(time.Second))
		}
		if o.proc != primary {
			continue // a process killed since; its counts are gone
		}
		if n := harness.Sum(final, "ecs_drainer_event_queue_errors_total", map[string]string{"operation": metrics.QueueOpReceiveMessage, "code": o.code}); n == 0 {
			t.Errorf("the last controller counted no ReceiveMessage %s error over the outage %q", o.code, o.name)
		}
	}
	if n := soakLogCount(primary, ecLogReceiveAgain); n < len(ev.outages) {
		t.Errorf("the last controller logged %q %d times, want once after each of the %d outages", ecLogReceiveAgain, n, len(ev.outages))
	}
	return r
}

// summarize adds the event queue's rows to the soak's summary.
func (ev *soakEvents) summarize(row func(k, format string, a ...any), r soakEventResult, stats awssim.Stats) {
	d := stats.Deliveries
	row("EventBridge deliveries made / duplicated / lost / undeliverable", "%d / %d / %d / %d", d["delivered"], d["duplicated"], d["lost"], d["undeliverable"])
	row("garbage messages sent (failed to send)", "%d (%d)", ev.garbageSent, ev.garbageFailed)
	for _, o := range ev.outages {
		row("event queue outage: "+o.name, "%s to %s (noticed: %v)", o.began.Round(time.Second), o.ended.Round(time.Second), o.noticed)
	}
	row("events counted by the last controller: handled / duplicate / malformed / ignored", "%.0f / %.0f / %.0f / %.0f", r.handled, r.duplicate, r.malformed, r.ignored)
}

// soakLogCount counts a controller's JSON log lines with message msg. Unlike ctrlLogLines it
// does not decode every line: the scale loop calls it every second on a growing log.
func soakLogCount(p *harness.Process, msg string) int {
	return strings.Count(p.Output(), `"msg":"`+msg+`"`)
}

// soakQueueLeft counts the messages on the event queue, visible, in flight or delayed (none while
// it does not exist).
func soakQueueLeft(simURL string) (int, error) {
	qs, err := harness.SQSQueues(simURL)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, q := range qs {
		if q.Name == demo.EventQueueName {
			n += q.Visible + q.InFlight + q.Delayed
		}
	}
	return n, nil
}
