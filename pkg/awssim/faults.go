package awssim

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
)

// This file holds every fault the simulator injects and the settings behind them: the Faults a
// test or person changes at run time, admit (what a request meets before its operation runs:
// throttling, then the counted and drawn failures), the token buckets, the spoiled responses
// (Options.Hostile, Faults.SpoilNext) and the faults of EventBridge delivery. The errors they
// answer with are in errors.go.

// Faults are the fault knobs that may be changed while the simulator runs.
type Faults struct {
	Throttle  bool    `json:"throttle"`
	ErrorRate float64 `json:"errorRate"`
	Hostile   float64 `json:"hostile"`
	LatencyMS int     `json:"latencyMs"`
	// FailNext fails the next N admitted requests of each named operation with that service's
	// injected 5xx, whatever ErrorRate draws: a fault a test can count on. Reading Faults gives
	// the failures still to come; setting it replaces them all (null clears them).
	FailNext map[string]int `json:"failNext"`
	// SpoilNext replaces the next N successful answers of each named operation with garbage, after
	// the request was applied, whatever Hostile draws: a malformed response a test can count on.
	// A client that does not read the body of an empty result (aws-sdk-go-v2 for
	// CompleteLifecycleAction or SetDesiredCapacity) cannot tell; pick an operation with a result.
	SpoilNext map[string]int `json:"spoilNext"`
	// Deny answers every request of the named operations with the service's access-denied error
	// (errors.go), as AWS answers a caller whose IAM policy lacks the permission, until the
	// operation leaves the list. Setting it replaces the list (null clears it).
	Deny []string `json:"deny"`
	// ThrottleRates overrides token buckets while Throttle is on, keyed like
	// Options.ThrottleRates (an operation, or an ECS throttle group) and taking precedence over
	// it, so a test can throttle one operation for a phase. Setting it replaces these overrides
	// (null clears them, back to the Options' buckets); a bucket whose settings change starts full.
	ThrottleRates map[string]Bucket `json:"throttleRates"`
	// Event delivery knobs (Options.EventDelay, EventDuplicate, EventLoss, EventReorder);
	// eventDelayMs 0 means the default.
	EventDelayMS   int     `json:"eventDelayMs"`
	EventDuplicate float64 `json:"eventDuplicate"`
	EventLoss      float64 `json:"eventLoss"`
	EventReorderMS int     `json:"eventReorderMs"`
	// QueueRecreateDelayMS is Options.QueueRecreateDelay: how long a deleted queue's name stays
	// taken (0 means AWS's 60 s). Not a fault but a shortcut, so that a test can delete a queue
	// and create it again, as an operator recovering from a mistake would, within seconds.
	QueueRecreateDelayMS int `json:"queueRecreateDelayMs"`
}

// Faults returns the current fault settings.
func (s *Sim) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faultsLocked()
}

func (s *Sim) faultsLocked() Faults {
	f := Faults{Throttle: s.opts.Throttle, ErrorRate: s.opts.ErrorRate, Hostile: s.opts.Hostile, LatencyMS: int(s.opts.Latency / time.Millisecond),
		EventDelayMS: int(s.opts.EventDelay / time.Millisecond), EventDuplicate: s.opts.EventDuplicate, EventLoss: s.opts.EventLoss,
		EventReorderMS: int(s.opts.EventReorder / time.Millisecond), QueueRecreateDelayMS: int(s.opts.QueueRecreateDelay / time.Millisecond)}
	if len(s.failNext) > 0 {
		f.FailNext = maps.Clone(s.failNext)
	}
	if len(s.spoilNext) > 0 {
		f.SpoilNext = maps.Clone(s.spoilNext)
	}
	if len(s.deny) > 0 {
		f.Deny = slices.Sorted(maps.Keys(s.deny))
	}
	if len(s.throttleRates) > 0 {
		f.ThrottleRates = maps.Clone(s.throttleRates)
	}
	return f
}

