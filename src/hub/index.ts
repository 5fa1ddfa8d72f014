/**
 * The hub door: the central service of the fleet (`telemed-edge hub`).
 *
 * Consumes the hub inbox with manual acks: each message is recorded by id in
 * the hub's own store (SQLite by default, PostgreSQL by setting) and
 * acknowledged only after that commit, so a redelivered message changes
 * nothing (exactly-once effect). Serves the fleet registry as
 * `GET /api/nodes`, a fleet page at `/`, and rollouts of signed policy bundles
 * and signed configurations of node settings (`POST /api/rollouts`, single
 * sign-on or admin token: `auth.ts`) with their status per node and who made them.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { createHash, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { z } from 'zod';
import type { Logger } from '../observability/index.ts';
import { bundleFromFiles, loadVerifiedRegoPolicy } from '../policy/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { checkRemoteSettings } from '../config/index.ts';
import { AmqpLink, assertFleet, canonicalBundle, canonicalConfig, ed25519Key, topology, type BundleFileText } from '../sync/index.ts';
import { bundleFiles, checkTarget, configRevision, publishBundle, publishConfig, rolloutOnce, type RolloutTarget } from './rollout.ts';
import { HUB_MIGRATIONS, SqliteLedger, parseIncoming, type Ledger, type NewRollout, type NodeRow, type RolloutKind, type RolloutRecord } from './ledger.ts';
import { PgLedger } from './ledger-pg.ts';
import { createHubAuth, type HubOidcOptions } from './auth.ts';
import { FLEET_PAGE } from './page.ts';

export { HUB_MIGRATIONS, SqliteLedger, PgLedger, publishBundle, publishConfig, configRevision, rolloutOnce, bundleFiles, type Ledger, type RolloutTarget, type RolloutRecord, type RolloutKind, type NodeRow };
export { ADMIN_TOKEN_ACTOR, DEFAULT_ADMIN_ROLE, type HubOidcOptions } from './auth.ts';
export { loadHubConfig, HubConfigError, HubConfigSchema, HUB_ENV, type HubConfig } from './config.ts';

export interface HubOptions {
  logger: Logger;
  /** Without it the hub serves its page and API over what it already holds, and says it is standalone. */
  amqpUrl?: string;
  /** PostgreSQL instead of SQLite (e.g. postgres://hub@127.0.0.1:5432/telemed). */
  databaseUrl?: string;
  /** The PostgreSQL schema of the hub's tables (default `telemed_hub`). */
  databaseSchema?: string;
  /** The hub's SQLite store; default: opened under `dataDir` (or in memory when `memory`). Ignored with `databaseUrl`. */
  store?: Store;
  dataDir?: string;
  memory?: boolean;
  prefix?: string;
  port?: number;
  host?: string;
  /** A node with no message for this long is offline (default 30 s = three missed heartbeats). */
  offlineAfterMs?: number;
  prefetch?: number;
  /** Ed25519 private key that signs bundle rollouts (nodes hold the public key). */
  signingKey?: KeyObject | string;
  /** Static bearer token of `POST /api/rollouts` (break-glass, automation); with neither it nor `oidc` the HTTP rollout API refuses (default deny). */
  adminToken?: string;
  /** Single sign-on: fleet admins' bearer JWTs verified against the identity provider's JWKS (src/hub/auth.ts). */
  oidc?: HubOidcOptions;
  /** The clock that stamps rollouts (`issuedAt`; default the system clock). Whatever it says, each rollout of a kind is issued strictly after the last one in the ledger. */
  clock?: () => Date;
}

/** One row of `GET /api/nodes`. */
export interface FleetNode {
  id: string;
  city: string;
  version: string;
  status: 'online' | 'offline';
  lastHeartbeat: string | null;
  lastSeen: string;
  backlog: number;
  bundle: string;
  /** The last bundle the node refused (`revision: reason`), or null. */
  bundleRefused: string | null;
  callsToday: number;
  /** The node's p99 request latency in ms from its last heartbeat, when it reports one. */
  p99LatencyMs: number | null;
  /** The rollout groups the node reports in its heartbeats (`TELEMED_NODE_GROUPS`, or a configuration from the hub). */
  groups: string[];
  /** The revision of the configuration from the hub in force on the node ('' for none: local settings only). */
  config: string;
  /** The last configuration the node refused (`revision: reason[: setting]`), or null. */
  configRefused: string | null;
  messages: number;
}

