// The AWS SDK for JavaScript v3 (@aws-sdk/client-kinesis, pinned in
// package-lock.json) against a running kinesin fake. The Kinesis client of
// this SDK speaks HTTP/2 only (its NodeHttp2Handler): here over TLS, trusting
// the fake's certificate, and over cleartext HTTP/2 (h2c) on the plain port.
// It registers a consumer and reads a shard with SubscribeToShard across a
// split: the parent's subscription ends with ChildShards, the children's
// subscriptions deliver what was put after the split. Each answer is
// asserted; the process exits non-zero at the first mismatch.
//
// Environment: KINESIN_FAKE_URL (plain endpoint), KINESIN_FAKE_TLS_URL and
// KINESIN_FAKE_CERT (TLS endpoint and its certificate, PEM).

import { readFileSync } from "node:fs";
import {
  KinesisClient,
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamSummaryCommand,
  DescribeStreamConsumerCommand,
  DeregisterStreamConsumerCommand,
  ListShardsCommand,
  PutRecordsCommand,
  RegisterStreamConsumerCommand,
  SplitShardCommand,
  SubscribeToShardCommand,
  ResourceNotFoundException,
} from "@aws-sdk/client-kinesis";

const env = (name) => {
  const v = process.env[name];
  if (!v) fail(`${name} is not set`);
  return v;
};
const STREAM = `js-orders-${process.pid}`; // unique: the fake may serve other runs too
let checks = 0;

function fail(message) {
  console.error(`js: FAIL ${message}`);
  process.exit(1);
}

function check(what, got, want) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g !== w) fail(`${what}:\n  got:  ${g}\n  want: ${w}`);
  checks++;
  console.log(`js: ok ${what}`);
}

// A watchdog: a subscription that never delivers must not hang the run.
const watchdog = setTimeout(() => fail("not done within 60 s"), 60_000);

const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" };
const tls = new KinesisClient({
  endpoint: env("KINESIN_FAKE_TLS_URL"),
  region: "us-east-1",
  credentials,
  maxAttempts: 1,
  // NodeHttp2Handler's options: trust the fake's self-signed certificate.
  requestHandler: { nodeHttp2ConnectOptions: { ca: readFileSync(env("KINESIN_FAKE_CERT")) } },
});
const h2c = new KinesisClient({ endpoint: env("KINESIN_FAKE_URL"), region: "us-east-1", credentials, maxAttempts: 1 });

const text = (r) => new TextDecoder().decode(r.Data);

// subscribe opens a SubscribeToShard event stream and returns its iterator.
async function subscribe(client, consumerARN, shardId, position) {
  const out = await client.send(new SubscribeToShardCommand({
    ConsumerARN: consumerARN, ShardId: shardId, StartingPosition: position,
  }));
  return out.EventStream[Symbol.asyncIterator]();
}

// readUntil reads events until until(records, event) holds, or the stream
// ends; it returns the records read, the last event and whether it ended.
async function readUntil(events, until) {
  const records = [];
  let last;
  for (;;) {
    const { value, done } = await events.next();
    if (done) return { records, last, ended: true };
    const event = value.SubscribeToShardEvent;
    if (!event) fail(`an event stream message that is not an event: ${JSON.stringify(value)}`);
    records.push(...event.Records);
    last = event;
    if (until(records, event)) return { records, last, ended: false };
  }
}

// Control plane over TLS (HTTP/2).
await tls.send(new CreateStreamCommand({ StreamName: STREAM, ShardCount: 1 }));
const summary = (await tls.send(new DescribeStreamSummaryCommand({ StreamName: STREAM }))).StreamDescriptionSummary;
check("DescribeStreamSummary over TLS", [summary.StreamStatus, summary.OpenShardCount], ["ACTIVE", 1]);
const streamARN = summary.StreamARN;
const { Consumer } = await tls.send(new RegisterStreamConsumerCommand({ StreamARN: streamARN, ConsumerName: "billing" }));
check("RegisterStreamConsumer", [Consumer.ConsumerName, Consumer.ConsumerStatus], ["billing", "CREATING"]);
const described = await tls.send(new DescribeStreamConsumerCommand({ ConsumerARN: Consumer.ConsumerARN }));
check("DescribeStreamConsumer: ACTIVE (fast profile)", described.ConsumerDescription.ConsumerStatus, "ACTIVE");

