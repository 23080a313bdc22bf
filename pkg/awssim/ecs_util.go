package awssim

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	// ecsMaxResults is the ceiling of maxResults on every ECS List operation, and of the ids a
	// Describe takes (DescribeServices: 10).
	ecsMaxResults = 100
	// ecsMaxDescribeServices is DescribeServices' limit on services per call.
	ecsMaxDescribeServices = 10
	// ecsMaxStateUpdates is UpdateContainerInstancesState's limit on instances per call.
	ecsMaxStateUpdates = 10
	// ecsMaxRunTaskCount is RunTask's limit on count.
	ecsMaxRunTaskCount = 10
	// ecsMaxTags is ECS's limit on tags per resource.
	ecsMaxTags = 50
	// ecsListServicesDefault is ListServices' page size without maxResults (the others use 100).
	ecsListServicesDefault = 10
)

// resourceName is the shape ECS allows for cluster, service and task definition family names.
var resourceName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

// listIn is the request of the List operations that page through one cluster.
type listIn struct {
	Cluster    *string `json:"cluster"`
	MaxResults *int64  `json:"maxResults"`
	NextToken  *string `json:"nextToken"`
}

// epochSeconds marshals a time as AWS JSON protocols send timestamps: epoch seconds, fractional.
type epochSeconds time.Time

// MarshalJSON writes the time as a JSON number of seconds with millisecond precision.
func (e epochSeconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(time.Time(e).UnixMilli())/1000, 'f', 3, 64), nil
}

// ts is t as an optional timestamp field: nil (omitted) when unset.
func ts(t time.Time) *epochSeconds {
	if t.IsZero() {
		return nil
	}
	e := epochSeconds(t)
	return &e
}

func (m *ecsModel) arn(resource string) string {
	return "arn:aws:ecs:" + m.s.opts.Region + ":" + m.s.opts.AccountID + ":" + resource
}

// splitARN parses an ECS ARN of this account and region into resource type and the path after it.
// ok is false when s is not such an ARN.
func (m *ecsModel) splitARN(s string) (kind, rest string, ok bool) {
	prefix := "arn:aws:ecs:" + m.s.opts.Region + ":" + m.s.opts.AccountID + ":"
	after, found := strings.CutPrefix(s, prefix)
	if !found {
		return "", "", false
	}
	kind, rest, found = strings.Cut(after, "/")
	return kind, rest, found && rest != ""
}

// clusterNameOf returns the cluster name in a cluster name or cluster ARN (any region or account:
// a foreign ARN then names a cluster that does not exist here, or one that happens to share its
// name, which a single-account simulator may accept).
func clusterNameOf(s string) string {
	if strings.HasPrefix(s, "arn:") {
		if _, name, ok := strings.Cut(s, ":cluster/"); ok {
			return name
		}
		return s // an ARN of another resource type: no cluster has that name
	}
	return s
}

// cluster resolves the cluster parameter: a name or ARN, "default" when omitted.
func (m *ecsModel) cluster(param *string) (*ecsCluster, *apiError) {
	name := "default"
	if param != nil && *param != "" {
		name = clusterNameOf(*param)
	}
	c := m.clustersByName[name]
	if c == nil {
		return nil, clusterNotFound()
	}
	return c, nil
}

