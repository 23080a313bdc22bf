package check

import "github.com/aws/aws-sdk-go-v2/aws"

// writeActions are the writes the controller makes. None can be proven allowed without making it
// (a probe that names nothing real is refused by IAM's resource conditions anyway, and a real one
// changes something), so the check only lists them.
var writeActions = []struct{ action, when string }{
	{"autoscaling:CompleteLifecycleAction", "every drain"},
	{"autoscaling:RecordLifecycleActionHeartbeat", "drains longer than half a heartbeat timeout"},
	{"ecs:UpdateContainerInstancesState", "every drain"},
	{"ecs:StopTask", "standalone tasks, and drain timeouts with stop-tasks"},
	{"ecs:TagResource", "long drains"},
	{"autoscaling:PutLifecycleHook", "only with --manage-hooks"},
}

// noteWrites lists the write permissions as unproven and says where to compare them.
func (c *checker) noteWrites() {
	for _, w := range writeActions {
		c.addPermission(Permission{Action: w.action, Scope: "*", Result: PermUnproven,
			Detail: "a write (" + w.when + "); only a write could prove it"})
	}
	c.problem(SeverityNote, "writes-unproven", "permissions",
		"the write permissions (CompleteLifecycleAction, RecordLifecycleActionHeartbeat, UpdateContainerInstancesState, StopTask, TagResource, PutLifecycleHook) cannot be proven without a write; the Auto Scaling ones are scoped to groups tagged "+policyTag+" in "+policyFile,
		"compare the controller's role with "+policyFile+", or ask IAM: aws iam simulate-principal-policy --policy-source-arn <role-arn> --action-names autoscaling:CompleteLifecycleAction ecs:UpdateContainerInstancesState ecs:StopTask ecs:TagResource")
}

// policyTag is the tag config/iam/policy.json scopes the Auto Scaling writes to (its
// aws:ResourceTag condition); test/config checks the policy.
const (
	policyTagKey   = "ecs-drainer/enabled"
	policyTagValue = "true"
	policyTag      = policyTagKey + "=" + policyTagValue
)

// checkPolicyTag warns about a selected group the shipped policy would not let the controller
// act on: selected by name or by another tag, without the tag the policy's writes require.
func (c *checker) checkPolicyTag(g *groupCheck) {
	for _, t := range g.group.Tags {
		if aws.ToString(t.Key) == policyTagKey && aws.ToString(t.Value) == policyTagValue {
			return
		}
	}
	c.groupProblem(g.out.Name, SeverityWarning, "lacks-policy-tag",
		"it lacks the tag "+policyTag+", to which "+policyFile+" scopes CompleteLifecycleAction and RecordLifecycleActionHeartbeat: under that policy those writes are refused and its instances wait for the hook's timeout",
		"tag it: aws autoscaling create-or-update-tags --tags ResourceId="+sh(g.out.Name)+",ResourceType=auto-scaling-group,Key="+policyTagKey+",Value="+policyTagValue+",PropagateAtLaunch=false; or widen the condition in the role's policy")
}