// SetFaults changes the fault settings, for a test that needs a faulty phase then a clean one.
func (s *Sim) SetFaults(f Faults) error {
	if err := validateFaults(f); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setFaultsLocked(f)
	return nil
}

func validateFaults(f Faults) error {
	if err := validateFaultRanges(f); err != nil {
		return err
	}
	known := knownOperations()
	for _, c := range []struct {
		name   string
		counts map[string]int
	}{{"failNext", f.FailNext}, {"spoilNext", f.SpoilNext}} {
		if err := validateCounts(c.name, c.counts, known); err != nil {
			return err
		}
	}
	for _, op := range f.Deny {
		if !known[op] {
			return noSuchOperation("deny", op)
		}
	}
	return errors.Join(throttleRateProblems("throttleRates", f.ThrottleRates)...)
}

// validateFaultRanges checks the shares, durations and latency of f.
func validateFaultRanges(f Faults) error {
	if !(f.ErrorRate >= 0 && f.ErrorRate <= 1) || !(f.Hostile >= 0 && f.Hostile <= 1) || f.LatencyMS < 0 || f.LatencyMS > int(MaxLatency/time.Millisecond) {
		return fmt.Errorf("faults out of range: errorRate and hostile must be within 0..1 and latencyMs within 0..%d, got %+v", MaxLatency/time.Millisecond, f)
	}
	if !(f.EventDuplicate >= 0 && f.EventDuplicate <= 1) || !(f.EventLoss >= 0 && f.EventLoss <= 1) || f.EventDelayMS < 0 || f.EventReorderMS < 0 || f.QueueRecreateDelayMS < 0 {
		return fmt.Errorf("event faults out of range: eventDuplicate and eventLoss must be within 0..1, eventDelayMs and queueRecreateDelayMs (0: the default) and eventReorderMs 0 or more, got %+v", f)
	}
	return nil
}

// validateCounts checks the counts of failNext or spoilNext.
func validateCounts(name string, counts map[string]int, known map[string]bool) error {
	for _, op := range slices.Sorted(maps.Keys(counts)) {
		if !known[op] {
			return noSuchOperation(name, op)
		}
		if counts[op] < 0 {
			return fmt.Errorf("%s[%q] is %d: must be a count of requests, 0 or more", name, op, counts[op])
		}
	}
	return nil
}

func noSuchOperation(field, op string) error {
	return fmt.Errorf("%s names %q: no such operation; name an Auto Scaling, ECS, SQS or EventBridge operation such as CompleteLifecycleAction, ListTasks or ReceiveMessage", field, op)
}

func (s *Sim) setFaultsLocked(f Faults) {
	s.opts.Throttle, s.opts.ErrorRate, s.opts.Hostile = f.Throttle, f.ErrorRate, f.Hostile
	s.opts.Latency = time.Duration(f.LatencyMS) * time.Millisecond
	s.opts.EventDelay = time.Duration(f.EventDelayMS) * time.Millisecond
	if s.opts.EventDelay == 0 {
		s.opts.EventDelay = defaultEventDelay
	}
	s.opts.EventDuplicate, s.opts.EventLoss = f.EventDuplicate, f.EventLoss
	s.opts.EventReorder = time.Duration(f.EventReorderMS) * time.Millisecond
	s.opts.QueueRecreateDelay = time.Duration(f.QueueRecreateDelayMS) * time.Millisecond
	if s.opts.QueueRecreateDelay == 0 {
		s.opts.QueueRecreateDelay = sqsRecreateDelay
	}
	zero := func(_ string, n int) bool { return n == 0 }
	s.failNext, s.spoilNext = maps.Clone(f.FailNext), maps.Clone(f.SpoilNext)
	maps.DeleteFunc(s.failNext, zero)
	maps.DeleteFunc(s.spoilNext, zero)
	s.deny = map[string]bool{}
	for _, op := range f.Deny {
		s.deny[op] = true
	}
	s.throttleRates = maps.Clone(f.ThrottleRates)
}

