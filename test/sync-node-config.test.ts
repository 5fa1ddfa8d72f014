/**
 * Configuration rollouts of node settings in a real node process
 * (`telemed-edge node` with AMQP_URL, TELEMED_HUB_PUBLIC_KEY and a unique
 * TELEMED_SYNC_PREFIX), through the hub's API (in process, SQLite; the
 * PostgreSQL ledger is covered in hub-config.test.ts):
 *
 * - a configuration becomes active on the node: its log level and its Wasm
 *   deadline change, seen in its output and in a function call's error; the
 *   setting its environment pins is reported and not changed; the hub shows
 *   it active and the node's config revision;
 * - a secret or unknown key is refused by the hub's API (400 naming the key,
 *   nothing recorded) and, published anyway, refused by the node; tampered
 *   and unsigned configurations are refused; the configuration in force stays;
 * - it survives a restart of the node (kept, verified again);
 * - one rolled out while the node is cut off is active after its return, and
 *   its nodeGroups rebind the node's queue: a later group rollout reaches it;
 * - replays: an older configuration copied off the broker is refused as stale
 *   (the newer stays in force, its issuedAt in the status), after a restart too.
 *
 * The node runs a test policy (TELEMED_POLICY_DIR): under the shipped one the
 * seed's `deny` keeps every message off the hub (docs/SYNC.md).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import amqp from 'amqplib';
import { createHub, type FleetNode, type RolloutRecord } from '../src/hub/index.ts';
import { signConfig, topology } from '../src/sync/index.ts';
import { wat } from './functions-support.ts';
import { call, removeDir, startNode, tempDataDir, type RunningNode } from './helpers/node.ts';
import { brokerSkip, brokerUrl, deleteTopology, quietLogger, runPrefix, TcpProxy, until } from './sync-harness.ts';

const skip = await brokerSkip();
const hubKeys = generateKeyPairSync('ed25519');

/** De-identified figures may go to the hub (heartbeats and reports); admins may manage and call Wasm functions. */
const POLICY = `package healthcare.telemedicine

import rego.v1

default allow := false

allow if {
\tinput.action == "data_transfer"
\tinput.destination == "hub"
\tinput.resource.classification == "deidentified"
}

allow if {
\tinput.action == "run_function"
\tinput.user.role == "admin"
}
`;

/** A function that never ends: its call fails at the node's deadline, which its error names. */
const SPIN = '(module (memory (export "memory") 1 4) (func (export "_start") (loop $l (br $l))))';

type Status = {
  config: { revision: string | null; issuedAt: string | null; source: string; applied: string[]; pinned: Array<{ key: string; env: string }>; settings: Record<string, unknown>; refused: { revision?: string; reason: string; key?: string } | null };
  sync: { state: string };
};

