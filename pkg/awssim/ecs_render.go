package awssim

import (
	"encoding/json"
	"strconv"
)

// Response shapes of the ECS model, with the SDK model's lowerCamel member names. Unset optional
// members are omitted, as AWS omits them. Tags use omitzero: absent unless asked for (nil), and
// "tags": [] when asked for on an untagged resource (tagsOrEmpty).

// emptyList is a list member AWS always returns and awssim never fills, because it does not model
// what would go in it (load balancers, ENI attachments, ...). A zero-length array encodes as [] and
// costs nothing to render.
type emptyList [0]struct{}

type clusterOut struct {
	ClusterArn                        string   `json:"clusterArn"`
	ClusterName                       string   `json:"clusterName"`
	Status                            string   `json:"status"`
	RegisteredContainerInstancesCount int      `json:"registeredContainerInstancesCount"`
	RunningTasksCount                 int      `json:"runningTasksCount"`
	PendingTasksCount                 int      `json:"pendingTasksCount"`
	ActiveServicesCount               int      `json:"activeServicesCount"`
	Tags                              []ecsTag `json:"tags,omitzero"`
}

func (m *ecsModel) renderCluster(c *ecsCluster, withTags bool) clusterOut {
	out := clusterOut{ClusterArn: c.arn, ClusterName: c.name, Status: "ACTIVE"}
	for _, ci := range c.instances {
		if ci.status != ciInactive {
			out.RegisteredContainerInstancesCount++
		}
	}
	out.RunningTasksCount = c.taskCounts[taskRunning]
	out.PendingTasksCount = c.taskCounts[taskPending]
	for _, svc := range c.services {
		if svc.status == serviceActive {
			out.ActiveServicesCount++
		}
	}
	if withTags {
		out.Tags = tagsOrEmpty(c.tags)
	}
	return out
}

type versionInfoOut struct {
	AgentVersion  string `json:"agentVersion"`
	AgentHash     string `json:"agentHash"`
	DockerVersion string `json:"dockerVersion"`
}

// resourceOut is one of an instance's resources. AWS sends every numeric member whatever the type
// (0 where unused) and stringSetValue for STRINGSET resources only [V: botocore's
// DescribeContainerInstances example; AWS CLI update-container-instances-state example].
type resourceOut struct {
	Name           string   `json:"name"`
	Type           string   `json:"type"`
	DoubleValue    float64  `json:"doubleValue"`
	LongValue      int64    `json:"longValue"`
	IntegerValue   int      `json:"integerValue"`
	StringSetValue []string `json:"stringSetValue,omitzero"`
}

// The ports the ECS agent reserves by default (ECS_RESERVED_PORTS: SSH, the Docker daemon, the agent's
// introspection API), in the order AWS lists them [V: AWS CLI update-container-instances-state
// example], and no UDP ports. Shared by every render, which only reads them.
var (
	reservedPorts    = []string{"22", "2376", "2375", "51678", "51679"}
	reservedUDPPorts = []string{}
)

// instanceResources are an instance's CPU, MEMORY, PORTS and PORTS_UDP resources with slots task
// slots' worth of CPU and memory. The port sets are the reserved ones in both registeredResources and
// remainingResources: on AWS a task's static host ports join the remaining set, but awssim does not
// model host ports (placement never conflicts on them), so its tasks take none.
func instanceResources(slots int) []resourceOut {
	return []resourceOut{
		{Name: "CPU", Type: "INTEGER", IntegerValue: slots * slotUnits},
		{Name: "MEMORY", Type: "INTEGER", IntegerValue: slots * slotUnits},
		{Name: "PORTS", Type: "STRINGSET", StringSetValue: reservedPorts},
		{Name: "PORTS_UDP", Type: "STRINGSET", StringSetValue: reservedUDPPorts},
	}
}

type attributeOut struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

