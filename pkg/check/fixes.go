package check

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler"
)

// Fixes are AWS CLI commands a person can paste, or flags. Names are quoted for a POSIX shell
// when they need it.

// policyFile is the least-privilege policy the controller's role should match.
const policyFile = "config/iam/policy.json"

const fixReachAWS = "check the credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID or the task role), AWS_REGION, and the network path to the endpoint (AWS_ENDPOINT_URL if set)"

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:=,@+%-]+$`)

// sh quotes s for a POSIX shell if it needs it.
func sh(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// hookNameToCreate is the hook a fix creates: --hook-name, or the name --manage-hooks would use.
func (c *checker) hookNameToCreate() string {
	if c.rcfg.HookName != "" {
		return c.rcfg.HookName
	}
	return reconciler.DefaultHookName
}

// putHookFix is the command that creates (or updates) a terminating hook on a group.
func putHookFix(group, hook string, heartbeat time.Duration, defaultResult string) string {
	return fmt.Sprintf("aws autoscaling put-lifecycle-hook --auto-scaling-group-name %s --lifecycle-hook-name %s --lifecycle-transition %s --heartbeat-timeout %d --default-result %s",
		sh(group), sh(hook), reconciler.TransitionTerminating, int(heartbeat/time.Second), defaultResult)
}

// createHookFix creates the hook the controller would act for on a group, with the heartbeat
// timeout --manage-hooks would give it.
func (c *checker) createHookFix(group string) string {
	return putHookFix(group, c.hookNameToCreate(), c.rcfg.HookHeartbeatTimeout, "CONTINUE")
}

// tagKeyValue is the tag that selects a group: --asg-tag, with "true" when any value would do.
func (c *checker) tagKeyValue() (key, value string) {
	value = c.rcfg.ASGTagValue
	if value == "" {
		value = "true"
	}
	return c.rcfg.ASGTagKey, value
}

// tagFix puts the selecting tag on a group.
func (c *checker) tagFix(group string) string {
	k, v := c.tagKeyValue()
	return fmt.Sprintf("aws autoscaling create-or-update-tags --tags ResourceId=%s,ResourceType=auto-scaling-group,Key=%s,Value=%s,PropagateAtLaunch=false", sh(group), sh(k), sh(v))
}

// untagFix removes a tag key from a group.
func untagFix(group, key string) string {
	return fmt.Sprintf("aws autoscaling delete-tags --tags ResourceId=%s,ResourceType=auto-scaling-group,Key=%s", sh(group), sh(key))
}

// unselectFix stops the controller selecting a group: remove the tag, or its name from --asg-names.
func (c *checker) unselectFix(group, why string) string {
	var fixes []string
	if strings.HasPrefix(why, "tag ") {
		fixes = append(fixes, untagFix(group, c.rcfg.ASGTagKey))
	}
	if strings.Contains(why, "named") {
		fixes = append(fixes, "remove "+group+" from --asg-names")
	}
	return strings.Join(fixes, " and ")
}

// allowFix says how to allow an action the role lacks.
func allowFix(action, scope string) string {
	where := ""
	if strings.HasPrefix(scope, "cluster ") {
		where = " for " + scope + " (its ecs:cluster condition)"
	}
	return "allow " + action + where + " in the controller's IAM role, as " + policyFile + " does"
}

// clustersFix is the --clusters flag with the missing clusters added (or the unknown removed).
func clustersFix(clusters []string) string {
	return "--clusters " + strings.Join(clusters, ",")
}

// heartbeatFor is the shortest heartbeat timeout, in whole seconds within AWS's bounds, that is
// at least d.
func heartbeatFor(d time.Duration) time.Duration {
	s := (d + time.Second - 1) / time.Second
	s = max(s, awsapi.MinHookHeartbeatTimeoutSeconds)
	s = min(s, awsapi.MaxHookHeartbeatTimeoutSeconds)
	return s * time.Second
}

// short formats a duration compactly: 5m, 1h30m, 45s.
func short(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
