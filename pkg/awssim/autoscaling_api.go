package awssim

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The Auto Scaling operations. Messages copy AWS's where public error reports show them; the rest
// follow the same style and are marked unverified.

const (
	describeGroupsDefaultPage    = 50  // DescribeAutoScalingGroups MaxRecords default
	describeGroupsMaxPage        = 100 // DescribeAutoScalingGroups MaxRecords maximum
	describeInstancesDefaultPage = 50  // DescribeAutoScalingInstances MaxRecords default and maximum
	maxNamesPerDescribe          = 50  // AutoScalingGroupNames, InstanceIds, LifecycleHookNames
	maxInstanceIDsPerProtection  = 50  // SetInstanceProtection InstanceIds

	pageKindGroups    = "groups"
	pageKindInstances = "instances"
)

var hookNamePattern = regexp.MustCompile(`^[A-Za-z0-9\-_/]{1,255}$`)

// group returns the named group, or AWS's error for a missing one.
func (m *asgModel) group(q queryParams) (*asgGroup, *apiError) {
	name, err := q.required("AutoScalingGroupName")
	if err != nil {
		return nil, err
	}
	g, ok := m.groups[name]
	if !ok {
		return nil, groupNotFound(name)
	}
	return g, nil
}

// liveGroup is group for operations that change a group, which AWS refuses while it is being deleted.
func (m *asgModel) liveGroup(q queryParams) (*asgGroup, *apiError) {
	g, err := m.group(q)
	if err != nil {
		return nil, err
	}
	if g.deleting {
		// Unverified message.
		return nil, validationError(fmt.Sprintf("AutoScalingGroup %s is pending delete.", g.name))
	}
	return g, nil
}

// sizes validates a group's bounds with AWS's messages.
func sizes(minSize, maxSize, desired int) *apiError {
	switch {
	case minSize < 0:
		return validationError(fmt.Sprintf("Value '%d' at 'minSize' failed to satisfy constraint: Member must have value greater than or equal to 0", minSize))
	case maxSize > maxGroupSize:
		return validationError(fmt.Sprintf("Max bound, %d, exceeds the simulator's limit of %d instances per group", maxSize, maxGroupSize))
	case maxSize < minSize:
		return validationError(fmt.Sprintf("Max bound, %d, must be greater than or equal to min bound, %d", maxSize, minSize))
	case desired < minSize || desired > maxSize:
		return validationError(fmt.Sprintf("Desired capacity:%d must be between the specified min size:%d and max size:%d", desired, minSize, maxSize))
	}
	return nil
}

func (m *asgModel) createGroup(q queryParams) (any, *apiError) {
	name, err := q.required("AutoScalingGroupName")
	if err != nil {
		return nil, err
	}
	if len(name) > 255 {
		return nil, validationError("Value at 'autoScalingGroupName' failed to satisfy constraint: Member must have length less than or equal to 255")
	}
	minSize, maxSize, desired, err := createSizes(q)
	if err != nil {
		return nil, err
	}
	if _, exists := m.groups[name]; exists {
		return nil, groupExists(name)
	}
	if len(m.groups) >= maxGroups {
		// Unverified message.
		return nil, limitExceeded(fmt.Sprintf("You have reached the limit of %d Auto Scaling groups in this Region.", maxGroups))
	}

	now := m.s.now()
	g := &asgGroup{
		name:                name,
		arn:                 fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:%s:autoScalingGroupName/%s", m.s.opts.Region, m.s.opts.AccountID, m.newUUID(), name),
		created:             now,
		minSize:             minSize,
		maxSize:             maxSize,
		desired:             desired,
		defaultCooldown:     300,
		healthCheckType:     "EC2",
		terminationPolicies: []string{"Default"},
		tags:                map[string]asgTag{},
		hooks:               map[string]*lifecycleHook{},
		instances:           map[string]*asgInstance{},
	}
	if err := m.applyGroupSettings(g, q); err != nil {
		return nil, err
	}
	if len(g.azs) == 0 {
		// AWS requires AvailabilityZones or VPCZoneIdentifier; the simulator places instances in the
		// Region's first zone instead, so scenarios need not invent subnets.
		g.azs = []string{m.s.opts.Region + "a"}
	}
	if err := m.createTagsAndHooks(g, q); err != nil {
		return nil, err
	}
	for _, h := range g.hooksWithTargets() {
		m.sendTestNotification(g, h, now)
	}
	m.groups[name] = g
	m.reconcile(g, now)
	return nil, nil
}

