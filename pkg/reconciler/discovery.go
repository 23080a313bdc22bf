package reconciler

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// listedGroup is one managed group as the listing showed it.
type listedGroup struct {
	name    string
	waiting []string // instances in Terminating:Wait
}

// resync lists the managed groups with their instances, makes sure the hooks are known (and, with
// --manage-hooks, exist), starts watching instances that entered Terminating:Wait, enqueues every
// watched instance, and requeues itself after the resync period. With nothing terminating it costs
// one DescribeAutoScalingGroups call per 100 tagged groups (plus one per 50 named groups) and no
// ECS call.
func (c *Controller) resync(ctx context.Context) (result, error) {
	log := logr.FromContextOrDiscard(ctx)
	start := c.clock.Now()
	listed, err := c.listGroups(ctx)
	if err != nil {
		// Retried with backoff, but no later than a normal resync would have come.
		c.mu.Lock()
		next := c.resyncAfter()
		c.mu.Unlock()
		return result{requeueAfter: next}, err
	}

	// Hooks: described lazily for groups with instances waiting (cached), and for every new group
	// when the controller manages hooks. Up to hookDescribers groups at a time: after a large
	// scale-in every group has instances waiting, and describing them one after another would hold
	// back every instance's DRAINING by as many round trips as there are groups. The client-side
	// rate limit still bounds the rate.
	type groupHookResult struct {
		hook hookInfo
		ok   bool
		err  error
	}
	names := slices.Sorted(maps.Keys(listed))
	results := make([]groupHookResult, len(names))
	var describers errgroup.Group
	describers.SetLimit(hookDescribers)
	probes := 0
	for i, name := range names {
		probe := c.cfg.ResyncPeriod > probeHooksAbove && probes < hookProbesPerResync && !c.hooksDescribed(name)
		if probe {
			probes++
		}
		hasWaiting := len(listed[name].waiting) > 0
		describers.Go(func() error {
			h, ok, err := c.groupHook(ctx, name, hasWaiting, probe, start)
			results[i] = groupHookResult{hook: h, ok: ok, err: err}
			return nil // each group's error is its own, kept in results
		})
	}
	_ = describers.Wait()
	var hookErrs []error
	usable := map[string]hookInfo{}
	unknown := map[string]bool{} // groups whose hook state could not be read this time
	for i, name := range names {
		switch r := results[i]; {
		case r.err != nil:
			hookErrs = append(hookErrs, r.err)
			unknown[name] = true
		case r.ok:
			usable[name] = r.hook
		}
	}

	// Watch what waits on a usable hook; mark gone what waits no more.
	c.mu.Lock()
	for name := range c.groups {
		if _, ok := listed[name]; !ok {
			delete(c.groups, name) // no longer managed: forget its hooks and clusters too
			delete(c.clusterHints, name)
		}
	}
	maps.DeleteFunc(c.daemonServices, func(_ string, d daemonEntry) bool { return start.Sub(d.at) >= daemonCacheTTL })
	waiting := map[string]bool{}
	var added int
	for name, g := range listed {
		gs := c.groups[name]
		if h, ok := usable[name]; ok {
			for _, id := range g.waiting {
				waiting[id] = true
				inst := c.instances[id]
				if inst == nil {
					// The previous listing showed the group without this instance waiting, so the
					// lifecycle action started after that listing began.
					after := gs.listedAt
					if gs.prevWaiting[id] {
						after = time.Time{}
					}
					inst = &instance{id: id, firstSeen: start, enteredAfter: after}
					c.instances[id] = inst
					added++
				}
				inst.asg, inst.hook, inst.gone = name, h, false
			}
		}
		gs.listedAt = start
		gs.prevWaiting = make(map[string]bool, len(g.waiting))
		for _, id := range g.waiting {
			gs.prevWaiting[id] = true
		}
	}
	for id, inst := range c.instances {
		if !waiting[id] && !unknown[inst.asg] {
			inst.gone = true
		}
	}
	ids := slices.Sorted(maps.Keys(c.instances))
	var todo []string
	for _, id := range ids {
		if inst := c.instances[id]; inst.gone || !inst.prog.completed {
			todo = append(todo, id)
		}
	}
	watched := len(waiting)
	next := c.resyncAfter()
	c.mu.Unlock()

	// Every watched instance is enqueued: reconciles are level-triggered and cheap when nothing is
	// due, and this recovers any instance whose last reconcile gave up.
	for _, id := range todo {
		c.enqueueInstance(id)
		c.enqueueHeartbeat(id)
	}
	c.m.ManagedASGs.Set(float64(len(listed)))
	c.m.InstancesWatched.Set(float64(watched))
	if added > 0 {
		log.V(1).Info("Resynced", "managedASGs", len(listed), "instancesWatched", watched, "newInstances", added)
	}
	if err := errors.Join(hookErrs...); err != nil {
		return result{requeueAfter: next}, err
	}
	c.m.LastResyncSuccess.Set(float64(c.clock.Now().Unix()))
	if !c.ready.Swap(true) {
		log.Info("First resync done", "managedASGs", len(listed), "instancesWatched", watched)
	}
	return result{requeueAfter: next}, nil
}

