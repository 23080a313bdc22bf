package awssim

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	clocktesting "k8s.io/utils/clock/testing"
)

// ecsEnv is a simulator on a fake clock behind an httptest server, with a real SDK ECS client.
type ecsEnv struct {
	t     *testing.T
	sim   *Sim
	clock *clocktesting.FakeClock
	ecs   *ecs.Client
}

// simStart is where every test's fake clock begins.
var simStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newECSEnv starts a simulator with opts (Clock replaced by a fake) and an ECS client for it.
// Retries back off by stepping the fake clock instead of sleeping, so throttles refill at once.
func newECSEnv(t *testing.T, opts Options) *ecsEnv {
	t.Helper()
	clk := clocktesting.NewFakeClock(simStart)
	opts.Clock = clk
	sim := New(opts)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	client := ecs.New(ecs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   srv.Client(),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret", Source: "test"}, nil
		}),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.RateLimiter = ratelimit.None
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) {
				clk.Step(time.Second)
				return 0, nil
			})
		}),
	})
	return &ecsEnv{t: t, sim: sim, clock: clk, ecs: client}
}

// advance moves the clock by d and lets the model catch up once.
func (e *ecsEnv) advance(d time.Duration) {
	e.clock.Step(d)
	e.sim.Step()
}

// settle advances the clock in steps of d, n times: the scheduler acts once per step.
func (e *ecsEnv) settle(d time.Duration, n int) {
	for range n {
		e.advance(d)
	}
}

// register registers a container instance for an EC2 instance as the Auto Scaling model would,
// and returns its ARN.
func (e *ecsEnv) register(cluster, ec2ID string, slots int) string {
	e.t.Helper()
	e.sim.mu.Lock()
	defer e.sim.mu.Unlock()
	e.sim.ecs.registerInstance(cluster, ec2ID, slots, e.clock.Now())
	for _, ci := range e.sim.ecs.instances {
		if ci.ec2InstanceID == ec2ID && ci.status != ciInactive {
			return ci.arn
		}
	}
	e.t.Fatalf("instance %s did not register in cluster %s", ec2ID, cluster)
	return ""
}

// terminate tells the model the EC2 instance terminated and returns how many tasks died with it.
func (e *ecsEnv) terminate(ec2ID string) int {
	e.sim.mu.Lock()
	defer e.sim.mu.Unlock()
	return e.sim.ecs.hostTerminated(ec2ID, e.clock.Now())
}

func (e *ecsEnv) createCluster(name string) {
	e.t.Helper()
	_, err := e.ecs.CreateCluster(e.t.Context(), &ecs.CreateClusterInput{ClusterName: aws.String(name)})
	must(e.t, err)
}

// taskDef registers a one-container task definition; stopTimeout 0 means unset (ECS default 30s).
func (e *ecsEnv) taskDef(family string, stopTimeout int32) string {
	e.t.Helper()
	cd := types.ContainerDefinition{Name: aws.String("app"), Image: aws.String("public.ecr.aws/docker/library/busybox:latest"), Memory: aws.Int32(128)}
	if stopTimeout > 0 {
		cd.StopTimeout = aws.Int32(stopTimeout)
	}
	out, err := e.ecs.RegisterTaskDefinition(e.t.Context(), &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String(family),
		ContainerDefinitions: []types.ContainerDefinition{cd},
		Cpu:                  aws.String("256"),
		Memory:               aws.String("512"),
	})
	must(e.t, err)
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
}

// service creates a REPLICA service with the given deployment configuration percentages.
func (e *ecsEnv) service(cluster, name, td string, desired, minPct, maxPct int32) {
	e.t.Helper()
	_, err := e.ecs.CreateService(e.t.Context(), &ecs.CreateServiceInput{
		Cluster:        aws.String(cluster),
		ServiceName:    aws.String(name),
		TaskDefinition: aws.String(td),
		DesiredCount:   aws.Int32(desired),
		DeploymentConfiguration: &types.DeploymentConfiguration{
			MinimumHealthyPercent: aws.Int32(minPct),
			MaximumPercent:        aws.Int32(maxPct),
		},
	})
	must(e.t, err)
}

func (e *ecsEnv) describeInstance(cluster, arn string) types.ContainerInstance {
	e.t.Helper()
	out, err := e.ecs.DescribeContainerInstances(e.t.Context(), &ecs.DescribeContainerInstancesInput{
		Cluster: aws.String(cluster), ContainerInstances: []string{arn},
	})
	must(e.t, err)
	if len(out.ContainerInstances) != 1 {
		e.t.Fatalf("describing %s: got %d instances, failures %v", arn, len(out.ContainerInstances), out.Failures)
	}
	return out.ContainerInstances[0]
}

func (e *ecsEnv) drain(cluster string, arns ...string) {
	e.t.Helper()
	out, err := e.ecs.UpdateContainerInstancesState(e.t.Context(), &ecs.UpdateContainerInstancesStateInput{
		Cluster: aws.String(cluster), ContainerInstances: arns, Status: types.ContainerInstanceStatusDraining,
	})
	must(e.t, err)
	if len(out.Failures) > 0 {
		e.t.Fatalf("draining: failures %v", out.Failures)
	}
}

// tasksOn lists every task on a container instance, running and recently stopped, described.
func (e *ecsEnv) tasksOn(cluster, ciArn string) []types.Task {
	e.t.Helper()
	var arns []string
	for _, st := range []types.DesiredStatus{types.DesiredStatusRunning, types.DesiredStatusStopped} {
		p := ecs.NewListTasksPaginator(e.ecs, &ecs.ListTasksInput{Cluster: aws.String(cluster), ContainerInstance: aws.String(ciArn), DesiredStatus: st})
		for p.HasMorePages() {
			page, err := p.NextPage(e.t.Context())
			must(e.t, err)
			arns = append(arns, page.TaskArns...)
		}
	}
	return e.describeTasks(cluster, arns)
}

func (e *ecsEnv) describeTasks(cluster string, arns []string) []types.Task {
	e.t.Helper()
	if len(arns) == 0 {
		return nil
	}
	out, err := e.ecs.DescribeTasks(e.t.Context(), &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: arns})
	must(e.t, err)
	if len(out.Failures) > 0 {
		e.t.Fatalf("describing tasks: failures %v", out.Failures)
	}
	return out.Tasks
}

// byLastStatus counts tasks by lastStatus.
func byLastStatus(tasks []types.Task) map[string]int {
	out := map[string]int{}
	for _, t := range tasks {
		out[aws.ToString(t.LastStatus)]++
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// errorCode is the AWS error code of err, or "" when it carries none.
func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}
