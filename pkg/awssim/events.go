package awssim

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The EventBridge half of the event plumbing: rules with event patterns on the default event bus,
// SQS queue targets, and delivery of the events the simulated services emit (event_emit.go) into
// those queues: at least once, after Options.EventDelay, with the duplication, reordering and loss
// that Options.EventDuplicate, EventReorder and EventLoss ask for. Auto Scaling's direct lifecycle
// notifications to SQS travel the same delivery queue, without those faults.

const (
	eventsTargetPrefix = "AWSEvents."
	defaultEventBus    = "default"
	maxTargetsPerRule  = 5
	maxRulesPerBus     = 300
	maxPutTargets      = 10
	maxPutEvents       = 10
	maxRulesPage       = 100
	ruleStateEnabled   = "ENABLED"
	ruleStateDisabled  = "DISABLED"
	defaultEventDelay  = 100 * time.Millisecond
	defaultSpotNotice  = 2 * time.Minute
	pageKindRules      = "rules"
	pageKindTargets    = "targets"
)

var eventNamePattern = regexp.MustCompile(`^[\.\-_A-Za-z0-9]{1,64}$`)

type eventsModel struct {
	s        *Sim
	rules    map[string]*eventRule
	pending  []*delivery
	seq      int64
	handlers map[string]func([]byte) (any, *apiError)
}

type eventRule struct {
	name, arn, description, state, rawPattern string
	pattern                                   *eventPattern
	targets                                   map[string]*eventTarget
}

type eventTarget struct {
	ID    string `json:"Id"`
	Arn   string `json:"Arn"`
	Input string `json:"Input,omitempty"`
}

// delivery is a message on its way into a queue.
type delivery struct {
	due      time.Time
	seq      int64
	queueARN string
	body     string
	sender   string
}

func newEventsModel(s *Sim) *eventsModel {
	m := &eventsModel{s: s, rules: map[string]*eventRule{}}
	m.handlers = map[string]func([]byte) (any, *apiError){
		"PutRule":           jsonOp(m.putRule),
		"DescribeRule":      jsonOp(m.describeRule),
		"ListRules":         jsonOp(m.listRules),
		"DeleteRule":        jsonOp(m.deleteRule),
		"PutTargets":        jsonOp(m.putTargets),
		"RemoveTargets":     jsonOp(m.removeTargets),
		"ListTargetsByRule": jsonOp(m.listTargetsByRule),
		"PutEvents":         jsonOp(m.putEvents),
	}
	return m
}

// bus checks EventBusName: only the default bus exists here.
func bus(name string) *apiError {
	if name == "" || name == defaultEventBus || strings.HasSuffix(name, ":event-bus/default") {
		return nil
	}
	return busNotFound(name)
}

func (m *eventsModel) rule(name, busName string) (*eventRule, *apiError) {
	if err := bus(busName); err != nil {
		return nil, err
	}
	r := m.rules[name]
	if r == nil {
		return nil, ruleNotFound(name)
	}
	return r, nil
}

type putRuleIn struct {
	Name, EventPattern, ScheduleExpression, State, Description, RoleArn, EventBusName string
}