// resyncAfter is when discovery runs again: the resync period, or half the shortest heartbeat
// timeout among the hooks acted for, if that is shorter. An instance is first seen up to a resync
// after its lifecycle action started and gets its first heartbeat then (or half a heartbeat
// timeout after the previous listing), so a resync longer than that would let short hooks expire
// before the controller sees their instances. With a resync period longer than probeHooksAbove,
// every group's hooks are described once (hookProbesPerResync at a time) so this is known before
// the first instance waits. Called with c.mu held.
func (c *Controller) resyncAfter() time.Duration {
	next := c.cfg.ResyncPeriod
	for _, gs := range c.groups {
		if h := gs.selection.hook; gs.selection.problem == hookOK && h.heartbeatTimeout > 0 {
			next = min(next, max(h.heartbeatTimeout/2, time.Second))
		}
	}
	return next
}

const (
	// probeHooksAbove is the resync period above which discovery describes the hooks of groups
	// with nothing waiting too, once each: half the shortest heartbeat timeout AWS allows. Up to
	// it, every hook's instances are seen in time anyway, and an idle fleet costs no
	// DescribeLifecycleHooks at all.
	probeHooksAbove = awsapi.MinHookHeartbeatTimeoutSeconds * time.Second / 2
	// hookProbesPerResync bounds those descriptions per resync, so a controller starting on a large
	// fleet does not spend its request budget on groups that are idle.
	hookProbesPerResync = 20
	// hookDescribers is how many groups' hooks a resync describes at a time.
	hookDescribers = 10
)

// listGroups lists the managed groups: those carrying the tag (100 per call) and those named.
func (c *Controller) listGroups(ctx context.Context) (map[string]*listedGroup, error) {
	groups := map[string]*listedGroup{}
	add := func(page *autoscaling.DescribeAutoScalingGroupsOutput) {
		for _, g := range page.AutoScalingGroups {
			name := aws.ToString(g.AutoScalingGroupName)
			lg := &listedGroup{name: name}
			for _, in := range g.Instances {
				if in.LifecycleState == astypes.LifecycleStateTerminatingWait {
					lg.waiting = append(lg.waiting, aws.ToString(in.InstanceId))
				}
			}
			groups[name] = lg
		}
	}
	if c.cfg.ASGTagKey != "" {
		filter := astypes.Filter{Name: aws.String("tag:" + c.cfg.ASGTagKey), Values: []string{c.cfg.ASGTagValue}}
		if c.cfg.ASGTagValue == "" {
			filter = astypes.Filter{Name: aws.String("tag-key"), Values: []string{c.cfg.ASGTagKey}}
		}
		p := autoscaling.NewDescribeAutoScalingGroupsPaginator(c.as, &autoscaling.DescribeAutoScalingGroupsInput{
			Filters:    []astypes.Filter{filter},
			MaxRecords: aws.Int32(awsapi.MaxAutoScalingGroupsPerPage),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("listing Auto Scaling groups tagged %s: %w", c.cfg.ASGTagKey, err)
			}
			add(page)
		}
	}
	for chunk := range slices.Chunk(c.cfg.ASGNames, awsapi.MaxAutoScalingGroupNames) {
		p := autoscaling.NewDescribeAutoScalingGroupsPaginator(c.as, &autoscaling.DescribeAutoScalingGroupsInput{
			AutoScalingGroupNames: chunk,
			MaxRecords:            aws.Int32(awsapi.MaxAutoScalingGroupsPerPage),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("describing Auto Scaling groups %v: %w", chunk, err)
			}
			add(page)
		}
	}
	return groups, nil
}

