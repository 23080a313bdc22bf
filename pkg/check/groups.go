package check

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"golang.org/x/sync/errgroup"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler"
)

const (
	actDescribeGroups = "autoscaling:DescribeAutoScalingGroups"
	actDescribeHooks  = "autoscaling:DescribeLifecycleHooks"

	// hookDescribers is how many groups' hooks are described at a time (as discovery does).
	hookDescribers = 10
	// probeGroupName names no group: describing its hooks proves the permission (IAM answers
	// before Auto Scaling looks for the group) when no group is selected to describe.
	probeGroupName = "ecs-drainer-check-permission-probe"

	resultAbandon = "ABANDON"
)

// groupCheck is one selected group while it is checked.
type groupCheck struct {
	out    Group
	group  astypes.AutoScalingGroup
	choice reconciler.HookChoice
	// inService are its in-service instances, sorted.
	inService []string
}

// checkGroups lists the groups the controller would select, explains the near misses, and
// describes and judges every selected group's hooks.
func (c *checker) checkGroups(ctx context.Context) []*groupCheck {
	selected, err := reconciler.SelectGroups(ctx, c.as, c.rcfg)
	c.permission(actDescribeGroups, "*", err)
	if err != nil {
		return nil
	}
	c.checkUnselected(ctx, selected)
	if len(selected) == 0 {
		c.noGroupSelected()
		// Prove the permission anyway, so a fleet about to be tagged is ready.
		_, err := c.as.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String(probeGroupName)})
		c.permission(actDescribeHooks, "*", err)
		return nil
	}
	groups := make([]*groupCheck, len(selected))
	hooks := make([][]astypes.LifecycleHook, len(selected))
	errs := make([]error, len(selected))
	var describers errgroup.Group
	describers.SetLimit(hookDescribers)
	for i, s := range selected {
		groups[i] = newGroupCheck(s)
		describers.Go(func() error {
			out, err := c.as.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: s.Group.AutoScalingGroupName})
			if err == nil {
				hooks[i] = out.LifecycleHooks
			}
			errs[i] = err
			return nil // each group's error is its own
		})
	}
	_ = describers.Wait()
	for i, g := range groups {
		c.checkPolicyTag(g)
		c.permission(actDescribeHooks, "*", errs[i])
		if errs[i] != nil {
			c.groupProblem(g.out.Name, SeverityFail, "hooks-unreadable", "its lifecycle hooks could not be described: "+errs[i].Error(), fixReachAWS)
			continue
		}
		c.judgeHooks(g, hooks[i])
	}
	return groups
}

func newGroupCheck(s reconciler.SelectedGroup) *groupCheck {
	g := &groupCheck{group: s.Group}
	g.out = Group{Name: aws.ToString(s.Group.AutoScalingGroupName), SelectedBy: s.Why, Hooks: []Hook{}, RegisteredIn: []Registration{}}
	for _, in := range s.Group.Instances {
		if in.LifecycleState == astypes.LifecycleStateInService {
			g.inService = append(g.inService, aws.ToString(in.InstanceId))
		}
	}
	slices.Sort(g.inService)
	g.out.InServiceInstances = len(g.inService)
	return g
}

func (c *checker) noGroupSelected() {
	var by []string
	if c.rcfg.ASGTagKey != "" {
		by = append(by, "no group carries the tag "+c.cfg.ASGTag)
	}
	if len(c.rcfg.ASGNames) > 0 {
		by = append(by, "no group named in --asg-names exists")
	}
	c.problem(SeverityFail, "no-group-selected", "selection", "no Auto Scaling group is selected ("+strings.Join(by, "; ")+"): nothing would be protected",
		"tag each group to manage: "+c.tagFix("<group>")+", or name them with --asg-names")
}

// judgeHooks records a group's hooks, the one chosen and what is wrong or worth knowing.
func (c *checker) judgeHooks(g *groupCheck, hooks []astypes.LifecycleHook) {
	for _, h := range hooks {
		g.out.Hooks = append(g.out.Hooks, Hook{
			Name:                    aws.ToString(h.LifecycleHookName),
			Transition:              aws.ToString(h.LifecycleTransition),
			HeartbeatTimeoutSeconds: int(aws.ToInt32(h.HeartbeatTimeout)),
			GlobalTimeoutSeconds:    int(aws.ToInt32(h.GlobalTimeout)),
			DefaultResult:           aws.ToString(h.DefaultResult),
			NotificationTargetARN:   aws.ToString(h.NotificationTargetARN),
		})
	}
	ch := reconciler.ChooseHook(c.rcfg, hooks)
	g.choice = ch
	g.out.ECSManagedDraining = ch.ECSManaged
	if ch.Hook != "" {
		g.out.Hook = ch.Hook
		g.out.HeartbeatTimeoutSeconds = int(ch.HeartbeatTimeout / time.Second)
		g.out.GlobalTimeoutSeconds = int(ch.GlobalTimeout / time.Second)
		g.out.DrainTimeoutSeconds = int(ch.DrainTimeout / time.Second)
		g.out.DefaultResult = "CONTINUE" // what --manage-hooks gives the hook it creates
		for _, h := range g.out.Hooks {
			if h.Name == ch.Hook {
				g.out.DefaultResult = h.DefaultResult
			}
		}
	}
	c.hookProblem(g)
	if ch.ECSManaged && ch.Problem == reconciler.HookOK {
		c.groupProblem(g.out.Name, SeverityWarning, "ecs-managed-draining",
			"ECS managed draining is on too (its hook "+reconciler.ECSManagedHookName+" is present): ECS also drains these instances, and its hook holds them until ECS is done",
			"to have only ecs-drainer drain it, turn managed draining off on the group's capacity provider: aws ecs update-capacity-provider --name <capacity-provider> --auto-scaling-group-provider managedDraining=DISABLED; or leave the group to ECS: "+c.unselectFix(g.out.Name, g.out.SelectedBy))
	}
	if ch.Hook != "" {
		c.timeoutProblems(g)
	}
}

