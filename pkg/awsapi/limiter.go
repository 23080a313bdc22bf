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
// its tokens out by what a request is worth rather than by arrival. A request made with a context
// from WithUrgency (a lifecycle heartbeat) goes before every other, and among urgent requests the
// earliest deadline goes first. A request made with a context from WithBatch (one call answering
// for many instances: a describe of up to 100 container instances, a resync's listing) goes before
// the requests for one instance (a ListTasks, a completion), but takes at most every other token
// while they wait, so neither kind starves the other. Within a kind, arrival order. So when the
// budget cannot cover everything at once, heartbeats are not queued behind completions, describes
// or tags, the heartbeats that would expire first are sent first, and the read that tells a hundred
// instances their tasks stopped is not queued behind a backlog of per-instance calls.
//
// A token is taken only when a request is about to be sent; nothing is reserved ahead, so an
// urgent request arriving late still overtakes every waiting non-urgent one.
type Limiter struct {
	clock  clock.WithDelayedExecution
	bucket *rate.Limiter

	mu      sync.Mutex
	waiting waiters
	seq     uint64
	// lastBatch: the last token went to a batched request, so the next goes to a single one if any
	// waits.
	lastBatch bool
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

type batchKey struct{}

// WithBatch marks the AWS calls made with ctx as batched: each answers for many instances at once,
// so it goes before calls for a single instance (see Limiter).
func WithBatch(ctx context.Context) context.Context {
	return context.WithValue(ctx, batchKey{}, true)
}

// class is what a waiting request is worth to the limiter: urgent, then batched, then the rest.
type class int

const (
	classSingle class = iota
	classBatch
	classUrgent
)

func classOf(ctx context.Context) (class, time.Time) {
	if d, ok := urgency(ctx); ok {
		return classUrgent, d
	}
	if b, _ := ctx.Value(batchKey{}).(bool); b {
		return classBatch, time.Time{}
	}
	return classSingle, time.Time{}
}

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
	c, deadline := classOf(ctx)
	w := &waiter{class: c, deadline: deadline, ready: make(chan struct{})}
	l.mu.Lock()
	l.seq++
	w.seq = l.seq
	l.waiting.push(w)
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
	l.waiting.remove(w)
	return ctx.Err()
}

// Waiting is how many requests are waiting for a token.
func (l *Limiter) Waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waiting.len()
}

// dispatchLocked hands the tokens available now to the waiters in order, and arms the timer for
// the next token if some still wait.
func (l *Limiter) dispatchLocked() {
	for l.waiting.len() > 0 {
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
		w := l.waiting.pop(l.lastBatch)
		if w.class != classUrgent {
			// Urgent requests take tokens outside the alternation, which they must not reset.
			l.lastBatch = w.class == classBatch
		}
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
	class    class
	deadline time.Time
	seq      uint64
	ready    chan struct{}
	granted  bool
	index    int
}

// waiters are the requests waiting for a token: one heap per class.
type waiters struct {
	urgent, batch, single waiterHeap
}

func (ws *waiters) heapOf(c class) *waiterHeap {
	switch c {
	case classUrgent:
		return &ws.urgent
	case classBatch:
		return &ws.batch
	default:
		return &ws.single
	}
}

func (ws *waiters) len() int { return ws.urgent.Len() + ws.batch.Len() + ws.single.Len() }

func (ws *waiters) push(w *waiter) { heap.Push(ws.heapOf(w.class), w) }

func (ws *waiters) remove(w *waiter) { heap.Remove(ws.heapOf(w.class), w.index) }

// pop takes the next waiter to serve: an urgent one, else a batched one unless the last token went
// to a batched request and a single one waits, else a single one.
func (ws *waiters) pop(lastBatch bool) *waiter {
	h := &ws.single
	switch {
	case ws.urgent.Len() > 0:
		h = &ws.urgent
	case ws.batch.Len() > 0 && (!lastBatch || ws.single.Len() == 0):
		h = &ws.batch
	}
	return heap.Pop(h).(*waiter)
}

// waiterHeap orders the waiters of one class: the earliest deadline (urgent ones), then arrival.
type waiterHeap []*waiter

func (q waiterHeap) Len() int { return len(q) }

func (q waiterHeap) Less(i, j int) bool {
	a, b := q[i], q[j]
	if !a.deadline.Equal(b.deadline) {
		return a.deadline.Before(b.deadline)
	}
	return a.seq < b.seq
}

func (q waiterHeap) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}

func (q *waiterHeap) Push(x any) {
	w := x.(*waiter)
	w.index = len(*q)
	*q = append(*q, w)
}

func (q *waiterHeap) Pop() any {
	old := *q
	n := len(old)
	w := old[n-1]
	old[n-1] = nil
	*q = old[:n-1]
	return w
}
