package options

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spf13/pflag"

	"github.com/ecs-drainer/ecs-drainer/pkg/options/envflag"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler"
)

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseDefaults(t *testing.T) {
	o, err := Parse(nil, envFrom(nil))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := reconciler.Config{
		ASGTagKey:            "ecs-drainer/enabled",
		ASGTagValue:          "true",
		HookHeartbeatTimeout: 300 * time.Second,
		ResyncPeriod:         10 * time.Second,
		PollInterval:         5 * time.Second,
		StandaloneTaskPolicy: "stop",
		StandaloneTaskGrace:  5 * time.Minute,
		DrainTimeout:         time.Hour,
		DrainTimeoutAction:   "stop-tasks",
		RebalanceAction:      "ignore",
		Workers:              4,
		AWSQPS:               10,
	}
	if diff := cmp.Diff(want, o.ReconcilerConfig(), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("ReconcilerConfig() mismatch (-want +got):\n%s", diff)
	}
	if o.AWSQPS != 10 || o.AWSBurst != 20 || o.HTTPAddr != ":8080" || o.LogFormat != "json" || o.LogLevel != "info" || o.DryRun || o.Simulate {
		t.Errorf("defaults: got %+v", o)
	}
}

// parseValueTests are what Parse reads from flags and the environment: the options it sets.
var parseValueTests = []struct {
	name string
	args []string
	env  map[string]string
	want func(o *Options) bool
}{
	{
		name: "flag sets duration",
		args: []string{"--resync-period=2m"},
		want: func(o *Options) bool { return o.ResyncPeriod == 2*time.Minute },
	},
	{
		name: "env sets duration",
		env:  map[string]string{"RESYNC_PERIOD": "90s"},
		want: func(o *Options) bool { return o.ResyncPeriod == 90*time.Second && o.IsSet("resync-period") },
	},
	{
		name: "flag wins over env",
		args: []string{"--resync-period", "30s"},
		env:  map[string]string{"RESYNC_PERIOD": "abc"},
		want: func(o *Options) bool { return o.ResyncPeriod == 30*time.Second },
	},
	{
		name: "env bool",
		env:  map[string]string{"DRY_RUN": "true", "MANAGE_HOOKS": "1", "HOOK_NAME": "drain"},
		want: func(o *Options) bool { return o.DryRun && o.ManageHooks && o.HookName == "drain" },
	},
	{
		name: "bare bool flag",
		args: []string{"--dry-run"},
		want: func(o *Options) bool { return o.DryRun },
	},
	{
		name: "empty env is unset",
		env:  map[string]string{"WORKERS": ""},
		want: func(o *Options) bool { return o.Workers == 4 && !o.IsSet("workers") },
	},
	{
		name: "lists from env and flags",
		args: []string{"--clusters=a,b"},
		env:  map[string]string{"ASG_NAMES": "x,y"},
		want: func(o *Options) bool {
			return cmp.Equal(o.Clusters, []string{"a", "b"}) && cmp.Equal(o.ASGNames, []string{"x", "y"})
		},
	},
	{
		name: "tag key alone",
		args: []string{"--asg-tag", "team"},
		want: func(o *Options) bool { k, v := o.TagFilter(); return k == "team" && v == "" },
	},
	{
		name: "empty tag with names",
		args: []string{"--asg-tag=", "--asg-names=web"},
		want: func(o *Options) bool {
			k, _ := o.TagFilter()
			return k == "" && o.ReconcilerConfig().ASGNames[0] == "web"
		},
	},
	{
		name: "simulate defaults",
		args: []string{"--simulate"},
		want: func(o *Options) bool {
			return o.LogFormat == "console" && o.ResyncPeriod == SimulateResyncPeriod && o.PollInterval == SimulatePollInterval &&
				o.StandaloneTaskGrace == SimulateStandaloneTaskGrace
		},
	},
	{
		name: "simulate keeps what was given",
		args: []string{"--simulate", "--log-format=json"},
		env:  map[string]string{"POLL_INTERVAL": "7s"},
		want: func(o *Options) bool {
			return o.LogFormat == "json" && o.ResyncPeriod == SimulateResyncPeriod && o.PollInterval == 7*time.Second
		},
	},
	{
		name: "VERSION in the environment is not --version",
		env:  map[string]string{"VERSION": "1.2.3", "HELP": "yes"},
		want: func(o *Options) bool { return !o.Version && !o.Help },
	},
	{
		name: "version skips validation",
		args: []string{"--version"},
		env:  map[string]string{"WORKERS": "zero"},
		want: func(o *Options) bool { return o.Version },
	},
}

