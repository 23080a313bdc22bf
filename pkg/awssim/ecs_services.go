package awssim

import (
	"fmt"
	"slices"
)

// ECS services: CreateService, UpdateService, DeleteService, DescribeServices, ListServices. The
// scheduler that runs them is in ecs_sched.go.

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
	strategy, err := schedulingStrategy(in.SchedulingStrategy)
	if err != nil {
		return nil, err
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
	desired, err := replicaDesiredCount(strategy, in.DesiredCount)
	if err != nil {
		return nil, err
	}
	minHealthy, maxPercent := defaultDeployment(strategy)
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

// schedulingStrategy reads CreateService's schedulingStrategy (default REPLICA).
func schedulingStrategy(strategy string) (string, *apiError) {
	switch strategy {
	case "":
		return strategyReplica, nil
	case strategyReplica, strategyDaemon:
		return strategy, nil
	}
	return "", invalidParameter("schedulingStrategy must be REPLICA or DAEMON.")
}

// defaultDeployment is a new service's minimumHealthyPercent and maximumPercent: 100 and 200,
// and for a DAEMON service 0 and 100.
func defaultDeployment(strategy string) (minHealthy, maxPercent int) {
	if strategy == strategyDaemon {
		return 0, 100
	}
	return 100, 200
}

// replicaDesiredCount reads CreateService's desiredCount: required for a REPLICA service; a
// DAEMON service's follows its instances.
func replicaDesiredCount(strategy string, n *int64) (int, *apiError) {
	if strategy != strategyReplica {
		return 0, nil
	}
	if n == nil {
		return 0, invalidParameter("desiredCount is required for services using the REPLICA scheduling strategy.")
	}
	if *n < 0 {
		return 0, invalidParameter("desiredCount must not be negative.")
	}
	return int(*n), nil
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
	svc, err := m.activeService(in.Cluster, in.Service)
	if err != nil {
		return nil, err
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
	svc.cluster.dirty = true
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
	svc, err := m.activeService(in.Cluster, in.Service)
	if err != nil {
		return nil, err
	}
	// ECS refuses to delete a scaled-up REPLICA service without force; DAEMON services need none.
	if svc.strategy == strategyReplica && svc.desiredCount > 0 && !in.Force {
		return nil, invalidParameter("The service cannot be stopped while it is scaled above 0.")
	}
	now := m.s.now()
	svc.status = serviceDraining
	svc.desiredCount = 0
	svc.updatedAt = now
	svc.cluster.dirty = true
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

// activeService finds the ACTIVE service that UpdateService and DeleteService act on, or ECS's
// error for a missing cluster, a missing service or one being deleted.
func (m *ecsModel) activeService(cluster *string, ref string) (*ecsService, *apiError) {
	c, err := m.cluster(cluster)
	if err != nil {
		return nil, err
	}
	svc := m.findService(c, ref)
	if svc == nil {
		return nil, serviceNotFound()
	}
	if svc.status != serviceActive {
		return nil, serviceNotActive()
	}
	return svc, nil
}
