package reconciler

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler/ecsview"
)

// driver reconciles a controller's queue items synchronously, in the test's goroutine: no workers
// run, and nothing waits for the controller to go idle. Batches are queued the moment they are
// filed (no batch window), so a test reconciles one item, then the batch items it produced, and
// so on, asserting the exact AWS calls each one made.
type driver struct {
	t  *testing.T
	tc *testController
}

// newDriver builds a controller that is never Run, for the driver.
func (e *env) newDriver(cfg Config) *driver {
	e.t.Helper()
	c, reg, m := e.newController(cfg, nil, nil)
	c.batchWindow = 0
	e.t.Cleanup(func() {
		for _, q := range c.itemQueues() {
			q.ShutDown()
		}
		c.hbQueue.ShutDown()
	})
	return &driver{t: e.t, tc: &testController{Controller: c, reg: reg, m: m}}
}

// driverOps are the operations the driver's tests count.
var driverOps = []string{
	"autoscaling/DescribeAutoScalingGroups", "autoscaling/DescribeLifecycleHooks", "autoscaling/CompleteLifecycleAction",
	"ecs/ListClusters", "ecs/ListContainerInstances", "ecs/DescribeContainerInstances", "ecs/UpdateContainerInstancesState",
	"ecs/ListTasks", "ecs/DescribeTasks", "ecs/TagResource", "ecs/StopTask",
}

func (d *driver) counts() map[string]int {
	out := map[string]int{}
	for _, op := range driverOps {
		service, name, _ := strings.Cut(op, "/")
		if n := d.tc.calls(d.t, service, name); n > 0 {
			out[op] = n
		}
	}
	return out
}

// reconcile reconciles one item, fails the test on an error, and checks the AWS calls it made
// (operation -> count; the operations not named made none). It returns the result and the items
// the reconcile queued (deduplicated, in queue order; the reconciles', then the shared batches', then the listings').
func (d *driver) reconcile(it item, wantCalls map[string]int) (result, []item) {
	d.t.Helper()
	before := d.counts()
	ctx := d.t.Context()
	res, err := d.tc.reconcile(ctx, it)
	if err != nil {
		d.t.Fatalf("reconcile %s: %v", it, err)
	}
	got := d.counts()
	for op, n := range before {
		got[op] -= n
		if got[op] == 0 {
			delete(got, op)
		}
	}
	if !maps.Equal(got, wantCalls) {
		d.t.Errorf("reconcile %s made calls %v, want %v", it, got, wantCalls)
	}
	var queued []item
	for _, q := range d.tc.itemQueues() {
		for q.Len() > 0 {
			next, _ := q.Get()
			q.Done(next)
			queued = append(queued, next)
		}
	}
	return res, queued
}

// expectQueued checks the items a reconcile queued.
func (d *driver) expectQueued(queued []item, want ...item) {
	d.t.Helper()
	if !slices.Equal(queued, want) {
		d.t.Errorf("queued %v, want %v", queued, want)
	}
}

// TestOneDrainStepByStep follows one drain through the controller's items with the driver, each
// reconcile with its exact AWS calls: discovery sees the instance and reads its group's hooks; the
// instance asks where it is registered; the lookup finds it (and wakes it); the instance asks for
// DRAINING; the DRAINING batch sets it (and wakes it); the instance waits for its tasks; once they
// moved off, it has the tasks told to stop listed (apart from the reconciles), then described in
// the cluster's batch, and completes CONTINUE.
func TestOneDrainStepByStep(t *testing.T) {
	e := newEnv(t, awssim.Options{StopTimeoutScale: 0.1})
	e.build(webFleet{instances: 2, slots: 4, heartbeat: 300, defaultResult: "ABANDON", tasks: 2, minPct: 50, maxPct: 200})
	d := e.newDriver(testConfig())
	id := e.terminate("web", "")
	e.sim.Step()
	inst := item{kind: kindInstance, name: id}

	_, queued := d.reconcile(item{kind: kindDiscovery}, map[string]int{
		"autoscaling/DescribeAutoScalingGroups": 1, "autoscaling/DescribeLifecycleHooks": 1})
	d.expectQueued(queued, inst)

	_, queued = d.reconcile(inst, nil)
	d.expectQueued(queued, item{kind: kindBatch, batch: ecsview.Batch{Kind: ecsview.BatchResolve}})

	_, queued = d.reconcile(queued[0], map[string]int{
		"ecs/ListClusters": 1, "ecs/ListContainerInstances": 1, "ecs/DescribeContainerInstances": 1})
	d.expectQueued(queued, inst)

	// The lookup's describe serves the first read: no call of the instance's own.
	_, queued = d.reconcile(inst, nil)
	if len(queued) != 1 || queued[0].kind != kindBatch || queued[0].batch.Kind != ecsview.BatchDrain {
		t.Fatalf("queued %v, want the DRAINING batch", queued)
	}
	_, queued = d.reconcile(queued[0], map[string]int{"ecs/UpdateContainerInstancesState": 1})
	d.expectQueued(queued, inst)

	// The answer's description serves the next read: DRAINING, tasks still running.
	res, queued := d.reconcile(inst, nil)
	d.expectQueued(queued)
	if res.requeueAfter <= 0 {
		t.Fatalf("draining instance not requeued: %+v", res)
	}

	// The service moves its tasks off (stop timeouts scaled to 3 s); a poll later the instance
	// reads its container instance again and files the listing of the tasks told to stop; with its
	// answer, it files their describe.
	for range 5 {
		e.clock.Step(time.Second)
		e.sim.Step()
	}
	_, queued = d.reconcile(inst, map[string]int{"ecs/DescribeContainerInstances": 1})
	if len(queued) != 1 || queued[0].batch.Kind != ecsview.BatchList {
		t.Fatalf("queued %v, want the listing", queued)
	}
	_, queued = d.reconcile(queued[0], map[string]int{"ecs/ListTasks": 1})
	d.expectQueued(queued, inst)
	_, queued = d.reconcile(inst, nil)
	if len(queued) != 1 || queued[0].batch.Kind != ecsview.BatchTasks {
		t.Fatalf("queued %v, want the tasks batch", queued)
	}
	_, queued = d.reconcile(queued[0], map[string]int{"ecs/DescribeTasks": 1})
	d.expectQueued(queued, inst)

	res, queued = d.reconcile(inst, map[string]int{"autoscaling/CompleteLifecycleAction": 1})
	d.expectQueued(queued)
	if res.requeueAfter != 0 || !d.tc.instances[id].prog.completedByUs {
		t.Errorf("after the completion: result %+v, completed by us %v", res, d.tc.instances[id].prog.completedByUs)
	}
	e.checkNoHarm([]string{id})
}
