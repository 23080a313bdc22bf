package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// iamSDKServicePrefix maps an aws-sdk-go-v2 service package (github.com/aws/aws-sdk-go-v2/service/X)
// to the IAM action prefix of that service. They differ for some services, so each is listed.
var iamSDKServicePrefix = map[string]string{
	"autoscaling": "autoscaling",
	"ecs":         "ecs",
	"sqs":         "sqs",
}

// iamActionOfOperation maps the operations IAM authorises under another action's name to that
// action: SQS's batch operations need the permission of the single-message one ("Amazon SQS
// batch actions" in the SQS developer guide's API permissions reference).
var iamActionOfOperation = map[string]string{
	"sqs:DeleteMessageBatch": "sqs:DeleteMessage",
	"sqs:SendMessageBatch":   "sqs:SendMessage",
}

// iamRequiredInterfaces are the interfaces of pkg/awsapi the controller reaches AWS through; the
// test fails if it cannot find them, so that a rename cannot leave it comparing nothing.
var iamRequiredInterfaces = []string{"AutoScaling", "ECS", "SQS"}

// iamSDKEnv are environment variables a task may set that are not controller flags: the SDK's
// config.LoadDefaultConfig reads them.
var iamSDKEnv = []string{"AWS_REGION", "AWS_DEFAULT_REGION"}

const iamSDKServicePath = "github.com/aws/aws-sdk-go-v2/service/"

// TestIAMPolicyCoversCode derives the AWS actions the controller can call from its code (the
// narrow interfaces of pkg/awsapi, one method per operation) and checks that the IAM policies the
// project ships grant exactly those: a missing action is an AccessDenied in production, an extra
// one breaks least privilege.
func TestIAMPolicyCoversCode(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	called, err := iamActionsFromInterfaces(filepath.Join(root, "pkg", "awsapi"))
	if err != nil {
		t.Fatalf("deriving actions from pkg/awsapi: %v", err)
	}
	t.Logf("actions the controller can call: %v", called)

	t.Run("policy.json", func(t *testing.T) {
		granted, err := iamPolicyJSONActions(filepath.Join(root, "config", "iam", "policy.json"))
		if err != nil {
			t.Fatal(err)
		}
		iamCompare(t, "config/iam/policy.json", called, granted)
	})

	t.Run("cloudformation task role", func(t *testing.T) {
		path := filepath.Join(root, "config", "cloudformation", "ecs-drainer.yaml")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			t.Skip("no config/cloudformation/ecs-drainer.yaml")
		}
		tmpl, err := iamLoadTemplate(path)
		if err != nil {
			t.Fatal(err)
		}
		granted, err := tmpl.taskRoleActions()
		if err != nil {
			t.Fatal(err)
		}
		iamCompare(t, "the CloudFormation task role", called, granted)
	})

	// The derived set is complete only if the controller reaches AWS through those interfaces:
	// no package of the controller may build or hold an SDK client itself. (pkg/demo and
	// pkg/awssim are the simulator side: they only ever talk to the simulator.)
	t.Run("controller uses only the interfaces", func(t *testing.T) {
		for _, dir := range []string{"cmd/controller", "pkg/reconciler", "pkg/options", "pkg/metrics", "pkg/events"} {
			uses, err := iamDirectClientUses(filepath.Join(root, dir))
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range uses {
				t.Errorf("%s: uses the SDK client %s directly; call AWS through pkg/awsapi's interfaces so that the IAM check sees every operation", dir, u)
			}
		}
	})
}

