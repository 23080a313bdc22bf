// Package options owns ecs-drainer's configuration: every flag (README, "Configuration") with its
// default, the environment variable of the same name that sets it when the flag is not given, the
// checks that reject a bad configuration with every problem listed at once, and the conversion
// into the reconciler's Config.
package options

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/ecs-drainer/ecs-drainer/pkg/events"
	"github.com/ecs-drainer/ecs-drainer/pkg/options/envflag"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler"
)

// Allowed values of the enumerated flags. The standalone task policies and drain timeout actions
// are the reconciler's (reconciler.StandalonePolicies, reconciler.DrainTimeoutActions).
const (
	LogFormatJSON    = "json"
	LogFormatConsole = "console"

	LogLevelInfo  = "info"
	LogLevelDebug = "debug"
)

// ECSManagedHookName is the hook ECS managed instance draining creates on capacity-provider ASGs.
// ECS completes it itself; a second party completing it would end ECS's drain early. It is the
// reconciler's name for it, kept here for callers of this package.
const ECSManagedHookName = reconciler.ECSManagedHookName

// The polling defaults, the safety net that finds every drain with or without --queue-url: a
// scale-in of 20 instances of 200 whose tasks stop in a few seconds is completed within 30 s
// (issue 9; docs/performance.md, `go run ./test/bench --preset defaults-200`), while an idle
// fleet costs 60s/DefaultResyncPeriod DescribeAutoScalingGroups a minute per 100 groups and no ECS call.
const (
	DefaultResyncPeriod = 10 * time.Second
	DefaultPollInterval = 5 * time.Second
)

// Defaults that --simulate uses instead of the production ones when the flag is not given, so the
// live demo moves at a pace a person can watch.
const (
	SimulateResyncPeriod = 5 * time.Second
	SimulatePollInterval = 2 * time.Second
	// SimulateStandaloneTaskGrace lets the demo show a standalone task being stopped within a
	// minute rather than the production five, after the first heartbeat of its 60 s hook (due at 30 s).
	SimulateStandaloneTaskGrace = 45 * time.Second
)

// AWS limits on the names and values the flags carry.
// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_LifecycleHook.html (hook names),
// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_Tag.html (tag keys and values),
// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutLifecycleHook.html (heartbeat).
const (
	maxNameLen        = 255
	maxTagKeyLen      = 128
	maxTagValueLen    = 256
	minHookHeartbeat  = 30 * time.Second
	maxHookHeartbeat  = 7200 * time.Second
	maxWorkers        = 256
	maxHTTPPortNumber = 65535
)

var hookNamePattern = regexp.MustCompile(`^[A-Za-z0-9\-_/]+$`)

// noEnvFlags are never read from the environment: VERSION and HELP are common variable names in
// container images that mean something else, and reading them would turn a run into a version print.
var noEnvFlags = []string{"version", "help"}

// Options is the whole configuration of the ecs-drainer binary. Field comments give the flag.
type Options struct {
	ASGTag               string        // --asg-tag: "key=value", or "key" for any value; "" selects by name only
	ASGNames             []string      // --asg-names
	HookName             string        // --hook-name; "" means the group's single terminating hook
	ManageHooks          bool          // --manage-hooks
	HookHeartbeatTimeout time.Duration // --hook-heartbeat-timeout
	Clusters             []string      // --clusters; empty means all
	ResyncPeriod         time.Duration // --resync-period
	PollInterval         time.Duration // --poll-interval
	StandaloneTaskPolicy string        // --standalone-task-policy
	StandaloneTaskGrace  time.Duration // --standalone-task-grace
	DrainTimeout         time.Duration // --drain-timeout
	DrainTimeoutAction   string        // --drain-timeout-action
	RebalanceAction      string        // --rebalance-action
	Workers              int           // --workers
	AWSQPS               float64       // --aws-qps
	AWSBurst             int           // --aws-burst
	DryRun               bool          // --dry-run
	QueueURL             string        // --queue-url; "" polls only
	HTTPAddr             string        // --http-addr
	LogFormat            string        // --log-format
	LogLevel             string        // --log-level
	Simulate             bool          // --simulate
	SimListen            string        // --sim-listen
	Version              bool          // --version
	Help                 bool          // --help

	fs *pflag.FlagSet
}

