// Package events owns the event fast path: it consumes one SQS queue fed by EventBridge rules
// and by lifecycle hooks' NotificationTargetARN, turns each message into a typed hint, and hands
// the hint to a Sink the controller implements, so that a reconcile starts within a second of
// the event instead of at the next resync or poll.
//
// Invariants:
//
//   - Events are hints, never state. A hint says "look at this instance now"; the controller
//     re-reads everything from AWS before it acts, so a lost, duplicated, reordered, stale or
//     forged event costs at most an extra look, never a wrong action. Polling stays on as the
//     safety net: EventBridge and Auto Scaling deliver best effort, and the queue can be down.
//   - Every message received is deleted once it is dealt with: handed to the sink and accepted,
//     recognised as a duplicate, or found to be no event the controller uses (not JSON, no
//     event, an unknown type, a source that does not match its type, the hook's test
//     notification). Such a message would read the same on every redelivery, so leaving it for
//     the dead-letter queue would only cycle it through maxReceiveCount receives and bury the
//     messages that do need a look there; it is counted in ecs_drainer_events_received_total
//     and logged once, with the reason and the start of its body.
//   - A message the sink did not accept (the controller is shutting down) is left on the queue
//     and reappears after the visibility timeout, for this replica or another.
//   - Queue errors (a missing queue, AccessDenied, throttling) never stop the consumer: it
//     backs off, counts each failure, logs once per change of error, and reports the failure
//     in Health so that the controller can show it and keep relying on polling.
//   - Shutdown: cancelling Run's context stops receiving (an in-flight long poll is abandoned
//     and whatever it would have returned reappears); the messages already received are still
//     handled and deleted, within handleTimeout.
//
// Delivery is at least once and unordered. Duplicates are dropped by event ID within a window of
// the last dedupWindow events; ECS events carry their resource's version (ContainerInstanceHint,
// TaskHint) for a sink that wants to drop older ones.
package events
