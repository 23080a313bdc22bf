// Package simtest starts the AWS simulator (pkg/awssim) for the reconciler's tests: on a fake clock,
// behind an HTTP server, with an SDK configuration that reaches it and nothing else. It is for
// tests only.
package simtest

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ecs-drainer/ecs-drainer/internal/awstest"
	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
)

// Epoch is where every simulator's fake clock starts.
var Epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Region is the simulated region.
const Region = "us-east-1"

// Sim is a running simulator.
type Sim struct {
	Clock *clocktesting.FakeClock
	*awssim.Sim
	// URL is its endpoint; Config an SDK configuration for fixture clients that reaches it (static
	// credentials, retries without a client-side retry budget).
	URL    string
	Config aws.Config
}

// Credentials are the static credentials the simulator accepts.
func Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")
}

// Start starts a simulator with opts on a fake clock at Epoch (opts.Clock is replaced; Seed 0
// becomes 1) until the test ends, and keeps the SDK's default chain away from the host's AWS
// configuration.
func Start(t *testing.T, opts awssim.Options) *Sim {
	t.Helper()
	awstest.IsolateConfig(t)

	clk := clocktesting.NewFakeClock(Epoch)
	opts.Clock = clk
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	sim := awssim.New(opts)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return &Sim{Clock: clk, Sim: sim, URL: srv.URL, Config: aws.Config{
		Region:       Region,
		Credentials:  Credentials(),
		BaseEndpoint: aws.String(srv.URL),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None })
		},
	}}
}
