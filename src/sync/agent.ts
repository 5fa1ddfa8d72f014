/**
 * The node's sync agent: de-identifies, asks the policy, keeps the outbox and
 * drains it to RabbitMQ in order with publisher confirms; sends heartbeats;
 * reports online/offline and the backlog.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ConfirmChannel } from 'amqplib';
import type { Logger } from '../observability/index.ts';
import { Actions, type Decision, type PolicyEngine, type PolicyInput } from '../policy/index.ts';
import type { Store } from '../store/index.ts';
import { randomUUID, type KeyObject } from 'node:crypto';
import { ed25519Key, verifyBundle, type BundleFileText } from './bundles.ts';
import { verifyConfig } from './configs.ts';
import { freshness, type SignedStamp } from './issued.ts';
import { deidentifyAggregate, nodeLabel, type Heartbeat } from './deidentify.ts';
import { AmqpLink } from './link.ts';
import { Outbox, type OutboxRow } from './outbox.ts';
import { assertFleet, assertNodeQueue, routingKey, topology } from './topology.ts';

/** Kinds of outbound message. Closed: anything else is refused. */
const GROUP = /^[A-Za-z0-9._-]{1,64}$/;

export const MessageKinds = { aggregate: 'aggregate', heartbeat: 'heartbeat', bundle: 'bundle', config: 'config' } as const;
export type MessageKind = (typeof MessageKinds)[keyof typeof MessageKinds];

/** The envelope every node → hub message carries (JSON body; AMQP `messageId` = `id`). */
export interface Envelope {
  v: 1;
  id: string;
  node: string;
  /** Per-node outbox sequence: increasing, gap-free in enqueue order (0 for heartbeats). */
  seq: number;
  kind: MessageKind;
  body: unknown;
}

/**
 * The body of a `bundle` message (node → hub, through the outbox: durable, in
 * order, exactly once at the hub): what became of one bundle the hub sent.
 * Labels only (revisions and closed reason codes), no patient data.
 */
export interface BundleReport {
  /** The revision of the bundle received; absent when it could not be read (`malformed`). */
  revision?: string;
  result: 'applied' | 'refused';
  /** Why it was refused: `unsigned`, `bad_signature`, `malformed`, `stale` (checked by the agent; `stale`: its issuedAt is not newer than the bundle in force's) or `bundle_rejected` (does not compile or fails its own tests). */
  reason?: 'unsigned' | 'bad_signature' | 'malformed' | 'stale' | 'bundle_rejected';
  /** The revision in force on the node after this bundle was handled. */
  inForce: string;
}

/**
 * The body of a `config` message (node → hub, through the outbox like a
 * `bundle` report): what became of one configuration the hub sent. Labels
 * only: the revision, setting names and closed reason codes.
 */
export interface ConfigReport {
  /** The revision received; absent when it could not be read (`malformed`). */
  revision?: string;
  result: 'applied' | 'refused';
  /** Why it was refused: `unsigned`, `bad_signature`, `malformed`, `stale` (checked by the agent; `stale`: its issuedAt is not newer than the configuration in force's), or the node's own check: `unknown_setting`, `not_remote`, `secret`, `invalid_value`, `cannot_apply`. */
  reason?: string;
  /** The setting the refusal is about. */
  key?: string;
  /** Settings of this configuration now in force (applied). */
  applied?: string[];
  /** Settings of this configuration not applied because the node's environment pins them. */
  pinned?: string[];
  /** The configuration revision in force on the node after this one was handled ('' = none from the hub). */
  inForce: string;
}

/** What a node's configuration applier answers for a configuration it put in force. */
export interface ConfigApplied {
  applied: string[];
  pinned: string[];
}

/** A configuration the node refuses whole (nothing of it applied): a closed code and the setting it names. */
export class ConfigRefusal extends Error {
  override readonly name = 'ConfigRefusal';
  constructor(readonly reason: 'unknown_setting' | 'not_remote' | 'secret' | 'invalid_value' | 'malformed' | 'cannot_apply', readonly key: string | undefined, message: string) {
    super(message);
  }
}

