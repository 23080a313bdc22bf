package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// TestCheckFlags covers the subcommand's own exit paths: help, and bad flags (status 2, naming
// each problem) before any AWS call. Its checks are tested in pkg/check and end to end in test/e2e.
func TestCheckFlags(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stdout []string
		stderr []string
	}{
		{
			name: "help", args: []string{"check", "--help"}, code: exitOK,
			stdout: []string{"Usage: ecs-drainer check [flags]", "Exit status: 0", "--output", "--asg-tag", "$ASG_TAG", "ignored by check; ", "--clusters"},
		},
		{
			name: "bad output and flag values", args: []string{"check", "--output", "yaml", "--hook-name", "bad name!"},
			env: map[string]string{"DRAIN_TIMEOUT": "soon"}, code: exitConfig,
			stderr: []string{`--output is "yaml": must be text or json`, `--hook-name (HOOK_NAME) is "bad name!"`, `DRAIN_TIMEOUT="soon"`, "Run ecs-drainer check --help"},
		},
		{
			name: "simulate refused", args: []string{"check", "--simulate"}, code: exitConfig,
			stderr: []string{"--simulate (SIMULATE) does not apply to check"},
		},
		{
			name: "unknown flag", args: []string{"check", "--bogus"}, code: exitConfig,
			stderr: []string{"unknown flag: --bogus"},
		},
		{
			name: "stray argument", args: []string{"check", "now"}, code: exitConfig,
			stderr: []string{`unexpected argument "now": ecs-drainer check takes only flags`},
		},
		{
			// OUTPUT is too common a variable to be read as --output.
			name: "OUTPUT is not read", args: []string{"check", "--help"}, env: map[string]string{"OUTPUT": "yaml"}, code: exitOK,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, envOf(tt.env), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstderr: %s", code, tt.code, stderr.String())
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
	var stdout bytes.Buffer
	if code := run(t.Context(), []string{"--help"}, envOf(nil), &stdout, io.Discard); code != exitOK || !strings.Contains(stdout.String(), "ecs-drainer check [flags]") {
		t.Errorf("the controller's --help does not mention the check (exit %d):\n%s", code, stdout.String())
	}
}
