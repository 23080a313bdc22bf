package awssim

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/url"
	"reflect"
	"slices"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// The indexes (ecs_index.go, and the Auto Scaling due queue) must change what a step costs, never
// what it does. TestIndexesMatchModel drives two simulators with the same seed through the same
// random operations, one with the indexes and one in reference mode (every shortcut off), and
// after each operation checks that every index agrees with a recount of the model and that both
// simulators show the same state.

// indexRun is one simulator of the pair.
type indexRun struct {
	sim   *Sim
	clock *clocktesting.FakeClock
}

func newIndexRun(seed int64, reference bool) *indexRun {
	clk := clocktesting.NewFakeClock(simStart)
	s := New(Options{
		Clock: clk, Seed: seed,
		StoppedTaskRetention: 5 * time.Second, StopTimeoutScale: 0.05,
		LaunchDelay: 300 * time.Millisecond, RegisterDelay: 200 * time.Millisecond,
	})
	s.ecs.reference = reference
	s.asg.reference = reference
	return &indexRun{sim: s, clock: clk}
}

// ecs runs an ECS operation; errors are part of the behaviour compared, so they are returned.
func (r *indexRun) ecs(op string, in any) string {
	body, _ := json.Marshal(in)
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	out, err := r.sim.ecs.handle(op, body)
	return fmt.Sprint(out != nil, err)
}

func (r *indexRun) asg(op string, kv ...string) string {
	form := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		form.Set(kv[i], kv[i+1])
	}
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	out, err := r.sim.asg.handle(op, form)
	return fmt.Sprint(out != nil, err)
}

func (r *indexRun) advance(d time.Duration) {
	r.clock.Step(d)
	r.sim.Step()
}

// setUp builds three clusters, two groups each (one with a terminating hook), a replica and a
// daemon service per cluster.
func (r *indexRun) setUp() {
	r.ecs("RegisterTaskDefinition", map[string]any{"family": "web", "containerDefinitions": []any{map[string]any{"name": "app", "image": "busybox", "memory": 128, "stopTimeout": 20}}})
	for c := range 3 {
		cluster := fmt.Sprintf("c%d", c)
		r.ecs("CreateCluster", map[string]any{"clusterName": cluster})
		for g := range 2 {
			name := fmt.Sprintf("%s-g%d", cluster, g)
			r.asg("CreateAutoScalingGroup", "AutoScalingGroupName", name, "MinSize", "0", "MaxSize", "20", "DesiredCapacity", "4",
				"AvailabilityZones.member.1", "us-east-1a",
				"Tags.member.1.Key", tagECSCluster, "Tags.member.1.Value", cluster,
				"Tags.member.2.Key", tagTaskSlots, "Tags.member.2.Value", fmt.Sprint(2+g))
			if g == 0 {
				r.asg("PutLifecycleHook", "AutoScalingGroupName", name, "LifecycleHookName", "drain",
					"LifecycleTransition", transitionTerminating, "HeartbeatTimeout", "30", "DefaultResult", resultContinue)
			}
		}
	}
	r.advance(time.Second)
	for c := range 3 {
		cluster := fmt.Sprintf("c%d", c)
		r.ecs("CreateService", map[string]any{"cluster": cluster, "serviceName": "web", "taskDefinition": "web", "desiredCount": 8})
		r.ecs("CreateService", map[string]any{"cluster": cluster, "serviceName": "agent", "taskDefinition": "web", "schedulingStrategy": strategyDaemon})
	}
}

