package config_test

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const templatePath = "config/cloudformation/ecs-drainer.yaml"

// cfnTags maps CloudFormation's YAML short forms to the long form of the intrinsic function.
var cfnTags = map[string]string{
	"!Ref": "Ref", "!Sub": "Fn::Sub", "!GetAtt": "Fn::GetAtt", "!If": "Fn::If", "!Not": "Fn::Not",
	"!Equals": "Fn::Equals", "!And": "Fn::And", "!Or": "Fn::Or", "!Join": "Fn::Join",
	"!Select": "Fn::Select", "!Split": "Fn::Split", "!FindInMap": "Fn::FindInMap",
	"!GetAZs": "Fn::GetAZs", "!ImportValue": "Fn::ImportValue", "!Base64": "Fn::Base64",
	"!Cidr": "Fn::Cidr", "!Condition": "Condition",
}

// pseudoParameters can be referenced without being declared.
var pseudoParameters = []string{
	"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition", "AWS::Region",
	"AWS::StackId", "AWS::StackName", "AWS::URLSuffix",
}

// decodeCFN turns a YAML node into maps, lists and strings, with every short-form intrinsic
// (!Ref X) rewritten to its long form ({"Ref": "X"}), so that the template can be walked as the
// JSON CloudFormation sees.
func decodeCFN(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		return decodeCFN(n.Content[0])
	case yaml.AliasNode:
		return decodeCFN(n.Alias)
	case yaml.ScalarNode:
		v = n.Value
	case yaml.SequenceNode:
		list := []any{}
		for _, c := range n.Content {
			cv, err := decodeCFN(c)
			if err != nil {
				return nil, err
			}
			list = append(list, cv)
		}
		v = list
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("line %d: key %q repeated", n.Content[i].Line, k)
			}
			cv, err := decodeCFN(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k] = cv
		}
		v = m
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
	}
	return withCFNTag(n, v)
}

// withCFNTag gives v the long form of the intrinsic function its short-form tag (!Ref, !Sub,
// ...) names, if it has one.
func withCFNTag(n *yaml.Node, v any) (any, error) {
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		fn, ok := cfnTags[n.Tag]
		if !ok {
			return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
		}
		if fn == "Fn::GetAtt" {
			// The short form "A.B" is the long form ["A", "B"].
			if s, ok := v.(string); ok {
				res, attr, _ := strings.Cut(s, ".")
				v = []any{res, attr}
			}
		}
		return map[string]any{fn: v}, nil
	}
	return v, nil
}

type template struct {
	Parameters map[string]any
	Conditions map[string]any
	Resources  map[string]any
	Outputs    map[string]any
}

func loadTemplate(t *testing.T) (template, map[string]any) {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal(readFile(t, templatePath), &root); err != nil {
		t.Fatalf("parsing %s: %v", templatePath, err)
	}
	v, err := decodeCFN(&root)
	if err != nil {
		t.Fatalf("decoding %s: %v", templatePath, err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is not a mapping", templatePath)
	}
	section := func(name string) map[string]any {
		m, _ := doc[name].(map[string]any)
		return m
	}
	return template{
		Parameters: section("Parameters"),
		Conditions: section("Conditions"),
		Resources:  section("Resources"),
		Outputs:    section("Outputs"),
	}, doc
}

// walk calls fn for every map in v, depth first.
func walk(v any, fn func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		fn(v)
		for _, c := range v {
			walk(c, fn)
		}
	case []any:
		for _, c := range v {
			walk(c, fn)
		}
	}
}

// dig follows keys through nested maps.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func resource(t *testing.T, tpl template, name, typ string) map[string]any {
	t.Helper()
	r, ok := tpl.Resources[name].(map[string]any)
	if !ok {
		t.Fatalf("no resource %s", name)
	}
	if r["Type"] != typ {
		t.Fatalf("resource %s has Type %v, want %s", name, r["Type"], typ)
	}
	return r
}

var subVarRE = regexp.MustCompile(`\$\{([^!}][^}]*)\}`)

