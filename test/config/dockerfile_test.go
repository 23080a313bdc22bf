package config_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// parseDockerfile splits a Dockerfile into instructions. It knows what this repository's
// Dockerfile uses (comments, backslash continuations); Docker is not available to build it here.
func parseDockerfile(t *testing.T, text string) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		cont := strings.HasSuffix(trimmed, `\`)
		cur.WriteString(strings.TrimSuffix(trimmed, `\`))
		cur.WriteByte(' ')
		if cont {
			continue
		}
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.Join(strings.Fields(args), " ")})
		cur.Reset()
	}
	if cur.Len() != 0 {
		t.Fatalf("Dockerfile ends inside a continued line starting at line %d", start)
	}
	return out
}

// stages splits instructions at each FROM; instructions before the first FROM (global ARGs) are
// dropped.
func stages(ins []instruction) [][]instruction {
	var out [][]instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			out = append(out, nil)
		}
		if len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], in)
		}
	}
	return out
}

// index returns the position of the first instruction of cmd whose arguments contain every
// part, or -1.
func index(ins []instruction, cmd string, parts ...string) int {
	return slices.IndexFunc(ins, func(in instruction) bool {
		if in.cmd != cmd {
			return false
		}
		for _, p := range parts {
			if !strings.Contains(in.args, p) {
				return false
			}
		}
		return true
	})
}

// globalArgs returns the defaults of the ARGs declared before the first FROM, each expanded with
// the ones before it, as the builder does.
func globalArgs(ins []instruction) map[string]string {
	args := map[string]string{}
	for _, in := range ins {
		if in.cmd == "FROM" {
			break
		}
		if in.cmd == "ARG" {
			name, def, _ := strings.Cut(in.args, "=")
			args[name] = expandArgs(def, args)
		}
	}
	return args
}

// expandArgs replaces ${NAME} by the value of each known ARG; other references stay as they are.
func expandArgs(s string, args map[string]string) string {
	for name, v := range args {
		s = strings.ReplaceAll(s, "${"+name+"}", v)
	}
	return s
}

func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, string(readFile(t, "Dockerfile")))
	st := stages(ins)
	if len(st) < 2 {
		t.Fatalf("%d stages, want a multi-stage build (builder and runtime)", len(st))
	}
	build, final := st[0], st[len(st)-1]

	checkBaseImages(t, ins, build, final)

	for _, in := range ins {
		if in.cmd == "HEALTHCHECK" {
			t.Errorf("line %d: HEALTHCHECK; health comes from ECS and Prometheus (see the comment at the top)", in.line)
		}
	}

	checkBuilderStage(t, build)

	checkRuntimeStage(t, final)
}

// checkBaseImages checks the base images are global ARGs (the Go version among them, so that it
// is bumped in one place) whose defaults are the public images; test/image/build.sh overrides the
// two image arguments with local stand-ins.
func checkBaseImages(t *testing.T, ins, build, final []instruction) {
	t.Helper()
	args := globalArgs(ins)
	for _, name := range []string{"GO_VERSION", "BUILDER_IMAGE", "RUNTIME_IMAGE"} {
		if _, ok := args[name]; !ok {
			t.Errorf("no global ARG %s before the first FROM", name)
		}
	}
	from := expandArgs(build[0].args, args)
	if !strings.Contains(from, "golang:1.26 ") || !strings.HasSuffix(from, " AS build") {
		t.Errorf("builder stage FROM %q (%q by default), want golang:1.26 ... AS build", build[0].args, from)
	}
	if got := expandArgs(final[0].args, args); got != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("runtime stage FROM %q (%q by default), want gcr.io/distroless/static-debian12:nonroot", final[0].args, got)
	}
}

// checkBuilderStage checks the builder stage caches its dependencies in a layer of their own and
// builds a static, stamped binary.
func checkBuilderStage(t *testing.T, build []instruction) {
	t.Helper()
	copyMod := index(build, "COPY", "go.mod", "go.sum")
	download := index(build, "RUN", "go mod download")
	copyAll := index(build, "COPY", ". .")
	if copyMod < 0 || download < copyMod || copyAll < download {
		t.Errorf("want COPY go.mod go.sum, then RUN go mod download, then COPY . . (a cached dependency layer); got positions %d, %d, %d", copyMod, download, copyAll)
	}
	goBuild := index(build, "RUN", "go build")
	if goBuild < 0 {
		t.Fatal("no RUN go build in the builder stage")
	}
	for _, want := range []string{
		"CGO_ENABLED=0", "-trimpath", "-s -w", "-X main.version=${VERSION}", "-X main.revision=${REVISION}",
		"-o /ecs-drainer", "./cmd/controller",
	} {
		if !strings.Contains(build[goBuild].args, want) {
			t.Errorf("go build (line %d) lacks %q", build[goBuild].line, want)
		}
	}
	for _, arg := range []string{"VERSION", "REVISION"} {
		if i := slices.IndexFunc(build, func(in instruction) bool {
			return in.cmd == "ARG" && (in.args == arg || strings.HasPrefix(in.args, arg+"="))
		}); i < 0 || i > goBuild {
			t.Errorf("ARG %s is not declared in the builder stage before go build", arg)
		}
	}
}

// checkRuntimeStage checks the runtime stage copies the binary, runs as non-root, exposes the
// HTTP port and execs the binary directly.
func checkRuntimeStage(t *testing.T, final []instruction) {
	t.Helper()
	if index(final, "COPY", "--from=build", "/ecs-drainer") < 0 {
		t.Error("runtime stage does not copy /ecs-drainer from the build stage")
	}
	users := slices.DeleteFunc(slices.Clone(final), func(in instruction) bool { return in.cmd != "USER" })
	if len(users) == 0 || !slices.Contains([]string{"65532", "65532:65532", "nonroot", "nonroot:nonroot"}, users[len(users)-1].args) {
		t.Errorf("runtime USER %v, want the non-root 65532", users)
	}
	if index(final, "EXPOSE", defaultHTTPPort) < 0 {
		t.Errorf("runtime stage does not EXPOSE %s", defaultHTTPPort)
	}
	ep := index(final, "ENTRYPOINT")
	if ep < 0 {
		t.Fatal("no ENTRYPOINT")
	}
	var argv []string
	if err := json.Unmarshal([]byte(final[ep].args), &argv); err != nil || !slices.Equal(argv, []string{"/ecs-drainer"}) {
		t.Errorf(`ENTRYPOINT %s, want the exec form ["/ecs-drainer"] (no shell in distroless)`, final[ep].args)
	}
}

func TestDockerignoreKeepsTheSources(t *testing.T) {
	var patterns []string
	for line := range strings.Lines(string(readFile(t, ".dockerignore"))) {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, strings.TrimSuffix(strings.TrimPrefix(l, "/"), "/"))
		}
	}
	for _, needed := range []string{"go.mod", "go.sum", "cmd", "pkg", "*.go", "**/*.go", "cmd/**", "pkg/**"} {
		if slices.Contains(patterns, needed) {
			t.Errorf(".dockerignore excludes %q, which the build needs", needed)
		}
	}
	if !slices.Contains(patterns, ".git") {
		t.Error(".dockerignore does not exclude .git")
	}
}

func TestHadolint(t *testing.T) {
	runTool(t, repoPath(), "hadolint", "Dockerfile")
}

// TestControllerDeclaresVersionVars checks that the variables the Dockerfile stamps with -X
// exist: the linker silently ignores -X for a variable that does not.
func TestControllerDeclaresVersionVars(t *testing.T) {
	dir := repoPath("cmd", "controller")
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		t.Skip("cmd/controller does not exist yet")
	}
	if err != nil {
		t.Fatalf("reading cmd/controller: %v", err)
	}
	found := map[string]bool{}
	fset := token.NewFileSet()
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parsing %s: %v", e.Name(), err)
		}
		if f.Name.Name != "main" {
			continue
		}
		stringVars(f, found)
	}
	for _, name := range []string{"version", "revision"} {
		if !found[name] {
			t.Errorf("package main in cmd/controller has no package-level string variable %q for -X main.%s", name, name)
		}
	}
}

// stringVars records in found each package-level variable of f, and whether -X can set it: only
// a string variable whose value is a constant or absent.
func stringVars(f *ast.File, found map[string]bool) {
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				// -X sets only a string variable whose value is a constant or absent.
				isString := false
				if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "string" {
					isString = true
				} else if vs.Type == nil && i < len(vs.Values) {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					isString = ok && lit.Kind == token.STRING
				}
				found[n.Name] = isString
			}
		}
	}
}