export interface SyncAgentOptions {
  store: Store;
  policy: () => PolicyEngine;
  logger: Logger;
  registry?: Registry;
  nodeId: string;
  city: string;
  /** Without it the agent runs standalone: the outbox fills, nothing is sent, status says `standalone`. */
  amqpUrl?: string;
  version?: string;
  /** Exchange/queue name prefix (default `telemed`). */
  prefix?: string;
  /** Rollout groups (labels `[A-Za-z0-9._-]{1,64}`): the node's queue is bound to `group.<g>.#` and its heartbeats list them. */
  groups?: readonly string[];
  heartbeatMs?: number;
  /** Rows published per confirm round. */
  batch?: number;
  reconnect?: { minDelayMs?: number; maxDelayMs?: number };
  /**
   * Signed bundle rollout from the hub: bundles arriving on the node's queue are
   * verified with `publicKey` (Ed25519), checked newer than the one in force
   * (`signed`, else `stale`), and handed to `apply` (with their issuedAt and
   * signature, for the node to keep), which puts them in force or throws (then
   * the bundle is refused and the old one stays).
   */
  bundles?: {
    publicKey: KeyObject | string;
    apply: (files: BundleFileText[], revision: string, signed: { issuedAt: string; sig: string }) => void | Promise<void>;
    /** The signed bundle from the hub in force, as kept by the node (survives restarts); undefined for none. Without it the agent remembers the last one it applied, until it closes. */
    signed?: () => SignedStamp | undefined;
  };
  /**
   * Signed configuration rollout from the hub (`*.config` routing keys): verified
   * with `publicKey` (the hub's, as for bundles), checked newer than the one in
   * force (`signed`, else `stale`) and handed to `apply` (with the signature and
   * issuedAt, so the node can keep it and check it again at start), which
   * checks and puts the settings in force, or throws ({@link ConfigRefusal}: the
   * configuration in force stays). `inForce` is the revision in force ('' for none).
   */
  config?: {
    publicKey: KeyObject | string;
    apply: (revision: string, settings: Record<string, unknown>, sig: string, issuedAt: string) => ConfigApplied | Promise<ConfigApplied>;
    inForce: () => string;
    /** The signed configuration from the hub in force, as kept by the node (survives restarts); undefined for none. Without it the agent remembers the last one it applied, until it closes. */
    signed?: () => SignedStamp | undefined;
  };
  /** Node figures for the heartbeat (no patient data): e.g. the p99 HTTP latency from the node's metrics. */
  report?: () => { p99LatencyMs?: number };
  /** How soon a drain held by a policy refusal asks again (default 5 s; a reloaded bundle may allow). */
  policyRetryMs?: number;
}

export interface SyncStatus {
  state: 'online' | 'offline' | 'standalone';
  backlog: number;
  /** Set while the policy refuses the head of the outbox (its PHI-free reason). */
  blocked?: string;
  lastConfirmAt?: string;
  lastHeartbeatAt?: string;
  /** The last bundle refused (its revision when readable, and the reason code). */
  bundleRefused?: { revision?: string; reason: string };
  /** The last configuration refused (its revision when readable, the reason code and the setting it names). */
  configRefused?: { revision?: string; reason: string; key?: string };
}

export interface EnqueueResult {
  queued: boolean;
  /** Why not, when not queued: a policy reason code. */
  reason?: string;
  seq?: number;
}

export interface SyncAgent {
  start(): void;
  /** De-identifies `payload`, asks the policy and appends it to the outbox; resolves after the commit. Throws DeidentifyError on a payload it cannot clean. */
  enqueue(kind: 'aggregate', payload: Record<string, unknown>): Promise<EnqueueResult>;
  status(): SyncStatus;
  /** The rollout groups from now on: the node's queue is bound to the new ones and unbound from the dropped ones (now when online, else at reconnect); heartbeats list them. */
  setGroups(groups: readonly string[]): Promise<void>;
  /** Resolves when the outbox is empty and the link is up (tests, shutdown with a deadline). */
  drained(): Promise<void>;
  close(): Promise<void>;
}

/** The input of every outbound decision: the seed's shape, destination `hub`, classification `deidentified`. */
export function transferInput(nodeId: string, kind: string): PolicyInput {
  return {
    action: Actions.dataTransfer,
    user: { id: `Device/${nodeId}`, role: 'admin' },
    data_stays_local: false,
    destination: 'hub',
    resource: { type: kind === 'heartbeat' ? 'Heartbeat' : kind === 'bundle' ? 'BundleReport' : kind === 'config' ? 'ConfigReport' : 'Aggregate', classification: 'deidentified' },
  };
}

/** The revision a message from the hub claims (for the refusal report), when it has a readable one; nothing else of it is trusted. */
function claimedRevision(content: Buffer): string | undefined {
  try {
    const r = (JSON.parse(content.toString('utf8')) as { revision?: unknown }).revision;
    return typeof r === 'string' ? nodeLabel(r, 'revision') : undefined;
  } catch {
    return undefined;
  }
}

