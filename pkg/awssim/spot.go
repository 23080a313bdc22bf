package awssim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Spot interruptions, started by a debug endpoint (AWS has no API for them). EC2 warns with an
// "EC2 Spot Instance Interruption Warning" event, then reclaims the instance Options.SpotNotice
// later (two minutes on AWS): whatever still runs on it dies, and a lifecycle hook does not
// prevent that. What Auto Scaling does depends on the group's Capacity Rebalancing (aws-event-facts
// §5): with it, the warning starts the group's termination of the instance at once, terminating
// hooks and all, and launches a replacement; without it, the group notices only after the
// reclaim (a failed health check) and then runs the termination, hooks included, of an instance
// already gone. An "EC2 Instance Rebalance Recommendation" on a group with Capacity Rebalancing
// also starts the termination and a replacement; AWS waits for the replacement to pass its health
// check first, which is not modelled.

const (
	spotActionTerminate = "terminate"
	spotActionStop      = "stop"
	spotActionHibernate = "hibernate"
)

type spotInterruption struct {
	action    string
	reclaimAt time.Time
	reclaimed bool
	killed    int // tasks killed by the reclaim
}

// spotDue is when the instance's pending reclaim falls due, if one is pending.
func (i *asgInstance) spotDue() (time.Time, bool) {
	if i.spot == nil || i.spot.reclaimed {
		return time.Time{}, false
	}
	return i.spot.reclaimAt, true
}

// InterruptSpot warns that EC2 will reclaim the instance (action terminate, stop or hibernate;
// hibernation comes without notice) and schedules the reclaim.
func (s *Sim) InterruptSpot(instanceID, action string) error {
	if action == "" {
		action = spotActionTerminate
	}
	if action != spotActionTerminate && action != spotActionStop && action != spotActionHibernate {
		return fmt.Errorf("action %q: must be terminate, stop or hibernate", action)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.asg.instances[instanceID]
	if inst == nil {
		return fmt.Errorf("instance %s: no such Auto Scaling instance", instanceID)
	}
	if inst.spot != nil {
		return fmt.Errorf("instance %s: already interrupted", instanceID)
	}
	now := s.now()
	notice := s.opts.SpotNotice
	if action == spotActionHibernate {
		notice = 0
	}
	inst.spot = &spotInterruption{action: action, reclaimAt: now.Add(notice)}
	s.asg.announceSpot(inst, detailSpotInterruption, map[string]string{"instance-id": inst.id, "instance-action": action}, now)
	if inst.group.capacityRebalance && inst.active() {
		inst.termCause = fmt.Sprintf("At %s an instance was taken out of service in response to an EC2 instance rebalance recommendation or Spot interruption notice.", now.UTC().Format(time.RFC3339))
		s.asg.beginTermination(inst, now, true)
		s.asg.reconcile(inst.group, now)
	}
	s.asg.retime(inst)
	return nil
}

// RecommendRebalance publishes an EC2 Instance Rebalance Recommendation for the instance; a group
// with Capacity Rebalancing replaces it.
func (s *Sim) RecommendRebalance(instanceID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.asg.instances[instanceID]
	if inst == nil {
		return fmt.Errorf("instance %s: no such Auto Scaling instance", instanceID)
	}
	now := s.now()
	s.asg.announceSpot(inst, detailRebalance, map[string]string{"instance-id": inst.id}, now)
	if inst.group.capacityRebalance && inst.active() {
		inst.termCause = fmt.Sprintf("At %s an instance was taken out of service in response to an EC2 instance rebalance recommendation.", now.UTC().Format(time.RFC3339))
		s.asg.beginTermination(inst, now, true)
		s.asg.reconcile(inst.group, now)
	}
	return nil
}

// reclaimSpot is EC2 taking the instance back at at: its tasks die, its agent goes, and a group
// that had not started terminating it does so now, with its hooks.
func (m *asgModel) reclaimSpot(inst *asgInstance, at time.Time) {
	inst.spot.reclaimed = true
	inst.spot.killed = m.s.ecs.hostTerminated(inst.id, at)
	m.s.stats.SpotInterruptions++
	if inst.active() {
		inst.termCause = fmt.Sprintf("At %s an instance was taken out of service in response to an EC2 health check indicating it has been terminated or stopped.", at.UTC().Format(time.RFC3339))
		m.beginTermination(inst, at, true)
		m.reconcile(inst.group, at)
	}
	m.retime(inst)
}

// spotRequest is the body of POST /debug/spot/interrupt and /debug/spot/rebalance.
type spotRequest struct {
	InstanceID string `json:"instanceId"`
	Action     string `json:"action"`
}

func (s *Sim) serveSpot(rebalance bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req spotRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<12))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil || req.InstanceID == "" {
			http.Error(w, fmt.Sprintf(`decoding spot request (%v): send JSON like {"instanceId":"i-0123456789abcdef0","action":"terminate"}`, err), http.StatusBadRequest)
			return
		}
		var err error
		if rebalance {
			err = s.RecommendRebalance(req.InstanceID)
		} else {
			err = s.InterruptSpot(req.InstanceID, req.Action)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
