package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"

	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
	"github.com/ecs-drainer/ecs-drainer/test/bench/awssample"
	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// The peers --peer knows.
const (
	PeerAWSSample = "aws-sample"
	awsSamplePkg  = "./test/bench/cmd/awssample"
)

// notifyPoll is how often the harness looks for instances that entered Terminating:Wait, to send
// their lifecycle notifications: Auto Scaling's own delivery through SNS takes longer.
const notifyPoll = 250 * time.Millisecond

// peerAddrRE finds the address the peer serves in its log.
var peerAddrRE = regexp.MustCompile(`"httpAddr":\s*"([^"]+)"`)

// PeerResult is what one run of a peer measured, from awssim's ground truth as for ecs-drainer.
// Its Drain.Controller is the peer process's resource use.
type PeerResult struct {
	Name            string          `json:"name"`
	Flags           []string        `json:"flags"`
	DurationSeconds float64         `json:"durationSeconds"`
	Fleet           FleetSummary    `json:"fleet"`
	Drain           DrainResult     `json:"drain"`
	Latency         Latencies       `json:"latencySeconds"`
	Process         ProcResult      `json:"process"`
	Awssim          ProcResult      `json:"awssim"`
	Safety          Safety          `json:"safety"`
	Notifications   NotifyResult    `json:"notifications"`
	Lambda          awssample.Stats `json:"lambda"` // the peer's SNS and Lambda counters at the end
}

// NotifyResult is how the harness delivered the lifecycle notifications.
type NotifyResult struct {
	Sent   int  `json:"sent"`
	Failed int  `json:"failed"`
	Delay  Dist `json:"delaySeconds"` // Terminating:Wait -> notification handed to the peer
}

// runPeer runs the peer on a fleet of its own, built like ecs-drainer's in a fresh awssim, and
// measures the same scale-in: awssim, then the fleet, then the peer process, then the harness's
// stand-in for Auto Scaling's notifications, then the drains.
func runPeer(ctx context.Context, cfg Config, log io.Writer) (pr *PeerResult, err error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	begin := time.Now()
	progress := func(format string, args ...any) {
		_, _ = fmt.Fprintf(log, "[%6.1fs] %s: %s\n", time.Since(begin).Seconds(), cfg.Peer, fmt.Sprintf(format, args...))
	}
	pr = &PeerResult{Name: cfg.Peer, Flags: cfg.peerFlags()}
	defer func() { pr.DurationSeconds = round2(time.Since(begin).Seconds()) }()
	bin, err := peerBinary(ctx, cfg)
	if err != nil {
		return pr, err
	}

	progress("Starting awssim")
	sim, err := harness.StartSim(cfg.AwssimBin, cfg.simFlags()...)
	if err != nil {
		return pr, fmt.Errorf("starting awssim: %w", err)
	}
	defer func() { err = errors.Join(err, stopAndKeepLog(sim, cfg.Out, cfg.Peer+"-awssim.log")) }()
	sc := newSimClient(sim.Addr)
	progress("Building %d instances in %d groups across %d clusters", cfg.Instances, cfg.ASGs, cfg.Clusters)
	if pr.Fleet, err = buildFleet(ctx, cfg, sim, progress); err != nil {
		return pr, err
	}

	progress("Starting %s %v", bin, pr.Flags)
	peer, err := harness.Start(cfg.Peer, bin, pr.Flags, harness.ControllerEnv("http://"+sim.Addr), peerAddrRE)
	if err != nil {
		return pr, fmt.Errorf("starting %s: %w", cfg.Peer, err)
	}
	defer func() { err = errors.Join(err, stopAndKeepLog(peer, cfg.Out, cfg.Peer+".log")) }()

	n := newNotifier(cfg, sc, "http://"+peer.Addr)
	notifyCtx, stopNotify := context.WithCancel(ctx)
	notified := make(chan struct{})
	go func() { defer close(notified); n.run(notifyCtx) }()
	drainErr := measureDrains(ctx, cfg, &pr.Drain, sim, peer, sc, progress)
	stopNotify()
	<-notified
	pr.Notifications = n.result()

	endCtx, endCancel := context.WithTimeout(context.WithoutCancel(ctx), collectTimeout)
	defer endCancel()
	if pr.Latency, pr.Safety, err = collectDrains(endCtx, cfg, sc, &pr.Drain, cfg.Peer+"-timeline.json"); err != nil {
		return pr, errors.Join(drainErr, err)
	}
	pr.Drain.ControllerCPUPerDrain = perCompleted(pr.Drain.Controller.CPUSeconds, pr.Drain.Completed)
	if err := getJSON(endCtx, n.hc, "http://"+peer.Addr+"/stats", &pr.Lambda); err != nil {
		return pr, errors.Join(drainErr, err)
	}
	return pr, errors.Join(drainErr, readTotals(map[*harness.Process]*ProcResult{peer: &pr.Process, sim: &pr.Awssim}))
}

