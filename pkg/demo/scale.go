package demo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
)

// DefaultScaleInterval is how often the live demo changes a group's size: long enough for a drain
// to be followed in the logs, short enough that something is always happening.
const DefaultScaleInterval = 20 * time.Second

// ScaleLoop makes drains happen: every Interval it takes the next group in turn and, if the group
// is at its described size, lowers its desired capacity by 1..ScaleInMax (not below Min), or else
// raises it back to its described size. Scale-in is what puts instances in Terminating:Wait.
type ScaleLoop struct {
	AutoScaling AutoScalingAPI
	Groups      []ASG // usually Fleet.ManagedASGs()
	Interval    time.Duration
	// FirstStepAfter, when > 0, makes the first step come this soon rather than one Interval after
	// the start, so a person watching the demo sees a drain within seconds.
	FirstStepAfter time.Duration
	Clock          clock.WithTicker // nil means the real clock
	Log            logr.Logger
	Seed           uint64 // seeds how far each scale-in goes
	// Interrupt, when set, is called every InterruptEvery-th step (default 4) instead of a scaling
	// decision, with an in-service instance of the step's group: the simulator's Spot interruption
	// (awssim.Sim.InterruptSpot), so the demo shows a drain at a Spot warning too.
	Interrupt      func(instanceID string) error
	InterruptEvery int

	rng  *rand.Rand
	next int
}

// Run steps every Interval until ctx ends. A failed step is logged and the loop goes on: the demo
// should survive a throttle or an injected fault.
func (l *ScaleLoop) Run(ctx context.Context) {
	interval := l.Interval
	if interval <= 0 {
		interval = DefaultScaleInterval
	}
	clk := l.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	if l.FirstStepAfter > 0 {
		select {
		case <-ctx.Done():
			return
		case <-clk.After(l.FirstStepAfter):
			if err := l.Step(ctx); err != nil && ctx.Err() == nil {
				l.Log.Error(err, "Scaling step failed")
			}
		}
	}
	t := clk.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			if err := l.Step(ctx); err != nil && ctx.Err() == nil {
				l.Log.Error(err, "Scaling step failed")
			}
		}
	}
}

// Step makes one scaling decision for the next group.
func (l *ScaleLoop) Step(ctx context.Context) error {
	if len(l.Groups) == 0 {
		return errors.New("scale loop has no groups to scale")
	}
	if l.rng == nil {
		l.rng = rand.New(rand.NewPCG(l.Seed, l.Seed^0xdec0de))
	}
	g := l.Groups[l.next%len(l.Groups)]
	l.next++
	every := l.InterruptEvery
	if every <= 0 {
		every = 4
	}
	interrupt := l.Interrupt != nil && l.next%every == 0

	out, err := l.AutoScaling.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{g.Name},
	})
	if err != nil {
		return fmt.Errorf("describing Auto Scaling group %s: %w", g.Name, err)
	}
	if len(out.AutoScalingGroups) == 0 {
		return fmt.Errorf("describing Auto Scaling group %s: not found", g.Name)
	}
	current := int(aws.ToInt32(out.AutoScalingGroups[0].DesiredCapacity))
	if interrupt {
		for _, in := range out.AutoScalingGroups[0].Instances {
			if in.LifecycleState == asgtypes.LifecycleStateInService {
				id := aws.ToString(in.InstanceId)
				if err := l.Interrupt(id); err != nil {
					return fmt.Errorf("interrupting Spot instance %s of %s: %w", id, g.Name, err)
				}
				l.Log.Info("Interrupting a Spot instance", "asg", g.Name, "instanceID", id)
				return nil
			}
		}
	}

	target, msg := g.Desired, "Scaling out"
	if current >= g.Desired {
		most := g.ScaleInMax
		if most <= 0 {
			most = 2
		}
		target, msg = max(current-1-l.rng.IntN(most), g.Min), "Scaling in"
	}
	if target == current {
		l.Log.V(1).Info("Group already at its size", "asg", g.Name, "desired", current)
		return nil
	}
	_, err = l.AutoScaling.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(g.Name),
		DesiredCapacity:      aws.Int32(int32(target)),
		HonorCooldown:        aws.Bool(false),
	})
	if err != nil {
		return fmt.Errorf("setting desired capacity of %s to %d: %w", g.Name, target, err)
	}
	l.Log.Info(msg, "asg", g.Name, "fromDesired", current, "toDesired", target)
	return nil
}