// Parse reads args (without the program name) and then, for each flag not given, its environment
// variable through getenv. Flags win over the environment. With --simulate it applies the demo's
// defaults to flags set neither way. It then validates: the error lists every problem found, in
// values and in their combination. With --help or --version it returns before reading the
// environment, with no error, so those always work. A syntax error (unknown flag, missing value)
// stops at once, as the rest of the line cannot be read reliably after it.
func Parse(args []string, getenv func(string) string) (*Options, error) {
	o := &Options{}
	o.fs = o.flagSet()
	if err := o.parse(args, getenv, nil, nil); err != nil {
		return nil, err
	}
	return o, nil
}

// parse is Parse over o.fs, which may carry more flags than the controller's: noEnv names those
// of them never read from the environment, and extra reports their problems after Validate.
func (o *Options) parse(args []string, getenv func(string) string, noEnv []string, extra func() []error) error {
	var problems []error
	envflag.CollectErrors(o.fs, &problems)
	if err := o.fs.Parse(args); err != nil {
		return fmt.Errorf("%w (run with --help to list the flags)", err)
	}
	if o.Help || o.Version {
		return nil
	}
	for _, a := range o.fs.Args() {
		problems = append(problems, fmt.Errorf("unexpected argument %q: %s takes only flags", a, o.fs.Name()))
	}
	if err := envflag.ApplyEnv(o.fs, "", getenv, slices.Concat(noEnvFlags, noEnv)...); err != nil {
		problems = append(problems, err)
	}
	if o.Simulate {
		o.applySimulateDefaults()
	}
	problems = append(problems, o.Validate())
	if extra != nil {
		problems = append(problems, extra()...)
	}
	return errors.Join(problems...)
}

