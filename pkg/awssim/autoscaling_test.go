package awssim_test

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
)

const (
	launching   = "autoscaling:EC2_INSTANCE_LAUNCHING"
	terminating = "autoscaling:EC2_INSTANCE_TERMINATING"

	// The default simulated-work delays (awssim.Options).
	launchDelay    = 200 * time.Millisecond
	terminateDelay = 200 * time.Millisecond
)

func TestCreateAndDescribeGroup(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	ctx := t.Context()
	_, err := e.client.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("web"),
		MinSize:              aws.Int32(1),
		MaxSize:              aws.Int32(5),
		DesiredCapacity:      aws.Int32(2),
		AvailabilityZones:    []string{"us-east-1a", "us-east-1b"},
		LaunchTemplate:       &types.LaunchTemplateSpecification{LaunchTemplateName: aws.String("lt"), Version: aws.String("$Latest")},
		Tags: []types.Tag{
			{Key: aws.String("env"), Value: aws.String("prod"), PropagateAtLaunch: aws.Bool(true)},
			{Key: aws.String("awssim:ecs-cluster"), Value: aws.String("c1")},
		},
	})
	if err != nil {
		t.Fatalf("CreateAutoScalingGroup: %v", err)
	}

	g := e.group("web")
	if got := aws.ToString(g.AutoScalingGroupARN); !strings.HasPrefix(got, "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:") || !strings.HasSuffix(got, ":autoScalingGroupName/web") {
		t.Errorf("ARN = %q", got)
	}
	if got := aws.ToTime(g.CreatedTime); !got.Equal(asgEpoch) {
		t.Errorf("CreatedTime = %v, want %v", got, asgEpoch)
	}
	if aws.ToInt32(g.MinSize) != 1 || aws.ToInt32(g.MaxSize) != 5 || aws.ToInt32(g.DesiredCapacity) != 2 {
		t.Errorf("sizes = %d/%d/%d, want 1/5/2", aws.ToInt32(g.MinSize), aws.ToInt32(g.MaxSize), aws.ToInt32(g.DesiredCapacity))
	}
	if !slices.Equal(g.AvailabilityZones, []string{"us-east-1a", "us-east-1b"}) {
		t.Errorf("AvailabilityZones = %v", g.AvailabilityZones)
	}
	if g.LaunchTemplate == nil || aws.ToString(g.LaunchTemplate.LaunchTemplateName) != "lt" || aws.ToString(g.LaunchTemplate.Version) != "$Latest" {
		t.Errorf("LaunchTemplate = %+v", g.LaunchTemplate)
	}
	if g.Status != nil {
		t.Errorf("Status = %q, want none", aws.ToString(g.Status))
	}
	checkGroupTags(t, g.Tags)
	checkNewInstances(t, g.Instances)

	checkGroupLaunched(t, e)
}

// checkGroupTags checks the tags of group web as DescribeAutoScalingGroups gives them.
func checkGroupTags(t *testing.T, got []types.TagDescription) {
	t.Helper()
	var tags []string
	for _, tag := range got {
		if aws.ToString(tag.ResourceId) != "web" || aws.ToString(tag.ResourceType) != "auto-scaling-group" {
			t.Errorf("tag resource = %s/%s", aws.ToString(tag.ResourceType), aws.ToString(tag.ResourceId))
		}
		tags = append(tags, fmt.Sprintf("%s=%s/%t", aws.ToString(tag.Key), aws.ToString(tag.Value), aws.ToBool(tag.PropagateAtLaunch)))
	}
	if want := []string{"awssim:ecs-cluster=c1/false", "env=prod/true"}; !slices.Equal(tags, want) {
		t.Errorf("tags = %v, want %v", tags, want)
	}
}

// checkNewInstances checks the two Pending instances of a new group, one in each zone.
func checkNewInstances(t *testing.T, instances []types.Instance) {
	t.Helper()
	if len(instances) != 2 {
		t.Fatalf("%d instances, want 2", len(instances))
	}
	var zones []string
	for _, inst := range instances {
		id := aws.ToString(inst.InstanceId)
		if len(id) != 19 || !strings.HasPrefix(id, "i-0") {
			t.Errorf("instance ID %q is not EC2-shaped", id)
		}
		if inst.LifecycleState != types.LifecycleStatePending || aws.ToString(inst.HealthStatus) != "Healthy" || aws.ToBool(inst.ProtectedFromScaleIn) {
			t.Errorf("instance %s: state %s health %s protected %t", id, inst.LifecycleState, aws.ToString(inst.HealthStatus), aws.ToBool(inst.ProtectedFromScaleIn))
		}
		zones = append(zones, aws.ToString(inst.AvailabilityZone))
	}
	if want := []string{"us-east-1a", "us-east-1b"}; !slices.Equal(sortedCopy(zones), want) {
		t.Errorf("zones = %v, want one instance in each of %v", zones, want)
	}
}

// checkGroupLaunched checks the instances of group web go InService at the launch delay.
func checkGroupLaunched(t *testing.T, e *asgEnv) {
	t.Helper()
	ctx := t.Context()
	e.advance(launchDelay - time.Millisecond)
	for id, s := range e.states("web") {
		if s != "Pending" {
			t.Errorf("%s is %s before the launch delay, want Pending", id, s)
		}
	}
	e.advance(time.Millisecond)
	out, err := e.client.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{})
	if err != nil {
		t.Fatalf("DescribeAutoScalingInstances: %v", err)
	}
	if len(out.AutoScalingInstances) != 2 {
		t.Fatalf("%d instances, want 2", len(out.AutoScalingInstances))
	}
	for _, inst := range out.AutoScalingInstances {
		if aws.ToString(inst.LifecycleState) != "InService" || aws.ToString(inst.HealthStatus) != "HEALTHY" || aws.ToString(inst.AutoScalingGroupName) != "web" {
			t.Errorf("instance %s: state %s health %s group %s", aws.ToString(inst.InstanceId), aws.ToString(inst.LifecycleState), aws.ToString(inst.HealthStatus), aws.ToString(inst.AutoScalingGroupName))
		}
		if inst.LaunchTemplate == nil || aws.ToString(inst.LaunchTemplate.LaunchTemplateName) != "lt" {
			t.Errorf("instance %s LaunchTemplate = %+v", aws.ToString(inst.InstanceId), inst.LaunchTemplate)
		}
	}
	lean, err := e.client.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{IncludeInstances: aws.Bool(false)})
	if err != nil || len(lean.AutoScalingGroups) != 1 || len(lean.AutoScalingGroups[0].Instances) != 0 {
		t.Errorf("IncludeInstances=false: %+v, err %v; want the group without instances", lean.AutoScalingGroups, err)
	}
	if got := metricValue(t, e.sim.Registry(), "awssim_instances", map[string]string{"lifecycle_state": "InService"}); got != 2 {
		t.Errorf("awssim_instances{InService} = %v, want 2", got)
	}
}

func TestSameSeedSameIDs(t *testing.T) {
	ids := func() []string {
		e := newASGEnv(t, awssim.Options{Seed: 7})
		e.createGroup("g", 3, nil)
		return e.instanceIDs("g")
	}
	a, b := ids(), ids()
	if !slices.Equal(a, b) {
		t.Errorf("same seed gave %v then %v", a, b)
	}
}