/** A rollout the hub could not start: the HTTP status and a PHI-free code. */
export class RolloutError extends Error {
  override readonly name = 'RolloutError';
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/** A hub over its ledger; plain `Hub` is the default store's (SQLite, with its sync readers). */
export interface Hub<L extends Ledger = SqliteLedger> {
  readonly ledger: L;
  /** The SQLite store (undefined on PostgreSQL). */
  readonly store: L extends SqliteLedger ? Store : Store | undefined;
  readonly app: FastifyInstance;
  readonly registry: Registry;
  /** Where the HTTP server listens (after start). */
  url: string;
  start(): Promise<void>;
  /** The fleet: on SQLite read now; on PostgreSQL the last snapshot (refreshed after each batch and on every `GET /api/nodes`). */
  nodes(): FleetNode[];
  /**
   * Signs a policy bundle and publishes it to the target's durable queue(s);
   * resolves after the broker confirmed it, with the rollout as recorded (each
   * target node `pending` until it reports the revision; an online node may
   * already be `active` or `refused` here, as the broker can deliver to it
   * before it confirms to the hub). A node that is offline gets it on return.
   * Throws {@link RolloutError} when the hub has no signing key or no broker link.
   */
  rollout(target: RolloutTarget, revision: string, files: BundleFileText[], actor?: string): Promise<RolloutRecord>;
  /**
   * Checks the settings against the nodes' remote-settable schema (a
   * {@link RolloutError} 400 naming the key otherwise), signs the configuration
   * and publishes it like a bundle; each target node `pending` until it reports
   * the revision in force (or refused, with its reason).
   */
  rolloutConfig(target: RolloutTarget, revision: string, settings: Record<string, unknown>, actor?: string): Promise<RolloutRecord>;
  /** True while the consumer's link to the broker is up. */
  readonly online: boolean;
  close(): Promise<void>;
}

export function createHub(o: HubOptions & { databaseUrl: string }): Hub<PgLedger>;
export function createHub(o: HubOptions & { databaseUrl?: undefined }): Hub<SqliteLedger>;
export function createHub(o: HubOptions): Hub<Ledger>;
export function createHub(o: HubOptions): Hub<Ledger> {
  const log = o.logger.child({ part: 'hub' });
  let store: Store | undefined;
  let ownStore = false;
  let ledger: Ledger;
  if (o.databaseUrl) {
    ledger = new PgLedger({ url: o.databaseUrl, logger: o.logger, ...(o.databaseSchema ? { schema: o.databaseSchema } : {}) });
  } else {
    ownStore = o.store === undefined;
    // In memory nothing outlives the process, so an ephemeral data key (no key file written).
    store = o.store ?? (o.memory
      ? openStore({ dataDir: o.dataDir ?? 'data-hub', memory: true, dataKey: randomBytes(32).toString('base64') })
      : openStore({ dataDir: o.dataDir ?? 'data-hub' }));
    ledger = new SqliteLedger(store);
  }
  const sqlite = ledger instanceof SqliteLedger ? ledger : undefined;
  const t = topology(o.prefix);
  const offlineAfter = o.offlineAfterMs ?? 30_000;
  const signingKey = o.signingKey ? ed25519Key(o.signingKey, 'private') : undefined;
  const clock = o.clock ?? (() => new Date());
  const auth = createHubAuth({ logger: o.logger, ...(o.adminToken ? { adminToken: o.adminToken } : {}), ...(o.oidc ? { oidc: o.oidc } : {}) });

  const registry = new Registry();
  const handled = new Counter({ name: 'hub_messages_total', help: 'Messages consumed from the hub inbox, by kind and result (new, duplicate, unreadable, failed)', labelNames: ['kind', 'result'], registers: [registry] });
  const recordSeconds = new Histogram({ name: 'hub_record_seconds', help: 'Time from delivery to the commit of a message in the hub store', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] });
  const nodesGauge = new Gauge({ name: 'hub_nodes', help: 'Nodes in the registry, by status', labelNames: ['status'], registers: [registry] });
  const brokerGauge = new Gauge({ name: 'hub_broker_connected', help: '1 while the hub is connected to the broker', registers: [registry], collect() { this.set(link?.up ? 1 : 0); } });
  void brokerGauge;