// TestTaskDefinitionEnvironmentNamesRealFlags checks that every environment variable the shipped
// task definitions set is one the controller reads: a misspelt name would be silently ignored and
// the default used.
func TestTaskDefinitionEnvironmentNamesRealFlags(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	flagEnv, err := iamFlagEnvFromHelp()
	if err != nil {
		t.Fatal(err)
	}
	known := append(slices.Clone(iamSDKEnv), flagEnv...)

	t.Run("task-definition.json", func(t *testing.T) {
		var td struct {
			ContainerDefinitions []struct {
				Name        string `json:"name"`
				Environment []struct {
					Name string `json:"name"`
				} `json:"environment"`
			} `json:"containerDefinitions"`
		}
		b, err := os.ReadFile(filepath.Join(root, "config", "ecs", "task-definition.json"))
		if err != nil {
			t.Fatalf("reading the task definition: %v", err)
		}
		if err := json.Unmarshal(b, &td); err != nil {
			t.Fatalf("parsing config/ecs/task-definition.json: %v", err)
		}
		var names []string
		for _, c := range td.ContainerDefinitions {
			for _, e := range c.Environment {
				names = append(names, e.Name)
			}
		}
		iamCheckEnv(t, "config/ecs/task-definition.json", names, known)
	})

	t.Run("cloudformation task definition", func(t *testing.T) {
		path := filepath.Join(root, "config", "cloudformation", "ecs-drainer.yaml")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			t.Skip("no config/cloudformation/ecs-drainer.yaml")
		}
		tmpl, err := iamLoadTemplate(path)
		if err != nil {
			t.Fatal(err)
		}
		names, err := tmpl.environmentNames()
		if err != nil {
			t.Fatal(err)
		}
		iamCheckEnv(t, "the CloudFormation task definition", names, known)
	})
}

func iamCompare(t *testing.T, what string, called, granted []string) {
	t.Helper()
	missing, extra := iamDiff(called, granted)
	for _, a := range missing {
		t.Errorf("%s does not grant %s, which the controller calls (pkg/awsapi): it would get AccessDenied", what, a)
	}
	for _, a := range extra {
		t.Errorf("%s grants %s, which the controller never calls: remove it (least privilege)", what, a)
	}
}

// iamDiff returns the actions called but not granted, and granted but not called.
func iamDiff(called, granted []string) (missing, extra []string) {
	for _, a := range called {
		if !slices.Contains(granted, a) {
			missing = append(missing, a)
		}
	}
	for _, a := range granted {
		if !slices.Contains(called, a) {
			extra = append(extra, a)
		}
	}
	return missing, extra
}

