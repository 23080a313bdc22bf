package awssim

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The SQS operations. Inputs are the JSON 1.0 request shapes; a Query-protocol request is turned
// into the same shape first (sqs_wire.go), so both protocols share one implementation. Messages
// copy AWS's where public reports show them; others follow the same style.

var (
	queueNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)
	batchIDPattern   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)
)

// ops maps each SQS operation to its implementation, which takes the JSON 1.0 request body. The
// front end consults it first, so unknown names never reach metrics labels or throttle buckets.
func (m *sqsModel) ops() map[string]func([]byte) (any, *apiError) {
	return map[string]func([]byte) (any, *apiError){
		"CreateQueue":             jsonOp(m.createQueue),
		"GetQueueUrl":             jsonOp(m.getQueueURL),
		"GetQueueAttributes":      jsonOp(m.getQueueAttributes),
		"SetQueueAttributes":      jsonOp(m.setQueueAttributes),
		"ListQueues":              jsonOp(m.listQueues),
		"DeleteQueue":             jsonOp(m.deleteQueue),
		"PurgeQueue":              jsonOp(m.purgeQueue),
		"SendMessage":             jsonOp(m.sendMessage),
		"SendMessageBatch":        jsonOp(m.sendMessageBatch),
		"ReceiveMessage":          jsonOp(m.receiveMessage),
		"DeleteMessage":           jsonOp(m.deleteMessage),
		"DeleteMessageBatch":      jsonOp(m.deleteMessageBatch),
		"ChangeMessageVisibility": jsonOp(m.changeMessageVisibility),
	}
}

type createQueueIn struct {
	QueueName  string
	Attributes map[string]string
	Tags       map[string]string `json:"tags"`
}

type queueURLOut struct {
	QueueURL string `json:"QueueUrl" xml:"QueueUrl"`
}

func (m *sqsModel) createQueue(in *createQueueIn) (any, *apiError) {
	if in.QueueName == "" {
		return nil, sqsMissingParam("QueueName")
	}
	if !queueNamePattern.MatchString(in.QueueName) {
		if strings.HasSuffix(in.QueueName, ".fifo") || in.Attributes["FifoQueue"] == "true" {
			return nil, sqsErr("UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", http.StatusBadRequest, "FIFO queues are not simulated by awssim.")
		}
		return nil, sqsInvalidParam("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	now := m.s.now()
	if at, ok := m.deleted[in.QueueName]; ok && now.Before(at.Add(m.s.opts.QueueRecreateDelay)) {
		return nil, sqsErr("QueueDeletedRecently", "AWS.SimpleQueueService.QueueDeletedRecently", http.StatusBadRequest,
			"You must wait 60 seconds after deleting a queue before you can create another with the same name.")
	}
	q := &sqsQueue{name: in.QueueName, arn: m.queueARN(in.QueueName), created: now, modified: now,
		visibility: sqsDefaultVisibility, retention: sqsDefaultRetention, maxSize: sqsDefaultMaxSize,
		extra: map[string]string{"SqsManagedSseEnabled": "true"}, tags: maps.Clone(in.Tags)}
	if err := m.applyAttributes(q, in.Attributes); err != nil {
		return nil, err
	}
	if old := m.queues[in.QueueName]; old != nil {
		if differ := differentAttributes(m.attributes(old, now), m.attributes(q, now), in.Attributes); len(differ) > 0 {
			return nil, sqsErr("QueueNameExists", "QueueAlreadyExists", http.StatusBadRequest,
				"A queue already exists with the same name and a different value for attribute(s) "+strings.Join(differ, ", "))
		}
		return &queueURLOut{QueueURL: m.queueURL(old)}, nil
	}
	if q.tags == nil {
		q.tags = map[string]string{}
	}
	m.queues[q.name] = q
	return &queueURLOut{QueueURL: m.queueURL(q)}, nil
}

// differentAttributes names the attributes a CreateQueue for an existing queue asked for that the
// queue does not have (have: the queue's, want: a queue built from the request). Attributes the
// request leaves out are not compared, so a repeated CreateQueue of a name returns its URL.
func differentAttributes(have, want sqsMap, asked map[string]string) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(asked)) {
		if have[name] != want[name] {
			out = append(out, name)
		}
	}
	return out
}

// settable are the standard-queue attributes CreateQueue and SetQueueAttributes accept; the
// integer ones carry their range.
var sqsIntAttrs = map[string][2]int{
	"VisibilityTimeout":             {0, sqsMaxVisibility},
	"DelaySeconds":                  {0, sqsMaxDelay},
	"MessageRetentionPeriod":        {sqsMinRetention, sqsMaxRetention},
	"MaximumMessageSize":            {sqsMinMaxSize, sqsDefaultMaxSize},
	"ReceiveMessageWaitTimeSeconds": {0, sqsMaxWait},
}

