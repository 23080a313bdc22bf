package check

import (
	"context"
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

// checkQueue is the event queue section: whether the queue is reachable (its ARN read with
// sqs:GetQueueAttributes), and which managed groups' hooks notify it (NotificationTargetARN).
// EventBridge rules targeting it are not checked (that needs events:ListRuleNamesByTarget and an
// EventBridge client): with no hook notifying it, a note says to make sure a rule does.
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
		QueueUrl: aws.String(c.cfg.QueueURL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
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
	if len(q.HookTargets) == 0 {
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
