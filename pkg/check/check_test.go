package check

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"

	"github.com/ecs-drainer/ecs-drainer/internal/awstest"
	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
	"github.com/ecs-drainer/ecs-drainer/pkg/check/checktest"
	"github.com/ecs-drainer/ecs-drainer/pkg/options"
)

// fleet is a simulator holding one of checktest's fleets, and the controller's clients for it.
type fleet struct {
	sim *awssim.Sim
	url string // the simulator's endpoint
	as  awsapi.AutoScaling
	ecs awsapi.ECS
	// fixtureAS and fixtureECS set the scene; their calls are not the check's.
	fixtureAS  *autoscaling.Client
	fixtureECS *ecs.Client
}

func newFleet(t *testing.T, groups []checktest.Group) *fleet {
	t.Helper()
	awstest.IsolateConfig(t)

	sim := awssim.New(awssim.Options{Seed: 3, LaunchDelay: 10 * time.Millisecond, RegisterDelay: 10 * time.Millisecond})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sim.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	cfg := aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(srv.URL),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None })
		},
	}
	fixtureAS, fixtureECS := autoscaling.NewFromConfig(cfg), ecs.NewFromConfig(cfg)
	build, cancelBuild := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancelBuild()
	if err := checktest.Build(build, fixtureAS, fixtureECS, groups); err != nil {
		t.Fatalf("building the fleet: %v", err)
	}
	as, ec, err := awsapi.NewClients(t.Context(), awsapi.ClientOptions{
		EndpointURL: srv.URL, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fleet{sim: sim, url: srv.URL, as: as, ecs: ec, fixtureAS: fixtureAS, fixtureECS: fixtureECS}
}

// check runs the check with these flags through the given clients (the fleet's when nil) and
// asserts that it made no write: the simulator's own counters are the ground truth.
func (f *fleet) check(t *testing.T, flags []string, as AutoScalingReader, ec ECSReader) *Report {
	t.Helper()
	opts, err := options.ParseCheck(flags, func(string) string { return "" })
	if err != nil {
		t.Fatalf("ParseCheck(%q): %v", flags, err)
	}
	if as == nil {
		as = f.as
	}
	if ec == nil {
		ec = f.ecs
	}
	before := f.sim.Stats()
	rep := Run(t.Context(), Config{Reconciler: opts.ReconcilerConfig(), ASGTag: opts.ASGTag}, Deps{AutoScaling: as, ECS: ec})
	after := f.sim.Stats()
	if after.WriteCalls != before.WriteCalls {
		t.Errorf("the check made %d write calls, want none", after.WriteCalls-before.WriteCalls)
	}
	for k, n := range after.Requests {
		op := strings.Split(k, "/")[1]
		if n > before.Requests[k] && !strings.HasPrefix(op, "Describe") && !strings.HasPrefix(op, "List") {
			t.Errorf("the check called %s (%d times), not a read", k, n-before.Requests[k])
		}
	}
	return rep
}

// has reports whether the report holds a problem of this code, severity and subject, and returns it.
func has(rep *Report, severity, code, subject string) (Problem, bool) {
	for _, p := range rep.Problems {
		if p.Severity == severity && p.Code == code && p.Subject == subject {
			return p, true
		}
	}
	return Problem{}, false
}

func wantProblems(t *testing.T, rep *Report, want []Problem) {
	t.Helper()
	for _, w := range want {
		p, ok := has(rep, w.Severity, w.Code, w.Subject)
		if !ok {
			t.Errorf("no %s %s about %s", w.Severity, w.Code, w.Subject)
			continue
		}
		if !strings.Contains(p.Fix, w.Fix) {
			t.Errorf("%s about %s: fix %q does not contain %q", w.Code, w.Subject, p.Fix, w.Fix)
		}
	}
	if t.Failed() {
		var text bytes.Buffer
		_ = WriteText(&text, rep)
		t.Logf("report:\n%s", text.String())
	}
}

// TestBrokenFleet checks a fleet with every problem: each is named, with its fix, and the check
// fails.
func TestBrokenFleet(t *testing.T) {
	f := newFleet(t, checktest.Broken)

	rep := f.check(t, checktest.BrokenFlags, nil, nil)
	if rep.OK || ExitCode(rep) != 1 {
		t.Errorf("OK = %v, exit %d; want false, 1", rep.OK, ExitCode(rep))
	}
	putHook := "aws autoscaling put-lifecycle-hook --auto-scaling-group-name no-hook --lifecycle-hook-name ecs-drainer --lifecycle-transition autoscaling:EC2_INSTANCE_TERMINATING --heartbeat-timeout 300 --default-result CONTINUE"
	wantProblems(t, rep, []Problem{
		{Severity: SeverityFail, Code: "no-terminating-hook", Subject: "no-hook", Fix: putHook},
		{Severity: SeverityFail, Code: "several-terminating-hooks", Subject: "two-hooks", Fix: "--hook-name a"},
		{Severity: SeverityFail, Code: "only-ecs-managed-hook", Subject: "ecs-only", Fix: "--lifecycle-hook-name ecs-drainer"},
		{Severity: SeverityWarning, Code: "ecs-managed-draining", Subject: "ecs-too", Fix: "managedDraining=DISABLED"},
		{Severity: SeverityWarning, Code: "heartbeat-shorter-than-resync", Subject: "short-hb", Fix: "--resync-period 15s"},
		{Severity: SeverityWarning, Code: "drain-timeout-cut", Subject: "short-hb", Fix: "--drain-timeout 44m"},
		{Severity: SeverityNote, Code: "default-result-abandon", Subject: "abandon", Fix: "--default-result CONTINUE"},
		{Severity: SeverityFail, Code: "not-registered", Subject: "unregistered", Fix: "ECS_CLUSTER"},
		{Severity: SeverityFail, Code: "registered-outside-clusters", Subject: "outside", Fix: "--clusters web,batch,other"},
		{Severity: SeverityFail, Code: "tag-key-misspelled", Subject: "typo", Fix: "aws autoscaling create-or-update-tags --tags ResourceId=typo,ResourceType=auto-scaling-group,Key=ecs-drainer/enabled,Value=true"},
		{Severity: SeverityFail, Code: "tag-value-mismatch", Subject: "caps", Fix: "Key=ecs-drainer/enabled,Value=true"},
		{Severity: SeverityNote, Code: "tag-opted-out", Subject: "opted-out"},
		{Severity: SeverityFail, Code: "named-group-not-found", Subject: "ghost", Fix: "--asg-names"},
		{Severity: SeverityNote, Code: "writes-unproven", Subject: "permissions", Fix: "config/iam/policy.json"},
		{Severity: SeverityWarning, Code: "lacks-policy-tag", Subject: "by-name", Fix: "Key=ecs-drainer/enabled,Value=true"},
	})
	verdicts := map[string]string{}
	for _, g := range rep.Groups {
		verdicts[g.Name] = g.Verdict
	}
	wantVerdicts := map[string]string{
		"good": VerdictOK, "batch-good": VerdictOK, "abandon": VerdictOK, "launching": VerdictOK,
		"no-hook": VerdictFail, "two-hooks": VerdictFail, "ecs-only": VerdictFail, "unregistered": VerdictFail, "outside": VerdictFail,
		"ecs-too": VerdictWarning, "short-hb": VerdictWarning, "by-name": VerdictWarning,
	}
	if !maps.Equal(verdicts, wantVerdicts) {
		t.Errorf("verdicts = %v\nwant %v", verdicts, wantVerdicts)
	}
	var notSelected []string
	for _, n := range rep.NotSelected {
		notSelected = append(notSelected, n.Name)
	}
	if want := []string{"caps", "opted-out", "typo"}; !slices.Equal(notSelected, want) {
		t.Errorf("not selected = %v, want %v", notSelected, want)
	}
	for _, p := range rep.Permissions {
		if p.Result != PermAllowed && p.Result != PermUnproven {
			t.Errorf("permission %s in %s: %s (%s), want allowed", p.Action, p.Scope, p.Result, p.Detail)
		}
	}
	if rep.Queue.Configured || rep.Queue.Status != QueueStatusNotConfigured {
		t.Errorf("queue = %+v, want not configured", rep.Queue)
	}
	t.Logf("API calls for %d selected groups: %v", len(rep.Groups), rep.APICalls)
}

// TestHookNameAndManageHooks checks the hook problems that --hook-name and --manage-hooks bring.
func TestHookNameAndManageHooks(t *testing.T) {
	f := newFleet(t, checktest.Broken)

	rep := f.check(t, []string{"--hook-name", "drain"}, nil, nil)
	wantProblems(t, rep, []Problem{
		{Severity: SeverityFail, Code: "hook-not-terminating", Subject: "launching", Fix: "--hook-name ecs-drainer"},
		{Severity: SeverityFail, Code: "hook-not-found", Subject: "good", Fix: "--auto-scaling-group-name good --lifecycle-hook-name drain"},
	})

	rep = f.check(t, []string{"--hook-name", "ecs-drainer", "--manage-hooks"}, nil, nil)
	wantProblems(t, rep, []Problem{
		{Severity: SeverityNote, Code: "hook-would-be-created", Subject: "no-hook"},
		{Severity: SeverityNote, Code: "hook-would-be-created", Subject: "two-hooks"},
		// ECS drains that group: --manage-hooks leaves it alone, as the controller does.
		{Severity: SeverityFail, Code: "hook-not-found", Subject: "ecs-only"},
	})
	if _, ok := has(rep, SeverityFail, "no-terminating-hook", "no-hook"); ok {
		t.Error("with --manage-hooks a missing hook is created, not a failure")
	}
}

// TestGoodFleet checks a fleet with no problem: the check passes, and says nothing is selected
// when the tag matches nothing.
func TestGoodFleet(t *testing.T) {
	f := newFleet(t, checktest.Good)

	rep := f.check(t, nil, nil, nil)
	if !rep.OK || ExitCode(rep) != 0 {
		var text bytes.Buffer
		_ = WriteText(&text, rep)
		t.Errorf("OK = %v, exit %d; want true, 0\n%s", rep.OK, ExitCode(rep), text.String())
	}
	if len(rep.Groups) != 2 {
		t.Errorf("selected %d groups, want 2", len(rep.Groups))
	}
	for _, g := range rep.Groups {
		if len(g.RegisteredIn) != 1 || g.RegisteredIn[0].Instances != 2 || !g.RegisteredIn[0].InScope {
			t.Errorf("group %s registered in %+v, want 2 instances in one cluster in scope", g.Name, g.RegisteredIn)
		}
	}

	rep = f.check(t, []string{"--asg-tag", "team=nobody"}, nil, nil)
	wantProblems(t, rep, []Problem{{Severity: SeverityFail, Code: "no-group-selected", Subject: "selection", Fix: "Key=team,Value=nobody"}})
	if rep.OK {
		t.Error("a check selecting nothing passed")
	}
}

// denyECS refuses some ECS reads as IAM would, by operation and cluster; the simulator knows no IAM.
type denyECS struct {
	ECSReader
	listCIsIn, describeServicesIn string
	listClusters                  bool
}

func (d denyECS) ListClusters(ctx context.Context, in *ecs.ListClustersInput, o ...func(*ecs.Options)) (*ecs.ListClustersOutput, error) {
	if d.listClusters {
		return nil, errDenied
	}
	return d.ECSReader.ListClusters(ctx, in, o...)
}

var errDenied = &smithy.GenericAPIError{Code: awsapi.CodeAccessDenied, Message: "User is not authorized to perform this action"}

func (d denyECS) ListContainerInstances(ctx context.Context, in *ecs.ListContainerInstancesInput, o ...func(*ecs.Options)) (*ecs.ListContainerInstancesOutput, error) {
	if strings.HasSuffix(aws.ToString(in.Cluster), "/"+d.listCIsIn) {
		return nil, errDenied
	}
	return d.ECSReader.ListContainerInstances(ctx, in, o...)
}

func (d denyECS) DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, o ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	if strings.HasSuffix(aws.ToString(in.Cluster), "/"+d.describeServicesIn) {
		return nil, errDenied
	}
	return d.ECSReader.DescribeServices(ctx, in, o...)
}