// faultsPatch is a PUT to /debug/faults: a field left out keeps its value. failNext, spoilNext,
// deny and throttleRates, when given, replace every setting of their kind; null clears them.
type faultsPatch struct {
	Throttle      *bool           `json:"throttle"`
	ErrorRate     *float64        `json:"errorRate"`
	Hostile       *float64        `json:"hostile"`
	LatencyMS     *int            `json:"latencyMs"`
	FailNext      json.RawMessage `json:"failNext"`
	SpoilNext     json.RawMessage `json:"spoilNext"`
	Deny          json.RawMessage `json:"deny"`
	ThrottleRates json.RawMessage `json:"throttleRates"`

	EventDelayMS   *int     `json:"eventDelayMs"`
	EventDuplicate *float64 `json:"eventDuplicate"`
	EventLoss      *float64 `json:"eventLoss"`
	EventReorderMS *int     `json:"eventReorderMs"`

	QueueRecreateDelayMS *int `json:"queueRecreateDelayMs"`
}

// apply sets the scalar fields p gives on f.
func (p faultsPatch) apply(f *Faults) {
	set := func(dst *int, src *int) {
		if src != nil {
			*dst = *src
		}
	}
	setF := func(dst *float64, src *float64) {
		if src != nil {
			*dst = *src
		}
	}
	if p.Throttle != nil {
		f.Throttle = *p.Throttle
	}
	setF(&f.ErrorRate, p.ErrorRate)
	setF(&f.Hostile, p.Hostile)
	set(&f.LatencyMS, p.LatencyMS)
	set(&f.EventDelayMS, p.EventDelayMS)
	setF(&f.EventDuplicate, p.EventDuplicate)
	setF(&f.EventLoss, p.EventLoss)
	set(&f.EventReorderMS, p.EventReorderMS)
	set(&f.QueueRecreateDelayMS, p.QueueRecreateDelayMS)
}

// applyLists sets on f the per-operation settings p gives, each replacing the setting as a whole.
func (p faultsPatch) applyLists(f *Faults) error {
	const counts = "an object of operation names and counts"
	return errors.Join(
		decodeSetting("failNext", counts, p.FailNext, &f.FailNext),
		decodeSetting("spoilNext", counts, p.SpoilNext, &f.SpoilNext),
		decodeSetting("deny", "a list of operation names", p.Deny, &f.Deny),
		decodeSetting("throttleRates", `an object of operation (or ECS group) names and {"rate":N,"burst":N}`, p.ThrottleRates, &f.ThrottleRates),
	)
}

// decodeSetting decodes raw, when given, into a fresh value that replaces *into: a patch replaces
// a setting rather than merging with it.
func decodeSetting[T any](name, want string, raw json.RawMessage, into *T) error {
	if raw == nil {
		return nil
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("%s: %w; send %s, or null", name, err, want)
	}
	*into = v
	return nil
}

// patchFaults applies p to the current faults in one step, so failures counted down meanwhile are
// never put back.
func (s *Sim) patchFaults(p faultsPatch) (Faults, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faultsLocked()
	p.apply(&f)
	if err := p.applyLists(&f); err != nil {
		return Faults{}, err
	}
	if err := validateFaults(f); err != nil {
		return Faults{}, err
	}
	s.setFaultsLocked(f)
	return s.faultsLocked(), nil
}

