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
	name string
	// why says what selected it: the tag, or its name in --asg-names.
	why     string
	waiting []string // instances in Terminating:Wait
	// early are the instances to drain early (spot.go) that are still in service.
	early []string
}

// add files one instance of the group's listing: waiting in Terminating:Wait, or, whatever its
// other state, to drain early.
func (lg *listedGroup) add(id string, state astypes.LifecycleState, early map[string]bool) {
	switch {
	case state == astypes.LifecycleStateTerminatingWait:
		lg.waiting = append(lg.waiting, id)
	case early[id]:
		lg.early = append(lg.early, id)
	}
}

const (
	// probeHooksAbove is the resync period above which discovery describes the hooks of every
	// managed group, waiting instances or not: half the shortest heartbeat timeout AWS allows. Up to
	// it, every hook's instances are seen in time whatever their hook, and an idle fleet costs no
	// DescribeLifecycleHooks at all. Above it, until every group's hooks are known, discovery
	// resyncs every probeHooksAbove, as if each unknown group had the shortest hook possible.
	probeHooksAbove = awsapi.MinHookHeartbeatTimeoutSeconds * time.Second / 2
	// hookProbesPerResync bounds the descriptions of idle groups' hooks per resync, so a controller
	// starting on a fleet of hundreds of groups spreads them over a few resyncs (which stay at
	// probeHooksAbove meanwhile) rather than holding one resync for all of them.
	hookProbesPerResync = 50
	// hookDescribers is how many groups' hooks a resync describes at a time.
	hookDescribers = 10
	// busyHookTTL is how long the hooks of a group with instances in hand are trusted before a
	// resync reads them again (at most hookProbesPerResync groups a resync), so a timeout lowered
	// mid-drain by a CloudFormation update is heeded within it, should AWS apply it to actions
	// already waiting (it does not document whether it does). An instance seen for the first time
	// always has its hooks read afresh.
	busyHookTTL = 5 * time.Minute
)

// resync lists the managed groups with their instances, confirms the hooks of every group with an
// instance waiting, starts watching instances that entered Terminating:Wait, enqueues every
// watched instance, describes the hooks of idle groups not yet known (or known too long ago), and
// requeues itself after the resync period, or sooner while a short hook could be waiting unseen
// (resyncAfter). With nothing terminating and every hook known it costs one
// DescribeAutoScalingGroups call per 100 tagged groups (plus one per 50 named groups) and no ECS
// call; idle groups' hooks are described again every hookCacheTTL.
func (c *Controller) resync(ctx context.Context) (result, error) {
	log := logr.FromContextOrDiscard(ctx)
	start := c.clock.Now()
	c.mu.Lock()
	early := c.earlyIDs()
	c.mu.Unlock()
	listed, err := c.listGroups(ctx, early)
	if err != nil {
		// Retried with backoff, but no later than a normal resync would have come.
		c.mu.Lock()
		next := c.resyncAfter(nil)
		c.mu.Unlock()
		return result{requeueAfter: next}, err
	}
	c.noteSelection(log, listed)

	// The hook an instance waits on, and its timeouts, are read afresh when the instance is first
	// seen, before it is acted on, and again while it waits: a cached description can lie after a
	// CloudFormation update changed the timeout or replaced the hook under a new name.
	hookErrs := c.describeGroups(ctx, c.groupsToConfirm(listed, start), start)
	todo, watched, added := c.watch(listed, start)
	// Every watched instance is enqueued: reconciles are level-triggered and cheap when nothing is
	// due, and this recovers any instance whose last reconcile gave up.
	for _, id := range todo {
		c.enqueueInstance(id)
		c.enqueueHeartbeat(id)
	}
	// Idle groups last, once every waiting instance is in hand.
	hookErrs = append(hookErrs, c.describeGroups(ctx, c.groupsToProbe(listed, start), start)...)

	c.view.PruneCaches()
	c.mu.Lock()
	next := c.resyncAfter(listed)
	c.mu.Unlock()
	c.warnHeartbeatBudget(log)
	c.m.ManagedASGs.Set(float64(len(listed)))
	c.m.InstancesWatched.Set(float64(watched))
	if added > 0 {
		log.V(1).Info("Resynced", "managedASGs", len(listed), "instancesWatched", watched, "newInstances", added)
	}
	if err := errors.Join(hookErrs...); err != nil {
		return result{requeueAfter: next}, err
	}
	done := c.clock.Now()
	c.m.LastResyncSuccess.Set(float64(done.Unix()))
	c.lastResync.Store(done.UnixNano())
	if !c.ready.Swap(true) {
		log.Info("First resync done", "managedASGs", len(listed), "instancesWatched", watched)
	}
	return result{requeueAfter: next}, nil
}