// denyHooks refuses DescribeLifecycleHooks as Auto Scaling's IAM would.
type denyHooks struct{ AutoScalingReader }

func (denyHooks) DescribeLifecycleHooks(context.Context, *autoscaling.DescribeLifecycleHooksInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeLifecycleHooksOutput, error) {
	return nil, &smithy.GenericAPIError{Code: codeAccessDeniedQuery, Message: "not authorized"}
}

// TestPermissionsDenied checks that reads IAM refuses are named, where, with the fix.
func TestPermissionsDenied(t *testing.T) {
	f := newFleet(t, checktest.Good)

	rep := f.check(t, nil, denyHooks{f.as}, denyECS{ECSReader: f.ecs, listCIsIn: "batch", describeServicesIn: "web"})
	if rep.OK {
		t.Error("a check with reads denied passed")
	}
	wantProblems(t, rep, []Problem{
		{Severity: SeverityFail, Code: "access-denied", Subject: actDescribeHooks, Fix: "allow autoscaling:DescribeLifecycleHooks"},
		{Severity: SeverityFail, Code: "access-denied", Subject: actListCIs, Fix: "for cluster batch"},
		{Severity: SeverityFail, Code: "access-denied", Subject: actDescribeServices, Fix: "for cluster web"},
		{Severity: SeverityWarning, Code: "registration-unknown", Subject: "batch-good"},
	})
	got := map[string]string{}
	for _, p := range rep.Permissions {
		got[p.Action+" "+p.Scope] = p.Result
	}
	for k, want := range map[string]string{
		"autoscaling:DescribeLifecycleHooks *": PermDenied, "ecs:ListContainerInstances cluster batch": PermDenied,
		"ecs:DescribeServices cluster web": PermDenied, "ecs:ListTasks cluster web": PermAllowed,
		"ecs:ListContainerInstances cluster web": PermAllowed, "ecs:StopTask *": PermUnproven,
	} {
		if got[k] != want {
			t.Errorf("permission %s = %q, want %q", k, got[k], want)
		}
	}
}

