package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Config is the benchmark's command line.
type Config struct {
	AwssimBin     string `json:"-"`
	ControllerBin string `json:"-"`
	Out           string `json:"-"`

	// Fleet shape.
	Instances          int `json:"instances"`
	ASGs               int `json:"asgs"`
	Clusters           int `json:"clusters"`
	ScaleIn            int `json:"scaleIn"`
	TasksPerInstance   int `json:"tasksPerInstance"`   // replica service tasks per instance
	ServicesPerCluster int `json:"servicesPerCluster"` // replica services; one daemon service is added per cluster
	StandalonePerASG   int `json:"standalonePerAsg"`
	TaskSlots          int `json:"taskSlots"`

	// Controller settings under test.
	ResyncPeriod         time.Duration `json:"resyncPeriod"`
	PollInterval         time.Duration `json:"pollInterval"`
	StandaloneTaskGrace  time.Duration `json:"standaloneTaskGrace"`
	HookHeartbeatTimeout time.Duration `json:"hookHeartbeatTimeout"`
	AWSQPS               float64       `json:"awsQps"`
	AWSBurst             int           `json:"awsBurst"`
	ControllerArgs       []string      `json:"controllerArgs"` // extra flags, e.g. --aws-qps=20

	// Peer is another drainer run on the same fleet and scale-in after ecs-drainer, from a fresh
	// awssim: "" for none, or PeerAWSSample.
	Peer     string   `json:"peer,omitempty"`
	PeerBin  string   `json:"-"`
	PeerArgs []string `json:"peerArgs,omitempty"`

	// Simulated work.
	StopTimeout time.Duration `json:"stopTimeout"` // containers' stopTimeout: how long a task takes to stop
	SimArgs     []string      `json:"simArgs"`     // extra awssim flags

	// Events is the controller's event queue: EventsOff (polling only), EventsOn (an SQS queue fed
	// by EventBridge rules, --queue-url), or EventsBoth (EventsOn, then EventsOff on the same fleet
	// and scale-in in a fresh awssim, reported side by side).
	Events string `json:"events"`
	// Preset names a set of flag values applied to the flags not given (presets).
	Preset string `json:"preset,omitempty"`

	// Measurement.
	IdleResyncs int           `json:"idleResyncs"`
	Timeout     time.Duration `json:"timeout"` // bound on the whole run
}

