package awssim

// The ECS half of the simulator: clusters, task definitions, container instances, services and tasks,
// and how they change over time. This file holds the state and the task life cycle; the operations
// are in ecs_clusters.go, ecs_taskdefs.go, ecs_services.go, ecs_tasks.go, ecs_instances.go and
// ecs_tags.go; ecs_sched.go holds the service scheduler and placement, ecs_render.go the response
// shapes, ecs_util.go ARNs, paging and tag checks, cql.go the cluster query language.

import (
	"container/heap"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Container instance statuses this model uses. REGISTERING, DEREGISTERING and REGISTRATION_FAILED
// are accepted as filters but never reached: registration and deregistration are instantaneous here.
const (
	ciActive   = "ACTIVE"
	ciDraining = "DRAINING"
	ciInactive = "INACTIVE"
)

// Task statuses (lastStatus / desiredStatus). Tasks on the EC2 launch type without awsvpc skip
// PROVISIONING, so a new task starts PENDING; and DEACTIVATING, which is for tasks with teardown
// to do first (deregistering from load balancers, which this model has not), so a stopping task
// goes RUNNING -> STOPPING -> STOPPED.
const (
	taskPending  = "PENDING"
	taskRunning  = "RUNNING"
	taskStopping = "STOPPING"
	taskStopped  = "STOPPED"
)

// Scheduling strategies and service statuses.
const (
	strategyReplica = "REPLICA"
	strategyDaemon  = "DAEMON"

	serviceActive   = "ACTIVE"
	serviceDraining = "DRAINING"
	serviceInactive = "INACTIVE"
)

// Stop codes ECS reports on a stopped task.
const (
	stopCodeUser      = "UserInitiated"
	stopCodeScheduler = "ServiceSchedulerInitiated"
	stopCodeHost      = "TerminationNotice"
)

const (
	// defaultStopTimeout is ECS's stop timeout for a container without stopTimeout
	// (ECS_CONTAINER_STOP_TIMEOUT, 30s).
	defaultStopTimeout = 30 * time.Second
	// slotUnits is how much CPU and memory one task slot stands for in registeredResources and
	// remainingResources, so those fields move the way they do on a real instance.
	slotUnits = 1024
	// maxServiceEvents is how many events a service keeps, as ECS shows the latest 100.
	maxServiceEvents = 100
	// agentVersion is what the simulated ECS agent reports.
	agentVersion = "1.99.0"
)

// ecsModel is the state of ECS in the simulated account. Every method runs with s.mu held.
type ecsModel struct {
	s *Sim

	seq int64 // creation sequence: orders every list and backs the page tokens

	clusters       []*ecsCluster // creation order
	clustersByName map[string]*ecsCluster

	families map[string][]*ecsTaskDef // family -> revisions, revision N at index N-1

	instances     []*ecsContainerInstance // creation order, INACTIVE ones until purged
	instancesByID map[string]*ecsContainerInstance
	// byEC2 holds the container instances of each EC2 instance, in creation order, INACTIVE ones
	// until purged: an instance registers once, but after a forced deregistration it may again.
	byEC2 map[string][]*ecsContainerInstance

	tasks     []*ecsTask // creation order, STOPPED ones until their retention ends
	tasksByID map[string]*ecsTask

	// The indexes below keep a step proportional to what changed (ecs_index.go): counts by status
	// for the gauges, the task timers due next, and the earliest time purge has work.
	ciCounts   map[string]int // container instances by status
	taskCounts map[string]int // tasks by lastStatus
	timers     taskTimers
	purgeAt    time.Time // zero: nothing retained ends its retention
	// reference makes every step do the full work the indexes let it skip: scan every task for
	// due timers, schedule every cluster, purge every step, and weigh every instance in placement.
	// The consistency test runs a model with it against one without; nothing else sets it.
	reference bool

	handlers map[string]func([]byte) (any, *apiError)
}

type ecsTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type ecsCluster struct {
	seq       int64
	name, arn string
	createdAt time.Time
	tags      []ecsTag

	services       []*ecsService          // creation order, including INACTIVE ones
	servicesByName map[string]*ecsService // the newest service of each name

	instances  []*ecsContainerInstance // creation order, INACTIVE ones until purged
	active     int                     // ACTIVE container instances
	taskCounts map[string]int          // tasks by lastStatus
	// dirty says that something the service scheduler reads (a task, a container instance, a
	// service) changed since its last pass over the cluster; a clean cluster is skipped.
	dirty bool
}

type ecsTaskDef struct {
	seq                     int64
	family                  string
	revision                int
	arn                     string
	containers              []ecsContainerDef
	rawContainers           []json.RawMessage // echoed back as sent plus AWS's defaults, so every field round-trips
	cpu, memory             string
	networkMode             string
	requiresCompatibilities []string
	volumes                 []map[string]json.RawMessage // echoed back as sent
	placementConstraints    []map[string]json.RawMessage // echoed back as sent
	// overrides is what DescribeTasks shows for a task of this definition: one containerOverrides
	// entry per container, as tasks carry no overrides here. Built once and shared by every task.
	overrides    taskOverridesOut
	registeredAt time.Time
	tags         []ecsTag
	stopTimeout  time.Duration // the longest container stopTimeout, before StopTimeoutScale
}

// ecsContainerDef is the part of a container definition the model acts on or shows on a task.
type ecsContainerDef struct {
	Name              string `json:"name"`
	Image             string `json:"image"`
	StopTimeout       *int64 `json:"stopTimeout"`
	CPU               *int64 `json:"cpu"`
	Memory            *int64 `json:"memory"`
	MemoryReservation *int64 `json:"memoryReservation"`

	// cpuText, memoryText and memoryReservationText are CPU, Memory and MemoryReservation as
	// DescribeTasks shows them on each container (strings; cpu "0" when unset, the others absent),
	// formatted once at registration so that rendering a task formats nothing.
	cpuText, memoryText, memoryReservationText string
}

type ecsContainerInstance struct {
	seq            int64
	id, arn        string
	cluster        *ecsCluster
	ec2InstanceID  string
	status         string
	agentConnected bool
	slots          int
	registeredAt   time.Time
	inactiveAt     time.Time
	version        int64
	tags           []ecsTag
	tasks          []*ecsTask // every task placed here that is still retained
	used           int        // tasks holding a slot (see usedSlots), kept by setLastStatus
	// orphans counts tasks orphaned by a forced deregistration: ECS stopped tracking them but their
	// containers still run on the host, so they die (host_terminated) when the host terminates.
	orphans int
}

type ecsService struct {
	seq                    int64
	name, arn              string
	cluster                *ecsCluster
	taskDef                *ecsTaskDef
	desiredCount           int // for DAEMON, recomputed every step
	strategy               string
	minHealthy, maxPercent int
	status                 string
	createdAt, updatedAt   time.Time
	tags                   []ecsTag
	deployments            []*ecsDeployment // primary first
	events                 []ecsServiceEvent
	tasks                  []*ecsTask // every task the service started that is still retained
}

type ecsDeployment struct {
	id                   string // "ecs-svc/<digits>", the startedBy of its tasks
	taskDef              *ecsTaskDef
	createdAt, updatedAt time.Time
}

type ecsServiceEvent struct {
	id        string
	createdAt time.Time
	message   string
}

type ecsTask struct {
	seq        int64
	id, arn    string
	cluster    *ecsCluster
	taskDef    *ecsTaskDef
	ci         *ecsContainerInstance
	service    *ecsService    // nil for a standalone task
	deployment *ecsDeployment // nil for a standalone task
	startedBy  string
	group      string
	tags       []ecsTag

	lastStatus, desiredStatus string
	createdAt, startedAt      time.Time
	stoppingAt, stoppedAt     time.Time
	runAt                     time.Time // when PENDING becomes RUNNING
	stopAt                    time.Time // when a stopping task reaches STOPPED
	stopCode, stoppedReason   string
	stopLabel                 string // the awssim_tasks_stopped_total reason it is counted under
	version                   int64
}

func (t *ecsTask) daemon() bool { return t.service != nil && t.service.strategy == strategyDaemon }

// live reports whether the task has not reached STOPPED: it still holds its containers.
func (t *ecsTask) live() bool { return t.lastStatus != taskStopped }

// wanted reports whether the task is meant to run (desiredStatus RUNNING).
func (t *ecsTask) wanted() bool { return t.desiredStatus == taskRunning }

func newECSModel(s *Sim) *ecsModel {
	m := &ecsModel{
		s:              s,
		clustersByName: map[string]*ecsCluster{},
		families:       map[string][]*ecsTaskDef{},
		instancesByID:  map[string]*ecsContainerInstance{},
		byEC2:          map[string][]*ecsContainerInstance{},
		tasksByID:      map[string]*ecsTask{},
		ciCounts:       map[string]int{},
		taskCounts:     map[string]int{},
	}
	// Each operation takes its decoded request and returns the response object or an *apiError. Messages follow ECS's where they are known; where they are
	// not, they say plainly what is wrong.
	m.handlers = map[string]func([]byte) (any, *apiError){
		"CreateCluster":                 jsonOp(m.createCluster),
		"ListClusters":                  jsonOp(m.listClusters),
		"DescribeClusters":              jsonOp(m.describeClusters),
		"RegisterTaskDefinition":        jsonOp(m.registerTaskDefinition),
		"DescribeTaskDefinition":        jsonOp(m.describeTaskDefinition),
		"CreateService":                 jsonOp(m.createService),
		"UpdateService":                 jsonOp(m.updateService),
		"DeleteService":                 jsonOp(m.deleteService),
		"DescribeServices":              jsonOp(m.describeServices),
		"ListServices":                  jsonOp(m.listServices),
		"RunTask":                       jsonOp(m.runTask),
		"StopTask":                      jsonOp(m.stopTaskOp),
		"ListTasks":                     jsonOp(m.listTasks),
		"DescribeTasks":                 jsonOp(m.describeTasks),
		"ListContainerInstances":        jsonOp(m.listContainerInstances),
		"DescribeContainerInstances":    jsonOp(m.describeContainerInstances),
		"UpdateContainerInstancesState": jsonOp(m.updateContainerInstancesState),
		"DeregisterContainerInstance":   jsonOp(m.deregisterContainerInstance),
		"TagResource":                   jsonOp(m.tagResource),
		"UntagResource":                 jsonOp(m.untagResource),
		"ListTagsForResource":           jsonOp(m.listTagsForResource),
	}
	return m
}

// jsonOp adapts an operation taking its decoded request to the raw-body handler signature. A body
// that does not decode into the request shape is a SerializationException, as AWS answers.
func jsonOp[In any](f func(*In) (any, *apiError)) func([]byte) (any, *apiError) {
	return func(body []byte) (any, *apiError) {
		var in In
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, serializationException("Unable to parse request body: " + err.Error())
		}
		return f(&in)
	}
}

