// Package demo builds ECS fleets in an AWS account through the SDK, for `ecs-drainer --simulate`,
// `awssim --demo`, the end-to-end tests and the benchmark: clusters, Auto Scaling groups whose
// instances register in them (through the simulator's awssim:ecs-cluster tag), terminating lifecycle
// hooks, task definitions, replica and daemon services and standalone tasks. It also drives a
// scale-in/scale-out loop so that drains happen live.
//
// Everything goes through the real SDK clients, so the demo exercises the same wire protocols as
// the controller. It is meant for the simulator: Build creates resources and never deletes them.
package demo

import (
	"fmt"
	"time"
)

// Tags the simulator and the controller read on an Auto Scaling group.
const (
	// ManagedTagKey and ManagedTagValue are the controller's default --asg-tag.
	ManagedTagKey   = "ecs-drainer/enabled"
	ManagedTagValue = "true"
	// ClusterTagKey names the ECS cluster the group's instances register in (awssim scenario tag).
	ClusterTagKey = "awssim:ecs-cluster"
	// TaskSlotsTagKey is how many tasks one instance of the group holds (awssim scenario tag).
	TaskSlotsTagKey = "awssim:task-slots"
)

// DefaultHookName is the terminating hook the demo fleets put on managed groups.
const DefaultHookName = "ecs-drainer-terminate"

// Fleet describes what Build creates.
type Fleet struct {
	Clusters []Cluster
	// StopTimeout is the containers' stopTimeout (how long ECS waits after SIGTERM); 0 means 5s,
	// short so that drains finish in seconds.
	StopTimeout time.Duration
	// PollInterval is how often Build checks that instances have registered; 0 means 200ms.
	PollInterval time.Duration
}

// Cluster is one ECS cluster with the groups whose instances register in it and what runs on it.
type Cluster struct {
	Name     string
	ASGs     []ASG
	Services []Service
	// StandaloneTasks is how many tasks are started with RunTask (not by a service), once the
	// instances have registered. A drain needs a policy for these: DRAINING never stops them.
	StandaloneTasks int
}

// ASG is one Auto Scaling group.
type ASG struct {
	Name                 string
	Min, Desired, Max    int
	TaskSlots            int  // tasks per instance; 0 leaves the simulator's default
	Managed              bool // tagged with the controller's default selector tag
	HookName             string
	HookHeartbeatTimeout time.Duration // 0 means no terminating hook
	ScaleInMax           int           // the scale loop lowers Desired by 1..ScaleInMax (0 means 2)
}

// Service is one ECS service.
type Service struct {
	Name         string
	Daemon       bool // one task per instance (DAEMON scheduling); DesiredCount is ignored
	DesiredCount int
	// Deployment bounds used while replacing tasks of a draining instance. 0 means ECS's defaults
	// (100 and 200 for replicas, 0 and 100 for daemons).
	MinimumHealthyPercent, MaximumPercent int
}

// Instances is the fleet's desired instance count over every group.
func (f Fleet) Instances() int {
	n := 0
	for _, c := range f.Clusters {
		for _, g := range c.ASGs {
			n += g.Desired
		}
	}
	return n
}

// ManagedASGs lists the groups the controller manages and the scale loop scales: tagged, with a
// terminating hook.
func (f Fleet) ManagedASGs() []ASG {
	var out []ASG
	for _, c := range f.Clusters {
		for _, g := range c.ASGs {
			if g.Managed && g.HookHeartbeatTimeout > 0 {
				out = append(out, g)
			}
		}
	}
	return out
}

// Validate rejects a description Build could not create, naming the part at fault.
func (f Fleet) Validate() error {
	seenASG := map[string]bool{}
	seenCluster := map[string]bool{}
	for _, c := range f.Clusters {
		if c.Name == "" || seenCluster[c.Name] {
			return fmt.Errorf("cluster name %q is empty or repeated", c.Name)
		}
		seenCluster[c.Name] = true
		for _, g := range c.ASGs {
			if g.Name == "" || seenASG[g.Name] {
				return fmt.Errorf("cluster %s: group name %q is empty or repeated", c.Name, g.Name)
			}
			seenASG[g.Name] = true
			if err := g.validate(); err != nil {
				return err
			}
		}
		if err := validateServices(c); err != nil {
			return err
		}
		if c.StandaloneTasks < 0 {
			return fmt.Errorf("cluster %s: negative standalone task count %d", c.Name, c.StandaloneTasks)
		}
	}
	return nil
}

// validateServices checks cluster c's services have distinct names and sane counts.
func validateServices(c Cluster) error {
	seenService := map[string]bool{}
	for _, s := range c.Services {
		if s.Name == "" || seenService[s.Name] {
			return fmt.Errorf("cluster %s: service name %q is empty or repeated", c.Name, s.Name)
		}
		seenService[s.Name] = true
		if s.DesiredCount < 0 {
			return fmt.Errorf("cluster %s: service %s has negative desired count %d", c.Name, s.Name, s.DesiredCount)
		}
	}
	return nil
}