// resourceID extracts the ID from a bare ID or an ARN of the given kind ("task",
// "container-instance"), in the long format (kind/cluster/id) or the old one (kind/id). When the
// ARN names a cluster, it is returned too.
func (m *ecsModel) resourceID(kind, s string) (id, clusterName string, ok bool) {
	if !strings.HasPrefix(s, "arn:") {
		return s, "", s != "" && !strings.Contains(s, "/")
	}
	k, rest, found := m.splitARN(s)
	if !found || k != kind {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	switch len(parts) {
	case 1:
		return parts[0], "", parts[0] != ""
	case 2:
		return parts[1], parts[0], parts[0] != "" && parts[1] != ""
	}
	return "", "", false
}

// findInstance looks up a container instance of cluster c by ID or ARN.
func (m *ecsModel) findInstance(c *ecsCluster, ref string) *ecsContainerInstance {
	id, cname, ok := m.resourceID("container-instance", ref)
	if !ok || (cname != "" && cname != c.name) {
		return nil
	}
	ci := m.instancesByID[id]
	if ci == nil || ci.cluster != c {
		return nil
	}
	return ci
}

// findTask looks up a task of cluster c by ID or ARN.
func (m *ecsModel) findTask(c *ecsCluster, ref string) *ecsTask {
	id, cname, ok := m.resourceID("task", ref)
	if !ok || (cname != "" && cname != c.name) {
		return nil
	}
	t := m.tasksByID[id]
	if t == nil || t.cluster != c {
		return nil
	}
	return t
}

// findService looks up a service of cluster c by name or ARN.
func (m *ecsModel) findService(c *ecsCluster, ref string) *ecsService {
	name := ref
	if strings.HasPrefix(ref, "arn:") {
		k, rest, ok := m.splitARN(ref)
		if !ok || k != "service" {
			return nil
		}
		parts := strings.Split(rest, "/")
		switch len(parts) {
		case 1:
			name = parts[0]
		case 2:
			if parts[0] != c.name {
				return nil
			}
			name = parts[1]
		default:
			return nil
		}
	}
	return c.servicesByName[name]
}

// failureARN is the ARN a failures[] entry echoes: the ARN as given, or one built from a bare ID
// in the long format. Which ARN real ECS echoes for a bare ID is unverified.
func (m *ecsModel) failureARN(kind string, c *ecsCluster, ref string) string {
	if strings.HasPrefix(ref, "arn:") {
		return ref
	}
	if kind == "cluster" || c == nil {
		return m.arn(kind + "/" + ref)
	}
	return m.arn(kind + "/" + c.name + "/" + ref)
}

type ecsFailure struct {
	Arn    string `json:"arn,omitempty"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

func missing(arn string) ecsFailure { return ecsFailure{Arn: arn, Reason: "MISSING"} }

// describeEach is the shape of every ECS Describe* answer: each reference that find resolves is
// rendered, each other one becomes a MISSING failure. Both lists are non-nil, as ECS sends [] for
// an empty one.
func describeEach[T, O any](m *ecsModel, kind string, c *ecsCluster, refs []string, find func(string) *T, render func(*T) O) ([]O, []ecsFailure) {
	found, failures := []O{}, []ecsFailure{}
	for _, ref := range refs {
		x := find(ref)
		if x == nil {
			failures = append(failures, missing(m.failureARN(kind, c, ref)))
			continue
		}
		found = append(found, render(x))
	}
	return found, failures
}

// pager is one page request of a List operation. Tokens carry the creation sequence of the last
// item returned, so a page continues correctly when items come or go between pages.
type pager struct {
	op    string
	after int64
	limit int
}

// newPager validates maxResults (1..100, default def) and nextToken for op.
func (m *ecsModel) newPager(op string, maxResults *int64, nextToken *string, def int) (pager, *apiError) {
	p := pager{op: op, limit: def}
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > ecsMaxResults {
			return p, invalidParameter(fmt.Sprintf("maxResults must be between 1 and %d, got %d.", ecsMaxResults, *maxResults))
		}
		p.limit = int(*maxResults)
	}
	if o := m.s.opts.PageSizeOverride; o > 0 {
		p.limit = min(p.limit, o)
	}
	if nextToken != nil && *nextToken != "" {
		after, ok := decodePageToken(op, *nextToken)
		if !ok {
			return p, invalidParameter("Invalid nextToken.")
		}
		p.after = after
	}
	return p, nil
}

// take reports whether an item with creation sequence seq belongs to the page (it comes after the
// token), and whether the page is already full, in which case the caller emits a token and stops.
func (p *pager) take(seq int64, n int) (inPage, full bool) {
	if seq <= p.after {
		return false, false
	}
	if n >= p.limit {
		return false, true
	}
	return true, false
}

func (p *pager) token(lastSeq int64) *string {
	tok := base64.RawURLEncoding.EncodeToString([]byte(p.op + ":" + strconv.FormatInt(lastSeq, 10)))
	return &tok
}

func decodePageToken(op, tok string) (int64, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	gotOp, seq, ok := strings.Cut(string(raw), ":")
	if !ok || gotOp != op {
		return 0, false
	}
	n, err := strconv.ParseInt(seq, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// validateTags applies ECS's tag rules: at most 50 per resource, key 1-128 characters, value at
// most 256, and the aws: prefix reserved.
func validateTags(tags []ecsTag) *apiError {
	if len(tags) > ecsMaxTags {
		return invalidParameter(fmt.Sprintf("A resource can have at most %d tags.", ecsMaxTags))
	}
	for _, t := range tags {
		switch {
		case t.Key == "" || len(t.Key) > 128:
			return invalidParameter("Tag keys must be between 1 and 128 characters.")
		case len(t.Value) > 256:
			return invalidParameter("Tag values must be at most 256 characters.")
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return invalidParameter("Tag keys with the aws: prefix are reserved.")
		}
	}
	return nil
}

// mergeTags adds or replaces tags by key, keeping first-seen order.
func mergeTags(have, add []ecsTag) []ecsTag {
	out := append([]ecsTag(nil), have...)
	for _, t := range add {
		replaced := false
		for i := range out {
			if out[i].Key == t.Key {
				out[i].Value = t.Value
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, t)
		}
	}
	return out
}
