package awssim

import (
	"fmt"
	"net/url"
	"testing"
	"time"
)

// TestTimelinesBoundedWhateverTheirState: instances that never terminate (drained, then
// reactivated) still age out of the timeline map, and their completion counts with them.
func TestTimelinesBoundedWhateverTheirState(t *testing.T) {
	e := newECSEnv(t, Options{})
	s := e.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	const extra = 10
	for i := range maxTimelines + extra {
		id := fmt.Sprintf("i-%017d", i)
		s.stats.CompletionsByInstance[id]++ // as completeLifecycleAction does
		s.note(id, func(tl *Timeline) { tl.DrainingAt, tl.Completions = now, 1 })
	}
	if got := len(s.timelines); got > maxTimelines {
		t.Errorf("%d timelines kept, want at most %d", got, maxTimelines)
	}
	if got := len(s.stats.CompletionsByInstance); got > maxTimelines {
		t.Errorf("%d per-instance completion counts kept, want at most %d", got, maxTimelines)
	}
	oldest, newest := fmt.Sprintf("i-%017d", 0), fmt.Sprintf("i-%017d", maxTimelines+extra-1)
	if _, ok := s.timelines[oldest]; ok {
		t.Errorf("oldest timeline %s kept", oldest)
	}
	if _, ok := s.stats.CompletionsByInstance[oldest]; ok {
		t.Errorf("completion count of the oldest timeline %s kept", oldest)
	}
	if _, ok := s.timelines[newest]; !ok {
		t.Errorf("newest timeline %s dropped", newest)
	}
}

// TestInstanceIDsForgottenOnTermination: the set of issued IDs does not keep every instance the
// simulator ever launched.
func TestInstanceIDsForgottenOnTermination(t *testing.T) {
	e := newECSEnv(t, Options{})
	call := func(op string, v url.Values) {
		t.Helper()
		e.sim.mu.Lock()
		defer e.sim.mu.Unlock()
		if _, err := e.sim.asg.handle(op, v); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	}
	call("CreateAutoScalingGroup", url.Values{
		"AutoScalingGroupName": {"g"}, "MinSize": {"0"}, "MaxSize": {"10"}, "DesiredCapacity": {"10"},
		"LaunchTemplate.LaunchTemplateName": {"lt"}, "AvailabilityZones.member.1": {"us-east-1a"},
	})
	e.advance(time.Second)
	call("SetDesiredCapacity", url.Values{"AutoScalingGroupName": {"g"}, "DesiredCapacity": {"0"}})
	e.advance(time.Minute)
	e.sim.mu.Lock()
	defer e.sim.mu.Unlock()
	if e.sim.stats.Terminated != 10 {
		t.Fatalf("terminated %d, want 10", e.sim.stats.Terminated)
	}
	if n := len(e.sim.asg.usedIDs); n != 0 {
		t.Errorf("%d IDs of terminated instances still held", n)
	}
}