// createSizes reads CreateAutoScalingGroup's MinSize and MaxSize (required) and DesiredCapacity
// (default MinSize), and checks them against each other.
func createSizes(q queryParams) (minSize, maxSize, desired int, err *apiError) {
	minSize, ok, err := q.optInt("MinSize")
	if err != nil {
		return 0, 0, 0, err
	}
	if !ok {
		return 0, 0, 0, missingParam("MinSize")
	}
	maxSize, ok, err = q.optInt("MaxSize")
	if err != nil {
		return 0, 0, 0, err
	}
	if !ok {
		return 0, 0, 0, missingParam("MaxSize")
	}
	desired, ok, err = q.optInt("DesiredCapacity")
	if err != nil {
		return 0, 0, 0, err
	}
	if !ok {
		desired = minSize
	}
	return minSize, maxSize, desired, sizes(minSize, maxSize, desired)
}

// createTagsAndHooks sets the tags and lifecycle hooks CreateAutoScalingGroup gives on the new
// group g. Hooks given at creation apply to the group's first instances, unlike hooks added
// afterwards.
func (m *asgModel) createTagsAndHooks(g *asgGroup, q queryParams) *apiError {
	tags, err := parseTags(q, "Tags", g.name)
	if err != nil {
		return err
	}
	if len(tags) > maxTagsPerGroup {
		return limitExceeded(fmt.Sprintf("The number of tags exceeds the limit of %d per Auto Scaling group.", maxTagsPerGroup))
	}
	for _, t := range tags {
		g.tags[t.key] = asgTag{value: t.value, propagate: t.propagate}
	}
	for _, n := range q.indices("LifecycleHookSpecificationList") {
		h, err := parseHook(q, member("LifecycleHookSpecificationList", n)+".", nil)
		if err != nil {
			return err
		}
		if err := m.checkHookTarget(h); err != nil {
			return err
		}
		g.hooks[h.name] = h
	}
	if len(g.hooks) > maxHooksPerGroup {
		return limitExceeded(fmt.Sprintf("Maximum number of lifecycle hooks (%d) reached for the Auto Scaling group.", maxHooksPerGroup))
	}
	return nil
}

// applyGroupSettings copies the settings CreateAutoScalingGroup and UpdateAutoScalingGroup share
// and the simulator only echoes.
func (*asgModel) applyGroupSettings(g *asgGroup, q queryParams) *apiError {
	if q.has("LaunchConfigurationName") {
		g.launchConfigName = q.str("LaunchConfigurationName")
		g.launchTemplate = nil
	}
	if lt := (xmlLaunchTemplate{
		LaunchTemplateID:   q.str("LaunchTemplate.LaunchTemplateId"),
		LaunchTemplateName: q.str("LaunchTemplate.LaunchTemplateName"),
		Version:            q.str("LaunchTemplate.Version"),
	}); lt != (xmlLaunchTemplate{}) {
		g.launchTemplate = &lt
		g.launchConfigName = ""
	}
	if azs := q.list("AvailabilityZones"); len(azs) > 0 {
		g.azs = azs
	}
	if q.has("VPCZoneIdentifier") {
		g.vpcZoneIdentifier = q.str("VPCZoneIdentifier")
	}
	if len(q.indices("TerminationPolicies")) > 0 {
		g.terminationPolicies = q.list("TerminationPolicies")
	}
	if q.has("HealthCheckType") {
		g.healthCheckType = q.str("HealthCheckType")
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"DefaultCooldown", &g.defaultCooldown}, {"HealthCheckGracePeriod", &g.healthCheckGracePeriod}} {
		v, ok, err := q.optInt(f.name)
		if err != nil {
			return err
		}
		if ok {
			*f.dst = v
		}
	}
	for _, f := range []struct {
		name string
		dst  *bool
	}{{"NewInstancesProtectedFromScaleIn", &g.newInstancesProtected}, {"CapacityRebalance", &g.capacityRebalance}} {
		v, ok, err := q.optBool(f.name)
		if err != nil {
			return err
		}
		if ok {
			*f.dst = v
		}
	}
	return nil
}

