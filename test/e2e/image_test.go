package e2e

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// The image under test is built once per test binary by `make image` (test/image/build.sh:
// buildah, the real Dockerfile, local stand-ins for its base images) and run with podman
// (test/image/run.sh, as the ECS task definition runs it). docs/image.md explains both.
const (
	imageRef      = "localhost/ecs-drainer:e2e"
	imageUser     = "65532:65532" // distroless' nonroot, which the Dockerfile's USER names
	imageCABundle = "etc/ssl/certs/ca-certificates.crt"
	// imageAWSRoot is the root that AWS's API endpoints chain to: without it in the bundle, the
	// controller could not reach AWS.
	imageAWSRoot = "Amazon Root CA 1"
	// imagePodmanLimit bounds one podman command (inspect, mount, rm); none takes long.
	imagePodmanLimit = time.Minute
)

// TestImage builds the image and checks what a deployment relies on: --version and the image's
// labels carry the version the Makefile stamped; the bundle of CA certificates is where Go looks
// for it; and the containerised controller, as a non-root user on a read-only root filesystem,
// drains an instance of awssim and completes its lifecycle action.
func TestImage(t *testing.T) {
	img := buildImage(t)
	t.Run("version", func(t *testing.T) { testImageVersion(t, img) })
	t.Run("ca-certificates", func(t *testing.T) { testImageCACertificates(t, img) })
	t.Run("drain", func(t *testing.T) { testImageDrain(t, img) })
}

// builtImage is the image built for this test binary and the version it was stamped with.
type builtImage struct {
	ref, version, revision string
	scripts                string // test/image
}

var imageBuild struct {
	sync.Once
	img builtImage
	err error
}

// buildImage builds the image once per test binary, logging the build, and returns it.
func buildImage(t *testing.T) builtImage {
	t.Helper()
	for _, tool := range []struct{ name, pkg string }{
		{"buildah", "buildah"}, {"podman", "podman"}, {"runc", "runc"}, {"busybox", "busybox-static"}, {"make", "make"},
	} {
		requireTool(t, tool.name, tool.pkg)
	}
	imageBuild.Do(func() {
		root, err := harness.RepoRoot()
		if err != nil {
			imageBuild.err = err
			return
		}
		img := builtImage{ref: imageRef, scripts: filepath.Join(root, "test", "image")}
		out, err := imageCommand(t, root, "make", "-s", "--no-print-directory", "version")
		if err != nil {
			imageBuild.err = err
			return
		}
		if _, err := fmt.Sscan(out, &img.version, &img.revision); err != nil {
			imageBuild.err = fmt.Errorf("make version printed %q: %w", out, err)
			return
		}
		if _, err := imageCommand(t, root, "make", "--no-print-directory", "image", "IMAGE="+img.ref); err != nil {
			imageBuild.err = err
			return
		}
		imageBuild.img = img
	})
	if imageBuild.err != nil {
		t.Fatal(imageBuild.err)
	}
	return imageBuild.img
}

// imageCommand runs a command in dir, logging each line of its output as it comes (so that `go
// test -v` shows a build as it happens), and returns the output.
func imageCommand(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir = dir
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var out strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			t.Log(sc.Text())
			out.WriteString(sc.Text() + "\n")
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	_ = pw.Close()
	<-done
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return out.String(), nil
}

// podman runs test/image/containers.sh podman with args and returns its standard output. It is
// bounded by its own timeout, not the test's context, so that cleanups can use it too.
func (img builtImage) podman(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), imagePodmanLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(img.scripts, "containers.sh"), append([]string{"podman"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("podman %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return strings.TrimSpace(string(out))
}

// testImageVersion checks that --version, and the image's labels, carry what `make version` says.
func testImageVersion(t *testing.T, img builtImage) {
	cmd := exec.CommandContext(t.Context(), filepath.Join(img.scripts, "run.sh"), "--version")
	cmd.Env = append(os.Environ(), "ECS_DRAINER_IMAGE="+img.ref)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run.sh --version: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("ecs-drainer %s (revision %s, go", img.version, img.revision); !strings.HasPrefix(string(out), want) {
		t.Errorf("the image's --version printed %q, want it to start with %q", out, want)
	}

	var cfg struct {
		User       string
		Entrypoint []string
		Labels     map[string]string
	}
	if err := json.Unmarshal([]byte(img.podman(t, "image", "inspect", "--format", "{{json .Config}}", img.ref)), &cfg); err != nil {
		t.Fatalf("decoding the image's configuration: %v", err)
	}
	if cfg.User != imageUser {
		t.Errorf("image user %q, want %q", cfg.User, imageUser)
	}
	for label, want := range map[string]string{
		"org.opencontainers.image.version":  img.version,
		"org.opencontainers.image.revision": img.revision,
	} {
		if got := cfg.Labels[label]; got != want {
			t.Errorf("image label %s = %q, want %q", label, got, want)
		}
	}
}

// testImageCACertificates reads the CA bundle in the image's file system, where Go's crypto/x509
// looks first on Linux, and checks it holds the root that AWS's endpoints chain to.
func testImageCACertificates(t *testing.T, img builtImage) {
	dir := img.podman(t, "image", "mount", img.ref)
	t.Cleanup(func() { img.podman(t, "image", "unmount", img.ref) })
	data, err := os.ReadFile(filepath.Join(dir, imageCABundle))
	if err != nil {
		t.Fatalf("the image has no CA bundle: %v", err)
	}
	var subjects []string
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("/%s holds a certificate Go cannot parse: %v", imageCABundle, err)
		}
		subjects = append(subjects, cert.Subject.CommonName)
	}
	t.Logf("/%s holds %d certificates", imageCABundle, len(subjects))
	if !slices.Contains(subjects, imageAWSRoot) {
		t.Errorf("/%s lacks %q among its %d certificates", imageCABundle, imageAWSRoot, len(subjects))
	}
}