func TestUpdateAutoScalingGroupSizes(t *testing.T) {
	tests := []struct {
		name                        string
		in                          autoscaling.UpdateAutoScalingGroupInput
		wantMin, wantMax, wantDesir int32
		wantCode                    string
	}{
		{name: "min above desired drags desired up", in: autoscaling.UpdateAutoScalingGroupInput{MinSize: aws.Int32(3)}, wantMin: 3, wantMax: 5, wantDesir: 3},
		{name: "max below desired drags desired down", in: autoscaling.UpdateAutoScalingGroupInput{MaxSize: aws.Int32(1)}, wantMin: 0, wantMax: 1, wantDesir: 1},
		{name: "explicit desired", in: autoscaling.UpdateAutoScalingGroupInput{DesiredCapacity: aws.Int32(4)}, wantMin: 0, wantMax: 5, wantDesir: 4},
		{name: "desired above max", in: autoscaling.UpdateAutoScalingGroupInput{DesiredCapacity: aws.Int32(6)}, wantCode: "ValidationError"},
		{name: "max below min", in: autoscaling.UpdateAutoScalingGroupInput{MinSize: aws.Int32(4), MaxSize: aws.Int32(3)}, wantCode: "ValidationError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newASGEnv(t, awssim.Options{})
			if _, err := e.client.CreateAutoScalingGroup(t.Context(), &autoscaling.CreateAutoScalingGroupInput{
				AutoScalingGroupName: aws.String("g"), MinSize: aws.Int32(0), MaxSize: aws.Int32(5), DesiredCapacity: aws.Int32(2),
			}); err != nil {
				t.Fatalf("CreateAutoScalingGroup: %v", err)
			}
			in := tt.in
			in.AutoScalingGroupName = aws.String("g")
			_, err := e.client.UpdateAutoScalingGroup(t.Context(), &in)
			if got := apiCode(t, err); got != tt.wantCode {
				t.Fatalf("UpdateAutoScalingGroup error code %q, want %q (%v)", got, tt.wantCode, err)
			}
			if tt.wantCode != "" {
				return
			}
			g := e.group("g")
			if aws.ToInt32(g.MinSize) != tt.wantMin || aws.ToInt32(g.MaxSize) != tt.wantMax || aws.ToInt32(g.DesiredCapacity) != tt.wantDesir {
				t.Errorf("sizes = %d/%d/%d, want %d/%d/%d", aws.ToInt32(g.MinSize), aws.ToInt32(g.MaxSize), aws.ToInt32(g.DesiredCapacity), tt.wantMin, tt.wantMax, tt.wantDesir)
			}
			active := 0
			for _, s := range e.states("g") {
				if s == "Pending" || s == "InService" {
					active++
				}
			}
			if active != int(tt.wantDesir) {
				t.Errorf("%d active instances, want %d", active, tt.wantDesir)
			}
		})
	}
}

func TestDescribeAutoScalingInstancesPagination(t *testing.T) {
	tests := []struct {
		name       string
		instances  int32
		override   int
		maxRecords int32
		wantPages  []int
	}{
		{name: "default page of 50", instances: 51, wantPages: []int{50, 1}},
		{name: "exactly one full page has no NextToken", instances: 50, wantPages: []int{50}},
		{name: "MaxRecords 20", instances: 51, maxRecords: 20, wantPages: []int{20, 20, 11}},
		{name: "PageSizeOverride caps MaxRecords", instances: 51, override: 25, maxRecords: 50, wantPages: []int{25, 25, 1}},
		{name: "PageSizeOverride 1", instances: 51, override: 1, wantPages: slices.Repeat([]int{1}, 51)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newASGEnv(t, awssim.Options{PageSizeOverride: tt.override})
			e.createGroup("big", tt.instances, nil)
			in := &autoscaling.DescribeAutoScalingInstancesInput{}
			if tt.maxRecords > 0 {
				in.MaxRecords = aws.Int32(tt.maxRecords)
			}
			p := autoscaling.NewDescribeAutoScalingInstancesPaginator(e.client, in)
			var pages []int
			var ids []string
			for p.HasMorePages() {
				out, err := p.NextPage(t.Context())
				if err != nil {
					t.Fatalf("page %d: %v", len(pages)+1, err)
				}
				pages = append(pages, len(out.AutoScalingInstances))
				for _, inst := range out.AutoScalingInstances {
					ids = append(ids, aws.ToString(inst.InstanceId))
				}
			}
			if !slices.Equal(pages, tt.wantPages) {
				t.Errorf("page sizes %v, want %v", pages, tt.wantPages)
			}
			if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != int(tt.instances) {
				t.Errorf("got %d IDs (sorted %t), want %d distinct in ID order", len(ids), slices.IsSorted(ids), tt.instances)
			}
		})
	}
}

func TestDescribeAutoScalingGroupsPagination(t *testing.T) {
	tests := []struct {
		name       string
		override   int
		maxRecords int32
		wantPages  []int
	}{
		{name: "default page of 50", wantPages: []int{50, 50, 1}},
		{name: "MaxRecords 100", maxRecords: 100, wantPages: []int{100, 1}},
		{name: "PageSizeOverride 1", override: 1, maxRecords: 100, wantPages: slices.Repeat([]int{1}, 101)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newASGEnv(t, awssim.Options{PageSizeOverride: tt.override})
			var want []string
			for i := range 101 {
				name := fmt.Sprintf("group-%03d", i)
				e.createGroup(name, 0, nil)
				want = append(want, name)
			}
			in := &autoscaling.DescribeAutoScalingGroupsInput{}
			if tt.maxRecords > 0 {
				in.MaxRecords = aws.Int32(tt.maxRecords)
			}
			p := autoscaling.NewDescribeAutoScalingGroupsPaginator(e.client, in)
			var pages []int
			var names []string
			for p.HasMorePages() {
				out, err := p.NextPage(t.Context())
				if err != nil {
					t.Fatalf("page %d: %v", len(pages)+1, err)
				}
				pages = append(pages, len(out.AutoScalingGroups))
				for _, g := range out.AutoScalingGroups {
					names = append(names, aws.ToString(g.AutoScalingGroupName))
				}
			}
			if !slices.Equal(pages, tt.wantPages) {
				t.Errorf("page sizes %v, want %v", pages, tt.wantPages)
			}
			if !slices.Equal(names, want) {
				t.Errorf("got %d groups, want the %d created, in name order", len(names), len(want))
			}
		})
	}
}

// TestPaginationStableWhileChanging deletes and adds groups between pages: every group that exists
// throughout is returned exactly once.
func TestPaginationStableWhileChanging(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	ctx := t.Context()
	for i := range 30 {
		e.createGroup(fmt.Sprintf("g%02d", i), 0, nil)
	}
	first, err := e.client.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(10)})
	if err != nil {
		t.Fatalf("first page: %v", err)
	}
	seen := map[string]int{}
	for _, g := range first.AutoScalingGroups {
		seen[aws.ToString(g.AutoScalingGroupName)]++
	}
	for _, name := range []string{"g05", "g15"} { // one already returned, one not yet
		if _, err := e.client.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String(name)}); err != nil {
			t.Fatalf("DeleteAutoScalingGroup %s: %v", name, err)
		}
	}
	e.createGroup("g105", 0, nil) // sorts after the first page's last name, g09
	token := first.NextToken
	for token != nil {
		out, err := e.client.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(10), NextToken: token})
		if err != nil {
			t.Fatalf("next page: %v", err)
		}
		for _, g := range out.AutoScalingGroups {
			seen[aws.ToString(g.AutoScalingGroupName)]++
		}
		token = out.NextToken
	}
	for i := range 30 {
		name := fmt.Sprintf("g%02d", i)
		want := 1
		if name == "g15" {
			want = 0
		}
		if seen[name] != want {
			t.Errorf("%s returned %d times, want %d", name, seen[name], want)
		}
	}
	if seen["g105"] != 1 {
		t.Errorf("g105, created after the first page, returned %d times, want 1", seen["g105"])
	}
}