func newFlagSet(c *Config) *pflag.FlagSet {
	fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.StringVar(&c.AwssimBin, "awssim", "bin/awssim", "path of the awssim `binary`")
	fs.StringVar(&c.ControllerBin, "controller", "bin/ecs-drainer", "path of the ecs-drainer `binary`")
	fs.StringVar(&c.Out, "out", "bench-results", "`directory` for bench.json and the processes' logs")
	fs.IntVar(&c.Instances, "instances", 10_000, "container instances in the fleet (a multiple of --asgs)")
	fs.IntVar(&c.ASGs, "asgs", 100, "managed Auto Scaling groups (a multiple of --clusters)")
	fs.IntVar(&c.Clusters, "clusters", 10, "ECS clusters")
	fs.IntVar(&c.ScaleIn, "scale-in", 1_000, "instances scaled in at once, spread evenly over the groups")
	fs.IntVar(&c.TasksPerInstance, "tasks-per-instance", 3, "replica service tasks per instance")
	fs.IntVar(&c.ServicesPerCluster, "services-per-cluster", 10, "replica services per cluster (plus one daemon service)")
	fs.IntVar(&c.StandalonePerASG, "standalone-per-asg", 1, "standalone (RunTask) tasks per group")
	fs.IntVar(&c.TaskSlots, "task-slots", 8, "tasks one instance holds (awssim:task-slots); daemon tasks need none")
	fs.DurationVar(&c.ResyncPeriod, "resync-period", 10*time.Second, "controller --resync-period")
	fs.DurationVar(&c.PollInterval, "poll-interval", 5*time.Second, "controller --poll-interval")
	fs.DurationVar(&c.StandaloneTaskGrace, "standalone-task-grace", 20*time.Second, "controller --standalone-task-grace")
	fs.DurationVar(&c.HookHeartbeatTimeout, "hook-heartbeat-timeout", 300*time.Second, "heartbeat timeout of the groups' terminating hooks")
	fs.Float64Var(&c.AWSQPS, "aws-qps", 100, "controller --aws-qps (its default, 10, makes the client-side limit the whole measurement: see docs/performance.md)")
	fs.IntVar(&c.AWSBurst, "aws-burst", 200, "controller --aws-burst")
	fs.StringSliceVar(&c.ControllerArgs, "controller-args", nil, "extra controller flags, comma-separated (e.g. --aws-qps=20)")
	fs.StringVar(&c.Peer, "peer", "", "also run this drainer on the same fleet and scale-in, and report both side by side: "+PeerAWSSample+" (aws-samples/ecs-cid-sample's Lambda)")
	fs.StringVar(&c.PeerBin, "peer-bin", "", "path of the peer's `binary` (default: built from "+awsSamplePkg+" into --out)")
	fs.StringSliceVar(&c.PeerArgs, "peer-args", nil, "extra peer flags, comma-separated (e.g. --recursive-loop-limit=0)")
	fs.DurationVar(&c.StopTimeout, "stop-timeout", 5*time.Second, "containers' stopTimeout: how long a task takes to stop")
	fs.StringSliceVar(&c.SimArgs, "awssim-args", nil, "extra awssim flags, comma-separated")
	fs.StringVar(&c.Events, "events", EventsOff, "event queue: "+EventsOff+" (polling only), "+EventsOn+" (an SQS queue fed by EventBridge rules, given to the controller as --queue-url), or "+EventsBoth+" ("+EventsOn+", then "+EventsOff+" on the same fleet and scale-in, side by side); --events alone is "+EventsOn)
	fs.Lookup("events").NoOptDefVal = EventsOn
	fs.StringVar(&c.Preset, "preset", "", "set the flags not given to a named set: "+presetNames())
	fs.IntVar(&c.IdleResyncs, "idle-resyncs", 3, "resyncs measured with nothing terminating")
	fs.DurationVar(&c.Timeout, "timeout", 9*time.Minute, "bound on each drainer's run (ecs-drainer's, then the peer's)")
	return fs
}

// helpText is the --help text.
func helpText() string {
	var b strings.Builder
	b.WriteString("Usage: bench [flags]\n\nRuns ecs-drainer against awssim as separate processes with a large fleet, scales part of it\nin at once, and reports API calls, latencies, CPU and memory.\n\nFlags:\n")
	b.WriteString(newFlagSet(&Config{}).FlagUsages())
	return b.String()
}

// parseFlags reads and checks the command line, reporting every problem at once.
func parseFlags(args []string) (Config, error) {
	var c Config
	fs := newFlagSet(&c)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return c, err
		}
		return c, fmt.Errorf("%w (run with --help to list the flags)", err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q: bench takes only flags", fs.Args())
	}
	if err := applyPreset(fs, c.Preset); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var p []error
	bad := func(format string, args ...any) { p = append(p, fmt.Errorf(format, args...)) }
	if c.AwssimBin == "" || c.ControllerBin == "" {
		bad("--awssim and --controller must name the binaries (make build puts them in bin/)")
	}
	if c.Out == "" {
		bad("--out must name a directory")
	}
	c.validateFleet(bad)
	c.validateTimes(bad)
	if !(c.AWSQPS > 0) || math.IsInf(c.AWSQPS, 0) || c.AWSBurst < 1 {
		bad("--aws-qps (%v) must be a positive number and --aws-burst (%d) at least 1", c.AWSQPS, c.AWSBurst)
	}
	if c.Peer != "" && c.Peer != PeerAWSSample {
		bad("--peer is %q: the only peer is %s", c.Peer, PeerAWSSample)
	}
	if c.Events != EventsOff && c.Events != EventsOn && c.Events != EventsBoth {
		bad("--events is %q: must be %s, %s or %s", c.Events, EventsOff, EventsOn, EventsBoth)
	}
	if c.IdleResyncs < 1 {
		bad("--idle-resyncs is %d: must be at least 1", c.IdleResyncs)
	}
	return errors.Join(p...)
}