func (m *asgModel) updateGroup(q queryParams) (any, *apiError) {
	g, err := m.liveGroup(q)
	if err != nil {
		return nil, err
	}
	minSize, hasMin, err := q.optInt("MinSize")
	if err != nil {
		return nil, err
	}
	maxSize, hasMax, err := q.optInt("MaxSize")
	if err != nil {
		return nil, err
	}
	desired, hasDesired, err := q.optInt("DesiredCapacity")
	if err != nil {
		return nil, err
	}
	if !hasMin {
		minSize = g.minSize
	}
	if !hasMax {
		maxSize = g.maxSize
	}
	if !hasDesired {
		// As documented for UpdateAutoScalingGroup: a new MinSize above, or MaxSize below, the
		// current desired capacity drags it along.
		desired = g.desired
		if hasMin && minSize > desired {
			desired = minSize
		}
		if hasMax && maxSize < desired {
			desired = maxSize
		}
	}
	if err := sizes(minSize, maxSize, desired); err != nil {
		return nil, err
	}
	// Validate the echoed settings on a copy, so a bad request changes nothing.
	next := *g
	if err := m.applyGroupSettings(&next, q); err != nil {
		return nil, err
	}
	*g = next
	g.minSize, g.maxSize, g.desired = minSize, maxSize, desired
	m.reconcile(g, m.s.now())
	return nil, nil
}

func (m *asgModel) setDesiredCapacity(q queryParams) (any, *apiError) {
	g, err := m.liveGroup(q)
	if err != nil {
		return nil, err
	}
	desired, ok, err := q.optInt("DesiredCapacity")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, missingParam("DesiredCapacity")
	}
	if desired > g.maxSize {
		return nil, validationError(fmt.Sprintf("New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", desired, g.maxSize))
	}
	if desired < g.minSize {
		return nil, validationError(fmt.Sprintf("New SetDesiredCapacity value %d is below min value %d for the AutoScalingGroup.", desired, g.minSize))
	}
	g.desired = desired
	m.reconcile(g, m.s.now())
	return nil, nil
}

func (m *asgModel) deleteGroup(q queryParams) (any, *apiError) {
	g, err := m.group(q)
	if err != nil {
		return nil, err
	}
	force, _, err := q.optBool("ForceDelete")
	if err != nil {
		return nil, err
	}
	if g.deleting {
		return nil, nil
	}
	if !force && len(g.instances) > 0 {
		return nil, groupInUse()
	}
	if len(g.instances) == 0 {
		delete(m.groups, g.name)
		return nil, nil
	}
	// ForceDelete terminates every instance without running lifecycle hooks (they do not fire on
	// force-delete); outstanding actions are dropped. The group stays, "Delete in progress",
	// until its last instance has terminated.
	now := m.s.now()
	g.deleting = true
	g.minSize, g.maxSize, g.desired = 0, 0, 0
	for _, id := range slices.Sorted(maps.Keys(g.instances)) {
		if inst := g.instances[id]; inst.state != stateTerminatingProceed {
			m.beginTermination(inst, now, false)
		}
	}
	return nil, nil
}

// pageSize applies the operation's MaxRecords rules and the simulator's PageSizeOverride.
func (m *asgModel) pageSize(q queryParams, def, maxRecords int) (int, *apiError) {
	n, ok, err := q.optInt("MaxRecords")
	if err != nil {
		return 0, err
	}
	if !ok {
		n = def
	}
	if n < 1 || n > maxRecords {
		return 0, validationError(fmt.Sprintf("1 validation error detected: Value '%d' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and %d", n, maxRecords))
	}
	if o := m.s.opts.PageSizeOverride; o > 0 {
		n = min(n, o)
	}
	return n, nil
}

// page returns the keys of one page from sorted keys, resuming after the key NextToken names, and
// the NextToken of the following page ("" when this is the last).
func page(q queryParams, kind string, keys []string, size int) ([]string, string, *apiError) {
	if tok := q.str("NextToken"); tok != "" {
		last, err := parsePageToken(kind, tok)
		if err != nil {
			return nil, "", err
		}
		i, _ := slices.BinarySearch(keys, last)
		for i < len(keys) && keys[i] <= last {
			i++
		}
		keys = keys[i:]
	}
	if len(keys) <= size {
		return keys, "", nil
	}
	keys = keys[:size]
	return keys, pageToken(kind, keys[len(keys)-1]), nil
}