// op applies random operation k (drawn by the caller) to the run, picking targets with pick.
func (r *indexRun) op(k int, pick *rand.Rand) string {
	cluster := fmt.Sprintf("c%d", pick.IntN(3))
	r.sim.mu.Lock()
	cis := slices.Clone(r.sim.ecs.instances)
	tasks := slices.Clone(r.sim.ecs.tasks)
	r.sim.mu.Unlock()
	ciArn, taskArn := "none", "none"
	if len(cis) > 0 {
		ci := cis[pick.IntN(len(cis))]
		ciArn, cluster = ci.arn, ci.cluster.name
	}
	if len(tasks) > 0 {
		taskArn = tasks[pick.IntN(len(tasks))].arn
	}
	switch k {
	case 0:
		return r.asg("SetDesiredCapacity", "AutoScalingGroupName", fmt.Sprintf("c%d-g%d", pick.IntN(3), pick.IntN(2)), "DesiredCapacity", fmt.Sprint(pick.IntN(8)))
	case 1:
		return r.ecs("UpdateContainerInstancesState", map[string]any{"cluster": cluster, "containerInstances": []string{ciArn}, "status": []string{ciDraining, ciActive}[pick.IntN(2)]})
	case 2:
		return r.ecs("StopTask", map[string]any{"cluster": cluster, "task": taskArn})
	case 3:
		return r.ecs("RunTask", map[string]any{"cluster": cluster, "taskDefinition": "web", "count": 1 + pick.IntN(3)})
	case 4:
		return r.ecs("DeregisterContainerInstance", map[string]any{"cluster": cluster, "containerInstance": ciArn, "force": pick.IntN(2) == 0})
	case 5:
		return r.ecs("UpdateService", map[string]any{"cluster": cluster, "service": "web", "desiredCount": pick.IntN(16), "forceNewDeployment": pick.IntN(4) == 0})
	case 6:
		for _, a := range r.sim.LifecycleActions() {
			return r.asg("CompleteLifecycleAction", "AutoScalingGroupName", a.AutoScalingGroupName, "LifecycleHookName", a.LifecycleHookName,
				"InstanceId", a.EC2InstanceID, "LifecycleActionResult", resultContinue)
		}
		return "no action"
	case 8:
		for _, a := range r.sim.LifecycleActions() {
			return r.asg("RecordLifecycleActionHeartbeat", "AutoScalingGroupName", a.AutoScalingGroupName, "LifecycleHookName", a.LifecycleHookName,
				"InstanceId", a.EC2InstanceID)
		}
		return "no action"
	case 7:
		return r.ecs("ListContainerInstances", map[string]any{"cluster": cluster, "filter": "ec2InstanceId in [i-1, " + r.anyEC2(pick) + "]"})
	}
	r.advance(time.Duration(pick.IntN(3000)) * time.Millisecond)
	return "step"
}

func (r *indexRun) anyEC2(pick *rand.Rand) string {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	if len(r.sim.ecs.instances) == 0 {
		return "i-2"
	}
	return r.sim.ecs.instances[pick.IntN(len(r.sim.ecs.instances))].ec2InstanceID
}

// snapshot is everything a client could see of the ECS model, and the counts.
func (r *indexRun) snapshot() string {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	m := r.sim.ecs
	var v []any
	for _, ci := range m.instances {
		v = append(v, m.renderInstance(ci, true))
	}
	for _, t := range m.tasks {
		v = append(v, m.renderTask(t, true))
	}
	for _, c := range m.clusters {
		v = append(v, m.renderCluster(c, true))
		for _, svc := range c.services {
			v = append(v, m.renderService(svc, true))
		}
	}
	v = append(v, r.sim.stats.Terminated, r.sim.stats.TerminatedWithTasks, r.sim.asg.counts)
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestIndexesMatchModel(t *testing.T) {
	for seed := range int64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			fast, ref := newIndexRun(seed, false), newIndexRun(seed, true)
			fast.setUp()
			ref.setUp()
			rng := rand.New(rand.NewPCG(uint64(seed), 7))
			for i := range 400 {
				k, s := rng.IntN(14), rng.Uint64()
				got := fast.op(k, rand.New(rand.NewPCG(s, 1)))
				want := ref.op(k, rand.New(rand.NewPCG(s, 1)))
				if got != want {
					t.Fatalf("operation %d (kind %d): indexed model answered %s, reference %s", i, k, got, want)
				}
				checkIndexes(t, fast.sim)
				if a, b := fast.snapshot(), ref.snapshot(); a != b {
					t.Fatalf("operation %d (kind %d): the indexed model's state differs from the reference's", i, k)
				}
			}
		})
	}
}

