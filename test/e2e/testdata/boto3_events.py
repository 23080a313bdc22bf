"""boto3 (botocore's JSON 1.0 SQS and JSON 1.1 EventBridge) against awssim: run by
TestBoto3EventsConformance. Every check is an assert with a message; the last line printed is
"ok <checks>" when all passed."""
import json
import sys

import boto3
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
session = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="not-a-secret", region_name="us-east-1")
sqs = session.client("sqs", endpoint_url=endpoint)
events = session.client("events", endpoint_url=endpoint)
checks = 0


def check(cond, what):
    global checks
    assert cond, what
    checks += 1


def code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None, 200


check(sqs.meta.service_model.protocol == "json", "botocore speaks JSON to SQS")

dlq = sqs.create_queue(QueueName="py-dead")["QueueUrl"]
dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
q = sqs.create_queue(QueueName="py-events", Attributes={
    "VisibilityTimeout": "30",
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}),
})["QueueUrl"]
check(q == endpoint + "/123456789012/py-events", "queue URL on awssim's address: " + q)
arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

sent = sqs.send_message(QueueUrl=q, MessageBody="héllo", MessageAttributes={
    "n": {"DataType": "Number", "StringValue": "42"},
    "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
})
# The MD5 of these attributes as SQS computes it (and moto agrees).
check(sent["MD5OfMessageAttributes"] == "6b0e57f941e8d0f7d661adde182a4d82", "MD5OfMessageAttributes " + sent["MD5OfMessageAttributes"])
got = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                          MessageSystemAttributeNames=["All"], WaitTimeSeconds=1)["Messages"]
check(len(got) == 1 and got[0]["Body"] == "héllo", "the message back: %r" % got)
check(got[0]["MessageAttributes"]["b"]["BinaryValue"] == b"\x00\x01", "binary attribute round-trips")
check(got[0]["Attributes"]["ApproximateReceiveCount"] == "1", "receive count 1")
sqs.change_message_visibility(QueueUrl=q, ReceiptHandle=got[0]["ReceiptHandle"], VisibilityTimeout=0)
moved = sqs.receive_message(QueueUrl=q, WaitTimeSeconds=1).get("Messages", [])
check(moved == [], "over maxReceiveCount 1, the message moved instead of coming back: %r" % moved)
dead = sqs.receive_message(QueueUrl=dlq, MessageSystemAttributeNames=["All"], WaitTimeSeconds=1)["Messages"]
check(dead[0]["MessageId"] == got[0]["MessageId"] and dead[0]["Attributes"]["DeadLetterQueueSourceArn"] == arn, "in the DLQ: %r" % dead)

batch = sqs.send_message_batch(QueueUrl=q, Entries=[{"Id": "a", "MessageBody": "1"}, {"Id": "b", "MessageBody": "2", "DelaySeconds": 900}])
check(len(batch["Successful"]) == 2 and not batch.get("Failed"), "send_message_batch: %r" % batch)
attrs = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["All"])["Attributes"]
check(attrs["ApproximateNumberOfMessages"] == "1" and attrs["ApproximateNumberOfMessagesDelayed"] == "1", "counts: %r" % attrs)

check(code(lambda: sqs.get_queue_url(QueueName="nope")) == ("AWS.SimpleQueueService.NonExistentQueue", 400), "GetQueueUrl nope")
try:
    sqs.get_queue_url(QueueName="nope")
except sqs.exceptions.QueueDoesNotExist:
    checks += 1
check(code(lambda: sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=11))[0] == "InvalidParameterValue", "MaxNumberOfMessages 11")
check(code(lambda: sqs.delete_message(QueueUrl=q, ReceiptHandle="junk")) == ("ReceiptHandleIsInvalid", 404), "bad receipt handle")
check(code(lambda: sqs.send_message_batch(QueueUrl=q, Entries=[]))[0] in ("AWS.SimpleQueueService.EmptyBatchRequest", "EmptyBatchRequest"), "empty batch")

sqs.purge_queue(QueueUrl=q)
events.put_rule(Name="py-rule", EventPattern=json.dumps({"source": ["py.app"], "detail": {"n": [{"numeric": [">", 1]}]}}))
events.put_targets(Rule="py-rule", Targets=[{"Id": "q", "Arn": arn}])
put = events.put_events(Entries=[{"Source": "py.app", "DetailType": "Tick", "Detail": json.dumps({"n": n})} for n in range(4)])
check(put["FailedEntryCount"] == 0 and len(put["Entries"]) == 4, "put_events: %r" % put)
bodies = []
while len(bodies) < 2:
    msgs = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, WaitTimeSeconds=5).get("Messages", [])
    check(msgs, "events delivered within the long poll")
    for m in msgs:
        bodies.append(json.loads(m["Body"]))
        sqs.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])
check(sorted(b["detail"]["n"] for b in bodies) == [2, 3], "only n > 1 matched: %r" % bodies)
check(sorted(bodies[0].keys()) == ["account", "detail", "detail-type", "id", "region", "resources", "source", "time", "version"], "envelope fields")
check({b["id"] for b in bodies} <= {e["EventId"] for e in put["Entries"]}, "event IDs are PutEvents' IDs")

rule = events.describe_rule(Name="py-rule")
check(rule["Arn"] == "arn:aws:events:us-east-1:123456789012:rule/py-rule" and rule["State"] == "ENABLED", "describe_rule: %r" % rule)
check([r["Name"] for r in events.list_rules(NamePrefix="py-")["Rules"]] == ["py-rule"], "list_rules")
check(code(lambda: events.describe_rule(Name="nope"))[0] == "ResourceNotFoundException", "describe_rule nope")
check(code(lambda: events.put_rule(Name="bad", EventPattern='{"source":"x"}'))[0] == "InvalidEventPatternException", "bad pattern")
events.remove_targets(Rule="py-rule", Ids=["q"])
events.delete_rule(Name="py-rule")
sqs.delete_queue(QueueUrl=q)
check(code(lambda: sqs.get_queue_attributes(QueueUrl=q))[0] == "AWS.SimpleQueueService.NonExistentQueue", "deleted queue")
print("ok", checks)