// handle runs one JSON 1.1 operation.
func (m *ecsModel) handle(op string, body []byte) (any, *apiError) {
	h, ok := m.handlers[op]
	if !ok {
		return nil, unknownOperation(op)
	}
	return h(body)
}

func (m *ecsModel) nextSeq() int64 {
	m.seq++
	return m.seq
}

// newID is a 32-hex-digit ID as ECS gives tasks and container instances, drawn from the seeded rng.
func (m *ecsModel) newID() string {
	return fmt.Sprintf("%016x%016x", m.s.rng.Uint64(), m.s.rng.Uint64())
}

// dueAt is when the task's next timed transition is due: PENDING -> RUNNING at runAt, STOPPING ->
// STOPPED at stopAt.
func (t *ecsTask) dueAt() (time.Time, bool) {
	switch {
	case t.lastStatus == taskPending && t.wanted():
		return t.runAt, true
	case t.lastStatus == taskStopping:
		return t.stopAt, true
	}
	return time.Time{}, false
}

// dueTasks returns the tasks with a transition due by now, earliest first (then in creation
// order). Sim.stepLocked interleaves them with the Auto Scaling model's transitions. Nothing in a
// step's timed transitions gives a task a new timer (hostTerminated stops tasks at once), so the
// list is complete when taken.
func (m *ecsModel) dueTasks(now time.Time) []*ecsTask {
	if m.reference {
		return m.dueTasksByScan(now)
	}
	var due []*ecsTask
	for len(m.timers) > 0 && !m.timers[0].at.After(now) {
		e := heap.Pop(&m.timers).(taskTimer)
		if e.current() {
			due = append(due, e.t)
		}
	}
	return due
}

