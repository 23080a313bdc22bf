package awssim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The ECS operations. Each takes its decoded request and returns the response object or an
// *apiError. Messages follow ECS's where they are known; where they are not, they say plainly what
// is wrong.

// resourceName is the shape ECS allows for cluster, service and task definition family names.
var resourceName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

// maxStopTimeoutSeconds bounds a container's stopTimeout. Fargate caps it at 120s; the EC2 launch
// type documents no cap, so this only keeps durations sane.
const maxStopTimeoutSeconds = 86400

// ---- clusters ----

type createClusterIn struct {
	ClusterName *string  `json:"clusterName"`
	Tags        []ecsTag `json:"tags"`
}

func (m *ecsModel) createCluster(in *createClusterIn) (any, *apiError) {
	name := "default"
	if in.ClusterName != nil && *in.ClusterName != "" {
		name = *in.ClusterName
	}
	if !resourceName.MatchString(name) {
		return nil, invalidParameter("Cluster name can have up to 255 letters (uppercase and lowercase), numbers, hyphens and underscores.")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	// CreateCluster of an existing name returns that cluster, as ECS does.
	c := m.clustersByName[name]
	if c == nil {
		c = &ecsCluster{
			seq:            m.nextSeq(),
			name:           name,
			arn:            m.arn("cluster/" + name),
			createdAt:      m.s.now(),
			tags:           in.Tags,
			servicesByName: map[string]*ecsService{},
		}
		m.clusters = append(m.clusters, c)
		m.clustersByName[name] = c
	}
	return map[string]any{"cluster": m.renderCluster(c, true)}, nil
}

type listIn struct {
	Cluster    *string `json:"cluster"`
	MaxResults *int64  `json:"maxResults"`
	NextToken  *string `json:"nextToken"`
}

type listClustersOut struct {
	ClusterArns []string `json:"clusterArns"`
	NextToken   *string  `json:"nextToken,omitempty"`
}

func (m *ecsModel) listClusters(in *listIn) (any, *apiError) {
	p, err := m.newPager("ListClusters", in.MaxResults, in.NextToken, ecsMaxResults)
	if err != nil {
		return nil, err
	}
	out := listClustersOut{ClusterArns: []string{}}
	var last int64
	for _, c := range m.clusters {
		ok, full := p.take(c.seq, len(out.ClusterArns))
		if full {
			out.NextToken = p.token(last)
			break
		}
		if ok {
			out.ClusterArns = append(out.ClusterArns, c.arn)
			last = c.seq
		}
	}
	return out, nil
}

type describeClustersIn struct {
	Clusters []string `json:"clusters"`
	Include  []string `json:"include"`
}

type describeClustersOut struct {
	Clusters []clusterOut `json:"clusters"`
	Failures []ecsFailure `json:"failures"`
}

func (m *ecsModel) describeClusters(in *describeClustersIn) (any, *apiError) {
	if len(in.Clusters) > ecsMaxResults {
		return nil, invalidParameter(fmt.Sprintf("clusters can have at most %d items.", ecsMaxResults))
	}
	refs := in.Clusters
	if len(refs) == 0 {
		refs = []string{"default"}
	}
	withTags := slices.Contains(in.Include, "TAGS")
	var out describeClustersOut
	out.Clusters, out.Failures = describeEach(m, "cluster", nil, refs,
		func(ref string) *ecsCluster { return m.clustersByName[clusterNameOf(ref)] },
		func(c *ecsCluster) clusterOut { return m.renderCluster(c, withTags) })
	return out, nil
}

// ---- task definitions ----

type registerTaskDefinitionIn struct {
	Family                  string                       `json:"family"`
	ContainerDefinitions    []json.RawMessage            `json:"containerDefinitions"`
	CPU                     *string                      `json:"cpu"`
	Memory                  *string                      `json:"memory"`
	NetworkMode             *string                      `json:"networkMode"`
	RequiresCompatibilities []string                     `json:"requiresCompatibilities"`
	Volumes                 []map[string]json.RawMessage `json:"volumes"`
	PlacementConstraints    []map[string]json.RawMessage `json:"placementConstraints"`
	Tags                    []ecsTag                     `json:"tags"`
}

func (m *ecsModel) registerTaskDefinition(in *registerTaskDefinitionIn) (any, *apiError) {
	if !resourceName.MatchString(in.Family) {
		return nil, clientException("Family must be 1-255 letters (uppercase and lowercase), numbers, hyphens and underscores.")
	}
	if len(in.ContainerDefinitions) == 0 {
		return nil, clientException("Container list cannot be empty.")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	// Volumes and placement constraints are echoed, not acted on; a null item would echo as one.
	isNull := func(item map[string]json.RawMessage) bool { return item == nil }
	if slices.ContainsFunc(in.Volumes, isNull) || slices.ContainsFunc(in.PlacementConstraints, isNull) {
		return nil, serializationException("volumes and placementConstraints cannot contain null.")
	}
	td := &ecsTaskDef{
		seq:                     m.nextSeq(),
		family:                  in.Family,
		requiresCompatibilities: in.RequiresCompatibilities,
		volumes:                 in.Volumes,
		placementConstraints:    in.PlacementConstraints,
		registeredAt:            m.s.now(),
		tags:                    in.Tags,
		overrides:               taskOverridesOut{ContainerOverrides: make([]containerOverrideOut, 0, len(in.ContainerDefinitions))},
	}
	for i, raw := range in.ContainerDefinitions {
		var c ecsContainerDef
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, serializationException(fmt.Sprintf("containerDefinitions[%d]: %v", i, err))
		}
		if c.Name == "" || c.Image == "" {
			return nil, clientException(fmt.Sprintf("containerDefinitions[%d]: name and image are required.", i))
		}
		timeout := defaultStopTimeout
		if c.StopTimeout != nil {
			if *c.StopTimeout < 0 || *c.StopTimeout > maxStopTimeoutSeconds {
				return nil, clientException(fmt.Sprintf("containerDefinitions[%d]: stopTimeout must be between 0 and %d seconds.", i, maxStopTimeoutSeconds))
			}
			timeout = time.Duration(*c.StopTimeout) * time.Second
		}
		td.stopTimeout = max(td.stopTimeout, timeout)
		c.cpuText = "0"
		if c.CPU != nil {
			c.cpuText = strconv.FormatInt(*c.CPU, 10)
		}
		if c.Memory != nil {
			c.memoryText = strconv.FormatInt(*c.Memory, 10)
		}
		if c.MemoryReservation != nil {
			c.memoryReservationText = strconv.FormatInt(*c.MemoryReservation, 10)
		}
		withDefaults, err := withContainerDefaults(raw)
		if err != nil {
			return nil, serializationException(fmt.Sprintf("containerDefinitions[%d]: %v", i, err))
		}
		td.containers = append(td.containers, c)
		td.rawContainers = append(td.rawContainers, withDefaults)
		td.overrides.ContainerOverrides = append(td.overrides.ContainerOverrides, containerOverrideOut{Name: c.Name})
	}
	if in.CPU != nil {
		td.cpu = *in.CPU
	}
	if in.Memory != nil {
		td.memory = *in.Memory
	}
	if in.NetworkMode != nil {
		td.networkMode = *in.NetworkMode
	}
	revs := m.families[in.Family]
	td.revision = len(revs) + 1
	td.arn = m.arn("task-definition/" + in.Family + ":" + strconv.Itoa(td.revision))
	m.families[in.Family] = append(revs, td)
	return map[string]any{"taskDefinition": renderTaskDef(td), "tags": tagsOrEmpty(td.tags)}, nil
}

// containerDefaults are the members AWS fills in on a container definition registered without
// them: empty lists [V: AWS CLI examples register-task-definition and describe-task-definition;
// botocore's DescribeTaskDefinition example] and cpu 0, the units ECS reserves for a container that
// names none [I: both examples set cpu; ECS reports unset numbers as 0].
var containerDefaults = [...]struct {
	name  string
	value json.RawMessage
}{
	{"cpu", json.RawMessage(`0`)},
	{"environment", json.RawMessage(`[]`)},
	{"mountPoints", json.RawMessage(`[]`)},
	{"portMappings", json.RawMessage(`[]`)},
	{"volumesFrom", json.RawMessage(`[]`)},
}

// withContainerDefaults is a container definition as sent plus containerDefaults for the members it
// lacks (or sends as null). Done once at registration, so describing a definition costs nothing more.
func withContainerDefaults(raw json.RawMessage) (json.RawMessage, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, fmt.Errorf("decoding the container definition: %w", err)
	}
	for _, d := range containerDefaults {
		if v, ok := members[d.name]; !ok || string(v) == "null" {
			members[d.name] = d.value
		}
	}
	out, err := json.Marshal(members)
	if err != nil {
		return nil, fmt.Errorf("encoding the container definition: %w", err)
	}
	return out, nil
}

