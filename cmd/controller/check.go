package main

import (
	"context"
	"fmt"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/check"
	"github.com/ecs-drainer/ecs-drainer/pkg/options"
)

// checkCommand is the subcommand that checks the setup instead of running the controller.
const checkCommand = "check"

// runCheck is `ecs-drainer check`: parse the same flags, build the same clients, read the account
// once, print the report. Exit status 0 when everything would work, 1 when something would not
// (or the report could not be written), 2 for a bad configuration.
func (a *app) runCheck(ctx context.Context, args []string) int {
	opts, err := options.ParseCheck(args, a.getenv)
	if err != nil {
		a.printConfigError(err, "ecs-drainer check --help")
		return exitConfig
	}
	if code, done := a.helpOrVersion(opts.Help, opts.Version, opts.PrintUsage); done {
		return code
	}
	as, ecsClient, err := awsapi.NewClients(ctx, awsapi.ClientOptions{QPS: opts.AWSQPS, Burst: opts.AWSBurst})
	if err != nil {
		_, _ = fmt.Fprintf(a.stderr, "ecs-drainer check: creating AWS clients: %v\n", err)
		return exitFailed
	}
	deps := check.Deps{AutoScaling: as, ECS: ecsClient}
	if opts.QueueURL != "" {
		if deps.SQS, err = awsapi.NewSQSClient(ctx, awsapi.ClientOptions{QPS: opts.AWSQPS, Burst: opts.AWSBurst}); err != nil {
			_, _ = fmt.Fprintf(a.stderr, "ecs-drainer check: creating the SQS client: %v\n", err)
			return exitFailed
		}
	}
	rep := check.Run(ctx, check.Config{Reconciler: opts.ReconcilerConfig(), ASGTag: opts.ASGTag, QueueURL: opts.QueueURL}, deps)
	write := check.WriteText
	if opts.Output == options.OutputJSON {
		write = check.WriteJSON
	}
	if err := write(a.stdout, rep); err != nil {
		_, _ = fmt.Fprintf(a.stderr, "ecs-drainer check: %v\n", err)
		return exitFailed
	}
	return check.ExitCode(rep)
}

// isCheck reports whether the command line asks for the check: its first word is "check".
func isCheck(args []string) bool {
	return len(args) > 0 && args[0] == checkCommand
}