// groupsToConfirm are the listed groups whose hooks must be read now: those with an instance
// waiting that is not watched yet, or drained early and waiting on no hook yet (first sight: the hook it waits on and its timeouts are
// confirmed before it is acted on), and, at most hookProbesPerResync of them, those with instances
// in hand whose description is older than busyHookTTL or could not be read.
func (c *Controller) groupsToConfirm(listed map[string]*listedGroup, now time.Time) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var firstSight, stale []string
	for name, g := range listed {
		gs := c.groups[name]
		fresh := gs != nil && gs.known() && now.Sub(gs.hooksAt) < busyHookTTL
		switch {
		case slices.ContainsFunc(g.waiting, func(id string) bool { return c.instances[id] == nil || !c.instances[id].hasAction() }):
			firstSight = append(firstSight, name)
		case !fresh && slices.ContainsFunc(g.waiting, func(id string) bool { return !c.instances[id].prog.completed }):
			stale = append(stale, name)
		}
	}
	slices.Sort(firstSight)
	// Refreshes of groups already in hand are bounded per resync (oldest first), so a scale-in
	// across hundreds of groups does not spend the request budget on describing them every time.
	slices.SortFunc(stale, func(a, b string) int { return c.groupHooksAt(a).Compare(c.groupHooksAt(b)) })
	return append(firstSight, stale[:min(len(stale), hookProbesPerResync)]...)
}

// groupHooksAt is when a group's hooks were last described (zero: never). Called with c.mu held.
func (c *Controller) groupHooksAt(name string) time.Time {
	if gs := c.groups[name]; gs != nil {
		return gs.hooksAt
	}
	return time.Time{}
}

// groupsToProbe are the idle groups whose hooks should be described now: never described, not
// described successfully, or described more than hookCacheTTL ago (with --manage-hooks, also a
// group whose hook was not made right), unknown ones first, at most hookProbesPerResync. With a
// resync period short enough for any hook (probeHooksAbove) only --manage-hooks needs them.
func (c *Controller) groupsToProbe(listed map[string]*listedGroup, now time.Time) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var unknown, stale []string
	for name := range listed {
		gs := c.groups[name]
		switch {
		case gs == nil || !gs.known():
			unknown = append(unknown, name)
		case now.Sub(gs.hooksAt) >= hookCacheTTL:
			stale = append(stale, name)
		}
	}
	if c.cfg.ResyncPeriod <= probeHooksAbove && !c.cfg.ManageHooks {
		return nil
	}
	slices.Sort(unknown)
	slices.Sort(stale)
	return slices.Concat(unknown, stale)[:min(len(unknown)+len(stale), hookProbesPerResync)]
}

// describeGroups describes the hooks of the named groups, hookDescribers at a time (after a large
// scale-in every group has instances waiting; one after another would hold back every instance by
// as many round trips as there are groups), and records what it found. The client-side rate limit
// still bounds the rate. It returns the errors, one per group that could not be described.
func (c *Controller) describeGroups(ctx context.Context, names []string, now time.Time) []error {
	errs := make([]error, len(names))
	var describers errgroup.Group
	describers.SetLimit(hookDescribers)
	for i, name := range names {
		describers.Go(func() error {
			errs[i] = c.describeGroup(ctx, name, now)
			return nil // each group's error is its own
		})
	}
	_ = describers.Wait()
	return slices.DeleteFunc(errs, func(err error) bool { return err == nil })
}