  let snapshot: NodeRow[] = [];
  const toFleet = (rows: NodeRow[]): FleetNode[] => {
    const now = Date.now();
    return rows.map((n) => ({
      id: n.id, city: n.city, version: n.version,
      status: now - Date.parse(n.last_seen) <= offlineAfter ? 'online' : 'offline',
      lastHeartbeat: n.last_heartbeat, lastSeen: n.last_seen, backlog: n.backlog, bundle: n.bundle, bundleRefused: n.bundle_refused,
      callsToday: n.calls_today, p99LatencyMs: n.p99_ms, groups: n.groups ? n.groups.split(',') : [], config: n.config, configRefused: n.config_refused, messages: n.messages,
    }));
  };
  const nodes = (): FleetNode[] => toFleet(sqlite ? sqlite.nodes() : snapshot);
  const refresh = async (): Promise<FleetNode[]> => {
    if (sqlite) return nodes();
    snapshot = await ledger.nodeRows();
    return toFleet(snapshot);
  };
  // PostgreSQL: the snapshot follows the commits (at most every 200 ms).
  let refreshTimer: NodeJS.Timeout | undefined;
  const refreshSoon = () => {
    if (sqlite || refreshTimer || closing) return;
    refreshTimer = setTimeout(() => {
      refreshTimer = undefined;
      refresh().catch((err: Error) => log.warn({ err: { message: err.message } }, 'fleet snapshot not refreshed'));
    }, 200);
    refreshTimer.unref();
  };

  const link = o.amqpUrl
    ? new AmqpLink({
        url: o.amqpUrl,
        logger: o.logger,
        name: 'telemed-edge hub',
        setup: async (ch) => {
          await assertFleet(ch, t);
          await ch.assertExchange(t.control, 'topic', { durable: true });
          await ch.prefetch(o.prefetch ?? 500);
          await ch.consume(t.hubInbox, (msg: ConsumeMessage | null) => {
            if (msg === null) return; // consumer cancelled (queue deleted): the link resets on channel close
            const m = parseIncoming(msg.content);
            if (m === undefined) {
              handled.inc({ kind: 'unknown', result: 'unreadable' });
              log.warn('unreadable message dropped');
              try {
                ch.nack(msg, false, false);
              } catch {
                // channel gone: it comes back and is dropped then.
              }
              return;
            }
            const end = recordSeconds.startTimer();
            ledger.record(m).then(
              (fresh) => {
                end();
                handled.inc({ kind: m.kind, result: fresh ? 'new' : 'duplicate' });
                refreshSoon();
                try {
                  ch.ack(msg);
                } catch {
                  // The channel died after the commit: the broker redelivers and the ledger ignores the copy.
                }
              },
              (err: Error) => {
                handled.inc({ kind: m.kind, result: 'failed' });
                log.error({ err: { message: err.message } }, 'message not recorded; handed back for redelivery in 1 s');
                // Not acked: back to the queue after a pause (the store may be restarting), so it is not lost on this channel.
                setTimeout(() => {
                  try {
                    ch.nack(msg, false, true);
                  } catch {
                    // channel gone: the broker redelivers it anyway.
                  }
                }, 1000).unref();
              },
            );
          }, { noAck: false });
        },
      })
    : undefined;

