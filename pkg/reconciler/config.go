package reconciler

import (
	"errors"
	"fmt"
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

// timeoutActionLabel is the drain_timeouts_total action label of a drain timeout action.
func timeoutActionLabel(action string) string {
	return map[string]string{
		DrainTimeoutStopTasks: metrics.ActionStopTasks,
		DrainTimeoutContinue:  metrics.ActionContinue,
		DrainTimeoutAbandon:   metrics.ActionAbandon,
	}[action]
}

// Config is what the controller manages and how. See docs/design.md for the matching flags.
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
	// DryRun logs every write it would make and makes none.
	DryRun bool
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.ASGTagKey == "" && len(c.ASGNames) == 0 {
		errs = append(errs, errors.New("no groups selected: set an ASG tag key or ASG names"))
	}
	if c.ManageHooks {
		lo, hi := awsapi.MinHookHeartbeatTimeoutSeconds*time.Second, awsapi.MaxHookHeartbeatTimeoutSeconds*time.Second
		if c.HookHeartbeatTimeout < lo || c.HookHeartbeatTimeout > hi {
			errs = append(errs, fmt.Errorf("hook heartbeat timeout %s must be between %s and %s", c.HookHeartbeatTimeout, lo, hi))
		}
		if c.ResyncPeriod > c.HookHeartbeatTimeout/2 {
			// An instance is first seen up to a resync after its action started; its first heartbeat
			// must come before the heartbeat timeout.
			errs = append(errs, fmt.Errorf("resync period %s must be at most half the hook heartbeat timeout %s", c.ResyncPeriod, c.HookHeartbeatTimeout))
		}
	}
	if c.ResyncPeriod <= 0 {
		errs = append(errs, fmt.Errorf("resync period %s must be positive", c.ResyncPeriod))
	}
	if c.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("poll interval %s must be positive", c.PollInterval))
	}
	switch c.StandaloneTaskPolicy {
	case StandalonePolicyStop, StandalonePolicyWait:
	default:
		errs = append(errs, fmt.Errorf("standalone task policy %q must be %q or %q", c.StandaloneTaskPolicy, StandalonePolicyStop, StandalonePolicyWait))
	}
	if c.StandaloneTaskGrace < 0 {
		errs = append(errs, fmt.Errorf("standalone task grace %s must not be negative", c.StandaloneTaskGrace))
	}
	if c.DrainTimeout <= 0 {
		errs = append(errs, fmt.Errorf("drain timeout %s must be positive", c.DrainTimeout))
	}
	switch c.DrainTimeoutAction {
	case DrainTimeoutStopTasks, DrainTimeoutContinue, DrainTimeoutAbandon:
	default:
		errs = append(errs, fmt.Errorf("drain timeout action %q must be %q, %q or %q", c.DrainTimeoutAction, DrainTimeoutStopTasks, DrainTimeoutContinue, DrainTimeoutAbandon))
	}
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("workers %d must be at least 1", c.Workers))
	}
	if c.AWSQPS < 0 {
		errs = append(errs, fmt.Errorf("AWS request rate %v must not be negative", c.AWSQPS))
	}
	return errors.Join(errs...)
}