export function createSyncAgent(o: SyncAgentOptions): SyncAgent {
  const log = o.logger.child({ part: 'sync' });
  const nodeId = nodeLabel(o.nodeId, 'nodeId');
  const city = nodeLabel(o.city, 'city');
  const version = nodeLabel(o.version ?? '0.1.0', 'version');
  const t = topology(o.prefix);
  const outbox = new Outbox(o.store);
  const batch = o.batch ?? 256;
  const registers = o.registry ? [o.registry] : [];
  const published = new Counter({ name: 'sync_messages_confirmed_total', help: 'Outbox messages confirmed by the broker', registers });
  const refused = new Counter({ name: 'sync_policy_refusals_total', help: 'Outbound messages refused by the data_transfer decision, by kind', labelNames: ['kind'], registers });
  const backlogGauge = new Gauge({ name: 'sync_outbox_backlog', help: 'Messages in the outbox waiting for a broker confirm', registers, collect() { this.set(outbox.backlog); } });
  const onlineGauge = new Gauge({ name: 'sync_online', help: '1 while the link to the broker is up', registers });
  void backlogGauge;

  let closed = false;
  let draining = false;
  let blocked: string | undefined;
  let lastConfirmAt: string | undefined;
  let lastHeartbeatAt: string | undefined;
  let retry: NodeJS.Timeout | undefined;
  let waiters: Array<() => void> = [];
  let bundleRefused: SyncStatus['bundleRefused'];
  let groups = [...(o.groups ?? [])];
  for (const g of groups) if (!GROUP.test(g)) throw new TypeError(`bad group ${JSON.stringify(g)}: letters, digits, . _ - (1-64)`);
  /** Groups dropped while the link was down: unbound at the next setup. */
  const unbind = new Set<string>();
  /** The channel the node's queue is consumed on (set in setup, before the link counts as up: a message handled then may change the groups). */
  let consuming: ConfirmChannel | undefined;
  let configRefused: SyncStatus['configRefused'];
  /** The hub message being handled (they are handled one after another). */
  let handling: Promise<void> = Promise.resolve();
  const configKey = o.config ? ed25519Key(o.config.publicKey, 'public') : undefined;
  const configResults = new Counter({ name: 'sync_configs_total', help: 'Configurations received from the hub, by result (applied, refused)', labelNames: ['result'], registers });
  const configInForce = (): string => {
    try {
      return nodeLabel(o.config?.inForce() ?? '', 'config');
    } catch {
      return 'unlabelled';
    }
  };
  const SETTING = /^[A-Za-z?][A-Za-z0-9_]{0,63}$/;

  /** The signed message in force per kind, when the node does not say (tests, tools): the last one applied here. */
  const applied: { bundle?: SignedStamp; config?: SignedStamp } = {};
  const inForceStamp = (kind: 'bundle' | 'config'): SignedStamp | undefined => {
    const fromNode = kind === 'bundle' ? o.bundles?.signed : o.config?.signed;
    return fromNode ? fromNode() : applied[kind];
  };
  /** Logs a replayed or out-of-order message (labels only: revisions and times, never content). */
  const logStale = (kind: 'bundle' | 'config', m: { revision: string; issuedAt: string }, inForce: SignedStamp | undefined) =>
    log.warn({ kind, revision: m.revision, issuedAt: m.issuedAt, inForce: inForce ? { revision: inForce.revision, issuedAt: inForce.issuedAt } : null },
      `${kind === 'bundle' ? 'bundle' : 'configuration'} from the hub refused: stale (issued no later than the one in force: a replay, or older than what the node has); the one in force stays`);

  const onConfig = async (content: Buffer): Promise<void> => {
    if (!o.config || !configKey) return;
    // An unverified message is never compared: only signed claims count.
    const check = verifyConfig(content, configKey);
    const revision = claimedRevision(content);
    const before = check.ok ? inForceStamp('config') : undefined;
    if (!check.ok || check.issuedAt === null) {
      // (issuedAt is null only for a kept file read with `kept: true`, never here.)
      configRefused = { ...(revision ? { revision } : {}), reason: check.ok ? 'malformed' : check.reason };
    } else if (freshness({ ...check, issuedAt: check.issuedAt }, before) === 'stale') {
      configRefused = { revision: check.revision, reason: 'stale' };
      logStale('config', { revision: check.revision, issuedAt: check.issuedAt }, before);
    } else {
      try {
        const done = await o.config.apply(check.revision, check.settings, check.sig, check.issuedAt);
        applied.config = { revision: check.revision, issuedAt: check.issuedAt, sig: check.sig };
        configResults.inc({ result: 'applied' });
        log.info({ revision: check.revision, applied: done.applied, pinned: done.pinned }, 'configuration from the hub in force');
        await report(MessageKinds.config, { revision: check.revision, result: 'applied', applied: done.applied, pinned: done.pinned, inForce: configInForce() } satisfies ConfigReport);
        void heartbeat();
        return;
      } catch (err) {
        const e = err instanceof ConfigRefusal ? err : new ConfigRefusal('cannot_apply', undefined, (err as Error).message);
        configRefused = { revision: check.revision, reason: e.reason, ...(e.key && SETTING.test(e.key) ? { key: e.key } : {}) };
        log.warn({ revision: check.revision, reason: e.reason, key: configRefused.key, message: e.message }, 'configuration from the hub refused whole; the one in force stays');
      }
    }
    configResults.inc({ result: 'refused' });
    if (!check.ok) log.warn({ ...configRefused }, 'configuration from the hub refused; the one in force stays');
    await report(MessageKinds.config, { ...configRefused, result: 'refused', inForce: configInForce() } as ConfigReport);
    void heartbeat();
  };
  const bundleKey = o.bundles ? ed25519Key(o.bundles.publicKey, 'public') : undefined;
  const bundleResults = new Counter({ name: 'sync_bundles_total', help: 'Bundles received from the hub, by result (applied, refused)', labelNames: ['result'], registers });

  const onBundle = async (content: Buffer): Promise<void> => {
    if (!o.bundles || !bundleKey) return;
    // An unverified message is never compared: only signed claims count.
    const check = verifyBundle(content, bundleKey);
    const revision = claimedRevision(content);
    const before = check.ok ? inForceStamp('bundle') : undefined;
    if (!check.ok) {
      bundleRefused = { ...(revision ? { revision } : {}), reason: check.reason };
    } else if (freshness(check, before) === 'stale') {
      bundleRefused = { revision: check.revision, reason: 'stale' };
      logStale('bundle', check, before);
    } else {
      try {
        await o.bundles.apply(check.files, check.revision, { issuedAt: check.issuedAt, sig: check.sig });
        applied.bundle = { revision: check.revision, issuedAt: check.issuedAt, sig: check.sig };
        bundleResults.inc({ result: 'applied' });
        log.info({ revision: check.revision }, 'bundle from the hub in force');
        await report(MessageKinds.bundle, { revision: check.revision, result: 'applied', inForce: inForce() } satisfies BundleReport);
        void heartbeat();
        return;
      } catch (err) {
        bundleRefused = { revision: check.revision, reason: 'bundle_rejected' };
        log.warn({ revision: check.revision, err: { message: (err as Error).message } }, 'bundle from the hub does not load; the old one stays');
      }
    }
    bundleResults.inc({ result: 'refused' });
    if (bundleRefused?.reason !== 'stale') log.warn({ ...bundleRefused }, 'bundle from the hub refused; the old one stays');
    await report(MessageKinds.bundle, { ...bundleRefused, result: 'refused', inForce: inForce() } as BundleReport);
    void heartbeat();
  };

  const inForce = (): string => {
    try {
      return nodeLabel(o.policy().revision, 'bundle');
    } catch {
      return 'unlabelled';
    }
  };

  /** Tells the hub what became of a bundle or a configuration: a `bundle` or `config` message through the outbox, after the data_transfer decision. */
  const report = async (kind: 'bundle' | 'config', body: BundleReport | ConfigReport): Promise<void> => {
    try {
      if (!decide(kind).allow) return;
      await outbox.append(kind, JSON.stringify(body));
      kick();
    } catch (err) {
      log.warn({ kind, err: { message: (err as Error).message } }, 'report not queued');
    }
  };

  const decide = (kind: string): Decision => {
    let d: Decision;
    try {
      d = o.policy().decide(transferInput(nodeId, kind));
    } catch {
      d = { allow: false, reason: 'policy_error' };
    }
    if (!d.allow) refused.inc({ kind });
    return d;
  };

  const link = o.amqpUrl
    ? new AmqpLink({
        url: o.amqpUrl,
        logger: o.logger,
        name: `telemed-edge node ${nodeId}`,
        ...o.reconnect,
        setup: async (ch) => {
          await assertFleet(ch, t);
          consuming = ch;
          const q = await assertNodeQueue(ch, t, nodeId, groups);
          for (const g of [...unbind]) {
            if (groups.includes(g)) unbind.delete(g);
            else {
              await ch.unbindQueue(q, t.control, `group.${g}.#`);
              unbind.delete(g);
            }
          }
          if (o.bundles || o.config) {
            await ch.prefetch(1);
            await ch.consume(q, (msg) => {
              if (msg === null) return;
              // The kind is the routing key's last word: node.<id>.bundle, group.<g>.config, all.config ...
              const kind = msg.fields.routingKey.slice(msg.fields.routingKey.lastIndexOf('.') + 1);
              const handle = kind === 'config' && o.config ? onConfig : kind === 'bundle' && o.bundles ? onBundle
                : async () => log.warn({ kind: /^[a-z]{1,20}$/.test(kind) ? kind : '?' }, 'message of a kind this node does not take from the hub dropped');
              // Acked after it was applied or refused: nothing is lost with a cut link, and a refused one does not loop.
              // One at a time, in order, across channels too: each is compared with what the one before put in force.
              handling = handling
                .then(() => handle(msg.content))
                .catch((err: Error) => log.error({ kind, err: { message: err.message } }, 'hub message handling failed'))
                .finally(() => {
                  try {
                    ch.ack(msg);
                  } catch {
                    // channel gone: redelivered on reconnect, applied again (idempotent).
                  }
                });
            }, { noAck: false });
          }
        },
        onUp: () => {
          onlineGauge.set(1);
          void heartbeat();
          kick();
        },
        onDown: () => {
          consuming = undefined;
          onlineGauge.set(0);
        },
      })
    : undefined;

  const settle = () => {
    if (outbox.backlog === 0 && link?.up) {
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    }
  };

  const publishBatch = (ch: ConfirmChannel, rows: OutboxRow[]): Promise<void> =>
    new Promise((resolve, reject) => {
      let pending = rows.length;
      let failed = false;
      for (const r of rows) {
        const env: Envelope = { v: 1, id: r.id, node: nodeId, seq: r.seq, kind: r.kind as MessageKind, body: JSON.parse(r.body) as unknown };
        ch.publish(t.fleet, routingKey(nodeId, r.kind), Buffer.from(JSON.stringify(env)),
          { persistent: true, messageId: r.id, contentType: 'application/json', type: r.kind },
          (err) => {
            if (failed) return;
            if (err) {
              failed = true;
              reject(err instanceof Error ? err : new Error('nacked'));
            } else if (--pending === 0) resolve();
          });
      }
    });

  /** Drains the outbox head-first; one round in flight at a time so the order holds. */
  const drain = async (): Promise<void> => {
    if (draining || closed) return;
    draining = true;
    try {
      for (;;) {
        const ch = link?.channel;
        if (!ch || closed) return;
        const rows = outbox.head(batch);
        if (rows.length === 0) return;
        // Every outbound message asks the policy; a refusal holds the queue (order kept) until the policy changes.
        let allowed = rows.length;
        for (let i = 0; i < rows.length; i++) {
          const d = decide(rows[i]!.kind);
          if (!d.allow) {
            allowed = i;
            if (blocked !== d.reason) log.warn({ reason: d.reason, backlog: outbox.backlog }, 'outbox held: data_transfer refused');
            blocked = d.reason;
            break;
          }
        }
        if (allowed === 0) {
          later(o.policyRetryMs ?? 5000);
          return;
        }
        blocked = undefined;
        const send = rows.slice(0, allowed);
        try {
          await publishBatch(ch, send);
        } catch (err) {
          log.warn({ err: { message: (err as Error).message }, backlog: outbox.backlog }, 'publish not confirmed; will resend from the head');
          // A nack on the live channel: start over on a fresh one. A channel already replaced (the link came back
          // while this round waited) is left alone: the new link's drain resends from the head.
          if (link?.channel === ch) link.reset();
          return;
        }
        await outbox.confirm(send[send.length - 1]!.seq);
        published.inc(send.length);
        lastConfirmAt = new Date().toISOString();
        if (allowed < rows.length) {
          later(o.policyRetryMs ?? 5000);
          return;
        }
      }
    } finally {
      draining = false;
      settle();
      if (!closed && link?.up && outbox.backlog > 0 && blocked === undefined && !retry) setImmediate(kick);
    }
  };

  const later = (ms: number) => {
    if (retry || closed) return;
    retry = setTimeout(() => {
      retry = undefined;
      kick();
    }, ms);
    retry.unref();
  };

  const kick = () => {
    void drain().catch((err: Error) => log.error({ err: { message: err.message } }, 'drain failed'));
  };

  const heartbeat = async (): Promise<void> => {
    const ch = link?.channel;
    if (!ch || closed) return;
    if (!decide(MessageKinds.heartbeat).allow) return;
    const revision = inForce();
    const body: Heartbeat = {
      node: nodeId, city, version, bundle: revision, backlog: outbox.backlog, sentAt: new Date().toISOString().slice(0, 19) + 'Z',
      ...(bundleRefused ? { bundleRefused } : {}),
      ...(o.config ? { config: configInForce() } : {}),
      ...(configRefused ? { configRefused } : {}),
      ...(groups.length > 0 ? { groups } : {}),
      ...figures(),
    };
    const env: Envelope = { v: 1, id: `hb-${randomUUID()}`, node: nodeId, seq: 0, kind: 'heartbeat', body };
    // Heartbeats are not kept in the outbox: a stale one is worth nothing. Sent non-persistent, expiring.
    try {
      ch.publish(t.fleet, routingKey(nodeId, 'heartbeat'), Buffer.from(JSON.stringify(env)),
        { persistent: false, messageId: env.id, contentType: 'application/json', type: 'heartbeat', expiration: String(o.heartbeatMs ?? 10_000) },
        (err) => {
          if (!err) lastHeartbeatAt = body.sentAt;
        });
    } catch {
      // The channel is closing: the link reconnects and the next heartbeat goes then.
    }
  };
  let hbTimer: NodeJS.Timeout | undefined;

  function figures(): { p99LatencyMs?: number } {
    try {
      const p99 = o.report?.().p99LatencyMs;
      return typeof p99 === 'number' && Number.isFinite(p99) && p99 >= 0 ? { p99LatencyMs: Math.round(p99 * 10) / 10 } : {};
    } catch {
      return {};
    }
  }

  return {
    start() {
      if (!link) {
        log.info({ node: nodeId }, 'no AMQP_URL: sync standalone, the outbox keeps what the hub will get');
        return;
      }
      link.start();
      hbTimer = setInterval(() => void heartbeat(), o.heartbeatMs ?? 10_000);
      hbTimer.unref();
    },
    async enqueue(kind, payload) {
      if (kind !== MessageKinds.aggregate) throw new TypeError(`unknown message kind ${String(kind)}`);
      const body = deidentifyAggregate(payload);
      const d = decide(kind);
      if (!d.allow) return { queued: false, reason: d.reason };
      const { seq } = await outbox.append(kind, JSON.stringify(body));
      kick();
      return { queued: true, seq };
    },
    status() {
      return {
        state: !link ? 'standalone' : link.up ? 'online' : 'offline',
        backlog: outbox.backlog,
        ...(blocked ? { blocked } : {}),
        ...(lastConfirmAt ? { lastConfirmAt } : {}),
        ...(lastHeartbeatAt ? { lastHeartbeatAt } : {}),
        ...(bundleRefused ? { bundleRefused } : {}),
        ...(configRefused ? { configRefused } : {}),
      };
    },
    async setGroups(next) {
      for (const g of next) if (!GROUP.test(g)) throw new TypeError(`bad group ${JSON.stringify(g)}: letters, digits, . _ - (1-64)`);
      const before = groups;
      groups = [...new Set(next)];
      for (const g of before) if (!groups.includes(g)) unbind.add(g);
      for (const g of groups) unbind.delete(g);
      const ch = link?.channel ?? consuming;
      if (!ch) return; // at the next setup
      const q = t.nodeQueue(nodeId);
      try {
        for (const g of groups) if (!before.includes(g)) await ch.bindQueue(q, t.control, `group.${g}.#`);
        for (const g of [...unbind]) {
          await ch.unbindQueue(q, t.control, `group.${g}.#`);
          unbind.delete(g);
        }
      } catch (err) {
        // The channel broke: the link sets up again with the new groups.
        log.warn({ err: { message: (err as Error).message } }, 'group bindings not changed yet; done at reconnect');
      }
      void heartbeat();
    },
    drained() {
      return new Promise((resolve) => {
        waiters.push(resolve);
        settle();
        kick();
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      if (hbTimer) clearInterval(hbTimer);
      if (retry) clearTimeout(retry);
      await link?.close();
      onlineGauge.set(0);
    },
  };
}