func TestDescribeAutoScalingGroupsTagFilters(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	e.createGroup("a", 0, map[string]string{"env": "prod", "team": "x"})
	e.createGroup("b", 0, map[string]string{"env": "dev"})
	e.createGroup("c", 0, map[string]string{"env": "prod", "owner": "dev"})
	e.createGroup("d", 0, nil)
	filter := func(name string, values ...string) types.Filter {
		return types.Filter{Name: aws.String(name), Values: values}
	}
	tests := []struct {
		name    string
		names   []string
		filters []types.Filter
		want    []string
	}{
		{name: "no filter", want: []string{"a", "b", "c", "d"}},
		{name: "tag-key", filters: []types.Filter{filter("tag-key", "env")}, want: []string{"a", "b", "c"}},
		{name: "tag-value matches any key", filters: []types.Filter{filter("tag-value", "dev")}, want: []string{"b", "c"}},
		{name: "tag:key values are OR'ed", filters: []types.Filter{filter("tag:env", "dev", "prod")}, want: []string{"a", "b", "c"}},
		{name: "filters are AND'ed", filters: []types.Filter{filter("tag:env", "prod"), filter("tag-key", "team")}, want: []string{"a"}},
		{name: "values are case-sensitive", filters: []types.Filter{filter("tag:env", "PROD")}},
		{name: "no match", filters: []types.Filter{filter("tag:team", "y")}},
		{name: "with names", names: []string{"a", "b", "missing"}, filters: []types.Filter{filter("tag:env", "prod")}, want: []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := e.client.DescribeAutoScalingGroups(t.Context(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: tt.names, Filters: tt.filters})
			if err != nil {
				t.Fatalf("DescribeAutoScalingGroups: %v", err)
			}
			var got []string
			for _, g := range out.AutoScalingGroups {
				got = append(got, aws.ToString(g.AutoScalingGroupName))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCreateOrUpdateTags(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	ctx := t.Context()
	e.createGroup("g", 0, map[string]string{"env": "dev"})
	_, err := e.client.CreateOrUpdateTags(ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: []types.Tag{
		{ResourceId: aws.String("g"), ResourceType: aws.String("auto-scaling-group"), Key: aws.String("env"), Value: aws.String("prod")},
		{ResourceId: aws.String("g"), ResourceType: aws.String("auto-scaling-group"), Key: aws.String("ecs-drainer/enabled"), Value: aws.String("true"), PropagateAtLaunch: aws.Bool(true)},
	}})
	if err != nil {
		t.Fatalf("CreateOrUpdateTags: %v", err)
	}
	out, err := e.client.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{Filters: []types.Filter{
		{Name: aws.String("tag:ecs-drainer/enabled"), Values: []string{"true"}},
		{Name: aws.String("tag:env"), Values: []string{"prod"}},
	}})
	if err != nil {
		t.Fatalf("DescribeAutoScalingGroups: %v", err)
	}
	if len(out.AutoScalingGroups) != 1 || len(out.AutoScalingGroups[0].Tags) != 2 {
		t.Fatalf("got %+v, want g with two tags", out.AutoScalingGroups)
	}

	_, err = e.client.CreateOrUpdateTags(ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: []types.Tag{
		{ResourceId: aws.String("g"), ResourceType: aws.String("auto-scaling-group"), Key: aws.String("new"), Value: aws.String("1")},
		{ResourceId: aws.String("missing"), ResourceType: aws.String("auto-scaling-group"), Key: aws.String("k"), Value: aws.String("v")},
	}})
	if got := apiCode(t, err); got != "ValidationError" {
		t.Fatalf("tagging a missing group: code %q, want ValidationError", got)
	}
	if n := len(e.group("g").Tags); n != 2 {
		t.Errorf("a failed CreateOrUpdateTags changed the tags: %d, want 2", n)
	}
}

// TestErrorCodes checks that every error the Auto Scaling half returns reaches the SDK with the
// right code, type and status.
func TestErrorCodes(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	e.createGroup("g", 2, nil)
	e.putHook("g", "drain", terminating, 300, "CONTINUE")
	ids := e.instanceIDs("g")
	many := func(prefix string, n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("%s%d", prefix, i))
		}
		return out
	}
	tests := []struct {
		name       string
		call       func(c *autoscaling.Client) error
		wantCode   string
		wantStatus int
		wantMsg    string
	}{
		{
			name: "duplicate group",
			call: func(c *autoscaling.Client) error {
				_, err := c.CreateAutoScalingGroup(t.Context(), &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("g"), MinSize: aws.Int32(0), MaxSize: aws.Int32(1)})
				return err
			},
			wantCode: "AlreadyExists", wantStatus: 400, wantMsg: "AutoScalingGroup by this name already exists",
		},
		{
			name: "min above max",
			call: func(c *autoscaling.Client) error {
				_, err := c.CreateAutoScalingGroup(t.Context(), &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("h"), MinSize: aws.Int32(2), MaxSize: aws.Int32(1)})
				return err
			},
			wantCode: "ValidationError", wantStatus: 400, wantMsg: "Max bound, 1, must be greater than or equal to min bound, 2",
		},
		{
			name: "desired above max",
			call: func(c *autoscaling.Client) error {
				_, err := c.SetDesiredCapacity(t.Context(), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("g"), DesiredCapacity: aws.Int32(101)})
				return err
			},
			wantCode: "ValidationError", wantStatus: 400, wantMsg: "New SetDesiredCapacity value 101 is above max value 100 for the AutoScalingGroup.",
		},
		{
			name: "update missing group",
			call: func(c *autoscaling.Client) error {
				_, err := c.UpdateAutoScalingGroup(t.Context(), &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("nope"), MinSize: aws.Int32(1)})
				return err
			},
			wantCode: "ValidationError", wantStatus: 400, wantMsg: "AutoScalingGroup name not found - AutoScalingGroup nope not found",
		},
		{
			name: "delete group with instances",
			call: func(c *autoscaling.Client) error {
				_, err := c.DeleteAutoScalingGroup(t.Context(), &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String("g")})
				return err
			},
			wantCode: "ResourceInUse", wantStatus: 400, wantMsg: "You cannot delete an AutoScalingGroup while there are instances",
		},
		{
			name: "garbage NextToken",
			call: func(c *autoscaling.Client) error {
				_, err := c.DescribeAutoScalingGroups(t.Context(), &autoscaling.DescribeAutoScalingGroupsInput{NextToken: aws.String("garbage!")})
				return err
			},
			wantCode: "InvalidNextToken", wantStatus: 400, wantMsg: "The token 'garbage!' is invalid.",
		},
		{
			name: "NextToken of another operation",
			call: func(c *autoscaling.Client) error {
				out, err := c.DescribeAutoScalingInstances(t.Context(), &autoscaling.DescribeAutoScalingInstancesInput{MaxRecords: aws.Int32(1)})
				if err != nil {
					return err
				}
				_, err = c.DescribeAutoScalingGroups(t.Context(), &autoscaling.DescribeAutoScalingGroupsInput{NextToken: out.NextToken})
				return err
			},
			wantCode: "InvalidNextToken", wantStatus: 400,
		},
		{
			name: "groups MaxRecords 101",
			call: func(c *autoscaling.Client) error {
				_, err := c.DescribeAutoScalingGroups(t.Context(), &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(101)})
				return err
			},
			wantCode: "ValidationError", wantStatus: 400, wantMsg: "maxRecords",
		},
		{
			name: "instances MaxRecords 51",
			call: func(c *autoscaling.Client) error {
				_, err := c.DescribeAutoScalingInstances(t.Context(), &autoscaling.DescribeAutoScalingInstancesInput{MaxRecords: aws.Int32(51)})
				return err
			},
			wantCode: "ValidationError", wantStatus: 400, wantMsg: "maxRecords",
		},
		{
			name: "51 group names",
			call: func(c *autoscaling.Client) error {
				_, err := c.DescribeAutoScalingGroups(t.Context(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: many("g", 51)})
				return err
			},
			wantCode: "ValidationError", wantStatus: 400, wantMsg: "limited to 50",
		},
		{
			name: "51 instance IDs",
			call: func(c *autoscaling.Client) error {
				_, err := c.DescribeAutoScalingInstances(t.Context(), &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: many("i-", 51)})
				return err
			},
			wantCode: "ValidationError", wantStatus: 400, wantMsg: "limited to 50",
		},
		{
			name: "51 hook names",
			call: func(c *autoscaling.Client) error {
				_, err := c.DescribeLifecycleHooks(t.Context(), &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String("g"), LifecycleHookNames: many("h", 51)})
				return err
			},
			wantCode: "ValidationError", wantStatus: 400, wantMsg: "limited to 50",
		},
		{
			name: "51 IDs to protect",
			call: func(c *autoscaling.Client) error {
				_, err := c.SetInstanceProtection(t.Context(), &autoscaling.SetInstanceProtectionInput{AutoScalingGroupName: aws.String("g"), InstanceIds: many("i-", 51), ProtectedFromScaleIn: aws.Bool(true)})
				return err
			},
			wantCode: "LimitExceeded", wantStatus: 400,
		},
		{
			name: "protect an instance of another group",
			call: func(c *autoscaling.Client) error {
				_, err := c.SetInstanceProtection(t.Context(), &autoscaling.SetInstanceProtectionInput{AutoScalingGroupName: aws.String("g"), InstanceIds: []string{"i-0000000000000000"}, ProtectedFromScaleIn: aws.Bool(true)})
				return err
			},
			wantCode: "ValidationError", wantStatus: 400,
		},
		{
			name: "unknown filter",
			call: func(c *autoscaling.Client) error {
				_, err := c.DescribeAutoScalingGroups(t.Context(), &autoscaling.DescribeAutoScalingGroupsInput{Filters: []types.Filter{{Name: aws.String("instance-type"), Values: []string{"x"}}}})
				return err
			},
			wantCode: "ValidationError", wantStatus: 400,
		},
		{
			name: "terminate unknown instance",
			call: func(c *autoscaling.Client) error {
				_, err := c.TerminateInstanceInAutoScalingGroup(t.Context(), &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String("i-0123456789abcdef0"), ShouldDecrementDesiredCapacity: aws.Bool(false)})
				return err
			},
			wantCode: "ValidationError", wantStatus: 400, wantMsg: "Instance Id not found - No managed instance found for instance ID: i-0123456789abcdef0",
		},
		{
			name: "heartbeat timeout below 30",
			call: func(c *autoscaling.Client) error {
				_, err := c.PutLifecycleHook(t.Context(), &autoscaling.PutLifecycleHookInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("x"), LifecycleTransition: aws.String(terminating), HeartbeatTimeout: aws.Int32(29)})
				return err
			},
			wantCode: "ValidationError", wantStatus: 400,
		},
		{
			name: "heartbeat timeout above 7200",
			call: func(c *autoscaling.Client) error {
				_, err := c.PutLifecycleHook(t.Context(), &autoscaling.PutLifecycleHookInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("x"), LifecycleTransition: aws.String(terminating), HeartbeatTimeout: aws.Int32(7201)})
				return err
			},
			wantCode: "ValidationError", wantStatus: 400,
		},
		{
			name: "bad transition",
			call: func(c *autoscaling.Client) error {
				_, err := c.PutLifecycleHook(t.Context(), &autoscaling.PutLifecycleHookInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("x"), LifecycleTransition: aws.String("autoscaling:EC2_INSTANCE_REBOOTING")})
				return err
			},
			wantCode: "ValidationError", wantStatus: 400,
		},
		{
			name: "new hook without transition",
			call: func(c *autoscaling.Client) error {
				_, err := c.PutLifecycleHook(t.Context(), &autoscaling.PutLifecycleHookInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("x")})
				return err
			},
			wantCode: "ValidationError", wantStatus: 400,
		},
		{
			name: "hook on missing group",
			call: func(c *autoscaling.Client) error {
				_, err := c.DescribeLifecycleHooks(t.Context(), &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String("nope")})
				return err
			},
			wantCode: "ValidationError", wantStatus: 400,
		},
		{
			name: "complete with no pending action",
			call: func(c *autoscaling.Client) error {
				_, err := c.CompleteLifecycleAction(t.Context(), &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("drain"), InstanceId: aws.String(ids[0]), LifecycleActionResult: aws.String("CONTINUE")})
				return err
			},
			wantCode: "ValidationError", wantStatus: 400, wantMsg: "No active Lifecycle Action found with instance ID " + ids[0],
		},
		{
			name: "complete with a bad result",
			call: func(c *autoscaling.Client) error {
				_, err := c.CompleteLifecycleAction(t.Context(), &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("drain"), InstanceId: aws.String(ids[0]), LifecycleActionResult: aws.String("MAYBE")})
				return err
			},
			wantCode: "ValidationError", wantStatus: 400,
		},
		{
			name: "heartbeat with unknown token",
			call: func(c *autoscaling.Client) error {
				_, err := c.RecordLifecycleActionHeartbeat(t.Context(), &autoscaling.RecordLifecycleActionHeartbeatInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("drain"), LifecycleActionToken: aws.String("f66c3d47-e602-4af0-8edd-d4e4d2fe4620")})
				return err
			},
			wantCode: "ValidationError", wantStatus: 400, wantMsg: "No active Lifecycle Action found with token f66c3d47-e602-4af0-8edd-d4e4d2fe4620",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(e.client)
			if got := apiCode(t, err); got != tt.wantCode {
				t.Fatalf("code %q, want %q (%v)", got, tt.wantCode, err)
			}
			if got := httpStatus(t, err); got != tt.wantStatus {
				t.Errorf("HTTP status %d, want %d", got, tt.wantStatus)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("message %q does not contain %q", err.Error(), tt.wantMsg)
			}
		})
	}
	// The modeled faults decode to the SDK's typed errors.
	_, err := e.client.CreateAutoScalingGroup(t.Context(), &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("g"), MinSize: aws.Int32(0), MaxSize: aws.Int32(1)})
	var exists *types.AlreadyExistsFault
	if !errors.As(err, &exists) {
		t.Errorf("duplicate group error %T is not *types.AlreadyExistsFault", err)
	}
	_, err = e.client.DescribeAutoScalingGroups(t.Context(), &autoscaling.DescribeAutoScalingGroupsInput{NextToken: aws.String("x")})
	var badToken *types.InvalidNextToken
	if !errors.As(err, &badToken) {
		t.Errorf("bad token error %T is not *types.InvalidNextToken", err)
	}
	// Failed requests changed nothing.
	if got := e.group("g"); aws.ToInt32(got.DesiredCapacity) != 2 || len(got.Instances) != 2 {
		t.Errorf("group changed by failed requests: desired %d, %d instances", aws.ToInt32(got.DesiredCapacity), len(got.Instances))
	}
}

