package awssample

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Function is a Lambda function's handler.
type Function func(ctx context.Context, ev Event) error

// Config is how the Lambda runtime treats the function.
type Config struct {
	// Timeout is the function's timeout: the sample's template sets 60 s. An invocation still
	// running then is stopped (its context ends) and counts as a function error.
	Timeout time.Duration
	// RetryDelays are the waits before the retries of an asynchronous invocation that failed:
	// Lambda's default is two retries, one minute and then two minutes later. After the last,
	// the event is dropped (the sample configures no dead-letter queue or failure destination).
	RetryDelays []time.Duration
	// MaxChain is how many invocations one chain of publishes may make before Lambda's recursive
	// loop detection drops the next: 16 since July 2023 ("drops requests after exceeding 16
	// invocations"), for SNS and SQS, with the function's default RecursiveLoop=Terminate. 0 is
	// RecursiveLoop=Allow: no limit.
	MaxChain int
	// Region and AccountID name the topics.
	Region, AccountID string
}

// DefaultConfig is the sample as its template deploys it, with Lambda's defaults.
func DefaultConfig() Config {
	return Config{
		Timeout:     60 * time.Second,
		RetryDelays: []time.Duration{time.Minute, 2 * time.Minute},
		MaxChain:    16,
		Region:      "us-east-1",
		AccountID:   "123456789012",
	}
}

// errTimeout ends an invocation that outlived the function's timeout.
var errTimeout = errors.New("Task timed out") //nolint:revive,staticcheck // Lambda's own words for it

// Stats are the runtime's counters. Calls the function makes to ECS and Auto Scaling are counted by
// awssim; the SNS publishes are counted here, since awssim has no SNS.
type Stats struct {
	// Notifications are messages published from outside (Auto Scaling's lifecycle notifications).
	Notifications int `json:"notifications"`
	// Publishes are the function's own SNS Publish calls: the sample's republish.
	Publishes int `json:"publishes"`
	// Invocations started, retries included; Retries of them were retries.
	Invocations int `json:"invocations"`
	Retries     int `json:"retries"`
	// Errors are invocations that failed, TimedOut of them by outliving the timeout.
	Errors   int `json:"errors"`
	TimedOut int `json:"timedOut"`
	// Dropped are events that failed their last retry.
	Dropped int `json:"dropped"`
	// LoopStopped are invocations recursive loop detection did not make.
	LoopStopped int `json:"loopStopped"`
	// InFlight are invocations running now, Scheduled retries waiting; MaxInFlight the most that ran at once.
	InFlight    int `json:"inFlight"`
	Scheduled   int `json:"scheduled"`
	MaxInFlight int `json:"maxInFlight"`
	// LongestChain is the most invocations one chain made.
	LongestChain int `json:"longestChain"`
	// ErrorSamples keeps the first few function errors, for the log of a run.
	ErrorSamples []string `json:"errorSamples,omitempty"`
}

const maxErrorSamples = 10

// Runtime is SNS and Lambda for one function subscribed to every topic: each Publish starts an
// asynchronous invocation at once (no delivery latency, no cold start and no concurrency limit, all
// of which would only slow the sample down).
type Runtime struct {
	clock clock.WithDelayedExecution
	fn    Function
	cfg   Config
	log   *slog.Logger
	// base is the runtime's lifetime: invocations end with it.
	base context.Context

	mu    sync.Mutex
	stats Stats
	seq   int
}

// NewRuntime returns a runtime that invokes fn until ctx ends.
func NewRuntime(ctx context.Context, clk clock.WithDelayedExecution, cfg Config, fn Function, log *slog.Logger) *Runtime {
	return &Runtime{clock: clk, fn: fn, cfg: cfg, log: log, base: ctx}
}

// chainKey carries an invocation's position in its chain of publishes, as X-Ray's trace header
// carries Lambda's lineage through the SDK's Publish call.
type chainKey struct{}

func chainOf(ctx context.Context) int {
	n, _ := ctx.Value(chainKey{}).(int)
	return n
}

// Publish is SNS Publish to topicArn: the message is delivered to the function as a new invocation.
// Called from inside an invocation it continues that invocation's chain.
func (r *Runtime) Publish(ctx context.Context, topicArn, subject, message string) (string, error) {
	chain := chainOf(ctx)
	r.mu.Lock()
	r.seq++
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", r.seq)
	if chain > 0 {
		r.stats.Publishes++
	} else {
		r.stats.Notifications++
	}
	next := chain + 1
	stopped := r.cfg.MaxChain > 0 && next > r.cfg.MaxChain
	if stopped {
		r.stats.LoopStopped++
	}
	r.mu.Unlock()
	ev := Event{Records: []Record{{EventSource: "aws:sns", Sns: Message{
		Type: "Notification", MessageID: id, TopicArn: topicArn, Subject: subject, Message: message,
		Timestamp: r.clock.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
	}}}}
	if stopped {
		r.log.Warn("Recursive loop detected: invocation dropped", "topicArn", topicArn, "invocations", chain)
		return id, nil
	}
	r.start(ev, next, 0)
	return id, nil
}

// Notify publishes a message from outside to the topic called name.
func (r *Runtime) Notify(name, subject, message string) (string, error) {
	return r.Publish(context.WithoutCancel(r.base), TopicArn(r.cfg.Region, r.cfg.AccountID, name), subject, message)
}

// start runs one invocation of ev, the chain-th of its chain, attempt 0 being the first try.
func (r *Runtime) start(ev Event, chain, attempt int) {
	r.mu.Lock()
	r.stats.Invocations++
	if attempt > 0 {
		r.stats.Retries++
	}
	r.stats.InFlight++
	r.stats.MaxInFlight = max(r.stats.MaxInFlight, r.stats.InFlight)
	r.stats.LongestChain = max(r.stats.LongestChain, chain)
	r.mu.Unlock()
	go r.run(ev, chain, attempt)
}

func (r *Runtime) run(ev Event, chain, attempt int) {
	ctx, cancel := context.WithCancelCause(context.WithValue(r.base, chainKey{}, chain))
	timer := r.clock.AfterFunc(r.cfg.Timeout, func() { cancel(errTimeout) })
	err := r.fn(ctx, ev)
	timer.Stop()
	if errors.Is(context.Cause(ctx), errTimeout) {
		// Lambda stopped it at the timeout, whatever it was about to return.
		err = errTimeout
	}
	cancel(nil)

	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.InFlight--
	if err == nil || r.base.Err() != nil {
		return
	}
	r.stats.Errors++
	if errors.Is(err, errTimeout) {
		r.stats.TimedOut++
	}
	if len(r.stats.ErrorSamples) < maxErrorSamples {
		r.stats.ErrorSamples = append(r.stats.ErrorSamples, err.Error())
	}
	if attempt >= len(r.cfg.RetryDelays) {
		r.stats.Dropped++
		r.log.Warn("Event dropped after its retries", "messageID", ev.Records[0].Sns.MessageID, "error", err.Error())
		return
	}
	r.stats.Scheduled++
	r.clock.AfterFunc(r.cfg.RetryDelays[attempt], func() {
		r.mu.Lock()
		r.stats.Scheduled--
		r.mu.Unlock()
		if r.base.Err() == nil {
			r.start(ev, chain, attempt+1)
		}
	})
}

// Stats returns a copy of the counters.
func (r *Runtime) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.ErrorSamples = append([]string(nil), r.stats.ErrorSamples...)
	return s
}