// describeGroup describes a group's lifecycle hooks, chooses the one acted for (creating it with
// --manage-hooks), and records the choice. A group that cannot be described is marked unknown, so
// discovery resyncs as if it had the shortest hook possible until it can.
func (c *Controller) describeGroup(ctx context.Context, name string, now time.Time) error {
	log := logr.FromContextOrDiscard(ctx).WithValues("asg", name)
	sel, err := c.readHookSelection(ctx, name)
	c.mu.Lock()
	gs := c.groups[name]
	if gs == nil {
		gs = &groupState{}
		c.groups[name] = gs
	}
	if err != nil {
		gs.describeFailed = true
		c.mu.Unlock()
		return err
	}
	gs.hooksAt, gs.selection, gs.describeFailed = now, sel, false
	c.mu.Unlock()
	c.warnHookSelection(log, name, sel)
	return nil
}

// readHookSelection describes a group's hooks and chooses the one acted for; with --manage-hooks
// it creates the hook on a group that lacks it.
func (c *Controller) readHookSelection(ctx context.Context, name string) (hookSelection, error) {
	hooks, err := c.describeHooks(ctx, name)
	if err != nil {
		return hookSelection{}, err
	}
	sel := selectHook(hooks, c.cfg.HookName)
	if createsHook(c.cfg, sel) {
		return c.createHook(ctx, name)
	}
	return sel, nil
}

// warnHookSelection says once what is wrong with a group's hooks, or what deserves attention in
// the hook chosen, until it changes.
func (c *Controller) warnHookSelection(log logr.Logger, name string, sel hookSelection) {
	ecsKey := "ecs-managed-hook/" + name
	if sel.ecsManaged && sel.problem == hookOK {
		c.warnOnce(log, ecsKey, "ECS managed draining also on this group", "note", "ECS drains these instances too; its hook is left to ECS",
			"ecsHook", ECSManagedHookName, "hook", sel.hook.name)
	} else {
		c.clearWarning(ecsKey)
	}
	skipKey := "hook-problem/" + name
	if sel.problem != hookOK {
		c.warnOnce(log, skipKey, "Skipping group without a hook to act for",
			"problem", sel.problem.String(), "hookName", c.cfg.HookName, "candidates", sel.candidates, "ecsManagedHook", sel.ecsManaged)
		return
	}
	c.clearWarning(skipKey)
	// Discovery resyncs at least every half heartbeat timeout once it knows the hook (resyncAfter);
	// an instance that waited before the hook was known may have been seen late. Say so once.
	if resync, shortened := resyncFor(c.cfg, sel.hook); shortened {
		c.warnOnce(log, "resync-vs-heartbeat/"+name+"/"+sel.hook.name, "Resyncing more often for a short hook",
			"hook", sel.hook.name, "heartbeatTimeout", sel.hook.heartbeatTimeout, "resyncPeriod", c.cfg.ResyncPeriod, "effectiveResyncPeriod", resync)
	}
	// A drain timeout longer than the hook allows is cut, so the configured outcome still applies.
	if timeout, reduced := drainTimeoutUnder(c.cfg, sel.hook); reduced {
		c.warnOnce(log, "drain-timeout/"+name+"/"+sel.hook.name, "Drain timeout cut to fit the hook",
			"hook", sel.hook.name, "drainTimeout", c.cfg.DrainTimeout, "globalTimeout", sel.hook.globalTimeout, "effectiveDrainTimeout", timeout)
	}
}

