package awssim

// The SQS half of the event plumbing: standard queues, their messages and how they move over time
// (delays, visibility timeouts, retention, redrive to a dead-letter queue). sqs_api.go holds the
// operations, sqs_wire.go the two wire protocols SQS answers (JSON 1.0 and Query/XML). Everything
// runs with s.mu held and on the simulator's clock; long polls wait outside the lock (see wait).

import (
	"cmp"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// Queue attribute limits and defaults (CreateQueue in the SQS API model).
const (
	sqsDefaultVisibility   = 30
	sqsMaxVisibility       = 43200
	sqsDefaultRetention    = 345600
	sqsMinRetention        = 60
	sqsMaxRetention        = 1209600
	sqsDefaultMaxSize      = 1048576
	sqsMinMaxSize          = 1024
	sqsMaxDelay            = 900
	sqsMaxWait             = 20
	sqsMaxBatch            = 10
	sqsMaxReceiveCountMax  = 1000
	sqsMaxQueueNameLen     = 80
	sqsPurgeInterval       = 60 * time.Second // one PurgeQueue per queue per 60 s
	sqsRecreateDelay       = 60 * time.Second // "wait 60 seconds after deleting a queue before creating another with the same name"
	sqsXMLNS               = "http://queue.amazonaws.com/doc/2012-11-05/"
	sqsTargetPrefix        = "AmazonSQS."
	sqsJSONMime            = "application/x-amz-json-1.0"
	sqsQueryVersion        = "2012-11-05"
	sqsDefaultSenderID     = "AIDAAWSSIMEXAMPLE0000"
	sqsAutoScalingSenderID = "AROAAWSSIMAUTOSCALING:AutoScaling-LifecycleHook"
	sqsEventsSenderID      = "AIDAAWSSIMEVENTBRIDGE"
)

type sqsModel struct {
	s       *Sim
	queues  map[string]*sqsQueue // by name
	deleted map[string]time.Time // name -> when DeleteQueue ran, for QueueDeletedRecently
	handles map[string]*sqsMessage
	// wake is closed and replaced whenever a long poll might now find a message (see notify).
	wake chan struct{}
	// baseURL is the scheme and host of the request being served ("http://127.0.0.1:4566"), so
	// that queue URLs point back at this endpoint, whatever address it listens on.
	baseURL string
	seq     int64
	waiting int // long polls waiting now

	handlers map[string]func([]byte) (any, *apiError)
}

type sqsQueue struct {
	name, arn           string
	created, modified   time.Time
	visibility          int // seconds
	delay               int
	retention           int
	maxSize             int
	receiveWait         int
	redrive             *sqsRedrive
	extra               map[string]string // attributes stored and echoed only (Policy, KmsMasterKeyId, ...)
	tags                map[string]string
	msgs                []*sqsMessage // in send order
	lastPurge           time.Time
	movedToDeadLetters  int // messages this queue redrove to its dead-letter queue
	receivedByAPI       int
	deliveredFromEvents int
}

type sqsRedrive struct {
	DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	MaxReceiveCount     int    `json:"maxReceiveCount"`
}

type sqsMessage struct {
	seq            int64
	id             string
	body, bodyMD5  string
	attrs          map[string]sqsAttrValue
	sent           time.Time // original enqueue time: retention counts from it, even in a DLQ
	visibleAt      time.Time
	firstReceive   time.Time
	receives       int
	handle         string // the latest receipt handle
	sender         string
	deadLetterFrom string // source queue ARN once redriven
	queue          *sqsQueue
}

// sqsAttrValue is a message attribute (MessageAttributeValue).
type sqsAttrValue struct {
	DataType    string `json:"DataType" xml:"DataType"`
	StringValue string `json:"StringValue,omitempty" xml:"StringValue,omitempty"`
	BinaryValue []byte `json:"BinaryValue,omitempty" xml:"BinaryValue,omitempty"`
}

func newSQSModel(s *Sim) *sqsModel {
	m := &sqsModel{s: s, queues: map[string]*sqsQueue{}, deleted: map[string]time.Time{}, handles: map[string]*sqsMessage{}, wake: make(chan struct{})}
	m.handlers = m.ops()
	return m
}

// notify wakes every long poll so it looks again. Called with s.mu held after any change that may
// make a message receivable, and on every Step (visibility timeouts and delays end on the clock).
func (m *sqsModel) notify() {
	close(m.wake)
	m.wake = make(chan struct{})
}

// queueARN is the ARN of queue name in this account and Region.
func (m *sqsModel) queueARN(name string) string {
	return fmt.Sprintf("arn:aws:sqs:%s:%s:%s", m.s.opts.Region, m.s.opts.AccountID, name)
}

func (m *sqsModel) queueURL(q *sqsQueue) string {
	return m.baseURL + "/" + m.s.opts.AccountID + "/" + q.name
}

// byURL finds the queue a QueueUrl names. Only the path counts ("/<account>/<name>"): a client may
// address this endpoint by any host name, and AWS-style URLs work too.
func (m *sqsModel) byURL(raw string) (*sqsQueue, *apiError) {
	if raw == "" {
		return nil, sqsMissingParam("QueueUrl")
	}
	path := raw
	if i := strings.Index(raw, "://"); i >= 0 {
		rest := raw[i+3:]
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			return nil, queueDoesNotExist()
		}
		path = rest[j:]
	}
	acct, name, ok := strings.Cut(strings.Trim(path, "/"), "/")
	if !ok || acct != m.s.opts.AccountID {
		return nil, queueDoesNotExist()
	}
	q := m.queues[name]
	if q == nil {
		return nil, queueDoesNotExist()
	}
	return q, nil
}