// admit applies the account's faults before an operation runs: a denied operation first (IAM
// authorizes a request before the service sees it, so a denial spends no token), then token-bucket
// throttling (as AWS rejects before doing work), then the failures asked for by FailNext, then the
// injected error rate. An admitted request returns nil, nil.
func (s *Sim) admit(service, op string) (any, *apiError) {
	if s.deny[op] {
		return nil, accessDenied(service, op, s.opts.AccountID)
	}
	if s.opts.Throttle && !s.takeToken(service, op) {
		return nil, throttled(service)
	}
	drawn := s.opts.ErrorRate > 0 && s.rng.Float64() < s.opts.ErrorRate // drawn first: FailNext leaves the seed's draws alone
	if takeOne(s.failNext, op) || drawn {
		return nil, injected5xx(service)
	}
	return nil, nil
}

// Bucket is a token bucket: Burst tokens at most, refilled at Rate tokens per second.
type Bucket struct {
	Rate  float64 `json:"rate"`
	Burst float64 `json:"burst"`
}

// knownThrottleKeys is every key ThrottleRates may use: the operations and the ECS throttle
// groups.
func knownThrottleKeys() map[string]bool {
	out := knownOperations()
	for _, g := range ecsThrottleGroups {
		out[g] = true
	}
	return out
}

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
// bucket (overridable by group name), and any other operation has its own.
func (s *Sim) bucketFor(service, op string) (string, Bucket) {
	if b, ok := s.rateOverride(op); ok {
		return service + "/" + op, b
	}
	if g, ok := ecsThrottleGroups[op]; ok && service == serviceECS {
		if b, ok := s.rateOverride(g); ok {
			return g, b
		}
		return g, defaultBucket(op)
	}
	return service + "/" + op, defaultBucket(op)
}

// rateOverride is the bucket Faults.ThrottleRates or else Options.ThrottleRates sets for key.
// Invalid Options entries are ignored here (Options.Validate reports them); SetFaults refuses them.
func (s *Sim) rateOverride(key string) (Bucket, bool) {
	if b, ok := s.throttleRates[key]; ok {
		return b, true
	}
	b, ok := s.opts.ThrottleRates[key]
	return b, ok && validBucket(b)
}

// takeToken reports whether op may run now, consuming a token if so.
func (s *Sim) takeToken(service, op string) bool {
	key, cfg := s.bucketFor(service, op)
	b, ok := s.buckets[key]
	now := s.now()
	if !ok || b.Bucket != cfg {
		// A new bucket, or one whose settings changed at run time, starts full.
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

// deliveryFaults draws EventBridge's delivery faults for one delivery (Options.EventLoss,
// EventDuplicate, EventReorder) and counts them: the extra delay of each copy that arrives, none
// when the delivery is lost, two when it is duplicated. It draws from evRng, so the fleet a seed
// builds does not depend on them.
func (s *Sim) deliveryFaults() []time.Duration {
	o, rng := &s.opts, s.evRng
	if o.EventLoss > 0 && rng.Float64() < o.EventLoss {
		s.countDelivery(deliveryLost)
		return nil
	}
	copies := 1
	if o.EventDuplicate > 0 && rng.Float64() < o.EventDuplicate {
		copies = 2
		s.countDelivery(deliveryDuplicated)
	}
	extra := make([]time.Duration, copies)
	for i := range extra {
		if o.EventReorder > 0 {
			extra[i] = time.Duration(rng.Int64N(int64(o.EventReorder)))
		}
	}
	return extra
}

// throttleRateProblems reports the entries of a ThrottleRates map (field names it) that name no
// operation or ECS throttle group, or hold a bucket that could never admit a request.
func throttleRateProblems(field string, rates map[string]Bucket) []error {
	var p []error
	known := knownThrottleKeys()
	for _, k := range slices.Sorted(maps.Keys(rates)) {
		b := rates[k]
		if !known[k] {
			p = append(p, fmt.Errorf("%s[%q]: no such operation or ECS throttle group", field, k))
		}
		if !validBucket(b) {
			p = append(p, fmt.Errorf("%s[%q] is {Rate: %v, Burst: %v}: rate must be > 0 and burst >= 1, finite", field, k, b.Rate, b.Burst))
		}
	}
	return p
}