// TestIAMCheckReadsWhatItClaims runs the derivation and the policy readers on fixtures in
// testdata/iam, so that a shape they cannot understand fails instead of passing unseen.
func TestIAMCheckReadsWhatItClaims(t *testing.T) {
	fixture := func(name string) string { return filepath.Join("testdata", "iam", name) }

	t.Run("interfaces", func(t *testing.T) {
		tests := []struct {
			dir     string
			want    []string
			wantErr string
		}{
			{dir: "aliased", want: []string{"autoscaling:CompleteLifecycleAction", "ecs:ListTasks", "ecs:StopTask", "sqs:DeleteMessage"}},
			{dir: "embedded", wantErr: "embeds autoscaling.DescribeAutoScalingGroupsAPIClient"},
			{dir: "wrong-input", wantErr: "not the SDK's signature"},
			{dir: "no-ecs", wantErr: "found no interface ECS"},
			{dir: "unknown-service", wantErr: `SDK service "ec2", whose IAM prefix`},
		}
		for _, tt := range tests {
			t.Run(tt.dir, func(t *testing.T) {
				got, err := iamActionsFromInterfaces(fixture(tt.dir))
				iamCheckResult(t, got, err, tt.want, tt.wantErr)
			})
		}
	})

	t.Run("policy documents", func(t *testing.T) {
		tests := []struct {
			file    string
			want    []string
			wantErr string
		}{
			{file: "policy-string-action.json", want: []string{"ecs:ListTasks", "ecs:StopTask"}},
			{file: "policy-not-action.json", wantErr: "not a plain Allow"},
			{file: "policy-deny.json", wantErr: "not a plain Allow"},
		}
		for _, tt := range tests {
			t.Run(tt.file, func(t *testing.T) {
				got, err := iamPolicyJSONActions(fixture(tt.file))
				iamCheckResult(t, got, err, tt.want, tt.wantErr)
			})
		}
	})

	t.Run("templates", func(t *testing.T) {
		tmpl, err := iamLoadTemplate(fixture("template-long-form.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := tmpl.taskRoleActions()
		iamCheckResult(t, got, err, []string{"ecs:ListTasks", "ecs:StopTask"}, "")
		env, err := tmpl.environmentNames()
		iamCheckResult(t, env, err, []string{"POLL_INTERVAL", "ASG_NAMES"}, "")

		tmpl, err = iamLoadTemplate(fixture("template-managed-policy.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		got, err = tmpl.taskRoleActions()
		iamCheckResult(t, got, err, nil, "managed policies")
	})

	t.Run("diff", func(t *testing.T) {
		missing, extra := iamDiff([]string{"ecs:A", "ecs:B"}, []string{"ecs:B", "ecs:C"})
		if !slices.Equal(missing, []string{"ecs:A"}) || !slices.Equal(extra, []string{"ecs:C"}) {
			t.Errorf("iamDiff: missing %v extra %v, want [ecs:A] [ecs:C]", missing, extra)
		}
	})
}

func iamCheckResult(t *testing.T, got []string, err error, want []string, wantErr string) {
	t.Helper()
	switch {
	case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
		t.Errorf("got %v, error %v; want an error containing %q", got, err, wantErr)
	case wantErr == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case wantErr == "" && !slices.Equal(got, want):
		t.Errorf("got %v, want %v", got, want)
	}
}

func iamCheckEnv(t *testing.T, what string, names, known []string) {
	t.Helper()
	if len(names) == 0 {
		t.Fatalf("%s sets no environment variable; the test found nothing to check", what)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("%s sets %s twice", what, n)
		}
		seen[n] = true
		if !slices.Contains(known, n) {
			t.Errorf("%s sets %s, which is no flag's environment variable (ecs-drainer --help) nor an SDK variable %v", what, n, iamSDKEnv)
		}
	}
}

// iamActionsFromInterfaces reads the non-test Go files of dir and returns, sorted, "prefix:Method"
// for every method of an interface that has the SDK operation shape
// Method(ctx, *svc.MethodInput, ...func(*svc.Options)) with svc an aws-sdk-go-v2 service package.
func iamActionsFromInterfaces(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	fset := token.NewFileSet()
	var actions []string
	found := map[string]int{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", path, err)
		}
		services := iamSDKImports(f)
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts, ok := spec.(*ast.TypeSpec)
				if !ok {
					continue
				}
				it, ok := ts.Type.(*ast.InterfaceType)
				if !ok {
					continue
				}
				ops, err := iamInterfaceActions(fset, ts.Name.Name, it, services)
				if err != nil {
					return nil, err
				}
				actions = append(actions, ops...)
				found[ts.Name.Name] += len(ops)
			}
		}
	}
	for _, name := range iamRequiredInterfaces {
		if found[name] == 0 {
			return nil, fmt.Errorf("found no interface %s with SDK operations in %s (found %v)", name, dir, found)
		}
	}
	slices.Sort(actions)
	return slices.Compact(actions), nil
}

