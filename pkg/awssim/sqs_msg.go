package awssim

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The SQS message operations, and the long poll.

type sendMessageIn struct {
	QueueUrl          string //nolint:revive // the wire name
	MessageBody       *string
	DelaySeconds      *int
	MessageAttributes map[string]sqsAttrValue
	MessageGroupID    string `json:"MessageGroupId"`
}

type sendMessageOut struct {
	MD5OfMessageBody       string `json:"MD5OfMessageBody" xml:"MD5OfMessageBody"`
	MD5OfMessageAttributes string `json:"MD5OfMessageAttributes,omitempty" xml:"MD5OfMessageAttributes,omitempty"`
	MessageID              string `json:"MessageId" xml:"MessageId"`
}

// send validates and enqueues one message, for SendMessage and each SendMessageBatch entry.
func (m *sqsModel) send(q *sqsQueue, body *string, delay *int, attrs map[string]sqsAttrValue) (*sqsMessage, *apiError) {
	if body == nil {
		return nil, sqsMissingParam("MessageBody")
	}
	if *body == "" {
		return nil, sqsInvalidParam("The request must contain a non-empty message body.") // unverified message
	}
	if !utf8.ValidString(*body) {
		return nil, sqsErr("InvalidMessageContents", "InvalidMessageContents", http.StatusBadRequest, "Invalid binary character in the message body.")
	}
	d := -1
	if delay != nil {
		if *delay < 0 || *delay > sqsMaxDelay {
			return nil, sqsInvalidParam(fmt.Sprintf("Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= %d.", *delay, sqsMaxDelay))
		}
		d = *delay
	}
	size := len(*body)
	for n, a := range attrs {
		if a.DataType == "" {
			return nil, sqsInvalidParam(fmt.Sprintf("The message attribute '%s' must contain non-empty message attribute type.", n))
		}
		if a.StringValue == "" && len(a.BinaryValue) == 0 {
			return nil, sqsInvalidParam(fmt.Sprintf("The message attribute '%s' must contain non-empty message attribute value.", n))
		}
		size += len(n) + len(a.DataType) + len(a.StringValue) + len(a.BinaryValue)
	}
	if size > q.maxSize {
		return nil, sqsInvalidParam(fmt.Sprintf("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", q.maxSize))
	}
	return m.enqueue(q, *body, maps.Clone(attrs), d, sqsDefaultSenderID, m.s.now()), nil
}

func (m *sqsModel) sendMessage(in *sendMessageIn) (any, *apiError) {
	q, err := m.byURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	msg, err := m.send(q, in.MessageBody, in.DelaySeconds, in.MessageAttributes)
	if err != nil {
		return nil, err
	}
	return &sendMessageOut{MD5OfMessageBody: msg.bodyMD5, MD5OfMessageAttributes: attrsMD5(msg.attrs), MessageID: msg.id}, nil
}

type sendBatchIn struct {
	QueueUrl string //nolint:revive // the wire name
	Entries  []struct {
		ID                string `json:"Id"`
		MessageBody       *string
		DelaySeconds      *int
		MessageAttributes map[string]sqsAttrValue
	}
}

type batchError struct {
	ID          string `json:"Id" xml:"Id"`
	SenderFault bool   `json:"SenderFault" xml:"SenderFault"`
	Code        string `json:"Code" xml:"Code"`
	Message     string `json:"Message,omitempty" xml:"Message,omitempty"`
}

type sendBatchEntryOut struct {
	ID string `json:"Id" xml:"Id"`
	sendMessageOut
}

type sendBatchOut struct {
	Successful []sendBatchEntryOut `json:"Successful" xml:"SendMessageBatchResultEntry"`
	Failed     []batchError        `json:"Failed" xml:"BatchResultErrorEntry"`
}

