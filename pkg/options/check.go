package options

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/pflag"

	"github.com/ecs-drainer/ecs-drainer/pkg/options/envflag"
)

// Output formats of `ecs-drainer check`.
const (
	OutputText = "text"
	OutputJSON = "json"
)

// CheckIgnoredFlags are the controller's flags that change nothing in `ecs-drainer check`. They are
// accepted, from the command line or the environment, so the check runs with the controller's
// own environment as it is, and validated like the rest (a value the controller would refuse is a
// bad configuration for the check too); otherwise they are ignored. --dry-run is among them because
// the check never writes anyway.
var CheckIgnoredFlags = []string{
	"standalone-task-policy", "standalone-task-grace", "drain-timeout-action", "workers",
	"dry-run", "http-addr", "log-format", "log-level", "sim-listen",
}

// checkNoEnvFlags are the check's own flags never read from the environment: OUTPUT is too common
// a variable name to mean "print JSON" to a program started in someone else's environment.
var checkNoEnvFlags = []string{"output"}

// CheckOptions is the configuration of `ecs-drainer check`: every flag of the controller, read
// the same way, plus the output format.
type CheckOptions struct {
	*Options
	Output string // --output: text or json
}

// ParseCheck reads the arguments of `ecs-drainer check` (after the word check) as Parse reads the
// controller's, and validates them the same way. --simulate is refused: the check reads the
// account the AWS configuration points at (AWS_ENDPOINT_URL reaches a simulator).
func ParseCheck(args []string, getenv func(string) string) (*CheckOptions, error) {
	c := &CheckOptions{Options: &Options{}}
	fs := c.flagSet()
	fs.Init("ecs-drainer check", pflag.ContinueOnError)
	fs.StringVar(&c.Output, "output", OutputText, "text (a table for people) or json (for scripts; schema in docs/check.md)")
	fs.VisitAll(func(f *pflag.Flag) {
		if slices.Contains(CheckIgnoredFlags, f.Name) {
			f.Usage = "ignored by check; " + f.Usage
		}
	})
	c.fs = fs
	err := c.parse(args, getenv, checkNoEnvFlags, func() []error {
		var p []error
		if c.Simulate {
			p = append(p, errors.New("--simulate (SIMULATE) does not apply to check: it checks the account the AWS configuration points at; to check a simulator, run awssim and set AWS_ENDPOINT_URL"))
		}
		if c.Output != OutputText && c.Output != OutputJSON {
			p = append(p, fmt.Errorf("--output is %q: must be %s or %s", c.Output, OutputText, OutputJSON))
		}
		return p
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// PrintUsage writes the help of `ecs-drainer check`.
func (c *CheckOptions) PrintUsage(w io.Writer) error {
	if _, err := fmt.Fprint(w, "Usage: ecs-drainer check [flags]\n\n"+
		"Looks once at the Auto Scaling groups, hooks, ECS clusters and permissions the controller\n"+
		"would work with, using the same flags, environment and credentials, and changes nothing.\n"+
		"Prints a table and every problem with its fix. Exit status: 0 everything would work,\n"+
		"1 something would not, 2 bad flags.\n\nFlags:\n"); err != nil {
		return fmt.Errorf("writing usage: %w", err)
	}
	return envflag.PrintUsage(w, c.fs, "", slices.Concat(noEnvFlags, checkNoEnvFlags)...)
}