// TestTemplateReferencesResolve is a cfn-lint-free check that runs everywhere: every Ref, GetAtt,
// Sub variable and Condition names something the template declares.
func TestTemplateReferencesResolve(t *testing.T) {
	tpl, _ := loadTemplate(t)
	declared := func(name string) bool {
		_, p := tpl.Parameters[name]
		_, r := tpl.Resources[name]
		return p || r || slices.Contains(pseudoParameters, name)
	}
	isResource := func(name string) bool { _, ok := tpl.Resources[name]; return ok }
	isCondition := func(name any) bool { s, _ := name.(string); _, ok := tpl.Conditions[s]; return ok }

	var problems []string
	walk(map[string]any{"Resources": tpl.Resources, "Outputs": tpl.Outputs, "Conditions": tpl.Conditions}, func(m map[string]any) {
		if ref, ok := m["Ref"].(string); ok && !declared(ref) {
			problems = append(problems, "Ref to undeclared "+ref)
		}
		if ga, ok := m["Fn::GetAtt"].([]any); ok && (len(ga) != 2 || !isResource(fmt.Sprint(ga[0]))) {
			problems = append(problems, fmt.Sprintf("GetAtt %v of no resource", ga))
		}
		if sub, ok := m["Fn::Sub"].(string); ok {
			for _, mm := range subVarRE.FindAllStringSubmatch(sub, -1) {
				base, _, _ := strings.Cut(mm[1], ".")
				if !declared(base) {
					problems = append(problems, fmt.Sprintf("Sub %q uses undeclared %s", sub, mm[1]))
				}
			}
		}
		if ifArgs, ok := m["Fn::If"].([]any); ok && (len(ifArgs) != 3 || !isCondition(ifArgs[0])) {
			problems = append(problems, fmt.Sprintf("If %v names no condition", ifArgs))
		}
	})
	problems = append(problems, conditionProblems(tpl, isCondition)...)
	for _, p := range problems {
		t.Error(p)
	}
}

// conditionProblems lists the resources and outputs whose Condition is not declared.
func conditionProblems(tpl template, isCondition func(any) bool) []string {
	var problems []string
	for section, entries := range map[string]map[string]any{"Resources": tpl.Resources, "Outputs": tpl.Outputs} {
		for name, e := range entries {
			if c := dig(e, "Condition"); c != nil && !isCondition(c) {
				problems = append(problems, fmt.Sprintf("%s %s has undeclared Condition %v", section, name, c))
			}
		}
	}
	return problems
}

// templateActions returns the actions of the task role's inline policy, from both branches of
// any Fn::If.
func templateActions(t *testing.T, tpl template) []string {
	t.Helper()
	role := resource(t, tpl, "TaskRole", "AWS::IAM::Role")
	policies, _ := dig(role, "Properties", "Policies").([]any)
	if len(policies) != 1 {
		t.Fatalf("TaskRole has %d inline policies, want 1", len(policies))
	}
	var actions []string
	walk(dig(policies[0], "PolicyDocument", "Statement"), func(m map[string]any) {
		switch a := m["Action"].(type) {
		case string:
			actions = append(actions, a)
		case []any:
			for _, s := range a {
				actions = append(actions, fmt.Sprint(s))
			}
		}
	})
	slices.Sort(actions)
	return slices.Compact(actions)
}

func TestTemplateTaskRoleGrantsTheControllerActions(t *testing.T) {
	tpl, _ := loadTemplate(t)
	if d := actionDiff(templateActions(t, tpl)); d != "" {
		t.Errorf("TaskRole does not grant exactly ControllerActions: %s", d)
	}
	// Same Sids as policy.json, so the README's table describes both.
	var doc policyDocument
	readJSON(t, &doc, "config/iam/policy.json")
	role := resource(t, tpl, "TaskRole", "AWS::IAM::Role")
	var sids []string
	walk(dig(role, "Properties", "Policies"), func(m map[string]any) {
		if sid, ok := m["Sid"].(string); ok {
			sids = append(sids, sid)
		}
	})
	for _, s := range doc.Statement {
		if !slices.Contains(sids, s.Sid) {
			t.Errorf("policy.json statement %s is missing from the TaskRole", s.Sid)
		}
	}
	trust := dig(role, "Properties", "AssumeRolePolicyDocument", "Statement")
	if got := fmt.Sprint(dig(trust.([]any)[0], "Principal", "Service")); got != "ecs-tasks.amazonaws.com" {
		t.Errorf("TaskRole trusts %s, want ecs-tasks.amazonaws.com", got)
	}
}