// fireTask makes the task's due transition at the time it was due, if it is still due then (the
// task may have died with its host in between).
func (m *ecsModel) fireTask(t *ecsTask, at time.Time) {
	if due, ok := t.dueAt(); !ok || !due.Equal(at) {
		return
	}
	switch t.lastStatus {
	case taskPending:
		m.setLastStatus(t, taskRunning)
		t.startedAt = at
		m.taskChanged(t, at)
	case taskStopping:
		m.markStopped(t, at)
	}
}

// schedule lets the service scheduler act at now, after the step's timed transitions, then purges
// what has outlived its retention.
func (m *ecsModel) schedule(now time.Time) {
	for _, c := range m.clusters {
		if !c.dirty && !m.reference {
			continue // the last pass found nothing to do, and nothing changed since
		}
		c.dirty = false // before the pass: what the pass changes makes the next one look again
		for _, svc := range c.services {
			m.scheduleService(svc, now)
		}
	}
	m.purge(now)
}

// stopTask starts stopping a task: desiredStatus STOPPED at once; a task that never started stops
// at once, a started one goes STOPPING and reaches STOPPED after its stop timeout.
// label is the metric reason it is counted under when it reaches STOPPED. Stopping a task already
// told to stop changes nothing, so a task is counted once.
func (m *ecsModel) stopTask(t *ecsTask, now time.Time, label, code, reason string) {
	if !t.wanted() {
		return
	}
	t.desiredStatus = taskStopped
	t.stoppingAt = now
	t.stopCode = code
	t.stoppedReason = reason
	t.stopLabel = label
	m.taskChanged(t, now)
	if t.lastStatus == taskPending {
		m.markStopped(t, now)
		return
	}
	m.setLastStatus(t, taskStopping)
	t.stopAt = now.Add(m.stopDelay(t.taskDef))
	m.addTimer(t, t.stopAt)
}

