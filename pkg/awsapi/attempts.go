package awsapi

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/smithy-go/middleware"
)

// AttemptLog records the HTTP attempts of one call (retries included), so the caller can tell
// whether an attempt may have taken effect although its answer was lost. Example: a
// CompleteLifecycleAction goes through, its response is lost, the SDK retries and gets "No active
// Lifecycle Action": the action was completed by this call, not by someone else.
//
// Use one AttemptLog per call, added with its Middleware to the call's APIOptions.
type AttemptLog struct {
	mu        sync.Mutex
	attempts  int
	uncertain bool
}

// Middleware adds the log to a call's middleware stack, after the retry middleware so it sees
// every attempt.
func (l *AttemptLog) Middleware(stack *middleware.Stack) error {
	if err := stack.Finalize.Insert(middleware.FinalizeMiddlewareFunc("ecs-drainer/AttemptLog",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleFinalize(ctx, in)
			l.mu.Lock()
			l.attempts++
			l.uncertain = l.uncertain || Uncertain(err)
			l.mu.Unlock()
			return out, md, err
		}), "Retry", middleware.After); err != nil {
		return fmt.Errorf("adding attempt log: %w", err)
	}
	return nil
}

// Attempts is how many attempts were sent.
func (l *AttemptLog) Attempts() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.attempts
}

// Uncertain reports whether some attempt ended without a definite answer (see Uncertain), so
// the request may have taken effect.
func (l *AttemptLog) Uncertain() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.uncertain
}