func (m *eventsModel) putRule(in *putRuleIn) (any, *apiError) {
	if !eventNamePattern.MatchString(in.Name) {
		return nil, eventsValidation(fmt.Sprintf("1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+", in.Name))
	}
	if err := bus(in.EventBusName); err != nil {
		return nil, err
	}
	if in.ScheduleExpression != "" {
		return nil, eventsValidation("ScheduleExpression is not simulated by awssim; give an EventPattern.")
	}
	if in.EventPattern == "" {
		return nil, eventsValidation("Parameter(s) EventPattern or ScheduleExpression must be specified.")
	}
	p, err := parsePattern(in.EventPattern)
	if err != nil {
		return nil, invalidEventPattern(err)
	}
	state := cmp.Or(in.State, ruleStateEnabled)
	if state != ruleStateEnabled && state != ruleStateDisabled {
		return nil, eventsValidation(fmt.Sprintf("1 validation error detected: Value '%s' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]", state))
	}
	r := m.rules[in.Name]
	if r == nil {
		if len(m.rules) >= maxRulesPerBus {
			return nil, eventsLimitExceeded("The requested resource exceeds the maximum number allowed.")
		}
		r = &eventRule{name: in.Name, arn: fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", m.s.opts.Region, m.s.opts.AccountID, in.Name), targets: map[string]*eventTarget{}}
		m.rules[in.Name] = r
	}
	r.rawPattern, r.pattern, r.state, r.description = in.EventPattern, p, state, in.Description
	return map[string]string{"RuleArn": r.arn}, nil
}

type ruleNameIn struct {
	Name, EventBusName string
	Force              bool
}

type ruleOut struct {
	Name         string `json:"Name"`
	Arn          string `json:"Arn"`
	EventPattern string `json:"EventPattern"`
	State        string `json:"State"`
	Description  string `json:"Description,omitempty"`
	EventBusName string `json:"EventBusName"`
	CreatedBy    string `json:"CreatedBy,omitempty"`
}

func (m *eventsModel) view(r *eventRule) ruleOut {
	return ruleOut{Name: r.name, Arn: r.arn, EventPattern: r.rawPattern, State: r.state, Description: r.description, EventBusName: defaultEventBus}
}

func (m *eventsModel) describeRule(in *ruleNameIn) (any, *apiError) {
	r, err := m.rule(in.Name, in.EventBusName)
	if err != nil {
		return nil, err
	}
	out := m.view(r)
	out.CreatedBy = m.s.opts.AccountID
	return out, nil
}

type eventsListIn struct {
	NamePrefix, EventBusName, NextToken, Rule string
	Limit                                     *int
}

// pageOf returns the page of sorted keys after NextToken, and the token of the next page.
func pageOf(kind string, keys []string, in *eventsListIn) ([]string, string, *apiError) {
	size := maxRulesPage
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > maxRulesPage {
			return nil, "", eventsValidation(fmt.Sprintf("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d", *in.Limit, maxRulesPage))
		}
		size = *in.Limit
	}
	if in.NextToken != "" {
		last, err := parsePageToken(kind, in.NextToken)
		if err != nil {
			return nil, "", eventsValidation("The nextToken provided is invalid.")
		}
		i, found := slices.BinarySearch(keys, last)
		if found {
			i++
		}
		keys = keys[i:]
	}
	if len(keys) > size {
		return keys[:size], pageToken(kind, keys[size-1]), nil
	}
	return keys, "", nil
}

func (m *eventsModel) listRules(in *eventsListIn) (any, *apiError) {
	if err := bus(in.EventBusName); err != nil {
		return nil, err
	}
	names := slices.Sorted(maps.Keys(m.rules))
	names = slices.DeleteFunc(names, func(n string) bool { return !strings.HasPrefix(n, in.NamePrefix) })
	names, next, err := pageOf(pageKindRules, names, in)
	if err != nil {
		return nil, err
	}
	out := struct {
		Rules     []ruleOut `json:"Rules"`
		NextToken string    `json:"NextToken,omitempty"`
	}{Rules: []ruleOut{}, NextToken: next}
	for _, n := range names {
		out.Rules = append(out.Rules, m.view(m.rules[n]))
	}
	return out, nil
}

func (m *eventsModel) deleteRule(in *ruleNameIn) (any, *apiError) {
	if err := bus(in.EventBusName); err != nil {
		return nil, err
	}
	r := m.rules[in.Name]
	if r == nil {
		return nil, nil // deleting a rule that does not exist succeeds
	}
	if len(r.targets) > 0 {
		return nil, eventsValidation("Rule can't be deleted since it has targets.")
	}
	delete(m.rules, in.Name)
	return nil, nil
}

type putTargetsIn struct {
	Rule, EventBusName string
	Targets            []struct {
		ID               string `json:"Id"`
		Arn              string
		Input            string
		InputPath        string
		InputTransformer json.RawMessage
		RoleArn          string
	}
}

type failedEntry struct {
	TargetID     string `json:"TargetId"`
	ErrorCode    string `json:"ErrorCode"`
	ErrorMessage string `json:"ErrorMessage"`
}

type failedEntriesOut struct {
	FailedEntryCount int           `json:"FailedEntryCount"`
	FailedEntries    []failedEntry `json:"FailedEntries"`
}

func (m *eventsModel) putTargets(in *putTargetsIn) (any, *apiError) {
	r, err := m.rule(in.Rule, in.EventBusName)
	if err != nil {
		return nil, err
	}
	if len(in.Targets) == 0 || len(in.Targets) > maxPutTargets {
		return nil, eventsValidation(fmt.Sprintf("1 validation error detected: Value at 'targets' failed to satisfy constraint: Member must have length between 1 and %d", maxPutTargets))
	}
	added := 0
	for _, t := range in.Targets {
		if !eventNamePattern.MatchString(t.ID) || t.Arn == "" {
			return nil, eventsValidation(fmt.Sprintf("1 validation error detected: Value '%s' at 'targets.id' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+", t.ID))
		}
		if t.InputPath != "" || len(t.InputTransformer) > 0 {
			return nil, eventsValidation("InputPath and InputTransformer are not simulated by awssim; use Input or pass the whole event.")
		}
		if r.targets[t.ID] == nil {
			added++
		}
	}
	if len(r.targets)+added > maxTargetsPerRule {
		return nil, eventsLimitExceeded(fmt.Sprintf("The requested resource exceeds the maximum number allowed (%d targets per rule).", maxTargetsPerRule))
	}
	for _, t := range in.Targets {
		r.targets[t.ID] = &eventTarget{ID: t.ID, Arn: t.Arn, Input: t.Input}
	}
	return failedEntriesOut{FailedEntries: []failedEntry{}}, nil
}

