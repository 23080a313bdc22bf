package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// How often the benchmark looks at the processes. Reading the controller's /metrics costs it a
// little CPU, so it is read no more often than needed to see each resync; awssim's debug
// endpoints are cheap next to the model's own work.
const (
	resyncWatchPoll = 250 * time.Millisecond
	drainSamplePoll = time.Second
	progressEvery   = 10 * time.Second
	stopGrace       = 10 * time.Second
	collectTimeout  = time.Minute
)

// runBench runs the whole benchmark. It returns what it measured even when it fails part-way, so
// the report shows how far it got.
func runBench(ctx context.Context, cfg Config, log io.Writer) (res *Result, err error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	begin := time.Now()
	progress := func(format string, args ...any) {
		_, _ = fmt.Fprintf(log, "[%6.1fs] %s\n", time.Since(begin).Seconds(), fmt.Sprintf(format, args...))
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("creating --out %s: %w", cfg.Out, err)
	}
	res = &Result{
		StartedAt:       begin.UTC().Format(time.RFC3339),
		Machine:         machine(),
		Mode:            cfg.mode(),
		Config:          cfg,
		ControllerFlags: cfg.controllerFlags(""),
		SimFlags:        cfg.simFlags(),
	}
	defer func() { res.DurationSeconds = round2(time.Since(begin).Seconds()) }()

	progress("Starting awssim")
	sim, err := harness.StartSim(cfg.AwssimBin, cfg.simFlags()...)
	if err != nil {
		return res, fmt.Errorf("starting awssim: %w", err)
	}
	defer func() { err = errors.Join(err, stopAndKeepLog(sim, cfg.Out, "awssim.log")) }()
	sc := newSimClient(sim.Addr)

	progress("Building %d instances in %d groups across %d clusters", cfg.Instances, cfg.ASGs, cfg.Clusters)
	res.Fleet, err = buildFleet(ctx, cfg, sim, progress)
	if err != nil {
		return res, err
	}
	progress("Fleet steady in %.1fs: %d tasks", res.Fleet.BuildSeconds, res.Fleet.Tasks())

	if cfg.queued() {
		progress("Creating the event queue and its EventBridge rules")
		setup, err := setUpEventQueue(ctx, "http://"+sim.Addr)
		if err != nil {
			return res, fmt.Errorf("setting up the event queue: %w", err)
		}
		res.Events = &setup
		res.ControllerFlags = cfg.controllerFlags(setup.QueueURL)
	}

	progress("Starting ecs-drainer %v", res.ControllerFlags)
	ctrl, err := harness.StartController(cfg.ControllerBin, "http://"+sim.Addr, res.ControllerFlags...)
	if err != nil {
		return res, fmt.Errorf("starting ecs-drainer: %w", err)
	}
	defer func() { err = errors.Join(err, stopAndKeepLog(ctrl, cfg.Out, "controller.log")) }()

	if err := measureIdle(ctx, cfg, res, sim, ctrl, sc, progress); err != nil {
		return res, err
	}
	drainErr := measureDrains(ctx, cfg, &res.Drain, sim, ctrl, sc, progress)
	// The end is collected even when the run's deadline passed during the drains, so the report
	// shows how far they got.
	endCtx, endCancel := context.WithTimeout(context.WithoutCancel(ctx), collectTimeout)
	defer endCancel()
	if err := collectEnd(endCtx, res, sim, ctrl, sc); err != nil {
		return res, errors.Join(drainErr, err)
	}
	res.Targets = targets(cfg, res)
	return res, drainErr
}

