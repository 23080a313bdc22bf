package awssim

import (
	"slices"
	"strings"
)

// ECS tags: TagResource, UntagResource, ListTagsForResource.

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
		if ci := m.instancesByID[parts[len(parts)-1]]; ci != nil && inCluster(parts, ci.cluster) {
			return &ci.tags, nil
		}
	case "task":
		if t := m.tasksByID[parts[len(parts)-1]]; t != nil && inCluster(parts, t.cluster) {
			return &t.tags, nil
		}
	case "service":
		if svc := m.serviceAt(parts); svc != nil {
			return &svc.tags, nil
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

// inCluster reports whether the path of a task or container instance ARN, ID or cluster/ID,
// names cluster c.
func inCluster(parts []string, c *ecsCluster) bool {
	return len(parts) == 1 || (len(parts) == 2 && parts[0] == c.name)
}

// serviceAt finds the service of a service ARN's cluster/name path, nil for none.
func (m *ecsModel) serviceAt(parts []string) *ecsService {
	if len(parts) != 2 {
		return nil
	}
	if c := m.clustersByName[parts[0]]; c != nil {
		return c.servicesByName[parts[1]]
	}
	return nil
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
