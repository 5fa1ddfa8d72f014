/**
 * `npm run bench -- fleet`: the hub (`telemed-edge hub`, a child process)
 * with 100 simulated nodes (in-process sync agents of src/sync, each with its
 * own SQLite outbox file and AMQP connection, heartbeating and consuming its
 * bundle queue like a node), against the real RabbitMQ.
 *
 * Figures:
 * - heartbeat handling at the hub: a backlog of heartbeats from the 100 nodes
 *   waits in the inbox, the hub starts and records them (messages/s, from the
 *   hub's own `hub_messages_total`);
 * - bundle rollout to all online nodes, from the hub's publish (`publishedAt`
 *   of `POST /api/rollouts`) to each node's having verified the signature and
 *   put the bundle in force (p50/p99 over several rollouts; target p99 < 2 s),
 *   and until the hub shows it active on every node;
 * - outbox drain per node with publisher confirms (one node alone, then all
 *   100 at once);
 * - the hub's memory (RSS, peak RSS).
 *
 * Environment: AMQP_URL (default amqp://guest:guest@127.0.0.1:5672),
 * BENCH_HUB_DATABASE_URL (run the hub on PostgreSQL, in a schema of its own,
 * dropped after), BENCH_FLEET_NODES (100), BENCH_FLEET_ROLLOUTS (5).
 * Queues and exchanges live under a unique TELEMED_SYNC_PREFIX and are deleted
 * at the end. Nothing here asserts a timing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import pg from 'pg';
import { createLogger } from '../src/observability/index.ts';
import { bundleFromFiles, createBuiltinPolicy, loadVerifiedRegoPolicy, type PolicyEngine } from '../src/policy/index.ts';
import { checkRemoteSettings } from '../src/config/index.ts';
import { openStore, type Store } from '../src/store/index.ts';
import { assertFleet, ConfigRefusal, createSyncAgent, routingKey, SYNC_MIGRATIONS, topology, type BundleFileText, type SyncAgent } from '../src/sync/index.ts';
import { freePort, root, waitReady } from './_support.ts';

const AMQP = process.env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672';
const NODES = Number(process.env.BENCH_FLEET_NODES ?? 100);
const ROLLOUTS = Number(process.env.BENCH_FLEET_ROLLOUTS ?? 5);
const HEARTBEATS_PER_NODE = 200;
const DRAIN_ONE = 5_000;
const DRAIN_EACH = 500;

const out = (s: string) => process.stdout.write(s + '\n');
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A bundle that lets de-identified figures out (so nodes keep heartbeating), with a configuration document. */
const benchBundle = (revision: string): BundleFileText[] => [
  { path: '.manifest', text: JSON.stringify({ revision, roots: ['healthcare'] }) },
  { path: 'healthcare/p.rego', text: 'package healthcare.telemedicine\n\nimport rego.v1\n\ndefault allow := false\n\nallow if {\n\tinput.action == "data_transfer"\n\tinput.resource.classification == "deidentified"\n}\n' },
  { path: 'data.json', text: JSON.stringify({ fleet: { heartbeat_s: 10, min_count: 5 } }) },
];

function rss(pid: number): { rssMiB: number; peakMiB: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  return { rssMiB: kb('VmRSS') / 1024, peakMiB: kb('VmHWM') / 1024 };
}

async function metric(url: string, kind: string, result = 'new'): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^hub_messages_total\\{kind="${kind}",result="${result}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 120_000, every = 5): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`bench fleet: gave up waiting: ${what}`);
    await sleep(every);
  }
}