// byARN finds a queue by ARN, nil when there is none.
func (m *sqsModel) byARN(arn string) *sqsQueue {
	name := arn[strings.LastIndexByte(arn, ':')+1:]
	if q := m.queues[name]; q != nil && q.arn == arn {
		return q
	}
	return nil
}

// newID returns a version 4 UUID drawn from the event generator (see Sim.evRng).
func (m *sqsModel) newID() string { return m.s.newEventUUID() }

// enqueue adds a message to q at now. delay < 0 means the queue's default.
func (m *sqsModel) enqueue(q *sqsQueue, body string, attrs map[string]sqsAttrValue, delay int, sender string, now time.Time) *sqsMessage {
	if delay < 0 {
		delay = q.delay
	}
	m.seq++
	msg := &sqsMessage{
		seq: m.seq, id: m.newID(), body: body, bodyMD5: md5Hex([]byte(body)), attrs: attrs,
		sent: now, visibleAt: now.Add(time.Duration(delay) * time.Second), sender: sender, queue: q,
	}
	q.msgs = append(q.msgs, msg)
	m.notify()
	return msg
}

// deliver puts a message from inside AWS (EventBridge, Auto Scaling) on the queue with that ARN.
// It reports false when the queue does not exist (the sender's delivery fails).
func (m *sqsModel) deliver(arn, body, sender string, now time.Time) bool {
	q := m.byARN(arn)
	if q == nil {
		return false
	}
	m.enqueue(q, body, nil, -1, sender, now)
	q.deliveredFromEvents++
	return true
}

// expire drops messages past the queue's retention period, counted from their first enqueue.
func (m *sqsModel) expire(q *sqsQueue, now time.Time) {
	keep := time.Duration(q.retention) * time.Second
	q.msgs = slices.DeleteFunc(q.msgs, func(msg *sqsMessage) bool {
		if now.Before(msg.sent.Add(keep)) {
			return false
		}
		m.forget(msg)
		return true
	})
}

func (m *sqsModel) forget(msg *sqsMessage) {
	if msg.handle != "" {
		delete(m.handles, msg.handle)
	}
}

// receive takes up to max visible messages off q at now, hiding each for vis seconds. A message
// received maxReceiveCount times already moves to the dead-letter queue instead, as SQS does when
// a receive would exceed the count; a missing dead-letter queue leaves it where it is.
func (m *sqsModel) receive(q *sqsQueue, maxN, vis int, now time.Time) []*sqsMessage {
	m.expire(q, now)
	var out []*sqsMessage
	var moved []*sqsMessage
	for _, msg := range q.msgs {
		if len(out) == maxN {
			break
		}
		if msg.visibleAt.After(now) {
			continue
		}
		if q.redrive != nil && msg.receives >= q.redrive.MaxReceiveCount {
			if dlq := m.byARN(q.redrive.DeadLetterTargetArn); dlq != nil && dlq != q {
				moved = append(moved, msg)
				continue
			}
		}
		msg.receives++
		if msg.firstReceive.IsZero() {
			msg.firstReceive = now
		}
		m.forget(msg)
		msg.handle = m.newHandle(q, msg)
		m.handles[msg.handle] = msg
		msg.visibleAt = now.Add(time.Duration(vis) * time.Second)
		out = append(out, msg)
	}
	for _, msg := range moved {
		m.redrive(q, msg, now)
	}
	q.receivedByAPI += len(out)
	return out
}

// redrive moves msg from q to q's dead-letter queue. The message keeps its ID, body, attributes
// and original enqueue time: "the expiration of a message is always based on its original enqueue
// timestamp" (SQS developer guide, dead-letter queue retention). It also keeps its receive count,
// as moto does; AWS documents neither way.
func (m *sqsModel) redrive(q *sqsQueue, msg *sqsMessage, now time.Time) {
	dlq := m.byARN(q.redrive.DeadLetterTargetArn)
	q.msgs = slices.DeleteFunc(q.msgs, func(x *sqsMessage) bool { return x == msg })
	m.forget(msg)
	msg.handle = ""
	msg.visibleAt, msg.queue, msg.deadLetterFrom = now, dlq, q.arn
	m.seq++
	msg.seq = m.seq
	dlq.msgs = append(dlq.msgs, msg)
	q.movedToDeadLetters++
	m.s.stats.SQSMovedToDeadLetterQueue++
	m.notify()
}

