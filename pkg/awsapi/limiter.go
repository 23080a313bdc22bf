package awsapi

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/utils/clock"
)

// Limiter is the client-side request budget of one service: a token bucket (QPS, Burst) that hands
// its tokens out by urgency rather than by arrival. A request made with a context from WithUrgency
// (a lifecycle heartbeat) goes before every request without one, and among urgent requests the
// earliest deadline goes first; the rest are served in arrival order. So when the budget cannot
// cover everything at once, heartbeats are not queued behind completions, describes or tags, and
// the heartbeats that would expire first are sent first.
//
// A token is taken only when a request is about to be sent; nothing is reserved ahead, so an
// urgent request arriving late still overtakes every waiting non-urgent one.
type Limiter struct {
	clock  clock.WithDelayedExecution
	bucket *rate.Limiter

	mu      sync.Mutex
	waiting waiterQueue
	seq     uint64
	// timer is armed while requests wait, to serve them when the next token is due.
	timer clock.Timer
}

// NewLimiter returns a limiter of qps requests per second with bursts of burst (at least 1), on
// the real clock.
func NewLimiter(qps float64, burst int) *Limiter {
	return newLimiterOnClock(qps, burst, clock.RealClock{})
}

func newLimiterOnClock(qps float64, burst int, clk clock.WithDelayedExecution) *Limiter {
	// The bucket starts full, and every reading of it is made at this clock's time.
	return &Limiter{clock: clk, bucket: rate.NewLimiter(rate.Limit(qps), max(burst, 1))}
}

type urgencyKey struct{}

// WithUrgency marks the AWS calls made with ctx as urgent, to be sent before any call that is not,
// the earliest deadline first. deadline is when the request stops being useful (for a heartbeat:
// when the lifecycle action would expire).
func WithUrgency(ctx context.Context, deadline time.Time) context.Context {
	return context.WithValue(ctx, urgencyKey{}, deadline)
}

func urgency(ctx context.Context) (time.Time, bool) {
	d, ok := ctx.Value(urgencyKey{}).(time.Time)
	return d, ok
}

// Wait blocks until a request made with ctx may be sent, or ctx ends.
func (l *Limiter) Wait(ctx context.Context) error {
	if l == nil {
		return nil
	}
	deadline, urgent := urgency(ctx)
	w := &waiter{urgent: urgent, deadline: deadline, ready: make(chan struct{})}
	l.mu.Lock()
	l.seq++
	w.seq = l.seq
	heap.Push(&l.waiting, w)
	l.dispatchLocked()
	l.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.granted {
		// Served just as ctx ended: the token is spent either way, and the caller sees ctx's error
		// at its next step.
		return nil
	}
	heap.Remove(&l.waiting, w.index)
	return ctx.Err()
}

// Waiting is how many requests are waiting for a token.
func (l *Limiter) Waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waiting.Len()
}

// dispatchLocked hands the tokens available now to the waiters in order, and arms the timer for
// the next token if some still wait.
func (l *Limiter) dispatchLocked() {
	for l.waiting.Len() > 0 {
		now := l.clock.Now()
		tokens := l.bucket.TokensAt(now)
		if tokens < 1 {
			if l.timer == nil {
				wait := time.Duration((1 - tokens) / float64(l.bucket.Limit()) * float64(time.Second))
				// fire runs on a goroutine of its own: a fake clock calls timer functions while it
				// holds its own lock, which fire's reading of the time would wait for.
				l.timer = l.clock.AfterFunc(max(wait, time.Millisecond), func() { go l.fire() })
			}
			return
		}
		l.bucket.AllowN(now, 1)
		w := heap.Pop(&l.waiting).(*waiter)
		w.granted = true
		close(w.ready)
	}
}

func (l *Limiter) fire() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timer = nil
	l.dispatchLocked()
}

type waiter struct {
	urgent   bool
	deadline time.Time
	seq      uint64
	ready    chan struct{}
	granted  bool
	index    int
}

// waiterQueue orders waiters: urgent before not, then the earliest deadline, then arrival.
type waiterQueue []*waiter

func (q waiterQueue) Len() int { return len(q) }

func (q waiterQueue) Less(i, j int) bool {
	a, b := q[i], q[j]
	if a.urgent != b.urgent {
		return a.urgent
	}
	if a.urgent && !a.deadline.Equal(b.deadline) {
		return a.deadline.Before(b.deadline)
	}
	return a.seq < b.seq
}

func (q waiterQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}

func (q *waiterQueue) Push(x any) {
	w := x.(*waiter)
	w.index = len(*q)
	*q = append(*q, w)
}

func (q *waiterQueue) Pop() any {
	old := *q
	n := len(old)
	w := old[n-1]
	old[n-1] = nil
	*q = old[:n-1]
	return w
}
