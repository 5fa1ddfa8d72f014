/**
 * The hub: fleet registry over heartbeats (`GET /api/nodes`, online/offline),
 * the fleet page, and the exactly-once effect of redelivered or republished
 * messages, also across a hub restart.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { createHub, type FleetNode } from '../src/hub/index.ts';
import { createBuiltinPolicy } from '../src/policy/index.ts';
import { assertFleet, createSyncAgent, routingKey, topology } from '../src/sync/index.ts';
import { brokerSkip, brokerUrl, deleteTopology, quietLogger, runPrefix, syncStore, until } from './sync-harness.ts';

const skip = await brokerSkip();

describe('hub', { skip }, () => {
  const prefix = runPrefix();
  const t = topology(prefix);
  const dir = mkdtempSync(path.join(tmpdir(), 'telemed-hub-'));
  let conn: ChannelModel;
  let ch: ConfirmChannel;

  before(async () => {
    conn = await amqp.connect(brokerUrl());
    ch = await conn.createConfirmChannel();
    await assertFleet(ch, t); // so what the test publishes before a hub is up is routed to the inbox
  });

  after(async () => {
    await conn?.close();
    await deleteTopology(prefix, [`${prefix}-live`]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('GET /api/nodes lists a node online from its heartbeats, then offline when they stop; the fleet page is served', { timeout: 30_000 }, async () => {
    const hub = createHub({ logger: quietLogger(), amqpUrl: brokerUrl(), memory: true, prefix, port: 0, offlineAfterMs: 400 });
    await hub.start();
    const store = syncStore();
    const id = `${prefix}-live`;
    const agent = createSyncAgent({ store, policy: () => createBuiltinPolicy(), logger: quietLogger(), nodeId: id, city: 'Chengdu', amqpUrl: brokerUrl(), prefix, heartbeatMs: 50, report: () => ({ p99LatencyMs: 12.34 }) });
    const fleet = async (): Promise<FleetNode[]> => ((await (await fetch(`${hub.url}/api/nodes`)).json()) as { nodes: FleetNode[] }).nodes;
    try {
      agent.start();
      await agent.enqueue('aggregate', { metric: 'consultations', at: Date.now(), count: 3 });
      await until(async () => (await fleet()).some((n) => n.id === id && n.status === 'online' && n.lastHeartbeat !== null && n.callsToday === 3), 'the node is online with its calls');
      const n = (await fleet()).find((x) => x.id === id)!;
      assert.equal(n.city, 'Chengdu');
      assert.equal(n.bundle, 'builtin-rules');
      assert.equal(n.messages, 1);
      assert.equal(n.p99LatencyMs, 12.3);
      await agent.close();
      await until(async () => (await fleet()).find((x) => x.id === id)?.status === 'offline', 'the node is offline');

      const page = await fetch(`${hub.url}/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /text\/html/);
      assert.match(await page.text(), /api\/nodes/);
    } finally {
      await agent.close();
      store.close();
      await hub.close();
    }
  });

  it('the same message id published three times, before and after a hub restart, is recorded once; an unreadable message is dropped and the hub goes on', { timeout: 30_000 }, async () => {
    const node = `${prefix}-dup`;
    const env = (id: string, seq: number) => Buffer.from(JSON.stringify({ v: 1, id, node, seq, kind: 'aggregate', body: { metric: 'alerts', period: '2026-11-24T10:00Z', count: 2 } }));
    const publish = async (content: Buffer) => {
      ch.publish(t.fleet, routingKey(node, 'aggregate'), content, { persistent: true });
      await ch.waitForConfirms();
    };
    const open = async () => {
      const hub = createHub({ logger: quietLogger(), amqpUrl: brokerUrl(), dataDir: dir, prefix, port: 0 });
      await hub.start();
      return hub;
    };
    let hub = await open();
    try {
      await publish(env('m-1', 1));
      await publish(env('m-1', 1));
      await publish(Buffer.from('not json {'));
      await publish(env('m-2', 2));
      await until(() => hub.ledger.messages(node) === 2, 'two distinct messages');
      await hub.close();
      await publish(env('m-1', 1)); // waits in the durable inbox while the hub is down
      await publish(env('m-3', 3));
      hub = await open();
      await until(() => hub.ledger.messages(node) === 3, 'the third message after the restart');
      assert.deepEqual(hub.ledger.seqs(node), [1, 2, 3]);
      const sum = hub.store.db.prepare('SELECT count FROM hub_aggregate WHERE node = ?').pluck().get(node);
      assert.equal(sum, 6, 'the aggregate counted each message once');
      await until(async () => (await ch.checkQueue(t.hubInbox)).messageCount === 0, 'the inbox is empty (everything acked)');
    } finally {
      await hub.close();
    }
  });
});
