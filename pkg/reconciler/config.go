package reconciler

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// Standalone task policies (Config.StandaloneTaskPolicy, --standalone-task-policy).
const (
	StandalonePolicyStop = "stop"
	StandalonePolicyWait = "wait"
)

// StandalonePolicies are the values Config.StandaloneTaskPolicy accepts.
var StandalonePolicies = []string{StandalonePolicyStop, StandalonePolicyWait}

// Drain timeout actions (Config.DrainTimeoutAction, --drain-timeout-action).
const (
	DrainTimeoutStopTasks = "stop-tasks"
	DrainTimeoutContinue  = "continue"
	DrainTimeoutAbandon   = "abandon"
)

// DrainTimeoutActions are the values Config.DrainTimeoutAction accepts.
var DrainTimeoutActions = []string{DrainTimeoutStopTasks, DrainTimeoutContinue, DrainTimeoutAbandon}

// Rebalance recommendation actions (Config.RebalanceAction, --rebalance-action).
const (
	// RebalanceIgnore logs and counts an EC2 Instance Rebalance Recommendation and does nothing
	// more: a group with Capacity Rebalancing replaces the instance through its terminating hook,
	// which drains it as any scale-in.
	RebalanceIgnore = "ignore"
	// RebalanceDrain sets the container instance DRAINING at the recommendation, so ECS moves its
	// service tasks off before an interruption; the rest of the drain waits for the lifecycle
	// action (or a Spot interruption warning).
	RebalanceDrain = "drain"
)

// RebalanceActions are the values Config.RebalanceAction accepts.
var RebalanceActions = []string{RebalanceIgnore, RebalanceDrain}

// timeoutActionLabel is the drain_timeouts_total action label of a drain timeout action.
func timeoutActionLabel(action string) string {
	return map[string]string{
		DrainTimeoutStopTasks: metrics.ActionStopTasks,
		DrainTimeoutContinue:  metrics.ActionContinue,
		DrainTimeoutAbandon:   metrics.ActionAbandon,
	}[action]
}

// MinLoopPeriod is the shortest resync period and poll interval accepted.
const MinLoopPeriod = time.Second

// Config is what the controller manages and how; pkg/options maps the flags (README,
// "Configuration") onto it.
type Config struct {
	// ASGTagKey and ASGTagValue select managed groups by tag; an empty value matches any value, an
	// empty key disables tag selection.
	ASGTagKey, ASGTagValue string
	// ASGNames are managed groups named explicitly, in addition to the tagged ones.
	ASGNames []string
	// HookName is the terminating hook acted for; "" selects the group's single
	// EC2_INSTANCE_TERMINATING hook.
	HookName string
	// ManageHooks makes sure every managed group has the hook, creating it when missing.
	ManageHooks bool
	// HookHeartbeatTimeout is the heartbeat timeout of hooks the controller creates.
	HookHeartbeatTimeout time.Duration
	// Clusters restricts container instance lookups to these clusters; empty means all.
	Clusters []string
	// ResyncPeriod is how often the groups are listed; PollInterval how often a drain is looked at.
	ResyncPeriod, PollInterval time.Duration
	// StandaloneTaskPolicy is StandalonePolicyStop (stop standalone tasks after the grace period)
	// or StandalonePolicyWait.
	StandaloneTaskPolicy string
	// StandaloneTaskGrace is how long after the drain started standalone tasks are left to finish.
	StandaloneTaskGrace time.Duration
	// DrainTimeout bounds a drain; DrainTimeoutAction says how it then ends.
	DrainTimeout       time.Duration
	DrainTimeoutAction string
	// Workers is how many queue items are reconciled at once.
	Workers int
	// AWSQPS is the client-side Auto Scaling request rate (requests per second; 0: unlimited). It
	// sizes the heartbeat workers (HeartbeatWorkersFor) and is what heartbeats due are weighed
	// against before they fall behind.
	AWSQPS float64
	// RebalanceAction is what an EC2 Instance Rebalance Recommendation for an instance of a
	// managed group does: RebalanceIgnore or RebalanceDrain.
	RebalanceAction string
	// DryRun logs every write it would make and makes none.
	DryRun bool
}

