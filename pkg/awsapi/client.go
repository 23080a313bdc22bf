package awsapi

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"
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
// region (config.LoadDefaultConfig: AWS_REGION, AWS_ENDPOINT_URL, profiles, IMDS), then adds adaptive
// retries (which back off the whole client when AWS throttles), a client-side token bucket applied
// to every attempt, the observer middleware, and a guard that keeps the SDK from cutting its own
// responses (addRequestBodyGuard).
func NewClients(ctx context.Context, opts ClientOptions) (AutoScaling, ECS, error) {
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
		return nil, nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, nil, fmt.Errorf("no AWS region configured: set AWS_REGION")
	}
	if opts.EndpointURL != "" {
		cfg.BaseEndpoint = aws.String(opts.EndpointURL)
	}
	// Called once per client: each service gets its own retryer, so its own adaptive send rate and
	// retry quota. ECS throttled by another tool must not slow or starve Auto Scaling, whose
	// heartbeats keep the hooks alive.
	cfg.Retryer = func() aws.Retryer { return newRetryer(opts) }

	asMW := attemptMiddlewares(opts, newLimiter(opts))
	ecsMW := attemptMiddlewares(opts, newLimiter(opts))
	asClient := autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) {
		o.APIOptions = append(o.APIOptions, addRequestBodyGuard, asMW)
	})
	ecsClient := ecs.NewFromConfig(cfg, func(o *ecs.Options) {
		o.APIOptions = append(o.APIOptions, addRequestBodyGuard, ecsMW)
	})
	return asClient, ecsClient, nil
}

func newRetryer(opts ClientOptions) aws.Retryer {
	return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
			if opts.MaxAttempts > 0 {
				so.MaxAttempts = opts.MaxAttempts
			}
			if opts.MaxBackoff > 0 {
				so.MaxBackoff = opts.MaxBackoff
			}
		})
	})
}

func newLimiter(opts ClientOptions) *rate.Limiter {
	if opts.QPS <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(opts.QPS), max(opts.Burst, 1))
}

// attemptMiddlewares returns the stack mutator that adds the rate limit and the observer after the
// retry middleware, so both run once per attempt rather than once per call.
func attemptMiddlewares(opts ClientOptions, limiter *rate.Limiter) func(*middleware.Stack) error {
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

func rateLimitMiddleware(l *rate.Limiter) middleware.FinalizeMiddleware {
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