// tagsOrEmpty renders a tag list that the response always carries.
func tagsOrEmpty(tags []ecsTag) []ecsTag {
	if tags == nil {
		return []ecsTag{}
	}
	return tags
}

// taskDef resolves "family", "family:revision" or a task definition ARN. A bare family means its
// latest revision.
func (m *ecsModel) taskDef(ref string) *ecsTaskDef {
	if strings.HasPrefix(ref, "arn:") {
		kind, rest, ok := m.splitARN(ref)
		if !ok || kind != "task-definition" {
			return nil
		}
		ref = rest
	}
	family, rev, hasRev := strings.Cut(ref, ":")
	revs := m.families[family]
	if len(revs) == 0 {
		return nil
	}
	if !hasRev {
		return revs[len(revs)-1]
	}
	n, err := strconv.Atoi(rev)
	if err != nil || n < 1 || n > len(revs) {
		return nil
	}
	return revs[n-1]
}

type describeTaskDefinitionIn struct {
	TaskDefinition string   `json:"taskDefinition"`
	Include        []string `json:"include"`
}

func (m *ecsModel) describeTaskDefinition(in *describeTaskDefinitionIn) (any, *apiError) {
	td := m.taskDef(in.TaskDefinition)
	if td == nil {
		return nil, clientException("Unable to describe task definition.")
	}
	out := map[string]any{"taskDefinition": renderTaskDef(td)}
	if slices.Contains(in.Include, "TAGS") {
		out["tags"] = tagsOrEmpty(td.tags)
	}
	return out, nil
}