// measureIdle measures whole resyncs with nothing terminating: it snapshots awssim's counters
// just after one resync ends and again after IdleResyncs more, so the difference is exactly
// their calls.
func measureIdle(ctx context.Context, cfg Config, res *Result, sim, ctrl *harness.Process, sc *simClient, progress func(string, ...any)) error {
	progress("Waiting for the controller's first resync to see %d groups", cfg.ASGs)
	last, err := nextResync(ctx, ctrl, 0, cfg.ASGs)
	if err != nil {
		return err
	}
	s0, err := sc.Stats(ctx)
	if err != nil {
		return err
	}
	c0, err := readProc(ctrl)
	if err != nil {
		return err
	}
	a0, err := readProc(sim)
	if err != nil {
		return err
	}
	progress("Measuring %d resyncs with nothing terminating (every %s)", cfg.IdleResyncs, cfg.ResyncPeriod)
	for range cfg.IdleResyncs {
		if last, err = nextResync(ctx, ctrl, last, cfg.ASGs); err != nil {
			return err
		}
	}
	s1, err := sc.Stats(ctx)
	if err != nil {
		return err
	}
	c1, err := readProc(ctrl)
	if err != nil {
		return err
	}
	a1, err := readProc(sim)
	if err != nil {
		return err
	}
	calls := callsBetween(s0, s1)
	n := float64(cfg.IdleResyncs)
	res.Idle = IdleResult{
		Resyncs:              cfg.IdleResyncs,
		CallsPerResync:       calls.per(n),
		AutoScalingPerResync: round2(float64(calls.Service("autoscaling")) / n),
		ECSPerResync:         round2(float64(calls.Service("ecs")) / n),
		SQSPerResync:         round2(float64(calls.Service("sqs")) / n),
		Errors:               errorsBetween(s0, s1),
		Controller:           usage(c0, c1),
		Awssim:               usage(a0, a1),
	}
	res.Idle.ControllerCPUPerResync = round3(res.Idle.Controller.CPUSeconds / n)
	if wall := res.Idle.Controller.WallSeconds; wall > 0 {
		perMinute := func(service string) float64 { return round2(float64(calls.Service(service)) * 60 / wall) }
		res.Idle.AutoScalingPerMinute = perMinute("autoscaling")
		res.Idle.ECSPerMinute = perMinute("ecs")
		res.Idle.SQSPerMinute = perMinute("sqs")
	}
	progress("Idle resync: %.2f Auto Scaling, %.2f ECS and %.2f SQS calls, %.3f controller CPU seconds",
		res.Idle.AutoScalingPerResync, res.Idle.ECSPerResync, res.Idle.SQSPerResync, res.Idle.ControllerCPUPerResync)
	return nil
}

// nextResync waits until the controller reports a resync later than after, with want managed
// groups, and returns its timestamp.
func nextResync(ctx context.Context, ctrl *harness.Process, after float64, want int) (float64, error) {
	for {
		mfs, err := harness.Metrics(ctrl.Addr)
		if err != nil {
			return 0, fmt.Errorf("waiting for a resync: %w", err)
		}
		ts := harness.Sum(mfs, "ecs_drainer_last_resync_success_timestamp_seconds", nil)
		groups := harness.Sum(mfs, "ecs_drainer_managed_asgs", nil)
		if ts > after && int(groups) == want {
			return ts, nil
		}
		if ctrl.Exited() {
			return 0, fmt.Errorf("ecs-drainer exited while waiting for a resync:\n%s", tail(ctrl.Output(), 4000))
		}
		if err := sleep(ctx, resyncWatchPoll); err != nil {
			return 0, fmt.Errorf("waiting for a resync after %.0f (managed groups %.0f of %d): %w", after, groups, want, err)
		}
	}
}

// measureDrains scales in and follows the drains until every instance scaled in has terminated
// (or the run's deadline passes), sampling awssim's counters and both processes every second.
// drainer is the process under test: ecs-drainer, or a peer.
func measureDrains(ctx context.Context, cfg Config, d *DrainResult, sim, drainer *harness.Process, sc *simClient, progress func(string, ...any)) error {
	progress("Scaling in %d instances at once", cfg.ScaleIn)
	c0, err := readProc(drainer)
	if err != nil {
		return err
	}
	a0, err := readProc(sim)
	if err != nil {
		return err
	}
	if _, err := scaleIn(ctx, cfg, sim, cfg.ScaleIn); err != nil {
		return err
	}
	start := time.Now()
	first, err := sc.Stats(ctx)
	if err != nil {
		return err
	}
	samples := []statSample{{at: start, stats: first}}
	var statLatency []time.Duration
	lastProgress := start
	var loopErr error
	for {
		if err := sleep(ctx, drainSamplePoll); err != nil {
			loopErr = fmt.Errorf("waiting for %d drains: %w", cfg.ScaleIn, err)
			break
		}
		t0 := time.Now()
		s, err := sc.Stats(ctx)
		if err != nil {
			loopErr = err
			break
		}
		statLatency = append(statLatency, time.Since(t0))
		samples = append(samples, statSample{at: time.Now(), stats: s})
		done := completions(s) - completions(first)
		gone := s.Terminated - first.Terminated
		if time.Since(lastProgress) >= progressEvery {
			lastProgress = time.Now()
			progress("Drains: %d of %d completed, %d terminated, %d expired", done, cfg.ScaleIn, gone, s.LifecycleActionsTimedOut-first.LifecycleActionsTimedOut)
		}
		if gone >= cfg.ScaleIn {
			break
		}
		if drainer.Exited() {
			loopErr = fmt.Errorf("%s exited during the drains:\n%s", drainer.Name, tail(drainer.Output(), 4000))
			break
		}
	}
	end := samples[len(samples)-1]
	c1, err := readProc(drainer)
	if err != nil {
		return errors.Join(loopErr, err)
	}
	a1, err := readProc(sim)
	if err != nil {
		return errors.Join(loopErr, err)
	}
	calls := callsBetween(first, end.stats)
	d.ScaledIn = cfg.ScaleIn
	d.Calls = calls
	d.Errors = errorsBetween(first, end.stats)
	d.ECSCalls = calls.Service("ecs")
	d.AutoScalingCalls = calls.Service("autoscaling")
	d.SQSCalls = calls.Service("sqs")
	d.WriteCalls = calls.Writes()
	d.EventsEmitted = end.stats.EventsEmitted - first.EventsEmitted
	d.EventsDelivered = end.stats.Deliveries[deliveryDelivered] - first.Deliveries[deliveryDelivered]
	d.Windows = windows(samples, start, cfg.PollInterval)
	d.Controller = usage(c0, c1)
	d.Awssim = usage(a0, a1)
	d.AwssimStatsLatency = distOf(statLatency)
	progress("Drain phase over after %.1fs", end.at.Sub(start).Seconds())
	return loopErr
}

