// Package reconciler is the ecs-drainer controller: for every instance of a managed Auto Scaling
// group held in Terminating:Wait by the terminating lifecycle hook it acts for, it sets the ECS
// container instance DRAINING, waits until every task on it is STOPPED (recording heartbeats so the
// hook never expires meanwhile), then completes the lifecycle action with CONTINUE.
//
// # Queue items
//
// Four rate-limited workqueues (itemQueues), served by processNext (controller.go): the reconciles'
// queue holds
//
//   - discovery: lists the managed groups, reads their hooks, watches the instances waiting (and
//     those a Spot warning drains early, spot.go) and enqueues them (discovery.go, hooks.go);
//   - instance/<id>: one instance's drain, the ordered steps of drainSteps (instance.go);
//
// and three more, with workers of their own, the ECS calls of the ecsview.View the reconciles filed,
// run by View.Flush: the shared batches' queue resolve, drain/<cluster> and tasks/<cluster>
// (shared by the instances that filed them), the listings' queue list/<container instance> (one
// instance's tasks told to stop), apart so that a backlog of listings holds up no shared batch, and
// the tags' queue tag/<container instance> (the drain-started-at tag, which no drain waits for),
// with two workers so that tags take little of the budget from the listings. A reconcile files
// these and returns: a backlog of them behind the ECS rate limit holds none of the workers a drain
// ready for its next step needs. A reconcile still makes its own instance's calls (the shared
// container instance read, the completion, a task stop).
//
// A fifth, delaying queue, keyed by instance ID, drives the heartbeat workers (heartbeat.go), so a
// heartbeat never waits behind ECS work. Anything that learns an instance needs a look calls
// enqueueInstance; that is the one way in for discovery, the View's answers and a refused
// heartbeat.
//
// # Invariants
//
//   - Level-triggered: every step re-reads state, acts only if needed and is safe to repeat; all
//     state lives on AWS (the drain-started-at tag) or is re-derived after a restart.
//   - Every write goes through Controller.write, which in dry run logs "Would ..." and calls
//     nothing, so dry run is correct by construction.
//   - The rate limiter is for errors only; waiting is a RequeueAfter. Every ECS call is bounded
//     (ecsview.CallTimeout), heartbeat calls by heartbeatCallTimeout.
//   - An instance's state has one owner per part, one type each (state.go): discovery's
//     watchState, the reconcile's drainRecord (publishDrain) and the heartbeat worker's
//     heartbeatState (noteHeartbeat).
//   - How an action ends is one table (outcomes.go); all timeout arithmetic is in timeouts.go.
//   - Drains (drains.go) is a read-only copy for the drains page; it makes no AWS call.
//
// docs/design.md has the long form: the API budget, state, timeouts and a walk through one drain.
package reconciler