var sqsStoredAttrs = map[string]bool{
	"Policy": true, "RedriveAllowPolicy": true, "KmsMasterKeyId": true, "KmsDataKeyReusePeriodSeconds": true, "SqsManagedSseEnabled": true,
}

// applyAttributes validates and sets queue attributes, all or none.
func (m *sqsModel) applyAttributes(q *sqsQueue, attrs map[string]string) *apiError {
	c := *q
	c.extra = maps.Clone(q.extra)
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		v := attrs[name]
		if r, ok := sqsIntAttrs[name]; ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < r[0] || n > r[1] {
				return sqsErr("InvalidAttributeValue", "InvalidAttributeValue", http.StatusBadRequest, "Invalid value for the parameter "+name+".")
			}
			setIntAttr(&c, name, n)
			continue
		}
		switch {
		case name == "RedrivePolicy":
			rp, err := m.parseRedrive(q, v)
			if err != nil {
				return err
			}
			c.redrive = rp
		case name == "FifoQueue" || name == "ContentBasedDeduplication":
			if v == "true" {
				return sqsErr("UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", http.StatusBadRequest, "FIFO queues are not simulated by awssim.")
			}
		case sqsStoredAttrs[name]:
			c.extra[name] = v
		default:
			return sqsErr("InvalidAttributeName", "InvalidAttributeName", http.StatusBadRequest, "Unknown Attribute "+name+".")
		}
	}
	*q = c
	return nil
}

func setIntAttr(q *sqsQueue, name string, n int) {
	switch name {
	case "VisibilityTimeout":
		q.visibility = n
	case "DelaySeconds":
		q.delay = n
	case "MessageRetentionPeriod":
		q.retention = n
	case "MaximumMessageSize":
		q.maxSize = n
	case "ReceiveMessageWaitTimeSeconds":
		q.receiveWait = n
	}
}

// parseRedrive reads a RedrivePolicy; "" removes it. The dead-letter queue must exist.
func (m *sqsModel) parseRedrive(q *sqsQueue, v string) (*sqsRedrive, *apiError) {
	if v == "" {
		return nil, nil
	}
	invalid := func(reason string) *apiError {
		return sqsInvalidParam(fmt.Sprintf("Value %s for parameter RedrivePolicy is invalid. Reason: %s", v, reason))
	}
	var raw struct {
		DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return nil, invalid("Invalid JSON in the redrive policy.")
	}
	// AWS accepts maxReceiveCount as a number or a numeric string.
	n, err := strconv.Atoi(strings.Trim(string(raw.MaxReceiveCount), `"`))
	if err != nil || n < 1 || n > sqsMaxReceiveCountMax {
		return nil, invalid(fmt.Sprintf("Invalid value for maxReceiveCount: %s, valid values are from 1 to %d both inclusive.", raw.MaxReceiveCount, sqsMaxReceiveCountMax))
	}
	if raw.DeadLetterTargetArn == "" {
		return nil, invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
	}
	if dlq := m.byARN(raw.DeadLetterTargetArn); dlq == nil || dlq.arn == q.arn {
		return nil, invalid("Dead letter target does not exist.")
	}
	return &sqsRedrive{DeadLetterTargetArn: raw.DeadLetterTargetArn, MaxReceiveCount: n}, nil
}

type getQueueURLIn struct {
	QueueName              string
	QueueOwnerAWSAccountID string `json:"QueueOwnerAWSAccountId"`
}

func (m *sqsModel) getQueueURL(in *getQueueURLIn) (any, *apiError) {
	if in.QueueName == "" {
		return nil, sqsMissingParam("QueueName")
	}
	q := m.queues[in.QueueName]
	if q == nil || (in.QueueOwnerAWSAccountID != "" && in.QueueOwnerAWSAccountID != m.s.opts.AccountID) {
		return nil, queueDoesNotExist()
	}
	return &queueURLOut{QueueURL: m.queueURL(q)}, nil
}

type queueIn struct{ QueueUrl string } //nolint:revive // the wire name

type getQueueAttributesIn struct {
	QueueUrl       string //nolint:revive // the wire name
	AttributeNames []string
}

type attributesOut struct {
	Attributes sqsMap `json:"Attributes,omitempty" xml:"Attribute,omitempty"`
}

// sqsReadableAttrs are the attribute names GetQueueAttributes knows, besides the settable ones.
var sqsReadableAttrs = []string{
	"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessagesNotVisible",
	"CreatedTimestamp", "LastModifiedTimestamp", "QueueArn",
}