// iamInterfaceActions lists the IAM actions of the SDK operations interface name (it) declares,
// given the SDK services its file imports.
func iamInterfaceActions(fset *token.FileSet, name string, it *ast.InterfaceType, services map[string]string) ([]string, error) {
	var actions []string
	for _, m := range it.Methods.List {
		if len(m.Names) == 0 {
			return nil, fmt.Errorf("%s: interface %s embeds %s; list its operations as methods so they can be checked",
				fset.Position(m.Pos()), name, iamExprString(m.Type))
		}
		ft, ok := m.Type.(*ast.FuncType)
		if !ok {
			continue
		}
		for _, op := range m.Names {
			svc, input, ok := iamOperationShape(ft, services)
			if !ok {
				continue
			}
			if input != op.Name+"Input" {
				return nil, fmt.Errorf("%s: %s.%s takes %s, not %sInput: not the SDK's signature",
					fset.Position(op.Pos()), name, op.Name, input, op.Name)
			}
			prefix, ok := iamSDKServicePrefix[svc]
			if !ok {
				return nil, fmt.Errorf("%s: %s.%s is an operation of SDK service %q, whose IAM prefix this test does not know; add it to iamSDKServicePrefix",
					fset.Position(op.Pos()), name, op.Name, svc)
			}
			action := prefix + ":" + op.Name
			if a, ok := iamActionOfOperation[action]; ok {
				action = a
			}
			actions = append(actions, action)
		}
	}
	return actions, nil
}

// iamSDKImports maps the local names of a file's imports of SDK service packages to the service.
func iamSDKImports(f *ast.File) map[string]string {
	out := map[string]string{}
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			continue
		}
		svc, ok := strings.CutPrefix(path, iamSDKServicePath)
		if !ok || strings.Contains(svc, "/") {
			continue // not a service client package (types, internal, ...)
		}
		local := svc
		if imp.Name != nil {
			local = imp.Name.Name
		}
		out[local] = svc
	}
	return out
}

// iamOperationShape reports whether ft is (context.Context, *svc.XInput, ...func(*svc.Options))
// for an SDK service package, and returns the service and X+"Input".
func iamOperationShape(ft *ast.FuncType, services map[string]string) (svc, input string, ok bool) {
	var params []ast.Expr
	for _, p := range ft.Params.List {
		n := max(len(p.Names), 1)
		for range n {
			params = append(params, p.Type)
		}
	}
	if len(params) != 3 {
		return "", "", false
	}
	star, ok := params[1].(*ast.StarExpr)
	if !ok {
		return "", "", false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	if !ok {
		return "", "", false
	}
	pkg, ok := sel.X.(*ast.Ident)
	if !ok {
		return "", "", false
	}
	svc, ok = services[pkg.Name]
	if !ok || !strings.HasSuffix(sel.Sel.Name, "Input") {
		return "", "", false
	}
	if _, variadic := params[2].(*ast.Ellipsis); !variadic {
		return "", "", false
	}
	return svc, sel.Sel.Name, true
}

func iamExprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return iamExprString(e.X) + "." + e.Sel.Name
	default:
		return fmt.Sprintf("%T", e)
	}
}

// iamDirectClientUses lists references to an SDK service's Client type or constructors in the
// non-test Go files of dir.
func iamDirectClientUses(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no Go files in %s: the check would check nothing", dir)
	}
	fset := token.NewFileSet()
	var uses []string
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", path, err)
		}
		services := iamSDKImports(f)
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pkg, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			if _, sdk := services[pkg.Name]; sdk && slices.Contains([]string{"Client", "New", "NewFromConfig"}, sel.Sel.Name) {
				uses = append(uses, fmt.Sprintf("%s.%s at %s", pkg.Name, sel.Sel.Name, fset.Position(sel.Pos())))
			}
			return true
		})
	}
	return uses, nil
}

// iamStringList is an IAM policy element that may be a string or a list of strings.
type iamStringList []string

func (s *iamStringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = iamStringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a string or a list of strings, got %s", b)
	}
	*s = many
	return nil
}