// TestUnknownActionEnvelope posts a raw Query request no SDK would send and reads the XML error
// envelope directly.
func TestUnknownActionEnvelope(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	resp, err := http.Post(e.url, "application/x-www-form-urlencoded", strings.NewReader("Action=FlyToTheMoon&Version=2011-01-01"))
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 400", resp.StatusCode)
	}
	var env struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		Error   struct {
			Type    string `xml:"Type"`
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Error"`
		RequestID string `xml:"RequestId"`
	}
	if err := xml.Unmarshal(body, &env); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	if env.Error.Type != "Sender" || env.Error.Code != "InvalidAction" || env.Error.Message != "The action FlyToTheMoon is not valid for this web service." || env.RequestID == "" {
		t.Errorf("envelope = %+v", env)
	}
}

func TestLifecycleHookSettings(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	ctx := t.Context()
	e.createGroup("g", 0, nil)
	// Defaults: HeartbeatTimeout 3600, DefaultResult ABANDON, GlobalTimeout min(172800, 100*HT).
	if _, err := e.client.PutLifecycleHook(ctx, &autoscaling.PutLifecycleHookInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("defaults"), LifecycleTransition: aws.String(terminating)}); err != nil {
		t.Fatalf("PutLifecycleHook: %v", err)
	}
	e.putHook("g", "short", terminating, 30, "CONTINUE")
	e.putHook("g", "long", launching, 7200, "CONTINUE")
	// Updating a hook keeps what the update leaves out.
	if _, err := e.client.PutLifecycleHook(ctx, &autoscaling.PutLifecycleHookInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("short"), HeartbeatTimeout: aws.Int32(40)}); err != nil {
		t.Fatalf("PutLifecycleHook update: %v", err)
	}
	out, err := e.client.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String("g")})
	if err != nil {
		t.Fatalf("DescribeLifecycleHooks: %v", err)
	}
	var got []string
	for _, h := range out.LifecycleHooks {
		got = append(got, fmt.Sprintf("%s %s %s %d %d %s", aws.ToString(h.AutoScalingGroupName), aws.ToString(h.LifecycleHookName), aws.ToString(h.LifecycleTransition),
			aws.ToInt32(h.HeartbeatTimeout), aws.ToInt32(h.GlobalTimeout), aws.ToString(h.DefaultResult)))
	}
	want := []string{
		"g defaults " + terminating + " 3600 172800 ABANDON",
		"g long " + launching + " 7200 172800 CONTINUE",
		"g short " + terminating + " 40 4000 CONTINUE",
	}
	if !slices.Equal(got, want) {
		t.Errorf("hooks:\n got %q\nwant %q", got, want)
	}
	out, err = e.client.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String("g"), LifecycleHookNames: []string{"short", "missing"}})
	if err != nil || len(out.LifecycleHooks) != 1 {
		t.Errorf("DescribeLifecycleHooks by name: %d hooks, err %v; want short only", len(out.LifecycleHooks), err)
	}

	// 50 hooks per group: the 51st is refused, updating one of the 50 is not.
	for i := range 47 {
		e.putHook("g", fmt.Sprintf("h%02d", i), terminating, 300, "CONTINUE")
	}
	_, err = e.client.PutLifecycleHook(ctx, &autoscaling.PutLifecycleHookInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("one-too-many"), LifecycleTransition: aws.String(terminating)})
	if got := apiCode(t, err); got != "LimitExceeded" {
		t.Errorf("51st hook: code %q, want LimitExceeded", got)
	}
	e.putHook("g", "h00", terminating, 600, "ABANDON")

	if _, err := e.client.DeleteLifecycleHook(ctx, &autoscaling.DeleteLifecycleHookInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("h00")}); err != nil {
		t.Fatalf("DeleteLifecycleHook: %v", err)
	}
	_, err = e.client.DeleteLifecycleHook(ctx, &autoscaling.DeleteLifecycleHookInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("h00")})
	if got := apiCode(t, err); got != "ValidationError" {
		t.Errorf("deleting a missing hook: code %q, want ValidationError", got)
	}
}