// selected returns the sorted, de-duplicated keys of items named in names that exist, or of every
// item when names is empty. Unknown names are ignored without error, as AWS does.
func selected[V any](items map[string]V, names []string) []string {
	if len(names) == 0 {
		return slices.Sorted(maps.Keys(items))
	}
	var out []string
	for _, n := range names {
		if _, ok := items[n]; ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

type groupFilter struct {
	name   string
	values []string
}

// matches applies one DescribeAutoScalingGroups filter; its values are OR'ed.
func (f groupFilter) matches(g *asgGroup) bool {
	for _, v := range f.values {
		switch f.name {
		case "tag-key":
			if _, ok := g.tags[v]; ok {
				return true
			}
		case "tag-value":
			for _, t := range g.tags {
				if t.value == v {
					return true
				}
			}
		default: // tag:<key>
			if t, ok := g.tags[strings.TrimPrefix(f.name, "tag:")]; ok && t.value == v {
				return true
			}
		}
	}
	return false
}

func (m *asgModel) describeGroups(q queryParams) (any, *apiError) {
	size, err := m.pageSize(q, describeGroupsDefaultPage, describeGroupsMaxPage)
	if err != nil {
		return nil, err
	}
	// "By default, you can only specify up to 50 names. You can optionally increase this limit
	// using the MaxRecords property." pageSize has checked MaxRecords is within 1..100.
	limit := maxNamesPerDescribe
	if n, sent, _ := q.optInt("MaxRecords"); sent {
		limit = max(limit, n)
	}
	names := q.list("AutoScalingGroupNames")
	if len(names) > limit {
		return nil, validationError(fmt.Sprintf("The number of group names that may be passed in is limited to %d", limit))
	}
	includeInstances, sent, err := q.optBool("IncludeInstances")
	if err != nil {
		return nil, err
	}
	if !sent {
		includeInstances = true
	}
	filters, err := groupFilters(q)
	if err != nil {
		return nil, err
	}
	keys := slices.DeleteFunc(selected(m.groups, names), func(name string) bool {
		for _, f := range filters {
			if !f.matches(m.groups[name]) {
				return true
			}
		}
		return false
	})
	keys, next, err := page(q, pageKindGroups, keys, size)
	if err != nil {
		return nil, err
	}
	out := &describeGroupsResult{NextToken: next}
	for _, name := range keys {
		out.AutoScalingGroups.Member = append(out.AutoScalingGroups.Member, m.groupView(m.groups[name], includeInstances))
	}
	return out, nil
}

// groupFilters reads DescribeAutoScalingGroups' Filters: tag-key, tag-value and tag:<key>.
func groupFilters(q queryParams) ([]groupFilter, *apiError) {
	var filters []groupFilter
	for _, n := range q.indices("Filters") {
		f := groupFilter{name: q.str(member("Filters", n) + ".Name"), values: q.list(member("Filters", n) + ".Values")}
		if f.name != "tag-key" && f.name != "tag-value" && (!strings.HasPrefix(f.name, "tag:") || f.name == "tag:") {
			// Unverified message.
			return nil, validationError(fmt.Sprintf("Filter type %s is not correct. Allowed Filter types are: tag-key, tag-value, and tag:<key>.", f.name))
		}
		// A filter without values constrains nothing.
		if len(f.values) > 0 {
			filters = append(filters, f)
		}
	}
	return filters, nil
}

func (m *asgModel) groupView(g *asgGroup, includeInstances bool) xmlGroup {
	v := xmlGroup{
		AutoScalingGroupName:             g.name,
		AutoScalingGroupARN:              g.arn,
		LaunchConfigurationName:          g.launchConfigName,
		LaunchTemplate:                   g.launchTemplate,
		MinSize:                          g.minSize,
		MaxSize:                          g.maxSize,
		DesiredCapacity:                  g.desired,
		DefaultCooldown:                  g.defaultCooldown,
		AvailabilityZones:                members[string]{Member: g.azs},
		HealthCheckType:                  g.healthCheckType,
		HealthCheckGracePeriod:           g.healthCheckGracePeriod,
		CreatedTime:                      isoTime(g.created),
		VPCZoneIdentifier:                g.vpcZoneIdentifier,
		TerminationPolicies:              members[string]{Member: g.terminationPolicies},
		NewInstancesProtectedFromScaleIn: g.newInstancesProtected,
		ServiceLinkedRoleARN:             fmt.Sprintf("arn:aws:iam::%s:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling", m.s.opts.AccountID),
		CapacityRebalance:                g.capacityRebalance,
	}
	if g.deleting {
		v.Status = "Delete in progress"
	}
	for _, id := range slices.Sorted(maps.Keys(g.instances)) {
		if !includeInstances {
			break
		}
		inst := g.instances[id]
		v.Instances.Member = append(v.Instances.Member, xmlInstance{
			InstanceID:              inst.id,
			InstanceType:            simInstanceType,
			AvailabilityZone:        inst.az,
			LifecycleState:          inst.state,
			HealthStatus:            "Healthy", // this casing here, "HEALTHY" in DescribeAutoScalingInstances
			LaunchConfigurationName: g.launchConfigName,
			LaunchTemplate:          inst.launchTemplate,
			ProtectedFromScaleIn:    inst.protected,
		})
	}
	for _, k := range slices.Sorted(maps.Keys(g.tags)) {
		t := g.tags[k]
		v.Tags.Member = append(v.Tags.Member, xmlTag{ResourceID: g.name, ResourceType: "auto-scaling-group", Key: k, Value: t.value, PropagateAtLaunch: t.propagate})
	}
	return v
}

func (m *asgModel) describeInstances(q queryParams) (any, *apiError) {
	ids := q.list("InstanceIds")
	if len(ids) > maxNamesPerDescribe {
		return nil, validationError(fmt.Sprintf("The number of instance ids that may be passed in is limited to %d", maxNamesPerDescribe))
	}
	size, err := m.pageSize(q, describeInstancesDefaultPage, describeInstancesDefaultPage)
	if err != nil {
		return nil, err
	}
	keys := m.sorted()
	if len(ids) > 0 {
		keys = selected(m.instances, ids)
	}
	keys, next, err := page(q, pageKindInstances, keys, size)
	if err != nil {
		return nil, err
	}
	out := &describeInstancesResult{NextToken: next}
	for _, id := range keys {
		inst := m.instances[id]
		out.AutoScalingInstances.Member = append(out.AutoScalingInstances.Member, xmlInstanceDetails{
			InstanceID:              inst.id,
			AutoScalingGroupName:    inst.group.name,
			InstanceType:            simInstanceType,
			AvailabilityZone:        inst.az,
			LifecycleState:          inst.state,
			HealthStatus:            "HEALTHY",
			LaunchConfigurationName: inst.group.launchConfigName,
			LaunchTemplate:          inst.launchTemplate,
			ProtectedFromScaleIn:    inst.protected,
		})
	}
	return out, nil
}

func (m *asgModel) terminateInstance(q queryParams) (any, *apiError) {
	id, err := q.required("InstanceId")
	if err != nil {
		return nil, err
	}
	decrement, ok, err := q.optBool("ShouldDecrementDesiredCapacity")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, missingParam("ShouldDecrementDesiredCapacity")
	}
	inst, found := m.instances[id]
	if !found {
		return nil, validationError("Instance Id not found - No managed instance found for instance ID: " + id)
	}
	g := inst.group
	now := m.s.now()
	cause := fmt.Sprintf("At %s instance %s was taken out of service in response to a user request.", now.UTC().Format(time.RFC3339), id)
	// An instance already on its way out is left alone: the call is idempotent.
	if inst.active() {
		if decrement {
			if g.desired-1 < g.minSize {
				return nil, validationError(fmt.Sprintf("Currently, desiredSize equals minSize (%d). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.", g.minSize))
			}
			cause = fmt.Sprintf("At %s instance %s was taken out of service in response to a user request, shrinking the capacity from %d to %d.", now.UTC().Format(time.RFC3339), id, g.desired, g.desired-1)
			g.desired--
		}
		inst.termCause = cause
		m.beginTermination(inst, now, true)
		m.reconcile(g, now)
	}
	return &terminateInstanceResult{Activity: xmlActivity{
		ActivityID:           m.newUUID(),
		AutoScalingGroupName: g.name,
		AutoScalingGroupARN:  g.arn,
		Description:          "Terminating EC2 instance: " + id,
		Cause:                cause,
		StartTime:            isoTime(now),
		StatusCode:           "InProgress",
		Progress:             0,
		Details:              fmt.Sprintf(`{"Availability Zone":"%s"}`, inst.az),
	}}, nil
}

// parseHook reads a hook's fields under prefix ("" for PutLifecycleHook, a list member for
// CreateAutoScalingGroup's LifecycleHookSpecificationList) over base, the hook being updated or nil.
func parseHook(q queryParams, prefix string, base *lifecycleHook) (*lifecycleHook, *apiError) {
	name, err := q.required(prefix + "LifecycleHookName")
	if err != nil {
		return nil, err
	}
	if !hookNamePattern.MatchString(name) {
		return nil, validationError(fmt.Sprintf("Value '%s' at 'lifecycleHookName' failed to satisfy constraint: Member must satisfy regular expression pattern: [A-Za-z0-9\\-_\\/]+ and have length less than or equal to 255", name))
	}
	h := &lifecycleHook{name: name, heartbeatTimeout: defaultHeartbeatTimeout, defaultResult: resultAbandon}
	if base != nil {
		c := *base
		h = &c
	}
	if t := q.str(prefix + "LifecycleTransition"); t != "" {
		if t != transitionLaunching && t != transitionTerminating {
			// Unverified message.
			return nil, validationError(fmt.Sprintf("Invalid value for LifecycleTransition: %s. Valid values are %s and %s.", t, transitionLaunching, transitionTerminating))
		}
		h.transition = t
	}
	if h.transition == "" {
		return nil, missingParam(prefix + "LifecycleTransition")
	}
	if err := parseHookTimeouts(q, prefix, h); err != nil {
		return nil, err
	}
	if q.has(prefix + "NotificationMetadata") {
		h.notice = q.str(prefix + "NotificationMetadata")
		if len(h.notice) > 4000 {
			return nil, validationError("Value at 'notificationMetadata' failed to satisfy constraint: Member must have length less than or equal to 4000")
		}
	}
	if q.has(prefix + "NotificationTargetARN") {
		h.notificationTargetARN = q.str(prefix + "NotificationTargetARN")
	}
	if q.has(prefix + "RoleARN") {
		h.roleARN = q.str(prefix + "RoleARN")
	}
	return h, nil
}

// parseHookTimeouts reads a hook's HeartbeatTimeout and DefaultResult, when given, into h.
func parseHookTimeouts(q queryParams, prefix string, h *lifecycleHook) *apiError {
	ht, ok, err := q.optInt(prefix + "HeartbeatTimeout")
	if err != nil {
		return err
	}
	if ok {
		if ht < minHeartbeatTimeout || ht > maxHeartbeatTimeout {
			// Unverified message.
			return validationError(fmt.Sprintf("Heartbeat timeout must be between %d and %d seconds, got %d.", minHeartbeatTimeout, maxHeartbeatTimeout, ht))
		}
		h.heartbeatTimeout = ht
	}
	if r := q.str(prefix + "DefaultResult"); r != "" {
		if r != resultContinue && r != resultAbandon {
			// Unverified message.
			return validationError(fmt.Sprintf("Invalid value for DefaultResult: %s. Valid values are CONTINUE and ABANDON.", r))
		}
		h.defaultResult = r
	}
	return nil
}

func (m *asgModel) putLifecycleHook(q queryParams) (any, *apiError) {
	g, err := m.liveGroup(q)
	if err != nil {
		return nil, err
	}
	base := g.hooks[q.str("LifecycleHookName")]
	if base == nil && len(g.hooks) >= maxHooksPerGroup {
		// Unverified message.
		return nil, limitExceeded(fmt.Sprintf("Maximum number of lifecycle hooks (%d) reached for the Auto Scaling group %s.", maxHooksPerGroup, g.name))
	}
	h, err := parseHook(q, "", base)
	if err != nil {
		return nil, err
	}
	if err := m.checkHookTarget(h); err != nil {
		return nil, err
	}
	// Actions already outstanding keep the settings they started with.
	g.hooks[h.name] = h
	if h.notificationTargetARN != "" && (base == nil || base.notificationTargetARN != h.notificationTargetARN) {
		m.sendTestNotification(g, h, m.s.now())
	}
	return nil, nil
}

// checkHookTarget refuses a notification target Auto Scaling could not publish its test message
// to, as AWS does when the hook is put: a target needs a role, and an SQS target must exist.
// Topics (SNS) are accepted but not simulated. The messages are unverified.
func (m *asgModel) checkHookTarget(h *lifecycleHook) *apiError {
	if h.notificationTargetARN == "" {
		return nil
	}
	if h.roleARN == "" {
		return validationError("RoleARN is required when NotificationTargetARN is specified.")
	}
	if isSQSARN(h.notificationTargetARN) && m.s.sqs.byARN(h.notificationTargetARN) == nil {
		return validationError(fmt.Sprintf("Unable to publish test message to notification target %s using IAM role %s. Please check your target and role configuration and try to put lifecycle hook again.", h.notificationTargetARN, h.roleARN))
	}
	return nil
}

func (m *asgModel) describeLifecycleHooks(q queryParams) (any, *apiError) {
	g, err := m.group(q)
	if err != nil {
		return nil, err
	}
	names := q.list("LifecycleHookNames")
	if len(names) > maxNamesPerDescribe {
		return nil, validationError(fmt.Sprintf("The number of lifecycle hook names that may be passed in is limited to %d", maxNamesPerDescribe))
	}
	out := &describeHooksResult{}
	for _, name := range selected(g.hooks, names) {
		h := g.hooks[name]
		out.LifecycleHooks.Member = append(out.LifecycleHooks.Member, xmlHook{
			LifecycleHookName:     h.name,
			AutoScalingGroupName:  g.name,
			LifecycleTransition:   h.transition,
			NotificationTargetARN: h.notificationTargetARN,
			RoleARN:               h.roleARN,
			NotificationMetadata:  h.notice,
			HeartbeatTimeout:      h.heartbeatTimeout,
			GlobalTimeout:         h.globalTimeout(),
			DefaultResult:         h.defaultResult,
		})
	}
	return out, nil
}

func (m *asgModel) deleteLifecycleHook(q queryParams) (any, *apiError) {
	g, err := m.group(q)
	if err != nil {
		return nil, err
	}
	name, err := q.required("LifecycleHookName")
	if err != nil {
		return nil, err
	}
	h, ok := g.hooks[name]
	if !ok {
		// Unverified message.
		return nil, validationError(fmt.Sprintf("No Lifecycle Hook found with name %s for group %s", name, g.name))
	}
	delete(g.hooks, name)
	// "If there are any outstanding lifecycle actions, they are completed first (ABANDON for
	// launching instances, CONTINUE for terminating instances)."
	result := resultContinue
	if h.transition == transitionLaunching {
		result = resultAbandon
	}
	now := m.s.now()
	for _, id := range slices.Sorted(maps.Keys(g.instances)) {
		inst := g.instances[id]
		for _, a := range inst.actions {
			if a.hook == name {
				m.finishAction(inst, a, result, now)
				break
			}
		}
	}
	return nil, nil
}

// findAction returns the outstanding action of hookName in the group for the token, or for the
// instance when no token is given. An action past its timeout is not active even before the next
// Step applies its default result, so a late completion fails the way it does on AWS.
func (m *asgModel) findAction(q queryParams) (*asgInstance, *lifecycleAction, *apiError) {
	groupName, err := q.required("AutoScalingGroupName")
	if err != nil {
		return nil, nil, err
	}
	hookName, err := q.required("LifecycleHookName")
	if err != nil {
		return nil, nil, err
	}
	token, id := q.str("LifecycleActionToken"), q.str("InstanceId")
	if token == "" && id == "" {
		// Unverified message.
		return nil, nil, validationError("Either LifecycleActionToken or InstanceId must be specified.")
	}
	notFound := validationError("No active Lifecycle Action found with instance ID " + id)
	if token != "" {
		notFound = validationError("No active Lifecycle Action found with token " + token)
	}
	g, ok := m.groups[groupName]
	if !ok {
		return nil, nil, notFound
	}
	now := m.s.now()
	for _, inst := range g.instances {
		if id != "" && inst.id != id {
			continue
		}
		for _, a := range inst.actions {
			if a.hook == hookName && (token == "" || a.token == token) && a.expiry().After(now) {
				return inst, a, nil
			}
		}
	}
	return nil, nil, notFound
}

func (m *asgModel) completeLifecycleAction(q queryParams) (any, *apiError) {
	result, err := q.required("LifecycleActionResult")
	if err != nil {
		return nil, err
	}
	if result != resultContinue && result != resultAbandon {
		// Unverified message.
		return nil, validationError(fmt.Sprintf("Invalid value for LifecycleActionResult: %s. Valid values are CONTINUE and ABANDON.", result))
	}
	inst, a, err := m.findAction(q)
	if err != nil {
		return nil, err
	}
	m.finishAction(inst, a, result, m.s.now())
	m.s.metrics.actionsCompleted.WithLabelValues(result).Inc()
	m.s.stats.LifecycleActionsCompleted[result]++
	m.s.stats.CompletionsByInstance[inst.id]++
	m.s.note(inst.id, func(t *Timeline) {
		if t.CompletedAt.IsZero() {
			t.CompletedAt = m.s.now()
		}
		t.Completions++
	})
	return nil, nil
}

func (m *asgModel) recordHeartbeat(q queryParams) (any, *apiError) {
	inst, a, err := m.findAction(q)
	if err != nil {
		return nil, err
	}
	// The timeout restarts from now; the global timeout still caps it (expiry takes the earlier).
	a.deadline = m.s.now().Add(a.heartbeatTimeout)
	m.retime(inst)
	m.s.note(inst.id, func(t *Timeline) { t.Heartbeats++ })
	return nil, nil
}

func (m *asgModel) setInstanceProtection(q queryParams) (any, *apiError) {
	ids := q.list("InstanceIds")
	if len(ids) > maxInstanceIDsPerProtection {
		// Unverified message.
		return nil, limitExceeded(fmt.Sprintf("The number of instance IDs exceeds the limit of %d per call.", maxInstanceIDsPerProtection))
	}
	g, err := m.liveGroup(q)
	if err != nil {
		return nil, err
	}
	protect, ok, err := q.optBool("ProtectedFromScaleIn")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, missingParam("ProtectedFromScaleIn")
	}
	if len(ids) == 0 {
		return nil, missingParam("InstanceIds")
	}
	for _, id := range ids {
		if _, ok := g.instances[id]; !ok {
			// Unverified message.
			return nil, validationError(fmt.Sprintf("The instance %s is not part of Auto Scaling group %s.", id, g.name))
		}
	}
	for _, id := range ids {
		g.instances[id].protected = protect
	}
	m.reconcile(g, m.s.now())
	return nil, nil
}