describe('sync: configurations from the hub in a real node', { skip }, () => {
  const prefix = runPrefix();
  const nodeId = `${prefix}-node`;
  const dirs: string[] = [];
  after(async () => {
    await deleteTopology(prefix, [nodeId]);
    for (const d of dirs) await removeDir(d);
  });

  it('active live (log level, function deadline; pinned key kept), refused whole when secret, unknown, tampered or unsigned, kept across restarts, taken after an offline spell, groups rebound', { timeout: 240_000 }, async () => {
    const work = await tempDataDir();
    const dataDir = await tempDataDir();
    dirs.push(work, dataDir);
    const keyFile = path.join(work, 'hub-public.pem');
    writeFileSync(keyFile, hubKeys.publicKey.export({ type: 'spki', format: 'pem' }));
    const policyDir = path.join(work, 'policy');
    mkdirSync(path.join(policyDir, 'healthcare'), { recursive: true });
    writeFileSync(path.join(policyDir, '.manifest'), JSON.stringify({ revision: 'p0', roots: ['healthcare'] }));
    writeFileSync(path.join(policyDir, 'healthcare', 'policy.rego'), POLICY);

    const token = randomBytes(24).toString('hex');
    const hub = createHub({ logger: quietLogger(), amqpUrl: brokerUrl(), memory: true, prefix, port: 0, signingKey: hubKeys.privateKey, adminToken: token, offlineAfterMs: 120_000 });
    await hub.start();
    const post = async (body: unknown) => {
      const res = await fetch(`${hub.url}/api/rollouts`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as RolloutRecord & { error?: string; message?: string } };
    };
    const rollouts = async () => ((await (await fetch(`${hub.url}/api/rollouts`)).json()) as { rollouts: RolloutRecord[] }).rollouts;
    const nodeStatus = async (id: string) => (await rollouts()).find((r) => r.id === id)?.nodes.find((n) => n.node === nodeId);
    const atHub = async () => ((await (await fetch(`${hub.url}/api/nodes`)).json()) as { nodes: FleetNode[] }).nodes.find((n) => n.id === nodeId);
    // A tap on the hub → node configurations, as published: what someone with access to the broker could copy and replay.
    const tt = topology(prefix);
    const tapConn = await amqp.connect(brokerUrl());
    const tap = await tapConn.createChannel();
    await tap.assertExchange(tt.control, 'topic', { durable: true });
    const { queue: tapQueue } = await tap.assertQueue('', { exclusive: true });
    await tap.bindQueue(tapQueue, tt.control, `node.${nodeId}.config`);
    await tap.bindQueue(tapQueue, tt.control, 'group.north.config');
    const sent = new Map<string, { issuedAt: string; raw: Buffer }>();
    await tap.consume(tapQueue, (m) => {
      if (!m) return;
      const b = JSON.parse(m.content.toString('utf8')) as { revision: string; issuedAt: string };
      if (!sent.has(b.revision)) sent.set(b.revision, { issuedAt: b.issuedAt, raw: m.content });
    }, { noAck: true });
    const replay = async (revision: string) => {
      const conn = await amqp.connect(brokerUrl());
      try {
        const ch = await conn.createConfirmChannel();
        ch.publish(tt.control, `node.${nodeId}.config`, sent.get(revision)!.raw, { persistent: true });
        await ch.waitForConfirms();
      } finally {
        await conn.close();
      }
    };

    const proxy = await new TcpProxy().listen();
    const env = {
      AMQP_URL: proxy.url, TELEMED_SYNC_PREFIX: prefix, TELEMED_NODE_ID: nodeId, TELEMED_NODE_CITY: 'Lyon',
      TELEMED_HUB_PUBLIC_KEY: keyFile, TELEMED_POLICY_DIR: policyDir, TELEMED_FUNCTIONS_SHIPPED: 'false', TELEMED_DB_SYNC: 'normal',
      // The log level is left to the file/default (info) so the hub may change it; the shutdown grace is pinned here.
      LOG_LEVEL: '', TELEMED_SHUTDOWN_TIMEOUT_MS: '7000',
    };
    let node: RunningNode | undefined = await startNode({ dataDir, env });
    const n = () => node!;
    try {
      const admin = await n().token('admin', 'Practitioner/ops');
      const status = async () => (await call(`${n().url}/api/status`, { token: admin })).body as Status;
      const spinWasm = Buffer.from(await wat(SPIN));
      const register = (name: string, timeoutMs: number) =>
        call(`${n().url}/functions/${name}?timeoutMs=${timeoutMs}`, { method: 'PUT', token: admin, rawBody: spinWasm, headers: { 'content-type': 'application/wasm', accept: 'application/json' } });
      const spinError = async () => {
        const r = await call(`${n().url}/functions/spin/call`, { method: 'POST', token: admin, body: {}, headers: { 'content-type': 'application/json', accept: 'application/json' } });
        assert.equal(r.status, 504, r.text);
        return (r.body as { error: { message: string } }).error.message;
      };
      const debugLines = () => n().stdout().split('\n').filter((l) => l.includes('"level":"debug"')).length;

      await until(async () => (await status()).sync.state === 'online' && (await atHub())?.bundle === 'p0', 'the node is online and known to the hub');
      const s0 = await status();
      assert.deepEqual([s0.config.revision, s0.config.source, s0.config.settings.logLevel, s0.config.settings.fnTimeoutMs], [null, 'local', 'info', 1000]);
      assert.equal((await atHub())?.config, '', 'no configuration from the hub yet');
      assert.equal((await register('spin', 300)).status, 201);
      assert.match(await spinError(), /deadline of 300 ms/);
      assert.equal(debugLines(), 0, 'no debug output at info');

      // 1. A configuration to this node: log level debug, a 50 ms function deadline, and the pinned shutdown grace.
      const c1 = await post({ kind: 'config', target: { node: nodeId }, revision: 'c1', settings: { logLevel: 'debug', fnTimeoutMs: 50, shutdownTimeoutMs: 3000 } });
      assert.equal(c1.status, 202, JSON.stringify(c1.body));
      assert.equal(c1.body.kind, 'config');
      assert.deepEqual(c1.body.settings, { logLevel: 'debug', fnTimeoutMs: 50, shutdownTimeoutMs: 3000 });
      await until(async () => (await nodeStatus(c1.body.id))?.status === 'active', 'c1 active at the hub');
      const s1 = await status();
      assert.equal(s1.config.revision, 'c1');
      await until(() => sent.has('c1'), 'the tap saw c1');
      assert.equal(s1.config.issuedAt, sent.get('c1')!.issuedAt, 'the status shows the signed issuedAt in force');
      assert.equal(s1.config.issuedAt, c1.body.issuedAt, 'the one the hub recorded');
      assert.deepEqual(s1.config.applied, ['fnTimeoutMs', 'logLevel']);
      assert.deepEqual(s1.config.pinned, [{ key: 'shutdownTimeoutMs', env: 'TELEMED_SHUTDOWN_TIMEOUT_MS' }]);
      assert.deepEqual([s1.config.settings.logLevel, s1.config.settings.fnTimeoutMs, s1.config.settings.shutdownTimeoutMs], ['debug', 50, 7000]);
      assert.match(await spinError(), /deadline of 50 ms/, 'the registered function now runs under the node-wide 50 ms');
      const later = await register('spin2', 100);
      assert.equal(later.status, 400);
      assert.match(later.text, /above this node's maximum of 50/);
      await until(() => debugLines() > 0, 'debug lines in the node output');
      await until(async () => (await atHub())?.config === 'c1', 'the fleet shows c1 on the node');

      // 2. At the hub's API: a secret, an unknown key, a start-only key, a bad value: 400 naming it; nothing recorded or sent.
      const before = (await rollouts()).length;
      for (const [settings, named] of [
        [{ logLevel: 'warn', turnSecret: 'a-secret-of-enough-length' }, /settings\.turnSecret: a secret/],
        [{ logLevl: 'warn' }, /settings\.logLevl: unknown setting/],
        [{ port: 9000 }, /settings\.port: not remotely settable/],
        [{ fnTimeoutMs: -5 }, /settings\.fnTimeoutMs: /],
      ] as const) {
        const r = await post({ kind: 'config', target: { node: nodeId }, settings });
        assert.equal(r.status, 400, JSON.stringify(r.body));
        assert.equal(r.body.error, 'bad_settings');
        assert.match(r.body.message ?? '', named);
      }
      assert.equal((await rollouts()).length, before, 'nothing recorded for a refused configuration');

      // 3. Published anyway (signed with the hub's key), tampered, unsigned: each refused by the node, c1 stays.
      const conn = await amqp.connect(brokerUrl());
      try {
        const ch = await conn.createConfirmChannel();
        const send = async (body: unknown) => {
          ch.publish(tt.control, `node.${nodeId}.config`, Buffer.from(JSON.stringify(body)), { persistent: true });
          await ch.waitForConfirms();
        };
        await send(signConfig('c-secret', { logLevel: 'warn', turnSecret: 'a-secret-of-enough-length' }, hubKeys.privateKey));
        await until(async () => (await status()).config.refused?.revision === 'c-secret', 'the configuration naming a secret is refused');
        assert.deepEqual((await status()).config.refused, { revision: 'c-secret', reason: 'secret', key: 'turnSecret' });
        await send(signConfig('c-unknown', { logLevel: 'warn', colour: 'blue' }, hubKeys.privateKey));
        await until(async () => (await status()).config.refused?.revision === 'c-unknown', 'the configuration naming an unknown key is refused');
        assert.deepEqual((await status()).config.refused, { revision: 'c-unknown', reason: 'unknown_setting', key: 'colour' });
        await send({ ...signConfig('c-tampered', { logLevel: 'warn' }, hubKeys.privateKey), settings: { logLevel: 'trace' } });
        await until(async () => (await status()).config.refused?.revision === 'c-tampered', 'the tampered configuration is refused');
        assert.equal((await status()).config.refused?.reason, 'bad_signature');
        const { sig: _sig, ...unsigned } = signConfig('c-unsigned', { logLevel: 'warn' }, hubKeys.privateKey);
        await send(unsigned);
        await until(async () => (await status()).config.refused?.revision === 'c-unsigned', 'the unsigned configuration is refused');
        assert.equal((await status()).config.refused?.reason, 'unsigned');
      } finally {
        await conn.close();
      }
      const s3 = await status();
      assert.deepEqual([s3.config.revision, s3.config.settings.logLevel, s3.config.settings.fnTimeoutMs], ['c1', 'debug', 50], 'nothing of the refused ones applied');
      await until(async () => (await atHub())?.configRefused === 'c-unsigned: unsigned', 'the hub hears of the refusal');

      // 4. A restart keeps c1 (kept in the data folder, verified again).
      await n().stop();
      node = await startNode({ dataDir, env });
      const s4 = await status();
      assert.deepEqual([s4.config.revision, s4.config.source, s4.config.settings.logLevel, s4.config.settings.fnTimeoutMs], ['c1', 'hub', 'debug', 50]);
      assert.match(await spinError(), /deadline of 50 ms/, 'restored functions run under the kept configuration');

      // 5. Cut off: c2 (groups north; the log level no longer named, so back to the local info) waits in the node's queue.
      await until(async () => (await status()).sync.state === 'online', 'online again');
      proxy.cut();
      await until(async () => (await status()).sync.state === 'offline', 'the node says it is offline');
      const c2 = await post({ kind: 'config', target: { node: nodeId }, revision: 'c2', settings: { nodeGroups: ['north'], fnTimeoutMs: 200 } });
      assert.equal(c2.status, 202, JSON.stringify(c2.body));
      assert.equal((await nodeStatus(c2.body.id))?.status, 'pending');
      assert.equal((await status()).config.revision, 'c1', 'not in force while cut off');
      proxy.restore();
      await until(async () => (await status()).config.revision === 'c2', 'c2 in force after the link returns');
      const s5 = await status();
      assert.deepEqual([s5.config.settings.logLevel, s5.config.settings.fnTimeoutMs, s5.config.settings.nodeGroups], ['info', 200, ['north']]);
      assert.match(await spinError(), /deadline of 200 ms/);
      await until(async () => (await nodeStatus(c2.body.id))?.status === 'active', 'c2 active at the hub');
      await until(async () => (await atHub())?.groups.join(',') === 'north', 'the fleet shows the node in group north');

      // 6. The node's queue now takes group north's rollouts.
      const c3 = await post({ kind: 'config', target: { group: 'north' }, revision: 'c3', settings: { nodeGroups: ['north'], fnTimeoutMs: 150 } });
      assert.equal(c3.status, 202, JSON.stringify(c3.body));
      await until(async () => (await status()).config.revision === 'c3', 'the group rollout reached the node');
      await until(async () => (await nodeStatus(c3.body.id))?.status === 'active', 'c3 active at the hub for the node');
      const listed = await rollouts();
      assert.deepEqual(listed.filter((r) => r.kind === 'config').map((r) => r.revision).sort(), ['c1', 'c2', 'c3']);

      // 7. Replays: c2 (a 200 ms deadline) copied off the broker and sent again is refused as stale; c3 (150 ms) stays.
      await until(() => sent.has('c2') && sent.has('c3'), 'the tap saw c2 and c3');
      await replay('c2');
      await until(async () => (await status()).config.refused?.revision === 'c2', 'the replayed c2 is refused');
      assert.deepEqual((await status()).config.refused, { revision: 'c2', reason: 'stale' });
      const s7 = await status();
      assert.deepEqual([s7.config.revision, s7.config.issuedAt, s7.config.settings.fnTimeoutMs], ['c3', sent.get('c3')!.issuedAt, 150]);
      assert.match(await spinError(), /deadline of 150 ms/, 'the replay did not change the deadline');
      await until(async () => (await atHub())?.configRefused === 'c2: stale', 'the hub hears of the stale configuration');

      // 8. After a restart (c3 kept with its issuedAt), a replay of c1 is refused as stale too.
      await n().stop();
      node = await startNode({ dataDir, env });
      await until(async () => (await status()).sync.state === 'online', 'online after the restart');
      assert.deepEqual([(await status()).config.revision, (await status()).config.issuedAt], ['c3', sent.get('c3')!.issuedAt]);
      await replay('c1');
      await until(async () => (await status()).config.refused?.revision === 'c1', 'the replayed c1 is refused after the restart');
      assert.deepEqual((await status()).config.refused, { revision: 'c1', reason: 'stale' });
      const s8 = await status();
      assert.deepEqual([s8.config.revision, s8.config.settings.logLevel, s8.config.settings.fnTimeoutMs], ['c3', 'info', 150], 'c1 (debug, 50 ms) not back');
      assert.match(await spinError(), /deadline of 150 ms/);
    } finally {
      await node?.stop();
      await proxy.close();
      await tapConn.close();
      await hub.close();
    }
  });
});
