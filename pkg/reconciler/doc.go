// Package reconciler is the ecs-drainer controller: it makes EC2 Auto Scaling scale-in safe for
// Amazon ECS. For every instance of a managed group held in Terminating:Wait by the terminating
// lifecycle hook it acts for, it sets the ECS container instance DRAINING, waits until every task
// on it is STOPPED (recording lifecycle heartbeats so the hook never expires while it waits), then
// completes the lifecycle action with CONTINUE.
//
// # Loop
//
// One client-go typed rate-limited workqueue drives the drains; workers are written once
// (processNext). Queue items are:
//
//   - discovery: lists the managed groups (DescribeAutoScalingGroups with the tag filter, 100 per
//     page, plus the named groups; a group must carry the tag value), reads the hooks of groups
//     with a new instance waiting (and every busyHookTTL while instances wait), hookDescribers
//     groups at a time, starts watching instances that entered Terminating:Wait, enqueues every
//     watched instance, describes idle groups' hooks not known (with a resync period over
//     probeHooksAbove), and requeues itself after the resync period, or half the shortest
//     heartbeat timeout of the hooks it knows, or probeHooksAbove while a group's hooks are
//     unknown (an instance is first seen up to a resync after its action started).
//   - instance/<id>: the per-instance reconcile (instance.go), level-triggered: every step re-reads
//     state and is safe to repeat.
//   - resolve, drain/<cluster>, tasks/<cluster>: shared batches (see below).
//
// The rate limiter (per-item exponential backoff under an overall token bucket) is for errors
// only; waiting for a drain is a RequeueAfter. A terminal error is forgotten, counted and logged.
// Every ECS call is bounded by ecsCallTimeout (10 s, the SDK's retries included), so a throttled
// or hung ECS cannot hold a worker for long: the call fails, the item backs off in the queue, and
// discovery and the other instances keep moving. At shutdown the reconciles in hand get
// shutdownGrace (20 s) before their calls are cancelled.
//
// Heartbeats have a path of their own that never waits behind ECS work: a second client-go typed
// delaying queue keyed by EC2 instance ID, on the same clock, served by HeartbeatWorkersFor(qps)
// workers (2 x --aws-qps) that call only RecordLifecycleActionHeartbeat (heartbeat.go), each call
// marked urgent with the action's expiry so the client-side rate limit serves it first. Discovery enqueues every watched
// instance there at each resync; the worker records a heartbeat when one is due and schedules the
// instance again for the next, from what the controller knows (the last heartbeat or the time the
// action is known to have started after, the hook's heartbeat timeout, the global timeout). Auto
// Scaling and ECS also have separate client-side rate limiters, and every operation its own
// retryer (pkg/awsapi), so throttling of one operation never slows or starves another.
//
// # API budget
//
// AWS meters both services per account with token buckets other tools share, so lookups are shared
// and batched across instances rather than made per instance:
//
//   - With nothing terminating a resync costs one DescribeAutoScalingGroups per 100 tagged groups
//     and no ECS call. Hooks are read for groups with instances waiting; with a resync period over
//     probeHooksAbove (or --manage-hooks) every group's hooks are described too, hookProbesPerResync
//     a resync, and again every hookCacheTTL.
//   - resolve: where newly seen instances are registered is found for all of them at once: per
//     cluster, ListContainerInstances with "ec2InstanceId in [...]" (100 IDs a call), status
//     omitted, then DescribeContainerInstances of what was found. Clusters where the group's
//     instances were found before are asked first; ListClusters is cached. An instance found
//     nowhere (never registered, or INACTIVE) is completed at once, but only if every cluster
//     answered: while one cannot be searched (AccessDenied, errors) it stays unknown, is looked up
//     again each poll, and its drain timeout applies. With --clusters, "nowhere" means in none of
//     them.
//   - The container-instance snapshot (snapshot.go) refreshes every tracked container instance of a
//     cluster with one DescribeContainerInstances per 100 (tags included). A reconcile uses a read
//     younger than the poll interval and requeues itself a poll interval after that read, so all
//     instances of a cluster come back together and share one refresh per poll.
//   - drain/<cluster>: DRAINING requests are coalesced into UpdateContainerInstancesState calls of
//     up to 10.
//   - tasks/<cluster>: once a container instance shows no running or pending task, the tasks told to
//     stop are listed once (ListTasks desiredStatus STOPPED) and described in DescribeTasks calls
//     shared by the cluster's instances until every one is STOPPED. An answer not there a poll
//     after it was asked for is asked for again.
//
// Describe answers are trusted only for what they say: a container instance or task left out is
// gone only with a MISSING failure; anything else left out is an error, retried.
//
// So a drained instance costs, all polls included, one ECS call of its own (ListTasks) plus its
// share of the batched ones, and two writes (DRAINING share, completion) when the drain is shorter
// than tagAfter. A longer drain adds one TagResource (the drain start, written once) and a
// heartbeat per half heartbeat timeout.
//
// # State
//
// Everything is derived from AWS. The only state kept is the drain's start time, stored on the
// container instance as the tag ecs-drainer/drain-started-at once the drain is tagAfter old
// (min(half the hook's heartbeat timeout, the standalone task grace when standalone tasks are
// stopped, the drain timeout, timeoutStopAllowance)), so after a restart a long drain's age,
// heartbeats and timeout continue. Until then the start lives in memory only: writing it for every
// drain would cost an ECS call per drain, most drains are shorter, and TagResource shares the ECS
// budget with the DRAINING calls and final ListTasks of a large scale-in. A restarted controller
// adopts an untagged DRAINING instance with its first sight as the start, so that drain's timeout
// and standalone grace come later than they would have (by less than tagAfter plus the downtime),
// never earlier; it then tags it like its own. A restarted controller records a heartbeat at first
// sight (the last one is unknown). What this process did is remembered in memory (completions,
// until the instance leaves Terminating:Wait, so nothing is completed twice by one replica). Two
// replicas do no harm: DRAINING and tagging are idempotent (a replica that finds the tag keeps the earlier of
// its start and the tag's, and does not write it), only tasks whose desiredStatus is RUNNING are
// stopped (a task both stop is counted only by the one whose stop took effect: the StopTask answer
// carries the first stop's reason, which names the replica), and the second completion gets "No
// active Lifecycle Action", which means done. That answer after an attempt of ours that got no
// definite answer (a lost response the SDK retried) means we completed it.
//
// # Timeouts
//
// Heartbeats are recorded by the heartbeat worker when half the hook's heartbeat timeout has passed
// since the last one (or since a time the action is known to have started after; at once when
// neither is known), whatever the drain's ECS calls are doing, never past the global timeout
// (min(48 h, 100 x heartbeat timeout) from first sight, or the drain start if earlier). A failed
// heartbeat is retried every tenth of the heartbeat timeout, each call bounded to a sixth of it
// (5 to 20 s); "No active Lifecycle Action" means the action is over, which the instance's
// reconcile checks against Auto Scaling, like a ValidationError: it reads the group's hooks and the
// instance's state, follows a hook replaced under a new name, and counts the action as ended only
// if the instance waits on no hook of ours. The same check follows a refused completion. In dry run the worker logs the heartbeat it would
// record and records none. A drain
// that outlives the drain timeout, counted from the same time, ends the configured way whether or
// not DRAINING could be set (stop the remaining tasks, daemon tasks last once no other task is
// still stopping, then CONTINUE, or CONTINUE anyway timeoutStopAllowance later; CONTINUE as it
// stands; or ABANDON), loudly and counted. The drain timeout is cut to the global timeout less a
// margin, with a warning, so the configured outcome always comes before AWS's default result. The
// drain gauges count every watched instance not completed, and are computed when scraped.
//
// # Drains view
//
// Drains (drains.go) is the read-only view behind the drains page (pkg/web): it copies the drains
// in progress and the controller's health under the locks, and keeps the last EndedDrainsKept
// drains that ended, in memory only. It makes no AWS call and adds no metric.
//
// # Dry run
//
// Every write goes through Controller.write, which in dry run logs "Would ..." with the details and
// calls nothing; the controller then carries on as if the write had succeeded, so the log shows
// the whole plan once.
package reconciler