func TestParseValues(t *testing.T) {
	for _, tt := range parseValueTests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Parse(tt.args, envFrom(tt.env))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !tt.want(o) {
				t.Errorf("unexpected options: %+v", o)
			}
		})
	}
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // each must appear in the error, one per line
	}{
		{
			name: "bad env duration",
			env:  map[string]string{"RESYNC_PERIOD": "abc"},
			want: []string{`RESYNC_PERIOD="abc" (--resync-period): not a duration`},
		},
		{
			name: "every problem at once",
			args: []string{"--workers=0", "--drain-timeout-action=kill", "--poll-interval=-1s", "--aws-qps=0", "--log-format=xml"},
			env:  map[string]string{"AWS_BURST": "many", "LOG_LEVEL": "trace"},
			want: []string{
				`--workers (WORKERS) is 0: must be from 1 to 256`,
				`--drain-timeout-action (DRAIN_TIMEOUT_ACTION) is "kill": must be one of stop-tasks, continue, abandon`,
				`--poll-interval (POLL_INTERVAL) is -1s: must be at least 1s`,
				`--aws-qps (AWS_QPS) is 0: must be a positive number`,
				`--log-format (LOG_FORMAT) is "xml": must be one of json, console`,
				`AWS_BURST="many" (--aws-burst): not a whole number`,
				`--log-level (LOG_LEVEL) is "trace": must be one of info, debug`,
			},
		},
		{
			name: "odd but parseable values",
			args: []string{"--resync-period=1ns", "--poll-interval=999ms", "--rebalance-action=sometimes"},
			want: []string{
				`--resync-period (RESYNC_PERIOD) is 1ns: must be at least 1s`,
				`--poll-interval (POLL_INTERVAL) is 999ms: must be at least 1s`,
				`--rebalance-action (REBALANCE_ACTION) is "sometimes": must be one of ignore, drain`,
			},
		},
		{
			name: "bad flag values are all reported",
			args: []string{"--resync-period=soon", "--dry-run=maybe", "--workers=x"},
			want: []string{
				`--resync-period="soon": not a duration`,
				`--dry-run="maybe": not a boolean`,
				`--workers="x": not a whole number`,
			},
		},
		{
			// events.Config.Validate's words, under the flag and its variable.
			name: "a FIFO queue from the environment",
			env:  map[string]string{"QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/events.fifo"},
			want: []string{`--queue-url (QUEUE_URL) "https://sqs.us-east-1.amazonaws.com/123456789012/events.fifo" is a FIFO queue`},
		},
		{
			name: "nothing to manage",
			args: []string{"--asg-tag="},
			want: []string{`--asg-tag (ASG_TAG) is empty and --asg-names (ASG_NAMES) names no group`},
		},
		{
			name: "tag without key",
			args: []string{"--asg-tag==x"},
			want: []string{`the tag key before '=' is empty`},
		},
		{
			// Never read as "any value": that would select groups tagged ecs-drainer/enabled=false.
			name: "tag with an empty value",
			args: []string{"--asg-tag=ecs-drainer/enabled="},
			want: []string{`--asg-tag (ASG_TAG) is "ecs-drainer/enabled=": the value after '=' is empty; write key=value (for example ecs-drainer/enabled=true), or key alone`},
		},
		{
			name: "hooks",
			args: []string{"--manage-hooks", "--hook-heartbeat-timeout=10s", "--asg-names=a,,b"},
			want: []string{
				`--manage-hooks (MANAGE_HOOKS) is set but --hook-name (HOOK_NAME) is empty`,
				`--hook-heartbeat-timeout (HOOK_HEARTBEAT_TIMEOUT) is 10s: Auto Scaling accepts whole seconds from 30s to 2h0m0s`,
				`--asg-names (ASG_NAMES) has ""`,
			},
		},
		{
			name: "ECS managed hook",
			args: []string{"--hook-name", ECSManagedHookName},
			want: []string{`belongs to ECS managed instance draining`},
		},
		{
			name: "bad hook name",
			args: []string{"--hook-name", "has space"},
			want: []string{`--hook-name (HOOK_NAME) is "has space": a lifecycle hook name is 1 to 255 of`},
		},
		{
			name: "poll slower than created hook",
			args: []string{"--manage-hooks", "--hook-name=h", "--hook-heartbeat-timeout=60s", "--resync-period=30s", "--poll-interval=2m"},
			want: []string{`--poll-interval (POLL_INTERVAL) is 2m0s, not shorter than --hook-heartbeat-timeout`},
		},
		{
			name: "resync slower than half the created hook's heartbeat timeout",
			args: []string{"--manage-hooks", "--hook-name=h", "--hook-heartbeat-timeout=60s", "--resync-period=31s"},
			want: []string{`--resync-period (RESYNC_PERIOD) is 31s, more than half --hook-heartbeat-timeout (HOOK_HEARTBEAT_TIMEOUT) 1m0s`},
		},
		{
			name: "addresses",
			args: []string{"--http-addr=8080", "--simulate", "--sim-listen=localhost:99999"},
			want: []string{
				`--http-addr (HTTP_ADDR) is "8080": write host:port`,
				`--sim-listen (SIM_LISTEN) is "localhost:99999": port "99999" must be a number from 0 to 65535`,
			},
		},
		{
			name: "policy and grace",
			env:  map[string]string{"STANDALONE_TASK_POLICY": "kill", "STANDALONE_TASK_GRACE": "-5s", "CLUSTERS": "a,"},
			want: []string{
				`--standalone-task-policy (STANDALONE_TASK_POLICY) is "kill": must be one of stop, wait`,
				`--standalone-task-grace (STANDALONE_TASK_GRACE) is -5s`,
				`--clusters (CLUSTERS) has an empty name`,
			},
		},
		{
			name: "positional argument",
			args: []string{"run"},
			want: []string{`unexpected argument "run"`},
		},
		{
			name: "unknown flag",
			args: []string{"--frobnicate"},
			want: []string{`unknown flag: --frobnicate (run with --help to list the flags)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Parse(tt.args, envFrom(tt.env))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want an error", o)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q; got:\n%s", w, msg)
				}
			}
			if got := len(strings.Split(msg, "\n")); got != len(tt.want) {
				t.Errorf("error has %d lines, want %d:\n%s", got, len(tt.want), msg)
			}
		})
	}
}

func TestPrintUsageListsEveryFlagWithEnv(t *testing.T) {
	o, err := Parse([]string{"--help"}, envFrom(nil))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !o.Help {
		t.Fatal("--help not recorded")
	}
	var b bytes.Buffer
	if err := o.PrintUsage(&b); err != nil {
		t.Fatalf("PrintUsage: %v", err)
	}
	out := b.String()
	o.fs.VisitAll(func(f *pflag.Flag) {
		if !strings.Contains(out, "--"+f.Name) {
			t.Errorf("usage lacks --%s", f.Name)
		}
		if slices.Contains(noEnvFlags, f.Name) {
			return
		}
		if !strings.Contains(out, "$"+envflag.EnvName("", f.Name)) {
			t.Errorf("usage lacks $%s", envflag.EnvName("", f.Name))
		}
	})
	for _, w := range []string{"(default ecs-drainer/enabled=true)", "(default 1h0m0s)", "$DRY_RUN"} {
		if !strings.Contains(out, w) {
			t.Errorf("usage lacks %q:\n%s", w, out)
		}
	}
}

// FuzzParse proves that no command line or environment makes Parse panic, and that whatever it
// accepts also validates and converts.
func FuzzParse(f *testing.F) {
	seeds := []struct{ args, env string }{
		{"", ""},
		{"--resync-period=1m\x00--poll-interval=5s", "DRY_RUN=true"},
		{"--asg-tag=a=b=c", "RESYNC_PERIOD=abc"},
		{"--asg-tag\x00key", "ASG_NAMES=a,,b"},
		{"--workers=-1\x00--aws-qps=NaN", "AWS_QPS=+Inf"},
		{"--simulate\x00--sim-listen=[::1]:0", "LOG_FORMAT=console"},
		{"--version", "VERSION=x"},
		{"-h", ""},
		{"--frobnicate", ""},
		{"--clusters=", "CLUSTERS=,"},
		{"--hook-name=a/b_c-d\x00--manage-hooks", "HOOK_HEARTBEAT_TIMEOUT=1.5s"},
		{"--dry-run=maybe\x00--http-addr", ""},
		{"--", "HTTP_ADDR=:http"},
	}
	for _, s := range seeds {
		f.Add(s.args, s.env)
	}
	f.Fuzz(func(t *testing.T, args, env string) {
		var argv []string
		if args != "" {
			argv = strings.Split(args, "\x00")
		}
		vars := map[string]string{}
		for _, line := range strings.Split(env, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				vars[k] = v
			}
		}
		o, err := Parse(argv, envFrom(vars))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if o.Help || o.Version {
			return
		}
		if err := o.Validate(); err != nil {
			t.Fatalf("Parse accepted options that Validate rejects: %v", err)
		}
		_ = o.ReconcilerConfig()
	})
}