// peerBinary is --peer-bin, or the peer built from source into --out.
func peerBinary(ctx context.Context, cfg Config) (string, error) {
	if cfg.PeerBin != "" {
		return cfg.PeerBin, nil
	}
	root, err := harness.RepoRoot()
	if err != nil {
		return "", err
	}
	out, err := filepath.Abs(filepath.Join(cfg.Out, cfg.Peer))
	if err != nil {
		return "", fmt.Errorf("locating --out: %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, awsSamplePkg)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %w\n%s", awsSamplePkg, err, msg)
	}
	return out, nil
}

// notifier stands in for Auto Scaling's lifecycle notifications, which awssim does not send: it
// watches awssim's timelines for instances that entered Terminating:Wait and posts each one's
// notification, in Auto Scaling's format, to the peer's topic for the instance's cluster (the
// sample is deployed once per cluster, its hook notifying its own topic). Later the peer can read
// them from the simulator's queue instead, and this goes.
type notifier struct {
	sc    *simClient
	peer  string
	hc    *http.Client
	route map[string]groupRoute // by group name
	sent  map[string]bool       // by instance ID
	delay []time.Duration
	fail  int
}

type groupRoute struct{ cluster, hook string }

func newNotifier(cfg Config, sc *simClient, peerURL string) *notifier {
	n := &notifier{sc: sc, peer: peerURL, hc: &http.Client{Timeout: 10 * time.Second}, route: map[string]groupRoute{}, sent: map[string]bool{}}
	for _, c := range demo.Uniform(cfg.shape()).Clusters {
		for _, g := range c.ASGs {
			hook := g.HookName
			if hook == "" {
				hook = demo.DefaultHookName
			}
			n.route[g.Name] = groupRoute{cluster: c.Name, hook: hook}
		}
	}
	return n
}

// run notifies until ctx ends. A failed read of the timelines is tried again at the next poll; a
// failed post is counted and not repeated (SNS would retry; a lost notification is the sample's
// problem to survive, and here it would show as an expired action).
func (n *notifier) run(ctx context.Context) {
	for {
		if tls, err := n.sc.Timelines(ctx); err == nil {
			for _, t := range tls {
				if t.TerminatingWaitAt.IsZero() || n.sent[t.InstanceID] {
					continue
				}
				n.sent[t.InstanceID] = true
				if err := n.post(ctx, t); err != nil {
					n.fail++
					continue
				}
				n.delay = append(n.delay, time.Since(t.TerminatingWaitAt))
			}
		}
		if sleep(ctx, notifyPoll) != nil {
			return
		}
	}
}

// post sends one instance's lifecycle notification. It has every field of Auto Scaling's message
// but the LifecycleActionToken: awssim hands tokens out only through its Go API, and the sample
// completes by instance ID.
func (n *notifier) post(ctx context.Context, t timeline) error {
	r, ok := n.route[t.Group]
	if !ok {
		return fmt.Errorf("instance %s of unknown group %q", t.InstanceID, t.Group)
	}
	body, err := json.Marshal(awssample.Notification{
		Service:              "AWS Auto Scaling",
		Time:                 t.TerminatingWaitAt.UTC().Format("2006-01-02T15:04:05.000Z"),
		RequestID:            "bench-" + t.InstanceID,
		AccountID:            "123456789012",
		AutoScalingGroupName: t.Group,
		LifecycleHookName:    r.hook,
		EC2InstanceID:        t.InstanceID,
		LifecycleTransition:  awssample.TransitionTerminating,
	})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.peer+"/topics/"+r.cluster, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-Subject", "Auto Scaling: Lifecycle action 'TERMINATING' for instance "+t.InstanceID+" in progress.")
	resp, err := n.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("posting the notification of %s: status %s", t.InstanceID, resp.Status)
	}
	return nil
}

func (n *notifier) result() NotifyResult {
	return NotifyResult{Sent: len(n.delay), Failed: n.fail, Delay: distOf(n.delay)}
}
