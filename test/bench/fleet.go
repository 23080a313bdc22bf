package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/ecs-drainer/ecs-drainer/pkg/demo"
	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// FleetSummary is what was built and how long it took.
type FleetSummary struct {
	Instances       int     `json:"instances"`
	ASGs            int     `json:"asgs"`
	Clusters        int     `json:"clusters"`
	ServiceTasks    int     `json:"serviceTasks"` // replica tasks
	DaemonTasks     int     `json:"daemonTasks"`
	StandaloneTasks int     `json:"standaloneTasks"`
	BuildSeconds    float64 `json:"buildSeconds"`
}

// Tasks is every task the steady fleet runs.
func (f FleetSummary) Tasks() int { return f.ServiceTasks + f.DaemonTasks + f.StandaloneTasks }

// shape is the benchmark fleet: identical clusters of identical managed groups.
func (c Config) shape() demo.Shape {
	return demo.Shape{
		Clusters:             c.Clusters,
		ASGsPerCluster:       c.ASGs / c.Clusters,
		InstancesPerASG:      c.Instances / c.ASGs,
		ServicesPerCluster:   c.ServicesPerCluster,
		TasksPerInstance:     c.TasksPerInstance,
		Daemon:               true,
		StandalonePerASG:     c.StandalonePerASG,
		TaskSlots:            c.TaskSlots,
		HookHeartbeatTimeout: c.HookHeartbeatTimeout,
		StopTimeout:          c.StopTimeout,
	}
}

// fleetPoll is how often the build checks progress: often enough not to add much to the build.
const fleetPoll = 250 * time.Millisecond

// buildFleet creates the fleet through the SDK and waits until every instance is registered and
// every task RUNNING, so the measurement starts from a steady state.
func buildFleet(ctx context.Context, cfg Config, sim *harness.Process, progress func(string, ...any)) (FleetSummary, error) {
	start := time.Now()
	f := demo.Uniform(cfg.shape())
	f.PollInterval = fleetPoll
	sum := FleetSummary{
		Instances: cfg.Instances, ASGs: cfg.ASGs, Clusters: cfg.Clusters,
		ServiceTasks:    cfg.Instances * cfg.TasksPerInstance,
		DaemonTasks:     cfg.Instances,
		StandaloneTasks: cfg.ASGs * cfg.StandalonePerASG,
	}
	as, ec := demo.NewClients("http://"+sim.Addr, harness.Region)
	if err := demo.Build(ctx, as, ec, f); err != nil {
		return sum, fmt.Errorf("building the fleet: %w", err)
	}
	progress("Fleet created; waiting for %d instances to register", cfg.Instances)
	if err := demo.WaitRegistered(ctx, ec, f); err != nil {
		return sum, fmt.Errorf("waiting for the fleet to register: %w", err)
	}
	want := float64(sum.Tasks())
	progress("Instances registered; waiting for %d tasks to run", sum.Tasks())
	var running float64
	for running < want {
		mfs, err := harness.Metrics(sim.Addr)
		if err != nil {
			return sum, fmt.Errorf("waiting for the fleet's tasks: %w", err)
		}
		running = harness.Sum(mfs, "awssim_tasks", map[string]string{"last_status": "RUNNING"})
		if running >= want {
			break
		}
		if err := sleep(ctx, fleetPoll); err != nil {
			return sum, fmt.Errorf("waiting for %d tasks to run (%.0f so far): %w", sum.Tasks(), running, err)
		}
	}
	sum.BuildSeconds = time.Since(start).Seconds()
	return sum, nil
}

// scaleIn lowers the desired capacity of every group so that n instances leave, spread as evenly
// as the groups allow, and returns how many calls that took (they are the benchmark's own, not the
// controller's, and are subtracted from what awssim counted).
func scaleIn(ctx context.Context, cfg Config, sim *harness.Process, n int) (calls int, err error) {
	as, _ := harness.Clients("http://" + sim.Addr)
	f := demo.Uniform(cfg.shape())
	per := cfg.Instances / cfg.ASGs
	i := 0
	for _, c := range f.Clusters {
		for _, g := range c.ASGs {
			cut := n / cfg.ASGs
			if i < n%cfg.ASGs {
				cut++
			}
			i++
			if cut == 0 {
				continue
			}
			_, err := as.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
				AutoScalingGroupName: aws.String(g.Name),
				DesiredCapacity:      aws.Int32(int32(per - cut)),
				HonorCooldown:        aws.Bool(false),
			})
			calls++
			if err != nil {
				return calls, fmt.Errorf("scaling in %s by %d: %w", g.Name, cut, err)
			}
		}
	}
	return calls, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
