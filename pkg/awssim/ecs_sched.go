package awssim

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The service scheduler and task placement.
//
// Placement is slot-based: an instance holds `slots` tasks, and a task holds its slot from placement
// until it reaches STOPPED (a stopping task still has its containers). Daemon tasks neither need nor
// reserve a slot: ECS reserves resources for daemons ahead of other tasks, which in a slot model
// is the same as giving them room of their own.

// newDeployment makes a new primary deployment of the service's current task definition. Its ID,
// "ecs-svc/<19 digits>", is the startedBy of the tasks it starts.
func (m *ecsModel) newDeployment(svc *ecsService, now time.Time) {
	d := &ecsDeployment{
		id:        fmt.Sprintf("ecs-svc/%019d", 1_000_000_000_000_000_000+m.s.rng.Int64N(8_000_000_000_000_000_000)),
		taskDef:   svc.taskDef,
		createdAt: now,
		updatedAt: now,
	}
	svc.deployments = append([]*ecsDeployment{d}, svc.deployments...)
	svc.cluster.dirty = true
}

// daemonDesired is a daemon service's desired count: one task per ACTIVE instance of its cluster.
func (m *ecsModel) daemonDesired(svc *ecsService) int {
	return svc.cluster.active
}

// scheduleService is one pass of the service scheduler over a service.
func (m *ecsModel) scheduleService(svc *ecsService, now time.Time) {
	switch svc.status {
	case serviceInactive:
		return
	case serviceDraining:
		// A deleted service becomes INACTIVE once its last task has stopped.
		if !slices.ContainsFunc(svc.tasks, (*ecsTask).live) {
			svc.status = serviceInactive
			svc.updatedAt = now
			m.purgeBy(now.Add(m.s.opts.StoppedTaskRetention))
		}
		return
	}
	if svc.strategy == strategyDaemon {
		m.scheduleDaemon(svc, now)
	} else {
		m.scheduleReplica(svc, now)
	}
	// A deployment that has no task left meant to run is over.
	primary := svc.deployments[0]
	svc.deployments = slices.DeleteFunc(svc.deployments, func(d *ecsDeployment) bool {
		return d != primary && !slices.ContainsFunc(svc.tasks, func(t *ecsTask) bool { return t.deployment == d && t.wanted() })
	})
}

// scheduleReplica keeps desiredCount tasks of the primary deployment on ACTIVE instances. Tasks
// on DRAINING instances and tasks of older deployments are replaced within the deployment
// configuration, as ECS documents for draining: replacements start while the service stays at or
// under maximumPercent, and running tasks to replace stop only while the running count stays at
// or over minimumHealthyPercent. With both at 100% nothing can move; with no room elsewhere the
// replacements cannot be placed and the drain stalls.
func (m *ecsModel) scheduleReplica(svc *ecsService, now time.Time) {
	cur, old := m.replicaTasks(svc, now)
	cur = m.scaleIn(svc, cur, now)
	cur = m.startReplicas(svc, cur, old, now)
	m.stopReplaced(svc, cur, old, now)
	if len(old) == 0 && len(cur) == svc.desiredCount && !slices.ContainsFunc(cur, func(t *ecsTask) bool { return t.lastStatus != taskRunning }) {
		m.serviceEvent(svc, now, fmt.Sprintf("(service %s) has reached a steady state.", svc.name))
	}
}

// replicaTasks sorts a REPLICA service's wanted tasks into those of the primary deployment on
// ACTIVE instances (cur) and those to replace (old), stopping at once the unstarted ones that
// are to be replaced.
func (m *ecsModel) replicaTasks(svc *ecsService, now time.Time) (cur, old []*ecsTask) {
	primary := svc.deployments[0]
	for _, t := range svc.tasks {
		if !t.wanted() {
			continue
		}
		draining := t.ci.status != ciActive
		switch {
		case draining && t.lastStatus == taskPending:
			// A service task that has not started on a draining instance stops at once.
			m.stopTask(t, now, StopReasonDraining, stopCodeScheduler, drainReason(t.ci))
		case !draining && t.deployment != primary && t.lastStatus == taskPending:
			m.stopTask(t, now, StopReasonServiceScheduler, stopCodeScheduler, "Task replaced by a newer deployment.")
		case draining || t.deployment != primary:
			old = append(old, t)
		default:
			cur = append(cur, t)
		}
	}
	return cur, old
}