// Records before the split, read by a subscription from TRIM_HORIZON.
const put = async (client, records) => {
  const out = await client.send(new PutRecordsCommand({
    StreamName: STREAM,
    Records: records.map(([data, hashKey]) => ({ Data: new TextEncoder().encode(data), PartitionKey: data, ExplicitHashKey: hashKey })),
  }));
  check(`PutRecords ${records.map((r) => r[0]).join(",")}`, out.FailedRecordCount, 0);
  return out.Records;
};
await put(tls, [["p1", "1"], ["p2", "2"], ["p3", "3"]]);
const parent = "shardId-000000000000";
const parentEvents = await subscribe(tls, Consumer.ConsumerARN, parent, { Type: "TRIM_HORIZON" });
const before = await readUntil(parentEvents, (rs) => rs.length >= 3);
check("SubscribeToShard over TLS: the parent's records, in order", before.records.map(text), ["p1", "p2", "p3"]);
check("its event carries a ContinuationSequenceNumber", typeof before.last.ContinuationSequenceNumber, "string");

// Split while subscribed: the parent's subscription ends with ChildShards.
const middle = (2n ** 127n).toString();
await tls.send(new SplitShardCommand({ StreamName: STREAM, ShardToSplit: parent, NewStartingHashKey: middle }));
const after = await readUntil(parentEvents, (_, event) => event.ChildShards?.length > 0);
check("the parent's last event names its children",
  after.last?.ChildShards?.map((c) => [c.ShardId, c.ParentShards]),
  [["shardId-000000000001", [parent]], ["shardId-000000000002", [parent]]]);
check("the parent's last event has no ContinuationSequenceNumber", after.last.ContinuationSequenceNumber, undefined);
check("then the parent's event stream ends", (await parentEvents.next()).done, true);

// Records after the split land on the children; each child's subscription
// (over h2c for one, TLS for the other) delivers its own.
const placed = await put(h2c, [["c1", "1"], ["c2", middle]]);
check("records after the split land on the children", placed.map((r) => r.ShardId), ["shardId-000000000001", "shardId-000000000002"]);
for (const [client, proto, shardId, want] of [
  [h2c, "h2c", "shardId-000000000001", "c1"],
  [tls, "TLS", "shardId-000000000002", "c2"],
]) {
  const events = await subscribe(client, Consumer.ConsumerARN, shardId, { Type: "TRIM_HORIZON" });
  const got = await readUntil(events, (rs) => rs.length >= 1);
  check(`SubscribeToShard over ${proto}: ${shardId}'s record`, got.records.map(text), [want]);
  await events.return();
}

const shards = (await h2c.send(new ListShardsCommand({ StreamName: STREAM }))).Shards;
check("ListShards over h2c", shards.map((s) => [s.ShardId, s.ParentShardId ?? null]),
  [[parent, null], ["shardId-000000000001", parent], ["shardId-000000000002", parent]]);

// Clean up; a deleted stream is ResourceNotFoundException.
await tls.send(new DeregisterStreamConsumerCommand({ ConsumerARN: Consumer.ConsumerARN }));
await tls.send(new DeleteStreamCommand({ StreamName: STREAM }));
let code;
try {
  await h2c.send(new DescribeStreamSummaryCommand({ StreamName: STREAM }));
} catch (e) {
  code = e instanceof ResourceNotFoundException ? e.name : `${e.name}: ${e.message}`;
}
check("DescribeStreamSummary after DeleteStream", code, "ResourceNotFoundException");

tls.destroy();
h2c.destroy();
clearTimeout(watchdog);
const version = JSON.parse(readFileSync(new URL("./node_modules/@aws-sdk/client-kinesis/package.json", import.meta.url))).version;
console.log(`js: ${checks} checks passed (@aws-sdk/client-kinesis ${version}, node ${process.version})`);
