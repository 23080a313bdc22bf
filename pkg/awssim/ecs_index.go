package awssim

import (
	"cmp"
	"container/heap"
	"slices"
	"time"
)

// The ECS model's indexes. A fleet of tens of thousands of instances is mostly at rest, so a step
// must cost what changed, not what exists: each index below is updated where the state it
// reflects changes, and the consistency test (index_test.go) checks every one against a recount.
//
//   - ecsModel.byEC2 and ecsCluster.instances find container instances by EC2 instance ID and by
//     cluster; ecsContainerInstance.used counts the tasks holding a slot.
//   - ecsModel.taskCounts, ecsModel.ciCounts, ecsCluster.taskCounts and ecsCluster.active count by
//     status, for the gauges, DescribeClusters and the daemon scheduler.
//   - ecsModel.timers is a min-heap of task timers (PENDING -> RUNNING, STOPPING -> STOPPED).
//   - ecsCluster.dirty lets the service scheduler skip a cluster where nothing changed.
//   - ecsModel.purgeAt is when purge next has something to forget.

// taskTimer is a transition of t due at at, from lastStatus status.
type taskTimer struct {
	at     time.Time
	seq    int64
	status string
	t      *ecsTask
}

// current reports whether the timer is still the task's: the task may have stopped, or died with
// its host, since it was set.
func (e taskTimer) current() bool {
	at, ok := e.t.dueAt()
	return ok && at.Equal(e.at) && e.t.lastStatus == e.status
}

// taskTimers is a min-heap of taskTimer by time, then task creation order: the order dueTasks
// returns them in. It may hold stale timers; dueTasks drops them.
type taskTimers = minHeap[taskTimer]

func (e taskTimer) less(o taskTimer) bool { //nolint:unused // called by minHeap through its type constraint
	return cmp.Or(e.at.Compare(o.at), cmp.Compare(e.seq, o.seq)) < 0
}

// addTimer sets a timer for the task's transition due at at, from its current lastStatus.
func (m *ecsModel) addTimer(t *ecsTask, at time.Time) {
	heap.Push(&m.timers, taskTimer{at: at, seq: t.seq, status: t.lastStatus, t: t})
}

// setLastStatus moves a task to lastStatus status (a new task has none), keeping the counts and
// its instance's used slots current: a non-daemon task holds a slot until it reaches STOPPED.
func (m *ecsModel) setLastStatus(t *ecsTask, status string) {
	wasLive := t.lastStatus != "" && t.live()
	if t.lastStatus != "" {
		m.countTask(t, t.lastStatus, -1)
	}
	t.lastStatus = status
	m.countTask(t, status, 1)
	if isLive := t.live(); wasLive != isLive && !t.daemon() {
		if isLive {
			t.ci.used++
		} else {
			t.ci.used--
		}
	}
}

// countTask adds d to the counts of tasks in status, in the account and in the task's cluster.
func (m *ecsModel) countTask(t *ecsTask, status string, d int) {
	addCount(m.taskCounts, status, d)
	addCount(t.cluster.taskCounts, status, d)
}

// setCIStatus moves a container instance to status (a new one has none), keeping the counts current.
func (m *ecsModel) setCIStatus(ci *ecsContainerInstance, status string) {
	if ci.status == ciActive {
		ci.cluster.active--
	}
	if ci.status != "" {
		addCount(m.ciCounts, ci.status, -1)
	}
	ci.status = status
	addCount(m.ciCounts, status, 1)
	if status == ciActive {
		ci.cluster.active++
	}
}

// forgetInstance drops a purged container instance from the account's indexes; the caller drops
// it from its cluster's list.
func (m *ecsModel) forgetInstance(ci *ecsContainerInstance) {
	delete(m.instancesByID, ci.id)
	addCount(m.ciCounts, ci.status, -1)
	rest := slices.DeleteFunc(m.byEC2[ci.ec2InstanceID], func(x *ecsContainerInstance) bool { return x == ci })
	if len(rest) == 0 {
		delete(m.byEC2, ci.ec2InstanceID)
	} else {
		m.byEC2[ci.ec2InstanceID] = rest
	}
}

// purgeBy notes that something retained ends its retention at t, so purge looks then.
func (m *ecsModel) purgeBy(t time.Time) {
	if m.purgeAt.IsZero() || t.Before(m.purgeAt) {
		m.purgeAt = t
	}
}

// addCount adds d to counts[k], dropping a count that reaches zero, so the maps hold only the
// states in use, as a recount would.
func addCount(counts map[string]int, k string, d int) {
	counts[k] += d
	if counts[k] == 0 {
		delete(counts, k)
	}
}

// placement is an instance that can take a task of the service being placed, with what
// pickInstance weighs: the service's live tasks there and the slots in use.
type placement struct {
	ci         *ecsContainerInstance
	mine, used int
}

// less orders placements as pickInstance prefers them: fewest of the service's tasks, then fewest
// slots in use, then oldest.
func (p placement) less(o placement) bool { //nolint:unused // called by minHeap through its type constraint
	return cmp.Or(cmp.Compare(p.mine, o.mine), cmp.Compare(p.used, o.used), cmp.Compare(p.ci.seq, o.ci.seq)) < 0
}

// placer returns a function that picks, each time it is called, the instance pickInstance would
// pick for a task of svc, for the tasks the caller then places there at once: it weighs the
// cluster's instances once and then keeps them in a heap, instead of weighing every instance for
// every task. Only the picked instance changes between picks (by one task of svc holding a slot),
// so the heap stays exact. The reference model picks with pickInstance itself.
func (m *ecsModel) placer(svc *ecsService) func() *ecsContainerInstance {
	if m.reference {
		return func() *ecsContainerInstance { return m.pickInstance(svc.cluster, svc) }
	}
	var h minHeap[placement]
	for _, ci := range svc.cluster.instances {
		if used := ci.usedSlots(); ci.status == ciActive && used < ci.slots {
			h = append(h, placement{ci: ci, mine: ci.liveTasksOf(svc), used: used})
		}
	}
	heap.Init(&h)
	return func() *ecsContainerInstance {
		if len(h) == 0 {
			return nil
		}
		p := h[0]
		p.mine++ // the caller places one task of svc there, holding a slot
		p.used++
		if p.used < p.ci.slots {
			h[0] = p
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
		return p.ci
	}
}

// dueTasksByScan is dueTasks without the timer heap, for the reference model: every task, sorted.
func (m *ecsModel) dueTasksByScan(now time.Time) []*ecsTask {
	var due []*ecsTask
	for _, t := range m.tasks {
		if at, ok := t.dueAt(); ok && !at.After(now) {
			due = append(due, t)
		}
	}
	slices.SortFunc(due, func(a, b *ecsTask) int {
		x, _ := a.dueAt()
		y, _ := b.dueAt()
		return cmp.Or(x.Compare(y), cmp.Compare(a.seq, b.seq))
	})
	return due
}
