package awssim_test

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
)

const registerDelay = 300 * time.Millisecond // the default awssim.Options.RegisterDelay

// newASGEnvECSClient returns an ECS SDK client for the same simulator.
func (e *asgEnv) newECSClient() *ecs.Client {
	return ecs.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(e.url),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None })
		},
	})
}

// registeredEC2IDs lists the EC2 instance IDs of a cluster's container instances that are not
// INACTIVE, sorted.
func registeredEC2IDs(t *testing.T, c *ecs.Client, cluster string) []string {
	t.Helper()
	list, err := c.ListContainerInstances(t.Context(), &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)})
	if err != nil {
		t.Fatalf("ListContainerInstances: %v", err)
	}
	if len(list.ContainerInstanceArns) == 0 {
		return nil
	}
	out, err := c.DescribeContainerInstances(t.Context(), &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: list.ContainerInstanceArns})
	if err != nil {
		t.Fatalf("DescribeContainerInstances: %v", err)
	}
	var ids []string
	for _, ci := range out.ContainerInstances {
		ids = append(ids, aws.ToString(ci.Ec2InstanceId))
	}
	slices.Sort(ids)
	return ids
}

// TestInstancesRegisterAndDieWithTheirTasks follows instances of a group tagged with a cluster from
// launch to registration, and shows that terminating one without a hook kills its task.
func TestInstancesRegisterAndDieWithTheirTasks(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	ctx := t.Context()
	ec := e.newECSClient()
	if _, err := ec.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("c1")}); err != nil {
		t.Fatalf("CreateCluster: %v", err)
	}
	e.createGroup("g", 2, map[string]string{"awssim:ecs-cluster": "c1", "awssim:task-slots": "3"})
	e.createGroup("lost", 1, map[string]string{"awssim:ecs-cluster": "no-such-cluster"}) // its agent never registers
	e.createGroup("plain", 1, nil)                                                       // not an ECS group

	e.advance(launchDelay + registerDelay - time.Millisecond)
	if got := registeredEC2IDs(t, ec, "c1"); len(got) != 0 {
		t.Fatalf("registered %v before the register delay, want none", got)
	}
	e.advance(time.Millisecond)
	want := sortedCopy(e.instanceIDs("g"))
	if got := registeredEC2IDs(t, ec, "c1"); !slices.Equal(got, want) {
		t.Fatalf("registered %v, want the group's instances %v", got, want)
	}

	// An instance scaled in before its agent starts never registers.
	e.createGroup("quick", 1, map[string]string{"awssim:ecs-cluster": "c1"})
	e.advance(launchDelay)
	e.setDesired("quick", 0)
	e.advance(time.Second)
	if got := registeredEC2IDs(t, ec, "c1"); !slices.Equal(got, want) {
		t.Fatalf("registered %v after a quick scale-in, want still %v", got, want)
	}

	if _, err := ec.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("app"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("nginx"), Memory: aws.Int32(128)}},
	}); err != nil {
		t.Fatalf("RegisterTaskDefinition: %v", err)
	}
	run, err := ec.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("c1"), TaskDefinition: aws.String("app")})
	if err != nil || len(run.Tasks) != 1 {
		t.Fatalf("RunTask: %v (%d tasks)", err, len(run.Tasks))
	}
	e.advance(time.Second)

	e.setDesired("g", 0) // no hook: the instances terminate with whatever runs on them
	e.advance(terminateDelay)
	if got := registeredEC2IDs(t, ec, "c1"); len(got) != 0 {
		t.Errorf("container instances %v still active after their hosts terminated", got)
	}
	st := e.sim.Stats()
	if st.Terminated != 3 || st.TerminatedWithTasks != 1 || st.TasksStoppedByReason[awssim.StopReasonHostTerminated] != 1 {
		t.Errorf("terminated %d, with tasks %d, tasks killed %d; want 3, 1, 1", st.Terminated, st.TerminatedWithTasks, st.TasksStoppedByReason[awssim.StopReasonHostTerminated])
	}
}