func (o *Options) flagSet() *pflag.FlagSet {
	fs := pflag.NewFlagSet("ecs-drainer", pflag.ContinueOnError)
	// Usage is printed by the caller with PrintUsage; errors are returned, not printed.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false

	fs.StringVar(&o.ASGTag, "asg-tag", "ecs-drainer/enabled=true", "tag selecting managed Auto Scaling groups: `key=value`, or key alone for any value; empty to select by --asg-names only")
	fs.StringSliceVar(&o.ASGNames, "asg-names", nil, "comma-separated Auto Scaling group `names` also managed")
	fs.StringVar(&o.HookName, "hook-name", "", "terminating lifecycle hook acted for (default: the group's single EC2_INSTANCE_TERMINATING hook)")
	fs.BoolVar(&o.ManageHooks, "manage-hooks", false, "create the terminating hook (--hook-name) on managed groups that lack it")
	fs.DurationVar(&o.HookHeartbeatTimeout, "hook-heartbeat-timeout", 300*time.Second, "heartbeat timeout of hooks created by --manage-hooks (30s to 2h)")
	fs.StringSliceVar(&o.Clusters, "clusters", nil, "comma-separated ECS `clusters` to look up container instances in (default: all). An instance registered in no listed cluster is treated as not registered: its hook is completed at once, tasks and all")
	fs.DurationVar(&o.ResyncPeriod, "resync-period", DefaultResyncPeriod, "how often the fleet is listed: one Auto Scaling call per 100 groups and no ECS call with nothing terminating (--simulate: 5s); at most 15s sees every instance in time for any hook")
	fs.DurationVar(&o.PollInterval, "poll-interval", DefaultPollInterval, "how often a drain in progress is looked at again (--simulate: 2s)")
	fs.StringVar(&o.StandaloneTaskPolicy, "standalone-task-policy", reconciler.StandalonePolicyStop, "tasks not started by a service: stop (after --standalone-task-grace) or wait")
	fs.DurationVar(&o.StandaloneTaskGrace, "standalone-task-grace", 5*time.Minute, "how long standalone tasks may keep running on a draining instance before they are stopped (--simulate: 45s)")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", time.Hour, "longest a drain may take before --drain-timeout-action")
	fs.StringVar(&o.DrainTimeoutAction, "drain-timeout-action", reconciler.DrainTimeoutStopTasks, "when a drain times out: stop-tasks, continue or abandon")
	fs.StringVar(&o.RebalanceAction, "rebalance-action", reconciler.RebalanceIgnore, "on an EC2 rebalance recommendation (needs --queue-url): ignore (log and count), or drain (set the container instance DRAINING early)")
	fs.IntVar(&o.Workers, "workers", 4, "instances reconciled in parallel")
	fs.Float64Var(&o.AWSQPS, "aws-qps", 10, "client-side AWS request rate limit, requests per second")
	fs.IntVar(&o.AWSBurst, "aws-burst", 20, "client-side AWS request burst")
	fs.BoolVar(&o.DryRun, "dry-run", false, "log what would be done, change nothing on AWS")
	fs.StringVar(&o.QueueURL, "queue-url", "", "`URL` of an SQS queue fed by EventBridge rules or the hooks' notification target: drains start within a second of the event (default: poll only; polling stays on either way)")
	fs.StringVar(&o.HTTPAddr, "http-addr", ":8080", "`address` serving /metrics, /healthz, /readyz and the drains page (/ and /drains)")
	fs.StringVar(&o.LogFormat, "log-format", LogFormatJSON, "json, or console for people (--simulate: console)")
	fs.StringVar(&o.LogLevel, "log-level", LogLevelInfo, "info or debug")
	fs.BoolVar(&o.Simulate, "simulate", false, "run against an in-process AWS simulator with a live demo fleet")
	fs.StringVar(&o.SimListen, "sim-listen", "127.0.0.1:0", "`address` of the simulator with --simulate (port 0 picks a free one)")
	fs.BoolVar(&o.Version, "version", false, "print the version and exit")
	fs.BoolVarP(&o.Help, "help", "h", false, "print this help and exit")
	return fs
}

// applySimulateDefaults makes the demo watchable: console logs and quick loops, unless the
// person chose otherwise by flag or environment.
func (o *Options) applySimulateDefaults() {
	if !o.IsSet("log-format") {
		o.LogFormat = LogFormatConsole
	}
	if !o.IsSet("resync-period") {
		o.ResyncPeriod = SimulateResyncPeriod
	}
	if !o.IsSet("poll-interval") {
		o.PollInterval = SimulatePollInterval
	}
	if !o.IsSet("standalone-task-grace") {
		o.StandaloneTaskGrace = SimulateStandaloneTaskGrace
	}
}

// IsSet reports whether flag name was given on the command line or by its environment variable.
func (o *Options) IsSet(name string) bool {
	return o.fs != nil && o.fs.Changed(name)
}

// PrintUsage writes the --help text: every flag with its environment variable and default.
func (o *Options) PrintUsage(w io.Writer) error {
	fs := o.fs
	if fs == nil {
		fs = (&Options{}).flagSet()
	}
	if _, err := fmt.Fprint(w, "Usage: ecs-drainer [flags]\n"+
		"       ecs-drainer check [flags]   check the setup once, change nothing (check --help)\n\n"+
		"Drains ECS container instances held in Terminating:Wait by an Auto Scaling lifecycle hook, then\n"+
		"completes the lifecycle action. Each flag can also be set by the environment variable shown;\n"+
		"a flag on the command line wins.\n\nFlags:\n"); err != nil {
		return fmt.Errorf("writing usage: %w", err)
	}
	return envflag.PrintUsage(w, fs, "", noEnvFlags...)
}