// Problem is one thing wrong with a Config: the setting, named as its flag ("drain-timeout"), and
// what is wrong with it, worded to follow the flag ("is 0s: must be a positive duration ...").
// Other settings are named as flags too ("--hook-heartbeat-timeout"), so pkg/options can add
// their environment variables.
type Problem struct {
	Setting string
	Detail  string
}

func (p Problem) Error() string { return "--" + p.Setting + " " + p.Detail }

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	problems := c.Problems()
	errs := make([]error, 0, len(problems))
	for _, p := range problems {
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

// Problems lists every problem with the configuration. It is the one validator of what the
// controller accepts; pkg/options adds the checks of the flags' own syntax and limits.
func (c Config) Problems() []Problem {
	var ps []Problem
	bad := func(setting, format string, args ...any) {
		ps = append(ps, Problem{Setting: setting, Detail: fmt.Sprintf(format, args...)})
	}
	if c.ASGTagKey == "" && len(c.ASGNames) == 0 {
		bad("asg-tag", "is empty and --asg-names names no group: nothing would be managed; set either")
	}
	ps = append(ps, c.hookProblems()...)
	for _, d := range []struct {
		setting string
		value   time.Duration
	}{{"resync-period", c.ResyncPeriod}, {"poll-interval", c.PollInterval}} {
		if d.value < MinLoopPeriod {
			// Each is a loop's period: shorter ones spend the request budget on looking again.
			bad(d.setting, "is %s: must be at least %s, such as 10s", d.value, MinLoopPeriod)
		}
	}
	if c.DrainTimeout <= 0 {
		bad("drain-timeout", "is %s: must be a positive duration such as 30m or 1h", c.DrainTimeout)
	}
	if !slices.Contains(StandalonePolicies, c.StandaloneTaskPolicy) {
		bad("standalone-task-policy", "is %q: must be one of %s", c.StandaloneTaskPolicy, strings.Join(StandalonePolicies, ", "))
	}
	if c.StandaloneTaskGrace < 0 {
		bad("standalone-task-grace", "is %s: must be zero (stop at once) or a positive duration", c.StandaloneTaskGrace)
	}
	if !slices.Contains(DrainTimeoutActions, c.DrainTimeoutAction) {
		bad("drain-timeout-action", "is %q: must be one of %s", c.DrainTimeoutAction, strings.Join(DrainTimeoutActions, ", "))
	}
	if !slices.Contains(RebalanceActions, c.RebalanceAction) {
		bad("rebalance-action", "is %q: must be one of %s", c.RebalanceAction, strings.Join(RebalanceActions, ", "))
	}
	if c.Workers < 1 {
		bad("workers", "is %d: must be at least 1", c.Workers)
	}
	if c.AWSQPS < 0 {
		bad("aws-qps", "is %v: must not be negative", c.AWSQPS)
	}
	return ps
}

// hookProblems checks the hooks --manage-hooks creates, and that the loops keep up with them.
func (c Config) hookProblems() []Problem {
	if !c.ManageHooks {
		return nil
	}
	hbTimeout := c.HookHeartbeatTimeout
	lo, hi := awsapi.MinHookHeartbeatTimeoutSeconds*time.Second, awsapi.MaxHookHeartbeatTimeoutSeconds*time.Second
	if hbTimeout < lo || hbTimeout > hi {
		return []Problem{{"hook-heartbeat-timeout", fmt.Sprintf("is %s: Auto Scaling accepts whole seconds from %s to %s", hbTimeout, lo, hi)}}
	}
	var ps []Problem
	if c.ResyncPeriod > hbTimeout/2 {
		// An instance is first seen up to a resync after its lifecycle action started, and its first
		// heartbeat must come well within the heartbeat timeout.
		ps = append(ps, Problem{"resync-period", fmt.Sprintf("is %s, more than half --hook-heartbeat-timeout %s: an instance could wait too long before its first heartbeat; lower it", c.ResyncPeriod, hbTimeout)})
	}
	if c.PollInterval >= hbTimeout {
		// Polling slower than the hook's timeout would let hooks this controller created expire
		// between looks at a drain.
		ps = append(ps, Problem{"poll-interval", fmt.Sprintf("is %s, not shorter than --hook-heartbeat-timeout %s: the hooks it creates would expire between polls; lower it", c.PollInterval, hbTimeout)})
	}
	return ps
}