type removeTargetsIn struct {
	Rule, EventBusName string
	Ids                []string //nolint:revive // the wire name
	Force              bool
}

func (m *eventsModel) removeTargets(in *removeTargetsIn) (any, *apiError) {
	r, err := m.rule(in.Rule, in.EventBusName)
	if err != nil {
		return nil, err
	}
	if len(in.Ids) == 0 || len(in.Ids) > maxPutTargets {
		return nil, eventsValidation(fmt.Sprintf("1 validation error detected: Value at 'ids' failed to satisfy constraint: Member must have length between 1 and %d", maxPutTargets))
	}
	out := failedEntriesOut{FailedEntries: []failedEntry{}}
	for _, id := range in.Ids {
		// Removing an ID the rule lacks is not an error on AWS either.
		delete(r.targets, id)
	}
	return out, nil
}

func (m *eventsModel) listTargetsByRule(in *eventsListIn) (any, *apiError) {
	r, err := m.rule(in.Rule, in.EventBusName)
	if err != nil {
		return nil, err
	}
	ids, next, err := pageOf(pageKindTargets, slices.Sorted(maps.Keys(r.targets)), in)
	if err != nil {
		return nil, err
	}
	out := struct {
		Targets   []*eventTarget `json:"Targets"`
		NextToken string         `json:"NextToken,omitempty"`
	}{Targets: []*eventTarget{}, NextToken: next}
	for _, id := range ids {
		out.Targets = append(out.Targets, r.targets[id])
	}
	return out, nil
}

type putEventsIn struct {
	Entries []struct {
		Source, DetailType, Detail, EventBusName string
		Resources                                []string
		Time                                     *epochSeconds
	}
}