// stopDelay is how long a started task takes to stop: its longest container stopTimeout, scaled.
func (m *ecsModel) stopDelay(td *ecsTaskDef) time.Duration {
	return time.Duration(float64(td.stopTimeout) * m.s.opts.StopTimeoutScale)
}

// markStopped puts a task in STOPPED at now (the time it stopped, which may be before the step's
// time) and counts it, exactly once.
func (m *ecsModel) markStopped(t *ecsTask, now time.Time) {
	if !t.live() {
		return
	}
	m.setLastStatus(t, taskStopped)
	t.desiredStatus = taskStopped
	if t.stoppingAt.IsZero() {
		t.stoppingAt = now
	}
	t.stoppedAt = now
	m.purgeBy(now.Add(m.s.opts.StoppedTaskRetention))
	m.taskChanged(t, now)
	m.s.taskStopped(t.stopLabel)
	// The instance's timeline (debug.go) gets the time of its latest stop once it has a timeline,
	// that is once it is on its way out; other instances are not tracked, to keep the map small.
	if _, tracked := m.s.timelines[t.ci.ec2InstanceID]; tracked {
		m.s.note(t.ci.ec2InstanceID, func(tl *Timeline) {
			if now.After(tl.LastTaskStoppedAt) {
				tl.LastTaskStoppedAt = now
			}
		})
	}
}

// purge forgets stopped tasks past their retention, INACTIVE container instances past the same
// retention, services that finished deleting and deployments that have no task left. It looks only
// once purgeAt has come: before that, nothing retained has outlived its retention.
func (m *ecsModel) purge(now time.Time) {
	if !m.reference && (m.purgeAt.IsZero() || now.Before(m.purgeAt)) {
		return
	}
	m.purgeAt = time.Time{}
	keep := m.s.opts.StoppedTaskRetention
	m.purgeTasks(now, keep)
	m.purgeInstances(now, keep)
	for _, c := range m.clusters {
		m.purgeServices(c, now, keep)
	}
}

// purgeInstances forgets the INACTIVE container instances past their retention. One is kept while
// a task on it is retained or orphans wait for the host to die, so hostTerminated can still find
// them.
func (m *ecsModel) purgeInstances(now time.Time, keep time.Duration) {
	m.instances = slices.DeleteFunc(m.instances, func(ci *ecsContainerInstance) bool {
		if ci.status != ciInactive || len(ci.tasks) > 0 || ci.orphans > 0 || now.Before(ci.inactiveAt.Add(keep)) {
			if ci.status == ciInactive && now.Before(ci.inactiveAt.Add(keep)) {
				m.purgeBy(ci.inactiveAt.Add(keep))
			}
			return false
		}
		m.forgetInstance(ci)
		return true
	})
	for _, c := range m.clusters {
		c.instances = slices.DeleteFunc(c.instances, func(ci *ecsContainerInstance) bool { return m.instancesByID[ci.id] != ci })
	}
}

