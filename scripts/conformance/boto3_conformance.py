#!/usr/bin/python3
"""boto3 (Debian's python3-boto3) against a running kinesin fake.

The control and data plane, each answer asserted; exits non-zero at the
first mismatch. Run by scripts/test through scripts/conformance/run.

Environment: KINESIN_FAKE_URL, the plain endpoint (its control API is under
/_kinesistest/).
"""

import datetime
import json
import os
import sys
import time
import urllib.request

import boto3
import botocore
from botocore.config import Config

URL = os.environ["KINESIN_FAKE_URL"]
STREAM = "py-orders-%d" % os.getpid()  # unique: the fake may serve other runs too
CHECKS = 0


def check(what, got, want):
    global CHECKS
    if got != want:
        print("boto3: FAIL %s:\n  got:  %r\n  want: %r" % (what, got, want), file=sys.stderr)
        sys.exit(1)
    CHECKS += 1
    print("boto3: ok %s" % what)


def error_code(call, **kwargs):
    """The AWS error code a call fails with, or None if it succeeds."""
    try:
        call(**kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return None


def control(method, path, body=None):
    """Calls the fake's control API."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(URL + "/_kinesistest/" + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def read_shard(client, shard_id, iterator_type="TRIM_HORIZON", **kwargs):
    """Every record of a shard from a position, following NextShardIterator
    until the tip (MillisBehindLatest 0 and nothing returned) or the end of a
    closed shard; returns the records and the ChildShards seen at the end."""
    it = client.get_shard_iterator(StreamName=STREAM, ShardId=shard_id,
                                   ShardIteratorType=iterator_type, **kwargs)["ShardIterator"]
    records, children = [], []
    while it:
        out = client.get_records(ShardIterator=it, Limit=1000)
        records += out["Records"]
        children = out.get("ChildShards", children)
        it = out.get("NextShardIterator")
        if not out["Records"] and out["MillisBehindLatest"] == 0:
            break
    return records, children, it


client = boto3.client(
    "kinesis", endpoint_url=URL, region_name="us-east-1",
    aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
    config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
)

# Streams.
client.create_stream(StreamName=STREAM, ShardCount=2)
client.get_waiter("stream_exists").wait(StreamName=STREAM, WaiterConfig={"Delay": 1, "MaxAttempts": 10})
summary = client.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]
check("describe_stream_summary", (summary["StreamStatus"], summary["OpenShardCount"], summary["StreamModeDetails"]["StreamMode"]),
      ("ACTIVE", 2, "PROVISIONED"))
check("list_streams names the stream", STREAM in client.list_streams()["StreamNames"], True)

# Records: 60 records over 6 keys; each key's records stay in order on one shard.
entries = [{"Data": ("%s-%02d" % (k, i)).encode(), "PartitionKey": k}
           for i in range(10) for k in ("a", "b", "c", "d", "e", "f")]
out = client.put_records(StreamName=STREAM, Records=entries)
check("put_records: none failed", (out["FailedRecordCount"], len(out["Records"])), (0, 60))
shard_of_key = {}
for entry, result in zip(entries, out["Records"]):
    shard_of_key.setdefault(entry["PartitionKey"], set()).add(result["ShardId"])
check("each partition key on one shard", all(len(s) == 1 for s in shard_of_key.values()), True)

shards = [s["ShardId"] for s in client.list_shards(StreamName=STREAM)["Shards"]]
check("list_shards", shards, ["shardId-000000000000", "shardId-000000000001"])
by_key = {}
read = 0
for shard in shards:
    records, _, _ = read_shard(client, shard)
    read += len(records)
    seqs = [int(r["SequenceNumber"]) for r in records]
    check("%s: sequence numbers increase" % shard, seqs, sorted(seqs))
    for r in records:
        by_key.setdefault(r["PartitionKey"], []).append(r["Data"].decode())
check("get_records read every record", read, 60)
check("per-key order", by_key, {k: ["%s-%02d" % (k, i) for i in range(10)] for k in "abcdef"})

# Iterator types: AFTER_SEQUENCE_NUMBER, AT_TIMESTAMP (past and future).
first = read_shard(client, shards[0])[0]
after, _, _ = read_shard(client, shards[0], "AFTER_SEQUENCE_NUMBER",
                         StartingSequenceNumber=first[0]["SequenceNumber"])
check("AFTER_SEQUENCE_NUMBER starts after the record", [r["SequenceNumber"] for r in after],
      [r["SequenceNumber"] for r in first[1:]])
at, _, _ = read_shard(client, shards[0], "AT_TIMESTAMP",
                      Timestamp=first[0]["ApproximateArrivalTimestamp"] - datetime.timedelta(seconds=1))
check("AT_TIMESTAMP in the past reads every record", len(at), len(first))
future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
check("AT_TIMESTAMP in the future is refused",
      error_code(client.get_shard_iterator, StreamName=STREAM, ShardId=shards[0],
                 ShardIteratorType="AT_TIMESTAMP", Timestamp=future),
      "InvalidArgumentException")

# Resharding: UpdateShardCount doubles the shards; a parent read to its end
# names its children.
client.update_shard_count(StreamName=STREAM, TargetShardCount=4, ScalingType="UNIFORM_SCALING")
client.get_waiter("stream_exists").wait(StreamName=STREAM, WaiterConfig={"Delay": 1, "MaxAttempts": 10})
open_shards = client.list_shards(StreamName=STREAM, ShardFilter={"Type": "AT_LATEST"})["Shards"]
check("update_shard_count: 4 open shards", len(open_shards), 4)
_, children, end_iterator = read_shard(client, shards[0])
check("a parent read to its end: no next iterator", end_iterator, None)
check("a parent read to its end: ChildShards name it",
      sorted(set(p for c in children for p in c["ParentShards"])), [shards[0]])

# Settings.
client.increase_stream_retention_period(StreamName=STREAM, RetentionPeriodHours=48)
client.start_stream_encryption(StreamName=STREAM, EncryptionType="KMS", KeyId="alias/aws/kinesis")
client.enable_enhanced_monitoring(StreamName=STREAM, ShardLevelMetrics=["IncomingBytes"])
summary = client.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]
check("retention, encryption and enhanced monitoring",
      (summary["RetentionPeriodHours"], summary["EncryptionType"], summary["EnhancedMonitoring"][0]["ShardLevelMetrics"]),
      (48, "KMS", ["IncomingBytes"]))
check("describe_limits", client.describe_limits()["ShardLimit"] > 0, True)

# Tags.
client.add_tags_to_stream(StreamName=STREAM, Tags={"team": "billing", "env": "test"})
client.remove_tags_from_stream(StreamName=STREAM, TagKeys=["env"])
check("tags", client.list_tags_for_stream(StreamName=STREAM)["Tags"], [{"Key": "team", "Value": "billing"}])

# Enhanced Fan-Out: register a consumer, subscribe (botocore's event stream,
# over HTTP/1.1), see a record put after the subscription.
arn = client.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]["StreamARN"]
consumer = client.register_stream_consumer(StreamARN=arn, ConsumerName="billing")["Consumer"]
status = client.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"])["ConsumerDescription"]["ConsumerStatus"]
check("describe_stream_consumer", status, "ACTIVE")
target = open_shards[0]
sub = client.subscribe_to_shard(ConsumerARN=consumer["ConsumerARN"], ShardId=target["ShardId"],
                                StartingPosition={"Type": "LATEST"})
client.put_record(StreamName=STREAM, PartitionKey="efo", Data=b"pushed",
                  ExplicitHashKey=target["HashKeyRange"]["StartingHashKey"])
pushed = []
deadline = time.monotonic() + 20
for event in sub["EventStream"]:
    pushed += [r["Data"] for r in event["SubscribeToShardEvent"]["Records"]]
    if pushed or time.monotonic() > deadline:
        break
sub["EventStream"].close()
check("subscribe_to_shard delivers the record put", pushed, [b"pushed"])
client.deregister_stream_consumer(ConsumerARN=consumer["ConsumerARN"])

# The control API: a throttle injected on GetRecords meets boto3's typed error.
fault = control("POST", "faults", {"match": {"op": "GetRecords", "stream": STREAM}, "action": {"type": "throttle"}, "times": 1})
it = client.get_shard_iterator(StreamName=STREAM, ShardId=target["ShardId"], ShardIteratorType="LATEST")["ShardIterator"]
check("an injected throttle", error_code(client.get_records, ShardIterator=it), "ProvisionedThroughputExceededException")
check("the fault's hits", [f["hits"] for f in control("GET", "faults")["faults"] if f["id"] == fault["id"]], [1])
control("DELETE", "faults/" + fault["id"])
check("GetRecords after the fault is used up", error_code(client.get_records, ShardIterator=it), None)

# Delete.
client.delete_stream(StreamName=STREAM, EnforceConsumerDeletion=True)
check("describe_stream_summary after delete_stream",
      error_code(client.describe_stream_summary, StreamName=STREAM), "ResourceNotFoundException")

print("boto3: %d checks passed (boto3 %s, botocore %s)" % (CHECKS, boto3.__version__, botocore.__version__))