// scaleInOne makes a one-instance group with the given terminating hooks, puts it in service and
// scales it in, returning the instance ID.
func scaleInOne(e *asgEnv, hooks map[string]int32, defaultResult string) string {
	e.t.Helper()
	e.createGroup("g", 1, nil)
	for name, ht := range hooks {
		e.putHook("g", name, terminating, ht, defaultResult)
	}
	e.advance(launchDelay)
	id := e.onlyInstance("g")
	e.setDesired("g", 0)
	return id
}

func TestHeartbeatTimeoutAppliesDefaultResult(t *testing.T) {
	for _, result := range []string{"CONTINUE", "ABANDON"} {
		t.Run(result, func(t *testing.T) {
			e := newASGEnv(t, awssim.Options{})
			ctx := t.Context()
			id := scaleInOne(e, map[string]int32{"drain": 60}, result)
			start := e.clock.Now()
			if got := e.states("g")[id]; got != "Terminating:Wait" {
				t.Fatalf("state %s after scale-in, want Terminating:Wait", got)
			}
			acts := e.sim.LifecycleActions()
			if len(acts) != 1 || acts[0].EC2InstanceID != id || acts[0].LifecycleHookName != "drain" || acts[0].LifecycleTransition != terminating || !acts[0].Expires.Equal(start.Add(60*time.Second)) {
				t.Fatalf("actions = %+v", acts)
			}
			token := acts[0].LifecycleActionToken

			e.advance(60*time.Second - time.Millisecond)
			if got := e.states("g")[id]; got != "Terminating:Wait" {
				t.Fatalf("state %s just before the heartbeat timeout, want Terminating:Wait", got)
			}
			// Past the deadline but before the model steps, the action is no longer active.
			e.clock.Step(time.Millisecond)
			_, err := e.client.RecordLifecycleActionHeartbeat(ctx, &autoscaling.RecordLifecycleActionHeartbeatInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("drain"), LifecycleActionToken: aws.String(token)})
			if got := apiCode(t, err); got != "ValidationError" || !strings.Contains(err.Error(), "No active Lifecycle Action found with token "+token) {
				t.Fatalf("heartbeat after expiry: %v", err)
			}
			e.sim.Step()
			if got := e.states("g")[id]; got != "Terminating:Proceed" {
				t.Fatalf("state %s after the heartbeat timeout, want Terminating:Proceed", got)
			}
			_, err = e.client.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("drain"), InstanceId: aws.String(id), LifecycleActionResult: aws.String("CONTINUE")})
			if got := apiCode(t, err); got != "ValidationError" || !strings.Contains(err.Error(), "No active Lifecycle Action found with instance ID "+id) {
				t.Fatalf("complete after expiry: %v", err)
			}
			checkTimedOutAndTerminated(t, e)
		})
	}
}

// checkTimedOutAndTerminated checks the one instance of group g terminates after its lifecycle
// action timed out, and that the simulator counted the timeout.
func checkTimedOutAndTerminated(t *testing.T, e *asgEnv) {
	t.Helper()
	e.advance(terminateDelay)
	if ids := e.instanceIDs("g"); len(ids) != 0 {
		t.Errorf("instances %v remain after termination", ids)
	}
	st := e.sim.Stats()
	if st.LifecycleActionsTimedOut != 1 || len(st.LifecycleActionsCompleted) != 0 || st.Terminated != 1 {
		t.Errorf("stats: timed out %d, completed %v, terminated %d; want 1, none, 1", st.LifecycleActionsTimedOut, st.LifecycleActionsCompleted, st.Terminated)
	}
	if got := metricValue(t, e.sim.Registry(), "awssim_lifecycle_actions_timed_out_total", nil); got != 1 {
		t.Errorf("awssim_lifecycle_actions_timed_out_total = %v, want 1", got)
	}
}

func TestHeartbeatResetsDeadline(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	id := scaleInOne(e, map[string]int32{"drain": 60}, "ABANDON")
	start := e.clock.Now()
	heartbeat := func() {
		t.Helper()
		if _, err := e.client.RecordLifecycleActionHeartbeat(t.Context(), &autoscaling.RecordLifecycleActionHeartbeatInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("drain"), InstanceId: aws.String(id)}); err != nil {
			t.Fatalf("RecordLifecycleActionHeartbeat: %v", err)
		}
	}
	e.advance(50 * time.Second)
	heartbeat() // the deadline restarts from now: start+110s, not start+120s
	if acts := e.sim.LifecycleActions(); len(acts) != 1 || !acts[0].Expires.Equal(start.Add(110*time.Second)) {
		t.Fatalf("actions after heartbeat = %+v, want one expiring at start+110s", acts)
	}
	e.advance(60*time.Second - time.Millisecond)
	if got := e.states("g")[id]; got != "Terminating:Wait" {
		t.Fatalf("state %s before the extended deadline, want Terminating:Wait", got)
	}
	e.advance(time.Millisecond)
	if got := e.states("g")[id]; got != "Terminating:Proceed" {
		t.Fatalf("state %s at the extended deadline, want Terminating:Proceed", got)
	}
	if st := e.sim.Stats(); st.LifecycleActionsTimedOut != 1 {
		t.Errorf("timed out %d, want 1", st.LifecycleActionsTimedOut)
	}
}