// scaleIn stops surplus tasks of the primary deployment, unstarted ones first, then those on the
// instances most loaded with this service, newest first, and returns the tasks left.
func (m *ecsModel) scaleIn(svc *ecsService, cur []*ecsTask, now time.Time) []*ecsTask {
	excess := len(cur) - svc.desiredCount
	if excess <= 0 {
		return cur
	}
	perInstance := map[*ecsContainerInstance]int{}
	for _, t := range cur {
		perInstance[t.ci]++
	}
	victims := slices.Clone(cur)
	slices.SortStableFunc(victims, func(a, b *ecsTask) int {
		return cmp.Or(
			boolOrder(a.lastStatus != taskPending, b.lastStatus != taskPending),
			cmp.Compare(perInstance[b.ci], perInstance[a.ci]),
			cmp.Compare(b.seq, a.seq),
		)
	})
	victims = victims[:excess]
	for _, t := range victims {
		m.stopTask(t, now, StopReasonServiceScheduler, stopCodeScheduler, "Scaling activity initiated by (deployment "+svc.deployments[0].id+")")
	}
	m.serviceEvent(svc, now, fmt.Sprintf("(service %s) has stopped %d running tasks: %s.", svc.name, len(victims), taskList(victims)))
	return slices.DeleteFunc(cur, func(t *ecsTask) bool { return !t.wanted() })
}

// startReplicas starts replacements or new tasks of the primary deployment, within
// maximumPercent (rounded down, as ECS does), and returns cur with them.
func (m *ecsModel) startReplicas(svc *ecsService, cur, old []*ecsTask, now time.Time) []*ecsTask {
	desired, primary := svc.desiredCount, svc.deployments[0]
	maxCount := desired * svc.maxPercent / 100
	n := min(desired-len(cur), maxCount-len(cur)-len(old))
	if n <= 0 {
		return cur
	}
	var started []*ecsTask
	pick := m.placer(svc)
	for range n {
		ci := pick()
		if ci == nil {
			break
		}
		started = append(started, m.newTask(ci, primary.taskDef, svc, primary, primary.id, "service:"+svc.name, now))
	}
	if len(started) > 0 {
		m.serviceEvent(svc, now, fmt.Sprintf("(service %s) has started %d tasks: %s.", svc.name, len(started), taskList(started)))
	}
	if len(started) < n {
		m.serviceEvent(svc, now, fmt.Sprintf("(service %s) was unable to place a task because no container instance met all of its requirements.", svc.name))
	}
	return append(cur, started...)
}

// stopReplaced stops tasks being replaced while the running count stays at or over
// minimumHealthyPercent (rounded up, as ECS does).
func (m *ecsModel) stopReplaced(svc *ecsService, cur, old []*ecsTask, now time.Time) {
	minCount := (svc.desiredCount*svc.minHealthy + 99) / 100
	healthy := 0
	for _, t := range slices.Concat(cur, old) {
		if t.lastStatus == taskRunning {
			healthy++
		}
	}
	var stopped []*ecsTask
	for _, t := range old {
		if healthy-len(stopped) <= minCount {
			break
		}
		if t.ci.status != ciActive {
			m.stopTask(t, now, StopReasonDraining, stopCodeScheduler, drainReason(t.ci))
		} else {
			m.stopTask(t, now, StopReasonServiceScheduler, stopCodeScheduler, "Task replaced by a newer deployment.")
		}
		stopped = append(stopped, t)
	}
	if len(stopped) > 0 {
		m.serviceEvent(svc, now, fmt.Sprintf("(service %s) has stopped %d running tasks: %s.", svc.name, len(stopped), taskList(stopped)))
	}
}

// scheduleDaemon runs one task of the primary deployment on every ACTIVE instance. On a DRAINING
// instance the daemon tasks are the last to go: they stop once every other task there is STOPPED.
func (m *ecsModel) scheduleDaemon(svc *ecsService, now time.Time) {
	svc.desiredCount = m.daemonDesired(svc)
	var started []*ecsTask
	for _, ci := range svc.cluster.instances {
		switch ci.status {
		case ciActive:
			if ci.runsOnly(svc, svc.deployments[0]) {
				continue // the common case, settled: looked at without gathering anything
			}
			if t := m.daemonOnActive(svc, ci, ci.wantedTasksOf(svc), now); t != nil {
				started = append(started, t)
			}
		case ciDraining:
			m.daemonOnDraining(svc, ci, ci.wantedTasksOf(svc), now)
		}
	}
	if len(started) > 0 {
		m.serviceEvent(svc, now, fmt.Sprintf("(service %s) has started %d tasks: %s.", svc.name, len(started), taskList(started)))
	}
}

// wantedTasksOf returns the service's tasks on the instance that are meant to run.
func (ci *ecsContainerInstance) wantedTasksOf(svc *ecsService) []*ecsTask {
	var mine []*ecsTask
	for _, t := range ci.tasks {
		if t.service == svc && t.wanted() {
			mine = append(mine, t)
		}
	}
	return mine
}

// runsOnly reports whether every task of the service meant to run on the instance is of
// deployment d, and there is one: daemonOnActive would leave such an instance as it is.
func (ci *ecsContainerInstance) runsOnly(svc *ecsService, d *ecsDeployment) bool {
	n := 0
	for _, t := range ci.tasks {
		if t.service == svc && t.wanted() {
			if t.deployment != d {
				return false
			}
			n++
		}
	}
	return n > 0
}

