package awsapi

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go/middleware"
)

// Service names as the observer and the metrics label them.
const (
	ServiceAutoScaling = "autoscaling"
	ServiceECS         = "ecs"
)

// attemptTimeout bounds one HTTP attempt. Every call the controller makes returns at most one page
// of at most 100 items, so a healthy endpoint answers in well under a second; 30 s only catches a
// hung connection, which the retryer then retries.
const attemptTimeout = 30 * time.Second

// ClientOptions configure NewClients.
type ClientOptions struct {
	// QPS and Burst size a token bucket applied to every attempt (retries included), one bucket per
	// service since AWS meters each service separately. QPS <= 0 disables the limit.
	QPS   float64
	Burst int
	// MaxAttempts is the retryer's maximum attempts per call (first attempt included); 0 keeps the
	// SDK default of 3.
	MaxAttempts int
	// MaxBackoff caps the delay between retries; 0 keeps the SDK default of 20 s.
	MaxBackoff time.Duration
	// Observer, when set, is told of every attempt.
	Observer RequestObserver

	// EndpointURL, when set, sends both services to this URL (the simulator) instead of the one the
	// environment or shared config names.
	EndpointURL string
	// Region, when set, overrides the region from the environment or shared config.
	Region string
	// Credentials, when set, replaces the standard credential chain (tests use static fake keys).
	Credentials aws.CredentialsProvider
	// HTTPClient, when set, replaces the default HTTP client (whose attempts time out after 30 s).
	// Tests use it to lose responses on the way back.
	HTTPClient aws.HTTPClient
}

// NewClients builds the Auto Scaling and ECS clients. It loads the standard credential chain and
// region (config.LoadDefaultConfig: AWS_REGION, AWS_ENDPOINT_URL, profiles, IMDS), then adds a
// retryer per operation (adaptive, so a throttled operation backs off without slowing the others;
// heartbeats never run out of retries), a client-side token bucket per service applied to every
// attempt that serves urgent calls first (Limiter, WithUrgency), the observer middleware, and a
// guard that keeps the SDK from cutting its own responses (addRequestBodyGuard).
func NewClients(ctx context.Context, opts ClientOptions) (AutoScaling, ECS, error) {
	cfg, err := loadConfig(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	asMW := attemptMiddlewares(opts, newLimiter(opts))
	ecsMW := attemptMiddlewares(opts, newLimiter(opts))
	asClient := autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) {
		o.APIOptions = append(o.APIOptions, addRequestBodyGuard, asMW)
	})
	ecsSDK := ecs.NewFromConfig(cfg, func(o *ecs.Options) {
		o.APIOptions = append(o.APIOptions, addRequestBodyGuard, ecsMW)
	})
	return &autoScalingClient{c: asClient, retryers: newOperationRetryers(opts)},
		&ecsClient{c: ecsSDK, retryers: newOperationRetryers(opts)}, nil
}

// newRetryer is the retryer of one operation: adaptive retries, so a throttled operation backs
// off on its own, with its own retry quota.
func newRetryer(opts ClientOptions) aws.Retryer {
	return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
			setAttempts(so, opts)
		})
	})
}

// newHeartbeatRetryer is the retryer of RecordLifecycleActionHeartbeat: standard retries with no
// retry quota and no adaptive client-side slow-down. A heartbeat that is not sent lets an action
// expire and an instance be terminated with its tasks, so nothing but the call's own deadline may
// stop its retries; the controller bounds each heartbeat call and spaces them by itself, and the
// shared client-side rate limit still applies to every attempt.
func newHeartbeatRetryer(opts ClientOptions) aws.Retryer {
	return retry.NewStandard(func(so *retry.StandardOptions) {
		setAttempts(so, opts)
		so.RateLimiter = ratelimit.None
	})
}

func setAttempts(so *retry.StandardOptions, opts ClientOptions) {
	if opts.MaxAttempts > 0 {
		so.MaxAttempts = opts.MaxAttempts
	}
	if opts.MaxBackoff > 0 {
		so.MaxBackoff = opts.MaxBackoff
	}
}

