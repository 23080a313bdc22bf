// Package envflag binds pflag flag sets to the environment: each flag may also be set by an
// environment variable named after it, a flag on the command line wins, bad values are collected
// rather than stopping at the first, and the help text lists each flag's variable. Both binaries
// (ecs-drainer and awssim) use it.
package envflag

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"
)

// EnvName is the environment variable that sets flag name: the flag in SCREAMING_SNAKE case after
// prefix ("resync-period" -> "RESYNC_PERIOD"; with prefix "AWSSIM_", "seed" -> "AWSSIM_SEED").
func EnvName(prefix, name string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// checkedValue wraps a flag's value so that a bad value is recorded instead of stopping the parse:
// pflag returns at the first error, and a person fixing a configuration wants to see every problem
// at once.
type checkedValue struct {
	pflag.Value
	name     string
	problems *[]error
}

func (v *checkedValue) Set(s string) error {
	if err := v.Value.Set(s); err != nil {
		*v.problems = append(*v.problems, fmt.Errorf("--%s=%q: %s", v.name, s, valueHint(v.Type(), err)))
	}
	return nil
}

// IsBoolFlag keeps "--dry-run" (without "=true") working through the wrapper.
func (v *checkedValue) IsBoolFlag() bool {
	bf, ok := v.Value.(interface{ IsBoolFlag() bool })
	return ok && bf.IsBoolFlag()
}

// CollectErrors wraps every flag of fs so that a bad value on the command line is appended to
// problems and parsing goes on, instead of stopping at the first. Call it after defining the flags
// and before Parse.
func CollectErrors(fs *pflag.FlagSet, problems *[]error) {
	fs.VisitAll(func(f *pflag.Flag) {
		f.Value = &checkedValue{Value: f.Value, name: f.Name, problems: problems}
	})
}

// ApplyEnv sets every flag of fs that was not given on the command line from its environment
// variable (EnvName(prefix, flag)), so flags win over the environment. An empty variable counts as
// unset. Flags named in skip are never read from the environment. A bad value is reported naming
// the variable, its value and what is expected; every problem is returned at once, joined.
func ApplyEnv(fs *pflag.FlagSet, prefix string, getenv func(string) string, skip ...string) error {
	var problems []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || slices.Contains(skip, f.Name) {
			return
		}
		env := EnvName(prefix, f.Name)
		val := getenv(env)
		if val == "" {
			return
		}
		v := f.Value
		if cv, ok := v.(*checkedValue); ok {
			// Call the real value so the problem names the variable, not the flag.
			v = cv.Value
		}
		if err := v.Set(val); err != nil {
			problems = append(problems, fmt.Errorf("%s=%q (--%s): %s", env, val, f.Name, valueHint(v.Type(), err)))
			return
		}
		f.Changed = true
	})
	return errors.Join(problems...)
}

// valueHint turns a value parse error into a sentence that says what to write instead.
func valueHint(typ string, err error) string {
	switch typ {
	case "duration":
		return "not a duration: write a number with a unit, such as 30s, 5m or 1h"
	case "bool":
		return "not a boolean: write true or false"
	case "int":
		return "not a whole number"
	case "int64":
		return "not a whole number"
	case "float64":
		return "not a number"
	default:
		return err.Error()
	}
}

// PrintUsage writes one line per flag of fs: name, type, meaning, default and environment
// variable, so --help shows both ways of setting each. Flags named in noEnv show no variable.
func PrintUsage(w io.Writer, fs *pflag.FlagSet, prefix string, noEnv ...string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var werr error
	fs.VisitAll(func(f *pflag.Flag) {
		if werr != nil {
			return
		}
		name, usage := pflag.UnquoteUsage(f)
		flag := "--" + f.Name
		if f.Shorthand != "" {
			flag = "-" + f.Shorthand + ", " + flag
		}
		if name != "" {
			flag += " " + name
		}
		if !isZeroDefault(f) {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		env := ""
		if !slices.Contains(noEnv, f.Name) {
			env = "$" + EnvName(prefix, f.Name)
		}
		_, werr = fmt.Fprintf(tw, "  %s\t%s\t%s\n", flag, env, usage)
	})
	if werr != nil {
		return fmt.Errorf("writing usage: %w", werr)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing usage: %w", err)
	}
	return nil
}

func isZeroDefault(f *pflag.Flag) bool {
	switch f.DefValue {
	case "", "false", "0", "0s", "[]":
		return true
	}
	return false
}
