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
	count, err := in.check()
	if err != nil {
		return nil, err
	}
	td := m.taskDef(in.TaskDefinition)
	if td == nil {
		return nil, invalidParameter("TaskDefinition not found.")
	}
	if c.active == 0 {
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
			for _, full := range c.instances {
				if full.status == ciActive {
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

// check validates RunTask's own parameters and returns how many tasks to start.
func (in *runTaskIn) check() (int, *apiError) {
	count := 1
	if in.Count != nil {
		if *in.Count < 1 || *in.Count > ecsMaxRunTaskCount {
			return 0, invalidParameter(fmt.Sprintf("count must be between 1 and %d.", ecsMaxRunTaskCount))
		}
		count = int(*in.Count)
	}
	if in.LaunchType != "" && in.LaunchType != "EC2" {
		return 0, invalidParameter("launchType " + in.LaunchType + " is not supported: this simulator runs the EC2 launch type only.")
	}
	if len(in.StartedBy) > 128 {
		return 0, invalidParameter("startedBy can be at most 128 characters.")
	}
	if len(in.Group) > 255 {
		return 0, invalidParameter("group can be at most 255 characters.")
	}
	return count, validateTags(in.Tags)
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
	f, none, err := m.listTasksFilter(c, in)
	if err != nil {
		return nil, err
	}
	out := listTasksOut{TaskArns: []string{}}
	if none {
		return out, nil
	}
	var last int64
	for _, t := range f.candidates(m.tasks) {
		if !f.match(t) {
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

// taskFilter is what ListTasks selects by; an empty string or nil matches any.
type taskFilter struct {
	cluster                 *ecsCluster
	desired                 string
	svc                     *ecsService
	ci                      *ecsContainerInstance
	ciID, family, startedBy string
}

// candidates is the smallest retained list, in creation order, that holds every task f can match:
// the instance's or the service's tasks when it names one, else every task.
func (f *taskFilter) candidates(all []*ecsTask) []*ecsTask {
	switch {
	case f.ci != nil:
		return f.ci.tasks
	case f.svc != nil:
		return f.svc.tasks
	}
	return all
}

func (f *taskFilter) match(t *ecsTask) bool {
	// ECS never sets desiredStatus PENDING, so that filter matches nothing.
	return t.cluster == f.cluster && t.desiredStatus == f.desired &&
		(f.svc == nil || t.service == f.svc) &&
		(f.ciID == "" || t.ci.id == f.ciID) &&
		(f.family == "" || t.taskDef.family == f.family) &&
		(f.startedBy == "" || t.startedBy == f.startedBy)
}

// listTasksFilter reads ListTasks' filters in cluster c. none says no task can match (another
// launch type, or an instance the cluster does not have), so the answer is an empty list.
func (m *ecsModel) listTasksFilter(c *ecsCluster, in *listTasksIn) (f *taskFilter, none bool, err *apiError) {
	f = &taskFilter{cluster: c, desired: taskRunning, family: deref(in.Family), startedBy: deref(in.StartedBy)}
	if in.DesiredStatus != nil {
		switch *in.DesiredStatus {
		case taskRunning, taskStopped, taskPending:
			f.desired = *in.DesiredStatus
		default:
			return nil, false, invalidParameter("desiredStatus must be RUNNING, PENDING or STOPPED.")
		}
	}
	if in.LaunchType != nil {
		switch *in.LaunchType {
		case "EC2":
		case "FARGATE", "EXTERNAL", "MANAGED_INSTANCES":
			// No task of these launch types exists here.
			return nil, true, nil
		default:
			return nil, false, invalidParameter("launchType must be EC2, FARGATE, EXTERNAL or MANAGED_INSTANCES.")
		}
	}
	if err := startedByAlone(in); err != nil {
		return nil, false, err
	}
	if name := deref(in.ServiceName); name != "" {
		if f.svc = m.findService(c, name); f.svc == nil {
			return nil, false, serviceNotFound()
		}
	}
	if ref := deref(in.ContainerInstance); ref != "" {
		ci := m.findInstance(c, ref)
		if ci == nil {
			// No task can be on an instance this cluster does not have.
			return nil, true, nil
		}
		f.ci, f.ciID = ci, ci.id
	}
	return f, false, nil
}

// startedByAlone checks ListTasks' rule: "If you specify a startedBy value, it must be the only
// filter that you use." desiredStatus is taken as a status rather than a filter and may go with
// it (unverified); the message is the simulator's own.
func startedByAlone(in *listTasksIn) *apiError {
	if deref(in.StartedBy) == "" {
		return nil
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"containerInstance", deref(in.ContainerInstance) != ""},
		{"family", deref(in.Family) != ""},
		{"serviceName", deref(in.ServiceName) != ""},
		{"launchType", in.LaunchType != nil},
	} {
		if f.set {
			return invalidParameter("startedBy must be the only filter; it cannot be combined with " + f.name + ".")
		}
	}
	return nil
}

// deref is *p, or "" for nil.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
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
