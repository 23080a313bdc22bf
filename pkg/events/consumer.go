package events

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
)

// Timing of the receive loop.
const (
	// waitTimeSeconds makes every receive a long poll of the longest length SQS allows: an
	// idle queue costs three ReceiveMessage calls a minute, and a message is returned as soon
	// as it arrives.
	waitTimeSeconds = awsapi.MaxSQSWaitTimeSeconds
	// probeWaitSeconds is the wait of the first receive, and of the first after a failure, so
	// that Health says within a second whether the queue works. Not 0: the SDK leaves a zero
	// out of the request, and the queue's default wait (20 s on the template's queue) applies.
	probeWaitSeconds = 1
	// visibilityTimeoutSeconds hides a received message for this long. It is longer than
	// handleTimeout, so a message is deleted before it could reappear, and short enough that a
	// message the controller did not take (shutdown) is back within half a minute.
	visibilityTimeoutSeconds = 30
	// handleTimeout bounds handling one batch and deleting it, shutdown included.
	handleTimeout = 20 * time.Second
	// minBackoff and maxBackoff bound the wait after a failed receive, doubled per failure in
	// a row: a throttled or briefly unreachable queue is tried again within seconds, a missing
	// queue or a denied one once a minute. The SDK has already retried each call.
	minBackoff = time.Second
	maxBackoff = time.Minute
	// MaxReceivers bounds the receive loops working through a backlog at once (each holds its own
	// connection to SQS while it runs). One loop holds
	// a long poll at all times; a receive that comes back full (a backlog, as a scale-in of
	// hundreds of instances makes: each task that stops is two events) starts another, which
	// runs while its receives find messages. One loop handles about 500 messages a second
	// against a fast endpoint; eight keep a thousand drains' events within a second or two.
	MaxReceivers = 8
	// helperWaitSeconds is the wait of a helper loop's receives: short, so that a helper ends
	// soon after the backlog does.
	helperWaitSeconds = 1
)

// Deps are the consumer's collaborators.
type Deps struct {
	// SQS is the client of the queue (awsapi.NewSQSClient).
	SQS awsapi.SQS
	// Sink receives the hints.
	Sink Sink
	// Metrics, when set, count the messages and queue errors (metrics.NewEventMetrics).
	Metrics *metrics.EventMetrics
	// Clock times backoffs and lag; nil means the real clock.
	Clock clock.Clock
}

// Health is the state of the event queue as the controller shows it.
type Health struct {
	QueueURL string
	// LastReceive is when a ReceiveMessage last succeeded (with or without messages); zero
	// before the first. While the queue works it is never older than one long poll.
	LastReceive time.Time
	// LastHandled is when an event was last given to the sink, LastEventTime that event's own
	// timestamp, and Lag = LastHandled - LastEventTime: the delivery delay of the fast path.
	// (now - LastEventTime grows while no event happens, so it says "idle", not "late".)
	LastHandled   time.Time
	LastEventTime time.Time
	Lag           time.Duration
	// Err is the error of the last ReceiveMessage while receives fail, nil once one succeeds;
	// FailingSince is when the failures began. While Err is set the controller learns of
	// everything by polling only.
	Err          error
	FailingSince time.Time
}

// Receiving reports whether the last receive succeeded.
func (h Health) Receiving() bool { return h.Err == nil && !h.LastReceive.IsZero() }

// Consumer receives the queue's messages and hands their hints to the sink. Build it with New
// and run it with Run.
type Consumer struct {
	queueURL string
	sqs      awsapi.SQS
	sink     Sink
	metrics  *metrics.EventMetrics
	clock    clock.Clock

	// Owned by the first receive loop, which always runs; helper loops only count their errors.
	failures       int    // receives failed in a row
	receiveErrCode string // code of the last receive failure logged, "" while receives work

	// receivers is how many receive loops run (MaxReceivers at most).
	receivers atomic.Int32

	mu            sync.Mutex
	health        Health
	seen          *seenIDs // guarded by mu
	deleteErrCode string   // code of the last delete failure logged, "" while deletes work; guarded by mu
}

// New checks cfg and returns a consumer of its queue.
func New(cfg Config, deps Deps) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, errors.New("no event queue configured")
	}
	if deps.SQS == nil || deps.Sink == nil {
		return nil, errors.New("events.New needs an SQS client and a sink")
	}
	clk := deps.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Consumer{
		queueURL: cfg.QueueURL, sqs: deps.SQS, sink: deps.Sink, metrics: deps.Metrics, clock: clk,
		seen: newSeenIDs(dedupWindow), health: Health{QueueURL: cfg.QueueURL},
	}, nil
}