type parsedTag struct {
	resourceID, key, value string
	propagate              bool
}

// parseTags reads a Tags list. defaultResource names the group when a tag's ResourceId is omitted
// (CreateAutoScalingGroup); CreateOrUpdateTags requires it.
func parseTags(q queryParams, prefix, defaultResource string) ([]parsedTag, *apiError) {
	var out []parsedTag
	for _, n := range q.indices(prefix) {
		p := member(prefix, n) + "."
		t := parsedTag{resourceID: q.str(p + "ResourceId"), key: q.str(p + "Key"), value: q.str(p + "Value")}
		if t.resourceID == "" {
			t.resourceID = defaultResource
		}
		if t.resourceID == "" {
			return nil, missingParam(p + "ResourceId")
		}
		if t.key == "" {
			return nil, missingParam(p + "Key")
		}
		if rt := q.str(p + "ResourceType"); rt != "" && rt != "auto-scaling-group" {
			return nil, validationError(fmt.Sprintf("Invalid resource type %s: only auto-scaling-group is supported.", rt))
		}
		prop, _, err := q.optBool(p + "PropagateAtLaunch")
		if err != nil {
			return nil, err
		}
		t.propagate = prop
		out = append(out, t)
	}
	return out, nil
}

func (m *asgModel) createOrUpdateTags(q queryParams) (any, *apiError) {
	tags, err := parseTags(q, "Tags", "")
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, missingParam("Tags")
	}
	// Validate everything first, so a failing request changes nothing.
	added := map[string]map[string]bool{}
	for _, t := range tags {
		g, ok := m.groups[t.resourceID]
		if !ok {
			return nil, validationError(fmt.Sprintf("AutoScalingGroup not found - AutoScaling Group %s not found", t.resourceID))
		}
		if _, exists := g.tags[t.key]; !exists {
			if added[g.name] == nil {
				added[g.name] = map[string]bool{}
			}
			added[g.name][t.key] = true
			if len(g.tags)+len(added[g.name]) > maxTagsPerGroup {
				return nil, limitExceeded(fmt.Sprintf("The number of tags exceeds the limit of %d per Auto Scaling group.", maxTagsPerGroup))
			}
		}
	}
	for _, t := range tags {
		m.groups[t.resourceID].tags[t.key] = asgTag{value: t.value, propagate: t.propagate}
	}
	return nil, nil
}