// watch starts watching the instances that entered Terminating:Wait on a group with a usable hook
// (and those to drain early, spot.go), follows the hook of those already watched, and marks gone
// those that wait no more. It returns the instances to enqueue, how many are watched, and how many
// are new in Terminating:Wait.
func (c *Controller) watch(listed map[string]*listedGroup, start time.Time) (todo []string, watched, added int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name := range c.groups {
		if _, ok := listed[name]; !ok {
			delete(c.groups, name) // no longer managed: forget its hooks and clusters too
			c.view.ForgetGroup(name)
		}
	}
	kept := map[string]bool{}
	for _, g := range listed {
		added += c.watchGroup(g, start, kept)
	}
	for id, inst := range c.instances {
		if !kept[id] {
			inst.leftWait()
		}
	}
	if c.eventsConfigured() {
		c.sweepHints(start)
	}
	c.sweepEarly(start)
	for _, id := range slices.Sorted(maps.Keys(c.instances)) {
		if inst := c.instances[id]; inst.gone || !inst.prog.completed {
			todo = append(todo, id)
		}
	}
	return todo, len(kept), added
}

// watchGroup watches the instances of one listed group, adds them to kept, and returns how many
// are new in Terminating:Wait. Called with c.mu held.
func (c *Controller) watchGroup(g *listedGroup, start time.Time, kept map[string]bool) (added int) {
	gs := c.groups[g.name]
	if gs == nil {
		gs = &groupState{} // its hooks could not be described yet
		c.groups[g.name] = gs
	}
	for _, id := range g.waiting {
		if c.watchInstance(gs, g.name, id, start) {
			kept[id] = true
			if c.instances[id].firstSeen.Equal(start) {
				added++
				c.noteFirstSight(id, start)
			}
		}
	}
	for _, id := range g.early {
		if c.watchEarly(g.name, id, start) {
			kept[id] = true
		}
	}
	gs.listedAt = start
	gs.prevWaiting = make(map[string]bool, len(g.waiting))
	for _, id := range g.waiting {
		gs.prevWaiting[id] = true
	}
	return added
}

// watchInstance watches one instance waiting on a group and reports whether it is watched. A new
// instance needs the group's hook to be usable; one already watched keeps its hook even while the
// group's hooks are ambiguous (a rename in progress) or cannot be read, and follows a new usable
// hook. An instance drained early takes up its lifecycle action here. Called with c.mu held.
func (c *Controller) watchInstance(gs *groupState, asg, id string, start time.Time) bool {
	sel := gs.selection
	usable := !gs.hooksAt.IsZero() && sel.problem == hookOK
	inst := c.instances[id]
	if inst == nil {
		if !usable {
			return false
		}
		inst = &instance{id: id, watchState: watchState{asg: asg, firstSeen: start}}
		c.instances[id] = inst
	}
	if e := c.early[id]; e.set() {
		inst.markEarly(e) // a warning for an instance already waiting
	}
	switch {
	case inst.hasAction():
		inst.stillWaits(sel.hook, usable)
	case usable:
		// The previous listing showed the group without this instance waiting, so the lifecycle
		// action started after that listing began.
		after := gs.listedAt
		if gs.prevWaiting[id] {
			after = time.Time{}
		}
		inst.takeAction(sel.hook, start, after)
	default:
		inst.listed() // drained early, waiting on no hook acted for: nothing to complete
	}
	return true
}

// resyncAfter is when discovery runs again: the resync period, or half the shortest heartbeat
// timeout among the hooks acted for if that is shorter, or probeHooksAbove while a listed group's
// hooks are not known. An instance is first seen up to a resync after its lifecycle action started
// and gets its first heartbeat then (or half a heartbeat timeout after the previous listing), so a
// resync longer than that would let short hooks expire before the controller sees their instances.
// listed may be nil (a failed listing: the groups known before count). Called with c.mu held.
func (c *Controller) resyncAfter(listed map[string]*listedGroup) time.Duration {
	next := c.cfg.ResyncPeriod
	for name, gs := range c.groups {
		if listed != nil && listed[name] == nil {
			continue
		}
		if !gs.known() {
			next = min(next, probeHooksAbove)
			continue
		}
		if h := gs.selection.hook; gs.selection.problem == hookOK && h.heartbeatTimeout > 0 {
			next = min(next, max(h.heartbeatTimeout/2, time.Second))
		}
	}
	for name := range listed {
		if c.groups[name] == nil {
			next = min(next, probeHooksAbove)
		}
	}
	return next
}