// Health returns the queue's state now. Safe to call from any goroutine.
func (c *Consumer) Health() Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.health
}

// Run receives and handles messages until ctx ends, then finishes the batches in hand and
// returns. It never gives up on errors: it backs off and tries again.
func (c *Consumer) Run(ctx context.Context) {
	log := logr.FromContextOrDiscard(ctx).WithValues("queueURL", c.queueURL)
	log.Info("Consuming the event queue", "waitSeconds", waitTimeSeconds)
	var helpers sync.WaitGroup
	c.receivers.Store(1)
	c.receiveLoop(ctx, log, &helpers)
	helpers.Wait()
	log.Info("Stopped consuming the event queue")
}

// receiveLoop is the first receive loop: a long poll at all times, backing off after failures.
// A full batch starts a helper loop (helperLoop) while fewer than MaxReceivers run.
func (c *Consumer) receiveLoop(ctx context.Context, log logr.Logger, helpers *sync.WaitGroup) {
	for ctx.Err() == nil {
		wait := int32(waitTimeSeconds)
		if c.failures > 0 || c.Health().LastReceive.IsZero() {
			wait = probeWaitSeconds
		}
		out, err := c.receive(ctx, wait)
		if err != nil {
			if ctx.Err() != nil {
				break // shutdown abandoned the long poll; what it held reappears
			}
			c.receiveFailed(log, err)
			if !c.sleep(ctx, c.backoff()) {
				break
			}
			continue
		}
		c.receiveSucceeded(log)
		c.startHelper(ctx, log, helpers, len(out.Messages))
		if len(out.Messages) > 0 {
			c.handle(ctx, log, out.Messages)
		}
	}
}

// receive is one ReceiveMessage of a full batch, waiting up to wait seconds for messages.
func (c *Consumer) receive(ctx context.Context, wait int32) (*sqs.ReceiveMessageOutput, error) {
	return c.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(c.queueURL),
		MaxNumberOfMessages: awsapi.MaxSQSBatch,
		WaitTimeSeconds:     wait,
		VisibilityTimeout:   visibilityTimeoutSeconds,
	})
}

// startHelper starts a helper loop after a full receive, while fewer than MaxReceivers run.
func (c *Consumer) startHelper(ctx context.Context, log logr.Logger, helpers *sync.WaitGroup, received int) {
	if received < awsapi.MaxSQSBatch {
		return
	}
	for {
		n := c.receivers.Load()
		if n >= MaxReceivers {
			return
		}
		if c.receivers.CompareAndSwap(n, n+1) {
			break
		}
	}
	helpers.Go(func() {
		defer c.receivers.Add(-1)
		c.helperLoop(ctx, log, helpers)
	})
}

// helperLoop works through a backlog beside the first loop: it receives with a short wait while
// its receives find messages, and ends at the first empty or failed receive (the first loop
// owns the queue's health and the backoff).
func (c *Consumer) helperLoop(ctx context.Context, log logr.Logger, helpers *sync.WaitGroup) {
	for ctx.Err() == nil {
		out, err := c.receive(ctx, helperWaitSeconds)
		if err != nil {
			if ctx.Err() == nil {
				c.countQueueError(metrics.QueueOpReceiveMessage, queueErrorCode(err))
			}
			return
		}
		if len(out.Messages) == 0 {
			return
		}
		c.startHelper(ctx, log, helpers, len(out.Messages))
		c.handle(ctx, log, out.Messages)
	}
}

// handle hands every message's hint to the sink and deletes the messages dealt with. It runs
// to the end even when ctx is cancelled meanwhile (bounded by handleTimeout), so that a
// shutdown does not leave handled messages to be received again.
func (c *Consumer) handle(ctx context.Context, log logr.Logger, msgs []types.Message) {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), handleTimeout)
	defer cancel()
	var done []types.DeleteMessageBatchRequestEntry
	for i, m := range msgs {
		if c.handleOne(hctx, log.WithValues("messageId", aws.ToString(m.MessageId)), aws.ToString(m.Body)) {
			done = append(done, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		}
	}
	c.delete(hctx, log, done)
}