// validate checks the group's sizes and hook timeout.
func (g ASG) validate() error {
	if g.Min < 0 || g.Min > g.Desired || g.Desired > g.Max {
		return fmt.Errorf("group %s: sizes must satisfy 0 <= min (%d) <= desired (%d) <= max (%d)", g.Name, g.Min, g.Desired, g.Max)
	}
	if g.HookHeartbeatTimeout > 0 && g.HookHeartbeatTimeout < 30*time.Second {
		return fmt.Errorf("group %s: hook heartbeat timeout %s is below Auto Scaling's minimum of 30s", g.Name, g.HookHeartbeatTimeout)
	}
	return nil
}

// Small is the live demo's fleet: two clusters; three groups, two of them managed (tagged, with a
// 60 s terminating hook) and one left alone; replica services with room to move during a drain, a
// log-router daemon on every instance, and standalone tasks. Sizes leave enough free task slots that
// every scale-in the loop makes can be drained.
func Small() Fleet {
	const heartbeat = 60 * time.Second
	return Fleet{
		StopTimeout: 5 * time.Second,
		Clusters: []Cluster{
			{
				Name: "web",
				ASGs: []ASG{{
					Name: "web-asg", Min: 2, Desired: 4, Max: 6, TaskSlots: 6,
					Managed: true, HookName: DefaultHookName, HookHeartbeatTimeout: heartbeat,
				}},
				Services: []Service{
					// Half may stop before replacements run: the quick way out of a draining host.
					{Name: "frontend", DesiredCount: 4, MinimumHealthyPercent: 50, MaximumPercent: 200},
					// Never below the desired count: replacements start before old tasks stop.
					{Name: "api", DesiredCount: 3, MinimumHealthyPercent: 100, MaximumPercent: 200},
					{Name: "log-router", Daemon: true},
				},
				StandaloneTasks: 1,
			},
			{
				Name: "batch",
				ASGs: []ASG{
					{
						Name: "batch-asg", Min: 2, Desired: 3, Max: 5, TaskSlots: 5,
						Managed: true, HookName: DefaultHookName, HookHeartbeatTimeout: heartbeat,
						ScaleInMax: 1,
					},
					// Untagged and hookless: the controller must leave it alone.
					{Name: "batch-legacy-asg", Min: 1, Desired: 1, Max: 2, TaskSlots: 4},
				},
				Services: []Service{
					{Name: "worker", DesiredCount: 4, MinimumHealthyPercent: 50, MaximumPercent: 100},
					{Name: "log-router", Daemon: true},
				},
				StandaloneTasks: 2,
			},
		},
	}
}

// Shape is a fleet of identical clusters, for tests and the benchmark.
type Shape struct {
	Clusters           int
	ASGsPerCluster     int
	InstancesPerASG    int
	ServicesPerCluster int // replica services; their tasks are spread evenly
	TasksPerInstance   int // replica tasks per instance in the steady state
	Daemon             bool
	StandalonePerASG   int
	// TaskSlots per instance; 0 means 2*TasksPerInstance+2, room to drain half the fleet at once.
	TaskSlots            int
	HookHeartbeatTimeout time.Duration // 0 means 60s
	StopTimeout          time.Duration // 0 means 5s
}

// Uniform builds the Fleet of a Shape: clusters "cluster-NN" with groups "cluster-NN-asg-NN", all
// managed with a terminating hook, min size 0 so any scale-in is allowed.
func Uniform(s Shape) Fleet {
	slots := s.TaskSlots
	if slots == 0 {
		slots = 2*s.TasksPerInstance + 2
	}
	hb := s.HookHeartbeatTimeout
	if hb == 0 {
		hb = 60 * time.Second
	}
	f := Fleet{StopTimeout: s.StopTimeout}
	for c := range s.Clusters {
		cl := Cluster{Name: fmt.Sprintf("cluster-%02d", c)}
		for g := range s.ASGsPerCluster {
			cl.ASGs = append(cl.ASGs, ASG{
				Name: fmt.Sprintf("%s-asg-%02d", cl.Name, g),
				Min:  0, Desired: s.InstancesPerASG, Max: 2 * s.InstancesPerASG,
				TaskSlots: slots, Managed: true, HookName: DefaultHookName, HookHeartbeatTimeout: hb,
			})
		}
		total := s.ASGsPerCluster * s.InstancesPerASG * s.TasksPerInstance
		for i := range s.ServicesPerCluster {
			// Spread the remainder over the first services so the total is exact.
			n := total / s.ServicesPerCluster
			if i < total%s.ServicesPerCluster {
				n++
			}
			cl.Services = append(cl.Services, Service{Name: fmt.Sprintf("svc-%02d", i), DesiredCount: n, MinimumHealthyPercent: 50, MaximumPercent: 200})
		}
		if s.Daemon {
			cl.Services = append(cl.Services, Service{Name: "daemon", Daemon: true})
		}
		cl.StandaloneTasks = s.StandalonePerASG * s.ASGsPerCluster
		f.Clusters = append(f.Clusters, cl)
	}
	return f
}