// ---- services ----

type deploymentConfigurationIn struct {
	MaximumPercent        *int64 `json:"maximumPercent"`
	MinimumHealthyPercent *int64 `json:"minimumHealthyPercent"`
}

type createServiceIn struct {
	Cluster                 *string                    `json:"cluster"`
	ServiceName             string                     `json:"serviceName"`
	TaskDefinition          *string                    `json:"taskDefinition"`
	DesiredCount            *int64                     `json:"desiredCount"`
	SchedulingStrategy      string                     `json:"schedulingStrategy"`
	LaunchType              string                     `json:"launchType"`
	DeploymentConfiguration *deploymentConfigurationIn `json:"deploymentConfiguration"`
	Tags                    []ecsTag                   `json:"tags"`
}

func (m *ecsModel) createService(in *createServiceIn) (any, *apiError) {
	c, err := m.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	if !resourceName.MatchString(in.ServiceName) {
		return nil, invalidParameter("Service name can have up to 255 letters (uppercase and lowercase), numbers, hyphens and underscores.")
	}
	if in.LaunchType != "" && in.LaunchType != "EC2" {
		return nil, invalidParameter("launchType " + in.LaunchType + " is not supported: this simulator runs the EC2 launch type only.")
	}
	strategy := in.SchedulingStrategy
	switch strategy {
	case "":
		strategy = strategyReplica
	case strategyReplica, strategyDaemon:
	default:
		return nil, invalidParameter("schedulingStrategy must be REPLICA or DAEMON.")
	}
	if in.TaskDefinition == nil || *in.TaskDefinition == "" {
		return nil, invalidParameter("taskDefinition is required.")
	}
	td := m.taskDef(*in.TaskDefinition)
	if td == nil {
		return nil, clientException("Unable to describe task definition.")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	desired := 0
	if strategy == strategyReplica {
		if in.DesiredCount == nil {
			return nil, invalidParameter("desiredCount is required for services using the REPLICA scheduling strategy.")
		}
		if *in.DesiredCount < 0 {
			return nil, invalidParameter("desiredCount must not be negative.")
		}
		desired = int(*in.DesiredCount)
	}
	minHealthy, maxPercent := 100, 200
	if strategy == strategyDaemon {
		minHealthy, maxPercent = 0, 100
	}
	minHealthy, maxPercent, err = applyDeploymentConfiguration(strategy, minHealthy, maxPercent, in.DeploymentConfiguration)
	if err != nil {
		return nil, err
	}
	if old := c.servicesByName[in.ServiceName]; old != nil && old.status != serviceInactive {
		return nil, invalidParameter("Creation of service was not idempotent.")
	}
	now := m.s.now()
	svc := &ecsService{
		seq:          m.nextSeq(),
		name:         in.ServiceName,
		arn:          m.arn("service/" + c.name + "/" + in.ServiceName),
		cluster:      c,
		taskDef:      td,
		desiredCount: desired,
		strategy:     strategy,
		minHealthy:   minHealthy,
		maxPercent:   maxPercent,
		status:       serviceActive,
		createdAt:    now,
		updatedAt:    now,
		tags:         in.Tags,
	}
	m.newDeployment(svc, now)
	if strategy == strategyDaemon {
		svc.desiredCount = m.daemonDesired(svc)
	}
	c.services = append(c.services, svc)
	c.servicesByName[svc.name] = svc
	return map[string]any{"service": m.renderService(svc, true)}, nil
}

// applyDeploymentConfiguration overlays a request's deployment configuration on the current values
// and validates the result: minimumHealthyPercent 0..100, maximumPercent at least 100 and at least
// minimumHealthyPercent for REPLICA; a DAEMON service keeps maximumPercent 100, as ECS requires.
func applyDeploymentConfiguration(strategy string, minHealthy, maxPercent int, in *deploymentConfigurationIn) (int, int, *apiError) {
	if in == nil {
		return minHealthy, maxPercent, nil
	}
	if in.MinimumHealthyPercent != nil {
		if *in.MinimumHealthyPercent < 0 || *in.MinimumHealthyPercent > 100 {
			return 0, 0, invalidParameter("minimumHealthyPercent must be between 0 and 100.")
		}
		minHealthy = int(*in.MinimumHealthyPercent)
	}
	if in.MaximumPercent != nil {
		if *in.MaximumPercent < 0 || *in.MaximumPercent > 1000 {
			return 0, 0, invalidParameter("maximumPercent must be between 0 and 1000.")
		}
		maxPercent = int(*in.MaximumPercent)
	}
	if strategy == strategyDaemon {
		if maxPercent != 100 {
			return 0, 0, invalidParameter("The maximumPercent of a service using the DAEMON scheduling strategy must be 100.")
		}
		return minHealthy, maxPercent, nil
	}
	if maxPercent < 100 || maxPercent < minHealthy {
		return 0, 0, invalidParameter("maximumPercent must be at least 100 and at least minimumHealthyPercent.")
	}
	return minHealthy, maxPercent, nil
}

type updateServiceIn struct {
	Cluster                 *string                    `json:"cluster"`
	Service                 string                     `json:"service"`
	DesiredCount            *int64                     `json:"desiredCount"`
	TaskDefinition          *string                    `json:"taskDefinition"`
	DeploymentConfiguration *deploymentConfigurationIn `json:"deploymentConfiguration"`
	ForceNewDeployment      bool                       `json:"forceNewDeployment"`
}

func (m *ecsModel) updateService(in *updateServiceIn) (any, *apiError) {
	c, err := m.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	svc := m.findService(c, in.Service)
	if svc == nil {
		return nil, serviceNotFound()
	}
	if svc.status != serviceActive {
		return nil, serviceNotActive()
	}
	desired := svc.desiredCount
	if in.DesiredCount != nil {
		if svc.strategy == strategyDaemon {
			return nil, invalidParameter("desiredCount cannot be set on a service using the DAEMON scheduling strategy.")
		}
		if *in.DesiredCount < 0 {
			return nil, invalidParameter("desiredCount must not be negative.")
		}
		desired = int(*in.DesiredCount)
	}
	minHealthy, maxPercent, err := applyDeploymentConfiguration(svc.strategy, svc.minHealthy, svc.maxPercent, in.DeploymentConfiguration)
	if err != nil {
		return nil, err
	}
	td := svc.taskDef
	if in.TaskDefinition != nil && *in.TaskDefinition != "" {
		if td = m.taskDef(*in.TaskDefinition); td == nil {
			return nil, clientException("Unable to describe task definition.")
		}
	}
	now := m.s.now()
	svc.desiredCount, svc.minHealthy, svc.maxPercent = desired, minHealthy, maxPercent
	svc.updatedAt = now
	if td != svc.taskDef || in.ForceNewDeployment {
		svc.taskDef = td
		m.newDeployment(svc, now)
	} else {
		svc.deployments[0].updatedAt = now
	}
	return map[string]any{"service": m.renderService(svc, false)}, nil
}

type deleteServiceIn struct {
	Cluster *string `json:"cluster"`
	Service string  `json:"service"`
	Force   bool    `json:"force"`
}

func (m *ecsModel) deleteService(in *deleteServiceIn) (any, *apiError) {
	c, err := m.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	svc := m.findService(c, in.Service)
	if svc == nil {
		return nil, serviceNotFound()
	}
	if svc.status != serviceActive {
		return nil, serviceNotActive()
	}
	// ECS refuses to delete a scaled-up REPLICA service without force; DAEMON services need none.
	if svc.strategy == strategyReplica && svc.desiredCount > 0 && !in.Force {
		return nil, invalidParameter("The service cannot be stopped while it is scaled above 0.")
	}
	now := m.s.now()
	svc.status = serviceDraining
	svc.desiredCount = 0
	svc.updatedAt = now
	for _, t := range svc.tasks {
		m.stopTask(t, now, StopReasonServiceScheduler, stopCodeScheduler, "Service "+svc.name+" deleted.")
	}
	return map[string]any{"service": m.renderService(svc, false)}, nil
}

type describeServicesIn struct {
	Cluster  *string  `json:"cluster"`
	Services []string `json:"services"`
	Include  []string `json:"include"`
}

type describeServicesOut struct {
	Services []serviceOut `json:"services"`
	Failures []ecsFailure `json:"failures"`
}

func (m *ecsModel) describeServices(in *describeServicesIn) (any, *apiError) {
	c, err := m.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.Services) == 0 || len(in.Services) > ecsMaxDescribeServices {
		return nil, invalidParameter(fmt.Sprintf("services must have between 1 and %d items.", ecsMaxDescribeServices))
	}
	withTags := slices.Contains(in.Include, "TAGS")
	var out describeServicesOut
	out.Services, out.Failures = describeEach(m, "service", c, in.Services,
		func(ref string) *ecsService { return m.findService(c, ref) },
		func(svc *ecsService) serviceOut { return m.renderService(svc, withTags) })
	return out, nil
}

