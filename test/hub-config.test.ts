/**
 * Configuration rollouts at the hub, on each of its stores (SQLite,
 * PostgreSQL): the API checks the settings before signing; per-node status
 * pending → active / refused (with the node's reason naming the setting) from
 * `config` reports and heartbeats, recorded once however often a report is
 * delivered, and kept apart from bundle rollouts of the same revision;
 * `GET /api/nodes` shows each node's config revision; a group rollout reaches
 * the group's nodes only. Replay protection: with its clock stalled, or set
 * back across a restart, the hub still issues each rollout of a kind strictly
 * after the last one (so the node takes them all), and a replayed older one is
 * refused `stale` by the node and shown so at the hub.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { checkRemoteSettings } from '../src/config/index.ts';
import { createHub, type FleetNode, type RolloutRecord } from '../src/hub/index.ts';
import { bundleFromFiles, createRegoPolicy, type PolicyEngine } from '../src/policy/index.ts';
import { assertFleet, ConfigRefusal, createSyncAgent, routingKey, topology, type BundleFileText, type SyncAgent } from '../src/sync/index.ts';
import { brokerSkip, brokerUrl, deleteTopology, quietLogger, runPrefix, syncStore, until } from './sync-harness.ts';
import { dropSchema, hubStores, pgSkip, reportingBundle, runSchema } from './hub-harness.ts';

const brokerReason = await brokerSkip();
const pgReason = brokerReason ?? (await pgSkip());

const bundle = reportingBundle;

const STORES = hubStores(brokerReason, pgReason);

for (const S of STORES) {
  describe(`hub configuration rollouts on ${S.name}`, { skip: S.skip }, () => {
    const prefix = runPrefix();
    const schema = runSchema();
    const t = topology(prefix);
    const dir = mkdtempSync(path.join(tmpdir(), 'telemed-hubcfg-'));
    const nodeIds: string[] = [];
    let conn: ChannelModel;
    let ch: ConfirmChannel;

    before(async () => {
      conn = await amqp.connect(brokerUrl());
      ch = await conn.createConfirmChannel();
      await assertFleet(ch, t);
    });
    after(async () => {
      await conn?.close();
      await deleteTopology(prefix, nodeIds);
      rmSync(dir, { recursive: true, force: true });
      if (S.name === 'PostgreSQL') await dropSchema(schema);
    });

    it('checked before signing; active on the node holding the key, refused by one holding another and by one that cannot apply it (naming the setting); a group rollout reaches its group; reports recorded once, apart from bundles of the same revision', { timeout: 120_000 }, async () => {
      const keys = generateKeyPairSync('ed25519');
      const rogue = generateKeyPairSync('ed25519');
      const token = randomBytes(24).toString('hex');
      const hub = createHub({ logger: quietLogger(), amqpUrl: brokerUrl(), prefix, port: 0, offlineAfterMs: 60_000, signingKey: keys.privateKey, adminToken: token, ...S.options(dir, schema) });
      await hub.start();
      const [a, b, c, ghost] = [`${prefix}-ca`, `${prefix}-cb`, `${prefix}-cc`, `${prefix}-ghost`];
      nodeIds.push(a, b, c, ghost);
      const inForce: Record<string, { revision: string; settings: Record<string, unknown> }> = {};
      const stores: Array<ReturnType<typeof syncStore>> = [];
      const engine: PolicyEngine = createRegoPolicy(bundleFromFiles(bundle('r0')));
      const agent = (id: string, publicKey: typeof keys.publicKey, groups: string[] = [], maxOutput = Infinity): SyncAgent => {
        const store = syncStore();
        stores.push(store);
        return createSyncAgent({
          store, policy: () => engine, logger: quietLogger(), nodeId: id, city: 'x', amqpUrl: brokerUrl(), prefix, heartbeatMs: 100, groups,
          config: {
            publicKey,
            inForce: () => inForce[id]?.revision ?? '',
            apply: (revision, settings) => {
              const v = checkRemoteSettings(settings);
              if (!v.ok) throw new ConfigRefusal(v.reason, v.key, v.message);
              if ((v.settings.fnMaxOutputBytes ?? 0) > maxOutput) throw new ConfigRefusal('cannot_apply', 'fnMaxOutputBytes', 'fnMaxOutputBytes: does not fit the running sandbox channel');
              inForce[id] = { revision, settings };
              return { applied: Object.keys(settings).sort(), pinned: [] };
            },
          },
        });
      };
      const post = async (body: unknown) => {
        const res = await fetch(`${hub.url}/api/rollouts`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
        return { status: res.status, body: (await res.json()) as RolloutRecord & { error?: string; message?: string } };
      };
      const record = async (id: string) => (await hub.ledger.rollout(id))!;
      const statusOf = async (id: string, node: string) => (await record(id)).nodes.find((n) => n.node === node);
      const fleet = async () => ((await (await fetch(`${hub.url}/api/nodes`)).json()) as { nodes: FleetNode[] }).nodes;
      const A = agent(a, keys.publicKey);
      const B = agent(b, keys.publicKey, ['icu'], 1000);
      const C = agent(c, rogue.publicKey);
      try {
        for (const x of [A, B, C]) x.start();
        await until(async () => [a, b, c].every((id) => hub.nodes().some((n) => n.id === id)) || (await fleet()).filter((n) => [a, b, c].includes(n.id)).length === 3, 'the three nodes are known to the hub');
        await until(() => hub.online, 'hub connected');

        // Refused at the API, naming the key; nothing recorded.
        for (const settings of [{ dataKey: Buffer.alloc(32).toString('base64') }, { verbose: true }, { fnTimeoutMs: 'soon' }]) {
          const r = await post({ kind: 'config', target: { all: true }, settings });
          assert.equal(r.status, 400);
          assert.match(r.body.message ?? '', new RegExp(`^settings\\.${Object.keys(settings)[0]}: `));
        }
        assert.equal((await post({ kind: 'config', target: { all: true } })).status, 400, 'settings are required');
        assert.equal((await post({ kind: 'config', target: { node: 'two words' }, settings: {} })).status, 400);
        assert.equal((await hub.ledger.rollouts()).length, 0);

        // To all: active on A and B, refused by C (another key).
        const all = await post({ kind: 'config', target: { all: true }, revision: 'cfg-all', settings: { logLevel: 'warn' } });
        assert.equal(all.status, 202, JSON.stringify(all.body));
        assert.deepEqual([all.body.kind, all.body.files, all.body.settings], ['config', 1, { logLevel: 'warn' }]);
        await until(async () => (await statusOf(all.body.id, a))?.status === 'active' && (await statusOf(all.body.id, b))?.status === 'active', 'cfg-all active on A and B');
        await until(async () => (await statusOf(all.body.id, c))?.status === 'refused', 'cfg-all refused by C');
        assert.equal((await statusOf(all.body.id, c))?.reason, 'bad_signature');
        await until(async () => (await fleet()).find((n) => n.id === a)?.config === 'cfg-all', 'the fleet shows cfg-all on A');
        assert.equal((await fleet()).find((n) => n.id === c)?.config, '');
        await until(async () => (await fleet()).find((n) => n.id === c)?.configRefused === 'cfg-all: bad_signature', 'the fleet shows C refused it');

        // To group icu: only B; B cannot take this output cap live and says so, naming the setting.
        const grp = await post({ kind: 'config', target: { group: 'icu' }, revision: 'cfg-icu', settings: { fnMaxOutputBytes: 4096 } });
        assert.equal(grp.status, 202);
        await until(async () => (await statusOf(grp.body.id, b))?.status === 'refused', 'cfg-icu refused by B');
        assert.equal((await statusOf(grp.body.id, b))?.reason, 'cannot_apply: fnMaxOutputBytes');
        assert.equal(inForce[b]!.revision, 'cfg-all', 'B keeps cfg-all');
        const grp2 = await post({ kind: 'config', target: { group: 'icu' }, revision: 'cfg-icu-2', settings: { fnMaxOutputBytes: 512 } });
        await until(async () => (await statusOf(grp2.body.id, b))?.status === 'active', 'cfg-icu-2 active on B');
        assert.deepEqual((await record(grp2.body.id)).nodes.map((n) => n.node), [b], 'only the group\'s node');
        assert.equal(inForce[a]!.revision, 'cfg-all', 'A (not in icu) did not get it');

        // A node that never connected: pending; a config report delivered three times counts once; bundles of the same revision stay apart.
        const cfg = await hub.rolloutConfig({ node: ghost }, 'same-rev', { logLevel: 'debug' });
        const bun = await hub.rollout({ node: ghost }, 'same-rev', bundle('same-rev'));
        assert.deepEqual([cfg.kind, bun.kind], ['config', 'bundle']);
        assert.equal((await statusOf(cfg.id, ghost))?.status, 'pending');
        const report = (id: string, seq: number, body: unknown) => Buffer.from(JSON.stringify({ v: 1, id, node: ghost, seq, kind: 'config', body }));
        for (let i = 0; i < 3; i++) ch.publish(t.fleet, routingKey(ghost, 'config'), report('g-1', 1, { revision: 'same-rev', result: 'refused', reason: 'invalid_value', key: 'logLevel', inForce: '' }), { persistent: true });
        await ch.waitForConfirms();
        await until(async () => (await statusOf(cfg.id, ghost))?.status === 'refused', 'the refusal recorded');
        assert.equal((await statusOf(cfg.id, ghost))?.reason, 'invalid_value: logLevel');
        assert.equal((await statusOf(bun.id, ghost))?.status, 'pending', 'the bundle of the same revision is not touched');
        ch.publish(t.fleet, routingKey(ghost, 'config'), report('g-2', 2, { revision: 'same-rev', result: 'applied', applied: ['logLevel'], pinned: [], inForce: 'same-rev' }), { persistent: true });
        ch.publish(t.fleet, routingKey(ghost, 'config'), report('g-1', 1, { revision: 'same-rev', result: 'refused', reason: 'invalid_value', key: 'logLevel', inForce: '' }), { persistent: true });
        await ch.waitForConfirms();
        await until(async () => (await statusOf(cfg.id, ghost))?.status === 'active', 'the later report makes it active');
        await until(async () => (await hub.ledger.messageCount(ghost)) === 2, 'two distinct reports');
        await until(async () => (await ch.checkQueue(t.hubInbox)).messageCount === 0, 'the inbox is empty');
        assert.equal((await statusOf(cfg.id, ghost))?.status, 'active', 'the redelivered refusal changes nothing');
        assert.deepEqual(await hub.ledger.messageSeqs(ghost), [1, 2]);
        assert.equal((await statusOf(bun.id, ghost))?.status, 'pending');

        const listed = ((await (await fetch(`${hub.url}/api/rollouts`)).json()) as { rollouts: RolloutRecord[] }).rollouts;
        assert.deepEqual(listed.map((r) => `${r.kind}:${r.revision}`).sort(), ['bundle:same-rev', 'config:cfg-all', 'config:cfg-icu', 'config:cfg-icu-2', 'config:same-rev']);
      } finally {
        for (const x of [A, B, C]) await x.close();
        for (const s of stores) s.close();
        await hub.close();
      }
    });

    it('issuedAt: strictly increasing per kind when the hub\'s clock stalls (two rollouts in one millisecond) or goes back across a restart; the node takes each newer one and refuses a replayed older one as stale', { timeout: 120_000 }, async () => {
      const keys = generateKeyPairSync('ed25519');
      const own = mkdtempSync(path.join(tmpdir(), 'telemed-hubclock-'));
      const ownSchema = runSchema();
      const node = `${prefix}-clock`;
      nodeIds.push(node);
      // The messages sent to the node, as published (a tap on the control exchange), to replay one later.
      const tapQueue = `${prefix}.clock-tap`;
      await ch.assertExchange(t.control, 'topic', { durable: true });
      await ch.assertQueue(tapQueue, { durable: false, autoDelete: true });
      await ch.bindQueue(tapQueue, t.control, `node.${node}.#`);
      const sent: Array<{ revision: string; issuedAt: string; raw: Buffer }> = [];
      await ch.consume(tapQueue, (m) => {
        if (m) sent.push({ ...(JSON.parse(m.content.toString('utf8')) as { revision: string; issuedAt: string }), raw: m.content });
      }, { noAck: true });
      const message = (revision: string) => sent.find((m) => m.revision === revision)!;

      let now = new Date('2026-11-26T06:00:00.000Z');
      const start = () => createHub({ logger: quietLogger(), amqpUrl: brokerUrl(), prefix, port: 0, offlineAfterMs: 60_000, signingKey: keys.privateKey, clock: () => now, ...S.options(own, ownSchema) });
      let hub = start();
      await hub.start();
      const store = syncStore();
      let engine: PolicyEngine = createRegoPolicy(bundleFromFiles(bundle('r0')));
      let config = '';
      const agent = createSyncAgent({
        store, policy: () => engine, logger: quietLogger(), nodeId: node, city: 'x', amqpUrl: brokerUrl(), prefix, heartbeatMs: 100,
        bundles: { publicKey: keys.publicKey, apply: (files: BundleFileText[]) => { engine = createRegoPolicy(bundleFromFiles(files)); } },
        config: { publicKey: keys.publicKey, inForce: () => config, apply: (revision, settings) => { config = revision; return { applied: Object.keys(settings), pinned: [] }; } },
      });
      const atHub = async () => (await hub.ledger.nodeRows()).find((n) => n.id === node);
      try {
        agent.start();
        await until(async () => hub.online && (await atHub())?.bundle === 'r0', 'the hub knows the node');

        // The clock stands still: two bundles and two configurations in the same millisecond.
        const b1 = await hub.rollout({ node }, 'clk-b1', bundle('clk-b1'));
        const b2 = await hub.rollout({ node }, 'clk-b2', bundle('clk-b2'));
        const c1 = await hub.rolloutConfig({ node }, 'clk-c1', { logLevel: 'warn' });
        const c2 = await hub.rolloutConfig({ node }, 'clk-c2', { logLevel: 'info' });
        assert.deepEqual([b1.issuedAt, b2.issuedAt], ['2026-11-26T06:00:00.000Z', '2026-11-26T06:00:00.001Z'], 'bundles: the second 1 ms after the first');
        assert.deepEqual([c1.issuedAt, c2.issuedAt], ['2026-11-26T06:00:00.000Z', '2026-11-26T06:00:00.001Z'], 'configurations: their own sequence');
        await until(() => engine.revision === 'clk-b2' && config === 'clk-c2', 'the node takes both of each kind, in order');
        await until(async () => (await hub.ledger.rollout(b2.id))?.nodes[0]?.status === 'active' && (await hub.ledger.rollout(c2.id))?.nodes[0]?.status === 'active', 'both active at the hub');
        assert.equal(message('clk-b2').issuedAt, b2.issuedAt, 'the signed message carries the recorded issuedAt');

        // A replay of the older ones (copied off the broker, signature intact): refused as stale, the newer stay in force.
        await until(() => sent.length >= 4, 'the tap saw the four messages');
        ch.publish(t.control, `node.${node}.bundle`, message('clk-b1').raw, { persistent: true });
        ch.publish(t.control, `node.${node}.config`, message('clk-c1').raw, { persistent: true });
        await ch.waitForConfirms();
        await until(() => agent.status().bundleRefused?.reason === 'stale' && agent.status().configRefused?.reason === 'stale', 'both replays refused');
        assert.deepEqual([agent.status().bundleRefused, agent.status().configRefused], [{ revision: 'clk-b1', reason: 'stale' }, { revision: 'clk-c1', reason: 'stale' }]);
        assert.deepEqual([engine.revision, config], ['clk-b2', 'clk-c2'], 'the newer ones stay in force');
        await until(async () => (await atHub())?.bundle_refused === 'clk-b1: stale' && (await atHub())?.config_refused === 'clk-c1: stale', 'the hub shows the stale refusals');

        // The hub restarts with its clock an hour back: the ledger's last rollout still bounds the next.
        await hub.close();
        now = new Date('2026-11-26T05:00:00.000Z');
        hub = start();
        await hub.start();
        await until(() => hub.online, 'the hub is back on the broker');
        const b3 = await hub.rollout({ node }, 'clk-b3', bundle('clk-b3'));
        const c3 = await hub.rolloutConfig({ node }, 'clk-c3', { logLevel: 'warn' });
        assert.deepEqual([b3.issuedAt, c3.issuedAt], ['2026-11-26T06:00:00.002Z', '2026-11-26T06:00:00.002Z']);
        await until(() => engine.revision === 'clk-b3' && config === 'clk-c3', 'the node takes the rollouts of the restarted hub');
        assert.deepEqual((await hub.ledger.rollouts()).map((r) => `${r.kind}:${r.revision}:${r.issuedAt}`).sort(), [
          'bundle:clk-b1:2026-11-26T06:00:00.000Z', 'bundle:clk-b2:2026-11-26T06:00:00.001Z', 'bundle:clk-b3:2026-11-26T06:00:00.002Z',
          'config:clk-c1:2026-11-26T06:00:00.000Z', 'config:clk-c2:2026-11-26T06:00:00.001Z', 'config:clk-c3:2026-11-26T06:00:00.002Z',
        ]);
      } finally {
        await agent.close();
        store.close();
        await hub.close();
        rmSync(own, { recursive: true, force: true });
        if (S.name === 'PostgreSQL') await dropSchema(ownSchema);
      }
    });
  });
}
