package awssim

import (
	"fmt"
	"slices"
)

// ECS tasks: RunTask, StopTask, ListTasks, DescribeTasks.

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