type listServicesIn struct {
	listIn
	LaunchType         string `json:"launchType"`
	SchedulingStrategy string `json:"schedulingStrategy"`
}

type listServicesOut struct {
	ServiceArns []string `json:"serviceArns"`
	NextToken   *string  `json:"nextToken,omitempty"`
}

func (m *ecsModel) listServices(in *listServicesIn) (any, *apiError) {
	c, err := m.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	p, err := m.newPager("ListServices", in.MaxResults, in.NextToken, ecsListServicesDefault)
	if err != nil {
		return nil, err
	}
	out := listServicesOut{ServiceArns: []string{}}
	var last int64
	for _, svc := range c.services {
		if svc.status == serviceInactive ||
			(in.LaunchType != "" && in.LaunchType != "EC2") ||
			(in.SchedulingStrategy != "" && in.SchedulingStrategy != svc.strategy) {
			continue
		}
		ok, full := p.take(svc.seq, len(out.ServiceArns))
		if full {
			out.NextToken = p.token(last)
			break
		}
		if ok {
			out.ServiceArns = append(out.ServiceArns, svc.arn)
			last = svc.seq
		}
	}
	return out, nil
}

// ---- tasks ----

type runTaskIn struct {
	Cluster        *string  `json:"cluster"`
	TaskDefinition string   `json:"taskDefinition"`
	Count          *int64   `json:"count"`
	StartedBy      string   `json:"startedBy"`
	Group          string   `json:"group"`
	LaunchType     string   `json:"launchType"`
	Tags           []ecsTag `json:"tags"`
}