// noteSelection logs the groups selected and why: all of them at the first listing, then the
// groups that came and went.
func (c *Controller) noteSelection(log logr.Logger, listed map[string]*listedGroup) {
	c.mu.Lock()
	prev := c.selected
	c.selected = make(map[string]string, len(listed))
	for name, g := range listed {
		c.selected[name] = g.why
	}
	c.mu.Unlock()
	describe := func(names []string, whys map[string]string) []string {
		out := make([]string, 0, len(names))
		for _, n := range names {
			out = append(out, n+" ("+whys[n]+")")
		}
		return out
	}
	if prev == nil {
		log.Info("Managing Auto Scaling groups", "count", len(listed), "groups", describe(slices.Sorted(maps.Keys(c.selected)), c.selected))
		return
	}
	var added, removed []string
	for name := range c.selected {
		if _, ok := prev[name]; !ok {
			added = append(added, name)
		}
	}
	for name := range prev {
		if _, ok := c.selected[name]; !ok {
			removed = append(removed, name)
		}
	}
	if len(added) > 0 {
		slices.Sort(added)
		log.Info("Started managing Auto Scaling groups", "groups", describe(added, c.selected))
	}
	if len(removed) > 0 {
		slices.Sort(removed)
		log.Info("Stopped managing Auto Scaling groups", "groups", removed)
	}
}

// listGroups lists the managed groups with the instances waiting on them (visitSelectedGroups),
// and those of early in any other state (in service, standby, or passing through Auto Scaling's
// transient states on the way to Terminating:Wait: a warning is kept until the instance is gone).
func (c *Controller) listGroups(ctx context.Context, early map[string]bool) (map[string]*listedGroup, error) {
	groups := map[string]*listedGroup{}
	err := visitSelectedGroups(ctx, c.as, c.cfg, func(g *astypes.AutoScalingGroup, why string) {
		lg := &listedGroup{name: aws.ToString(g.AutoScalingGroupName), why: why}
		for _, in := range g.Instances {
			lg.add(aws.ToString(in.InstanceId), in.LifecycleState, early)
		}
		groups[lg.name] = lg
	})
	if err != nil {
		return nil, err
	}
	return groups, nil
}

// visitSelectedGroups lists the groups cfg selects: those carrying the tag (100 per call) and
// those named, and calls visit for each with what selected it. A group the tag filter returns is
// kept only if it really carries the tag with the wanted value: selection never widens, whatever
// an endpoint answers. A group both tagged and named is visited twice, the second time with both
// reasons; keep the last. It is the one home of selection: discovery and `ecs-drainer check`
// (SelectGroups) both list through it.
func visitSelectedGroups(ctx context.Context, as autoscaling.DescribeAutoScalingGroupsAPIClient, cfg Config, visit func(g *astypes.AutoScalingGroup, why string)) error {
	whys := map[string]string{}
	tagWhy := "tag " + cfg.ASGTagKey
	if cfg.ASGTagValue != "" {
		tagWhy += "=" + cfg.ASGTagValue
	}
	add := func(page *autoscaling.DescribeAutoScalingGroupsOutput, byTag bool) {
		for i := range page.AutoScalingGroups {
			g := &page.AutoScalingGroups[i]
			name := aws.ToString(g.AutoScalingGroupName)
			why := "named"
			if byTag {
				if !tagSelects(cfg, g.Tags) {
					continue
				}
				why = tagWhy
			} else if prev, ok := whys[name]; ok {
				why = prev + ", named"
			}
			whys[name] = why
			visit(g, why)
		}
	}
	if cfg.ASGTagKey != "" {
		filter := astypes.Filter{Name: aws.String("tag:" + cfg.ASGTagKey), Values: []string{cfg.ASGTagValue}}
		if cfg.ASGTagValue == "" {
			filter = astypes.Filter{Name: aws.String("tag-key"), Values: []string{cfg.ASGTagKey}}
		}
		p := autoscaling.NewDescribeAutoScalingGroupsPaginator(as, &autoscaling.DescribeAutoScalingGroupsInput{
			Filters:    []astypes.Filter{filter},
			MaxRecords: aws.Int32(awsapi.MaxAutoScalingGroupsPerPage),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("listing Auto Scaling groups tagged %s: %w", cfg.ASGTagKey, err)
			}
			add(page, true)
		}
	}
	for chunk := range slices.Chunk(cfg.ASGNames, awsapi.MaxAutoScalingGroupNames) {
		p := autoscaling.NewDescribeAutoScalingGroupsPaginator(as, &autoscaling.DescribeAutoScalingGroupsInput{
			AutoScalingGroupNames: chunk,
			MaxRecords:            aws.Int32(awsapi.MaxAutoScalingGroupsPerPage),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("describing Auto Scaling groups %v: %w", chunk, err)
			}
			add(page, false)
		}
	}
	return nil
}

