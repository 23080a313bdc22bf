package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// requireTool finds a program a test needs (on PATH, else where Debian's package puts it). Outside
// CI a missing one skips the test, saying which package to install; in CI (CI=true), where .ci/run
// installs every one, it fails the test, so that a check cannot quietly stop running.
func requireTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/bin", "/usr/sbin"} {
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed, and CI must run this test: add %s to .ci/run", name, debianPackage)
	}
	t.Skipf("%s is not installed: apt-get install %s (CI installs it; .ci/run)", name, debianPackage)
	return ""
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
