package config_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersionFromTags runs the Makefile's `make version` in a scratch git repository through the
// life of a release, and checks the version each build would be stamped with (README, "Releases").
func TestVersionFromTags(t *testing.T) {
	for _, tool := range []string{"git", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	dir := t.TempDir()
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
			"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	commit := func(content string) string {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "file"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		run("git", "add", "file")
		run("git", "commit", "-q", "-m", content)
		return run("git", "rev-parse", "--short", "HEAD")
	}
	makefile, err := filepath.Abs(repoPath("Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	version := func() string {
		t.Helper()
		return run("make", "-s", "--no-print-directory", "-f", makefile, "version")
	}
	run("git", "init", "-q")

	first := commit("one")
	if got, want := version(), first+" "+first; got != want {
		t.Errorf("before any release: make version = %q, want %q (the commit)", got, want)
	}
	run("git", "tag", "nightly")
	if got, want := version(), first+" "+first; got != want {
		t.Errorf("with a tag that is not a release: make version = %q, want %q", got, want)
	}
	run("git", "tag", "-a", "v1.2.3", "-m", "v1.2.3")
	if got, want := version(), "v1.2.3 "+first; got != want {
		t.Errorf("on the release tag: make version = %q, want %q", got, want)
	}
	second := commit("two")
	if got, want := version(), "v1.2.3-1-g"+second+" "+second; got != want {
		t.Errorf("a commit past the release: make version = %q, want %q", got, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("changed"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := version(), "v1.2.3-1-g"+second+"-dirty "+second; got != want {
		t.Errorf("with uncommitted changes: make version = %q, want %q", got, want)
	}
}

// TestEveryBuildStampsTheVersion checks that each way of building passes the same VERSION and
// REVISION on: the binaries' -X flags (--version and ecs_drainer_build_info read them) and the
// image's build arguments (the Dockerfile turns them into the same -X flags and the OCI labels).
func TestEveryBuildStampsTheVersion(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	cmd := exec.CommandContext(t.Context(), "make", "-n", "--no-print-directory", "-C", repoPath(),
		"build", "docker-build", "image", "VERSION=v9.8.7", "REVISION=abc1234")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n: %v\n%s", err, out)
	}
	for _, want := range []struct {
		what, text string
		count      int
	}{
		{"make build (both binaries)", "-X main.version=v9.8.7 -X main.revision=abc1234", 2},
		{"make docker-build", "--build-arg VERSION=v9.8.7 --build-arg REVISION=abc1234", 1},
		{"make image", "test/image/build.sh ecs-drainer:v9.8.7 v9.8.7 abc1234", 1},
	} {
		if n := strings.Count(string(out), want.text); n != want.count {
			t.Errorf("%s: %q appears %d times in make -n's commands, want %d:\n%s", want.what, want.text, n, want.count, out)
		}
	}
}