  /**
   * Records a rollout (each target node `pending`) and its `issuedAt` (the
   * hub's clock, strictly after the last rollout of its kind in the ledger),
   * publishes it with `publish` (signs with that issuedAt and waits for the
   * broker's confirm; resolves to the routing key) and marks it published, or
   * failed with the broker's reason.
   */
  const recordAndPublish = async (
    r: Omit<NewRollout, 'id' | 'nodes' | 'now'>,
    publish: (ch: ConfirmChannel, key: KeyObject, issuedAt: string) => Promise<string>,
    what: string,
    logged: Record<string, unknown> = {},
  ): Promise<RolloutRecord> => {
    if (!signingKey) throw new RolloutError(503, 'no_signing_key', 'the hub has no signing key (set TELEMED_HUB_SIGNING_KEY)');
    const ch = link?.channel;
    if (!ch) throw new RolloutError(503, 'broker_unavailable', link ? 'the hub is not connected to the broker' : 'the hub has no broker (set AMQP_URL)');
    checkTarget(r.target);
    const id = randomUUID();
    const issuedAt = await ledger.createRollout({ ...r, id, nodes: await ledger.targetNodes(r.target), now: clock() });
    const startedAt = new Date().toISOString();
    try {
      const key = await publish(ch, signingKey, issuedAt);
      await ledger.rolloutPublished(id, startedAt);
      log.info({ target: key, revision: r.revision, issuedAt, rollout: id, actor: r.actor, ...logged }, `${what} rolled out`);
    } catch (err) {
      await ledger.rolloutFailed(id, (err as Error).message).catch(() => undefined);
      throw err;
    }
    return (await ledger.rollout(id))!;
  };

  const rollout = (target: RolloutTarget, revision: string, files: BundleFileText[], actor?: string): Promise<RolloutRecord> =>
    recordAndPublish(
      // sha256: of the content (revision and files), the same for the same bundle whenever it is issued.
      { revision, target, files: files.length, sha256: createHash('sha256').update(canonicalBundle(revision, files)).digest('hex'), actor: actor ?? null },
      (ch, key, issuedAt) => publishBundle(ch, t, target, revision, files, key, issuedAt),
      'bundle',
    );

  const rolloutConfig = async (target: RolloutTarget, revision: string, settings: Record<string, unknown>, actor?: string): Promise<RolloutRecord> => {
    const check = checkRemoteSettings(settings);
    if (!check.ok) throw new RolloutError(400, 'bad_settings', check.message);
    if (!/^[A-Za-z0-9._:-]{1,100}$/.test(revision)) throw new RolloutError(400, 'bad_request', 'revision: letters, digits, . _ : - (1-100)');
    return recordAndPublish(
      { kind: 'config', settings, revision, target, files: Object.keys(settings).length, sha256: createHash('sha256').update(canonicalConfig(revision, settings)).digest('hex'), actor: actor ?? null },
      (ch, key, issuedAt) => publishConfig(ch, t, target, revision, settings, key, issuedAt),
      'configuration',
      { settings: Object.keys(settings) },
    );
  };