// iamPolicyJSONActions returns the sorted actions an IAM policy document allows.
func iamPolicyJSONActions(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the policy: %w", err)
	}
	var doc struct {
		Statement []struct {
			Sid       string
			Effect    string
			Action    iamStringList
			NotAction iamStringList
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	var actions []string
	for i, s := range doc.Statement {
		if s.Effect != "Allow" || len(s.NotAction) > 0 {
			return nil, fmt.Errorf("%s: statement %d (%s) is not a plain Allow of Actions; the test cannot reason about it", path, i, s.Sid)
		}
		actions = append(actions, s.Action...)
	}
	if len(actions) == 0 {
		return nil, fmt.Errorf("%s grants no action", path)
	}
	slices.Sort(actions)
	return slices.Compact(actions), nil
}

// iamTemplate is a CloudFormation template as YAML nodes; short-form intrinsics (!Sub, !If, ...)
// stay tags on their nodes.
type iamTemplate struct {
	path      string
	resources map[string]*yaml.Node // logical ID -> resource mapping
}

func iamLoadTemplate(path string) (*iamTemplate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the template: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	if len(doc.Content) != 1 {
		return nil, fmt.Errorf("%s: want one YAML document", path)
	}
	res := iamMapValue(doc.Content[0], "Resources")
	if res == nil || res.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: no Resources mapping", path)
	}
	t := &iamTemplate{path: path, resources: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(res.Content); i += 2 {
		t.resources[res.Content[i].Value] = res.Content[i+1]
	}
	return t, nil
}

// iamMapValue returns the value of key in mapping n, or nil.
func iamMapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// ofType returns the logical IDs of the resources of a type, sorted.
func (t *iamTemplate) ofType(typ string) []string {
	var ids []string
	for id, r := range t.resources {
		if v := iamMapValue(r, "Type"); v != nil && v.Value == typ {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// taskDefinition returns the template's single ECS task definition's Properties.
func (t *iamTemplate) taskDefinition() (*yaml.Node, error) {
	ids := t.ofType("AWS::ECS::TaskDefinition")
	if len(ids) != 1 {
		return nil, fmt.Errorf("%s: want one AWS::ECS::TaskDefinition, found %v", t.path, ids)
	}
	props := iamMapValue(t.resources[ids[0]], "Properties")
	if props == nil {
		return nil, fmt.Errorf("%s: task definition %s has no Properties", t.path, ids[0])
	}
	return props, nil
}

// taskRoleActions follows the task definition's TaskRoleArn (!GetAtt Role.Arn) to the role and
// returns the sorted actions its inline policies allow, every !If branch included.
func (t *iamTemplate) taskRoleActions() ([]string, error) {
	td, err := t.taskDefinition()
	if err != nil {
		return nil, err
	}
	roleID, err := iamGetAttResource(iamMapValue(td, "TaskRoleArn"))
	if err != nil {
		return nil, fmt.Errorf("%s: TaskRoleArn: %w", t.path, err)
	}
	if !slices.Contains(t.ofType("AWS::IAM::Role"), roleID) {
		return nil, fmt.Errorf("%s: TaskRoleArn names %s, which is no AWS::IAM::Role", t.path, roleID)
	}
	props := iamMapValue(t.resources[roleID], "Properties")
	if iamMapValue(props, "ManagedPolicyArns") != nil || iamMapValue(props, "PermissionsBoundary") != nil {
		return nil, fmt.Errorf("%s: task role %s has managed policies or a boundary, whose actions the test cannot see", t.path, roleID)
	}
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"} {
		if ids := t.ofType(typ); len(ids) > 0 {
			return nil, fmt.Errorf("%s: %s resources %v may grant the task role more; extend the test to read them", t.path, typ, ids)
		}
	}
	policies := iamMapValue(props, "Policies")
	if policies == nil {
		return nil, fmt.Errorf("%s: task role %s has no inline Policies", t.path, roleID)
	}
	actions, err := t.policyActions(policies)
	if err != nil {
		return nil, err
	}
	if len(actions) == 0 {
		return nil, fmt.Errorf("%s: task role %s grants no action", t.path, roleID)
	}
	slices.Sort(actions)
	return slices.Compact(actions), nil
}

// policyActions lists the actions the statements under policies allow, and refuses a statement
// that is not a plain Allow of Actions.
func (t *iamTemplate) policyActions(policies *yaml.Node) ([]string, error) {
	var actions []string
	var walkErr error
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			if action := iamMapValue(n, "Action"); action != nil {
				if e := iamMapValue(n, "Effect"); e == nil || e.Value != "Allow" || iamMapValue(n, "NotAction") != nil {
					walkErr = errors.Join(walkErr, fmt.Errorf("%s line %d: a statement that is not a plain Allow of Actions", t.path, n.Line))
				}
				switch action.Kind {
				case yaml.ScalarNode:
					actions = append(actions, action.Value)
				case yaml.SequenceNode:
					for _, a := range action.Content {
						actions = append(actions, a.Value)
					}
				default:
					walkErr = errors.Join(walkErr, fmt.Errorf("%s line %d: Action is neither a string nor a list", t.path, action.Line))
				}
				return
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(policies)
	return actions, walkErr
}

// iamGetAttResource returns the logical ID in "!GetAtt X.Arn", "!GetAtt [X, Arn]" or
// {"Fn::GetAtt": [X, Arn]}.
func iamGetAttResource(n *yaml.Node) (string, error) {
	if n == nil {
		return "", errors.New("missing")
	}
	switch {
	case n.Tag == "!GetAtt":
	case iamMapValue(n, "Fn::GetAtt") != nil:
		n = iamMapValue(n, "Fn::GetAtt")
	default:
		return "", fmt.Errorf("line %d: want !GetAtt <Role>.Arn", n.Line)
	}
	switch n.Kind {
	case yaml.ScalarNode:
		id, attr, ok := strings.Cut(n.Value, ".")
		if ok && attr == "Arn" {
			return id, nil
		}
	case yaml.SequenceNode:
		if len(n.Content) == 2 && n.Content[1].Value == "Arn" {
			return n.Content[0].Value, nil
		}
	}
	return "", fmt.Errorf("line %d: want !GetAtt <Role>.Arn", n.Line)
}

// environmentNames returns the Name of every Environment entry of the task definition's
// containers, every !If branch included.
func (t *iamTemplate) environmentNames() ([]string, error) {
	td, err := t.taskDefinition()
	if err != nil {
		return nil, err
	}
	containers := iamMapValue(td, "ContainerDefinitions")
	if containers == nil || containers.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s: the task definition has no ContainerDefinitions list", t.path)
	}
	var names []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if name := iamMapValue(n, "Name"); name != nil && name.Kind == yaml.ScalarNode && iamMapValue(n, "Value") != nil {
			names = append(names, name.Value)
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	for _, c := range containers.Content {
		if env := iamMapValue(c, "Environment"); env != nil {
			walk(env)
		}
	}
	return names, nil
}

// iamHelpFlag matches a flag line of `ecs-drainer --help`: "  --poll-interval duration  $POLL_INTERVAL  ...".
var iamHelpFlag = regexp.MustCompile(`^\s+(?:-\w, )?--([a-z0-9-]+)\b.*?\s\$([A-Z0-9_]+)\s`)

// iamFlagEnvFromHelp runs the built controller's --help and returns every flag's environment
// variable, checking that each is the flag's name in SCREAMING_SNAKE case.
func iamFlagEnvFromHelp() ([]string, error) {
	_, ctlBin, err := harness.Binaries()
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(ctlBin, "--help")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("running ecs-drainer --help: %w\n%s", err, stderr.String())
	}
	var env []string
	for line := range strings.Lines(stdout.String()) {
		m := iamHelpFlag.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if want := strings.ToUpper(strings.ReplaceAll(m[1], "-", "_")); m[2] != want {
			return nil, fmt.Errorf("ecs-drainer --help gives flag --%s the variable $%s, want $%s", m[1], m[2], want)
		}
		env = append(env, m[2])
	}
	// The README lists 21 flags with a variable; far fewer means the help format changed.
	if len(env) < 15 {
		return nil, fmt.Errorf("found only %d flag variables in ecs-drainer --help; has its format changed?\n%s", len(env), stdout.String())
	}
	return env, nil
}
