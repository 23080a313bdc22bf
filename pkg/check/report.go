package check

// SchemaVersion is the version of the JSON report (--output json). It changes only when a field
// is removed or changes meaning; fields may be added within a version. docs/check.md documents it.
const SchemaVersion = 1

// Severities of a Problem.
const (
	// SeverityFail: the controller would not do its job somewhere. Any makes the exit status 1.
	SeverityFail = "fail"
	// SeverityWarning: it would work, but not as configured, or something deserves attention.
	SeverityWarning = "warning"
	// SeverityNote: worth knowing; nothing to fix unless it is not what was meant.
	SeverityNote = "note"
)

// Verdicts of a Group.
const (
	VerdictOK      = "ok"
	VerdictWarning = "warning"
	VerdictFail    = "fail"
)

// Results of a Permission.
const (
	// PermAllowed: a harmless call of the action was answered (its authorization passed).
	PermAllowed = "allowed"
	// PermDenied: the call was refused by IAM (AccessDenied).
	PermDenied = "denied"
	// PermError: the call failed for another reason, so the permission is unknown.
	PermError = "error"
	// PermNotChecked: no harmless call of it was possible here (the Detail says why).
	PermNotChecked = "not-checked"
	// PermUnproven: a write, which only a write could prove; compare the role with config/iam/policy.json.
	PermUnproven = "unproven"
)

// Report is what one check found. Its JSON form is the stable output of --output json.
type Report struct {
	SchemaVersion int      `json:"schemaVersion"`
	OK            bool     `json:"ok"` // no problem of severity fail
	Settings      Settings `json:"settings"`
	// Groups are the groups selected, by name.
	Groups []Group `json:"groups"`
	// NotSelected are groups carrying a near miss of the selecting tag, by name.
	NotSelected []NotSelected `json:"notSelected"`
	Queue       Queue         `json:"queue"`
	Permissions []Permission  `json:"permissions"`
	// Problems are every finding, failures first, each with its fix.
	Problems []Problem `json:"problems"`
	// APICalls counts the calls the check made, by "service:Operation" (all reads).
	APICalls map[string]int `json:"apiCalls"`
}

// Settings echo the configuration checked.
type Settings struct {
	ASGTag              string   `json:"asgTag"`
	ASGNames            []string `json:"asgNames"`
	HookName            string   `json:"hookName"` // "" means each group's single terminating hook
	ManageHooks         bool     `json:"manageHooks"`
	Clusters            []string `json:"clusters"` // empty means all
	ResyncPeriodSeconds int      `json:"resyncPeriodSeconds"`
	PollIntervalSeconds int      `json:"pollIntervalSeconds"`
	DrainTimeoutSeconds int      `json:"drainTimeoutSeconds"`
}

// Group is one selected Auto Scaling group.
type Group struct {
	Name       string `json:"name"`
	SelectedBy string `json:"selectedBy"` // "tag k=v", "named", or both
	// Hooks are every lifecycle hook on the group, as Auto Scaling describes them.
	Hooks []Hook `json:"hooks"`
	// Hook is the terminating hook the controller acts for, "" if none (see Problems); with
	// --manage-hooks, the one it would create.
	Hook                    string `json:"hook"`
	HeartbeatTimeoutSeconds int    `json:"heartbeatTimeoutSeconds"`
	GlobalTimeoutSeconds    int    `json:"globalTimeoutSeconds"`
	DefaultResult           string `json:"defaultResult"`
	// DrainTimeoutSeconds is the drain timeout that applies under Hook (--drain-timeout, cut to
	// end before the global timeout).
	DrainTimeoutSeconds int `json:"drainTimeoutSeconds"`
	// ECSManagedDraining says ECS's managed draining hook is on the group too.
	ECSManagedDraining bool `json:"ecsManagedDraining"`
	InServiceInstances int  `json:"inServiceInstances"`
	// InstancesChecked are how many in-service instances were looked up in ECS (a sample).
	InstancesChecked int `json:"instancesChecked"`
	// RegisteredIn says where the instances checked are registered.
	RegisteredIn []Registration `json:"registeredIn"`
	// NotRegistered counts instances checked found in no cluster.
	NotRegistered int    `json:"notRegistered"`
	Verdict       string `json:"verdict"` // ok, warning or fail
}

// Hook is one lifecycle hook of a group.
type Hook struct {
	Name                    string `json:"name"`
	Transition              string `json:"transition"`
	HeartbeatTimeoutSeconds int    `json:"heartbeatTimeoutSeconds"`
	GlobalTimeoutSeconds    int    `json:"globalTimeoutSeconds"`
	DefaultResult           string `json:"defaultResult"`
	NotificationTargetARN   string `json:"notificationTargetArn"`
}

// Registration is a cluster some of a group's instances are registered in.
type Registration struct {
	Cluster   string `json:"cluster"` // name
	Instances int    `json:"instances"`
	// InScope says the controller looks there (--clusters lists it, or is empty).
	InScope bool `json:"inScope"`
}

// NotSelected is a group the controller does not manage although it carries a tag like the
// selecting one.
type NotSelected struct {
	Name     string `json:"name"`
	TagKey   string `json:"tagKey"`
	TagValue string `json:"tagValue"`
	Reason   string `json:"reason"`
}

// Queue is the event queue section. The queue path is not built yet: Configured is false and
// Status "not configured" until --queue-url exists.
type Queue struct {
	Configured bool   `json:"configured"`
	URL        string `json:"url"`
	Status     string `json:"status"` // not configured, reachable, unreachable
	// ARN is the queue's ARN once it could be read.
	ARN string `json:"arn,omitempty"`
	// HookTargets are the managed groups whose hook acted for notifies the queue.
	HookTargets []string `json:"hookTargets,omitempty"`
	// EventBridgeAllowed: the queue's policy lets EventBridge send to it.
	EventBridgeAllowed bool `json:"eventBridgeAllowed"`
}

// Permission is what one action's probe showed.
type Permission struct {
	Action string `json:"action"` // e.g. "ecs:ListTasks"
	Scope  string `json:"scope"`  // "*", or "cluster NAME"
	Result string `json:"result"` // allowed, denied, error, not-checked, unproven
	// Code is the AWS error code of a denial or failure (AccessDeniedException), RequestFailed when
	// no readable answer came, else "".
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// Problem is one finding with its fix.
type Problem struct {
	Severity string `json:"severity"` // fail, warning, note
	// Code identifies the kind of problem; the list is in docs/check.md.
	Code string `json:"code"`
	// Subject is what it is about: a group or cluster name, an action, or "selection", "queue".
	Subject string `json:"subject"`
	// Group is the selected group it is about, "" when it is about no selected group.
	Group   string `json:"group"`
	Message string `json:"message"`
	// Fix is the AWS CLI command or flag that fixes it ("" for a note that needs none).
	Fix string `json:"fix"`
}