// checkIndexes recounts the model and compares every index with the recount.
func checkIndexes(t *testing.T, s *Sim) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	checkInstanceIndexes(t, s.ecs)
	for _, c := range s.ecs.clusters {
		checkClusterIndexes(t, s.ecs, c)
	}
	checkTaskIndexes(t, s.ecs, s.opts.StoppedTaskRetention)
	checkASGQueue(t, s.asg, s.now())
}

// checkEqual fails the test when an index and its recount differ.
func checkEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: index %v, recount %v", what, got, want)
	}
}

func checkInstanceIndexes(t *testing.T, m *ecsModel) {
	t.Helper()
	byEC2 := map[string][]*ecsContainerInstance{}
	ciCounts := map[string]int{}
	for _, ci := range m.instances {
		byEC2[ci.ec2InstanceID] = append(byEC2[ci.ec2InstanceID], ci)
		ciCounts[ci.status]++
		used := 0
		for _, task := range ci.tasks {
			if task.live() && !task.daemon() {
				used++
			}
		}
		checkEqual(t, "used slots of "+ci.id, ci.used, used)
	}
	checkEqual(t, "byEC2", m.byEC2, byEC2)
	checkEqual(t, "ciCounts", m.ciCounts, ciCounts)
}

func checkClusterIndexes(t *testing.T, m *ecsModel, c *ecsCluster) {
	t.Helper()
	var cis []*ecsContainerInstance
	active := 0
	for _, ci := range m.instances {
		if ci.cluster == c {
			cis = append(cis, ci)
			if ci.status == ciActive {
				active++
			}
		}
	}
	if !slices.Equal(c.instances, cis) {
		t.Fatalf("instances of %s: index %v, recount %v", c.name, c.instances, cis)
	}
	checkEqual(t, "active of "+c.name, c.active, active)
	counts := map[string]int{}
	for _, task := range m.tasks {
		if task.cluster == c {
			counts[task.lastStatus]++
		}
	}
	checkEqual(t, "task counts of "+c.name, c.taskCounts, counts)
}

func checkTaskIndexes(t *testing.T, m *ecsModel, keep time.Duration) {
	t.Helper()
	counts := map[string]int{}
	for _, task := range m.tasks {
		counts[task.lastStatus]++
		if _, ok := task.dueAt(); ok && !slices.ContainsFunc(m.timers, func(e taskTimer) bool { return e.t == task && e.current() }) {
			t.Fatalf("task %s is due but has no timer", task.id)
		}
		if end := task.stoppedAt.Add(keep); !task.live() && (m.purgeAt.IsZero() || m.purgeAt.After(end)) {
			t.Fatalf("task %s leaves its retention at %s, but purge looks at %s", task.id, end, m.purgeAt)
		}
	}
	checkEqual(t, "taskCounts", m.taskCounts, counts)
}

// checkASGQueue checks that every instance with a timer has it queued.
func checkASGQueue(t *testing.T, m *asgModel, now time.Time) {
	t.Helper()
	if ids := slices.Sorted(maps.Keys(m.instances)); !slices.Equal(m.sorted(), ids) {
		t.Fatalf("sorted instance IDs: index %v, recount %v", m.sorted(), ids)
	}
	for _, inst := range m.instances {
		at, ok := inst.nextDue()
		if ok && !slices.ContainsFunc(m.queue, func(e dueEntry) bool { return e.inst == inst && e.at.Equal(at) }) {
			t.Fatalf("instance %s is due at %s (now %s) but not queued", inst.id, at, now)
		}
	}
}