type containerInstanceOut struct {
	ContainerInstanceArn string         `json:"containerInstanceArn"`
	Ec2InstanceID        string         `json:"ec2InstanceId"`
	Version              int64          `json:"version"`
	VersionInfo          versionInfoOut `json:"versionInfo"`
	RemainingResources   []resourceOut  `json:"remainingResources"`
	RegisteredResources  []resourceOut  `json:"registeredResources"`
	Status               string         `json:"status"`
	AgentConnected       bool           `json:"agentConnected"`
	RunningTasksCount    int            `json:"runningTasksCount"`
	PendingTasksCount    int            `json:"pendingTasksCount"`
	Attributes           []attributeOut `json:"attributes"`
	RegisteredAt         *epochSeconds  `json:"registeredAt,omitempty"`
	Attachments          *emptyList     `json:"attachments,omitempty"` // only UpdateContainerInstancesState shows them
	Tags                 []ecsTag       `json:"tags,omitzero"`
}

// instanceAttributes are the attributes every simulated agent reports, also what
// attribute:<name> in the cluster query language sees.
var instanceAttributes = []attributeOut{
	{Name: "ecs.os-type", Value: "linux"},
	{Name: "ecs.cpu-architecture", Value: "x86_64"},
	{Name: "ecs.capability.task-eni"},
}

// taskCounts are the two per-instance counts as ECS defines them: runningTasksCount is tasks whose
// desiredStatus is RUNNING (so PENDING ones too), pendingTasksCount is tasks whose lastStatus is
// PENDING. A task that is stopping is in neither.
func (ci *ecsContainerInstance) taskCounts() (running, pending int) {
	for _, t := range ci.tasks {
		if t.wanted() {
			running++
		}
		if t.lastStatus == taskPending {
			pending++
		}
	}
	return running, pending
}

// usedSlots counts the tasks holding a slot: every non-daemon task until it reaches STOPPED.
func (ci *ecsContainerInstance) usedSlots() int { return ci.used }

func (m *ecsModel) renderInstance(ci *ecsContainerInstance, withTags bool) containerInstanceOut {
	running, pending := ci.taskCounts()
	free := max(ci.slots-ci.usedSlots(), 0)
	out := containerInstanceOut{
		ContainerInstanceArn: ci.arn,
		Ec2InstanceID:        ci.ec2InstanceID,
		Version:              ci.version,
		VersionInfo:          versionInfoOut{AgentVersion: agentVersion, AgentHash: "awssim", DockerVersion: "DockerVersion: 25.0.8"},
		RemainingResources:   instanceResources(free),
		RegisteredResources:  instanceResources(ci.slots),
		Status:               ci.status,
		AgentConnected:       ci.agentConnected,
		RunningTasksCount:    running,
		PendingTasksCount:    pending,
		Attributes:           instanceAttributes,
		RegisteredAt:         ts(ci.registeredAt),
	}
	if withTags {
		out.Tags = tagsOrEmpty(ci.tags)
	}
	return out
}

// containerOut is a task's container as a bridge-mode EC2 task shows it: cpu, memory and
// memoryReservation as the definition sets them, and no network interfaces (those are awsvpc's)
// [V: AWS CLI describe-tasks example 1, an EC2 bridge-mode service task]. cpu is "0" when the
// definition sets none, as the definition itself then shows cpu 0 [I].
type containerOut struct {
	ContainerArn      string    `json:"containerArn"`
	TaskArn           string    `json:"taskArn"`
	Name              string    `json:"name"`
	Image             string    `json:"image,omitempty"`
	LastStatus        string    `json:"lastStatus"`
	ExitCode          *int      `json:"exitCode,omitempty"`
	NetworkInterfaces emptyList `json:"networkInterfaces"`
	HealthStatus      string    `json:"healthStatus"`
	CPU               string    `json:"cpu"`
	Memory            string    `json:"memory,omitempty"`
	MemoryReservation string    `json:"memoryReservation,omitempty"`
}