func TestTemplateServiceAndTask(t *testing.T) {
	tpl, _ := loadTemplate(t)

	svc := dig(resource(t, tpl, "Service", "AWS::ECS::Service"), "Properties")
	checks := []struct {
		path []string
		want string
	}{
		{[]string{"LaunchType"}, "FARGATE"},
		{[]string{"DesiredCount"}, "1"},
		{[]string{"DeploymentConfiguration", "MaximumPercent"}, "200"},
		{[]string{"DeploymentConfiguration", "MinimumHealthyPercent"}, "100"},
		{[]string{"DeploymentConfiguration", "DeploymentCircuitBreaker", "Enable"}, "true"},
		{[]string{"DeploymentConfiguration", "DeploymentCircuitBreaker", "Rollback"}, "true"},
	}
	for _, c := range checks {
		if got := fmt.Sprint(dig(svc, c.path...)); got != c.want {
			t.Errorf("Service %s = %s, want %s", strings.Join(c.path, "."), got, c.want)
		}
	}

	td := dig(resource(t, tpl, "TaskDefinition", "AWS::ECS::TaskDefinition"), "Properties")
	for key, want := range map[string]string{"NetworkMode": "awsvpc", "Cpu": "256", "Memory": "512", "RequiresCompatibilities": "[FARGATE]"} {
		if got := fmt.Sprint(dig(td, key)); got != want {
			t.Errorf("TaskDefinition %s = %s, want %s", key, got, want)
		}
	}
	containers, _ := dig(td, "ContainerDefinitions").([]any)
	if len(containers) != 1 {
		t.Fatalf("%d containers, want 1", len(containers))
	}
	c := containers[0]
	if dig(c, "HealthCheck") != nil {
		t.Error("container HealthCheck set: the distroless image has no command to run it")
	}
	if got := fmt.Sprint(dig(c, "PortMappings").([]any)[0].(map[string]any)["ContainerPort"]); got != defaultHTTPPort {
		t.Errorf("ContainerPort %s, want %s", got, defaultHTTPPort)
	}

	// The environment as the stack creates it with default parameters: Refs to parameters take
	// their defaults, both branches of an If are taken (names must be unique across them).
	env := map[string]string{}
	var names []string
	for _, e := range dig(c, "Environment").([]any) {
		if ifArgs, ok := dig(e, "Fn::If").([]any); ok {
			e = ifArgs[1]
		}
		name := fmt.Sprint(dig(e, "Name"))
		names = append(names, name)
		env[name] = resolveDefault(t, tpl, dig(e, "Value"))
	}
	checkControllerEnv(t, env, names)
	if env["HOOK_NAME"] != fmt.Sprint(dig(tpl.Parameters, "LifecycleHookName", "Default")) {
		t.Errorf("HOOK_NAME %q is not the hook the stack creates", env["HOOK_NAME"])
	}
}

// resolveDefault evaluates an environment value with every parameter at its default.
func resolveDefault(t *testing.T, tpl template, v any) string {
	t.Helper()
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		if ref, ok := v["Ref"].(string); ok {
			if slices.Contains(pseudoParameters, ref) {
				return "us-east-1" // AWS::Region, the only pseudo parameter used in values
			}
			if dig(tpl.Resources, ref, "Type") == "AWS::SQS::Queue" {
				// Ref of a queue is its URL; the stack's, for a stack named ecs-drainer.
				return "https://sqs.us-east-1.amazonaws.com/123456789012/ecs-drainer-events"
			}
			return fmt.Sprint(dig(tpl.Parameters, ref, "Default"))
		}
		if sub, ok := v["Fn::Sub"].(string); ok {
			return subVarRE.ReplaceAllStringFunc(sub, func(m string) string {
				return fmt.Sprint(dig(tpl.Parameters, m[2:len(m)-1], "Default"))
			})
		}
	}
	t.Fatalf("cannot evaluate environment value %v", v)
	return ""
}

func TestTemplateLifecycleHook(t *testing.T) {
	tpl, _ := loadTemplate(t)
	hook := resource(t, tpl, "LifecycleHook", "AWS::AutoScaling::LifecycleHook")
	if hook["Condition"] != "HasTargetAsg" {
		t.Errorf("LifecycleHook Condition %v, want HasTargetAsg", hook["Condition"])
	}
	if got := fmt.Sprint(tpl.Conditions["HasTargetAsg"]); got != "map[Fn::Not:[map[Fn::Equals:[map[Ref:TargetAutoScalingGroupName] ]]]]" {
		t.Errorf("HasTargetAsg = %s, want TargetAutoScalingGroupName non-empty", got)
	}
	if d := fmt.Sprint(dig(tpl.Parameters, "TargetAutoScalingGroupName", "Default")); d != "" {
		t.Errorf("TargetAutoScalingGroupName defaults to %q, want empty (no hook)", d)
	}
	props := dig(hook, "Properties")
	for key, want := range map[string]string{
		"LifecycleTransition":  "autoscaling:EC2_INSTANCE_TERMINATING",
		"DefaultResult":        "CONTINUE",
		"HeartbeatTimeout":     "map[Ref:HeartbeatTimeout]",
		"AutoScalingGroupName": "map[Ref:TargetAutoScalingGroupName]",
	} {
		if got := fmt.Sprint(dig(props, key)); got != want {
			t.Errorf("LifecycleHook %s = %s, want %s", key, got, want)
		}
	}
	if d, err := strconv.Atoi(fmt.Sprint(dig(tpl.Parameters, "HeartbeatTimeout", "Default"))); err != nil || d != 300 {
		t.Errorf("HeartbeatTimeout default %v, want 300", dig(tpl.Parameters, "HeartbeatTimeout", "Default"))
	}
	if got := fmt.Sprint(dig(tpl.Parameters, "LogRetentionInDays", "Default")); got == "<nil>" {
		t.Error("LogRetentionInDays has no default")
	}
}

func TestCFNLint(t *testing.T) {
	t.Parallel() // runs an external tool: overlap it with the rest
	runTool(t, repoPath(), "cfn-lint", templatePath)
}
