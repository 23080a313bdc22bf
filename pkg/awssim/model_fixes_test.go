package awssim_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
)

// post sends a raw request and returns the body.
func post(t *testing.T, u, contentType, target, body string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestModelConformanceFixes covers what a strict check against the botocore models found: no
// Result element for Auto Scaling operations without an output shape, StopTask dropping the task's
// tags, ListTagsForResource answering with errors its model lists, UpdateContainerInstancesState
// showing attachments and tags, and an instance's launch template with an ID and a version.
func TestModelConformanceFixes(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	ctx := t.Context()
	ec := e.newECSClient()
	e.createGroup("g", 1, map[string]string{"awssim:ecs-cluster": "c"})

	body := post(t, e.url, "application/x-www-form-urlencoded", "", url.Values{
		"Action": {"SetDesiredCapacity"}, "Version": {"2011-01-01"}, "AutoScalingGroupName": {"g"}, "DesiredCapacity": {"1"},
	}.Encode())
	if strings.Contains(body, "SetDesiredCapacityResult") || !strings.Contains(body, "<RequestId>") {
		t.Errorf("SetDesiredCapacity answered %s, want the envelope without a Result element", body)
	}

	_, err := ec.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("c")})
	must(t, err)
	e.advance(launchDelay + registerDelay)
	out, err := e.client.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{})
	must(t, err)
	lt := out.AutoScalingInstances[0].LaunchTemplate
	if lt == nil || !strings.HasPrefix(aws.ToString(lt.LaunchTemplateId), "lt-0") || aws.ToString(lt.Version) != "1" || aws.ToString(lt.LaunchTemplateName) != "lt" {
		t.Errorf("instance LaunchTemplate = %+v, want an ID, name lt and version 1", lt)
	}

	_, err = ec.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("app"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("nginx"), Memory: aws.Int32(128)}},
	})
	must(t, err)
	run, err := ec.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("c"), TaskDefinition: aws.String("app"), Tags: []ecstypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	must(t, err)
	taskARN := aws.ToString(run.Tasks[0].TaskArn)
	e.advance(time.Second)
	_, err = ec.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("c"), Task: aws.String(taskARN)})
	must(t, err)
	tags, err := ec.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(taskARN)})
	if err != nil || len(tags.Tags) != 0 {
		t.Errorf("tags of a stopped task = %+v, %v; want none", tags, err)
	}
	for arn, code := range map[string]string{
		"arn:aws:ecs:us-east-1:123456789012:task/c/0123456789abcdef0123456789abcdef": "InvalidParameterException",
		"arn:aws:ecs:us-east-1:123456789012:cluster/nope":                            "ClusterNotFoundException",
	} {
		_, err := ec.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
		if got := apiCode(t, err); got != code {
			t.Errorf("ListTagsForResource %s: %s, want %s", arn, got, code)
		}
	}

	list, err := ec.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("c")})
	must(t, err)
	body = post(t, e.url, "application/x-amz-json-1.1", "AmazonEC2ContainerServiceV20141113.UpdateContainerInstancesState",
		`{"cluster":"c","containerInstances":["`+list.ContainerInstanceArns[0]+`"],"status":"DRAINING"}`)
	if !strings.Contains(body, `"attachments":[]`) || !strings.Contains(body, `"tags":[]`) {
		t.Errorf("UpdateContainerInstancesState answered %s, want attachments and tags", body)
	}
}