// validateFleet checks the fleet's shape and the scale-in against it.
func (c Config) validateFleet(bad func(string, ...any)) {
	switch {
	case c.Clusters < 1:
		bad("--clusters is %d: must be at least 1", c.Clusters)
	case c.ASGs < c.Clusters || c.ASGs%c.Clusters != 0:
		bad("--asgs is %d: must be a positive multiple of --clusters (%d)", c.ASGs, c.Clusters)
	case c.Instances < c.ASGs || c.Instances%c.ASGs != 0:
		bad("--instances is %d: must be a positive multiple of --asgs (%d)", c.Instances, c.ASGs)
	}
	if c.ScaleIn < 1 || c.ScaleIn > c.Instances {
		bad("--scale-in is %d: must be from 1 to --instances (%d)", c.ScaleIn, c.Instances)
	}
	if c.TasksPerInstance < 0 || c.ServicesPerCluster < 0 || c.StandalonePerASG < 0 {
		bad("--tasks-per-instance, --services-per-cluster and --standalone-per-asg must not be negative")
	}
	if c.TasksPerInstance > 0 && c.ServicesPerCluster == 0 {
		bad("--tasks-per-instance is %d but --services-per-cluster is 0: no service would run them", c.TasksPerInstance)
	}
	c.validateRoom(bad)
}

// validateRoom checks that the instances left after the scale-in can hold every replica and
// standalone task: otherwise drains stall for want of room and the benchmark measures the fleet's
// shape rather than the controller.
func (c Config) validateRoom(bad func(string, ...any)) {
	if c.Instances <= 0 || c.ScaleIn >= c.Instances {
		return
	}
	left := c.Instances - c.ScaleIn
	need := c.Instances*c.TasksPerInstance + c.ASGs*c.StandalonePerASG
	if left*c.TaskSlots < need {
		bad("--task-slots is %d: the %d instances left after scale-in hold %d tasks, %d are needed", c.TaskSlots, left, left*c.TaskSlots, need)
	}
}

// validateTimes checks the durations.
func (c Config) validateTimes(bad func(string, ...any)) {
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"resync-period", c.ResyncPeriod}, {"poll-interval", c.PollInterval}, {"timeout", c.Timeout}} {
		if d.v <= 0 {
			bad("--%s is %s: must be positive", d.flag, d.v)
		}
	}
	if c.StandaloneTaskGrace < 0 || c.StopTimeout < 0 {
		bad("--standalone-task-grace and --stop-timeout must not be negative")
	}
	if c.StopTimeout%time.Second != 0 {
		bad("--stop-timeout is %s: ECS takes whole seconds", c.StopTimeout)
	}
	if c.HookHeartbeatTimeout < 30*time.Second || c.HookHeartbeatTimeout > 7200*time.Second || c.HookHeartbeatTimeout%time.Second != 0 {
		bad("--hook-heartbeat-timeout is %s: Auto Scaling accepts whole seconds from 30s to 2h", c.HookHeartbeatTimeout)
	}
}

// controllerFlags are the flags ecs-drainer runs with; queueURL is its event queue, "" for none.
func (c Config) controllerFlags(queueURL string) []string {
	flags := []string{
		"--log-format=json",
		"--resync-period=" + c.ResyncPeriod.String(),
		"--poll-interval=" + c.PollInterval.String(),
		"--standalone-task-grace=" + c.StandaloneTaskGrace.String(),
		"--aws-qps=" + strconv.FormatFloat(c.AWSQPS, 'g', -1, 64),
		"--aws-burst=" + strconv.Itoa(c.AWSBurst),
	}
	if queueURL != "" {
		flags = append(flags, "--queue-url="+queueURL)
	}
	return append(flags, c.ControllerArgs...)
}

// peerFlags are the flags the aws-sample peer runs with: the same client-side rate limit as the
// controller.
func (c Config) peerFlags() []string {
	return append([]string{
		"--aws-qps=" + strconv.FormatFloat(c.AWSQPS, 'g', -1, 64),
		"--aws-burst=" + strconv.Itoa(c.AWSBurst),
	}, c.PeerArgs...)
}

// simFlags are the flags awssim runs with: work that takes simulated time is made quick where it
// only delays building the fleet (launch, registration, task start), and left at its defaults
// where the drains measured depend on it (terminate delay, tick).
func (c Config) simFlags() []string {
	return append([]string{
		"--log-format=json",
		"--seed=1",
		"--launch-delay=10ms",
		"--register-delay=10ms",
		"--task-start-delay=10ms",
	}, c.SimArgs...)
}