// batchQueue finds a batch request's queue and checks its n entries, whose Ids id returns.
func batchQueue(m *sqsModel, queueURL string, n int, id func(int) string) (*sqsQueue, *apiError) {
	q, err := m.byURL(queueURL)
	if err != nil {
		return nil, err
	}
	ids := make([]string, n)
	for i := range n {
		ids[i] = id(i)
	}
	return q, checkBatch(ids)
}

// checkBatch applies the rules every batch request shares: 1 to 10 entries with distinct, valid Ids.
func checkBatch(ids []string) *apiError {
	switch {
	case len(ids) == 0:
		return sqsErr("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", http.StatusBadRequest, "There should be at least one SendMessageBatchRequestEntry in the request.")
	case len(ids) > sqsMaxBatch:
		return sqsErr("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", http.StatusBadRequest, fmt.Sprintf("Maximum number of entries per request are %d. You have sent %d.", sqsMaxBatch, len(ids)))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if !batchIDPattern.MatchString(id) {
			return sqsErr("InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", http.StatusBadRequest, "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
		}
		if seen[id] {
			return sqsErr("BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", http.StatusBadRequest, "Id "+id+" repeated.")
		}
		seen[id] = true
	}
	return nil
}

func (m *sqsModel) sendMessageBatch(in *sendBatchIn) (any, *apiError) {
	q, err := batchQueue(m, in.QueueUrl, len(in.Entries), func(i int) string { return in.Entries[i].ID })
	if err != nil {
		return nil, err
	}
	total := 0
	for _, e := range in.Entries {
		if e.MessageBody != nil {
			total += len(*e.MessageBody)
		}
	}
	if total > sqsDefaultMaxSize {
		// "the maximum total payload size (the sum of the individual lengths of all of the batched
		// messages) [is] 1 MiB" (SendMessageBatch, API reference).
		return nil, sqsErr("BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", http.StatusBadRequest,
			fmt.Sprintf("Batch requests cannot be longer than %d bytes. You have sent %d bytes.", sqsDefaultMaxSize, total))
	}
	out := &sendBatchOut{Successful: []sendBatchEntryOut{}, Failed: []batchError{}}
	for _, e := range in.Entries {
		msg, err := m.send(q, e.MessageBody, e.DelaySeconds, e.MessageAttributes)
		if err != nil {
			out.Failed = append(out.Failed, batchError{ID: e.ID, SenderFault: true, Code: err.QueryCodeOrCode(), Message: err.Message})
			continue
		}
		out.Successful = append(out.Successful, sendBatchEntryOut{ID: e.ID, sendMessageOut: sendMessageOut{MD5OfMessageBody: msg.bodyMD5, MD5OfMessageAttributes: attrsMD5(msg.attrs), MessageID: msg.id}})
	}
	return out, nil
}

type receiveMessageIn struct {
	QueueUrl                    string //nolint:revive // the wire name
	MaxNumberOfMessages         *int
	VisibilityTimeout           *int
	WaitTimeSeconds             *int
	AttributeNames              []string
	MessageSystemAttributeNames []string
	MessageAttributeNames       []string
}

type messageOut struct {
	MessageID              string     `json:"MessageId" xml:"MessageId"`
	ReceiptHandle          string     `json:"ReceiptHandle" xml:"ReceiptHandle"`
	MD5OfBody              string     `json:"MD5OfBody" xml:"MD5OfBody"`
	Body                   string     `json:"Body" xml:"Body"`
	Attributes             sqsMap     `json:"Attributes,omitempty" xml:"Attribute,omitempty"`
	MD5OfMessageAttributes string     `json:"MD5OfMessageAttributes,omitempty" xml:"MD5OfMessageAttributes,omitempty"`
	MessageAttributes      sqsAttrMap `json:"MessageAttributes,omitempty" xml:"MessageAttribute,omitempty"`
}

type receiveMessageOut struct {
	Messages []messageOut `json:"Messages,omitempty" xml:"Message"`
}

// sqsPoll is a ReceiveMessage that found nothing and may wait until deadline: the front end
// calls waitPoll, outside the lock.
type sqsPoll struct {
	in       *receiveMessageIn
	queue    *sqsQueue
	maxN     int
	vis      int
	deadline time.Time
}

func (m *sqsModel) receiveMessage(in *receiveMessageIn) (any, *apiError) {
	q, err := m.byURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	p := &sqsPoll{in: in, queue: q, maxN: 1, vis: q.visibility}
	if v := in.MaxNumberOfMessages; v != nil {
		if *v < 1 || *v > sqsMaxBatch {
			return nil, sqsInvalidParam(fmt.Sprintf("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", *v))
		}
		p.maxN = *v
	}
	if v := in.VisibilityTimeout; v != nil {
		if *v < 0 || *v > sqsMaxVisibility {
			return nil, sqsInvalidParam(fmt.Sprintf("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.", *v))
		}
		p.vis = *v
	}
	wait := q.receiveWait
	if v := in.WaitTimeSeconds; v != nil {
		if *v < 0 || *v > sqsMaxWait {
			return nil, sqsInvalidParam(fmt.Sprintf("Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", *v))
		}
		wait = *v
	}
	now := m.s.now()
	p.deadline = now.Add(time.Duration(wait) * time.Second)
	if out := m.poll(p, now); out != nil || wait == 0 {
		return m.render(p, out), nil
	}
	return p, nil
}

// poll receives for p at now; nil when nothing could be received.
func (m *sqsModel) poll(p *sqsPoll, now time.Time) []*sqsMessage {
	if m.queues[p.queue.name] != p.queue {
		return nil // deleted while polling
	}
	return m.receive(p.queue, p.maxN, p.vis, now)
}

// waitPoll runs a long poll: it looks again whenever the model changes or the clock steps, until a
// message arrives, the deadline passes on the simulator's clock, or the client goes away.
func (s *Sim) waitPoll(ctx context.Context, p *sqsPoll) any {
	for {
		s.mu.Lock()
		now := s.now()
		if out := s.sqs.poll(p, now); out != nil || !now.Before(p.deadline) {
			res := s.sqs.render(p, out)
			s.mu.Unlock()
			return res
		}
		wake := s.sqs.wake
		s.sqs.waiting++
		timer := s.opts.Clock.NewTimer(p.deadline.Sub(now))
		s.mu.Unlock()
		select {
		case <-wake:
		case <-timer.C():
		case <-ctx.Done():
		}
		timer.Stop()
		s.mu.Lock()
		s.sqs.waiting--
		s.mu.Unlock()
		if ctx.Err() != nil {
			return &receiveMessageOut{}
		}
	}
}

// render builds ReceiveMessage's answer: system attributes asked for by AttributeNames or
// MessageSystemAttributeNames, message attributes by MessageAttributeNames.
func (m *sqsModel) render(p *sqsPoll, msgs []*sqsMessage) *receiveMessageOut {
	out := &receiveMessageOut{}
	sys := append(slices.Clone(p.in.AttributeNames), p.in.MessageSystemAttributeNames...)
	for _, msg := range msgs {
		mo := messageOut{MessageID: msg.id, ReceiptHandle: msg.handle, MD5OfBody: msg.bodyMD5, Body: msg.body}
		mo.Attributes = systemAttributes(msg, sys)
		mo.MessageAttributes = selectAttrs(msg.attrs, p.in.MessageAttributeNames)
		mo.MD5OfMessageAttributes = attrsMD5(mo.MessageAttributes)
		out.Messages = append(out.Messages, mo)
	}
	return out
}

func systemAttributes(msg *sqsMessage, names []string) sqsMap {
	if len(names) == 0 {
		return nil
	}
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	all := sqsMap{
		"SenderId":                         msg.sender,
		"SentTimestamp":                    ms(msg.sent),
		"ApproximateReceiveCount":          strconv.Itoa(msg.receives),
		"ApproximateFirstReceiveTimestamp": ms(msg.firstReceive),
	}
	if msg.deadLetterFrom != "" {
		all["DeadLetterQueueSourceArn"] = msg.deadLetterFrom
	}
	out := sqsMap{}
	for _, n := range names {
		if n == "All" {
			return all
		}
		if v, ok := all[n]; ok {
			out[n] = v
		}
	}
	return out
}

// selectAttrs returns the message attributes names selects: "All", ".*", a name, or "prefix.*".
func selectAttrs(attrs map[string]sqsAttrValue, names []string) sqsAttrMap {
	out := sqsAttrMap{}
	for n, a := range attrs {
		for _, want := range names {
			if want == "All" || want == ".*" || want == n || (strings.HasSuffix(want, ".*") && strings.HasPrefix(n, strings.TrimSuffix(want, "*"))) {
				out[n] = a
				break
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

type deleteMessageIn struct {
	QueueUrl      string //nolint:revive // the wire name
	ReceiptHandle string
}

// DeleteMessage with the handle of a message already deleted succeeds, as on AWS.
func (m *sqsModel) deleteMessage(in *deleteMessageIn) (any, *apiError) {
	q, err := m.byURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if in.ReceiptHandle == "" {
		return nil, sqsMissingParam("ReceiptHandle")
	}
	msg, err := m.parseHandle(q, in.ReceiptHandle)
	if err != nil {
		return nil, err
	}
	if msg != nil {
		m.remove(q, msg)
	}
	return nil, nil
}

type deleteBatchIn struct {
	QueueUrl string //nolint:revive // the wire name
	Entries  []struct {
		ID            string `json:"Id"`
		ReceiptHandle string
	}
}

type idOut struct {
	ID string `json:"Id" xml:"Id"`
}

type deleteBatchOut struct {
	Successful []idOut      `json:"Successful" xml:"DeleteMessageBatchResultEntry"`
	Failed     []batchError `json:"Failed" xml:"BatchResultErrorEntry"`
}

func (m *sqsModel) deleteMessageBatch(in *deleteBatchIn) (any, *apiError) {
	q, err := batchQueue(m, in.QueueUrl, len(in.Entries), func(i int) string { return in.Entries[i].ID })
	if err != nil {
		return nil, err
	}
	out := &deleteBatchOut{Successful: []idOut{}, Failed: []batchError{}}
	for _, e := range in.Entries {
		msg, err := m.parseHandle(q, e.ReceiptHandle)
		if err != nil {
			out.Failed = append(out.Failed, batchError{ID: e.ID, SenderFault: true, Code: err.QueryCodeOrCode(), Message: err.Message})
			continue
		}
		if msg != nil {
			m.remove(q, msg)
		}
		out.Successful = append(out.Successful, idOut{ID: e.ID})
	}
	return out, nil
}

type changeVisibilityIn struct {
	QueueUrl          string //nolint:revive // the wire name
	ReceiptHandle     string
	VisibilityTimeout *int
}

func (m *sqsModel) changeMessageVisibility(in *changeVisibilityIn) (any, *apiError) {
	q, err := m.byURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if in.ReceiptHandle == "" {
		return nil, sqsMissingParam("ReceiptHandle")
	}
	if in.VisibilityTimeout == nil {
		return nil, sqsMissingParam("VisibilityTimeout")
	}
	v := *in.VisibilityTimeout
	if v < 0 || v > sqsMaxVisibility {
		return nil, sqsInvalidParam(fmt.Sprintf("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.", v))
	}
	msg, err := m.parseHandle(q, in.ReceiptHandle)
	if err != nil {
		return nil, err
	}
	if msg == nil {
		return nil, sqsInvalidParam(fmt.Sprintf("Value %s for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.", in.ReceiptHandle))
	}
	now := m.s.now()
	if !msg.visibleAt.After(now) {
		return nil, sqsErr("MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", http.StatusBadRequest, "The message referred to isn't in flight.")
	}
	// The new timeout counts from now, not from the receive.
	msg.visibleAt = now.Add(time.Duration(v) * time.Second)
	m.notify()
	return nil, nil
}