type runTaskOut struct {
	Tasks    []taskOut    `json:"tasks"`
	Failures []ecsFailure `json:"failures"`
}

func (m *ecsModel) runTask(in *runTaskIn) (any, *apiError) {
	c, err := m.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	count := 1
	if in.Count != nil {
		if *in.Count < 1 || *in.Count > ecsMaxRunTaskCount {
			return nil, invalidParameter(fmt.Sprintf("count must be between 1 and %d.", ecsMaxRunTaskCount))
		}
		count = int(*in.Count)
	}
	if in.LaunchType != "" && in.LaunchType != "EC2" {
		return nil, invalidParameter("launchType " + in.LaunchType + " is not supported: this simulator runs the EC2 launch type only.")
	}
	if len(in.StartedBy) > 128 {
		return nil, invalidParameter("startedBy can be at most 128 characters.")
	}
	if len(in.Group) > 255 {
		return nil, invalidParameter("group can be at most 255 characters.")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	td := m.taskDef(in.TaskDefinition)
	if td == nil {
		return nil, invalidParameter("TaskDefinition not found.")
	}
	if !slices.ContainsFunc(m.instances, func(ci *ecsContainerInstance) bool { return ci.cluster == c && ci.status == ciActive }) {
		return nil, invalidParameter("No Container Instances were found in your cluster.")
	}
	group := in.Group
	if group == "" {
		group = "family:" + td.family
	}
	now := m.s.now()
	out := runTaskOut{Tasks: []taskOut{}, Failures: []ecsFailure{}}
	for range count {
		ci := m.pickInstance(c, nil)
		if ci == nil {
			// As ECS reports a placement failure: one entry per instance that lacked resources.
			for _, full := range m.instances {
				if full.cluster == c && full.status == ciActive {
					out.Failures = append(out.Failures, ecsFailure{Arn: full.arn, Reason: "RESOURCE:MEMORY"})
				}
			}
			break
		}
		t := m.newTask(ci, td, nil, nil, in.StartedBy, group, now)
		t.tags = in.Tags
		out.Tasks = append(out.Tasks, m.renderTask(t, false))
	}
	return out, nil
}

type stopTaskIn struct {
	Cluster *string `json:"cluster"`
	Task    string  `json:"task"`
	Reason  *string `json:"reason"`
}

func (m *ecsModel) stopTaskOp(in *stopTaskIn) (any, *apiError) {
	c, err := m.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	t := m.findTask(c, in.Task)
	if t == nil {
		return nil, invalidParameter("The referenced task was not found.")
	}
	reason := "Task stopped by user"
	if in.Reason != nil && *in.Reason != "" {
		if len(*in.Reason) > 255 {
			return nil, invalidParameter("reason can be at most 255 characters.")
		}
		reason = *in.Reason
	}
	m.stopTask(t, m.s.now(), StopReasonUser, stopCodeUser, reason)
	t.tags = nil // "Any tags associated with the task will be deleted."
	return map[string]any{"task": m.renderTask(t, false)}, nil
}

type listTasksIn struct {
	listIn
	ContainerInstance *string `json:"containerInstance"`
	Family            *string `json:"family"`
	ServiceName       *string `json:"serviceName"`
	StartedBy         *string `json:"startedBy"`
	DesiredStatus     *string `json:"desiredStatus"`
	LaunchType        *string `json:"launchType"`
}

type listTasksOut struct {
	TaskArns  []string `json:"taskArns"`
	NextToken *string  `json:"nextToken,omitempty"`
}

func (m *ecsModel) listTasks(in *listTasksIn) (any, *apiError) {
	c, err := m.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	p, err := m.newPager("ListTasks", in.MaxResults, in.NextToken, ecsMaxResults)
	if err != nil {
		return nil, err
	}
	desired := taskRunning
	if in.DesiredStatus != nil {
		switch *in.DesiredStatus {
		case taskRunning, taskStopped, taskPending:
			desired = *in.DesiredStatus
		default:
			return nil, invalidParameter("desiredStatus must be RUNNING, PENDING or STOPPED.")
		}
	}
	if in.LaunchType != nil {
		switch *in.LaunchType {
		case "EC2":
		case "FARGATE", "EXTERNAL", "MANAGED_INSTANCES":
			// No task of these launch types exists here.
			return listTasksOut{TaskArns: []string{}}, nil
		default:
			return nil, invalidParameter("launchType must be EC2, FARGATE, EXTERNAL or MANAGED_INSTANCES.")
		}
	}
	// "If you specify a startedBy value, it must be the only filter that you use." desiredStatus
	// is taken as a status rather than a filter and may go with it (unverified); the message is
	// the simulator's own.
	if in.StartedBy != nil && *in.StartedBy != "" {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"containerInstance", in.ContainerInstance != nil && *in.ContainerInstance != ""},
			{"family", in.Family != nil && *in.Family != ""},
			{"serviceName", in.ServiceName != nil && *in.ServiceName != ""},
			{"launchType", in.LaunchType != nil},
		} {
			if f.set {
				return nil, invalidParameter("startedBy must be the only filter; it cannot be combined with " + f.name + ".")
			}
		}
	}
	var svc *ecsService
	if in.ServiceName != nil && *in.ServiceName != "" {
		if svc = m.findService(c, *in.ServiceName); svc == nil {
			return nil, serviceNotFound()
		}
	}
	var ciID string
	if in.ContainerInstance != nil && *in.ContainerInstance != "" {
		ci := m.findInstance(c, *in.ContainerInstance)
		if ci == nil {
			// No task can be on an instance this cluster does not have.
			return listTasksOut{TaskArns: []string{}}, nil
		}
		ciID = ci.id
	}
	out := listTasksOut{TaskArns: []string{}}
	var last int64
	for _, t := range m.tasks {
		// ECS never sets desiredStatus PENDING, so that filter matches nothing.
		if t.cluster != c || t.desiredStatus != desired ||
			(svc != nil && t.service != svc) ||
			(ciID != "" && t.ci.id != ciID) ||
			(in.Family != nil && *in.Family != "" && t.taskDef.family != *in.Family) ||
			(in.StartedBy != nil && *in.StartedBy != "" && t.startedBy != *in.StartedBy) {
			continue
		}
		ok, full := p.take(t.seq, len(out.TaskArns))
		if full {
			out.NextToken = p.token(last)
			break
		}
		if ok {
			out.TaskArns = append(out.TaskArns, t.arn)
			last = t.seq
		}
	}
	return out, nil
}