// operationRetryers holds one retryer per operation of a service, made on first use. AWS meters
// its APIs per operation (or per group of operations), and a retryer keeps per-client state: the
// adaptive send rate, lowered after throttling, and the retry quota, used up by retries. Shared by
// every operation of a client, both let one throttled operation stall the others: completions
// throttled by another tool used up the quota, and heartbeats then failed without being sent.
// With a retryer per operation, a throttled operation slows only itself.
type operationRetryers struct {
	opts ClientOptions
	mu   sync.Mutex
	byOp map[string]aws.Retryer
}

func newOperationRetryers(opts ClientOptions) *operationRetryers {
	return &operationRetryers{opts: opts, byOp: map[string]aws.Retryer{}}
}

func (r *operationRetryers) get(op string) aws.Retryer {
	r.mu.Lock()
	defer r.mu.Unlock()
	rt, ok := r.byOp[op]
	if !ok {
		rt = newRetryer(r.opts)
		if op == OpRecordLifecycleActionHeartbeat {
			rt = newHeartbeatRetryer(r.opts)
		}
		r.byOp[op] = rt
	}
	return rt
}

func newLimiter(opts ClientOptions) *Limiter {
	if opts.QPS <= 0 {
		return nil
	}
	return NewLimiter(opts.QPS, opts.Burst)
}

// attemptMiddlewares returns the stack mutator that adds the rate limit and the observer after the
// retry middleware, so both run once per attempt rather than once per call.
func attemptMiddlewares(opts ClientOptions, limiter *Limiter) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		if opts.Observer != nil {
			if err := stack.Finalize.Insert(observeMiddleware(opts.Observer), "Retry", middleware.After); err != nil {
				return fmt.Errorf("adding request observer: %w", err)
			}
		}
		if limiter != nil {
			// Inserted after Retry as well, so it sits between Retry and the observer: an attempt
			// waits for a token before it is observed and sent.
			if err := stack.Finalize.Insert(rateLimitMiddleware(limiter), "Retry", middleware.After); err != nil {
				return fmt.Errorf("adding rate limiter: %w", err)
			}
		}
		return nil
	}
}

func rateLimitMiddleware(l *Limiter) middleware.FinalizeMiddleware {
	return middleware.FinalizeMiddlewareFunc("ecs-drainer/RateLimit",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			if err := l.Wait(ctx); err != nil {
				return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("waiting for the client-side AWS rate limit: %w", err)
			}
			return next.HandleFinalize(ctx, in)
		})
}

func observeMiddleware(o RequestObserver) middleware.FinalizeMiddleware {
	return middleware.FinalizeMiddlewareFunc("ecs-drainer/ObserveAttempt",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleFinalize(ctx, in)
			o.ObserveAWSRequest(serviceLabel(awsmiddleware.GetServiceID(ctx)), awsmiddleware.GetOperationName(ctx), AttemptCode(err))
			return out, md, err
		})
}

// serviceLabel maps the SDK's service ID ("Auto Scaling", "ECS") to the metric label.
func serviceLabel(id string) string {
	switch id {
	case "Auto Scaling":
		return ServiceAutoScaling
	case "ECS":
		return ServiceECS
	}
	return strings.ToLower(strings.ReplaceAll(id, " ", ""))
}

// loadConfig loads the AWS configuration every client shares (NewClients, NewSQSClient): the
// standard chain with opts' HTTP client, region, credentials and endpoint overrides, and the
// fallback retryer.
func loadConfig(ctx context.Context, opts ClientOptions) (aws.Config, error) {
	var httpClient aws.HTTPClient = awshttp.NewBuildableClient().WithTimeout(attemptTimeout)
	if opts.HTTPClient != nil {
		httpClient = opts.HTTPClient
	}
	loadOpts := []func(*config.LoadOptions) error{config.WithHTTPClient(httpClient)}
	if opts.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(opts.Region))
	}
	if opts.Credentials != nil {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(opts.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("no AWS region configured: set AWS_REGION")
	}
	if opts.EndpointURL != "" {
		cfg.BaseEndpoint = aws.String(opts.EndpointURL)
	}
	// Every call names the retryer of its own operation (operationRetryers); this one only serves
	// a call that somehow does not.
	cfg.Retryer = func() aws.Retryer { return newRetryer(opts) }
	return cfg, nil
}
