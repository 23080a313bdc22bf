package envflag

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestEnvName(t *testing.T) {
	tests := []struct{ prefix, flag, want string }{
		{"", "resync-period", "RESYNC_PERIOD"},
		{"", "dry-run", "DRY_RUN"},
		{"", "aws-qps", "AWS_QPS"},
		{"AWSSIM_", "launch-delay", "AWSSIM_LAUNCH_DELAY"},
	}
	for _, tt := range tests {
		if got := EnvName(tt.prefix, tt.flag); got != tt.want {
			t.Errorf("EnvName(%q, %q) = %q, want %q", tt.prefix, tt.flag, got, tt.want)
		}
	}
}

type values struct {
	d    time.Duration
	b    bool
	n    int
	skip bool
}

func newSet(v *values, problems *[]error) *pflag.FlagSet {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.DurationVar(&v.d, "delay", time.Second, "a delay")
	fs.BoolVar(&v.b, "on", false, "a switch")
	fs.IntVar(&v.n, "count", 3, "a count")
	fs.BoolVar(&v.skip, "skipped", false, "never from the environment")
	CollectErrors(fs, problems)
	return fs
}

func TestApplyEnv(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    values
		wantErr []string
	}{
		{name: "defaults", want: values{d: time.Second, n: 3}},
		{
			name: "env fills unset flags",
			env:  map[string]string{"X_DELAY": "2m", "X_ON": "true", "X_COUNT": "7"},
			want: values{d: 2 * time.Minute, b: true, n: 7},
		},
		{
			name: "flags win",
			args: []string{"--delay=5s", "--on=false"},
			env:  map[string]string{"X_DELAY": "2m", "X_ON": "true"},
			want: values{d: 5 * time.Second, n: 3},
		},
		{
			name: "skipped flag ignores env",
			env:  map[string]string{"X_SKIPPED": "true"},
			want: values{d: time.Second, n: 3},
		},
		{
			name:    "every bad value reported",
			env:     map[string]string{"X_DELAY": "soon", "X_ON": "maybe", "X_COUNT": "many"},
			want:    values{d: time.Second, n: 3},
			wantErr: []string{`X_DELAY="soon" (--delay): not a duration`, `X_ON="maybe" (--on): not a boolean`, `X_COUNT="many" (--count): not a whole number`},
		},
		{
			name:    "bad flags collected, not fatal",
			args:    []string{"--delay=x", "--count=y"},
			want:    values{d: time.Second, n: 3},
			wantErr: []string{`--delay="x": not a duration`, `--count="y": not a whole number`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v values
			var problems []error
			fs := newSet(&v, &problems)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if err := ApplyEnv(fs, "X_", func(k string) string { return tt.env[k] }, "skipped"); err != nil {
				problems = append(problems, err)
			}
			if v != tt.want {
				t.Errorf("values = %+v, want %+v", v, tt.want)
			}
			var msg strings.Builder
			for _, p := range problems {
				msg.WriteString(p.Error() + "\n")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(msg.String(), w) {
					t.Errorf("problems lack %q; got:\n%s", w, msg.String())
				}
			}
			if len(tt.wantErr) == 0 && len(problems) > 0 {
				t.Errorf("unexpected problems:\n%s", msg.String())
			}
		})
	}
}

func TestPrintUsage(t *testing.T) {
	var v values
	var problems []error
	fs := newSet(&v, &problems)
	var b bytes.Buffer
	if err := PrintUsage(&b, fs, "X_", "skipped"); err != nil {
		t.Fatalf("PrintUsage: %v", err)
	}
	out := b.String()
	for _, w := range []string{"--delay duration", "$X_DELAY", "(default 1s)", "--on", "$X_ON", "(default 3)"} {
		if !strings.Contains(out, w) {
			t.Errorf("usage lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "$X_SKIPPED") || strings.Contains(out, "default false") {
		t.Errorf("usage shows what it should not:\n%s", out)
	}
}