type putEventsEntryOut struct {
	EventID      string `json:"EventId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

// putEvents accepts custom events, routed like the services' own. Sources starting "aws." belong
// to AWS services and are refused per entry, as on AWS.
func (m *eventsModel) putEvents(in *putEventsIn) (any, *apiError) {
	if len(in.Entries) == 0 || len(in.Entries) > maxPutEvents {
		return nil, eventsValidation(fmt.Sprintf("1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and %d", maxPutEvents))
	}
	out := struct {
		FailedEntryCount int                 `json:"FailedEntryCount"`
		Entries          []putEventsEntryOut `json:"Entries"`
	}{}
	now := m.s.now()
	for _, e := range in.Entries {
		res := m.putEvent(e.Source, e.DetailType, e.Detail, e.EventBusName, e.Resources, now)
		if res.ErrorCode != "" {
			out.FailedEntryCount++
		}
		out.Entries = append(out.Entries, res)
	}
	return out, nil
}

func (m *eventsModel) putEvent(source, detailType, detail, busName string, resources []string, now time.Time) putEventsEntryOut {
	switch {
	case source == "" || detailType == "" || detail == "":
		return putEventsEntryOut{ErrorCode: "InvalidArgument", ErrorMessage: "Parameter(s) Source, DetailType and Detail must be specified."}
	case strings.HasPrefix(source, "aws."):
		return putEventsEntryOut{ErrorCode: "NotAuthorizedForSourceException", ErrorMessage: "Not authorized for the source."}
	case bus(busName) != nil:
		return putEventsEntryOut{ErrorCode: "InvalidArgument", ErrorMessage: "Event bus " + busName + " does not exist."}
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(detail), &d); err != nil {
		return putEventsEntryOut{ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed."}
	}
	id := m.emit(source, detailType, resources, json.RawMessage(detail), now)
	return putEventsEntryOut{EventID: id}
}

// eventEnvelope is an EventBridge event, fields in AWS's order.
type eventEnvelope struct {
	Version    string   `json:"version"`
	ID         string   `json:"id"`
	DetailType string   `json:"detail-type"`
	Source     string   `json:"source"`
	Account    string   `json:"account"`
	Time       string   `json:"time"`
	Region     string   `json:"region"`
	Resources  []string `json:"resources"`
	Detail     any      `json:"detail"`
}

// emit publishes an event that happened at at to the default bus and returns its ID. With no rule
// there is nothing to route, so the detail is not even rendered: a fleet without rules pays
// nothing. detail may be a func() any, rendered only when some rule exists.
func (m *eventsModel) emit(source, detailType string, resources []string, detail any, at time.Time) string {
	m.s.stats.EventsEmitted++
	m.s.metrics.eventsEmitted.Inc()
	if len(m.rules) == 0 {
		return ""
	}
	if f, ok := detail.(func() any); ok {
		detail = f()
	}
	env := eventEnvelope{Version: "0", ID: m.s.newEventUUID(), DetailType: detailType, Source: source,
		Account: m.s.opts.AccountID, Time: at.UTC().Format(time.RFC3339), Region: m.s.opts.Region,
		Resources: resources, Detail: detail}
	if env.Resources == nil {
		env.Resources = []string{}
	}
	m.route(env, at)
	return env.ID
}

// matchable is the envelope as decoding its JSON gives it, when its detail is already in that form
// (matchableDetail); nil otherwise.
func (e eventEnvelope) matchable() map[string]any {
	d, ok := e.Detail.(matchableDetail)
	if !ok {
		return nil
	}
	resources := make([]any, len(e.Resources))
	for i, r := range e.Resources {
		resources[i] = r
	}
	return map[string]any{"version": e.Version, "id": e.ID, "detail-type": e.DetailType, "source": e.Source,
		"account": e.Account, "time": e.Time, "region": e.Region, "resources": resources, "detail": map[string]any(d)}
}

// route schedules the delivery of event env to the targets of every enabled rule it matches. The
// event is encoded once, and only if some rule matches it.
func (m *eventsModel) route(env eventEnvelope, at time.Time) {
	var body []byte
	encode := func() bool {
		if body == nil {
			b, err := json.Marshal(env)
			if err != nil {
				return false // cannot happen with the model's detail types
			}
			body = b
		}
		return true
	}
	ev := env.matchable()
	if ev == nil {
		if !encode() {
			return
		}
		var err error
		if ev, err = decodeEvent(body); err != nil {
			return
		}
	}
	for _, name := range slices.Sorted(maps.Keys(m.rules)) {
		r := m.rules[name]
		if r.state != ruleStateEnabled || !r.pattern.match(ev) {
			continue
		}
		if !encode() {
			return
		}
		for _, id := range slices.Sorted(maps.Keys(r.targets)) {
			t := r.targets[id]
			body := string(body)
			if t.Input != "" {
				body = t.Input
			}
			m.schedule(t.Arn, body, sqsEventsSenderID, at, true) // EventBridge's faults apply
		}
	}
}

// schedule queues one delivery made at at, EventDelay later. faulty applies the EventBridge
// delivery faults (faults.go): loss, duplication and a random extra delay that reorders deliveries.
func (m *eventsModel) schedule(queueARN, body, sender string, at time.Time, faulty bool) {
	extra := []time.Duration{0}
	if faulty {
		extra = m.s.deliveryFaults()
	}
	for _, d := range extra {
		due := at.Add(m.s.opts.EventDelay + d)
		m.seq++
		m.pending = append(m.pending, &delivery{due: due, seq: m.seq, queueARN: queueARN, body: body, sender: sender})
	}
}

// deliverDue puts every delivery due by now into its queue, in due order. A queue that does not
// exist (any more) loses the message: EventBridge would retry for a day and then drop it.
func (m *eventsModel) deliverDue(now time.Time) {
	if len(m.pending) == 0 {
		return
	}
	slices.SortFunc(m.pending, func(a, b *delivery) int { return cmp.Or(a.due.Compare(b.due), cmp.Compare(a.seq, b.seq)) })
	n := 0
	for _, d := range m.pending {
		if d.due.After(now) {
			break
		}
		n++
		if m.s.sqs.deliver(d.queueARN, d.body, d.sender, d.due) {
			m.s.countDelivery(deliveryDelivered)
		} else {
			m.s.countDelivery(deliveryUndeliverable)
		}
	}
	clear(m.pending[:n])
	m.pending = m.pending[n:]
}

// newEventUUID returns a version 4 UUID drawn from the event generator, so IDs repeat per seed.
func (s *Sim) newEventUUID() string {
	var b [16]byte
	for i := range 2 {
		v := s.evRng.Uint64()
		for j := range 8 {
			b[i*8+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