type describeTasksIn struct {
	Cluster *string  `json:"cluster"`
	Tasks   []string `json:"tasks"`
	Include []string `json:"include"`
}

type describeTasksOut struct {
	Tasks    []taskOut    `json:"tasks"`
	Failures []ecsFailure `json:"failures"`
}

func (m *ecsModel) describeTasks(in *describeTasksIn) (any, *apiError) {
	c, err := m.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.Tasks) == 0 || len(in.Tasks) > ecsMaxResults {
		return nil, invalidParameter(fmt.Sprintf("tasks must have between 1 and %d items.", ecsMaxResults))
	}
	withTags := slices.Contains(in.Include, "TAGS")
	var out describeTasksOut
	out.Tasks, out.Failures = describeEach(m, "task", c, in.Tasks,
		func(ref string) *ecsTask { return m.findTask(c, ref) },
		func(t *ecsTask) taskOut { return m.renderTask(t, withTags) })
	return out, nil
}

// ---- container instances ----

type listContainerInstancesIn struct {
	listIn
	Filter *string `json:"filter"`
	Status *string `json:"status"`
}

type listContainerInstancesOut struct {
	ContainerInstanceArns []string `json:"containerInstanceArns"`
	NextToken             *string  `json:"nextToken,omitempty"`
}

func (m *ecsModel) listContainerInstances(in *listContainerInstancesIn) (any, *apiError) {
	c, err := m.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	p, err := m.newPager("ListContainerInstances", in.MaxResults, in.NextToken, ecsMaxResults)
	if err != nil {
		return nil, err
	}
	status := ""
	if in.Status != nil {
		switch *in.Status {
		case ciActive, ciDraining, "REGISTERING", "DEREGISTERING", "REGISTRATION_FAILED":
			status = *in.Status
		default:
			return nil, invalidParameter("status must be one of ACTIVE, DRAINING, REGISTERING, DEREGISTERING, REGISTRATION_FAILED.")
		}
	}
	var filter cqlExpr
	if in.Filter != nil && strings.TrimSpace(*in.Filter) != "" {
		f, perr := parseCQL(*in.Filter)
		if perr != nil {
			return nil, invalidParameter("Invalid filter: " + perr.Error())
		}
		filter = f
	}
	out := listContainerInstancesOut{ContainerInstanceArns: []string{}}
	var last int64
	for _, ci := range m.instances {
		if ci.cluster != c {
			continue
		}
		// Without a status filter, every status but INACTIVE.
		if (status == "" && ci.status == ciInactive) || (status != "" && ci.status != status) {
			continue
		}
		if filter != nil && !filter.eval(m.cqlView(ci)) {
			continue
		}
		ok, full := p.take(ci.seq, len(out.ContainerInstanceArns))
		if full {
			out.NextToken = p.token(last)
			break
		}
		if ok {
			out.ContainerInstanceArns = append(out.ContainerInstanceArns, ci.arn)
			last = ci.seq
		}
	}
	return out, nil
}

