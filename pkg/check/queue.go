package check

// QueueStatusNotConfigured is the queue section's status when no event queue is configured.
const QueueStatusNotConfigured = "not configured"

// checkQueue is the event queue section. The controller has no event queue yet (--queue-url is
// being built); until it has, this section only says so. When it lands, this is where the queue's
// reachability (sqs:GetQueueAttributes), its policy (events.amazonaws.com allowed to send), the
// EventBridge rules targeting it, and the hooks' NotificationTargetARN (Group.Hooks has them) are
// checked, each with its fix.
func (c *checker) checkQueue(_ []*groupCheck) Queue {
	if c.cfg.QueueURL == "" {
		return Queue{Status: QueueStatusNotConfigured}
	}
	c.problem(SeverityWarning, "queue-not-checked", "queue", "the event queue "+c.cfg.QueueURL+" was not checked: this version cannot read queues yet", "")
	return Queue{Configured: true, URL: c.cfg.QueueURL, Status: "not checked"}
}
