package reconciler

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
)

const (
	// ECSManagedHookName is the terminating hook ECS managed instance draining puts on capacity
	// provider groups. ECS completes it itself; the controller never does.
	ECSManagedHookName = "ecs-managed-draining-termination-hook"

	// DefaultHookName is the hook --manage-hooks creates when --hook-name is not set.
	DefaultHookName = "ecs-drainer"
)

// hookInfo is the part of a lifecycle hook the controller acts on.
type hookInfo struct {
	name             string
	heartbeatTimeout time.Duration
	globalTimeout    time.Duration
}

// hookProblem says why no hook could be chosen on a group.
type hookProblem int

const (
	hookOK hookProblem = iota
	// hookNotFound: --hook-name names no hook on the group.
	hookNotFound
	// hookNotTerminating: --hook-name names a launching hook.
	hookNotTerminating
	// hookIsECSManaged: --hook-name names ECS's own hook, which the controller must not complete.
	hookIsECSManaged
	// hookNone: no terminating hook at all.
	hookNone
	// hookOnlyECSManaged: the only terminating hook is ECS's.
	hookOnlyECSManaged
	// hookAmbiguous: several terminating hooks and no --hook-name to choose.
	hookAmbiguous
)

func (p hookProblem) String() string {
	switch p {
	case hookOK:
		return "ok"
	case hookNotFound:
		return "named hook not found"
	case hookNotTerminating:
		return "named hook is not a terminating hook"
	case hookIsECSManaged:
		return "named hook is ECS's managed draining hook"
	case hookNone:
		return "no terminating lifecycle hook"
	case hookOnlyECSManaged:
		return "only ECS's managed draining hook"
	case hookAmbiguous:
		return "several terminating hooks; set --hook-name"
	}
	return "unknown"
}

// missing reports whether --manage-hooks may fix the problem by creating the hook.
func (p hookProblem) missing() bool { return p == hookNotFound || p == hookNone }

// hookSelection is the outcome of choosing the hook the controller acts for on one group.
type hookSelection struct {
	hook    hookInfo
	problem hookProblem
	// ecsManaged is set when ECS's managed draining hook is on the group (ECS drains it too).
	ecsManaged bool
	// candidates names the terminating hooks when the choice is ambiguous.
	candidates []string
}

// selectHook chooses the terminating hook to act for among a group's hooks: the one named want, or,
// when want is "", the single terminating hook other than ECS's managed one.
func selectHook(hooks []astypes.LifecycleHook, want string) hookSelection {
	if want != "" {
		return selectNamedHook(hooks, want)
	}
	var sel hookSelection
	var terminating []astypes.LifecycleHook
	for _, h := range hooks {
		if !isTerminating(h) {
			continue
		}
		if aws.ToString(h.LifecycleHookName) == ECSManagedHookName {
			sel.ecsManaged = true
			continue
		}
		terminating = append(terminating, h)
	}
	switch len(terminating) {
	case 0:
		sel.problem = hookNone
		if sel.ecsManaged {
			sel.problem = hookOnlyECSManaged
		}
	case 1:
		sel.hook = toHookInfo(terminating[0])
	default:
		sel.problem = hookAmbiguous
		for _, h := range terminating {
			sel.candidates = append(sel.candidates, aws.ToString(h.LifecycleHookName))
		}
	}
	return sel
}

// selectNamedHook chooses the hook named want (--hook-name), which must be a terminating hook other
// than ECS's managed one.
func selectNamedHook(hooks []astypes.LifecycleHook, want string) hookSelection {
	sel := hookSelection{problem: hookNotFound}
	for _, h := range hooks {
		name := aws.ToString(h.LifecycleHookName)
		if name == ECSManagedHookName && isTerminating(h) {
			sel.ecsManaged = true
		}
		if name != want {
			continue
		}
		switch {
		case name == ECSManagedHookName:
			sel.problem = hookIsECSManaged
		case !isTerminating(h):
			sel.problem = hookNotTerminating
		default:
			sel.hook, sel.problem = toHookInfo(h), hookOK
		}
	}
	return sel
}

func isTerminating(h astypes.LifecycleHook) bool {
	return aws.ToString(h.LifecycleTransition) == awsapi.TransitionTerminating
}

func toHookInfo(h astypes.LifecycleHook) hookInfo {
	hbTimeout := time.Duration(aws.ToInt32(h.HeartbeatTimeout)) * time.Second
	return hookInfo{
		name:             aws.ToString(h.LifecycleHookName),
		heartbeatTimeout: hbTimeout,
		globalTimeout:    globalTimeout(hbTimeout, time.Duration(aws.ToInt32(h.GlobalTimeout))*time.Second),
	}
}