// cqlView is what the cluster query language sees of a container instance.
func (m *ecsModel) cqlView(ci *ecsContainerInstance) *cqlInstance {
	running, _ := ci.taskCounts()
	v := &cqlInstance{
		EC2InstanceID:     ci.ec2InstanceID,
		RunningTasksCount: running,
		AgentConnected:    ci.agentConnected,
		AgentVersion:      agentVersion,
		RegisteredAt:      ci.registeredAt,
		Attributes:        map[string]string{},
	}
	for _, a := range instanceAttributes {
		v.Attributes[a.Name] = a.Value
	}
	for _, t := range ci.tasks {
		if t.wanted() && !slices.Contains(v.TaskGroups, t.group) {
			v.TaskGroups = append(v.TaskGroups, t.group)
		}
	}
	return v
}

type describeContainerInstancesIn struct {
	Cluster            *string  `json:"cluster"`
	ContainerInstances []string `json:"containerInstances"`
	Include            []string `json:"include"`
}

type containerInstancesOut struct {
	ContainerInstances []containerInstanceOut `json:"containerInstances"`
	Failures           []ecsFailure           `json:"failures"`
}

func (m *ecsModel) describeContainerInstances(in *describeContainerInstancesIn) (any, *apiError) {
	c, err := m.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.ContainerInstances) == 0 || len(in.ContainerInstances) > ecsMaxResults {
		return nil, invalidParameter(fmt.Sprintf("containerInstances must have between 1 and %d items.", ecsMaxResults))
	}
	withTags := slices.Contains(in.Include, "TAGS")
	var out containerInstancesOut
	out.ContainerInstances, out.Failures = describeEach(m, "container-instance", c, in.ContainerInstances,
		func(ref string) *ecsContainerInstance { return m.findInstance(c, ref) },
		func(ci *ecsContainerInstance) containerInstanceOut { return m.renderInstance(ci, withTags) })
	return out, nil
}

type updateContainerInstancesStateIn struct {
	Cluster            *string  `json:"cluster"`
	ContainerInstances []string `json:"containerInstances"`
	Status             string   `json:"status"`
}

func (m *ecsModel) updateContainerInstancesState(in *updateContainerInstancesStateIn) (any, *apiError) {
	c, err := m.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.Status != ciActive && in.Status != ciDraining {
		return nil, invalidParameter("Container instance status should be one of [ACTIVE, DRAINING]")
	}
	if len(in.ContainerInstances) == 0 || len(in.ContainerInstances) > ecsMaxStateUpdates {
		return nil, invalidParameter(fmt.Sprintf("containerInstances must have between 1 and %d items.", ecsMaxStateUpdates))
	}
	now := m.s.now()
	out := containerInstancesOut{ContainerInstances: []containerInstanceOut{}, Failures: []ecsFailure{}}
	for _, ref := range in.ContainerInstances {
		ci := m.findInstance(c, ref)
		if ci == nil {
			out.Failures = append(out.Failures, missing(m.failureARN("container-instance", c, ref)))
			continue
		}
		if ci.status != ciActive && ci.status != ciDraining {
			// AWS documents that only ACTIVE instances can be set DRAINING and DRAINING ones set back
			// to ACTIVE, but whether a wrong-state instance comes back in failures (as here) or as an
			// exception, and with which reason, is unverified.
			out.Failures = append(out.Failures, ecsFailure{
				Arn:    ci.arn,
				Reason: "INVALID_STATE",
				Detail: "Container instance is " + ci.status + "; only ACTIVE or DRAINING container instances can change status.",
			})
			continue
		}
		if ci.status != in.Status {
			ci.status = in.Status
			m.instanceChanged(ci, now)
			if in.Status == ciDraining {
				m.s.note(ci.ec2InstanceID, func(tl *Timeline) {
					if tl.DrainingAt.IsZero() {
						tl.DrainingAt = now
					}
				})
				// ECS stops PENDING service tasks on a draining instance at once; the rest is the
				// scheduler's work, done on the next step.
				for _, t := range ci.tasks {
					if t.service != nil && !t.daemon() && t.lastStatus == taskPending {
						m.stopTask(t, now, StopReasonDraining, stopCodeScheduler, drainReason(ci))
					}
				}
			}
		}
		// AWS's answer here carries the instance's attachments and tags, which Describe leaves out
		// unless asked (include=TAGS).
		view := m.renderInstance(ci, true)
		view.Attachments = &emptyList{}
		out.ContainerInstances = append(out.ContainerInstances, view)
	}
	return out, nil
}

