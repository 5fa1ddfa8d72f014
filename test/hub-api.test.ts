/**
 * The hub, on each of its stores (SQLite, PostgreSQL): fleet registry over
 * heartbeats (`GET /api/nodes`, online/offline), the fleet page, the
 * exactly-once effect of redelivered or republished messages (also across a
 * hub restart), `bundle` reports from nodes, and rollouts over the HTTP API
 * with their status per node.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { createHub, type FleetNode, type HubOptions, type RolloutRecord } from '../src/hub/index.ts';
import { bundleFromFiles, createBuiltinPolicy, createRegoPolicy, loadVerifiedRegoPolicy, type PolicyEngine } from '../src/policy/index.ts';
import { assertFleet, createSyncAgent, routingKey, topology, type BundleFileText, type SyncAgent } from '../src/sync/index.ts';
import { brokerSkip, brokerUrl, deleteTopology, quietLogger, runPrefix, syncStore, until } from './sync-harness.ts';
import { PG_URL, PgProxy, dropSchema, hubStores, pgSkip, reportingBundle, runSchema, schemaExists } from './hub-harness.ts';

const brokerReason = await brokerSkip();
const pgReason = brokerReason ?? (await pgSkip());

const bundle = reportingBundle;

const STORES = hubStores(brokerReason, pgReason);

for (const S of STORES) {
  describe(`hub on ${S.name}`, { skip: S.skip }, () => {
    const prefix = runPrefix();
    const schema = runSchema();
    const t = topology(prefix);
    const dir = mkdtempSync(path.join(tmpdir(), 'telemed-hub-'));
    const nodeIds: string[] = [];
    let conn: ChannelModel;
    let ch: ConfirmChannel;
    const open = async (extra: Partial<HubOptions> = {}) => {
      const hub = createHub({ logger: quietLogger(), amqpUrl: brokerUrl(), prefix, port: 0, ...S.options(dir, schema), ...extra });
      await hub.start();
      return hub;
    };

    before(async () => {
      conn = await amqp.connect(brokerUrl());
      ch = await conn.createConfirmChannel();
      await assertFleet(ch, t); // so what the test publishes before a hub is up is routed to the inbox
    });

    after(async () => {
      await conn?.close();
      await deleteTopology(prefix, nodeIds);
      rmSync(dir, { recursive: true, force: true });
      if (S.name === 'PostgreSQL') {
        await dropSchema(schema);
        assert.equal(await schemaExists(schema), false, 'the run leaves no schema behind');
      }
    });

    it('GET /api/nodes lists a node online from its heartbeats, then offline when they stop; the fleet page is served', { timeout: 30_000 }, async () => {
      const hub = await open({ offlineAfterMs: 400 });
      const store = syncStore();
      const id = `${prefix}-live`;
      nodeIds.push(id);
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
        const html = await page.text();
        assert.match(html, /api\/nodes/);
        assert.match(html, /api\/rollouts/, 'the page lists the rollouts too');
        const metrics = await (await fetch(`${hub.url}/metrics`)).text();
        assert.match(metrics, /hub_messages_total\{kind="heartbeat",result="new"\} [1-9]/);
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
      let hub = await open();
      try {
        await publish(env('m-1', 1));
        await publish(env('m-1', 1));
        await publish(Buffer.from('not json {'));
        await publish(env('m-2', 2));
        await until(async () => (await hub.ledger.messageCount(node)) === 2, 'two distinct messages');
        await hub.close();
        await publish(env('m-1', 1)); // waits in the durable inbox while the hub is down
        await publish(env('m-3', 3));
        // The same id three times in one go: redeliveries land in the same batch too.
        for (let i = 0; i < 3; i++) ch.publish(t.fleet, routingKey(node, 'aggregate'), env('m-4', 4), { persistent: true });
        await ch.waitForConfirms();
        hub = await open();
        await until(async () => (await hub.ledger.messageCount(node)) === 4, 'the third and fourth messages after the restart');
        await until(async () => (await ch.checkQueue(t.hubInbox)).messageCount === 0, 'the inbox is empty (everything acked)');
        assert.deepEqual(await hub.ledger.messageSeqs(node), [1, 2, 3, 4]);
        assert.equal(await hub.ledger.aggregateCount(node, 'alerts'), 8, 'the aggregate counted each message once');
        assert.equal((await hub.ledger.nodeRows()).find((n) => n.id === node)?.messages, 4);
      } finally {
        await hub.close();
      }
    });

    it('rollouts over the API: admin token required; a broken bundle is refused with its location and nothing is sent; the bundle and its configuration become active on the online node, pending on the offline one until it returns, refused by a node holding another key', { timeout: 90_000 }, async () => {
      const keys = generateKeyPairSync('ed25519');
      const rogue = generateKeyPairSync('ed25519');
      const token = randomBytes(24).toString('hex');
      const hub = await open({ signingKey: keys.privateKey, adminToken: token, offlineAfterMs: 60_000 });
      const [a, b, c] = [`${prefix}-ra`, `${prefix}-rb`, `${prefix}-rc`];
      nodeIds.push(a, b, c);
      const engines: Record<string, PolicyEngine> = {};
      const received: Record<string, BundleFileText[]> = {};
      const stores: Array<ReturnType<typeof syncStore>> = [];
      const agent = (id: string, publicKey: typeof keys.publicKey): SyncAgent => {
        engines[id] = createRegoPolicy(bundleFromFiles(bundle('r0')));
        const store = syncStore();
        stores.push(store);
        return createSyncAgent({
          store, policy: () => engines[id]!, logger: quietLogger(), nodeId: id, city: 'x', amqpUrl: brokerUrl(), prefix, heartbeatMs: 100,
          bundles: { publicKey, apply: (files) => { engines[id] = loadVerifiedRegoPolicy(bundleFromFiles(files)); received[id] = files; } },
        });
      };
      const post = (body: unknown, headers: Record<string, string> = { authorization: `Bearer ${token}` }, query = '') =>
        fetch(`${hub.url}/api/rollouts${query}`, {
          method: 'POST',
          headers: { 'content-type': Buffer.isBuffer(body) ? 'application/gzip' : 'application/json', ...headers },
          body: Buffer.isBuffer(body) ? new Uint8Array(body) : JSON.stringify(body),
        });
      const status = async (id: string): Promise<RolloutRecord> => (await (await fetch(`${hub.url}/api/rollouts/${id}`)).json()) as RolloutRecord;
      const nodeStatus = async (id: string, node: string) => (await status(id)).nodes.find((n) => n.node === node)?.status;
      const A = agent(a, keys.publicKey);
      const C = agent(c, rogue.publicKey);
      let B: SyncAgent | undefined;
      try {
        A.start();
        C.start();
        await until(() => [a, c].every((id) => hub.nodes().some((n) => n.id === id && n.bundle === 'r0')), 'both nodes known to the hub with r0');
        await until(() => hub.online, 'hub connected');

        // Without the token, or with a wrong one: 401, nothing recorded, nothing sent.
        const good = { target: { all: true }, revision: 'fleet-1', files: bundle('ignored'), data: { fleet: { note_cap: 3 } } };
        assert.equal((await post(good, {})).status, 401);
        assert.equal((await post(good, { authorization: `Bearer ${token}x` })).status, 401);
        // A bundle that does not compile: 400 naming the file and line, nothing sent.
        const broken = await post({ target: { all: true }, revision: 'broken-1', files: [{ path: 'x.rego', text: 'package x\n\nallow if {' }] });
        assert.equal(broken.status, 400);
        assert.match(((await broken.json()) as { message: string }).message, /x\.rego:\d+/);
        // Other bad input: a path out of the bundle, a body that is not gzip, a bad node id, an unknown content type.
        assert.equal((await post({ ...good, files: [{ path: '../p.rego', text: 'package p' }] })).status, 400);
        assert.equal((await post(Buffer.from('not gzip'), undefined, '?all=true')).status, 400);
        assert.equal((await post({ ...good, target: { node: 'no spaces allowed' } })).status, 400);
        assert.equal((await fetch(`${hub.url}/api/rollouts`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' }, body: 'x' })).status, 415);
        assert.equal(((await (await fetch(`${hub.url}/api/rollouts`)).json()) as { rollouts: unknown[] }).rollouts.length, 0, 'nothing recorded for any of them');

        // To all: active on A (with the configuration in its data document); refused on C (signed by a key it does not hold).
        const res = await post(good);
        assert.equal(res.status, 202, await res.clone().text());
        const r1 = (await res.json()) as RolloutRecord;
        assert.equal(r1.state, 'published');
        assert.deepEqual(r1.target, { all: true });
        await until(async () => (await nodeStatus(r1.id, a)) === 'active', 'fleet-1 active on A');
        await until(async () => (await nodeStatus(r1.id, c)) === 'refused', 'fleet-1 refused by C');
        assert.equal(engines[a]!.revision, 'fleet-1');
        assert.deepEqual(JSON.parse(received[a]!.find((f) => f.path === 'data.json')!.text), { fleet: { note_cap: 3 } });
        assert.equal(engines[c]!.revision, 'r0', 'C keeps its bundle');
        assert.equal((await status(r1.id)).nodes.find((n) => n.node === c)?.reason, 'bad_signature');
        await until(async () => ((await (await fetch(`${hub.url}/api/nodes`)).json()) as { nodes: FleetNode[] }).nodes.find((n) => n.id === a)?.bundle === 'fleet-1', 'the fleet shows fleet-1 on A');

        // To one node that is offline, as a .tar.gz: pending until it comes, then active.
        const src = mkdtempSync(path.join(tmpdir(), 'telemed-hub-bundle-'));
        for (const f of bundle('fleet-2')) {
          mkdirSync(path.dirname(path.join(src, f.path)), { recursive: true });
          writeFileSync(path.join(src, f.path), f.text);
        }
        const tgz = path.join(dir, 'fleet-2.tar.gz');
        execFileSync('tar', ['czf', tgz, '-C', src, '.']);
        rmSync(src, { recursive: true, force: true });
        assert.equal((await post(readFileSync(tgz), undefined, `?node=${b}&all=true`)).status, 400, 'two targets at once are refused');
        const res2 = await post(readFileSync(tgz), undefined, `?node=${b}`);
        assert.equal(res2.status, 202, await res2.clone().text());
        const r2 = (await res2.json()) as RolloutRecord;
        assert.equal(r2.revision, 'fleet-2');
        assert.deepEqual(r2.nodes.map((n) => [n.node, n.status]), [[b, 'pending']]);
        B = agent(b, keys.publicKey);
        B.start();
        await until(async () => (await nodeStatus(r2.id, b)) === 'active', 'fleet-2 active on B after it came');
        assert.equal(engines[b]!.revision, 'fleet-2');
        const list = ((await (await fetch(`${hub.url}/api/rollouts`)).json()) as { rollouts: RolloutRecord[] }).rollouts;
        assert.deepEqual(list.map((r) => r.revision), ['fleet-2', 'fleet-1']);
      } finally {
        await A.close();
        await C.close();
        await B?.close();
        for (const s of stores) s.close();
        await hub.close();
      }
    });

    it('bundle reports from a node are recorded once each in its sequence and set its rollout status: applied → active, refused → refused with the reason code', { timeout: 30_000 }, async () => {
      const node = `${prefix}-rep`;
      const env = (id: string, seq: number, kind: string, body: Record<string, unknown>) => Buffer.from(JSON.stringify({ v: 1, id, node, seq, kind, body }));
      const publish = (content: Buffer, kind: string) => ch.publish(t.fleet, routingKey(node, kind), content, { persistent: true });
      const hub = await open();
      try {
        await hub.ledger.createRollout({ id: `${prefix}-ro1`, revision: 'rep-1', target: { node }, files: 1, sha256: 'x', nodes: [node] });
        await hub.ledger.createRollout({ id: `${prefix}-ro2`, revision: 'rep-2', target: { node }, files: 1, sha256: 'x', nodes: [node] });
        await hub.ledger.createRollout({ id: `${prefix}-ro3`, revision: 'rep-3', target: { group: 'north' }, files: 1, sha256: 'x', nodes: [] });
        await hub.ledger.createRollout({ id: `${prefix}-ro4`, revision: 'rep-4', target: { node }, files: 1, sha256: 'x', nodes: [node] });
        publish(env('b-1', 1, 'aggregate', { metric: 'alerts', period: '2026-11-24T10:00Z', count: 1 }), 'aggregate');
        const refused = env('b-2', 2, 'bundle', { revision: 'rep-1', result: 'refused', reason: 'bad_signature', inForce: 'r0' });
        publish(refused, 'bundle');
        publish(refused, 'bundle'); // redelivered: once
        publish(env('b-3', 3, 'bundle', { revision: 'rep-2', result: 'applied', inForce: 'rep-2' }), 'bundle');
        publish(env('b-4', 4, 'bundle', { revision: 'rep-3', result: 'applied', inForce: 'rep-3' }), 'bundle'); // a group rollout: the node is added
        publish(env('b-5', 5, 'bundle', { result: 'refused', reason: 'malformed', inForce: 'rep-3' }), 'bundle'); // no revision: recorded, no effect
        publish(env('b-6', 6, 'bundle', { revision: 'rep-4', result: 'refused', reason: 'because <script>', inForce: 'rep-3' }), 'bundle'); // free text: recorded, no effect
        await ch.waitForConfirms();
        await until(async () => (await hub.ledger.messageCount(node)) === 6, 'six distinct messages');
        await until(async () => (await ch.checkQueue(t.hubInbox)).messageCount === 0, 'the inbox is empty (everything acked)');
        assert.deepEqual(await hub.ledger.messageSeqs(node), [1, 2, 3, 4, 5, 6], 'no gap in the node sequence');
        const st = async (id: string) => (await hub.ledger.rollout(`${prefix}-${id}`))!.nodes.map((n) => [n.node, n.status, n.reason]);
        assert.deepEqual(await st('ro1'), [[node, 'refused', 'bad_signature']]);
        assert.deepEqual(await st('ro2'), [[node, 'active', null]]);
        assert.deepEqual(await st('ro3'), [[node, 'active', null]]);
        assert.deepEqual(await st('ro4'), [[node, 'pending', null]]);
        assert.equal(await hub.ledger.aggregateCount(node, 'alerts'), 1);
        assert.equal((await hub.ledger.nodeRows()).find((n) => n.id === node)?.messages, 6);
        const metrics = await (await fetch(`${hub.url}/metrics`)).text();
        assert.match(metrics, /hub_messages_total\{kind="bundle",result="new"\} 5/);
      } finally {
        await hub.close();
      }
    });
  });
}

describe('hub on PostgreSQL: outages and two hubs', { skip: pgReason }, () => {
  const prefix = runPrefix();
  const schema = runSchema();
  const t = topology(prefix);
  const node = `${prefix}-pg`;
  let conn: ChannelModel;
  let ch: ConfirmChannel;
  const env = (i: number) => Buffer.from(JSON.stringify({ v: 1, id: `m-${i}`, node, seq: i, kind: 'aggregate', body: { metric: 'alerts', period: '2026-11-24T10:00Z', count: 1 } }));
  const publish = async (from: number, to: number) => {
    for (let i = from; i <= to; i++) ch.publish(t.fleet, routingKey(node, 'aggregate'), env(i), { persistent: true });
    await ch.waitForConfirms();
  };
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  before(async () => {
    conn = await amqp.connect(brokerUrl());
    ch = await conn.createConfirmChannel();
    await assertFleet(ch, t);
  });
  after(async () => {
    await conn?.close();
    await deleteTopology(prefix, []);
    await dropSchema(schema);
  });

  it('with the database cut while messages arrive, nothing is acked unrecorded: after it returns each message is recorded once, the hub never went down', { timeout: 60_000 }, async () => {
    const proxy = await new PgProxy().listen();
    const hub = createHub({ logger: quietLogger(), amqpUrl: brokerUrl(), prefix, port: 0, databaseUrl: proxy.url, databaseSchema: schema });
    await hub.start();
    try {
      await publish(1, 100);
      await until(async () => (await hub.ledger.messageCount(node)) === 100, 'the first 100');
      proxy.cut();
      await publish(101, 200);
      await publish(51, 150); // copies, some of them of messages recorded before the cut
      await until(async () => /hub_messages_total\{kind="aggregate",result="failed"\} [1-9]/.test(await (await fetch(`${hub.url}/metrics`)).text()), 'records fail while the database is away');
      assert.equal((await fetch(`${hub.url}/api/rollouts`)).status, 500, 'the API says it cannot read, and the hub stays up');
      proxy.restore();
      await until(async () => (await hub.ledger.messageCount(node)) === 200, 'every message after the database came back');
      await until(async () => (await ch.checkQueue(t.hubInbox)).messageCount === 0, 'the inbox is empty');
      assert.deepEqual(await hub.ledger.messageSeqs(node), range(1, 200));
      assert.equal(await hub.ledger.aggregateCount(node, 'alerts'), 200);
    } finally {
      await hub.close();
      await proxy.close();
    }
  });

  it('two hubs on one database consume the same inbox: copies of each id land on both, each is recorded once', { timeout: 60_000 }, async () => {
    const open = async () => {
      const h = createHub({ logger: quietLogger(), amqpUrl: brokerUrl(), prefix, port: 0, databaseUrl: PG_URL, databaseSchema: schema, prefetch: 50 });
      await h.start();
      return h;
    };
    const [h1, h2] = await Promise.all([open(), open()]);
    try {
      await until(() => h1.online && h2.online, 'both hubs consuming');
      for (let round = 0; round < 3; round++) await publish(201, 1200);
      await until(async () => (await h1.ledger.messageCount(node)) === 1200, 'a thousand more, once each');
      await until(async () => (await ch.checkQueue(t.hubInbox)).messageCount === 0, 'the inbox is empty');
      assert.deepEqual(await h2.ledger.messageSeqs(node), range(1, 1200));
      assert.equal(await h1.ledger.aggregateCount(node, 'alerts'), 1200, 'each effect once');
      assert.equal((await h2.ledger.nodeRows()).find((n) => n.id === node)?.messages, 1200);
    } finally {
      await Promise.all([h1.close(), h2.close()]);
    }
  });
});

describe('hub rollout API without a token configured', () => {
  it('refuses every rollout (default deny) and says how to turn it on', async () => {
    const hub = createHub({ logger: quietLogger(), memory: true, port: 0 });
    await hub.start();
    try {
      const r = await fetch(`${hub.url}/api/rollouts`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer x' }, body: '{}' });
      assert.equal(r.status, 403);
      assert.match(((await r.json()) as { message: string }).message, /TELEMED_HUB_ADMIN_TOKEN/);
    } finally {
      await hub.close();
    }
  });
});
