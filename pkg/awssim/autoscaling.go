package awssim

import (
	"cmp"
	"container/heap"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Lifecycle states an instance is stored in. The momentary states AWS passes through
// (Terminating, Pending:Proceed) are never observable here: a request that starts a termination
// moves the instance straight to Terminating:Wait or Terminating:Proceed.
const (
	statePending            = "Pending"
	statePendingWait        = "Pending:Wait"
	stateInService          = "InService"
	stateTerminatingWait    = "Terminating:Wait"
	stateTerminatingProceed = "Terminating:Proceed"
)

const (
	transitionLaunching   = "autoscaling:EC2_INSTANCE_LAUNCHING"
	transitionTerminating = "autoscaling:EC2_INSTANCE_TERMINATING"

	resultContinue = "CONTINUE"
	resultAbandon  = "ABANDON"

	// Scenario tags (docs/design.md): which ECS cluster a group's instances join, and how many
	// tasks one of them holds.
	tagECSCluster = "awssim:ecs-cluster"
	tagTaskSlots  = "awssim:task-slots"

	// Hook limits (PutLifecycleHook model and the Auto Scaling quotas page).
	minHeartbeatTimeout     = 30
	maxHeartbeatTimeout     = 7200
	defaultHeartbeatTimeout = 3600
	maxGlobalTimeout        = 172800
	maxHooksPerGroup        = 50

	// Quotas page: groups per Region and tags per group.
	maxGroups       = 500
	maxTagsPerGroup = 50

	// maxGroupSize is a simulator guard, not an AWS limit (AWS stops at the account's EC2 quotas):
	// a MaxSize of a billion would otherwise make the model allocate a billion instances.
	maxGroupSize = 10000

	simInstanceType = "t3.large"
)

// asgModel is the EC2 Auto Scaling half of the simulator. Every method runs with s.mu held.
type asgModel struct {
	s         *Sim
	groups    map[string]*asgGroup
	instances map[string]*asgInstance // every instance not yet Terminated, by ID
	usedIDs   map[string]bool         // IDs of instances not yet Terminated (see newInstanceID)
	launches  int                     // launch counter: the launch order scale-in follows

	// Indexes kept up to date on every change, so that a tick and a describe stay cheap with
	// tens of thousands of instances: most of a fleet sits InService with nothing to do.
	sortedIDs []string                // keys of instances, sorted: the order describes page in (see sorted)
	idsStale  bool                    // instances launched since sortedIDs was sorted
	timed     map[string]*asgInstance // instances with a timer running (see nextDue)
	counts    map[string]int          // instances by lifecycle state

	// queue holds every transition to come, earliest first: retime files one whenever an
	// instance's next due time changes, so a step pops what fell due and never visits the
	// instances at rest. The step in progress (see beginStep) takes the transitions due by stepEnd.
	queue    dueQueue
	stepping bool
	stepEnd  time.Time
	// reference makes every step scan every timed instance instead of keeping the queue between
	// steps, for the consistency test (index_test.go); nothing else sets it.
	reference bool

	ops map[string]func(queryParams) (any, *apiError) // see handlers
}

type asgGroup struct {
	name, arn              string
	created                time.Time
	minSize, maxSize       int
	desired                int
	defaultCooldown        int
	healthCheckType        string
	healthCheckGracePeriod int
	azs                    []string
	vpcZoneIdentifier      string
	launchConfigName       string
	launchTemplate         *xmlLaunchTemplate
	terminationPolicies    []string
	newInstancesProtected  bool
	capacityRebalance      bool
	tags                   map[string]asgTag
	hooks                  map[string]*lifecycleHook
	instances              map[string]*asgInstance
	deleting               bool // ForceDelete in progress: the group goes when its last instance does
	nextAZ                 int
}

type asgTag struct {
	value     string
	propagate bool
}

type lifecycleHook struct {
	name, transition, defaultResult        string
	heartbeatTimeout                       int // seconds
	notificationTargetARN, roleARN, notice string
}

// globalTimeout is how long, in seconds, an instance may wait on this hook in total: "48 hours or
// 100 times the heartbeat timeout, whichever is smaller".
func (h *lifecycleHook) globalTimeout() int {
	return min(maxGlobalTimeout, 100*h.heartbeatTimeout)
}

type asgInstance struct {
	id        string
	group     *asgGroup
	az        string
	seq       int // launch order
	state     string
	protected bool
	// due is when the current timed state ends: Pending -> launched, Terminating:Proceed -> Terminated.
	due time.Time
	// registerAt is when the instance's ECS agent registers; zero when no registration is pending.
	registerAt time.Time
	// actions are the outstanding lifecycle actions of the current wait state, one per hook.
	actions []*lifecycleAction
	// abandoned records that a launching action ended with ABANDON: the instance is terminated
	// instead of put in service.
	abandoned bool
	// termStart and termCause describe the termination activity, for its Terminate Successful event.
	termStart time.Time
	termCause string
	// spot is the Spot interruption in progress, if any (spot.go).
	spot *spotInterruption
	// launchTemplate is the template the instance was launched from, as AWS shows it on an
	// instance: with its ID and the concrete version $Latest or $Default stood for.
	launchTemplate *xmlLaunchTemplate
}

// active reports whether the instance counts toward the group's desired capacity.
func (i *asgInstance) active() bool {
	switch i.state {
	case statePending, statePendingWait, stateInService:
		return true
	}
	return false
}

type lifecycleAction struct {
	token            string
	hook             string
	transition       string
	heartbeatTimeout time.Duration
	defaultResult    string
	deadline         time.Time // heartbeat timeout, moved by RecordLifecycleActionHeartbeat
	limit            time.Time // global timeout: start + GlobalTimeout, never moved
}

// expiry is when the action times out: its heartbeat deadline or its global timeout, whichever is
// first.
func (a *lifecycleAction) expiry() time.Time {
	if a.limit.Before(a.deadline) {
		return a.limit
	}
	return a.deadline
}

func newASGModel(s *Sim) *asgModel {
	m := &asgModel{
		s:         s,
		groups:    map[string]*asgGroup{},
		instances: map[string]*asgInstance{},
		usedIDs:   map[string]bool{},
		timed:     map[string]*asgInstance{},
		counts:    map[string]int{},
	}
	m.ops = m.handlers()
	return m
}

// handlers maps each Query-protocol operation to its implementation. The front end consults it
// before anything else, so unknown names never reach metrics labels or throttle buckets.
func (m *asgModel) handlers() map[string]func(queryParams) (any, *apiError) {
	return map[string]func(queryParams) (any, *apiError){
		"CreateAutoScalingGroup":              m.createGroup,
		"UpdateAutoScalingGroup":              m.updateGroup,
		"SetDesiredCapacity":                  m.setDesiredCapacity,
		"DeleteAutoScalingGroup":              m.deleteGroup,
		"DescribeAutoScalingGroups":           m.describeGroups,
		"DescribeAutoScalingInstances":        m.describeInstances,
		"TerminateInstanceInAutoScalingGroup": m.terminateInstance,
		"PutLifecycleHook":                    m.putLifecycleHook,
		"DescribeLifecycleHooks":              m.describeLifecycleHooks,
		"DeleteLifecycleHook":                 m.deleteLifecycleHook,
		"CompleteLifecycleAction":             m.completeLifecycleAction,
		"RecordLifecycleActionHeartbeat":      m.recordHeartbeat,
		"SetInstanceProtection":               m.setInstanceProtection,
		"CreateOrUpdateTags":                  m.createOrUpdateTags,
	}
}

// known reports whether op is an Auto Scaling operation the simulator implements.
func (m *asgModel) known(op string) bool {
	_, ok := m.ops[op]
	return ok
}

// handle runs one Query-protocol operation. The result encodes as the <OpResult> element; nil
// means an empty one.
func (m *asgModel) handle(op string, form url.Values) (any, *apiError) {
	h, ok := m.ops[op]
	if !ok {
		return nil, invalidAction(op)
	}
	return h(queryParams{form})
}

// The step of the Auto Scaling model is driven by Sim.stepLocked, which interleaves it with the
// ECS model's timers: beginStep opens a step, nextDue and fire process the transitions due by its
// end one at a time in due-time order, and retime queues transitions as instances change, some of
// them due within the step as earlier ones happen. Each transition happens at the time it was due,
// not at the step's time, so the timeline is the same however coarsely the clock is stepped. Ties
// go in instance ID order, so that the random draws (tokens, IDs) repeat for a seed.

// dueEntry is a transition of inst due at at.
type dueEntry struct {
	at   time.Time
	inst *asgInstance
}

// dueQueue is a min-heap of dueEntry by time, then instance ID. It may hold stale entries (an
// instance retimed or gone since); nextDue skips them.
type dueQueue = minHeap[dueEntry]

func (e dueEntry) less(o dueEntry) bool { //nolint:unused // called by minHeap through its type constraint
	if c := e.at.Compare(o.at); c != 0 {
		return c < 0
	}
	return e.inst.id < o.inst.id
}

// beginStep opens a step that ends at end.
func (m *asgModel) beginStep(end time.Time) {
	m.stepping, m.stepEnd = true, end
	if !m.reference {
		return
	}
	m.queue = m.queue[:0]
	for _, inst := range m.timed {
		if t, ok := inst.nextDue(); ok && !t.After(end) {
			m.queue = append(m.queue, dueEntry{at: t, inst: inst})
		}
	}
	heap.Init(&m.queue)
}

// endStep closes the step.
func (m *asgModel) endStep() {
	m.stepping = false
	if m.reference {
		clear(m.queue) // drop the instance pointers
		m.queue = m.queue[:0]
	}
}

// nextDue returns the earliest transition due in this step. It drops the stale entries it meets:
// a duplicate fires only when the instance is still due at that time, which is a transition of
// its own (two hooks timing out at once).
func (m *asgModel) nextDue() (dueEntry, bool) {
	for len(m.queue) > 0 {
		e := m.queue[0]
		if e.at.After(m.stepEnd) {
			return dueEntry{}, false
		}
		if t, ok := e.inst.nextDue(); ok && t.Equal(e.at) && m.instances[e.inst.id] == e.inst {
			return e, true
		}
		heap.Pop(&m.queue) // stale
	}
	return dueEntry{}, false
}

// fire makes the transition nextDue just returned (still the head of the queue), at the time it
// was due.
func (m *asgModel) fire(e dueEntry) {
	heap.Pop(&m.queue)
	inst, at := e.inst, e.at
	if st, ok := inst.spotDue(); ok && st.Equal(at) {
		m.reclaimSpot(inst, at)
		return
	}
	switch inst.state {
	case statePending:
		m.launched(inst, at)
	case statePendingWait, stateTerminatingWait:
		a := earliestExpiry(inst.actions)
		m.s.metrics.actionsTimedOut.Inc()
		m.s.stats.LifecycleActionsTimedOut++
		m.s.note(inst.id, func(t *Timeline) { t.TimedOut++ })
		m.finishAction(inst, a, a.defaultResult, at)
	case stateInService:
		m.register(inst, at)
	case stateTerminatingProceed:
		m.terminated(inst, at)
	}
}

// sorted returns the IDs of the instances not yet Terminated, sorted.
func (m *asgModel) sorted() []string {
	if m.idsStale {
		slices.Sort(m.sortedIDs)
		m.idsStale = false
	}
	return m.sortedIDs
}

// countByLifecycleState feeds the awssim_instances gauge.
func (m *asgModel) countByLifecycleState() map[string]int {
	return maps.Clone(m.counts)
}

// setState moves an instance to a lifecycle state, keeping the indexes current.
func (m *asgModel) setState(inst *asgInstance, state string) {
	if inst.state != "" {
		m.counts[inst.state]--
		if m.counts[inst.state] == 0 {
			delete(m.counts, inst.state)
		}
	}
	inst.state = state
	m.counts[state]++
	m.retime(inst)
}

// retime files the instance in the timed index when one of its timers runs, and queues its next
// transition. Every change to an instance's timers calls it.
func (m *asgModel) retime(inst *asgInstance) {
	t, ok := inst.nextDue()
	if !ok {
		delete(m.timed, inst.id)
		return
	}
	m.timed[inst.id] = inst
	if !m.reference || (m.stepping && !t.After(m.stepEnd)) {
		heap.Push(&m.queue, dueEntry{at: t, inst: inst})
	}
}

// nextDue is when the instance's next timed transition is due, if it has one: a Spot reclaim
// (spot.go) or the end of its current state.
func (i *asgInstance) nextDue() (time.Time, bool) {
	t, ok := i.stateDue()
	if st, spot := i.spotDue(); spot && (!ok || st.Before(t)) {
		return st, true
	}
	return t, ok
}

// stateDue is when the instance's current state ends on a timer, if it does.
func (i *asgInstance) stateDue() (time.Time, bool) {
	switch i.state {
	case statePending, stateTerminatingProceed:
		return i.due, true
	case statePendingWait, stateTerminatingWait:
		if a := earliestExpiry(i.actions); a != nil {
			return a.expiry(), true
		}
	case stateInService:
		if !i.registerAt.IsZero() {
			return i.registerAt, true
		}
	}
	return time.Time{}, false
}

func earliestExpiry(actions []*lifecycleAction) *lifecycleAction {
	var first *lifecycleAction
	for _, a := range actions {
		if first == nil || a.expiry().Before(first.expiry()) {
			first = a
		}
	}
	return first
}

// reconcile launches or terminates instances until the group's active instances match its desired
// capacity. Scale-in approximates the default termination policy by terminating the oldest launch
// first (AWS first balances Availability Zones and prefers the oldest launch template; with one
// launch template the launch order is the simplest deterministic stand-in). Instances protected
// from scale-in are never chosen, so a group may stay above its desired capacity, as on AWS.
func (m *asgModel) reconcile(g *asgGroup, at time.Time) {
	if g.deleting {
		return
	}
	var active []*asgInstance
	for _, inst := range g.instances {
		if inst.active() {
			active = append(active, inst)
		}
	}
	switch {
	case len(active) < g.desired:
		for range g.desired - len(active) {
			m.launch(g, at)
		}
	case len(active) > g.desired:
		slices.SortFunc(active, func(a, b *asgInstance) int { return cmp.Compare(a.seq, b.seq) })
		excess := len(active) - g.desired
		for _, inst := range active {
			if excess == 0 {
				break
			}
			if inst.protected {
				continue
			}
			m.beginTermination(inst, at, true)
			excess--
		}
	}
}

// launchedFrom is the launch template an instance launched from group template lt reports. awssim
// has no EC2 launch templates: a template named without an ID gets a stable ID derived from its
// name, and $Latest and $Default (or no version) resolve to version 1, the only one there is.
func launchedFrom(lt *xmlLaunchTemplate) *xmlLaunchTemplate {
	if lt == nil {
		return nil
	}
	out := *lt
	if out.LaunchTemplateID == "" {
		h := fnv.New64a()
		_, _ = h.Write([]byte(out.LaunchTemplateName))
		out.LaunchTemplateID = fmt.Sprintf("lt-0%016x", h.Sum64())
	}
	if out.Version == "" || out.Version == "$Latest" || out.Version == "$Default" {
		out.Version = "1"
	}
	return &out
}

func (m *asgModel) launch(g *asgGroup, at time.Time) {
	id := m.newInstanceID()
	inst := &asgInstance{
		id:             id,
		group:          g,
		az:             g.azs[g.nextAZ%len(g.azs)],
		seq:            m.launches,
		protected:      g.newInstancesProtected,
		due:            at.Add(m.s.opts.LaunchDelay),
		launchTemplate: launchedFrom(g.launchTemplate),
	}
	g.nextAZ++
	m.launches++
	m.instances[id] = inst
	g.instances[id] = inst
	// Sorted when a describe needs it: inserting each of a large group's launches in order would
	// move the whole slice every time.
	m.sortedIDs = append(m.sortedIDs, id)
	m.idsStale = true
	m.setState(inst, statePending)
}

// launched runs when the EC2 instance is up: launching hooks hold it in Pending:Wait, otherwise it
// goes in service.
func (m *asgModel) launched(inst *asgInstance, at time.Time) {
	if hooks := inst.group.hooksFor(transitionLaunching); len(hooks) > 0 {
		m.beginWait(inst, statePendingWait, hooks, at)
		return
	}
	m.inService(inst, at)
}

func (m *asgModel) inService(inst *asgInstance, at time.Time) {
	inst.actions = nil
	inst.registerAt = at.Add(m.s.opts.RegisterDelay)
	m.setState(inst, stateInService)
}

// register is the instance's ECS agent starting, at at. An instance that left InService before its
// agent registered never registers: the drainer then sees an instance that is in no cluster.
func (m *asgModel) register(inst *asgInstance, at time.Time) {
	inst.registerAt = time.Time{}
	m.retime(inst)
	cluster, ok := inst.group.tags[tagECSCluster]
	if !ok {
		return
	}
	slots := m.s.opts.DefaultTaskSlots
	if t, ok := inst.group.tags[tagTaskSlots]; ok {
		// A malformed slot count falls back to the default rather than failing the scenario.
		if n, err := strconv.Atoi(t.value); err == nil && n > 0 {
			slots = n
		}
	}
	m.s.ecs.registerInstance(cluster.value, inst.id, slots, at)
}

// beginWait puts the instance in a wait state with one outstanding action per hook.
func (m *asgModel) beginWait(inst *asgInstance, state string, hooks []*lifecycleHook, at time.Time) {
	inst.actions = nil
	for _, h := range hooks {
		ht := time.Duration(h.heartbeatTimeout) * time.Second
		a := &lifecycleAction{
			token:            m.newUUID(),
			hook:             h.name,
			transition:       h.transition,
			heartbeatTimeout: ht,
			defaultResult:    h.defaultResult,
			deadline:         at.Add(ht),
			limit:            at.Add(time.Duration(h.globalTimeout()) * time.Second),
		}
		inst.actions = append(inst.actions, a)
		m.announceAction(inst, h, a, at)
	}
	m.setState(inst, state)
}

// beginTermination takes an instance out of service. With withHooks, the group's terminating hooks
// hold it in Terminating:Wait; force-deleting a group and abandoned launches skip them, as on AWS.
func (m *asgModel) beginTermination(inst *asgInstance, at time.Time, withHooks bool) {
	inst.registerAt = time.Time{}
	inst.termStart = at
	if inst.termCause == "" {
		inst.termCause = fmt.Sprintf("At %s an instance was taken out of service in response to a difference between desired and actual capacity, shrinking the capacity from %d to %d.",
			at.UTC().Format(time.RFC3339), inst.group.desired+1, inst.group.desired)
	}
	// The timeline starts here, hook or not, so that the stops of its tasks from now on are noted.
	m.s.note(inst.id, func(t *Timeline) { t.Group = inst.group.name })
	if withHooks {
		if hooks := inst.group.hooksFor(transitionTerminating); len(hooks) > 0 {
			m.beginWait(inst, stateTerminatingWait, hooks, at)
			m.s.note(inst.id, func(t *Timeline) { t.TerminatingWaitAt = at })
			return
		}
	}
	m.proceed(inst, at)
}

func (m *asgModel) proceed(inst *asgInstance, at time.Time) {
	inst.actions = nil
	inst.registerAt = time.Time{}
	inst.due = at.Add(m.s.opts.TerminateDelay)
	m.setState(inst, stateTerminatingProceed)
}

// finishAction ends one outstanding action with result, by completion, timeout or hook deletion.
// ABANDON ends every remaining action of the wait too ("stops any remaining actions, such as other
// lifecycle hooks"); for a terminating instance both results terminate it.
func (m *asgModel) finishAction(inst *asgInstance, a *lifecycleAction, result string, at time.Time) {
	inst.actions = slices.DeleteFunc(inst.actions, func(x *lifecycleAction) bool { return x == a })
	if result == resultAbandon {
		inst.actions = nil
		if inst.state == statePendingWait {
			inst.abandoned = true
		}
	}
	if len(inst.actions) > 0 {
		m.retime(inst) // the earliest expiry may have changed
		return
	}
	switch inst.state {
	case statePendingWait:
		if inst.abandoned {
			// AWS terminates and replaces an abandoned launch.
			m.beginTermination(inst, at, false)
			m.reconcile(inst.group, at)
			return
		}
		m.inService(inst, at)
	case stateTerminatingWait:
		m.proceed(inst, at)
	}
}

// terminated is the EC2 instance going away at at, with whatever still runs on it.
func (m *asgModel) terminated(inst *asgInstance, at time.Time) {
	// Noted first, so that the timeline exists when the killed tasks' stops are noted.
	m.s.note(inst.id, func(t *Timeline) { t.Group = inst.group.name })
	n := m.s.ecs.hostTerminated(inst.id, at)
	if inst.spot != nil {
		n += inst.spot.killed // the tasks died when EC2 reclaimed the instance
	}
	m.s.note(inst.id, func(t *Timeline) { t.TerminatedAt, t.TasksKilled = at, n })
	m.announceTerminated(inst, at)
	m.s.stats.Terminated++
	if n > 0 {
		m.s.stats.TerminatedWithTasks++
	}
	// Terminated instances leave the describe results at once (AWS keeps them for a short while);
	// a caller looking for one finds it missing, which means done.
	delete(m.instances, inst.id)
	delete(m.timed, inst.id)
	delete(m.usedIDs, inst.id)
	if m.idsStale {
		m.sortedIDs = slices.DeleteFunc(m.sortedIDs, func(id string) bool { return id == inst.id })
	} else if i, ok := slices.BinarySearch(m.sortedIDs, inst.id); ok {
		m.sortedIDs = slices.Delete(m.sortedIDs, i, i+1)
	}
	m.counts[inst.state]--
	if m.counts[inst.state] == 0 {
		delete(m.counts, inst.state)
	}
	g := inst.group
	delete(g.instances, inst.id)
	if g.deleting && len(g.instances) == 0 && m.groups[g.name] == g {
		delete(m.groups, g.name)
	}
}

func (g *asgGroup) hooksFor(transition string) []*lifecycleHook {
	var out []*lifecycleHook
	for _, name := range slices.Sorted(maps.Keys(g.hooks)) {
		if h := g.hooks[name]; h.transition == transition {
			out = append(out, h)
		}
	}
	return out
}

// newInstanceID returns an EC2-style ID, "i-" and 17 hex digits, from the seeded generator. AWS
// never reuses an ID; here an ID is unique among the live instances and the instances whose
// timeline is kept, which bounds the memory of a long run (a 64-bit draw repeating an older one
// is not worth remembering every ID ever issued).
func (m *asgModel) newInstanceID() string {
	for {
		id := fmt.Sprintf("i-0%016x", m.s.rng.Uint64())
		if _, noted := m.s.timelines[id]; !m.usedIDs[id] && !noted {
			m.usedIDs[id] = true
			return id
		}
	}
}

// newUUID returns a version 4 UUID drawn from the seeded generator, so tokens repeat per seed.
func (m *asgModel) newUUID() string {
	var b uuid.UUID
	binary.BigEndian.PutUint64(b[:8], m.s.rng.Uint64())
	binary.BigEndian.PutUint64(b[8:], m.s.rng.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b.String()
}

// LifecycleAction is an outstanding lifecycle action, carrying what AWS's notification to the hook's
// target (EventBridge, SQS or SNS) would: the simulator has no notification targets, so tests and
// demos read tokens here.
type LifecycleAction struct {
	AutoScalingGroupName string
	LifecycleHookName    string
	LifecycleTransition  string
	LifecycleActionToken string
	EC2InstanceID        string
	// Expires is when the action times out and its DefaultResult applies: the heartbeat deadline or
	// the global timeout, whichever is first.
	Expires time.Time
}

// LifecycleActions returns the outstanding lifecycle actions, sorted by group, instance and hook.
func (s *Sim) LifecycleActions() []LifecycleAction {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var out []LifecycleAction
	for _, inst := range s.asg.instances {
		for _, a := range inst.actions {
			if !a.expiry().After(now) {
				continue // expired, awaiting the next Step
			}
			out = append(out, LifecycleAction{
				AutoScalingGroupName: inst.group.name,
				LifecycleHookName:    a.hook,
				LifecycleTransition:  a.transition,
				LifecycleActionToken: a.token,
				EC2InstanceID:        inst.id,
				Expires:              a.expiry(),
			})
		}
	}
	slices.SortFunc(out, func(a, b LifecycleAction) int {
		return cmp.Or(
			cmp.Compare(a.AutoScalingGroupName, b.AutoScalingGroupName),
			cmp.Compare(a.EC2InstanceID, b.EC2InstanceID),
			cmp.Compare(a.LifecycleHookName, b.LifecycleHookName),
		)
	})
	return out
}