// taskOverridesOut is a task's overrides. AWS lists every container by name even when nothing was
// overridden [V: botocore's DescribeTasks and RunTask examples]; awssim takes no overrides, so that
// is all it ever holds.
type taskOverridesOut struct {
	ContainerOverrides []containerOverrideOut `json:"containerOverrides"`
}

type containerOverrideOut struct {
	Name string `json:"name"`
}

type taskOut struct {
	Attachments          emptyList        `json:"attachments"` // ENIs, which only awsvpc tasks have [V: AWS CLI describe-tasks example 1]
	TaskArn              string           `json:"taskArn"`
	ClusterArn           string           `json:"clusterArn"`
	TaskDefinitionArn    string           `json:"taskDefinitionArn"`
	ContainerInstanceArn string           `json:"containerInstanceArn"`
	LastStatus           string           `json:"lastStatus"`
	DesiredStatus        string           `json:"desiredStatus"`
	LaunchType           string           `json:"launchType"`
	StartedBy            string           `json:"startedBy,omitempty"`
	Group                string           `json:"group"`
	CPU                  string           `json:"cpu,omitempty"`
	Memory               string           `json:"memory,omitempty"`
	Version              int64            `json:"version"`
	HealthStatus         string           `json:"healthStatus"`
	CreatedAt            *epochSeconds    `json:"createdAt,omitempty"`
	StartedAt            *epochSeconds    `json:"startedAt,omitempty"`
	StoppingAt           *epochSeconds    `json:"stoppingAt,omitempty"`
	StoppedAt            *epochSeconds    `json:"stoppedAt,omitempty"`
	StopCode             string           `json:"stopCode,omitempty"`
	StoppedReason        string           `json:"stoppedReason,omitempty"`
	Overrides            taskOverridesOut `json:"overrides"`
	Containers           []containerOut   `json:"containers"`
	Tags                 []ecsTag         `json:"tags,omitzero"`
}

func (m *ecsModel) renderTask(t *ecsTask, withTags bool) taskOut {
	out := taskOut{
		TaskArn:              t.arn,
		ClusterArn:           t.cluster.arn,
		TaskDefinitionArn:    t.taskDef.arn,
		ContainerInstanceArn: t.ci.arn,
		LastStatus:           t.lastStatus,
		DesiredStatus:        t.desiredStatus,
		LaunchType:           "EC2",
		StartedBy:            t.startedBy,
		Group:                t.group,
		CPU:                  t.taskDef.cpu,
		Memory:               t.taskDef.memory,
		Version:              t.version,
		HealthStatus:         "UNKNOWN",
		CreatedAt:            ts(t.createdAt),
		StartedAt:            ts(t.startedAt),
		StoppingAt:           ts(t.stoppingAt),
		StoppedAt:            ts(t.stoppedAt),
		StopCode:             t.stopCode,
		StoppedReason:        t.stoppedReason,
		Overrides:            t.taskDef.overrides,
	}
	// Containers run while the task is stopping: only STOPPED stops them.
	status := taskRunning
	switch t.lastStatus {
	case taskPending:
		status = taskPending
	case taskStopped:
		status = taskStopped
	}
	for i, c := range t.taskDef.containers {
		co := containerOut{
			ContainerArn:      m.arn("container/" + t.cluster.name + "/" + t.id + "/" + strconv.Itoa(i)),
			TaskArn:           t.arn,
			Name:              c.Name,
			Image:             c.Image,
			LastStatus:        status,
			HealthStatus:      "UNKNOWN",
			CPU:               c.cpuText,
			Memory:            c.memoryText,
			MemoryReservation: c.memoryReservationText,
		}
		// A container that exited on its own reports 0; one killed with its host reports nothing,
		// as the agent died with it.
		if status == taskStopped && t.stopLabel != StopReasonHostTerminated && !t.startedAt.IsZero() {
			zero := 0
			co.ExitCode = &zero
		}
		out.Containers = append(out.Containers, co)
	}
	if withTags {
		out.Tags = tagsOrEmpty(t.tags)
	}
	return out
}

