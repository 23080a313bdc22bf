package awssim

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestECSRenderedDefaults checks, through the SDK, the members AWS returns for an EC2 bridge-mode
// task even when nothing set them (found missing by the moto differential test): the values, not
// only their presence. Empty lists must arrive as [] (the SDK decodes them to empty, non-nil slices).
func TestECSRenderedDefaults(t *testing.T) {
	e := newECSEnv(t, Options{})
	ctx := t.Context()
	e.createCluster("prod")
	reg, err := e.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("web"),
		ContainerDefinitions: []types.ContainerDefinition{
			{Name: aws.String("app"), Image: aws.String("nginx"), Memory: aws.Int32(256), Essential: aws.Bool(true)},
			{
				Name: aws.String("sidecar"), Image: aws.String("envoy"), Cpu: 10, MemoryReservation: aws.Int32(64),
				Environment: []types.KeyValuePair{{Name: aws.String("MODE"), Value: aws.String("edge")}},
			},
		},
		Volumes: []types.Volume{{Name: aws.String("data"), Host: &types.HostVolumeProperties{SourcePath: aws.String("/data")}}},
	})
	must(t, err)

	// RegisterTaskDefinition and DescribeTaskDefinition answer with the same definition.
	desc, err := e.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web:1")})
	must(t, err)
	for name, td := range map[string]*types.TaskDefinition{"RegisterTaskDefinition": reg.TaskDefinition, "DescribeTaskDefinition": desc.TaskDefinition} {
		checkRenderedTaskDef(t, name, td)
	}

	ci := e.register("prod", "i-a", 2)
	checkRenderedResources(t, e.describeInstance("prod", ci))
	checkRenderedService(t, e)
	checkRenderedTask(t, e.tasksOn("prod", ci))
}

// checkRenderedTaskDef checks the defaults and round-tripped members of the task definition
// that the operation name answered with.
func checkRenderedTaskDef(t *testing.T, name string, td *types.TaskDefinition) {
	t.Helper()
	if td.NetworkMode != "" {
		t.Errorf("%s: networkMode = %q, want absent (AWS does not report the bridge default)", name, td.NetworkMode)
	}
	if len(td.Volumes) != 1 || aws.ToString(td.Volumes[0].Name) != "data" || aws.ToString(td.Volumes[0].Host.SourcePath) != "/data" {
		t.Errorf("%s: volumes = %+v, want the registered one echoed", name, td.Volumes)
	}
	if td.PlacementConstraints == nil || len(td.PlacementConstraints) != 0 {
		t.Errorf("%s: placementConstraints = %#v, want []", name, td.PlacementConstraints)
	}
	if len(td.ContainerDefinitions) != 2 {
		t.Fatalf("%s: %d container definitions, want 2", name, len(td.ContainerDefinitions))
	}
	checkRenderedContainers(t, name, td.ContainerDefinitions)
}

// checkRenderedContainers checks the two container definitions, app and sidecar, of the task
// definition that the operation name answered with.
func checkRenderedContainers(t *testing.T, name string, defs []types.ContainerDefinition) {
	t.Helper()
	app, sidecar := defs[0], defs[1]
	if app.Cpu != 0 || sidecar.Cpu != 10 {
		t.Errorf("%s: container cpu = %d and %d, want 0 (unset) and 10", name, app.Cpu, sidecar.Cpu)
	}
	for _, c := range defs {
		if c.MountPoints == nil || c.PortMappings == nil || c.VolumesFrom == nil || c.Environment == nil {
			t.Errorf("%s: container %s lacks an empty list: mountPoints %v portMappings %v volumesFrom %v environment %v",
				name, aws.ToString(c.Name), c.MountPoints, c.PortMappings, c.VolumesFrom, c.Environment)
		}
	}
	if len(app.Environment) != 0 || len(sidecar.Environment) != 1 || aws.ToString(sidecar.Environment[0].Value) != "edge" {
		t.Errorf("%s: environment = %v and %v, want [] and the one sent", name, app.Environment, sidecar.Environment)
	}
	if aws.ToInt32(app.Memory) != 256 || !aws.ToBool(app.Essential) || aws.ToInt32(sidecar.MemoryReservation) != 64 {
		t.Errorf("%s: sent members did not round-trip: memory %v essential %v memoryReservation %v",
			name, app.Memory, app.Essential, sidecar.MemoryReservation)
	}
}

// checkRenderedResources checks a container instance's registered and remaining resources.
func checkRenderedResources(t *testing.T, got types.ContainerInstance) {
	t.Helper()
	for name, res := range map[string][]types.Resource{"registeredResources": got.RegisteredResources, "remainingResources": got.RemainingResources} {
		var names []string
		for _, r := range res {
			names = append(names, aws.ToString(r.Name))
		}
		if !slices.Equal(names, []string{"CPU", "MEMORY", "PORTS", "PORTS_UDP"}) {
			t.Fatalf("%s = %v, want CPU, MEMORY, PORTS, PORTS_UDP", name, names)
		}
		if !slices.Equal(res[2].StringSetValue, reservedPorts) || aws.ToString(res[2].Type) != "STRINGSET" {
			t.Errorf("%s PORTS = %s %v, want STRINGSET %v", name, aws.ToString(res[2].Type), res[2].StringSetValue, reservedPorts)
		}
		if res[3].StringSetValue == nil || len(res[3].StringSetValue) != 0 {
			t.Errorf("%s PORTS_UDP = %#v, want []", name, res[3].StringSetValue)
		}
		if res[0].IntegerValue != 2*slotUnits || res[0].StringSetValue != nil {
			t.Errorf("%s CPU = %+v, want integerValue %d and no stringSetValue", name, res[0], 2*slotUnits)
		}
	}

}

