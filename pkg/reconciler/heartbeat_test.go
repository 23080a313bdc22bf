package reconciler

import (
	"testing"
	"time"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
)

// TestHeartbeatsDoNotWaitForECS: while another client throttles the account's ECS reads (every
// read held for a long stretch by the SDK's retries, then failing with ThrottlingException, or
// not answering at all), drains cannot progress, but Auto Scaling still answers: every waiting
// action gets its heartbeats on time and none expires under a 30 s heartbeat timeout, and an
// instance that starts terminating during the storm is seen and kept alive too. Once ECS answers
// again every drain completes without a task killed.
func TestHeartbeatsDoNotWaitForECS(t *testing.T) {
	for _, tc := range []struct {
		name string
		hold time.Duration // how long each ECS read is held before it fails
	}{
		{"throttled 25 s", 25 * time.Second},
		{"not answering", time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, awssim.Options{})
			// Tasks take 2 minutes to stop, so every drain is in progress throughout the storm.
			e.build(webFleet{instances: 8, slots: 2, heartbeat: 30, defaultResult: "ABANDON", family: "slow", stopTimeout: 120, tasks: 8, maxPct: 200})

			f := newFaults()
			c := e.startWith(testConfig(), f, nil)
			t.Cleanup(func() { f.Set(func(fs *faultSet) { *fs = faultSet{} }) }) // release held calls before stopping
			var ids []string
			for range 6 {
				ids = append(ids, e.terminate("web", ""))
			}
			e.until("drains tagged", time.Minute, 500*time.Millisecond, func() bool { return e.allTagged("c1", ids) })

			f.Set(func(fs *faultSet) { fs.holdECSReads = tc.hold })
			before := value(t, c.m.Heartbeats)
			e.advance(30*time.Second, time.Second)
			late := e.terminate("web", "")
			ids = append(ids, late)
			e.advance(90*time.Second, time.Second)

			st := e.sim.Stats()
			if st.LifecycleActionsTimedOut != 0 {
				t.Fatalf("%d lifecycle actions timed out while only ECS was throttled, want 0", st.LifecycleActionsTimedOut)
			}
			for _, id := range ids {
				if e.gone("web", id) {
					t.Fatalf("instance %s left its group while its drain could not be checked", id)
				}
			}
			// 2 minutes under a 30 s heartbeat timeout: one heartbeat per 15 s for each of the six,
			// and the late one's from its first sight.
			if got := value(t, c.m.Heartbeats) - before; got < 6*7+4 {
				t.Errorf("%v heartbeats during the 2 minute storm, want at least %d", got, 6*7+4)
			}

			f.Set(func(fs *faultSet) { fs.holdECSReads = 0 })
			e.until("every instance terminated", 5*time.Minute, time.Second, func() bool { return e.allGone("web", ids) })
			e.checkNoHarm(ids)
			if hb, calls := value(t, c.m.Heartbeats), c.calls(t, "autoscaling", "RecordLifecycleActionHeartbeat"); int(hb) != calls {
				t.Errorf("heartbeats_total %v, RecordLifecycleActionHeartbeat calls %d; want equal", hb, calls)
			}
		})
	}
}