type deploymentConfigurationOut struct {
	MaximumPercent        int `json:"maximumPercent"`
	MinimumHealthyPercent int `json:"minimumHealthyPercent"`
}

type deploymentOut struct {
	ID             string        `json:"id"`
	Status         string        `json:"status"`
	TaskDefinition string        `json:"taskDefinition"`
	DesiredCount   int           `json:"desiredCount"`
	PendingCount   int           `json:"pendingCount"`
	RunningCount   int           `json:"runningCount"`
	FailedTasks    int           `json:"failedTasks"`
	CreatedAt      *epochSeconds `json:"createdAt,omitempty"`
	UpdatedAt      *epochSeconds `json:"updatedAt,omitempty"`
	LaunchType     string        `json:"launchType"`
	RolloutState   string        `json:"rolloutState"`
	// RolloutStateReason is ECS's sentence for the state, "ECS deployment <id> in progress." or
	// "... completed." [V: AWS CLI create-service and update-service examples].
	RolloutStateReason string `json:"rolloutStateReason"`
}

type serviceEventOut struct {
	ID        string        `json:"id"`
	CreatedAt *epochSeconds `json:"createdAt"`
	Message   string        `json:"message"`
}

type deploymentControllerOut struct {
	Type string `json:"type"`
}

type serviceOut struct {
	ServiceArn              string                     `json:"serviceArn"`
	ServiceName             string                     `json:"serviceName"`
	ClusterArn              string                     `json:"clusterArn"`
	Status                  string                     `json:"status"`
	DesiredCount            int                        `json:"desiredCount"`
	RunningCount            int                        `json:"runningCount"`
	PendingCount            int                        `json:"pendingCount"`
	LaunchType              string                     `json:"launchType"`
	TaskDefinition          string                     `json:"taskDefinition"`
	DeploymentConfiguration deploymentConfigurationOut `json:"deploymentConfiguration"`
	LoadBalancers           emptyList                  `json:"loadBalancers"`     // [V: botocore's DescribeServices example]
	ServiceRegistries       emptyList                  `json:"serviceRegistries"` // [V: AWS CLI create-service examples]
	Deployments             []deploymentOut            `json:"deployments"`
	Events                  []serviceEventOut          `json:"events"`
	CreatedAt               *epochSeconds              `json:"createdAt,omitempty"`
	SchedulingStrategy      string                     `json:"schedulingStrategy"`
	DeploymentController    deploymentControllerOut    `json:"deploymentController"`
	// PropagateTags is NONE: awssim does not copy service tags to tasks, and NONE is what AWS reports
	// for a service created without it [V: AWS CLI create-service examples].
	PropagateTags string   `json:"propagateTags"`
	Tags          []ecsTag `json:"tags,omitzero"`
}

func (m *ecsModel) renderService(svc *ecsService, withTags bool) serviceOut {
	out := serviceOut{
		ServiceArn:              svc.arn,
		ServiceName:             svc.name,
		ClusterArn:              svc.cluster.arn,
		Status:                  svc.status,
		DesiredCount:            svc.desiredCount,
		LaunchType:              "EC2",
		TaskDefinition:          svc.taskDef.arn,
		DeploymentConfiguration: deploymentConfigurationOut{MaximumPercent: svc.maxPercent, MinimumHealthyPercent: svc.minHealthy},
		Deployments:             []deploymentOut{},
		Events:                  []serviceEventOut{},
		CreatedAt:               ts(svc.createdAt),
		SchedulingStrategy:      svc.strategy,
		DeploymentController:    deploymentControllerOut{Type: "ECS"},
		PropagateTags:           "NONE",
	}
	renderDeployments(svc, &out)
	for _, e := range svc.events {
		out.Events = append(out.Events, serviceEventOut{ID: e.id, CreatedAt: ts(e.createdAt), Message: e.message})
	}
	if withTags {
		out.Tags = tagsOrEmpty(svc.tags)
	}
	return out
}