// hooksDescribed reports whether a group's hooks were ever described.
func (c *Controller) hooksDescribed(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	gs := c.groups[name]
	return gs != nil && !gs.hooksAt.IsZero()
}

// groupHook returns the hook the controller acts for on a group, describing the group's hooks when
// needed (instances waiting and no fresh description, a probe, or a new group under
// --manage-hooks) and creating the hook with --manage-hooks. ok is false when the group must be
// skipped; the reason is warned about once.
func (c *Controller) groupHook(ctx context.Context, name string, hasWaiting, probe bool, now time.Time) (hookInfo, bool, error) {
	log := logr.FromContextOrDiscard(ctx).WithValues("asg", name)
	c.mu.Lock()
	gs := c.groups[name]
	if gs == nil {
		gs = &groupState{}
		c.groups[name] = gs
	}
	stale := gs.hooksAt.IsZero() || now.Sub(gs.hooksAt) >= hookCacheTTL
	// With --manage-hooks every new group is described once, and one whose hook could not be
	// made right (a problem creating it cannot fix) again only when the description is stale, like
	// any other: describing it every resync would not fix it either.
	needEnsure := c.cfg.ManageHooks && !gs.hookEnsured && stale
	sel, described := gs.selection, !gs.hooksAt.IsZero()
	c.mu.Unlock()

	if (hasWaiting && stale) || (probe && !described) || needEnsure {
		hooks, err := c.describeHooks(ctx, name)
		if err != nil {
			return hookInfo{}, false, err
		}
		sel = selectHook(hooks, c.cfg.HookName)
		ensured := false
		if c.cfg.ManageHooks {
			switch {
			case sel.problem == hookOK:
				ensured = true
			case sel.problem.missing() && !sel.ecsManaged:
				if sel, err = c.createHook(ctx, name); err != nil {
					return hookInfo{}, false, err
				}
				ensured = true
			}
		}
		c.mu.Lock()
		gs.hooksAt, gs.selection, gs.hookEnsured = now, sel, ensured
		c.mu.Unlock()
		described = true
	}
	if !described {
		// Never described: nothing waits on the group, so nothing needs its hook yet.
		return hookInfo{}, false, nil
	}

	ecsKey := "ecs-managed-hook/" + name
	if sel.ecsManaged && sel.problem == hookOK {
		c.warnOnce(log, ecsKey, "ECS managed draining hook is on this group too; ECS also drains its instances, and its hook is left to ECS",
			"ecsHook", ECSManagedHookName, "hook", sel.hook.name)
	} else {
		c.clearWarning(ecsKey)
	}
	skipKey := "hook-problem/" + name
	if sel.problem != hookOK {
		c.warnOnce(log, skipKey, "Skipping Auto Scaling group: no lifecycle hook to act for",
			"problem", sel.problem.String(), "hookName", c.cfg.HookName, "candidates", sel.candidates, "ecsManagedHook", sel.ecsManaged)
		return hookInfo{}, false, nil
	}
	c.clearWarning(skipKey)

	// Discovery resyncs at least every half heartbeat timeout once it knows the hook (resyncAfter);
	// the instance that revealed the hook may have been seen too late already. Say so once.
	if hb := sel.hook.heartbeatTimeout; hb > 0 && c.cfg.ResyncPeriod > hb/2 {
		c.warnOnce(log, "resync-vs-heartbeat/"+name+"/"+sel.hook.name, "Resync period is longer than half the lifecycle hook's heartbeat timeout; resyncing more often, but an instance may wait up to a resync before its first heartbeat: lower --resync-period",
			"hook", sel.hook.name, "heartbeatTimeout", hb, "resyncPeriod", c.cfg.ResyncPeriod, "effectiveResyncPeriod", max(hb/2, time.Second))
	}

	// A drain timeout longer than the hook allows is cut, so the configured outcome still applies.
	if _, reduced := c.drainTimeoutFor(sel.hook); reduced {
		timeout, _ := c.drainTimeoutFor(sel.hook)
		c.warnOnce(log, "drain-timeout/"+name+"/"+sel.hook.name, "Drain timeout exceeds what the lifecycle hook's global timeout allows; using the smaller",
			"hook", sel.hook.name, "drainTimeout", c.cfg.DrainTimeout, "globalTimeout", sel.hook.globalTimeout, "effectiveDrainTimeout", timeout)
	}
	return sel.hook, true, nil
}