  const app = Fastify({ logger: false, bodyLimit: 8 * 1024 * 1024 });
  app.addContentTypeParser(['application/gzip', 'application/x-gzip', 'application/octet-stream'], { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) log.error({ err: { message: err.message } }, 'request failed');
    void reply.code(status).send({ error: status === 500 ? 'internal' : (err.code ?? 'bad_request'), message: status === 500 ? 'internal error' : err.message });
  });
  app.get('/api/nodes', async () => ({ nodes: await refresh(), broker: link ? (link.up ? 'connected' : 'disconnected') : 'none', store: ledger.kind }));
  app.get('/api/rollouts', async () => ({ rollouts: await ledger.rollouts(50) }));
  app.get('/api/rollouts/:id', async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const r = await ledger.rollout(req.params.id);
    return r ?? reply.code(404).send({ error: 'not_found', message: 'no such rollout' });
  });
  app.post('/api/rollouts', async (req, reply) => postRollout(req, reply));
  app.get('/metrics', async (_req, reply) => {
    // Metrics answer while the store is away (the last snapshot; hub_messages_total{result="failed"} tells why).
    const fleet = await refresh().catch(() => toFleet(snapshot));
    nodesGauge.set({ status: 'online' }, fleet.filter((n) => n.status === 'online').length);
    nodesGauge.set({ status: 'offline' }, fleet.filter((n) => n.status === 'offline').length);
    return reply.type(registry.contentType).send(await registry.metrics());
  });
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(FLEET_PAGE));

  const Target = z.union([z.object({ node: z.string() }).strict(), z.object({ group: z.string() }).strict(), z.object({ all: z.literal(true) }).strict()], { error: 'give exactly one of {"node": ID}, {"group": G}, {"all": true}' });
  const ConfigRolloutJson = z.object({
    kind: z.literal('config'),
    target: Target,
    revision: z.string().regex(/^[A-Za-z0-9._:-]{1,100}$/, 'letters, digits, . _ : - (1-100)').optional(),
    /** Node settings (docs/SYNC.md): the complete hub layer; a key not named takes each node's local value. */
    settings: z.record(z.string(), z.unknown()),
  }).strict();
  const RolloutJson = z.object({
    kind: z.literal('bundle').optional(),
    target: Target,
    revision: z.string().regex(/^[A-Za-z0-9._:-]{1,100}$/, 'letters, digits, . _ : - (1-100)').optional(),
    files: z.array(z.object({
      path: z.string().min(1).max(300).refine((p) => !p.split('/').includes('..') && !p.startsWith('/'), 'a relative path inside the bundle'),
      text: z.string(),
    }).strict()).min(1).max(500),
    /** The policy's configuration: merged into the bundle's data document. */
    data: z.record(z.string(), z.unknown()).optional(),
  }).strict();
  const RolloutQuery = z.object({
    node: z.string().optional(), group: z.string().optional(), all: z.enum(['true']).optional(),
    revision: z.string().regex(/^[A-Za-z0-9._:-]{1,100}$/, 'letters, digits, . _ : - (1-100)').optional(),
  }).strict();

  const fail = (reply: FastifyReply, status: number, error: string, message: string) => reply.code(status).send({ error, message });

  async function postRollout(req: FastifyRequest, reply: FastifyReply) {
    const who = await auth.authorize(req);
    if (!who.ok) return fail(reply.headers(who.headers), who.status, who.error, who.message);
    let target: RolloutTarget;
    let prepared: { revision: string; files: BundleFileText[] };
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    try {
      if (type === 'application/json' && (req.body as { kind?: unknown } | null)?.kind === 'config') {
        return await postConfig(req, reply, who.actor);
      } else if (type === 'application/json') {
        const p = RolloutJson.safeParse(req.body);
        if (!p.success) return fail(reply, 400, 'bad_request', p.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
        target = p.data.target as RolloutTarget;
        prepared = bundleFiles(p.data.files, { ...(p.data.revision ? { revision: p.data.revision } : {}), ...(p.data.data ? { data: p.data.data } : {}) });
      } else if (Buffer.isBuffer(req.body)) {
        const q = RolloutQuery.safeParse(req.query);
        if (!q.success) return fail(reply, 400, 'bad_request', q.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; '));
        const picked = [q.data.node !== undefined, q.data.group !== undefined, q.data.all !== undefined].filter(Boolean).length;
        if (picked !== 1) return fail(reply, 400, 'bad_request', 'give exactly one target: ?node=ID, ?group=G or ?all=true');
        target = q.data.node !== undefined ? { node: q.data.node } : q.data.group !== undefined ? { group: q.data.group } : { all: true };
        try {
          gunzipSync(req.body, { maxOutputLength: 32 * 1024 * 1024 }); // a bundle is small: refuse an archive that unpacks to more than 32 MiB
        } catch {
          return fail(reply, 400, 'bad_bundle', 'the body is not a gzip archive of at most 32 MiB unpacked');
        }
        const dir = mkdtempSync(path.join(tmpdir(), 'telemed-hub-upload-'));
        try {
          const file = path.join(dir, 'bundle.tar.gz');
          writeFileSync(file, req.body, { mode: 0o600 });
          prepared = bundleFiles(file, q.data.revision ? { revision: q.data.revision } : {});
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      } else {
        return fail(reply, 415, 'unsupported_media_type', 'send a bundle as application/json ({ target, files, revision?, data? }) or as a .tar.gz (application/gzip, target in the query), or a configuration as application/json ({ kind: "config", target, settings, revision? })');
      }
    } catch (err) {
      return fail(reply, 400, 'bad_bundle', `the bundle cannot be read: ${(err as Error).message}`);
    }
    try {
      checkTarget(target);
    } catch (err) {
      return fail(reply, 400, 'bad_request', (err as Error).message);
    }
    if (!/^[A-Za-z0-9._:-]{1,100}$/.test(prepared.revision)) return fail(reply, 400, 'bad_request', 'revision: letters, digits, . _ : - (1-100)');
    if (!signingKey) return fail(reply, 503, 'no_signing_key', 'the hub has no bundle signing key (set TELEMED_HUB_SIGNING_KEY)');
    if (!link?.up) return fail(reply, 503, 'broker_unavailable', link ? 'the hub is not connected to the broker; try again' : 'the hub has no broker (set AMQP_URL)');
    try {
      // The node would refuse a bundle that does not compile or fails its own tests: say so now, with file:line:col.
      loadVerifiedRegoPolicy(bundleFromFiles(prepared.files.map((f) => ({ ...f })), `rollout ${prepared.revision}`));
    } catch (err) {
      return fail(reply, 400, 'bundle_rejected', (err as Error).message);
    }
    try {
      return await reply.code(202).send(await rollout(target, prepared.revision, prepared.files, who.actor));
    } catch (err) {
      if (err instanceof RolloutError) return fail(reply, err.status, err.code, err.message);
      log.error({ err: { message: (err as Error).message } }, 'rollout failed');
      return fail(reply, 502, 'rollout_failed', 'the broker did not confirm the rollout; try again');
    }
  }

  /** `POST /api/rollouts` with `{"kind": "config", target, revision?, settings}` (the caller already authorized as `actor`). */
  async function postConfig(req: FastifyRequest, reply: FastifyReply, actor: string) {
    const p = ConfigRolloutJson.safeParse(req.body);
    if (!p.success) return fail(reply, 400, 'bad_request', p.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
    // Checked before anything is signed, recorded or sent: the message names the setting.
    const check = checkRemoteSettings(p.data.settings);
    if (!check.ok) return fail(reply, 400, 'bad_settings', `settings.${check.message}`);
    const target = p.data.target as RolloutTarget;
    try {
      checkTarget(target);
    } catch (err) {
      return fail(reply, 400, 'bad_request', (err as Error).message);
    }
    if (!signingKey) return fail(reply, 503, 'no_signing_key', 'the hub has no signing key (set TELEMED_HUB_SIGNING_KEY)');
    if (!link?.up) return fail(reply, 503, 'broker_unavailable', link ? 'the hub is not connected to the broker; try again' : 'the hub has no broker (set AMQP_URL)');
    try {
      return await reply.code(202).send(await rolloutConfig(target, p.data.revision ?? configRevision(), p.data.settings, actor));
    } catch (err) {
      if (err instanceof RolloutError) return fail(reply, err.status, err.code, err.message);
      log.error({ err: { message: (err as Error).message } }, 'configuration rollout failed');
      return fail(reply, 502, 'rollout_failed', 'the broker did not confirm the rollout; try again');
    }
  }

  let closing: Promise<void> | undefined;
  const hub: Hub<Ledger> = {
    ledger, store, app, registry, url: '',
    get online() {
      return link?.up ?? false;
    },
    async start() {
      await ledger.init();
      await refresh();
      if (link) link.start();
      else log.info('no AMQP_URL: the hub runs standalone over what it holds');
      const address = await app.listen({ port: o.port ?? 8090, host: o.host ?? '127.0.0.1' });
      hub.url = `http://127.0.0.1:${new URL(address).port}`;
    },
    nodes,
    rollout,
    rolloutConfig,
    close() {
      closing ??= (async () => {
        if (refreshTimer) clearTimeout(refreshTimer);
        await link?.close();
        await app.close();
        await ledger.close();
        if (ownStore) store?.close();
      })();
      return closing;
    },
  };
  return hub;
}
