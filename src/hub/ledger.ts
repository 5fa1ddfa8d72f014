/**
 * The hub's ledger: every message id recorded once (the effect at the hub is
 * exactly once however often the broker redelivers), the fleet registry, the
 * aggregates summed per node, metric and hour, and the rollouts with their
 * status per node.
 *
 * One interface ({@link Ledger}), two stores: SQLite (the default, this file)
 * and PostgreSQL (`ledger-pg.ts`). Both record a message id under a unique key
 * in the same transaction as its effect, and resolve only after the commit:
 * the hub acks after that.
 */
import type { Migration, Store } from '../store/index.ts';
import { nextIssuedAt } from '../sync/index.ts';

export const HUB_MIGRATIONS: Migration[] = [
  {
    name: 'hub-1-ledger',
    sql: `
      CREATE TABLE hub_message (
        id TEXT PRIMARY KEY,
        node TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        received_at TEXT NOT NULL
      ) STRICT;
      CREATE INDEX hub_message_node_seq ON hub_message (node, seq);
      CREATE TABLE hub_node (
        id TEXT PRIMARY KEY,
        city TEXT NOT NULL DEFAULT '',
        version TEXT NOT NULL DEFAULT '',
        bundle TEXT NOT NULL DEFAULT '',
        backlog INTEGER NOT NULL DEFAULT 0,
        last_heartbeat TEXT,
        last_seen TEXT NOT NULL,
        messages INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      CREATE TABLE hub_aggregate (
        node TEXT NOT NULL,
        metric TEXT NOT NULL,
        period TEXT NOT NULL,
        count INTEGER NOT NULL,
        sum REAL NOT NULL,
        PRIMARY KEY (node, metric, period)
      ) STRICT;`,
  },
  { name: 'hub-2-bundle-refused', sql: 'ALTER TABLE hub_node ADD COLUMN bundle_refused TEXT;' },
  { name: 'hub-3-p99', sql: 'ALTER TABLE hub_node ADD COLUMN p99_ms REAL;' },
  {
    name: 'hub-4-rollouts',
    sql: `
      ALTER TABLE hub_node ADD COLUMN groups TEXT NOT NULL DEFAULT '';
      CREATE TABLE hub_rollout (
        id TEXT PRIMARY KEY,
        revision TEXT NOT NULL,
        target_kind TEXT NOT NULL,
        target TEXT NOT NULL,
        files INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        state TEXT NOT NULL,
        error TEXT,
        created_at TEXT NOT NULL,
        published_at TEXT
      ) STRICT;
      CREATE INDEX hub_rollout_revision ON hub_rollout (revision);
      CREATE TABLE hub_rollout_node (
        rollout TEXT NOT NULL REFERENCES hub_rollout (id),
        node TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (rollout, node)
      ) STRICT;
      CREATE INDEX hub_rollout_node_status ON hub_rollout_node (node, status);`,
  },
  { name: 'hub-5-rollout-actor', sql: 'ALTER TABLE hub_rollout ADD COLUMN actor TEXT;' },
  {
    name: 'hub-6-config-rollouts',
    sql: `
      ALTER TABLE hub_rollout ADD COLUMN kind TEXT NOT NULL DEFAULT 'bundle';
      ALTER TABLE hub_rollout ADD COLUMN settings TEXT;
      ALTER TABLE hub_node ADD COLUMN config TEXT NOT NULL DEFAULT '';
      ALTER TABLE hub_node ADD COLUMN config_refused TEXT;`,
  },
  {
    // The signed issue time of each rollout (replay protection): the next of a kind is issued after the last one kept here.
    name: 'hub-7-rollout-issued-at',
    sql: `
      ALTER TABLE hub_rollout ADD COLUMN issued_at TEXT;
      CREATE INDEX hub_rollout_kind_issued ON hub_rollout (kind, issued_at);`,
  },
];

const NODE_LABEL = /^[A-Za-z0-9 ._:/-]{1,100}$/;
const GROUP = /^[A-Za-z0-9._-]{1,64}$/;