// hookProblem records why no hook can be acted for on a group, if so.
func (c *checker) hookProblem(g *groupCheck) {
	ch, name := g.choice, g.out.Name
	if ch.CreatesHook {
		c.groupProblem(name, SeverityNote, "hook-would-be-created",
			fmt.Sprintf("no hook %s: --manage-hooks would create it (heartbeat timeout %s, default result CONTINUE); that write (autoscaling:PutLifecycleHook) cannot be checked without making it", ch.Hook, short(ch.HeartbeatTimeout)), "")
		return
	}
	fail := func(code, msg, fix string) { c.groupProblem(name, SeverityFail, code, msg, fix) }
	switch ch.Problem {
	case reconciler.HookOK:
	case reconciler.HookNone:
		fail("no-terminating-hook", "no terminating lifecycle hook: Auto Scaling terminates its instances at once, tasks and all",
			c.createHookFix(name)+" (or run the controller with --manage-hooks --hook-name "+c.hookNameToCreate()+")")
	case reconciler.HookOnlyECSManaged:
		fail("only-ecs-managed-hook", "its only terminating hook is ECS's "+reconciler.ECSManagedHookName+", which the controller never completes: it skips the group",
			"add a hook of its own: "+c.createHookFix(name)+"; or leave the group to ECS: "+c.unselectFix(name, g.out.SelectedBy))
	case reconciler.HookAmbiguous:
		fail("several-terminating-hooks", "several terminating hooks ("+strings.Join(ch.Candidates, ", ")+") and no --hook-name: the controller cannot tell which to act for, and skips the group",
			"--hook-name "+ch.Candidates[0]+" (the name must be the same on every selected group), or delete the hook that should not hold instances: aws autoscaling delete-lifecycle-hook --auto-scaling-group-name "+sh(name)+" --lifecycle-hook-name "+sh(ch.Candidates[len(ch.Candidates)-1]))
	case reconciler.HookNotFound:
		fail("hook-not-found", "no hook named "+c.rcfg.HookName+" (--hook-name): the controller skips the group",
			c.createHookFix(name)+" (or run the controller with --manage-hooks)")
	case reconciler.HookNotTerminating:
		fail("hook-not-terminating", "the hook "+c.rcfg.HookName+" (--hook-name) is not a terminating hook ("+c.transitionOf(g, c.rcfg.HookName)+"): the controller skips the group",
			"--hook-name must name a terminating hook on every selected group; create one under another name: "+putHookFix(name, reconciler.DefaultHookName, c.rcfg.HookHeartbeatTimeout, "CONTINUE")+" and run with --hook-name "+reconciler.DefaultHookName)
	default:
		fail("hook-unusable", "no hook to act for: "+ch.Problem.String(), c.createHookFix(name))
	}
}

func (c *checker) transitionOf(g *groupCheck, hook string) string {
	for _, h := range g.out.Hooks {
		if h.Name == hook {
			return h.Transition
		}
	}
	return "unknown transition"
}

// timeoutProblems records what the hook's timeouts change in the controller's.
func (c *checker) timeoutProblems(g *groupCheck) {
	ch, name, cfg := g.choice, g.out.Name, c.rcfg
	if ch.ResyncShortened {
		c.groupProblem(name, SeverityWarning, "heartbeat-shorter-than-resync",
			fmt.Sprintf("hook %s's heartbeat timeout %s is shorter than twice --resync-period %s: the controller lists the fleet every %s instead, and an instance that waits while the controller starts may be seen late",
				ch.Hook, short(ch.HeartbeatTimeout), short(cfg.ResyncPeriod), short(ch.ResyncPeriod)),
			fmt.Sprintf("--resync-period %s, or a longer heartbeat timeout: %s", short(ch.ResyncPeriod), putHookFix(name, ch.Hook, heartbeatFor(2*cfg.ResyncPeriod), g.out.DefaultResult)))
	}
	if ch.DrainTimeoutCut {
		fix := "--drain-timeout " + short(ch.DrainTimeout.Truncate(time.Minute))
		if ch.GlobalTimeoutNeeded <= awsapi.MaxHookGlobalTimeoutSeconds*time.Second {
			fix += ", or a longer heartbeat timeout (the global timeout is 100 of them): " +
				putHookFix(name, ch.Hook, heartbeatFor(ch.GlobalTimeoutNeeded/awsapi.HookGlobalTimeoutHeartbeats), g.out.DefaultResult)
		}
		c.groupProblem(name, SeverityWarning, "drain-timeout-cut",
			fmt.Sprintf("--drain-timeout %s does not fit hook %s's global timeout %s (100 heartbeat timeouts, at most 48h): its drains end at %s with --drain-timeout-action",
				short(cfg.DrainTimeout), ch.Hook, short(ch.GlobalTimeout), short(ch.DrainTimeout)), fix)
	}
	if g.out.DefaultResult == resultAbandon {
		c.groupProblem(name, SeverityNote, "default-result-abandon",
			"hook "+ch.Hook+" has DefaultResult ABANDON: if the controller is down past the heartbeat timeout the instance still terminates, and the group's other terminating hooks are skipped (CONTINUE lets them run)",
			"if that is not meant: "+putHookFix(name, ch.Hook, ch.HeartbeatTimeout, "CONTINUE"))
	}
}