// newHandle returns a fresh receipt handle naming the queue and message, so a handle of another
// queue or a garbled one can be told from the handle of a message already deleted.
func (m *sqsModel) newHandle(q *sqsQueue, msg *sqsMessage) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s\x00%s\x00%s", q.name, msg.id, m.newID()))
}

// parseHandle checks that a receipt handle is one this queue issued the shape of. It returns the
// live message it belongs to, or nil for a well-formed handle whose message is gone.
func (m *sqsModel) parseHandle(q *sqsQueue, h string) (*sqsMessage, *apiError) {
	raw, err := base64.RawURLEncoding.DecodeString(h)
	parts := strings.Split(string(raw), "\x00")
	if h == "" || err != nil || len(parts) != 3 || parts[0] != q.name {
		return nil, sqsErr("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", http.StatusNotFound,
			fmt.Sprintf("The input receipt handle \"%s\" is not a valid receipt handle.", h))
	}
	if msg := m.handles[h]; msg != nil && msg.queue == q {
		return msg, nil
	}
	return nil, nil
}

func (m *sqsModel) remove(q *sqsQueue, msg *sqsMessage) {
	q.msgs = slices.DeleteFunc(q.msgs, func(x *sqsMessage) bool { return x == msg })
	m.forget(msg)
}

// counts returns the visible, in-flight and delayed messages of q at now.
func (q *sqsQueue) counts(now time.Time) (visible, inFlight, delayed int) {
	for _, msg := range q.msgs {
		switch {
		case !msg.visibleAt.After(now):
			visible++
		case msg.receives > 0:
			inFlight++
		default:
			delayed++
		}
	}
	return visible, inFlight, delayed
}

// Message states, the label values of awssim_sqs_messages.
const (
	messageVisible  = "visible"
	messageInFlight = "in_flight"
	messageDelayed  = "delayed"
)

// countMessages feeds the awssim_sqs_messages gauge: every queue's messages by state, now.
func (m *sqsModel) countMessages() map[string]int {
	out := map[string]int{}
	now := m.s.now()
	for _, q := range m.queues {
		v, f, d := q.counts(now)
		out[messageVisible] += v
		out[messageInFlight] += f
		out[messageDelayed] += d
	}
	return out
}

// md5Hex is the lower-case hex MD5 SQS returns as MD5OfBody / MD5OfMessageBody.
func md5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// attrsMD5 is MD5OfMessageAttributes as SQS computes it: for each attribute in name order, the
// name, the data type and the value, each prefixed by its 4-byte big-endian length, with a
// transport byte (1 string, 2 binary) before the value.
func attrsMD5(attrs map[string]sqsAttrValue) string {
	if len(attrs) == 0 {
		return ""
	}
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b []byte
	put := func(v []byte) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	for _, n := range names {
		a := attrs[n]
		put([]byte(n))
		put([]byte(a.DataType))
		if strings.HasPrefix(a.DataType, "Binary") {
			b = append(b, 2)
			put(a.BinaryValue)
		} else {
			b = append(b, 1)
			put([]byte(a.StringValue))
		}
	}
	return md5Hex(b)
}

// SQSMessage is a message on a queue as the simulator's ground truth shows it (/debug/sqs).
type SQSMessage struct {
	MessageID     string    `json:"messageId"`
	Body          string    `json:"body"`
	SentAt        time.Time `json:"sentAt"`
	VisibleAt     time.Time `json:"visibleAt"`
	ReceiveCount  int       `json:"receiveCount"`
	DeadLetterSrc string    `json:"deadLetterQueueSourceArn,omitempty"`
}

// SQSQueue is one queue's ground truth.
type SQSQueue struct {
	Name                string       `json:"name"`
	Arn                 string       `json:"arn"`
	Visible             int          `json:"visible"`
	InFlight            int          `json:"inFlight"`
	Delayed             int          `json:"delayed"`
	Received            int          `json:"received"`            // messages handed out by ReceiveMessage
	DeliveredFromEvents int          `json:"deliveredFromEvents"` // messages put here by EventBridge or Auto Scaling
	MovedToDeadLetters  int          `json:"movedToDeadLetters"`
	Messages            []SQSMessage `json:"messages"`
}

// SQSQueues returns every queue and its messages, sorted by name.
func (s *Sim) SQSQueues() []SQSQueue {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]SQSQueue, 0, len(s.sqs.queues))
	for _, q := range s.sqs.queues {
		s.sqs.expire(q, now)
		v, f, d := q.counts(now)
		sq := SQSQueue{Name: q.name, Arn: q.arn, Visible: v, InFlight: f, Delayed: d, Received: q.receivedByAPI,
			DeliveredFromEvents: q.deliveredFromEvents, MovedToDeadLetters: q.movedToDeadLetters, Messages: []SQSMessage{}}
		for _, msg := range q.msgs {
			sq.Messages = append(sq.Messages, SQSMessage{MessageID: msg.id, Body: msg.body, SentAt: msg.sent, VisibleAt: msg.visibleAt, ReceiveCount: msg.receives, DeadLetterSrc: msg.deadLetterFrom})
		}
		out = append(out, sq)
	}
	slices.SortFunc(out, func(a, b SQSQueue) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