/** A message as the hub accepts it; anything else is refused at parse. */
export interface Incoming {
  id: string;
  node: string;
  seq: number;
  kind: 'aggregate' | 'heartbeat' | 'bundle' | 'config';
  body: Record<string, unknown>;
}

/** Parses and checks one message body; undefined when it is not a valid envelope. */
export function parseIncoming(content: Buffer): Incoming | undefined {
  let v: unknown;
  try {
    v = JSON.parse(content.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const e = v as Record<string, unknown>;
  if (e.v !== 1 || typeof e.id !== 'string' || e.id.length > 100 || typeof e.node !== 'string' || !NODE_LABEL.test(e.node)) return undefined;
  if (typeof e.seq !== 'number' || !Number.isSafeInteger(e.seq) || e.seq < 0) return undefined;
  if (e.kind !== 'aggregate' && e.kind !== 'heartbeat' && e.kind !== 'bundle' && e.kind !== 'config') return undefined;
  if (typeof e.body !== 'object' || e.body === null) return undefined;
  return { id: e.id, node: e.node, seq: e.seq, kind: e.kind, body: e.body as Record<string, unknown> };
}

const str = (v: unknown): string => (typeof v === 'string' && NODE_LABEL.test(v) ? v : '');
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

/** The registry fields a heartbeat carries, checked (labels only, no free text). */
export interface HeartbeatFields {
  city: string;
  version: string;
  bundle: string;
  backlog: number;
  /** `revision: reason` of the last bundle the node refused, or null. */
  refused: string | null;
  refusedRevision: string | null;
  refusedReason: string | null;
  p99: number | null;
  /** Comma-separated groups, when the node reports them (empty otherwise). */
  groups: string;
  /** The configuration revision from the hub in force ('' for none or not reported). */
  config: string;
  /** `revision: reason[: key]` of the last configuration the node refused, or null. */
  configRefused: string | null;
  configRefusedRevision: string | null;
  configRefusedReason: string | null;
}

export function heartbeatFields(b: Record<string, unknown>): HeartbeatFields {
  const r = b.bundleRefused as { revision?: unknown; reason?: unknown } | undefined;
  const reason = r && typeof r === 'object' ? str(r.reason) : '';
  const refusedRevision = reason ? str(r!.revision) || '?' : null;
  const p99 = typeof b.p99LatencyMs === 'number' && Number.isFinite(b.p99LatencyMs) && b.p99LatencyMs >= 0 ? b.p99LatencyMs : null;
  const groups = Array.isArray(b.groups) ? b.groups.filter((g): g is string => typeof g === 'string' && GROUP.test(g)).slice(0, 32).join(',') : '';
  const cr = b.configRefused && typeof b.configRefused === 'object' ? configRefusal(b.configRefused as Record<string, unknown>) : undefined;
  const configRefusedRevision = cr ? str((b.configRefused as Record<string, unknown>).revision) || '?' : null;
  return {
    city: str(b.city), version: str(b.version), bundle: str(b.bundle), backlog: Math.round(num(b.backlog)),
    refused: reason ? `${refusedRevision}: ${reason}` : null, refusedRevision, refusedReason: reason || null, p99, groups,
    config: str(b.config),
    configRefused: cr ? `${configRefusedRevision}: ${cr}` : null, configRefusedRevision, configRefusedReason: cr ?? null,
  };
}

const CONFIG_REASONS = new Set(['unsigned', 'bad_signature', 'malformed', 'stale', 'unknown_setting', 'not_remote', 'secret', 'invalid_value', 'cannot_apply']);
const SETTING = /^[A-Za-z?][A-Za-z0-9_]{0,63}$/;

/** A node's configuration refusal as one label: `reason` or `reason: key` (closed codes, setting names). */
function configRefusal(b: Record<string, unknown>): string | undefined {
  if (typeof b.reason !== 'string' || !CONFIG_REASONS.has(b.reason)) return undefined;
  return typeof b.key === 'string' && SETTING.test(b.key) ? `${b.reason}: ${b.key}` : b.reason;
}

/** The rollout effect of a `config` report: the node's status for that configuration revision (labels only), or undefined. */
export function configFields(b: Record<string, unknown>): { revision: string; status: 'active' | 'refused'; reason: string | null } | undefined {
  const revision = str(b.revision);
  if (!revision) return undefined;
  if (b.result === 'applied') return { revision, status: 'active', reason: null };
  const reason = b.result === 'refused' ? configRefusal(b) : undefined;
  return reason ? { revision, status: 'refused', reason } : undefined;
}

/** The aggregate effect of a message: its metric and period when both are valid labels. */
export function aggregateFields(b: Record<string, unknown>): { metric: string; period: string; count: number; sum: number } | undefined {
  const metric = str(b.metric);
  const period = str(b.period);
  return metric && period ? { metric, period, count: Math.round(num(b.count)), sum: num(b.sum) } : undefined;
}

const BUNDLE_REASONS = new Set(['unsigned', 'bad_signature', 'malformed', 'stale', 'bundle_rejected']);

/**
 * The rollout effect of a `bundle` report: the node's status for that revision.
 * Undefined when the report names no readable revision or is not valid (it is
 * still recorded once, so the node's sequence has no gap); labels only.
 */
export function bundleFields(b: Record<string, unknown>): { revision: string; status: 'active' | 'refused'; reason: string | null } | undefined {
  const revision = str(b.revision);
  if (!revision) return undefined;
  if (b.result === 'applied') return { revision, status: 'active', reason: null };
  if (b.result === 'refused' && typeof b.reason === 'string' && BUNDLE_REASONS.has(b.reason)) return { revision, status: 'refused', reason: b.reason };
  return undefined;
}

/** One row of the fleet registry. */
export interface NodeRow {
  id: string;
  city: string;
  version: string;
  bundle: string;
  backlog: number;
  last_heartbeat: string | null;
  last_seen: string;
  messages: number;
  calls_today: number;
  bundle_refused: string | null;
  p99_ms: number | null;
  groups: string;
  config: string;
  config_refused: string | null;
}

/** Who a rollout is for. */
export type RolloutTarget = { node: string } | { group: string } | { all: true };

export type RolloutNodeStatus = 'pending' | 'active' | 'refused';

export type RolloutKind = 'bundle' | 'config';

/** A rollout as recorded: `state` is the hub's publish (publishing, published, failed); each node has its own status. */
export interface RolloutRecord {
  id: string;
  /** A policy bundle or a configuration of node settings. */
  kind: RolloutKind;
  revision: string;
  target: RolloutTarget;
  /** Files of a bundle; settings of a configuration. */
  files: number;
  /** A configuration's settings (never secrets: the hub refuses those). */
  settings?: Record<string, unknown>;
  sha256: string;
  state: 'publishing' | 'published' | 'failed';
  error: string | null;
  createdAt: string;
  publishedAt: string | null;
  /** The signed issue time (ISO-8601 UTC, ms): strictly after every earlier rollout of its kind; null for rollouts recorded before it existed. */
  issuedAt: string | null;
  /** Who made it: the signed-in admin (`preferred_username`, else `sub`), `admin-token`, or null (no record: made before actors were recorded, or through `hub.rollout` without one). */
  actor: string | null;
  nodes: Array<{ node: string; status: RolloutNodeStatus; reason: string | null; updatedAt: string }>;
}

export interface NewRollout {
  id: string;
  /** Default `bundle`. */
  kind?: RolloutKind;
  /** A configuration's settings. */
  settings?: Record<string, unknown>;
  revision: string;
  target: RolloutTarget;
  files: number;
  sha256: string;
  /** Nodes expected to take it (known to the registry at rollout time), each recorded `pending`. */
  nodes: string[];
  /** Who made it (staff identity, not PHI). */
  actor?: string | null;
  /** The hub's clock at signing (default: now). The rollout is issued at this time, or 1 ms after the last rollout of its kind when that is not earlier. */
  now?: Date;
}

export const targetParts = (t: RolloutTarget): { kind: 'node' | 'group' | 'all'; value: string } =>
  'node' in t ? { kind: 'node', value: t.node } : 'group' in t ? { kind: 'group', value: t.group } : { kind: 'all', value: '' };

export const targetOf = (kind: string, value: string): RolloutTarget =>
  kind === 'node' ? { node: value } : kind === 'group' ? { group: value } : { all: true };

/** What both stores offer the hub. Every method resolves after its commit (writes) or with committed data (reads). */
export interface Ledger {
  readonly kind: 'sqlite' | 'postgres';
  /** Creates or updates the schema (idempotent). */
  init(): Promise<void>;
  /** Records one message; resolves after the commit to true when it was new, false for a duplicate (heartbeats: always true). */
  record(m: Incoming): Promise<boolean>;
  /** Count of distinct messages recorded, for one node or all. */
  messageCount(node?: string): Promise<number>;
  /** The sequence numbers recorded for a node, ascending (gap checks). */
  messageSeqs(node: string): Promise<number[]>;
  /** The summed count of one metric for a node over every period. */
  aggregateCount(node: string, metric: string): Promise<number>;
  /** The fleet registry, ordered by node id; `calls_today` sums today's (UTC) consultations. */
  nodeRows(): Promise<NodeRow[]>;
  /** Registry nodes a target reaches: one node, the nodes reporting a group, or all. */
  targetNodes(target: RolloutTarget): Promise<string[]>;
  /**
   * Records a rollout, each target node `pending`, and issues it: resolves to
   * its `issuedAt`, max(`r.now`, last of its kind + 1 ms), decided in the same
   * transaction as the record so that two rollouts never share one.
   */
  createRollout(r: NewRollout): Promise<string>;
  rolloutPublished(id: string, at: string): Promise<void>;
  rolloutFailed(id: string, error: string): Promise<void>;
  rollouts(limit?: number): Promise<RolloutRecord[]>;
  rollout(id: string): Promise<RolloutRecord | undefined>;
  close(): Promise<void>;
}

interface RolloutRow {
  id: string; kind?: string; settings?: string | null; revision: string; target_kind: string; target: string; files: number; sha256: string;
  state: RolloutRecord['state']; error: string | null; created_at: string; published_at: string | null; actor?: string | null; issued_at?: string | null;
}

export function rolloutFromRows(r: RolloutRow, nodes: Array<{ node: string; status: string; reason: string | null; updated_at: string }>): RolloutRecord {
  const kind: RolloutKind = r.kind === 'config' ? 'config' : 'bundle';
  let settings: Record<string, unknown> | undefined;
  if (kind === 'config' && r.settings) {
    try {
      settings = JSON.parse(r.settings) as Record<string, unknown>;
    } catch {
      settings = undefined;
    }
  }
  return {
    id: r.id, kind, revision: r.revision, target: targetOf(r.target_kind, r.target), files: Number(r.files), ...(settings ? { settings } : {}), sha256: r.sha256,
    state: r.state, error: r.error, createdAt: r.created_at, publishedAt: r.published_at, issuedAt: r.issued_at ?? null, actor: r.actor ?? null,
    nodes: nodes.map((n) => ({ node: n.node, status: n.status as RolloutNodeStatus, reason: n.reason, updatedAt: n.updated_at })),
  };
}

/** The ledger on the hub's SQLite store (the default). Its sync readers (`messages`, `seqs`, `nodes`) serve tests and tools. */
export class SqliteLedger implements Ledger {
  readonly kind = 'sqlite' as const;
  readonly store: Store;

  constructor(store: Store) {
    this.store = store;
    store.migrate(HUB_MIGRATIONS);
  }

  async init(): Promise<void> {
    // Migrated in the constructor: the sync readers work before start.
  }

  record(m: Incoming): Promise<boolean> {
    const now = new Date().toISOString();
    return this.store.write((db) => {
      const before = db.prepare('SELECT bundle, config FROM hub_node WHERE id = ?').get(m.node) as { bundle: string; config: string } | undefined;
      db.prepare(`INSERT INTO hub_node (id, last_seen) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen`).run(m.node, now);
      if (m.kind === 'heartbeat') {
        const h = heartbeatFields(m.body);
        db.prepare('UPDATE hub_node SET city = ?, version = ?, bundle = ?, backlog = ?, last_heartbeat = ?, bundle_refused = ?, p99_ms = ?, groups = ?, config = ?, config_refused = ? WHERE id = ?')
          .run(h.city, h.version, h.bundle, h.backlog, now, h.refused, h.p99, h.groups, h.config, h.configRefused, m.node);
        // The revision a node reports in force is active for it; its last refusal, refused (while pending). Per kind.
        for (const [kind, inForce, was, refusedRevision, refusedReason] of [
          ['bundle', h.bundle, before?.bundle, h.refusedRevision, h.refusedReason],
          ['config', h.config, before?.config, h.configRefusedRevision, h.configRefusedReason],
        ] as const) {
          if (inForce && inForce !== was) {
            // A group rollout's nodes are known only when they report it (heartbeats may not carry groups).
            db.prepare(`INSERT OR IGNORE INTO hub_rollout_node (rollout, node, status, reason, updated_at)
              SELECT id, ?, 'active', NULL, ? FROM hub_rollout WHERE revision = ? AND kind = ? AND target_kind = 'group'`).run(m.node, now, inForce, kind);
          }
          if (inForce) {
            db.prepare(`UPDATE hub_rollout_node SET status = 'active', reason = NULL, updated_at = ?
              WHERE node = ? AND status <> 'active' AND rollout IN (SELECT id FROM hub_rollout WHERE revision = ? AND kind = ?)`).run(now, m.node, inForce, kind);
          }
          if (refusedRevision && refusedRevision !== inForce) {
            db.prepare(`UPDATE hub_rollout_node SET status = 'refused', reason = ?, updated_at = ?
              WHERE node = ? AND status = 'pending' AND rollout IN (SELECT id FROM hub_rollout WHERE revision = ? AND kind = ?)`).run(refusedReason, now, m.node, refusedRevision, kind);
          }
        }
        return true;
      }
      const fresh = db.prepare('INSERT OR IGNORE INTO hub_message (id, node, seq, kind, received_at) VALUES (?, ?, ?, ?, ?)')
        .run(m.id, m.node, m.seq, m.kind, now).changes === 1;
      if (!fresh) return false;
      db.prepare('UPDATE hub_node SET messages = messages + 1 WHERE id = ?').run(m.node);
      const a = m.kind === 'aggregate' ? aggregateFields(m.body) : undefined;
      if (a) {
        db.prepare(`INSERT INTO hub_aggregate (node, metric, period, count, sum) VALUES (?, ?, ?, ?, ?)
          ON CONFLICT (node, metric, period) DO UPDATE SET count = count + excluded.count, sum = sum + excluded.sum`)
          .run(m.node, a.metric, a.period, a.count, a.sum);
      }
      const r = m.kind === 'bundle' ? bundleFields(m.body) : m.kind === 'config' ? configFields(m.body) : undefined;
      if (r) {
        // A group rollout's nodes are known only when they report it.
        db.prepare(`INSERT OR IGNORE INTO hub_rollout_node (rollout, node, status, reason, updated_at)
          SELECT id, ?, ?, ?, ? FROM hub_rollout WHERE revision = ? AND kind = ? AND target_kind = 'group'`).run(m.node, r.status, r.reason, now, r.revision, m.kind);
        db.prepare(`UPDATE hub_rollout_node SET status = ?, reason = ?, updated_at = ?
          WHERE node = ? AND ${r.status === 'active' ? "status <> 'active'" : "status = 'pending'"} AND rollout IN (SELECT id FROM hub_rollout WHERE revision = ? AND kind = ?)`)
          .run(r.status, r.reason, now, m.node, r.revision, m.kind);
      }
      return true;
    });
  }

  /** Count of distinct messages recorded, for one node or all (sync). */
  messages(node?: string): number {
    const db = this.store.db;
    return (node === undefined
      ? db.prepare('SELECT count(*) FROM hub_message').pluck().get()
      : db.prepare('SELECT count(*) FROM hub_message WHERE node = ?').pluck().get(node)) as number;
  }

  /** The sequence numbers recorded for a node, ascending (sync). */
  seqs(node: string): number[] {
    return this.store.db.prepare('SELECT seq FROM hub_message WHERE node = ? ORDER BY seq').pluck().all(node) as number[];
  }

  /** The fleet registry (sync). */
  nodes(): NodeRow[] {
    const today = new Date().toISOString().slice(0, 10);
    return this.store.db.prepare(`
      SELECT n.id, n.city, n.version, n.bundle, n.backlog, n.last_heartbeat, n.last_seen, n.messages, n.bundle_refused, n.p99_ms, n.groups, n.config, n.config_refused,
        coalesce((SELECT sum(count) FROM hub_aggregate a WHERE a.node = n.id AND a.metric = 'consultations' AND a.period LIKE ? || '%'), 0) AS calls_today
      FROM hub_node n ORDER BY n.id`).all(today) as NodeRow[];
  }

  async messageCount(node?: string): Promise<number> {
    return this.messages(node);
  }

  async messageSeqs(node: string): Promise<number[]> {
    return this.seqs(node);
  }

  async aggregateCount(node: string, metric: string): Promise<number> {
    return this.store.db.prepare('SELECT coalesce(sum(count), 0) FROM hub_aggregate WHERE node = ? AND metric = ?').pluck().get(node, metric) as number;
  }

  async nodeRows(): Promise<NodeRow[]> {
    return this.nodes();
  }

  async targetNodes(target: RolloutTarget): Promise<string[]> {
    if ('node' in target) return [target.node];
    const rows = this.store.db.prepare('SELECT id, groups FROM hub_node ORDER BY id').all() as Array<{ id: string; groups: string }>;
    return 'group' in target ? rows.filter((r) => r.groups.split(',').includes(target.group)).map((r) => r.id) : rows.map((r) => r.id);
  }

  async createRollout(r: NewRollout): Promise<string> {
    const now = new Date().toISOString();
    const { kind, value } = targetParts(r.target);
    const rolloutKind = r.kind ?? 'bundle';
    return this.store.write((db) => {
      const last = db.prepare('SELECT max(issued_at) FROM hub_rollout WHERE kind = ?').pluck().get(rolloutKind) as string | null;
      const issuedAt = nextIssuedAt(r.now ?? new Date(), last);
      db.prepare(`INSERT INTO hub_rollout (id, kind, settings, revision, target_kind, target, files, sha256, state, created_at, actor, issued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'publishing', ?, ?, ?)`)
        .run(r.id, rolloutKind, r.settings ? JSON.stringify(r.settings) : null, r.revision, kind, value, r.files, r.sha256, now, r.actor ?? null, issuedAt);
      const add = db.prepare(`INSERT INTO hub_rollout_node (rollout, node, status, updated_at) VALUES (?, ?, 'pending', ?)`);
      for (const n of r.nodes) add.run(r.id, n, now);
      return issuedAt;
    });
  }

  async rolloutPublished(id: string, at: string): Promise<void> {
    await this.store.write((db) => db.prepare(`UPDATE hub_rollout SET state = 'published', published_at = ? WHERE id = ?`).run(at, id));
  }

  async rolloutFailed(id: string, error: string): Promise<void> {
    await this.store.write((db) => db.prepare(`UPDATE hub_rollout SET state = 'failed', error = ? WHERE id = ?`).run(error.slice(0, 300), id));
  }

  async rollouts(limit = 50): Promise<RolloutRecord[]> {
    const rows = this.store.db.prepare('SELECT * FROM hub_rollout ORDER BY created_at DESC, id DESC LIMIT ?').all(limit) as RolloutRow[];
    return rows.map((r) => rolloutFromRows(r, this.#rolloutNodes(r.id)));
  }

  async rollout(id: string): Promise<RolloutRecord | undefined> {
    const r = this.store.db.prepare('SELECT * FROM hub_rollout WHERE id = ?').get(id) as RolloutRow | undefined;
    return r && rolloutFromRows(r, this.#rolloutNodes(r.id));
  }

  #rolloutNodes(id: string): Array<{ node: string; status: string; reason: string | null; updated_at: string }> {
    return this.store.db.prepare('SELECT node, status, reason, updated_at FROM hub_rollout_node WHERE rollout = ? ORDER BY node').all(id) as Array<{ node: string; status: string; reason: string | null; updated_at: string }>;
  }

  async close(): Promise<void> {
    // The store belongs to whoever opened it (the hub closes its own).
  }
}