// testImageDrain runs the containerised controller against awssim on loopback and checks, from
// awssim's ground truth, that a scaled-in instance was drained and its lifecycle action completed,
// while the controller ran as a non-root user without a writable file system.
func testImageDrain(t *testing.T, img builtImage) {
	name := "ecs-drainer-e2e-" + strconv.Itoa(os.Getpid())
	t.Setenv("ECS_DRAINER_IMAGE", img.ref)
	t.Setenv("ECS_DRAINER_CONTAINER_NAME", name)
	// Runs after the controller's own cleanup has stopped it: a container left by a killed podman
	// must not outlive the test.
	t.Cleanup(func() { img.podman(t, "rm", "--force", "--ignore", name) })
	sim, ctl := startStack(t, filepath.Join(img.scripts, "run.sh"))

	var state struct {
		Pid            int
		ReadonlyRootfs bool
	}
	if err := json.Unmarshal([]byte(img.podman(t, "inspect", "--format",
		`{"Pid": {{.State.Pid}}, "ReadonlyRootfs": {{.HostConfig.ReadonlyRootfs}}}`, name)), &state); err != nil {
		t.Fatalf("decoding podman inspect: %v", err)
	}
	if !state.ReadonlyRootfs {
		t.Error("the container's root file system is writable; run.sh must run it read-only, as the task definition does")
	}
	checkNonRoot(t, state.Pid)

	promScaleInOneOfTwo(t, sim, "image-drain")
	promWait(t, "the containerised controller drains one instance and it terminates", func() (bool, string) {
		s := promStats(t, sim.Addr)
		ended := harness.Sum(promMetrics(t, ctl.Addr), "ecs_drainer_drains_ended_total", map[string]string{"outcome": "completed"})
		return s.Terminated == 1 && ended == 1, fmt.Sprintf("terminated %d, drains completed %v", s.Terminated, ended)
	})

	s := promStats(t, sim.Addr)
	if s.LifecycleActionsCompleted["CONTINUE"] != 1 || s.LifecycleActionsTimedOut != 0 || s.TerminatedWithTasks != 0 {
		t.Errorf("awssim: completed %v, timed out %d, terminated with tasks %d; want one CONTINUE, nothing expired or killed",
			s.LifecycleActionsCompleted, s.LifecycleActionsTimedOut, s.TerminatedWithTasks)
	}
	var drained int
	for _, tl := range promTimelines(t, sim.Addr) {
		if tl.TerminatedAt.IsZero() {
			continue
		}
		drained++
		if tl.DrainingAt.IsZero() || tl.CompletedAt.IsZero() || tl.CompletedAt.Before(tl.DrainingAt) || tl.TasksKilled != 0 {
			t.Errorf("instance %s terminated without being drained first: %+v", tl.InstanceID, tl)
		} else {
			t.Logf("awssim: %s DRAINING at %s, lifecycle action completed at %s, terminated at %s",
				tl.InstanceID, tl.DrainingAt.Format("15:04:05.000"), tl.CompletedAt.Format("15:04:05.000"), tl.TerminatedAt.Format("15:04:05.000"))
		}
	}
	if drained != 1 {
		t.Errorf("%d instances terminated, want 1", drained)
	}
	info := map[string]string{"version": img.version, "revision": img.revision}
	if got := harness.Sum(promMetrics(t, ctl.Addr), "ecs_drainer_build_info", info); got != 1 {
		t.Errorf("ecs_drainer_build_info%v = %v, want 1: the metric must carry the stamped version", info, got)
	}
}

// checkNonRoot reads the containerised controller's credentials from /proc: every user and group
// ID (real, effective, saved, file system) must be the image's non-root user, with no capability.
func checkNonRoot(t *testing.T, pid int) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the controller's /proc status: %v", err)
	}
	fields := map[string][]string{}
	for line := range strings.Lines(string(status)) {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.Fields(v)
		}
	}
	uid, gid, _ := strings.Cut(imageUser, ":")
	ok := true
	for k, want := range map[string][]string{
		"Name":   {"ecs-drainer"},
		"Uid":    {uid, uid, uid, uid},
		"Gid":    {gid, gid, gid, gid},
		"CapEff": {"0000000000000000"},
	} {
		if !slices.Equal(fields[k], want) {
			t.Errorf("the containerised controller (pid %d) has %s %v, want %v", pid, k, fields[k], want)
			ok = false
		}
	}
	if ok {
		t.Logf("the containerised controller (pid %d) runs as uid %s gid %s with no capabilities", pid, uid, gid)
	}
}