// collectEnd reads the ground truth once the drains are over (collectDrains), the controller's own
// metrics and both processes' peak memory.
func collectEnd(ctx context.Context, res *Result, sim, ctrl *harness.Process, sc *simClient) error {
	var err error
	res.Latency, res.Safety, err = collectDrains(ctx, res.Config, sc, &res.Drain, "timeline.json")
	if err != nil {
		return err
	}
	res.Drain.ControllerCPUPerDrain = perCompleted(res.Drain.Controller.CPUSeconds, res.Drain.Completed)

	// The controller counts a drain as ended when a resync sees the instance leave
	// Terminating:Wait, up to a resync period after its completion: read its metrics once it has
	// counted every completion the simulator saw, or a resync period and a poll later whatever
	// they say.
	completedMetric := func(mfs map[string]*dto.MetricFamily) int {
		return int(harness.Sum(mfs, "ecs_drainer_drains_ended_total", map[string]string{"outcome": "completed"}))
	}
	var mfs map[string]*dto.MetricFamily
	deadline := time.Now().Add(res.Config.ResyncPeriod + res.Config.PollInterval)
	for {
		var err error
		if mfs, err = harness.Metrics(ctrl.Addr); err != nil {
			return err
		}
		if completedMetric(mfs) >= res.Safety.DrainsCompleted || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	res.ControllerView = ControllerView{
		AWSRequests:     int(harness.Sum(mfs, "ecs_drainer_aws_requests_total", nil)),
		AWSErrors:       int(harness.Sum(mfs, "ecs_drainer_aws_requests_total", nil) - harness.Sum(mfs, "ecs_drainer_aws_requests_total", map[string]string{"code": "OK"})),
		DrainsCompleted: completedMetric(mfs),
		Heartbeats:      int(harness.Sum(mfs, "ecs_drainer_heartbeats_total", nil)),
		TasksStopped:    int(harness.Sum(mfs, "ecs_drainer_tasks_stopped_total", nil)),
		ReconcileErrors: int(harness.Sum(mfs, "ecs_drainer_reconcile_total", map[string]string{"result": "error"})),

		EventsReceived:         sumByLabel(mfs, "ecs_drainer_events_received_total", "result"),
		EventQueueErrors:       int(harness.Sum(mfs, "ecs_drainer_event_queue_errors_total", nil)),
		InstancesFoundByResync: int(harness.Sum(mfs, "ecs_drainer_instances_found_by_resync_total", nil)),

		ErrorsByOperation: failedAttempts(mfs),
	}
	return readTotals(map[*harness.Process]*ProcResult{ctrl: &res.Controller, sim: &res.Awssim})
}

// readTotals reads each process's totals from /proc into its ProcResult.
func readTotals(into map[*harness.Process]*ProcResult) error {
	for p, r := range into {
		s, err := readProc(p)
		if err != nil {
			return err
		}
		*r = ProcResult{CPUSeconds: round2(s.CPUSeconds), RSSMiB: mib(s.RSSBytes), PeakRSSMiB: mib(s.PeakRSS), Threads: s.Threads}
	}
	return nil
}

// collectDrains reads awssim's ground truth once the drains are over, whoever drained: the
// timelines (kept in --out/timelineFile for a closer look), and from them the drains' latencies,
// per-drain and per-poll figures, and the safety invariants.
func collectDrains(ctx context.Context, cfg Config, sc *simClient, d *DrainResult, timelineFile string) (Latencies, Safety, error) {
	tls, err := sc.Timelines(ctx)
	if err != nil {
		return Latencies{}, Safety{}, err
	}
	stats, err := sc.Stats(ctx)
	if err != nil {
		return Latencies{}, Safety{}, err
	}
	if err := writeJSON(filepath.Join(cfg.Out, timelineFile), tls); err != nil {
		return Latencies{}, Safety{}, err
	}
	ts := summarise(tls)
	d.Started = ts.Instances
	d.Completed = ts.Completed
	d.CompletedWithTasks = ts.CompletedWithTasks
	d.Heartbeats = ts.Heartbeats
	if !ts.LastComplete.IsZero() {
		d.DurationSeconds = round2(ts.LastComplete.Sub(ts.FirstWait).Seconds())
		d.Polls = round2(ts.LastComplete.Sub(ts.FirstWait).Seconds() / cfg.PollInterval.Seconds())
	}
	if !ts.LastTerminated.IsZero() {
		d.AllEndedSeconds = round2(ts.LastTerminated.Sub(ts.FirstWait).Seconds())
	}
	if d.Completed > 0 {
		n := float64(d.Completed)
		d.CallsPerDrain = round2(float64(d.Calls.Total()) / n)
		d.ECSPerDrain = round2(float64(d.ECSCalls) / n)
		d.AutoScalingPerDrain = round2(float64(d.AutoScalingCalls) / n)
		d.SQSPerDrain = round2(float64(d.SQSCalls) / n)
		d.WritesPerDrain = round2(float64(d.WriteCalls) / n)
	}
	if d.Polls > 0 {
		d.CallsPerPoll = round2(float64(d.Calls.Total()) / d.Polls)
		d.ECSPerPoll = round2(float64(d.ECSCalls) / d.Polls)
	}
	for _, w := range d.Windows {
		d.MaxCallsInPoll = max(d.MaxCallsInPoll, w.ECS+w.AutoScaling)
	}
	safety := Safety{
		DrainsExpected:           cfg.ScaleIn,
		DrainsCompleted:          ts.Completed,
		TasksKilledByTermination: ts.TasksKilled,
		InstancesWithTasksKilled: stats.TerminatedWithTasks,
		LifecycleActionsExpired:  stats.LifecycleActionsTimedOut,
		CompletedMoreThanOnce:    ts.MultiComplete,
	}
	return ts.Latencies, safety, nil
}

// perCompleted is v per completed drain, 0 when none completed.
func perCompleted(v float64, completed int) float64 {
	if completed == 0 {
		return 0
	}
	return round3(v / float64(completed))
}

// sumByLabel sums a metric's series by the value of one label, leaving out zeros.
func sumByLabel(mfs map[string]*dto.MetricFamily, name, label string) map[string]int {
	out := map[string]int{}
	mf, ok := mfs[name]
	if !ok {
		return out
	}
	for _, m := range mf.GetMetric() {
		for _, lp := range m.GetLabel() {
			if n := int(m.GetCounter().GetValue()); lp.GetName() == label && n > 0 {
				out[lp.GetValue()] += n
			}
		}
	}
	return out
}

// failedAttempts reads ecs_drainer_aws_requests_total's series whose code is not OK.
func failedAttempts(mfs map[string]*dto.MetricFamily) map[string]int {
	out := map[string]int{}
	mf, ok := mfs["ecs_drainer_aws_requests_total"]
	if !ok {
		return out
	}
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		if n := int(m.GetCounter().GetValue()); n > 0 && labels["code"] != "OK" {
			out[labels["service"]+"/"+labels["operation"]+"/"+labels["code"]] += n
		}
	}
	return out
}

// stopAndKeepLog stops a process gracefully and writes what it printed to dir/name.
func stopAndKeepLog(p *harness.Process, dir, name string) error {
	stopErr := p.Stop(stopGrace)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(p.Output()), 0o644); err != nil {
		return fmt.Errorf("keeping the log of %s: %w", p.Name, err)
	}
	if stopErr != nil {
		return fmt.Errorf("stopping %s: %w", p.Name, stopErr)
	}
	return nil
}

// tail is the end of s, for error messages that quote a process's output.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