// checkRenderedService starts a service and checks its defaults and rollout states.
func checkRenderedService(t *testing.T, e *ecsEnv) {
	t.Helper()
	ctx := t.Context()
	e.service("prod", "web", "web", 1, 100, 200)
	svcs := func() types.Service {
		t.Helper()
		out, err := e.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}})
		must(t, err)
		return out.Services[0]
	}
	svc := svcs()
	if svc.LoadBalancers == nil || len(svc.LoadBalancers) != 0 || svc.ServiceRegistries == nil || len(svc.ServiceRegistries) != 0 {
		t.Errorf("loadBalancers %#v serviceRegistries %#v, want [] and []", svc.LoadBalancers, svc.ServiceRegistries)
	}
	if svc.PropagateTags != types.PropagateTagsNone {
		t.Errorf("propagateTags = %q, want NONE", svc.PropagateTags)
	}
	rollout := func(d types.Deployment) string {
		return string(d.RolloutState) + ": " + aws.ToString(d.RolloutStateReason)
	}
	d := svc.Deployments[0]
	if want := "IN_PROGRESS: ECS deployment " + aws.ToString(d.Id) + " in progress."; rollout(d) != want {
		t.Errorf("before the task runs, rollout = %q, want %q", rollout(d), want)
	}
	e.settle(time.Second, 3)
	d = svcs().Deployments[0]
	if want := "COMPLETED: ECS deployment " + aws.ToString(d.Id) + " completed."; rollout(d) != want {
		t.Errorf("once the task runs, rollout = %q, want %q", rollout(d), want)
	}

}

// checkRenderedTask checks the defaults of the service's one task on the instance.
func checkRenderedTask(t *testing.T, tasks []types.Task) {
	t.Helper()
	if len(tasks) != 1 {
		t.Fatalf("%d tasks on the instance, want the service's one", len(tasks))
	}
	task := tasks[0]
	if task.Attachments == nil || len(task.Attachments) != 0 {
		t.Errorf("attachments = %#v, want []", task.Attachments)
	}
	if task.Overrides == nil {
		t.Fatal("overrides absent")
	}
	var overridden []string
	for _, o := range task.Overrides.ContainerOverrides {
		overridden = append(overridden, aws.ToString(o.Name))
	}
	if !slices.Equal(overridden, []string{"app", "sidecar"}) {
		t.Errorf("containerOverrides = %v, want one per container: app, sidecar", overridden)
	}
	type containerView struct{ cpu, memory, memoryReservation string }
	want := map[string]containerView{"app": {"0", "256", ""}, "sidecar": {"10", "", "64"}}
	for _, c := range task.Containers {
		view := containerView{aws.ToString(c.Cpu), aws.ToString(c.Memory), aws.ToString(c.MemoryReservation)}
		if view != want[aws.ToString(c.Name)] {
			t.Errorf("container %s cpu/memory/memoryReservation = %+v, want %+v", aws.ToString(c.Name), view, want[aws.ToString(c.Name)])
		}
		if c.NetworkInterfaces == nil || len(c.NetworkInterfaces) != 0 {
			t.Errorf("container %s networkInterfaces = %#v, want []", aws.ToString(c.Name), c.NetworkInterfaces)
		}
	}
}

// TestWithContainerDefaults checks the defaults filled into a container definition at registration:
// added when absent or null, never over what was sent.
func TestWithContainerDefaults(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]string
	}{
		{
			name: "all absent",
			in:   `{"name":"a","image":"i"}`,
			want: map[string]string{"name": `"a"`, "image": `"i"`, "cpu": `0`, "environment": `[]`, "mountPoints": `[]`, "portMappings": `[]`, "volumesFrom": `[]`},
		},
		{
			name: "sent values kept, nulls filled",
			in:   `{"name":"a","image":"i","cpu":512,"environment":null,"portMappings":[{"containerPort":80}],"links":["db"]}`,
			want: map[string]string{
				"name": `"a"`, "image": `"i"`, "cpu": `512`, "environment": `[]`, "mountPoints": `[]`,
				"portMappings": `[{"containerPort":80}]`, "volumesFrom": `[]`, "links": `["db"]`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := withContainerDefaults(json.RawMessage(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]json.RawMessage
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("output is not an object: %v\n%s", err, out)
			}
			if len(got) != len(tc.want) {
				t.Errorf("got members %s, want %v", out, tc.want)
			}
			for k, v := range tc.want {
				if string(got[k]) != v {
					t.Errorf("%s = %s, want %s", k, got[k], v)
				}
			}
		})
	}
	if _, err := withContainerDefaults(json.RawMessage(`[1]`)); err == nil || !strings.Contains(err.Error(), "decoding") {
		t.Errorf("a non-object container definition gave %v, want a decoding error", err)
	}
}

// TestRegisterTaskDefinitionNullItems checks that a null volume or placement constraint is refused
// rather than echoed back as null, which no SDK could decode into its model.
func TestRegisterTaskDefinitionNullItems(t *testing.T) {
	for _, member := range []string{"volumes", "placementConstraints"} {
		t.Run(member, func(t *testing.T) {
			e := newECSEnv(t, Options{})
			body := `{"family":"f","containerDefinitions":[{"name":"a","image":"i"}],"` + member + `":[null]}`
			e.sim.mu.Lock()
			_, apiErr := e.sim.ecs.handle("RegisterTaskDefinition", []byte(body))
			e.sim.mu.Unlock()
			if apiErr == nil || apiErr.Code != "SerializationException" {
				t.Errorf("RegisterTaskDefinition with %s [null] = %v, want SerializationException", member, apiErr)
			}
		})
	}
}