// renderDeployments fills out's deployments, and the service's and each deployment's counts of
// running and pending tasks.
func renderDeployments(svc *ecsService, out *serviceOut) {
	counts := map[*ecsDeployment]*deploymentOut{}
	for i, d := range svc.deployments {
		status := "ACTIVE"
		if i == 0 {
			status = "PRIMARY"
		}
		out.Deployments = append(out.Deployments, deploymentOut{
			ID: d.id, Status: status, TaskDefinition: d.taskDef.arn, CreatedAt: ts(d.createdAt), UpdatedAt: ts(d.updatedAt),
			LaunchType: "EC2", RolloutState: "COMPLETED",
		})
	}
	for i := range out.Deployments {
		counts[svc.deployments[i]] = &out.Deployments[i]
	}
	for _, t := range svc.tasks {
		if !t.wanted() {
			continue
		}
		d := counts[t.deployment]
		switch t.lastStatus {
		case taskRunning:
			out.RunningCount++
			if d != nil {
				d.RunningCount++
			}
		case taskPending:
			out.PendingCount++
			if d != nil {
				d.PendingCount++
			}
		}
	}
	if len(out.Deployments) > 0 {
		primary := &out.Deployments[0]
		primary.DesiredCount = svc.desiredCount
		if len(out.Deployments) > 1 || primary.RunningCount != svc.desiredCount {
			primary.RolloutState = "IN_PROGRESS"
		}
	}
	for i := range out.Deployments {
		d := &out.Deployments[i]
		if d.RolloutState == "IN_PROGRESS" {
			d.RolloutStateReason = "ECS deployment " + d.ID + " in progress."
		} else {
			d.RolloutStateReason = "ECS deployment " + d.ID + " completed."
		}
	}
}

type taskDefinitionOut struct {
	TaskDefinitionArn    string            `json:"taskDefinitionArn"`
	ContainerDefinitions []json.RawMessage `json:"containerDefinitions"`
	Family               string            `json:"family"`
	Revision             int               `json:"revision"`
	Status               string            `json:"status"`
	// NetworkMode is absent unless registered: AWS does not report the bridge default [V: AWS CLI
	// register-task-definition example; sil-org/ecs-deploy#61].
	NetworkMode             string                       `json:"networkMode,omitempty"`
	CPU                     string                       `json:"cpu,omitempty"`
	Memory                  string                       `json:"memory,omitempty"`
	Volumes                 []map[string]json.RawMessage `json:"volumes"`              // [V: AWS CLI describe-task-definition example]
	PlacementConstraints    []map[string]json.RawMessage `json:"placementConstraints"` // [V: as volumes]
	Compatibilities         []string                     `json:"compatibilities"`
	RequiresCompatibilities []string                     `json:"requiresCompatibilities,omitempty"`
	RegisteredAt            *epochSeconds                `json:"registeredAt,omitempty"`
}

func renderTaskDef(td *ecsTaskDef) taskDefinitionOut {
	return taskDefinitionOut{
		TaskDefinitionArn:       td.arn,
		ContainerDefinitions:    td.rawContainers,
		Family:                  td.family,
		Revision:                td.revision,
		Status:                  "ACTIVE",
		Volumes:                 orEmpty(td.volumes),
		PlacementConstraints:    orEmpty(td.placementConstraints),
		NetworkMode:             td.networkMode,
		CPU:                     td.cpu,
		Memory:                  td.memory,
		Compatibilities:         []string{"EC2"},
		RequiresCompatibilities: td.requiresCompatibilities,
		RegisteredAt:            ts(td.registeredAt),
	}
}

// orEmpty renders a list the response always carries: [] when none was registered.
func orEmpty(items []map[string]json.RawMessage) []map[string]json.RawMessage {
	if items == nil {
		return []map[string]json.RawMessage{}
	}
	return items
}
