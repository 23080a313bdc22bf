package awssim

import "encoding/xml"

// The XML shapes of Auto Scaling results. Element names are the model's member names; lists are
// wrapped in <member> elements. Optional members are omitted when unset, as AWS omits them.

// members is a wrapped Query-protocol list. It always encodes its wrapper element, so an empty list
// reads as <Instances></Instances> the way AWS sends it, not as an absent member.
type members[T any] struct {
	Member []T `xml:"member"`
}

type xmlLaunchTemplate struct {
	LaunchTemplateID   string `xml:"LaunchTemplateId,omitempty"`
	LaunchTemplateName string `xml:"LaunchTemplateName,omitempty"`
	Version            string `xml:"Version,omitempty"`
}

type xmlTag struct {
	ResourceID        string `xml:"ResourceId"`
	ResourceType      string `xml:"ResourceType"`
	Key               string `xml:"Key"`
	Value             string `xml:"Value"`
	PropagateAtLaunch bool   `xml:"PropagateAtLaunch"`
}

// xmlInstance is the Instance shape inside DescribeAutoScalingGroups.
type xmlInstance struct {
	InstanceID              string             `xml:"InstanceId"`
	InstanceType            string             `xml:"InstanceType"`
	AvailabilityZone        string             `xml:"AvailabilityZone"`
	LifecycleState          string             `xml:"LifecycleState"`
	HealthStatus            string             `xml:"HealthStatus"`
	LaunchConfigurationName string             `xml:"LaunchConfigurationName,omitempty"`
	LaunchTemplate          *xmlLaunchTemplate `xml:"LaunchTemplate,omitempty"`
	ProtectedFromScaleIn    bool               `xml:"ProtectedFromScaleIn"`
}

// xmlInstanceDetails is the AutoScalingInstanceDetails shape of DescribeAutoScalingInstances.
type xmlInstanceDetails struct {
	InstanceID              string             `xml:"InstanceId"`
	AutoScalingGroupName    string             `xml:"AutoScalingGroupName"`
	InstanceType            string             `xml:"InstanceType"`
	AvailabilityZone        string             `xml:"AvailabilityZone"`
	LifecycleState          string             `xml:"LifecycleState"`
	HealthStatus            string             `xml:"HealthStatus"`
	LaunchConfigurationName string             `xml:"LaunchConfigurationName,omitempty"`
	LaunchTemplate          *xmlLaunchTemplate `xml:"LaunchTemplate,omitempty"`
	ProtectedFromScaleIn    bool               `xml:"ProtectedFromScaleIn"`
}

type xmlGroup struct {
	AutoScalingGroupName             string               `xml:"AutoScalingGroupName"`
	AutoScalingGroupARN              string               `xml:"AutoScalingGroupARN"`
	LaunchConfigurationName          string               `xml:"LaunchConfigurationName,omitempty"`
	LaunchTemplate                   *xmlLaunchTemplate   `xml:"LaunchTemplate,omitempty"`
	MinSize                          int                  `xml:"MinSize"`
	MaxSize                          int                  `xml:"MaxSize"`
	DesiredCapacity                  int                  `xml:"DesiredCapacity"`
	DefaultCooldown                  int                  `xml:"DefaultCooldown"`
	AvailabilityZones                members[string]      `xml:"AvailabilityZones"`
	LoadBalancerNames                members[string]      `xml:"LoadBalancerNames"`
	TargetGroupARNs                  members[string]      `xml:"TargetGroupARNs"`
	HealthCheckType                  string               `xml:"HealthCheckType"`
	HealthCheckGracePeriod           int                  `xml:"HealthCheckGracePeriod"`
	Instances                        members[xmlInstance] `xml:"Instances"`
	CreatedTime                      string               `xml:"CreatedTime"`
	SuspendedProcesses               members[string]      `xml:"SuspendedProcesses"`
	VPCZoneIdentifier                string               `xml:"VPCZoneIdentifier,omitempty"`
	EnabledMetrics                   members[string]      `xml:"EnabledMetrics"`
	Status                           string               `xml:"Status,omitempty"`
	Tags                             members[xmlTag]      `xml:"Tags"`
	TerminationPolicies              members[string]      `xml:"TerminationPolicies"`
	NewInstancesProtectedFromScaleIn bool                 `xml:"NewInstancesProtectedFromScaleIn"`
	ServiceLinkedRoleARN             string               `xml:"ServiceLinkedRoleARN"`
	CapacityRebalance                bool                 `xml:"CapacityRebalance"`
}

type xmlHook struct {
	LifecycleHookName     string `xml:"LifecycleHookName"`
	AutoScalingGroupName  string `xml:"AutoScalingGroupName"`
	LifecycleTransition   string `xml:"LifecycleTransition"`
	NotificationTargetARN string `xml:"NotificationTargetARN,omitempty"`
	RoleARN               string `xml:"RoleARN,omitempty"`
	NotificationMetadata  string `xml:"NotificationMetadata,omitempty"`
	HeartbeatTimeout      int    `xml:"HeartbeatTimeout"`
	GlobalTimeout         int    `xml:"GlobalTimeout"`
	DefaultResult         string `xml:"DefaultResult"`
}

type xmlActivity struct {
	ActivityID           string `xml:"ActivityId"`
	AutoScalingGroupName string `xml:"AutoScalingGroupName"`
	AutoScalingGroupARN  string `xml:"AutoScalingGroupARN"`
	Description          string `xml:"Description"`
	Cause                string `xml:"Cause"`
	StartTime            string `xml:"StartTime"`
	StatusCode           string `xml:"StatusCode"`
	Progress             int    `xml:"Progress"`
	Details              string `xml:"Details"`
}

type describeGroupsResult struct {
	XMLName           xml.Name          `xml:"DescribeAutoScalingGroupsResult"`
	AutoScalingGroups members[xmlGroup] `xml:"AutoScalingGroups"`
	NextToken         string            `xml:"NextToken,omitempty"`
}

type describeInstancesResult struct {
	XMLName              xml.Name                    `xml:"DescribeAutoScalingInstancesResult"`
	AutoScalingInstances members[xmlInstanceDetails] `xml:"AutoScalingInstances"`
	NextToken            string                      `xml:"NextToken,omitempty"`
}

type describeHooksResult struct {
	XMLName        xml.Name         `xml:"DescribeLifecycleHooksResult"`
	LifecycleHooks members[xmlHook] `xml:"LifecycleHooks"`
}

type terminateInstanceResult struct {
	XMLName  xml.Name    `xml:"TerminateInstanceInAutoScalingGroupResult"`
	Activity xmlActivity `xml:"Activity"`
}