// handleOne deals with one message and reports whether it may be deleted.
func (c *Consumer) handleOne(ctx context.Context, log logr.Logger, body string) bool {
	p := parse([]byte(body))
	if p.hint == nil {
		c.countReceived(p.source, p.typ, p.result)
		log.Info("Deleting message without an event", "result", p.result, "reason", p.reason, "body", bodyForLog(body))
		return true
	}
	ev := p.hint.event()
	key := string(ev.Via) + "/" + ev.ID
	// The key is taken before the hint is delivered, so that a copy in a batch another receive loop
	// handles at the same moment is dropped; it is given back if the sink refuses the hint.
	c.mu.Lock()
	seen := c.seen.has(key)
	if !seen {
		c.seen.add(key)
	}
	c.mu.Unlock()
	if seen {
		c.countReceived(p.source, p.typ, metrics.EventResultDuplicate)
		log.V(1).Info("Deleting a copy of an event already handled", "eventId", ev.ID, "type", p.typ)
		return true
	}
	if err := p.hint.deliver(ctx, c.sink); err != nil {
		c.mu.Lock()
		c.seen.remove(key)
		c.mu.Unlock()
		// Not counted: the message comes back and is counted when it is dealt with.
		log.Info("Leaving event on the queue", "why", "the controller did not take it", "eventId", ev.ID, "type", p.typ, "error", err.Error())
		return false
	}
	now := c.clock.Now()
	lag := max(now.Sub(ev.Time), 0) // event times have second resolution, and clocks differ
	c.countReceived(p.source, p.typ, metrics.EventResultHandled)
	if c.metrics != nil {
		c.metrics.LagSeconds.Observe(lag.Seconds())
	}
	c.mu.Lock()
	c.health.LastHandled, c.health.LastEventTime, c.health.Lag = now, ev.Time, lag
	c.mu.Unlock()
	log.V(1).Info("Handled event", "eventId", ev.ID, "type", p.typ, "lag", lag)
	return true
}

// delete deletes the messages dealt with, in one call (a receive returns at most as many as one
// DeleteMessageBatch takes). A message that could not be deleted is received again and then
// dropped as a duplicate.
func (c *Consumer) delete(ctx context.Context, log logr.Logger, entries []types.DeleteMessageBatchRequestEntry) {
	if len(entries) == 0 {
		return
	}
	out, err := c.sqs.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(c.queueURL), Entries: entries})
	var failed []error
	if err != nil {
		failed = append(failed, err)
		c.countQueueError(metrics.QueueOpDeleteMessageBatch, queueErrorCode(err))
	} else {
		for _, f := range out.Failed {
			code := codeLabel(aws.ToString(f.Code), false)
			c.countQueueError(metrics.QueueOpDeleteMessageBatch, code)
			failed = append(failed, &entryError{code: aws.ToString(f.Code), message: aws.ToString(f.Message)})
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(failed) == 0 {
		if c.deleteErrCode != "" {
			log.Info("Deleting event messages works again")
			c.deleteErrCode = ""
		}
		return
	}
	err = errors.Join(failed...)
	if code := queueErrorCode(failed[0]); code != c.deleteErrCode {
		log.Error(err, "Cannot delete event messages", "next", "they are received again and dropped as duplicates", "messages", len(failed))
		c.deleteErrCode = code
	}
}

func (c *Consumer) receiveFailed(log logr.Logger, err error) {
	c.failures++
	code := queueErrorCode(err)
	c.countQueueError(metrics.QueueOpReceiveMessage, code)
	now := c.clock.Now()
	c.mu.Lock()
	if c.health.Err == nil {
		c.health.FailingSince = now
	}
	c.health.Err = err
	c.mu.Unlock()
	if code != c.receiveErrCode {
		log.Error(err, "Cannot receive from the event queue", "next", "polling alone finds terminating instances until it works again",
			"code", code, "hint", queueErrorHint(code))
		c.receiveErrCode = code
	}
}

func (c *Consumer) receiveSucceeded(log logr.Logger) {
	now := c.clock.Now()
	c.failures = 0
	c.mu.Lock()
	failingSince := c.health.FailingSince
	c.health.LastReceive, c.health.Err, c.health.FailingSince = now, nil, time.Time{}
	c.mu.Unlock()
	if c.metrics != nil {
		c.metrics.LastReceiveSuccess.Set(float64(now.UnixNano()) / 1e9)
	}
	if c.receiveErrCode != "" {
		log.Info("Receiving from the event queue again", "failedFor", now.Sub(failingSince))
		c.receiveErrCode = ""
	}
}

// backoff is the wait after the latest failure in a row.
func (c *Consumer) backoff() time.Duration {
	d := minBackoff
	for i := 1; i < c.failures && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// sleep waits d on the clock; false if ctx ended first.
func (c *Consumer) sleep(ctx context.Context, d time.Duration) bool {
	t := c.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

func (c *Consumer) countReceived(source, typ, result string) {
	if c.metrics != nil {
		c.metrics.Received.WithLabelValues(source, typ, result).Inc()
	}
}

func (c *Consumer) countQueueError(op, code string) {
	if c.metrics != nil {
		c.metrics.QueueErrors.WithLabelValues(op, code).Inc()
	}
}
