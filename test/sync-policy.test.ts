/**
 * Default deny on the way out: every outbound message asks the policy's
 * `data_transfer` decision (destination `hub`, classification `deidentified`),
 * and the shipped bundle's seed rule (`deny` whenever the destination is not
 * `local`) is honoured as written: under it nothing leaves the node.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import amqp, { type ChannelModel } from 'amqplib';
import { createBuiltinPolicy, createRegoPolicy, loadBundle, type Decision, type PolicyEngine, type PolicyInput } from '../src/policy/index.ts';
import { createSyncAgent, DeidentifyError, topology } from '../src/sync/index.ts';
import { brokerSkip, brokerUrl, deleteTopology, quietLogger, runPrefix, syncStore, TcpProxy, until } from './sync-harness.ts';

const skip = await brokerSkip();
const SHIPPED = fileURLToPath(new URL('../policies', import.meta.url));

/** Wraps a policy, keeping every input it was asked and letting the test switch it off. */
function recording(inner: PolicyEngine) {
  const asked: PolicyInput[] = [];
  let refuse: string | undefined;
  const engine: PolicyEngine = {
    revision: inner.revision,
    decide(input): Decision {
      asked.push(structuredClone(input));
      return refuse ? { allow: false, reason: refuse } : inner.decide(input);
    },
  };
  return { engine, asked, set refuse(r: string | undefined) { refuse = r; } };
}

const event = { metric: 'consultations', at: Date.UTC(2026, 10, 24, 9, 12, 0), count: 1 };

describe('sync: the data_transfer decision', () => {
  it('the shipped bundle (the seed rule as written) refuses every transfer to the hub: nothing is queued', async () => {
    const store = syncStore();
    const policy = recording(createRegoPolicy(loadBundle(SHIPPED)));
    const agent = createSyncAgent({ store, policy: () => policy.engine, logger: quietLogger(), nodeId: 'n-seed', city: 'x' });
    try {
      const r = await agent.enqueue('aggregate', event);
      assert.deepEqual(r, { queued: false, reason: 'data_must_stay_local' });
      assert.equal(agent.status().backlog, 0);
      assert.equal(agent.status().state, 'standalone');
      assert.equal(policy.asked.length, 1);
      assert.equal(policy.asked[0]!.destination, 'hub');
    } finally {
      await agent.close();
      store.close();
    }
  });

  it('a payload the de-identifier cannot clean is refused before the policy is asked', async () => {
    const store = syncStore();
    const agent = createSyncAgent({ store, policy: () => createBuiltinPolicy(), logger: quietLogger(), nodeId: 'n-bad', city: 'x' });
    try {
      await assert.rejects(agent.enqueue('aggregate', { metric: 'patient_names', at: Date.now() }), DeidentifyError);
      await assert.rejects(agent.enqueue('aggregate', { metric: 'alerts', at: Date.now(), buckets: { 'Ada Lovelace': 1 } }), DeidentifyError);
      assert.equal(agent.status().backlog, 0);
    } finally {
      await agent.close();
      store.close();
    }
  });
});

describe('sync: the data_transfer decision on the wire', { skip }, () => {
  const prefix = runPrefix();
  const t = topology(prefix);
  const tap = `${prefix}.tap`;
  const seen: string[] = [];
  let conn: ChannelModel;

  before(async () => {
    conn = await amqp.connect(brokerUrl());
    const ch = await conn.createChannel();
    await ch.assertExchange(t.fleet, 'topic', { durable: true });
    await ch.assertQueue(tap, { exclusive: true, autoDelete: true });
    await ch.bindQueue(tap, t.fleet, '#');
    await ch.consume(tap, (m) => {
      if (m) seen.push(m.content.toString('utf8'));
    }, { noAck: true });
  });

  after(async () => {
    await conn?.close();
    await deleteTopology(prefix, [`${prefix}-a`, `${prefix}-b`]);
  });

  it('every message and heartbeat asks data_transfer to the hub as de-identified; a refusal holds the outbox in order until the policy allows again', { timeout: 60_000 }, async () => {
    const store = syncStore();
    const policy = recording(createBuiltinPolicy());
    const proxy = await new TcpProxy().listen();
    const agent = createSyncAgent({ store, policy: () => policy.engine, logger: quietLogger(), nodeId: `${prefix}-a`, city: 'x', amqpUrl: proxy.url, prefix, heartbeatMs: 100, policyRetryMs: 50, reconnect: { minDelayMs: 20, maxDelayMs: 100 } });
    agent.start();
    try {
      for (let i = 0; i < 20; i++) await agent.enqueue('aggregate', event);
      await agent.drained();
      // The policy changes its mind while messages are queued: they stay, the status says why.
      policy.refuse = 'data_must_stay_local';
      await until(() => policy.asked.some((a) => a.resource?.type === 'Heartbeat'), 'a heartbeat was decided');
      const queued = await Promise.all([1, 2, 3].map(() => agent.enqueue('aggregate', event)));
      assert.ok(queued.every((q) => !q.queued));
      policy.refuse = undefined;
      // Queued while offline, refused when the link returns: held, in order, with the reason in the status.
      proxy.cut();
      await until(() => agent.status().state === 'offline', 'offline');
      for (let i = 0; i < 5; i++) await agent.enqueue('aggregate', event);
      policy.refuse = 'bundle_withdrawn';
      proxy.restore();
      await until(() => agent.status().blocked === 'bundle_withdrawn', 'the drain was refused');
      assert.equal(agent.status().backlog, 5);
      policy.refuse = undefined;
      await agent.drained();
      await until(() => seen.filter((s) => s.includes('"kind":"aggregate"')).length === 25, 'the tap saw 25 aggregates');
      assert.equal(agent.status().blocked, undefined);

      for (const input of policy.asked) {
        assert.equal(input.action, 'data_transfer');
        assert.equal(input.destination, 'hub');
        assert.equal(input.data_stays_local, false);
        assert.equal(input.resource?.classification, 'deidentified');
        assert.equal(input.patient, undefined);
      }
      // Asked at enqueue and again before publishing: at least twice per aggregate sent.
      assert.ok(policy.asked.filter((a) => a.resource?.type === 'Aggregate').length >= 2 * 25);
    } finally {
      await agent.close();
      store.close();
      await proxy.close();
    }
  });

  it('under the shipped bundle a connected node sends nothing, not even a heartbeat, and counts the refusals', { timeout: 30_000 }, async () => {
    const store = syncStore();
    const policy = recording(createRegoPolicy(loadBundle(SHIPPED)));
    const before = seen.length;
    const agent = createSyncAgent({ store, policy: () => policy.engine, logger: quietLogger(), nodeId: `${prefix}-b`, city: 'x', amqpUrl: brokerUrl(), prefix, heartbeatMs: 50 });
    agent.start();
    try {
      await until(() => agent.status().state === 'online' && policy.asked.filter((a) => a.resource?.type === 'Heartbeat').length >= 3, 'heartbeats decided');
      assert.equal((await agent.enqueue('aggregate', event)).queued, false);
      // A marker published after the refusals arrives; nothing from the node arrived before it.
      const ch = await conn.createChannel();
      ch.publish(t.fleet, 'node.marker.test', Buffer.from('"marker"'));
      await until(() => seen.slice(before).includes('"marker"'), 'the marker');
      await ch.close();
      assert.deepEqual(seen.slice(before).filter((s) => s.includes(`${prefix}-b`)), []);
    } finally {
      await agent.close();
      store.close();
    }
  });
});