// Validate reports every problem of the configuration at once, joined; each names the flag and
// its environment variable, the bad value and what is accepted. The flags' own syntax and limits
// are checked here; what the controller accepts is the reconciler's Config.Problems, reported for
// every setting not already reported here.
func (o *Options) Validate() error {
	fs := o.fs
	if fs == nil {
		fs = (&Options{}).flagSet()
	}
	v := &validation{isFlag: func(name string) bool { return fs.Lookup(name) != nil }}
	o.checkSelection(v)
	o.checkHooks(v)
	o.checkLimits(v)
	if err := o.EventsConfig().Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			// events.Config names the flag itself ("--queue-url ...").
			v.bad("queue-url", "%s", strings.TrimPrefix(line, "--queue-url "))
		}
	}
	for _, p := range o.ReconcilerConfig().Problems() {
		if !v.reported[p.Setting] {
			v.bad(p.Setting, "%s", p.Detail)
		}
	}
	return errors.Join(v.problems...)
}

// validation collects problems, one per line, each naming the flag and its environment variable.
type validation struct {
	problems []error
	reported map[string]bool
	isFlag   func(name string) bool
}

// flagRef matches a flag named in a problem's detail ("--asg-names").
var flagRef = regexp.MustCompile(`--([a-z][a-z0-9-]*)`)

func (v *validation) bad(flag, format string, args ...any) {
	if v.reported == nil {
		v.reported = map[string]bool{}
	}
	v.reported[flag] = true
	detail := fmt.Sprintf(format, args...)
	// Other flags named in the detail get their environment variable too.
	detail = flagRef.ReplaceAllStringFunc(detail, func(ref string) string {
		if name := strings.TrimPrefix(ref, "--"); v.isFlag(name) {
			return ref + " (" + envflag.EnvName("", name) + ")"
		}
		return ref
	})
	v.problems = append(v.problems, fmt.Errorf("--%s (%s) %s", flag, envflag.EnvName("", flag), detail))
}

// checkSelection checks the syntax of --asg-tag and --asg-names.
func (o *Options) checkSelection(v *validation) {
	key, value, hasValue := strings.Cut(o.ASGTag, "=")
	switch {
	case o.ASGTag != "" && key == "":
		v.bad("asg-tag", "is %q: the tag key before '=' is empty; write key=value or key", o.ASGTag)
	case hasValue && value == "":
		// Read as "any value" this would widen the selection to groups tagged key=false; read as
		// "the empty value" it would surprise as much. Neither is guessed.
		v.bad("asg-tag", "is %q: the value after '=' is empty; write key=value (for example %s=true), or key alone to select every value of the key", o.ASGTag, key)
	case len(key) > maxTagKeyLen:
		v.bad("asg-tag", "has a key of %d characters: AWS tag keys are at most %d", len(key), maxTagKeyLen)
	case hasValue && len(value) > maxTagValueLen:
		v.bad("asg-tag", "has a value of %d characters: AWS tag values are at most %d", len(value), maxTagValueLen)
	}
	for _, n := range o.ASGNames {
		if n == "" || len(n) > maxNameLen {
			v.bad("asg-names", "has %q: each Auto Scaling group name must be 1 to %d characters (check for stray commas)", n, maxNameLen)
		}
	}
	for _, c := range o.Clusters {
		if c == "" {
			v.bad("clusters", "has an empty name: check for stray commas")
		}
	}
}