func (c *Controller) describeHooks(ctx context.Context, asg string) ([]astypes.LifecycleHook, error) {
	out, err := c.as.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String(asg)})
	if err != nil {
		return nil, fmt.Errorf("describing lifecycle hooks of Auto Scaling group %s: %w", asg, err)
	}
	return out.LifecycleHooks, nil
}

// createHook puts the terminating hook --manage-hooks asks for on a group that lacks it: the
// configured name, heartbeat timeout, and DefaultResult CONTINUE (if the controller is gone, the
// instance terminates as it would have without the hook).
func (c *Controller) createHook(ctx context.Context, asg string) (hookSelection, error) {
	name := c.cfg.HookName
	if name == "" {
		name = DefaultHookName
	}
	hb := int32(c.cfg.HookHeartbeatTimeout / time.Second)
	in := &autoscaling.PutLifecycleHookInput{
		AutoScalingGroupName: aws.String(asg),
		LifecycleHookName:    aws.String(name),
		LifecycleTransition:  aws.String(transitionTerminating),
		HeartbeatTimeout:     aws.Int32(hb),
		DefaultResult:        aws.String(metrics.ResultContinue),
	}
	log := logr.FromContextOrDiscard(ctx)
	kv := []any{"asg", asg, "hook", name, "heartbeatTimeout", c.cfg.HookHeartbeatTimeout}
	if err := c.write(ctx, "create lifecycle hook", kv, func(ctx context.Context) error {
		_, err := c.as.PutLifecycleHook(ctx, in)
		return err
	}); err != nil {
		return hookSelection{}, fmt.Errorf("creating lifecycle hook %s on Auto Scaling group %s: %w", name, asg, err)
	}
	if !c.cfg.DryRun {
		log.Info("Created lifecycle hook", kv...)
	}
	hook := hookInfo{name: name, heartbeatTimeout: c.cfg.HookHeartbeatTimeout, globalTimeout: globalTimeout(c.cfg.HookHeartbeatTimeout, 0)}
	return hookSelection{hook: hook}, nil
}

// globalMargin is how much of a hook's global timeout the drain timeout leaves unused: the drain
// starts up to a resync after the lifecycle action, is looked at once per poll, and the stop-tasks
// action needs time to stop what remains.
func (c *Controller) globalMargin() time.Duration {
	return c.cfg.ResyncPeriod + 2*c.cfg.PollInterval + timeoutStopAllowance
}

// drainTimeoutFor is the drain timeout that applies under a hook.
func (c *Controller) drainTimeoutFor(h hookInfo) (time.Duration, bool) {
	return effectiveDrainTimeout(c.cfg.DrainTimeout, h.globalTimeout, c.globalMargin())
}

// drainStats reports the drains in progress and the age of the oldest, now: every watched
// instance still waiting on the hook and not found unregistered, whether DRAINING could be set yet
// or not (an instance ECS refuses to drain is the one most in need of attention). The metrics
// call it at scrape time.
func (c *Controller) drainStats() (int, time.Duration) {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int
	var oldest time.Duration
	for _, inst := range c.instances {
		if inst.gone || inst.prog.completed || inst.mapping.state == mapNotFound {
			continue
		}
		n++
		oldest = max(oldest, now.Sub(drainRef(inst)))
	}
	return n, oldest
}
