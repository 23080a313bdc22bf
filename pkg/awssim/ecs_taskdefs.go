package awssim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ECS task definitions: RegisterTaskDefinition, DescribeTaskDefinition.

// maxStopTimeoutSeconds bounds a container's stopTimeout. Fargate caps it at 120s; the EC2 launch
// type documents no cap, so this only keeps durations sane.
const maxStopTimeoutSeconds = 86400

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
		c, withDefaults, timeout, err := parseContainerDef(i, raw)
		if err != nil {
			return nil, err
		}
		td.stopTimeout = max(td.stopTimeout, timeout)
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

// parseContainerDef reads container definition i: the container, its definition as ECS echoes it
// (with its defaults), and how long it takes to stop.
func parseContainerDef(i int, raw json.RawMessage) (ecsContainerDef, json.RawMessage, time.Duration, *apiError) {
	var c ecsContainerDef
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, nil, 0, serializationException(fmt.Sprintf("containerDefinitions[%d]: %v", i, err))
	}
	if c.Name == "" || c.Image == "" {
		return c, nil, 0, clientException(fmt.Sprintf("containerDefinitions[%d]: name and image are required.", i))
	}
	timeout := defaultStopTimeout
	if c.StopTimeout != nil {
		if *c.StopTimeout < 0 || *c.StopTimeout > maxStopTimeoutSeconds {
			return c, nil, 0, clientException(fmt.Sprintf("containerDefinitions[%d]: stopTimeout must be between 0 and %d seconds.", i, maxStopTimeoutSeconds))
		}
		timeout = time.Duration(*c.StopTimeout) * time.Second
	}
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
		return c, nil, 0, serializationException(fmt.Sprintf("containerDefinitions[%d]: %v", i, err))
	}
	return c, withDefaults, timeout, nil
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