func TestGlobalTimeoutCapsHeartbeats(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	id := scaleInOne(e, map[string]int32{"drain": 30}, "CONTINUE") // GlobalTimeout 3000s
	start := e.clock.Now()
	limit := start.Add(3000 * time.Second)
	heartbeat := func() time.Time {
		t.Helper()
		if _, err := e.client.RecordLifecycleActionHeartbeat(t.Context(), &autoscaling.RecordLifecycleActionHeartbeatInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("drain"), InstanceId: aws.String(id)}); err != nil {
			t.Fatalf("heartbeat at %v: %v", e.clock.Now().Sub(start), err)
		}
		acts := e.sim.LifecycleActions()
		if len(acts) != 1 {
			t.Fatalf("at %v: %d actions, want 1", e.clock.Now().Sub(start), len(acts))
		}
		return acts[0].Expires
	}
	// Heartbeats every 20s keep the 30s heartbeat timeout from ever expiring...
	for range 148 {
		e.advance(20 * time.Second)
		if got, want := heartbeat(), e.clock.Now().Add(30*time.Second); !got.Equal(want) {
			t.Fatalf("at %v: expires at %v, want %v", e.clock.Now().Sub(start), got.Sub(start), want.Sub(start))
		}
	}
	// ...but not past the global timeout: at 2980s a heartbeat extends it to 3000s, not 3010s.
	e.advance(20 * time.Second)
	if got := heartbeat(); !got.Equal(limit) {
		t.Fatalf("expires at %v after the last heartbeat, want the global timeout %v", got.Sub(start), limit.Sub(start))
	}
	e.advance(limit.Sub(e.clock.Now()) - time.Millisecond)
	if got := e.states("g")[id]; got != "Terminating:Wait" {
		t.Fatalf("state %s just before the global timeout, want Terminating:Wait", got)
	}
	e.advance(time.Millisecond)
	if got := e.states("g")[id]; got != "Terminating:Proceed" {
		t.Fatalf("state %s at the global timeout, want Terminating:Proceed", got)
	}
	if st := e.sim.Stats(); st.LifecycleActionsTimedOut != 1 {
		t.Errorf("timed out %d, want 1", st.LifecycleActionsTimedOut)
	}
}

func TestCompleteLifecycleAction(t *testing.T) {
	tests := []struct {
		name     string
		byToken  bool
		result   string
		notFound string // the message prefix of a repeated completion
	}{
		{name: "by instance ID", result: "CONTINUE", notFound: "No active Lifecycle Action found with instance ID "},
		{name: "by token", byToken: true, result: "CONTINUE", notFound: "No active Lifecycle Action found with token "},
		{name: "ABANDON by token", byToken: true, result: "ABANDON", notFound: "No active Lifecycle Action found with token "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newASGEnv(t, awssim.Options{})
			id := scaleInOne(e, map[string]int32{"drain": 300}, "ABANDON")
			acts := e.sim.LifecycleActions()
			if len(acts) != 1 {
				t.Fatalf("actions = %+v, want one", acts)
			}
			token := acts[0].LifecycleActionToken
			in := &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("drain"), LifecycleActionResult: aws.String(tt.result)}
			ref := id
			if tt.byToken {
				in.LifecycleActionToken = aws.String(token)
				ref = token
			} else {
				in.InstanceId = aws.String(id)
			}
			// A wrong hook name finds nothing.
			wrong := *in
			wrong.LifecycleHookName = aws.String("other")
			if _, err := e.client.CompleteLifecycleAction(t.Context(), &wrong); apiCode(t, err) != "ValidationError" {
				t.Fatalf("completing another hook: %v, want ValidationError", err)
			}
			if _, err := e.client.CompleteLifecycleAction(t.Context(), in); err != nil {
				t.Fatalf("CompleteLifecycleAction: %v", err)
			}
			if got := e.states("g")[id]; got != "Terminating:Proceed" {
				t.Errorf("state %s after completion, want Terminating:Proceed", got)
			}
			_, err := e.client.CompleteLifecycleAction(t.Context(), in)
			if apiCode(t, err) != "ValidationError" || !strings.Contains(err.Error(), tt.notFound+ref) {
				t.Errorf("second completion: %v, want %q", err, tt.notFound+ref)
			}
			e.advance(terminateDelay)
			st := e.sim.Stats()
			if st.LifecycleActionsCompleted[tt.result] != 1 || len(st.LifecycleActionsCompleted) != 1 || st.CompletionsByInstance[id] != 1 || st.LifecycleActionsTimedOut != 0 || st.Terminated != 1 {
				t.Errorf("stats = %+v", st)
			}
			if got := metricValue(t, e.sim.Registry(), "awssim_lifecycle_actions_completed_total", map[string]string{"result": tt.result}); got != 1 {
				t.Errorf("awssim_lifecycle_actions_completed_total{result=%s} = %v, want 1", tt.result, got)
			}
		})
	}
}

func TestCompleteByTokenChecksInstance(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	scaleInOne(e, map[string]int32{"drain": 300}, "ABANDON")
	token := e.sim.LifecycleActions()[0].LifecycleActionToken
	_, err := e.client.CompleteLifecycleAction(t.Context(), &autoscaling.CompleteLifecycleActionInput{
		AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("drain"), LifecycleActionResult: aws.String("CONTINUE"),
		LifecycleActionToken: aws.String(token), InstanceId: aws.String("i-0aaaaaaaaaaaaaaaa"),
	})
	if apiCode(t, err) != "ValidationError" || !strings.Contains(err.Error(), "with token "+token) {
		t.Errorf("token with another instance's ID: %v", err)
	}
}

func TestMultipleHooksWaitForAll(t *testing.T) {
	complete := func(e *asgEnv, id, hook, result string) {
		e.t.Helper()
		if _, err := e.client.CompleteLifecycleAction(e.t.Context(), &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String(hook), InstanceId: aws.String(id), LifecycleActionResult: aws.String(result)}); err != nil {
			e.t.Fatalf("CompleteLifecycleAction %s: %v", hook, err)
		}
	}
	t.Run("CONTINUE waits for every hook", func(t *testing.T) {
		e := newASGEnv(t, awssim.Options{})
		id := scaleInOne(e, map[string]int32{"a": 300, "b": 300}, "ABANDON")
		if acts := e.sim.LifecycleActions(); len(acts) != 2 || acts[0].LifecycleActionToken == acts[1].LifecycleActionToken {
			t.Fatalf("actions = %+v, want two with distinct tokens", acts)
		}
		complete(e, id, "a", "CONTINUE")
		if got := e.states("g")[id]; got != "Terminating:Wait" {
			t.Fatalf("state %s with hook b outstanding, want Terminating:Wait", got)
		}
		complete(e, id, "b", "CONTINUE")
		if got := e.states("g")[id]; got != "Terminating:Proceed" {
			t.Fatalf("state %s after both hooks, want Terminating:Proceed", got)
		}
		if st := e.sim.Stats(); st.CompletionsByInstance[id] != 2 || st.LifecycleActionsCompleted["CONTINUE"] != 2 {
			t.Errorf("stats = %+v", st)
		}
	})
	t.Run("ABANDON ends the other hooks", func(t *testing.T) {
		e := newASGEnv(t, awssim.Options{})
		id := scaleInOne(e, map[string]int32{"a": 300, "b": 300}, "CONTINUE")
		complete(e, id, "a", "ABANDON")
		if got := e.states("g")[id]; got != "Terminating:Proceed" {
			t.Fatalf("state %s after ABANDON, want Terminating:Proceed", got)
		}
		_, err := e.client.CompleteLifecycleAction(t.Context(), &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("b"), InstanceId: aws.String(id), LifecycleActionResult: aws.String("CONTINUE")})
		if apiCode(t, err) != "ValidationError" {
			t.Errorf("completing the ended hook b: %v, want ValidationError", err)
		}
	})
	t.Run("timeouts of each hook", func(t *testing.T) {
		e := newASGEnv(t, awssim.Options{})
		e.createGroup("g", 1, nil)
		e.putHook("g", "a", terminating, 30, "CONTINUE")
		e.putHook("g", "b", terminating, 60, "CONTINUE")
		e.advance(launchDelay)
		id := e.onlyInstance("g")
		e.setDesired("g", 0)
		e.advance(30 * time.Second)
		if got := e.states("g")[id]; got != "Terminating:Wait" {
			t.Fatalf("state %s with hook b outstanding, want Terminating:Wait", got)
		}
		e.advance(30 * time.Second)
		if got := e.states("g")[id]; got != "Terminating:Proceed" {
			t.Fatalf("state %s after both timeouts, want Terminating:Proceed", got)
		}
		if st := e.sim.Stats(); st.LifecycleActionsTimedOut != 2 {
			t.Errorf("timed out %d, want 2", st.LifecycleActionsTimedOut)
		}
	})
}

