package awsapi

// API limits the controller batches and pages by. Each is the documented maximum for one call.
const (
	// MaxAutoScalingGroupsPerPage is DescribeAutoScalingGroups' MaxRecords maximum (default 50).
	// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeAutoScalingGroups.html
	MaxAutoScalingGroupsPerPage = 100

	// MaxAutoScalingGroupNames is how many names one DescribeAutoScalingGroups call may name.
	// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeAutoScalingGroups.html
	MaxAutoScalingGroupNames = 50

	// MaxECSListResults is maxResults' maximum for ListClusters, ListContainerInstances and ListTasks.
	// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListContainerInstances.html
	MaxECSListResults = 100

	// MaxDescribeContainerInstances is how many container instances one DescribeContainerInstances
	// call may name.
	// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeContainerInstances.html
	MaxDescribeContainerInstances = 100

	// MaxDescribeTasks is how many tasks one DescribeTasks call may name.
	// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeTasks.html
	MaxDescribeTasks = 100

	// MaxDescribeServices is how many services one DescribeServices call may name.
	// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeServices.html
	MaxDescribeServices = 10

	// MaxUpdateContainerInstancesState is how many container instances one
	// UpdateContainerInstancesState call may change.
	// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateContainerInstancesState.html
	MaxUpdateContainerInstancesState = 10

	// MaxInstanceIDFilter is how many instance IDs the controller puts in one ListContainerInstances
	// filter ("ec2InstanceId in [...]"). The cluster query language documents no limit on the list;
	// keeping it at one page of results means one call answers the whole chunk.
	// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/cluster-query-language.html
	MaxInstanceIDFilter = MaxECSListResults

	// MinHookHeartbeatTimeoutSeconds and MaxHookHeartbeatTimeoutSeconds bound a lifecycle hook's
	// HeartbeatTimeout.
	// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutLifecycleHook.html
	MinHookHeartbeatTimeoutSeconds = 30
	MaxHookHeartbeatTimeoutSeconds = 7200

	// MaxHookGlobalTimeoutSeconds caps how long an instance may wait on a hook: 48 hours, or 100
	// times the heartbeat timeout if that is smaller.
	// https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html
	MaxHookGlobalTimeoutSeconds = 172800
	HookGlobalTimeoutHeartbeats = 100
)