// tagSelects reports whether a group's tags carry the selecting tag: the key with the wanted value,
// or with any value when none is wanted.
func tagSelects(cfg Config, tags []astypes.TagDescription) bool {
	for _, t := range tags {
		if aws.ToString(t.Key) == cfg.ASGTagKey {
			return cfg.ASGTagValue == "" || aws.ToString(t.Value) == cfg.ASGTagValue
		}
	}
	return false
}

// describeGroupNow describes a group's hooks at once, outside a resync, because an answer
// contradicted what was known of them, and returns the hook now acted for.
func (c *Controller) describeGroupNow(ctx context.Context, asg string) (hookSelection, error) {
	if err := c.describeGroup(ctx, asg, c.clock.Now()); err != nil {
		return hookSelection{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gs := c.groups[asg]; gs != nil {
		return gs.selection, nil
	}
	return hookSelection{}, nil
}

// instanceWaiting reports whether an instance is still in Terminating:Wait on its group, read
// from Auto Scaling now.
func (c *Controller) instanceWaiting(ctx context.Context, asg, id string) (bool, error) {
	out, err := c.as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{asg}})
	if err != nil {
		return false, fmt.Errorf("describing Auto Scaling group %s: %w", asg, err)
	}
	for _, g := range out.AutoScalingGroups {
		for _, in := range g.Instances {
			if aws.ToString(in.InstanceId) == id {
				return in.LifecycleState == astypes.LifecycleStateTerminatingWait, nil
			}
		}
	}
	return false, nil
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
	hook := createdHook(c.cfg)
	name := hook.name
	hbSeconds := int32(c.cfg.HookHeartbeatTimeout / time.Second)
	in := &autoscaling.PutLifecycleHookInput{
		AutoScalingGroupName: aws.String(asg),
		LifecycleHookName:    aws.String(name),
		LifecycleTransition:  aws.String(awsapi.TransitionTerminating),
		HeartbeatTimeout:     aws.Int32(hbSeconds),
		DefaultResult:        aws.String(awsapi.LifecycleActionContinue),
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
	return hookSelection{hook: hook}, nil
}

// drainStats reports the drains in progress and the age of the oldest, now: every watched
// instance still waiting on the hook and not found unregistered, whether DRAINING could be set yet
// or not (an instance ECS refuses to drain is the one most in need of attention). The metrics
// call it at scrape time.
func (c *Controller) drainStats() metrics.DrainStats {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var s metrics.DrainStats
	for _, inst := range c.instances {
		if !inst.inProgress() {
			continue
		}
		s.InProgress++
		s.OldestAge = max(s.OldestAge, now.Sub(drainRef(inst)))
	}
	s.HeartbeatsPerSecond, s.HeartbeatsAtRisk = c.heartbeatLoad(now)
	return s
}
