// Package awstest keeps tests that build AWS SDK clients away from the host's AWS configuration.
package awstest

import (
	"os"
	"path/filepath"
	"testing"
)

// IsolateConfig points the SDK's default chain at an empty config and credentials file, turns
// off the instance metadata service, and clears the variables that would send requests elsewhere
// (profile, endpoint, CA bundle: a bundle needs the SDK's own HTTP client, and tests may bring
// theirs). It uses t.Setenv, so the test cannot run in parallel with others.
func IsolateConfig(t testing.TB) {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", empty)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", empty)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_CA_BUNDLE", "")
}