export async function run(): Promise<void> {
  const prefix = `benchfleet${randomBytes(4).toString('hex')}`;
  const t = topology(prefix);
  const work = mkdtempSync(path.join(tmpdir(), 'telemed-bench-fleet-'));
  const keys = generateKeyPairSync('ed25519');
  const keyFile = path.join(work, 'hub-signing.key');
  writeFileSync(keyFile, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const token = randomBytes(24).toString('hex');
  const pgUrl = process.env.BENCH_HUB_DATABASE_URL;
  const schema = `hub_bench${randomBytes(4).toString('hex')}`;
  const ids = Array.from({ length: NODES }, (_, i) => `${prefix}-n${String(i).padStart(3, '0')}`);
  const logger = createLogger({ level: 'silent' });
  const stores: Store[] = [];
  const agents: SyncAgent[] = [];
  let hub: ChildProcess | undefined;
  out(`hub store: ${pgUrl ? `postgresql (schema ${schema})` : 'sqlite (synchronous=FULL)'}; ${NODES} nodes; prefix ${prefix}; load average ${load()}`);

  const conn = await amqp.connect(AMQP);
  const ch = await conn.createConfirmChannel();
  try {
    // 1. Heartbeat handling: a backlog of heartbeats waits in the inbox, then the hub starts and records them.
    await assertFleet(ch, t);
    const total = NODES * HEARTBEATS_PER_NODE;
    for (let k = 0; k < HEARTBEATS_PER_NODE; k++) {
      for (const id of ids) {
        const env = { v: 1, id: `hb-${id}-${k}`, node: id, seq: 0, kind: 'heartbeat', body: { node: id, city: 'Bench', version: '0.1.0', bundle: 'builtin-rules', backlog: k, sentAt: new Date().toISOString().slice(0, 19) + 'Z', p99LatencyMs: 12.5 } };
        ch.publish(t.fleet, routingKey(id, 'heartbeat'), Buffer.from(JSON.stringify(env)), { persistent: false, contentType: 'application/json', type: 'heartbeat' });
      }
      if (k % 20 === 19) await ch.waitForConfirms();
    }
    await ch.waitForConfirms();

    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    hub = spawn(process.execPath, [path.join(root, 'bin/telemed-edge.js'), 'hub'], {
      env: {
        ...process.env, AMQP_URL: AMQP, TELEMED_SYNC_PREFIX: prefix, TELEMED_HUB_PORT: String(port), HOST: '127.0.0.1', TELEMED_HUB_DATA_DIR: path.join(work, 'hub'),
        TELEMED_HUB_SIGNING_KEY: keyFile, TELEMED_HUB_ADMIN_TOKEN: token, LOG_LEVEL: 'warn', TELEMED_HUB_OFFLINE_AFTER_MS: '30000',
        ...(pgUrl ? { TELEMED_HUB_DATABASE_URL: pgUrl, TELEMED_HUB_DATABASE_SCHEMA: schema } : { TELEMED_HUB_DATABASE_URL: '' }),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await waitReady(`${url}/api/nodes`);
    let first: { n: number; at: number } | undefined;
    let last = { n: 0, at: 0 };
    await until(async () => {
      const n = await metric(url, 'heartbeat');
      const at = performance.now();
      if (n > 0 && !first) first = { n, at };
      last = { n, at };
      return n >= total;
    }, 'the hub records the heartbeat backlog', 300_000, 20);
    const hbRate = first && last.at > first.at ? (last.n - first.n) / ((last.at - first.at) / 1000) : NaN;
    out(`heartbeats: ${total} from ${NODES} nodes recorded at the hub: ${hbRate.toFixed(0)} messages/s (each committed before its ack)   load ${load()}`);
    const m1 = rss(hub.pid!);
    out(`hub memory after the heartbeat backlog: RSS ${m1.rssMiB.toFixed(1)} MiB (peak ${m1.peakMiB.toFixed(1)} MiB)`);

    // 2. 100 nodes: sync agents on their own SQLite files, heartbeating every second, consuming their bundle queue.
    const cache = new Map<string, PolicyEngine>();
    const compileStart = performance.now();
    const warm = loadVerifiedRegoPolicy(bundleFromFiles(benchBundle('warm')));
    const compileMs = performance.now() - compileStart;
    void warm;
    const activated = new Map<string, Map<string, number>>(); // revision → node → epoch ms
    const engines = new Map<string, PolicyEngine>();
    const configs = new Map<string, string>();
    for (const id of ids) {
      const dir = path.join(work, id);
      mkdirSync(dir);
      const store = openStore({ dataDir: dir, sync: 'full' });
      store.migrate(SYNC_MIGRATIONS);
      stores.push(store);
      engines.set(id, createBuiltinPolicy());
      agents.push(createSyncAgent({
        store, policy: () => engines.get(id)!, logger, nodeId: id, city: 'Bench', amqpUrl: AMQP, prefix, heartbeatMs: 1000,
        bundles: {
          publicKey: keys.publicKey,
          apply: (files, revision) => {
            // The signature was verified by the agent before this call. Compiled once per content (100 nodes share one
            // process here; a real node compiles on its own core: see the compile figure below).
            const key = createHash('sha256').update(JSON.stringify(files)).digest('hex');
            let e = cache.get(key);
            if (!e) cache.set(key, (e = loadVerifiedRegoPolicy(bundleFromFiles(files.map((f) => ({ ...f }))))));
            engines.set(id, e);
            const at = Date.now();
            (activated.get(revision) ?? activated.set(revision, new Map()).get(revision)!).set(id, at);
          },
        },
        // Configurations of node settings: checked as the node checks them, in force at once (what a real node does live).
        config: {
          publicKey: keys.publicKey,
          inForce: () => configs.get(id) ?? '',
          apply: (revision, settings) => {
            const v = checkRemoteSettings(settings);
            if (!v.ok) throw new ConfigRefusal(v.reason, v.key, v.message);
            configs.set(id, revision);
            (activated.get(revision) ?? activated.set(revision, new Map()).get(revision)!).set(id, Date.now());
            return { applied: Object.keys(settings).sort(), pinned: [] };
          },
        },
      }));
    }
    const connectStart = performance.now();
    for (const a of agents) a.start();
    await until(() => agents.every((a) => a.status().state === 'online'), 'every node online');
    out(`${NODES} nodes connected in ${(performance.now() - connectStart).toFixed(0)} ms`);
    await until(async () => {
      const nodes = ((await (await fetch(`${url}/api/nodes`)).json()) as { nodes: Array<{ id: string; status: string }> }).nodes;
      return nodes.filter((n) => ids.includes(n.id) && n.status === 'online').length === NODES;
    }, 'the hub shows every node online', 60_000, 100);

    // 3. Rollouts to all: hub publish → verified and in force on each node.
    const lat: number[] = [];
    const hubAll: number[] = [];
    for (let r = 1; r <= ROLLOUTS; r++) {
      const revision = `bench-${r}`;
      const res = await fetch(`${url}/api/rollouts`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ target: { all: true }, revision, files: benchBundle('x') }),
      });
      if (res.status !== 202) throw new Error(`rollout ${revision}: ${res.status} ${await res.text()}`);
      const rec = (await res.json()) as { id: string; publishedAt: string };
      const published = Date.parse(rec.publishedAt);
      await until(() => (activated.get(revision)?.size ?? 0) === NODES, `${revision} in force on every node`, 60_000, 2);
      for (const at of activated.get(revision)!.values()) lat.push(at - published);
      await until(async () => {
        const st = (await (await fetch(`${url}/api/rollouts/${rec.id}`)).json()) as { nodes: Array<{ status: string }> };
        return st.nodes.filter((n) => n.status === 'active').length >= NODES;
      }, `the hub shows ${revision} active everywhere`, 60_000, 20);
      hubAll.push(Date.now() - published);
      await sleep(300);
    }
    out(`rollout to ${NODES} online nodes (${ROLLOUTS} rollouts, ${lat.length} activations): p50 ${pct(lat, 50)} ms, p99 ${pct(lat, 99)} ms, max ${Math.max(...lat)} ms (target p99 < 2000 ms)   load ${load()}`);
    out(`  until the hub shows it active on every node (heartbeat after activation): p50 ${pct(hubAll, 50)} ms, max ${Math.max(...hubAll)} ms`);
    out(`  bundle compile + tests on one node (not in the figures above; a real node does it on its own core): ${compileMs.toFixed(1)} ms`);

    // 3b. Configuration rollouts to all: hub publish → verified, checked and in force on each node.
    const clat: number[] = [];
    const chubAll: number[] = [];
    for (let r = 1; r <= ROLLOUTS; r++) {
      const revision = `bench-cfg-${r}`;
      const res = await fetch(`${url}/api/rollouts`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ kind: 'config', target: { all: true }, revision, settings: { logLevel: r % 2 ? 'warn' : 'info', fnTimeoutMs: 1000 + r } }),
      });
      if (res.status !== 202) throw new Error(`config rollout ${revision}: ${res.status} ${await res.text()}`);
      const rec = (await res.json()) as { id: string; publishedAt: string };
      const published = Date.parse(rec.publishedAt);
      await until(() => (activated.get(revision)?.size ?? 0) === NODES, `${revision} in force on every node`, 60_000, 2);
      for (const at of activated.get(revision)!.values()) clat.push(at - published);
      await until(async () => {
        const st = (await (await fetch(`${url}/api/rollouts/${rec.id}`)).json()) as { nodes: Array<{ status: string }> };
        return st.nodes.filter((n) => n.status === 'active').length >= NODES;
      }, `the hub shows ${revision} active everywhere`, 60_000, 20);
      chubAll.push(Date.now() - published);
      await sleep(300);
    }
    out(`configuration rollout to ${NODES} online nodes (${ROLLOUTS} rollouts, ${clat.length} activations): p50 ${pct(clat, 50)} ms, p99 ${pct(clat, 99)} ms, max ${Math.max(...clat)} ms   load ${load()}`);
    out(`  until the hub shows it active on every node (config report or heartbeat): p50 ${pct(chubAll, 50)} ms, max ${Math.max(...chubAll)} ms`);

    // 4. Outbox drain with publisher confirms: one node alone, then every node at once.
    const solo = `${prefix}-solo`;
    ids.push(solo);
    const soloDir = path.join(work, solo);
    mkdirSync(soloDir);
    const soloStore = openStore({ dataDir: soloDir, sync: 'full' });
    soloStore.migrate(SYNC_MIGRATIONS);
    stores.push(soloStore);
    const soloAgent = createSyncAgent({ store: soloStore, policy: () => createBuiltinPolicy(), logger, nodeId: solo, city: 'Bench', amqpUrl: AMQP, prefix, heartbeatMs: 1000 });
    agents.push(soloAgent);
    const hour = Date.now();
    await Promise.all(Array.from({ length: DRAIN_ONE }, (_, i) => soloAgent.enqueue('aggregate', { metric: 'consultations', at: hour, count: 1 + (i % 3) })));
    const aggBefore = await metric(url, 'aggregate');
    let s0 = performance.now();
    soloAgent.start();
    await soloAgent.drained();
    const soloMs = performance.now() - s0;
    out(`outbox drain, one node: ${DRAIN_ONE} messages in ${soloMs.toFixed(0)} ms = ${(DRAIN_ONE / (soloMs / 1000)).toFixed(0)} messages/s (connect included; SQLite synchronous=FULL; confirmed by the broker, rows deleted)`);

    // Fill every node's outbox while it is cut off (closed), then reopen them all at once.
    for (const a of agents.slice(0, NODES)) await a.close();
    const drainAgents: SyncAgent[] = [];
    for (let i = 0; i < NODES; i++) {
      const a = createSyncAgent({ store: stores[i]!, policy: () => createBuiltinPolicy(), logger, nodeId: ids[i]!, city: 'Bench', amqpUrl: AMQP, prefix, heartbeatMs: 1000 });
      drainAgents.push(a);
      await Promise.all(Array.from({ length: DRAIN_EACH }, (_, k) => a.enqueue('aggregate', { metric: 'alerts', at: hour, count: 1 + (k % 2) })));
    }
    agents.push(...drainAgents);
    const per: number[] = [];
    s0 = performance.now();
    await Promise.all(drainAgents.map(async (a) => {
      const start = performance.now();
      a.start();
      await a.drained();
      per.push(DRAIN_EACH / ((performance.now() - start) / 1000));
    }));
    const allMs = performance.now() - s0;
    out(`outbox drain, ${NODES} nodes at once, ${DRAIN_EACH} each: all in ${allMs.toFixed(0)} ms = ${((NODES * DRAIN_EACH) / (allMs / 1000)).toFixed(0)} messages/s in total; per node p50 ${pct(per, 50).toFixed(0)} messages/s, slowest ${Math.min(...per).toFixed(0)} messages/s   load ${load()}`);
    const expected = DRAIN_ONE + NODES * DRAIN_EACH;
    const ingestStart = performance.now();
    await until(async () => (await metric(url, 'aggregate')) - aggBefore >= expected, 'the hub records every drained message', 300_000, 50);
    const got = (await metric(url, 'aggregate')) - aggBefore;
    const dup = await metric(url, 'aggregate', 'duplicate');
    out(`hub recorded ${got} of ${expected} drained messages (duplicates seen and ignored: ${dup}); the last ${(performance.now() - ingestStart).toFixed(0)} ms after the drains ended`);
    const m2 = rss(hub.pid!);
    out(`hub memory at the end: RSS ${m2.rssMiB.toFixed(1)} MiB (peak ${m2.peakMiB.toFixed(1)} MiB)   load ${load()}`);
  } finally {
    for (const a of agents) await a.close().catch(() => undefined);
    for (const s of stores) s.close();
    if (hub && hub.exitCode === null) {
      const h = hub;
      await new Promise<void>((resolve) => {
        h.once('exit', () => resolve());
        h.kill('SIGTERM');
      });
    }
    const del = await conn.createChannel();
    for (const q of [t.hubInbox, ...ids.map((id) => t.nodeQueue(id))]) await del.deleteQueue(q).catch(() => undefined);
    await del.deleteExchange(t.fleet).catch(() => undefined);
    await del.deleteExchange(t.control).catch(() => undefined);
    await conn.close().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
    if (pgUrl) {
      const c = new pg.Client({ connectionString: pgUrl });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    }
    out(`cleaned up: queues and exchanges under ${prefix} deleted${pgUrl ? `, schema ${schema} dropped` : ''}`);
  }
}
