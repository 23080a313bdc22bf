package reconciler

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler/ecsview"
)

// This file is the reconciler's decisions about a group, exported for `ecs-drainer check`
// (pkg/check), which must report exactly what the controller would do: which groups it manages
// (SelectGroups, through the same listing as discovery) and which hook it acts for on each, with
// the timeouts that then apply (ChooseHook, through selectHook and the same timeout arithmetic).
// Nothing here is a second copy: discovery calls the same unexported functions.

// TransitionTerminating is the lifecycle transition of the hooks the controller acts for.
const TransitionTerminating = awsapi.TransitionTerminating

// HookProblem says why no hook can be acted for on a group; HookOK when one can.
type HookProblem = hookProblem

// The values of HookProblem (see hookProblem).
const (
	HookOK             = hookOK
	HookNotFound       = hookNotFound
	HookNotTerminating = hookNotTerminating
	HookIsECSManaged   = hookIsECSManaged
	HookNone           = hookNone
	HookOnlyECSManaged = hookOnlyECSManaged
	HookAmbiguous      = hookAmbiguous
)

// SelectedGroup is one Auto Scaling group the configuration selects, as the listing showed it.
type SelectedGroup struct {
	// Why says what selected it: "tag key=value", "named", or both.
	Why   string
	Group astypes.AutoScalingGroup
}

// SelectGroups lists the groups cfg selects, sorted by name, with the same calls and the same
// confirmation of the tag as discovery.
func SelectGroups(ctx context.Context, as autoscaling.DescribeAutoScalingGroupsAPIClient, cfg Config) ([]SelectedGroup, error) {
	byName := map[string]SelectedGroup{}
	err := visitSelectedGroups(ctx, as, cfg, func(g *astypes.AutoScalingGroup, why string) {
		byName[aws.ToString(g.AutoScalingGroupName)] = SelectedGroup{Why: why, Group: *g}
	})
	if err != nil {
		return nil, err
	}
	out := make([]SelectedGroup, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, byName[name])
	}
	return out, nil
}

// HookChoice is the hook the controller acts for on one group, or why there is none, with the
// timeouts that apply to its drains.
type HookChoice struct {
	// Hook is the hook acted for; "" unless Problem is HookOK.
	Hook string
	// HeartbeatTimeout and GlobalTimeout are Hook's (for a hook --manage-hooks would create, the
	// ones it would get).
	HeartbeatTimeout, GlobalTimeout time.Duration
	Problem                         HookProblem
	// ECSManaged is set when ECS's managed draining hook is on the group.
	ECSManaged bool
	// Candidates names the terminating hooks when the choice is ambiguous.
	Candidates []string
	// CreatesHook is set when --manage-hooks would create Hook on the group (Problem then still
	// says what is missing).
	CreatesHook bool
	// DrainTimeout is the drain timeout that applies under Hook; DrainTimeoutCut says the
	// configured one was cut to end before the hook's global timeout.
	DrainTimeout    time.Duration
	DrainTimeoutCut bool
	// GlobalTimeoutNeeded is the global timeout under which the configured drain timeout would
	// apply uncut.
	GlobalTimeoutNeeded time.Duration
	// ResyncPeriod is how often discovery lists the fleet because of this hook; ResyncShortened
	// says it is shorter than the configured one, because the heartbeat timeout is short.
	ResyncPeriod    time.Duration
	ResyncShortened bool
}

// ChooseHook chooses, among a group's hooks as DescribeLifecycleHooks returns them, the hook the
// controller configured by cfg acts for, as discovery does.
func ChooseHook(cfg Config, hooks []astypes.LifecycleHook) HookChoice {
	sel := selectHook(hooks, cfg.HookName)
	ch := HookChoice{Problem: sel.problem, ECSManaged: sel.ecsManaged, Candidates: sel.candidates, CreatesHook: createsHook(cfg, sel)}
	h := sel.hook
	if ch.CreatesHook {
		h = createdHook(cfg)
	}
	if h.name == "" {
		return ch
	}
	ch.Hook, ch.HeartbeatTimeout, ch.GlobalTimeout = h.name, h.heartbeatTimeout, h.globalTimeout
	ch.DrainTimeout, ch.DrainTimeoutCut = drainTimeoutUnder(cfg, h)
	ch.GlobalTimeoutNeeded = cfg.DrainTimeout + globalMargin(cfg)
	ch.ResyncPeriod, ch.ResyncShortened = resyncFor(cfg, h)
	return ch
}

// createsHook reports whether --manage-hooks creates the hook on a group with this selection:
// the hook is missing, and ECS does not drain the group itself.
func createsHook(cfg Config, sel hookSelection) bool {
	return cfg.ManageHooks && sel.problem.missing() && !sel.ecsManaged
}

// createdHook is the hook --manage-hooks creates: the configured name, heartbeat timeout, and
// the global timeout AWS then gives it.
func createdHook(cfg Config) hookInfo {
	name := cfg.HookName
	if name == "" {
		name = DefaultHookName
	}
	return hookInfo{name: name, heartbeatTimeout: cfg.HookHeartbeatTimeout, globalTimeout: globalTimeout(cfg.HookHeartbeatTimeout, 0)}
}

// InstanceFilter is the cluster query language expression the controller looks instances up
// with in ListContainerInstances: these EC2 instance IDs, at most awsapi.MaxInstanceIDFilter.
func InstanceFilter(ids []string) string { return ecsview.InstanceFilter(ids) }
