package awssim

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ECS container instances: ListContainerInstances (with its cluster query language, cql.go),
// DescribeContainerInstances, UpdateContainerInstancesState, DeregisterContainerInstance.

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
	status, filter, err := instanceFilters(in)
	if err != nil {
		return nil, err
	}
	out := listContainerInstancesOut{ContainerInstanceArns: []string{}}
	var last int64
	for _, ci := range m.instanceCandidates(c, filter) {
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

// instanceCandidates is the cluster's container instances that filter can match, in creation
// order: the instances of the EC2 instance IDs a filter such as `ec2InstanceId in [...]` names,
// found by index, or else every one.
func (m *ecsModel) instanceCandidates(c *ecsCluster, filter cqlExpr) []*ecsContainerInstance {
	ids, ok := cqlEC2InstanceIDs(filter)
	if !ok {
		return c.instances
	}
	var out []*ecsContainerInstance
	for _, id := range ids {
		for _, ci := range m.byEC2[id] {
			if ci.cluster == c && !slices.Contains(out, ci) {
				out = append(out, ci)
			}
		}
	}
	slices.SortFunc(out, func(a, b *ecsContainerInstance) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// instanceFilters reads ListContainerInstances' status ("" for any but INACTIVE) and its cluster
// query language filter (nil for none).
func instanceFilters(in *listContainerInstancesIn) (string, cqlExpr, *apiError) {
	status := ""
	if in.Status != nil {
		switch *in.Status {
		case ciActive, ciDraining, "REGISTERING", "DEREGISTERING", "REGISTRATION_FAILED":
			status = *in.Status
		default:
			return "", nil, invalidParameter("status must be one of ACTIVE, DRAINING, REGISTERING, DEREGISTERING, REGISTRATION_FAILED.")
		}
	}
	if in.Filter == nil || strings.TrimSpace(*in.Filter) == "" {
		return status, nil, nil
	}
	f, err := parseCQL(*in.Filter)
	if err != nil {
		return "", nil, invalidParameter("Invalid filter: " + err.Error())
	}
	return status, f, nil
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
			m.setInstanceStatus(ci, in.Status, now)
		}
		// AWS's answer here carries the instance's attachments and tags, which Describe leaves out
		// unless asked (include=TAGS).
		view := m.renderInstance(ci, true)
		view.Attachments = &emptyList{}
		out.ContainerInstances = append(out.ContainerInstances, view)
	}
	return out, nil
}

// setInstanceStatus sets an ACTIVE or DRAINING container instance to the other status.
func (m *ecsModel) setInstanceStatus(ci *ecsContainerInstance, status string, now time.Time) {
	m.setCIStatus(ci, status)
	m.instanceChanged(ci, now)
	if status != ciDraining {
		return
	}
	m.s.note(ci.ec2InstanceID, func(tl *Timeline) {
		if tl.DrainingAt.IsZero() {
			tl.DrainingAt = now
		}
	})
	// ECS stops PENDING service tasks on a draining instance at once; the rest is the scheduler's
	// work, done on the next step.
	for _, t := range ci.tasks {
		if t.service != nil && !t.daemon() && t.lastStatus == taskPending {
			m.stopTask(t, now, StopReasonDraining, stopCodeScheduler, drainReason(ci))
		}
	}
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
		m.setLastStatus(t, taskStopped)
		if t.stoppingAt.IsZero() {
			t.stoppingAt = now
		}
		t.stoppedAt = now
		m.purgeBy(now.Add(m.s.opts.StoppedTaskRetention))
		t.stoppedReason = "Container instance deregistered; task orphaned."
		t.version++
		m.announceTask(t, now)
		ci.orphans++
	}
	m.setCIStatus(ci, ciInactive)
	ci.agentConnected = false
	ci.inactiveAt = now
	m.purgeBy(now.Add(m.s.opts.StoppedTaskRetention))
	m.instanceChanged(ci, now)
	return map[string]any{"containerInstance": m.renderInstance(ci, false)}, nil
}