func drainReason(ci *ecsContainerInstance) string {
	return "Container instance " + ci.id + " is draining."
}

type deregisterContainerInstanceIn struct {
	Cluster           *string `json:"cluster"`
	ContainerInstance string  `json:"containerInstance"`
	Force             bool    `json:"force"`
}

func (m *ecsModel) deregisterContainerInstance(in *deregisterContainerInstanceIn) (any, *apiError) {
	c, err := m.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	ci := m.findInstance(c, in.ContainerInstance)
	if ci == nil {
		return nil, invalidParameter("The referenced container instance was not found.")
	}
	if ci.status == ciInactive {
		return map[string]any{"containerInstance": m.renderInstance(ci, false)}, nil
	}
	live := slices.ContainsFunc(ci.tasks, (*ecsTask).live)
	if live && !in.Force {
		// ECS refuses to deregister an instance with tasks unless forced (the exact message is
		// unverified).
		return nil, invalidParameter("Found running tasks on the container instance; stop them first or use force.")
	}
	now := m.s.now()
	for _, t := range ci.tasks {
		if !t.live() {
			continue
		}
		// Forced deregistration orphans the tasks: ECS stops tracking them (they show STOPPED and a
		// service starts replacements), but their containers keep running on the host. They are
		// counted when they really die, with the host (see hostTerminated).
		t.desiredStatus = taskStopped
		t.lastStatus = taskStopped
		if t.stoppingAt.IsZero() {
			t.stoppingAt = now
		}
		t.stoppedAt = now
		t.stoppedReason = "Container instance deregistered; task orphaned."
		t.version++
		m.announceTask(t, now)
		ci.orphans++
	}
	ci.status = ciInactive
	ci.agentConnected = false
	ci.inactiveAt = now
	m.instanceChanged(ci, now)
	return map[string]any{"containerInstance": m.renderInstance(ci, false)}, nil
}

// ---- tags ----

// taggable finds the tag list of the resource an ARN names.
func (m *ecsModel) taggable(arn string) (*[]ecsTag, *apiError) {
	kind, rest, ok := m.splitARN(arn)
	if !ok {
		return nil, invalidParameter("Invalid resource ARN: " + arn)
	}
	parts := strings.Split(rest, "/")
	switch kind {
	case "cluster":
		if c := m.clustersByName[rest]; c != nil {
			return &c.tags, nil
		}
	case "container-instance":
		if ci := m.instancesByID[parts[len(parts)-1]]; ci != nil && (len(parts) == 1 || (len(parts) == 2 && parts[0] == ci.cluster.name)) {
			return &ci.tags, nil
		}
	case "task":
		if t := m.tasksByID[parts[len(parts)-1]]; t != nil && (len(parts) == 1 || (len(parts) == 2 && parts[0] == t.cluster.name)) {
			return &t.tags, nil
		}
	case "service":
		if len(parts) == 2 {
			if c := m.clustersByName[parts[0]]; c != nil {
				if svc := c.servicesByName[parts[1]]; svc != nil {
					return &svc.tags, nil
				}
			}
		}
	case "task-definition":
		if td := m.taskDef(rest); td != nil && strings.Contains(rest, ":") {
			return &td.tags, nil
		}
	default:
		return nil, invalidParameter("Resource type " + kind + " cannot be tagged here.")
	}
	return nil, resourceNotFound(arn)
}

type tagResourceIn struct {
	ResourceArn string   `json:"resourceArn"`
	Tags        []ecsTag `json:"tags"`
}

func (m *ecsModel) tagResource(in *tagResourceIn) (any, *apiError) {
	tags, err := m.taggable(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	merged := mergeTags(*tags, in.Tags)
	if err := validateTags(merged); err != nil {
		return nil, err
	}
	*tags = merged
	return struct{}{}, nil
}

type untagResourceIn struct {
	ResourceArn string   `json:"resourceArn"`
	TagKeys     []string `json:"tagKeys"`
}

func (m *ecsModel) untagResource(in *untagResourceIn) (any, *apiError) {
	tags, err := m.taggable(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	*tags = slices.DeleteFunc(slices.Clone(*tags), func(t ecsTag) bool { return slices.Contains(in.TagKeys, t.Key) })
	return struct{}{}, nil
}

type listTagsForResourceIn struct {
	ResourceArn string `json:"resourceArn"`
}

func (m *ecsModel) listTagsForResource(in *listTagsForResourceIn) (any, *apiError) {
	tags, err := m.taggable(in.ResourceArn)
	if err != nil && err.Code == "ResourceNotFoundException" {
		// ListTagsForResource's model lists no ResourceNotFoundException: a missing cluster is
		// ClusterNotFoundException, any other missing resource an InvalidParameterException
		// (message unverified).
		if kind, _, _ := m.splitARN(in.ResourceArn); kind == "cluster" {
			return nil, clusterNotFound()
		}
		return nil, invalidParameter("The specified resource could not be found: " + in.ResourceArn)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"tags": tagsOrEmpty(*tags)}, nil
}
