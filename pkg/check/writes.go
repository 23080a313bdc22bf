package check

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

// policyTag is the tag config/iam/policy.json scopes the Auto Scaling writes to.
const policyTag = "ecs-drainer/enabled=true"
