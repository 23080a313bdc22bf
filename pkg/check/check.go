// Package check owns `ecs-drainer check`: one read-only pass over the account that says whether the
// controller, configured the same way, would work, and how to fix what would not. It reports the
// groups selected (through the reconciler's own SelectGroups, so exactly those the controller
// manages) with the hook chosen on each (reconciler.ChooseHook) and its timeouts, where their
// instances are registered in ECS, the groups that narrowly miss the selecting tag, the event
// queue, and the read permissions the controller needs, probed with harmless calls.
//
// Invariant: the check never writes. Its clients are AutoScalingReader and ECSReader, which have
// no write operation, so a write cannot even be expressed; write permissions are reported as
// unproven, with where to compare them.
package check

import (
	"context"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler"
)

// AutoScalingReader lists the Auto Scaling operations the check calls: reads only.
type AutoScalingReader interface {
	DescribeAutoScalingGroups(ctx context.Context, params *autoscaling.DescribeAutoScalingGroupsInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
	DescribeLifecycleHooks(ctx context.Context, params *autoscaling.DescribeLifecycleHooksInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribeLifecycleHooksOutput, error)
}

// ECSReader lists the ECS operations the check calls: reads only.
type ECSReader interface {
	ListClusters(ctx context.Context, params *ecs.ListClustersInput, optFns ...func(*ecs.Options)) (*ecs.ListClustersOutput, error)
	ListContainerInstances(ctx context.Context, params *ecs.ListContainerInstancesInput, optFns ...func(*ecs.Options)) (*ecs.ListContainerInstancesOutput, error)
	DescribeContainerInstances(ctx context.Context, params *ecs.DescribeContainerInstancesInput, optFns ...func(*ecs.Options)) (*ecs.DescribeContainerInstancesOutput, error)
	ListTasks(ctx context.Context, params *ecs.ListTasksInput, optFns ...func(*ecs.Options)) (*ecs.ListTasksOutput, error)
	DescribeTasks(ctx context.Context, params *ecs.DescribeTasksInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
	DescribeServices(ctx context.Context, params *ecs.DescribeServicesInput, optFns ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
}

// The controller's clients serve the check.
var (
	_ AutoScalingReader = awsapi.AutoScaling(nil)
	_ ECSReader         = awsapi.ECS(nil)
)

// Config is what to check against.
type Config struct {
	// Reconciler is the controller's configuration (options.ReconcilerConfig).
	Reconciler reconciler.Config
	// ASGTag is --asg-tag as given, for messages.
	ASGTag string
	// QueueURL is the event queue to check; "" when none is configured.
	QueueURL string
}

// Deps are the clients the check reads through.
type Deps struct {
	AutoScaling AutoScalingReader
	ECS         ECSReader
	// SQS reads the event queue; needed only with Config.QueueURL.
	SQS SQSReader
}

// checker is one run of the check.
type checker struct {
	cfg  Config
	rcfg reconciler.Config
	as   AutoScalingReader
	ecs  ECSReader
	sqs  SQSReader // nil without a queue
	rep  *Report
	// perms collects permission results by action and scope, first result wins.
	perms map[permKey]Permission
}

type permKey struct{ action, scope string }

// Run checks the account and returns what it found. It always returns a report: a call that
// fails is itself a finding.
func Run(ctx context.Context, cfg Config, deps Deps) *Report {
	calls := newCallCounter()
	c := &checker{
		cfg:   cfg,
		rcfg:  cfg.Reconciler,
		as:    &countingAS{r: deps.AutoScaling, n: calls},
		ecs:   &countingECS{r: deps.ECS, n: calls},
		sqs:   countingSQSOf(deps.SQS, calls),
		perms: map[permKey]Permission{},
		rep: &Report{
			SchemaVersion: SchemaVersion,
			Settings:      settingsOf(cfg),
			Groups:        []Group{},
			NotSelected:   []NotSelected{},
			Permissions:   []Permission{},
			Problems:      []Problem{},
		},
	}
	groups := c.checkGroups(ctx)
	c.checkRegistration(ctx, groups)
	c.rep.Queue = c.checkQueue(ctx, groups)
	c.noteWrites()
	c.finish(groups)
	c.rep.APICalls = calls.snapshot()
	return c.rep
}

func settingsOf(cfg Config) Settings {
	r := cfg.Reconciler
	return Settings{
		ASGTag:              cfg.ASGTag,
		ASGNames:            nonNil(r.ASGNames),
		HookName:            r.HookName,
		ManageHooks:         r.ManageHooks,
		Clusters:            nonNil(r.Clusters),
		ResyncPeriodSeconds: int(r.ResyncPeriod.Seconds()),
		PollIntervalSeconds: int(r.PollInterval.Seconds()),
		DrainTimeoutSeconds: int(r.DrainTimeout.Seconds()),
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// problem records a finding.
func (c *checker) problem(severity, code, subject, message, fix string) {
	c.rep.Problems = append(c.rep.Problems, Problem{Severity: severity, Code: code, Subject: subject, Message: message, Fix: fix})
}

// groupProblem records a finding about a selected group; it sets the group's verdict.
func (c *checker) groupProblem(group, severity, code, message, fix string) {
	c.rep.Problems = append(c.rep.Problems, Problem{Severity: severity, Code: code, Subject: group, Group: group, Message: message, Fix: fix})
}

// permission records a probe's result for an action in a scope, and the problem a refusal or a
// failure is.
func (c *checker) permission(action, scope string, err error) {
	p := Permission{Action: action, Scope: scope, Result: PermAllowed}
	switch {
	case err == nil || answeredAfterAuthorization(err):
	case isDenied(err):
		p.Result, p.Code, p.Detail = PermDenied, errCode(err), err.Error()
	default:
		p.Result, p.Code, p.Detail = PermError, errCode(err), err.Error()
	}
	if !c.addPermission(p) {
		return
	}
	switch p.Result {
	case PermDenied:
		c.problem(SeverityFail, "access-denied", action, "IAM denies "+action+scopeSuffix(scope)+"; the controller needs it", allowFix(action, scope))
	case PermError:
		c.problem(SeverityFail, "aws-error", action, "could not call "+action+scopeSuffix(scope)+": "+err.Error(), fixReachAWS)
	}
}

// notChecked records an action no harmless call could be made for.
func (c *checker) notChecked(action, scope, why string) {
	c.addPermission(Permission{Action: action, Scope: scope, Result: PermNotChecked, Detail: why})
}

// addPermission records p unless its action and scope have a result already (a later call of the
// same action in the same scope says nothing new), and reports whether it did.
func (c *checker) addPermission(p Permission) bool {
	k := permKey{p.Action, p.Scope}
	if _, ok := c.perms[k]; ok {
		return false
	}
	c.perms[k] = p
	c.rep.Permissions = append(c.rep.Permissions, p)
	return true
}

func scopeSuffix(scope string) string {
	if scope == "" || scope == "*" {
		return ""
	}
	return " in " + scope
}

// finish sets each group's verdict from its problems, orders problems by severity, and sets OK.
func (c *checker) finish(groups []*groupCheck) {
	rank := map[string]int{SeverityFail: 0, SeverityWarning: 1, SeverityNote: 2}
	worst := map[string]int{}
	for _, p := range c.rep.Problems {
		if p.Group == "" {
			continue
		}
		if r, ok := worst[p.Group]; !ok || rank[p.Severity] < r {
			worst[p.Group] = rank[p.Severity]
		}
	}
	for _, g := range groups {
		g.out.Verdict = VerdictOK
		if r, ok := worst[g.out.Name]; ok {
			switch r {
			case 0:
				g.out.Verdict = VerdictFail
			case 1:
				g.out.Verdict = VerdictWarning
			}
		}
		c.rep.Groups = append(c.rep.Groups, g.out)
	}
	slices.SortStableFunc(c.rep.Problems, func(a, b Problem) int {
		if d := rank[a.Severity] - rank[b.Severity]; d != 0 {
			return d
		}
		return strings.Compare(a.Subject, b.Subject)
	})
	c.rep.OK = true
	for _, p := range c.rep.Problems {
		if p.Severity == SeverityFail {
			c.rep.OK = false
		}
	}
}