func (m *sqsModel) getQueueAttributes(in *getQueueAttributesIn) (any, *apiError) {
	q, err := m.byURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	now := m.s.now()
	m.expire(q, now)
	all := m.attributes(q, now)
	out := sqsMap{}
	for _, name := range in.AttributeNames {
		if name == "All" {
			maps.Copy(out, all)
			continue
		}
		if !slices.Contains(sqsReadableAttrs, name) && !sqsStoredAttrs[name] && name != "RedrivePolicy" && !hasKey(sqsIntAttrs, name) {
			return nil, sqsErr("InvalidAttributeName", "InvalidAttributeName", http.StatusBadRequest, "Unknown Attribute "+name+".")
		}
		if v, ok := all[name]; ok {
			out[name] = v
		}
	}
	return &attributesOut{Attributes: out}, nil
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

// attributes is every attribute of q at now, as strings.
func (m *sqsModel) attributes(q *sqsQueue, now time.Time) sqsMap {
	v, f, d := q.counts(now)
	out := sqsMap{
		"QueueArn":                              q.arn,
		"ApproximateNumberOfMessages":           strconv.Itoa(v),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(f),
		"ApproximateNumberOfMessagesDelayed":    strconv.Itoa(d),
		"CreatedTimestamp":                      strconv.FormatInt(q.created.Unix(), 10),
		"LastModifiedTimestamp":                 strconv.FormatInt(q.modified.Unix(), 10),
		"VisibilityTimeout":                     strconv.Itoa(q.visibility),
		"DelaySeconds":                          strconv.Itoa(q.delay),
		"MessageRetentionPeriod":                strconv.Itoa(q.retention),
		"MaximumMessageSize":                    strconv.Itoa(q.maxSize),
		"ReceiveMessageWaitTimeSeconds":         strconv.Itoa(q.receiveWait),
	}
	maps.Copy(out, q.extra)
	if q.redrive != nil {
		b, _ := json.Marshal(q.redrive)
		out["RedrivePolicy"] = string(b)
	}
	return out
}

type setQueueAttributesIn struct {
	QueueUrl   string //nolint:revive // the wire name
	Attributes map[string]string
}

func (m *sqsModel) setQueueAttributes(in *setQueueAttributesIn) (any, *apiError) {
	q, err := m.byURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := m.applyAttributes(q, in.Attributes); err != nil {
		return nil, err
	}
	q.modified = m.s.now()
	return nil, nil
}

type listQueuesIn struct {
	QueueNamePrefix string
	NextToken       string
	MaxResults      *int
}

type listQueuesOut struct {
	QueueUrls []string `json:"QueueUrls,omitempty" xml:"QueueUrl"` //nolint:revive // the wire name
	NextToken string   `json:"NextToken,omitempty" xml:"NextToken,omitempty"`
}

const pageKindQueues = "queues"

func (m *sqsModel) listQueues(in *listQueuesIn) (any, *apiError) {
	size := 1000
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 1000 {
			return nil, sqsInvalidParam("Value for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.")
		}
		size = *in.MaxResults
	}
	if in.NextToken != "" && in.MaxResults == nil {
		return nil, sqsInvalidParam("MaxResults is a mandatory parameter when you provide a value for NextToken.")
	}
	names := slices.Sorted(maps.Keys(m.queues))
	names = slices.DeleteFunc(names, func(n string) bool { return !strings.HasPrefix(n, in.QueueNamePrefix) })
	if in.NextToken != "" {
		last, err := parsePageToken(pageKindQueues, in.NextToken)
		if err != nil {
			return nil, sqsInvalidParam("Invalid NextToken value.")
		}
		i, found := slices.BinarySearch(names, last)
		if found {
			i++
		}
		names = names[i:]
	}
	out := &listQueuesOut{}
	if in.MaxResults != nil && len(names) > size {
		names = names[:size]
		out.NextToken = pageToken(pageKindQueues, names[len(names)-1])
	} else if len(names) > size {
		names = names[:size] // without MaxResults, SQS returns at most 1,000 and no token
	}
	for _, n := range names {
		out.QueueUrls = append(out.QueueUrls, m.queueURL(m.queues[n]))
	}
	return out, nil
}

func (m *sqsModel) deleteQueue(in *queueIn) (any, *apiError) {
	q, err := m.byURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	for _, msg := range q.msgs {
		m.forget(msg)
	}
	delete(m.queues, q.name)
	m.deleted[q.name] = m.s.now()
	m.notify() // long polls on it end
	return nil, nil
}

func (m *sqsModel) purgeQueue(in *queueIn) (any, *apiError) {
	q, err := m.byURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	now := m.s.now()
	if !q.lastPurge.IsZero() && now.Before(q.lastPurge.Add(sqsPurgeInterval)) {
		return nil, sqsErr("PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress", http.StatusForbidden,
			fmt.Sprintf("Only one PurgeQueue operation on %s is allowed every 60 seconds.", q.name))
	}
	q.lastPurge = now
	for _, msg := range q.msgs {
		m.forget(msg)
	}
	q.msgs = nil
	return nil, nil
}