// checkHooks checks --hook-name, --manage-hooks and --hook-heartbeat-timeout.
func (o *Options) checkHooks(v *validation) {
	if o.HookName != "" {
		switch {
		case len(o.HookName) > maxNameLen || !hookNamePattern.MatchString(o.HookName):
			v.bad("hook-name", "is %q: a lifecycle hook name is 1 to %d of A-Z a-z 0-9 - _ /", o.HookName, maxNameLen)
		case o.HookName == ECSManagedHookName:
			v.bad("hook-name", "is %q: that hook belongs to ECS managed instance draining, which completes it itself; name your own hook", o.HookName)
		}
	}
	if o.ManageHooks && o.HookName == "" {
		v.bad("manage-hooks", "is set but --hook-name is empty: name the hook to create")
	}
	if o.HookHeartbeatTimeout < minHookHeartbeat || o.HookHeartbeatTimeout > maxHookHeartbeat || o.HookHeartbeatTimeout%time.Second != 0 {
		v.bad("hook-heartbeat-timeout", "is %s: Auto Scaling accepts whole seconds from %s to %s", o.HookHeartbeatTimeout, minHookHeartbeat, maxHookHeartbeat)
	}
}

// checkLimits checks the flags whose limits are the binary's own: workers, request rate, logs,
// addresses.
func (o *Options) checkLimits(v *validation) {
	oneOf := func(flag, got string, allowed ...string) {
		if !slices.Contains(allowed, got) {
			v.bad(flag, "is %q: must be one of %s", got, strings.Join(allowed, ", "))
		}
	}
	oneOf("log-format", o.LogFormat, LogFormatJSON, LogFormatConsole)
	oneOf("log-level", o.LogLevel, LogLevelInfo, LogLevelDebug)
	if o.Workers < 1 || o.Workers > maxWorkers {
		v.bad("workers", "is %d: must be from 1 to %d", o.Workers, maxWorkers)
	}
	if math.IsNaN(o.AWSQPS) || math.IsInf(o.AWSQPS, 0) || o.AWSQPS <= 0 {
		v.bad("aws-qps", "is %v: must be a positive number of requests per second", o.AWSQPS)
	}
	if o.AWSBurst < 1 {
		v.bad("aws-burst", "is %d: must be at least 1", o.AWSBurst)
	}
	if err := checkAddr(o.HTTPAddr); err != nil {
		v.bad("http-addr", "is %q: %v", o.HTTPAddr, err)
	}
	if o.Simulate {
		if err := checkAddr(o.SimListen); err != nil {
			v.bad("sim-listen", "is %q: %v", o.SimListen, err)
		}
	}
}

// checkAddr accepts what net.Listen("tcp", addr) accepts in the usual forms: host:port, :port,
// [ipv6]:port, with a numeric port.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("write host:port, such as :8080 or 127.0.0.1:8080")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > maxHTTPPortNumber {
		return fmt.Errorf("port %q must be a number from 0 to %d", port, maxHTTPPortNumber)
	}
	return nil
}

// TagFilter splits --asg-tag into key and value; value "" means any value of the key.
func (o *Options) TagFilter() (key, value string) {
	key, value, _ = strings.Cut(o.ASGTag, "=")
	return key, value
}

// ReconcilerConfig converts the options into the reconciler's configuration.
func (o *Options) ReconcilerConfig() reconciler.Config {
	key, value := o.TagFilter()
	return reconciler.Config{
		ASGTagKey:            key,
		ASGTagValue:          value,
		ASGNames:             o.ASGNames,
		HookName:             o.HookName,
		ManageHooks:          o.ManageHooks,
		HookHeartbeatTimeout: o.HookHeartbeatTimeout,
		Clusters:             o.Clusters,
		ResyncPeriod:         o.ResyncPeriod,
		PollInterval:         o.PollInterval,
		StandaloneTaskPolicy: o.StandaloneTaskPolicy,
		StandaloneTaskGrace:  o.StandaloneTaskGrace,
		DrainTimeout:         o.DrainTimeout,
		DrainTimeoutAction:   o.DrainTimeoutAction,
		RebalanceAction:      o.RebalanceAction,
		Workers:              o.Workers,
		AWSQPS:               o.AWSQPS,
		DryRun:               o.DryRun,
	}
}

// EventsConfig converts the options into the event consumer's configuration (disabled when
// --queue-url is empty).
func (o *Options) EventsConfig() events.Config {
	return events.Config{QueueURL: o.QueueURL}
}
