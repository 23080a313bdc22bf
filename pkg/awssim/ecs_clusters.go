package awssim

import (
	"fmt"
	"slices"
)

// ECS clusters: CreateCluster, ListClusters, DescribeClusters.

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
			taskCounts:     map[string]int{},
		}
		m.clusters = append(m.clusters, c)
		m.clustersByName[name] = c
	}
	return map[string]any{"cluster": m.renderCluster(c, true)}, nil
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