// daemonOnActive keeps one task of the primary deployment on an ACTIVE instance, given the
// service's wanted tasks there (mine), and returns the task it started, if any.
func (m *ecsModel) daemonOnActive(svc *ecsService, ci *ecsContainerInstance, mine []*ecsTask, now time.Time) *ecsTask {
	primary := svc.deployments[0]
	current := false
	for _, t := range mine {
		if t.deployment == primary {
			current = true
			continue
		}
		// A daemon is replaced in place (minimumHealthyPercent 0): the old task goes first.
		m.stopTask(t, now, StopReasonServiceScheduler, stopCodeScheduler, "Task replaced by a newer deployment.")
	}
	if current {
		return nil
	}
	return m.newTask(ci, primary.taskDef, svc, primary, primary.id, "service:"+svc.name, now)
}

// daemonOnDraining stops the service's daemon tasks on a DRAINING instance (mine) once every
// other task there has stopped: daemons stop last.
func (m *ecsModel) daemonOnDraining(svc *ecsService, ci *ecsContainerInstance, mine []*ecsTask, now time.Time) {
	if len(mine) == 0 || slices.ContainsFunc(ci.tasks, func(t *ecsTask) bool { return t.live() && !t.daemon() }) {
		return
	}
	for _, t := range mine {
		m.stopTask(t, now, StopReasonDraining, stopCodeScheduler, drainReason(ci))
	}
	m.serviceEvent(svc, now, fmt.Sprintf("(service %s) has stopped %d running tasks: %s.", svc.name, len(mine), taskList(mine)))
}

// pickInstance chooses where a new task goes: an ACTIVE instance of c with a free slot, spreading
// first by this service's tasks (when svc is set), then by occupied slots, then oldest first.
// It returns nil when no instance has room.
func (m *ecsModel) pickInstance(c *ecsCluster, svc *ecsService) *ecsContainerInstance {
	var best *ecsContainerInstance
	bestMine, bestUsed := 0, 0
	for _, ci := range c.instances {
		used := ci.usedSlots()
		if ci.status != ciActive || used >= ci.slots {
			continue
		}
		if best != nil && bestMine == 0 && used >= bestUsed && !m.reference {
			continue // cannot beat the best: it has none of the service's tasks and fewer or as many used
		}
		mine := ci.liveTasksOf(svc)
		if best == nil || mine < bestMine || (mine == bestMine && used < bestUsed) {
			best, bestMine, bestUsed = ci, mine, used
		}
		if bestMine == 0 && bestUsed == 0 && !m.reference {
			break // nothing later can beat an empty instance: later ones are younger
		}
	}
	return best
}

// liveTasksOf counts the service's tasks on the instance that have not stopped; none for no service.
func (ci *ecsContainerInstance) liveTasksOf(svc *ecsService) int {
	n := 0
	if svc == nil {
		return n
	}
	for _, t := range ci.tasks {
		if t.service == svc && t.live() {
			n++
		}
	}
	return n
}

// newTask places a PENDING task on ci. It starts RUNNING after TaskStartDelay.
func (m *ecsModel) newTask(ci *ecsContainerInstance, td *ecsTaskDef, svc *ecsService, dep *ecsDeployment, startedBy, group string, now time.Time) *ecsTask {
	id := m.newID()
	t := &ecsTask{
		seq:           m.nextSeq(),
		id:            id,
		arn:           m.arn("task/" + ci.cluster.name + "/" + id),
		cluster:       ci.cluster,
		taskDef:       td,
		ci:            ci,
		service:       svc,
		deployment:    dep,
		startedBy:     startedBy,
		group:         group,
		desiredStatus: taskRunning,
		createdAt:     now,
		runAt:         now.Add(m.s.opts.TaskStartDelay),
		version:       1,
	}
	m.setLastStatus(t, taskPending)
	m.addTimer(t, t.runAt)
	m.tasks = append(m.tasks, t)
	m.tasksByID[id] = t
	ci.tasks = append(ci.tasks, t)
	m.announceTask(t, now)
	m.instanceChanged(ci, now)
	if svc != nil {
		svc.tasks = append(svc.tasks, t)
	}
	return t
}

// serviceEvent records a service event, newest first, unless it repeats the newest one: a stalled
// service would otherwise log the same line every step.
func (m *ecsModel) serviceEvent(svc *ecsService, now time.Time, msg string) {
	if len(svc.events) > 0 && svc.events[0].message == msg {
		return
	}
	e := ecsServiceEvent{id: m.newID(), createdAt: now, message: msg}
	svc.events = slices.Insert(svc.events, 0, e)
	if len(svc.events) > maxServiceEvents {
		svc.events = svc.events[:maxServiceEvents]
	}
}

// taskList renders tasks as ECS service events do: "(task id) (task id)".
func taskList(tasks []*ecsTask) string {
	parts := make([]string, len(tasks))
	for i, t := range tasks {
		parts[i] = "(task " + t.id + ")"
	}
	return strings.Join(parts, " ")
}

// boolOrder orders false before true.
func boolOrder(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}