// TestListClustersNeededOnlyWithoutClusters: the controller lists clusters only when --clusters
// is empty, so only then is a refusal a failure.
func TestListClustersNeededOnlyWithoutClusters(t *testing.T) {
	f := newFleet(t, checktest.Good)
	deny := denyECS{ECSReader: f.ecs, listClusters: true}

	rep := f.check(t, nil, nil, deny)
	wantProblems(t, rep, []Problem{{Severity: SeverityFail, Code: "access-denied", Subject: actListClusters, Fix: "allow ecs:ListClusters"}})

	rep = f.check(t, []string{"--clusters", "web,batch"}, nil, deny)
	if !rep.OK {
		var text bytes.Buffer
		_ = WriteText(&text, rep)
		t.Errorf("with --clusters, a refused ListClusters failed the check:\n%s", text.String())
	}
}

// TestJSONSchema pins the JSON report's field names: scripts depend on them (docs/check.md).
func TestJSONSchema(t *testing.T) {
	f := newFleet(t, checktest.Broken)
	rep := f.check(t, checktest.BrokenFlags, nil, nil)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("the JSON report does not parse: %v", err)
	}
	keys := func(m any) []string { return slices.Sorted(maps.Keys(m.(map[string]any))) }
	first := func(k string) any { return doc[k].([]any)[0] }
	for _, c := range []struct {
		what string
		obj  any
		want []string
	}{
		{"report", doc, []string{"apiCalls", "groups", "notSelected", "ok", "permissions", "problems", "queue", "schemaVersion", "settings"}},
		{"settings", doc["settings"], []string{"asgNames", "asgTag", "clusters", "drainTimeoutSeconds", "hookName", "manageHooks", "pollIntervalSeconds", "resyncPeriodSeconds"}},
		{"group", first("groups"), []string{"defaultResult", "drainTimeoutSeconds", "ecsManagedDraining", "globalTimeoutSeconds", "heartbeatTimeoutSeconds", "hook", "hooks", "inServiceInstances", "instancesChecked", "name", "notRegistered", "registeredIn", "selectedBy", "verdict"}},
		{"notSelected", first("notSelected"), []string{"name", "reason", "tagKey", "tagValue"}},
		{"queue", doc["queue"], []string{"configured", "eventBridgeAllowed", "status", "url"}},
		{"permission", first("permissions"), []string{"action", "code", "detail", "result", "scope"}},
		{"registration", first("groups").(map[string]any)["registeredIn"].([]any)[0], []string{"cluster", "inScope", "instances"}},
		{"hook", first("groups").(map[string]any)["hooks"].([]any)[0], []string{"defaultResult", "globalTimeoutSeconds", "heartbeatTimeoutSeconds", "name", "notificationTargetArn", "transition"}},
		{"problem", first("problems"), []string{"code", "fix", "group", "message", "severity", "subject"}},
	} {
		if got := keys(c.obj); !slices.Equal(got, c.want) {
			t.Errorf("%s keys = %v\nwant %v", c.what, got, c.want)
		}
	}
	if doc["schemaVersion"] != float64(SchemaVersion) {
		t.Errorf("schemaVersion = %v, want %d", doc["schemaVersion"], SchemaVersion)
	}
}