func TestNoHookTerminatesAtOnce(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	e.createGroup("g", 2, nil)
	e.advance(launchDelay)
	e.setDesired("g", 0)
	for id, s := range e.states("g") {
		if s != "Terminating:Proceed" {
			t.Errorf("%s is %s, want Terminating:Proceed", id, s)
		}
	}
	if acts := e.sim.LifecycleActions(); len(acts) != 0 {
		t.Errorf("actions = %+v, want none", acts)
	}
	e.advance(terminateDelay)
	if ids := e.instanceIDs("g"); len(ids) != 0 {
		t.Errorf("instances %v remain", ids)
	}
	if st := e.sim.Stats(); st.Terminated != 2 || st.TerminatedWithTasks != 0 {
		t.Errorf("terminated %d (with tasks %d), want 2 (0)", st.Terminated, st.TerminatedWithTasks)
	}
}

func TestDeleteLifecycleHookCompletesOutstandingActions(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	id := scaleInOne(e, map[string]int32{"drain": 300}, "ABANDON")
	if _, err := e.client.DeleteLifecycleHook(t.Context(), &autoscaling.DeleteLifecycleHookInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("drain")}); err != nil {
		t.Fatalf("DeleteLifecycleHook: %v", err)
	}
	if got := e.states("g")[id]; got != "Terminating:Proceed" {
		t.Errorf("state %s, want Terminating:Proceed", got)
	}
	if st := e.sim.Stats(); len(st.LifecycleActionsCompleted) != 0 || st.LifecycleActionsTimedOut != 0 {
		t.Errorf("stats = %+v: deleting a hook is neither a completion nor a timeout", st)
	}
}

func TestLaunchingHook(t *testing.T) {
	tests := []struct {
		result string
		want   string // state of the first instance after completion
	}{
		{result: "CONTINUE", want: "InService"},
		{result: "ABANDON", want: "Terminating:Proceed"},
	}
	for _, tt := range tests {
		t.Run(tt.result, func(t *testing.T) {
			e := newASGEnv(t, awssim.Options{})
			e.createGroup("g", 0, nil)
			e.putHook("g", "warm", launching, 60, "ABANDON")
			e.putHook("g", "drain", terminating, 60, "ABANDON") // abandoned launches skip it
			e.setDesired("g", 1)
			e.advance(launchDelay)
			id := e.onlyInstance("g")
			if got := e.states("g")[id]; got != "Pending:Wait" {
				t.Fatalf("state %s, want Pending:Wait", got)
			}
			if acts := e.sim.LifecycleActions(); len(acts) != 1 || acts[0].LifecycleTransition != launching {
				t.Fatalf("actions = %+v, want one launching action", acts)
			}
			if _, err := e.client.CompleteLifecycleAction(t.Context(), &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("warm"), InstanceId: aws.String(id), LifecycleActionResult: aws.String(tt.result)}); err != nil {
				t.Fatalf("CompleteLifecycleAction: %v", err)
			}
			e.sim.Step() // an abandoned launch is replaced on the next step
			states := e.states("g")
			if states[id] != tt.want {
				t.Errorf("state %s, want %s", states[id], tt.want)
			}
			wantInstances := 1
			if tt.result == "ABANDON" {
				wantInstances = 2 // the replacement, Pending
			}
			if len(states) != wantInstances {
				t.Errorf("instances %v, want %d", states, wantInstances)
			}
		})
	}
}

func TestForceDelete(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	ctx := t.Context()
	e.createGroup("g", 3, nil)
	e.putHook("g", "drain", terminating, 300, "CONTINUE")
	e.advance(launchDelay)
	e.setDesired("g", 2) // one instance waits on the hook
	if acts := e.sim.LifecycleActions(); len(acts) != 1 {
		t.Fatalf("actions = %+v, want one", acts)
	}
	_, err := e.client.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String("g")})
	if apiCode(t, err) != "ResourceInUse" {
		t.Fatalf("delete without force: %v, want ResourceInUse", err)
	}
	if _, err := e.client.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String("g"), ForceDelete: aws.Bool(true)}); err != nil {
		t.Fatalf("force delete: %v", err)
	}
	g := e.group("g")
	if aws.ToString(g.Status) != "Delete in progress" {
		t.Errorf("Status = %q, want Delete in progress", aws.ToString(g.Status))
	}
	for _, inst := range g.Instances {
		if inst.LifecycleState != types.LifecycleStateTerminatingProceed {
			t.Errorf("%s is %s, want Terminating:Proceed", aws.ToString(inst.InstanceId), inst.LifecycleState)
		}
	}
	if acts := e.sim.LifecycleActions(); len(acts) != 0 {
		t.Errorf("actions = %+v, want none: force-delete skips hooks", acts)
	}
	_, err = e.client.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("g"), DesiredCapacity: aws.Int32(0)})
	if apiCode(t, err) != "ValidationError" {
		t.Errorf("changing a group being deleted: %v, want ValidationError", err)
	}
	e.advance(terminateDelay)
	out, err := e.client.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil || len(out.AutoScalingGroups) != 0 {
		t.Errorf("groups after force delete: %d, err %v; want none", len(out.AutoScalingGroups), err)
	}
	if st := e.sim.Stats(); st.Terminated != 3 || len(st.LifecycleActionsCompleted) != 0 || st.LifecycleActionsTimedOut != 0 {
		t.Errorf("stats = %+v", st)
	}
	// The name is free again.
	e.createGroup("g", 0, nil)
}

func TestScaleInChoosesUnprotectedOldestFirst(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	ctx := t.Context()
	e.createGroup("g", 0, nil)
	order := launchOneByOne(e, "g", 4)
	protect := func(id string, on bool) {
		t.Helper()
		if _, err := e.client.SetInstanceProtection(ctx, &autoscaling.SetInstanceProtectionInput{AutoScalingGroupName: aws.String("g"), InstanceIds: []string{id}, ProtectedFromScaleIn: aws.Bool(on)}); err != nil {
			t.Fatalf("SetInstanceProtection: %v", err)
		}
	}
	protect(order[1], true)
	inService := func() []string {
		var out []string
		for _, inst := range e.group("g").Instances {
			if inst.LifecycleState == types.LifecycleStateInService {
				out = append(out, aws.ToString(inst.InstanceId))
			}
		}
		return sortedCopy(out)
	}

	e.setDesired("g", 2) // the oldest unprotected: first and third
	if got, want := inService(), sortedCopy([]string{order[1], order[3]}); !slices.Equal(got, want) {
		t.Errorf("in service after scale-in to 2: %v, want %v", got, want)
	}
	e.setDesired("g", 0) // only the fourth can go
	if got, want := inService(), []string{order[1]}; !slices.Equal(got, want) {
		t.Errorf("in service after scale-in to 0: %v, want the protected %v", got, want)
	}
	for _, inst := range e.group("g").Instances {
		if aws.ToString(inst.InstanceId) == order[1] && !aws.ToBool(inst.ProtectedFromScaleIn) {
			t.Errorf("%s not shown as protected", order[1])
		}
	}
	protect(order[1], false) // the group catches up with its desired capacity
	if got := inService(); len(got) != 0 {
		t.Errorf("in service after removing protection: %v, want none", got)
	}

	checkNewInstancesProtected(t, e)
}

// launchOneByOne raises group g's desired capacity one instance at a time up to n, and
// returns the instance IDs in launch order.
func launchOneByOne(e *asgEnv, g string, n int32) []string {
	e.t.Helper()
	var order []string // instance IDs in launch order
	for desired := int32(1); desired <= n; desired++ {
		e.setDesired(g, desired)
		e.advance(launchDelay)
		for _, id := range e.instanceIDs(g) {
			if !slices.Contains(order, id) {
				order = append(order, id)
			}
		}
	}
	return order
}

