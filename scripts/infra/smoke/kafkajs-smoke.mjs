// kafkajs 2.2.4 against the local Kafka 4.1.x broker: admin, keyed produce, group consume/commit,
// second member joining (rebalance), member leaving (rejoin), resume from committed offsets.
// Needs KAFKA_BROKERS and the admin's KAFKA_SASL_* (from .infra/env) and kafkajs resolvable from here
// (repo node_modules).
import kafkajs from 'kafkajs';

const { Kafka, logLevel, CompressionTypes } = kafkajs;
const brokers = (process.env.KAFKA_BROKERS || '127.0.0.1:9092').split(',');
const sasl = {
  mechanism: process.env.KAFKA_SASL_MECHANISM || 'scram-sha-512',
  username: process.env.KAFKA_SASL_USERNAME,
  password: process.env.KAFKA_SASL_PASSWORD,
};
const kafka = new Kafka({
  clientId: 'infra-smoke',
  brokers,
  sasl,
  logLevel: process.env.SMOKE_KAFKAJS_LOG === 'warn' ? logLevel.WARN : logLevel.NOTHING,
  retry: { retries: 5 },
});
const run = Date.now();
const topic = `infra-smoke-${run}`;
const groupId = `infra-smoke-group-${run}`;
// kafkajs heartbeats between fetches: a short maxWaitTimeInMs makes rebalances take ~1 s, not ~5-10 s.
const consumerOpts = { groupId, sessionTimeout: 10000, heartbeatInterval: 1000, maxWaitTimeInMs: 200 };
let passed = 0;
let failed = 0;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timeout waiting for ${what}`);
    await sleep(50);
  }
}
async function step(name, fn) {
  const t = Date.now();
  try {
    const r = await fn();
    passed++;
    console.log(`PASS ${name} (${Date.now() - t} ms)${typeof r === 'string' ? ` ${r}` : ''}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name} (${Date.now() - t} ms): ${e.stack || e}`);
    throw e;
  }
}

async function main() {
  const admin = kafka.admin();
  await step('admin connect + describeCluster', async () => {
    await admin.connect();
    const c = await admin.describeCluster();
    return `brokers=${c.brokers.map((b) => `${b.nodeId}@${b.host}:${b.port}`)} clusterId=${c.clusterId}`;
  });
  await step('admin createTopics (3 partitions)', async () => {
    const ok = await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: 3, replicationFactor: 1 }],
    });
    if (!ok) throw new Error('createTopics returned false');
  });
  await step('admin createTopics on existing topic returns false', async () => {
    const ok = await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
    if (ok !== false) throw new Error(`expected false, got ${ok}`);
  });
  await step('produce to a missing topic is rejected (auto.create.topics.enable=false)', async () => {
    const p = kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 1 } });
    await p.connect();
    try {
      await p.send({ topic: `missing-${run}`, messages: [{ value: 'x' }], timeout: 3000 });
    } catch (e) {
      return `${e.name}`;
    } finally {
      await p.disconnect();
    }
    throw new Error('send unexpectedly succeeded');
  });

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await step('idempotent producer: 10 keyed messages, acks=all, gzip', async () => {
    await producer.connect();
    const messages = Array.from({ length: 10 }, (_, i) => ({
      key: `key-${i % 4}`,
      value: JSON.stringify({ i }),
      headers: { 'x-i': String(i) },
    }));
    const res = await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages });
    return JSON.stringify(res.map((r) => [r.partition, r.baseOffset]));
  });

  const assign = {};
  const seen1 = [];
  const keyPartitions = {};
  const c1 = kafka.consumer(consumerOpts);
  c1.on(c1.events.GROUP_JOIN, (e) => (assign.c1 = e.payload.memberAssignment[topic] || []));
  await step('consumer c1: join group, consume 10, commit each offset', async () => {
    await c1.connect();
    await c1.subscribe({ topic, fromBeginning: true });
    await c1.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        seen1.push(message.offset);
        (keyPartitions[message.key.toString()] ??= new Set()).add(partition);
        await c1.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
      },
    });
    await waitFor(() => seen1.length >= 10, 30000, '10 messages');
    if (Object.values(keyPartitions).some((s) => s.size !== 1)) throw new Error('a key hit >1 partition');
    return `key->partition ${JSON.stringify(Object.fromEntries(Object.entries(keyPartitions).map(([k, s]) => [k, [...s][0]])))}`;
  });
  await step('admin fetchOffsets sees the commits', async () => {
    const [{ partitions }] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const total = partitions.reduce((a, p) => a + Number(p.offset), 0);
    if (total !== 10) throw new Error(`committed offsets add up to ${total}, not 10`);
  });

  const seen2 = [];
  const c2 = kafka.consumer(consumerOpts);
  c2.on(c2.events.GROUP_JOIN, (e) => (assign.c2 = e.payload.memberAssignment[topic] || []));
  await step('consumer c2 joins: rebalance splits the 3 partitions', async () => {
    assign.c1 = null;
    await c2.connect();
    await c2.subscribe({ topic, fromBeginning: true });
    await c2.run({ eachMessage: async ({ message }) => void seen2.push(message.offset) });
    await waitFor(() => assign.c1 && assign.c2, 30000, 'both members assigned');
    if (assign.c1.length + assign.c2.length !== 3 || !assign.c1.length || !assign.c2.length) {
      throw new Error(`bad split ${JSON.stringify(assign)}`);
    }
    await sleep(1000);
    if (seen2.length) throw new Error(`c2 re-read ${seen2.length} committed messages`);
    return `c1=${JSON.stringify(assign.c1)} c2=${JSON.stringify(assign.c2)}`;
  });
  await step('6 more messages are shared by both members', async () => {
    const before = seen1.length;
    await producer.send({
      topic,
      messages: Array.from({ length: 6 }, (_, i) => ({ key: `key-${i % 4}`, value: `more-${i}` })),
    });
    await waitFor(() => seen1.length - before + seen2.length >= 6, 20000, '6 more messages');
    return `c1=${seen1.length - before} c2=${seen2.length}`;
  });
  await step('c1 leaves: c2 rejoins and owns all 3 partitions', async () => {
    assign.c2 = null;
    await c1.disconnect();
    await waitFor(() => assign.c2 && assign.c2.length === 3, 30000, 'c2 owning 3 partitions');
    const before = seen2.length;
    await producer.send({ topic, messages: [0, 1, 2].map((i) => ({ key: `key-${i}`, value: `last-${i}` })) });
    await waitFor(() => seen2.length - before >= 3, 20000, '3 more for c2');
  });
  await c2.disconnect();
  await step('fresh member resumes from committed offsets (no redelivery)', async () => {
    const got = [];
    let joined = false;
    const c3 = kafka.consumer(consumerOpts);
    c3.on(c3.events.GROUP_JOIN, () => (joined = true));
    await c3.connect();
    await c3.subscribe({ topic, fromBeginning: true });
    await c3.run({ eachMessage: async ({ message }) => void got.push(message.offset) });
    await waitFor(() => joined, 30000, 'c3 join');
    await sleep(1500);
    await c3.disconnect();
    if (got.length) throw new Error(`re-read ${got.length} messages`);
  });
  await step('admin deleteGroups + deleteTopics', async () => {
    await admin.deleteGroups([groupId]);
    await admin.deleteTopics({ topics: [topic], timeout: 10000 });
  });
  await producer.disconnect();
  await admin.disconnect();
}

main()
  .catch(() => {})
  .finally(() => {
    console.log(`kafkajs: ${passed} passed, ${failed} failed`);
    process.exit(failed || passed === 0 ? 1 : 0);
  });