// purgeServices forgets the services of c that finished deleting past their retention.
func (m *ecsModel) purgeServices(c *ecsCluster, now time.Time, keep time.Duration) {
	c.services = slices.DeleteFunc(c.services, func(svc *ecsService) bool {
		if svc.status != serviceInactive || len(svc.tasks) > 0 || now.Before(svc.updatedAt.Add(keep)) {
			if svc.status == serviceInactive && now.Before(svc.updatedAt.Add(keep)) {
				m.purgeBy(svc.updatedAt.Add(keep))
			}
			return false
		}
		if c.servicesByName[svc.name] == svc {
			delete(c.servicesByName, svc.name)
		}
		return true
	})
}

// purgeTasks forgets the stopped tasks past their retention, and notes when the next one ends.
func (m *ecsModel) purgeTasks(now time.Time, keep time.Duration) {
	m.tasks = slices.DeleteFunc(m.tasks, func(t *ecsTask) bool {
		if t.live() {
			return false
		}
		if end := t.stoppedAt.Add(keep); now.Before(end) {
			m.purgeBy(end)
			return false
		}
		delete(m.tasksByID, t.id)
		m.countTask(t, t.lastStatus, -1)
		t.ci.tasks = slices.DeleteFunc(t.ci.tasks, func(x *ecsTask) bool { return x == t })
		if t.service != nil {
			t.service.tasks = slices.DeleteFunc(t.service.tasks, func(x *ecsTask) bool { return x == t })
		}
		return true
	})
}

func (m *ecsModel) countContainerInstancesByStatus() map[string]int {
	return maps.Clone(m.ciCounts)
}

func (m *ecsModel) countTasksByLastStatus() map[string]int {
	return maps.Clone(m.taskCounts)
}

// registerInstance registers the agent of an EC2 instance in a cluster: an ACTIVE container
// instance holding slots tasks. An unknown cluster means the agent never registers, as when its
// ECS_CLUSTER names a cluster that does not exist. Registering an instance that already has a live
// container instance does nothing, so a retried call is harmless. at is when the agent registered.
func (m *ecsModel) registerInstance(cluster, ec2InstanceID string, slots int, at time.Time) {
	c := m.clustersByName[clusterNameOf(cluster)]
	if c == nil {
		return
	}
	for _, ci := range m.byEC2[ec2InstanceID] {
		if ci.status != ciInactive {
			return
		}
	}
	id := m.newID()
	ci := &ecsContainerInstance{
		seq:            m.nextSeq(),
		id:             id,
		arn:            m.arn("container-instance/" + c.name + "/" + id),
		cluster:        c,
		ec2InstanceID:  ec2InstanceID,
		agentConnected: true,
		slots:          max(slots, 0),
		registeredAt:   at,
		version:        1,
	}
	m.setCIStatus(ci, ciActive)
	m.instances = append(m.instances, ci)
	c.instances = append(c.instances, ci)
	m.instancesByID[id] = ci
	m.byEC2[ec2InstanceID] = append(m.byEC2[ec2InstanceID], ci)
	c.dirty = true
	m.announceInstance(ci, at)
}

// hostTerminated records that an EC2 instance reached Terminated at now: its container instance
// goes INACTIVE with the agent disconnected, and every task on it that had not stopped dies at
// once. It returns how many tasks died that way.
func (m *ecsModel) hostTerminated(ec2InstanceID string, now time.Time) int {
	killed := 0
	for _, ci := range m.byEC2[ec2InstanceID] {
		reason := fmt.Sprintf("Host EC2 (instance %s) terminated.", ec2InstanceID)
		for _, t := range ci.tasks {
			if !t.live() {
				continue
			}
			// A task already stopping is killed too, and counted as killed by the termination: its
			// containers had not exited, which is the failure this simulator measures.
			t.desiredStatus = taskStopped
			t.stopCode = stopCodeHost
			t.stoppedReason = reason
			t.stopLabel = StopReasonHostTerminated
			m.markStopped(t, now)
			killed++
		}
		for range ci.orphans {
			m.s.taskStopped(StopReasonHostTerminated)
		}
		killed += ci.orphans
		ci.orphans = 0
		if ci.status != ciInactive || ci.agentConnected {
			m.setCIStatus(ci, ciInactive)
			ci.agentConnected = false
			ci.inactiveAt = now
			m.instanceChanged(ci, now)
		}
		// Its orphans are gone: the instance may be purged once its retention ends.
		m.purgeBy(ci.inactiveAt.Add(m.s.opts.StoppedTaskRetention))
	}
	return killed
}