// checkNewInstancesProtected checks new instances inherit NewInstancesProtectedFromScaleIn.
func checkNewInstancesProtected(t *testing.T, e *asgEnv) {
	t.Helper()
	if _, err := e.client.UpdateAutoScalingGroup(t.Context(), &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("g"), NewInstancesProtectedFromScaleIn: aws.Bool(true), DesiredCapacity: aws.Int32(1)}); err != nil {
		t.Fatalf("UpdateAutoScalingGroup: %v", err)
	}
	for _, inst := range e.group("g").Instances {
		if inst.LifecycleState == types.LifecycleStatePending && !aws.ToBool(inst.ProtectedFromScaleIn) {
			t.Errorf("new instance %s not protected", aws.ToString(inst.InstanceId))
		}
	}
}

func TestTerminateInstanceInAutoScalingGroup(t *testing.T) {
	tests := []struct {
		name          string
		decrement     bool
		wantDesired   int32
		wantInstances int // the terminating one included
	}{
		{name: "replaced", decrement: false, wantDesired: 2, wantInstances: 3},
		{name: "decrement", decrement: true, wantDesired: 1, wantInstances: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newASGEnv(t, awssim.Options{})
			e.createGroup("g", 2, nil)
			e.putHook("g", "drain", terminating, 300, "CONTINUE")
			e.advance(launchDelay)
			id := e.instanceIDs("g")[0]
			out, err := e.client.TerminateInstanceInAutoScalingGroup(t.Context(), &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(tt.decrement)})
			if err != nil {
				t.Fatalf("TerminateInstanceInAutoScalingGroup: %v", err)
			}
			a := out.Activity
			if a == nil || aws.ToString(a.AutoScalingGroupName) != "g" || a.StatusCode != types.ScalingActivityStatusCodeInProgress || !strings.Contains(aws.ToString(a.Description), id) || aws.ToString(a.ActivityId) == "" || !aws.ToTime(a.StartTime).Equal(e.clock.Now()) {
				t.Errorf("activity = %+v", a)
			}
			g := e.group("g")
			if aws.ToInt32(g.DesiredCapacity) != tt.wantDesired || len(g.Instances) != tt.wantInstances {
				t.Errorf("desired %d with %d instances, want %d with %d", aws.ToInt32(g.DesiredCapacity), len(g.Instances), tt.wantDesired, tt.wantInstances)
			}
			if got := e.states("g")[id]; got != "Terminating:Wait" {
				t.Errorf("state %s, want Terminating:Wait (the hook applies)", got)
			}
		})
	}
	t.Run("decrement below min", func(t *testing.T) {
		e := newASGEnv(t, awssim.Options{})
		if _, err := e.client.CreateAutoScalingGroup(t.Context(), &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("g"), MinSize: aws.Int32(1), MaxSize: aws.Int32(2), DesiredCapacity: aws.Int32(1)}); err != nil {
			t.Fatalf("CreateAutoScalingGroup: %v", err)
		}
		_, err := e.client.TerminateInstanceInAutoScalingGroup(t.Context(), &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String(e.onlyInstance("g")), ShouldDecrementDesiredCapacity: aws.Bool(true)})
		if apiCode(t, err) != "ValidationError" || !strings.Contains(err.Error(), "min size constraint") {
			t.Errorf("got %v, want a min size ValidationError", err)
		}
	})
}

func TestThrottlingAbsorbedByRetryer(t *testing.T) {
	e := newASGEnv(t, awssim.Options{Throttle: true, ThrottleRates: map[string]awssim.Bucket{"DescribeAutoScalingGroups": {Rate: 1, Burst: 2}}})
	ctx := t.Context()
	once := e.newClient(1)
	for i := range 2 {
		if _, err := once.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{}); err != nil {
			t.Fatalf("call %d within the burst: %v", i+1, err)
		}
	}
	_, err := once.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if apiCode(t, err) != "Throttling" || httpStatus(t, err) != 400 || !strings.Contains(err.Error(), "Rate exceeded") {
		t.Fatalf("call past the burst: %v, want Throttling (400) Rate exceeded", err)
	}
	// The standard retryer backs off (here: the fake clock moves a second, refilling one token) and
	// succeeds.
	if _, err := e.newClient(3).DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{}); err != nil {
		t.Fatalf("retried call: %v", err)
	}
	st := e.sim.Stats()
	if got := st.Requests["autoscaling/DescribeAutoScalingGroups/Throttling"]; got != 2 {
		t.Errorf("throttled requests %d, want 2", got)
	}
	if got := st.Requests["autoscaling/DescribeAutoScalingGroups/OK"]; got != 3 {
		t.Errorf("served requests %d, want 3", got)
	}
}

func TestInjectedErrorsRetried(t *testing.T) {
	e := newASGEnv(t, awssim.Options{ErrorRate: 0.3, Seed: 1})
	ctx := t.Context()
	c := e.newClient(10)
	if _, err := c.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("g"), MinSize: aws.Int32(0), MaxSize: aws.Int32(1)}); err != nil {
		t.Fatalf("CreateAutoScalingGroup: %v", err)
	}
	const calls = 20
	for i := range calls {
		if _, err := c.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	st := e.sim.Stats()
	if got := st.Requests["autoscaling/DescribeAutoScalingGroups/OK"]; got != calls {
		t.Errorf("served %d, want %d", got, calls)
	}
	if st.Requests["autoscaling/DescribeAutoScalingGroups/InternalFailure"] == 0 {
		t.Errorf("no injected failures in %v", st.Requests)
	}
	// Without retries the injected fault surfaces as InternalFailure, a 500.
	once := e.newClient(1)
	for range 100 {
		_, err := once.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
		if err == nil {
			continue
		}
		if apiCode(t, err) != "InternalFailure" || httpStatus(t, err) != 500 {
			t.Errorf("injected fault: %v, want InternalFailure (500)", err)
		}
		return
	}
	t.Error("no injected fault in 100 calls at ErrorRate 0.3")
}

func TestCreateWithLifecycleHookSpecifications(t *testing.T) {
	e := newASGEnv(t, awssim.Options{})
	ctx := t.Context()
	_, err := e.client.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("g"), MinSize: aws.Int32(0), MaxSize: aws.Int32(2), DesiredCapacity: aws.Int32(1),
		LifecycleHookSpecificationList: []types.LifecycleHookSpecification{
			{LifecycleHookName: aws.String("warm"), LifecycleTransition: aws.String(launching), HeartbeatTimeout: aws.Int32(30), DefaultResult: aws.String("CONTINUE")},
			{LifecycleHookName: aws.String("drain"), LifecycleTransition: aws.String(terminating)},
		},
	})
	if err != nil {
		t.Fatalf("CreateAutoScalingGroup: %v", err)
	}
	// Hooks given at creation hold the group's very first instance.
	e.advance(launchDelay)
	id := e.onlyInstance("g")
	if got := e.states("g")[id]; got != "Pending:Wait" {
		t.Fatalf("state %s, want Pending:Wait", got)
	}
	e.advance(30 * time.Second) // the launching hook times out with CONTINUE
	if got := e.states("g")[id]; got != "InService" {
		t.Fatalf("state %s, want InService", got)
	}
	e.setDesired("g", 0)
	if got := e.states("g")[id]; got != "Terminating:Wait" {
		t.Fatalf("state %s, want Terminating:Wait", got)
	}
	if acts := e.sim.LifecycleActions(); len(acts) != 1 || !acts[0].Expires.Equal(e.clock.Now().Add(3600*time.Second)) {
		t.Errorf("actions = %+v, want drain with the default 3600s timeout", acts)
	}

	var tags []types.Tag
	for i := range 51 {
		tags = append(tags, types.Tag{Key: aws.String(fmt.Sprintf("k%d", i)), Value: aws.String("v")})
	}
	_, err = e.client.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("tagged"), MinSize: aws.Int32(0), MaxSize: aws.Int32(1), Tags: tags})
	if got := apiCode(t, err); got != "LimitExceeded" {
		t.Errorf("51 tags: code %q, want LimitExceeded", got)
	}
}
