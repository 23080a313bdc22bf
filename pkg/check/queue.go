package check

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
)

// Queue statuses.
const (
	// QueueStatusNotConfigured is the queue section's status when no event queue is configured.
	QueueStatusNotConfigured = "not configured"
	QueueStatusUnreachable   = "unreachable"
	QueueStatusReachable     = "reachable"

	actGetQueueAttributes = "sqs:GetQueueAttributes"
)

// SQSReader is the SQS call the check makes (awsapi.SQS has it).
type SQSReader interface {
	GetQueueAttributes(ctx context.Context, params *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

var _ SQSReader = awsapi.SQS(nil)

// checkQueue is the event queue section: whether the queue is reachable (its ARN and policy read
// with sqs:GetQueueAttributes), whether its policy lets EventBridge send to it, and which managed
// groups' hooks notify it (NotificationTargetARN). EventBridge rules targeting it are not checked
// (that needs events:ListRuleNamesByTarget and an EventBridge client): with no hook notifying it,
// a note says to make sure a rule does.
func (c *checker) checkQueue(ctx context.Context, groups []*groupCheck) Queue {
	if c.cfg.QueueURL == "" {
		return Queue{Status: QueueStatusNotConfigured}
	}
	q := Queue{Configured: true, URL: c.cfg.QueueURL, HookTargets: []string{}}
	if c.sqs == nil {
		q.Status = "not checked"
		c.problem(SeverityWarning, "queue-not-checked", "queue", "the event queue "+c.cfg.QueueURL+" was not checked: no SQS client", "")
		return q
	}
	out, err := c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(c.cfg.QueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn, sqstypes.QueueAttributeNamePolicy},
	})
	c.permission(actGetQueueAttributes, "queue", err)
	if err != nil {
		q.Status = QueueStatusUnreachable
		c.problem(SeverityFail, "queue-unreachable", "queue", "the event queue cannot be read: "+err.Error(),
			"check --queue-url (aws sqs get-queue-url --queue-name NAME prints it) and that the role may sqs:ReceiveMessage, sqs:DeleteMessage and sqs:GetQueueAttributes on it (config/iam/policy.json, ConsumeEventQueue)")
		return q
	}
	q.ARN = out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	q.Status = QueueStatusReachable
	for _, g := range groups {
		c.judgeHookTarget(g, q.ARN, &q)
	}
	slices.Sort(q.HookTargets)
	q.EventBridgeAllowed = policyAllowsEventBridge(out.Attributes[string(sqstypes.QueueAttributeNamePolicy)])
	c.judgeQueuePolicy(&q)
	if len(q.HookTargets) == 0 && q.EventBridgeAllowed {
		c.problem(SeverityNote, "queue-no-hook-target", "queue",
			"no managed group's hook notifies the queue; this check does not read EventBridge rules, so make sure one targets it (the CloudFormation stack's LifecycleEventsRule does), or drains start only at a resync",
			"aws events list-rule-names-by-target --target-arn "+q.ARN)
	}
	return q
}

// judgeHookTarget notes whether the hook acted for on g notifies the queue, and warns when it
// notifies some other SQS queue.
func (c *checker) judgeHookTarget(g *groupCheck, queueARN string, q *Queue) {
	if g.choice.Hook == "" {
		return
	}
	for _, h := range g.out.Hooks {
		if h.Name != g.choice.Hook {
			continue
		}
		switch target := h.NotificationTargetARN; {
		case target == queueARN:
			q.HookTargets = append(q.HookTargets, g.out.Name)
		case strings.HasPrefix(target, "arn:") && strings.Contains(target, ":sqs:"):
			c.groupProblem(g.out.Name, SeverityWarning, "hook-notifies-other-queue",
				fmt.Sprintf("hook %s notifies %s, not the event queue %s", h.Name, target, queueARN),
				fmt.Sprintf("aws autoscaling put-lifecycle-hook --auto-scaling-group-name %s --lifecycle-hook-name %s --notification-target-arn %s --role-arn ROLE (or rely on the EventBridge rule)", g.out.Name, h.Name, queueARN))
		}
	}
}

// judgeQueuePolicy says what a queue policy that does not let EventBridge send costs: with no hook
// notifying the queue either, no event can arrive (a warning: the controller still polls); with a
// hook, the ECS events that end drains early cannot (a note).
func (c *checker) judgeQueuePolicy(q *Queue) {
	if q.EventBridgeAllowed {
		return
	}
	fix := "aws sqs set-queue-attributes --queue-url " + q.URL + ` --attributes '{"Policy":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"events.amazonaws.com\"},\"Action\":\"sqs:SendMessage\",\"Resource\":\"` + q.ARN + `\",\"Condition\":{\"ArnEquals\":{\"aws:SourceArn\":\"RULE_ARN\"}}}]}"}' (the CloudFormation stack's EventQueuePolicy does this)`
	if len(q.HookTargets) == 0 {
		c.problem(SeverityWarning, "queue-closed", "queue",
			"the queue's policy does not let EventBridge (events.amazonaws.com) send to it and no managed group's hook notifies it: no event can arrive, so drains start only at a resync", fix)
		return
	}
	c.problem(SeverityNote, "queue-policy-no-eventbridge", "queue",
		"the queue's policy does not let EventBridge (events.amazonaws.com) send to it: lifecycle actions arrive through the hooks, but ECS task events cannot, so a drain's end is seen at the next poll", fix)
}

// policyAllowsEventBridge reports whether an SQS queue policy has a statement that allows the
// EventBridge service principal sqs:SendMessage (or sqs:*). Conditions are not judged: a rule
// scoped with aws:SourceArn is the recommended form.
func policyAllowsEventBridge(policy string) bool {
	var doc struct {
		Statement json.RawMessage
	}
	if policy == "" || json.Unmarshal([]byte(policy), &doc) != nil {
		return false
	}
	type statement struct {
		Effect    string
		Principal json.RawMessage
		Action    json.RawMessage
	}
	var stmts []statement
	if json.Unmarshal(doc.Statement, &stmts) != nil {
		var one statement
		if json.Unmarshal(doc.Statement, &one) != nil {
			return false
		}
		stmts = []statement{one}
	}
	return slices.ContainsFunc(stmts, func(st statement) bool {
		var p struct{ Service json.RawMessage }
		_ = json.Unmarshal(st.Principal, &p)
		return st.Effect == "Allow" && slices.Contains(stringOrList(p.Service), "events.amazonaws.com") &&
			slices.ContainsFunc(stringOrList(st.Action), func(a string) bool { return a == "sqs:SendMessage" || a == "sqs:*" || a == "*" })
	})
}

// stringOrList reads an IAM policy value that is a string or a list of strings.
func stringOrList(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}
