package awssim

import (
	"math"
	"net/http"
	"strings"
	"time"
)

// tokenBucket is one request budget, refilled on the simulator's clock.
type tokenBucket struct {
	Bucket
	tokens float64
	last   time.Time
}

// ecsThrottleGroups maps each ECS operation to the group of actions that share one token bucket.
// ECS's request-throttling page (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html)
// throttles groups of actions together, such as "cluster read actions"; the grouping below follows
// that page's shape (reads and modifies of each resource), but the exact membership and numbers
// could not be verified here (aws-api-facts §3.9). ThrottleRates may name a group to change it.
var ecsThrottleGroups = map[string]string{
	"ListClusters":                  "ecs:ClusterRead",
	"DescribeClusters":              "ecs:ClusterRead",
	"CreateCluster":                 "ecs:ClusterModify",
	"DescribeTaskDefinition":        "ecs:TaskDefinitionRead",
	"RegisterTaskDefinition":        "ecs:TaskDefinitionModify",
	"ListServices":                  "ecs:ServiceRead",
	"DescribeServices":              "ecs:ServiceRead",
	"CreateService":                 "ecs:ServiceModify",
	"UpdateService":                 "ecs:ServiceModify",
	"DeleteService":                 "ecs:ServiceModify",
	"ListTasks":                     "ecs:TaskRead",
	"DescribeTasks":                 "ecs:TaskRead",
	"RunTask":                       "ecs:TaskModify",
	"StopTask":                      "ecs:TaskModify",
	"ListContainerInstances":        "ecs:ContainerInstanceRead",
	"DescribeContainerInstances":    "ecs:ContainerInstanceRead",
	"UpdateContainerInstancesState": "ecs:ContainerInstanceModify",
	"DeregisterContainerInstance":   "ecs:ContainerInstanceModify",
	"ListTagsForResource":           "ecs:TagRead",
	"TagResource":                   "ecs:TagModify",
	"UntagResource":                 "ecs:TagModify",
}

// defaultBucket models AWS's request-throttling buckets. ECS's page gives cluster read actions a
// bucket of 50 in its worked example; the other numbers are unverified stand-ins of the same shape.
// Auto Scaling publishes no numbers (aws-api-facts §2.8) and no grouping, so each of its operations
// gets a bucket of its own of the same shape. Reads get a larger sustained rate than writes, as on AWS.
func defaultBucket(op string) Bucket {
	if isReadOp(op) {
		return Bucket{Rate: 20, Burst: 50}
	}
	return Bucket{Rate: 10, Burst: 20}
}

func isReadOp(op string) bool {
	return strings.HasPrefix(op, "Describe") || strings.HasPrefix(op, "List") || strings.HasPrefix(op, "Get")
}

// validBucket reports whether b can ever admit a request: a bucket with less than one token, or
// none refilled, would throttle forever.
func validBucket(b Bucket) bool {
	return b.Rate > 0 && !math.IsInf(b.Rate, 0) && b.Burst >= 1 && !math.IsInf(b.Burst, 0)
}

// bucketFor returns the key and configuration of the bucket op draws from: an override for the
// operation itself gives it a bucket of its own; otherwise an ECS operation shares its group's
// bucket (overridable by group name), and an Auto Scaling operation has its own. Invalid overrides
// are ignored here; Options.Validate reports them.
func (s *Sim) bucketFor(service, op string) (string, Bucket) {
	if b, ok := s.opts.ThrottleRates[op]; ok && validBucket(b) {
		return service + "/" + op, b
	}
	if service == serviceECS {
		if g, ok := ecsThrottleGroups[op]; ok {
			if b, ok := s.opts.ThrottleRates[g]; ok && validBucket(b) {
				return g, b
			}
			return g, defaultBucket(op)
		}
	}
	return service + "/" + op, defaultBucket(op)
}

// takeToken reports whether op may run now, consuming a token if so.
func (s *Sim) takeToken(service, op string) bool {
	key, cfg := s.bucketFor(service, op)
	b, ok := s.buckets[key]
	now := s.now()
	if !ok {
		b = &tokenBucket{Bucket: cfg, tokens: cfg.Burst, last: now}
		s.buckets[key] = b
	}
	b.tokens = min(b.Burst, b.tokens+now.Sub(b.last).Seconds()*b.Rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// hostileKind is how a response is spoiled on its way out, to prove clients survive bad responses.
type hostileKind int

const (
	hostileNone hostileKind = iota
	hostileTruncate
	hostileGarbage
	hostileUnknownError
)

// hostileLocked draws whether the response to op is spoiled; ok says the operation succeeded (only
// a success can be spoiled by SpoilNext, which answers garbage). The request has been applied (or
// not) before this point, exactly as a response lost on the network would leave AWS.
func (s *Sim) hostileLocked(op string, ok bool) hostileKind {
	drawn := hostileNone
	if s.opts.Hostile > 0 && s.rng.Float64() < s.opts.Hostile {
		drawn = hostileKind(1 + s.rng.IntN(3))
	}
	if ok && takeOne(s.spoilNext, op) {
		return hostileGarbage
	}
	return drawn
}

// takeOne counts down one of the faults pending for op in counts (FailNext, SpoilNext) and says
// whether there was one.
func takeOne(counts map[string]int, op string) bool {
	if counts[op] <= 0 {
		return false
	}
	counts[op]--
	if counts[op] == 0 {
		delete(counts, op)
	}
	return true
}

// hostileErrorCode is the error code of a response rewritten into an unknown error.
const hostileErrorCode = "SimulatedWeirdFault"

// errorCode is the error code the spoiled response carries, "" when it carries none (truncated
// and garbage bodies keep their 200).
func (h hostileKind) errorCode() string {
	if h == hostileUnknownError {
		return hostileErrorCode
	}
	return ""
}

func (h hostileKind) apply(body []byte, status int) ([]byte, int) {
	switch h {
	case hostileTruncate:
		return body[:len(body)/2], status
	case hostileGarbage:
		return []byte("<<<{{{ not a response \x00\xff"), status
	case hostileUnknownError:
		return []byte(`{"__type":"` + hostileErrorCode + `","message":"an error code no SDK models"}`), http.StatusServiceUnavailable
	}
	return body, status
}
