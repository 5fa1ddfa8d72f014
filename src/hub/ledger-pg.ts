/**
 * The hub's ledger on PostgreSQL (`TELEMED_HUB_DATABASE_URL`): the same
 * {@link Ledger} as the SQLite store, in a schema of its own.
 *
 * Messages are recorded in batches (what arrived while the previous batch
 * committed), one transaction per batch: the message ids go in with
 * `INSERT ... ON CONFLICT (id) DO NOTHING RETURNING id`, and only the ids that
 * come back (new ones) have their effect applied, in the same transaction.
 * Each `record` resolves after that commit; the hub acks then. A redelivered
 * or republished id finds its row and changes nothing.
 */
import pg from 'pg';
import type { Logger } from '../observability/index.ts';
import { nextIssuedAt } from '../sync/index.ts';
import {
  aggregateFields, bundleFields, configFields, heartbeatFields, rolloutFromRows, targetParts,
  type Incoming, type Ledger, type NewRollout, type NodeRow, type RolloutRecord, type RolloutTarget,
} from './ledger.ts';

/** A PostgreSQL schema name: lower-case letters, digits, _ (never quoted user text in SQL). */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const MIGRATIONS: Array<{ name: string; sql: (s: string) => string }> = [
  {
    name: 'hub-pg-1',
    sql: (s) => `
      CREATE TABLE ${s}.hub_message (
        id text PRIMARY KEY,
        node text NOT NULL,
        seq bigint NOT NULL,
        kind text NOT NULL,
        received_at timestamptz NOT NULL
      );
      CREATE INDEX hub_message_node_seq ON ${s}.hub_message (node, seq);
      CREATE TABLE ${s}.hub_node (
        id text PRIMARY KEY,
        city text NOT NULL DEFAULT '',
        version text NOT NULL DEFAULT '',
        bundle text NOT NULL DEFAULT '',
        backlog integer NOT NULL DEFAULT 0,
        last_heartbeat timestamptz,
        last_seen timestamptz NOT NULL,
        messages bigint NOT NULL DEFAULT 0,
        bundle_refused text,
        p99_ms double precision,
        groups text NOT NULL DEFAULT ''
      );
      CREATE TABLE ${s}.hub_aggregate (
        node text NOT NULL,
        metric text NOT NULL,
        period text NOT NULL,
        count bigint NOT NULL,
        sum double precision NOT NULL,
        PRIMARY KEY (node, metric, period)
      );
      CREATE TABLE ${s}.hub_rollout (
        id text PRIMARY KEY,
        revision text NOT NULL,
        target_kind text NOT NULL,
        target text NOT NULL,
        files integer NOT NULL,
        sha256 text NOT NULL,
        state text NOT NULL,
        error text,
        created_at timestamptz NOT NULL,
        published_at timestamptz
      );
      CREATE INDEX hub_rollout_revision ON ${s}.hub_rollout (revision);
      CREATE TABLE ${s}.hub_rollout_node (
        rollout text NOT NULL REFERENCES ${s}.hub_rollout (id),
        node text NOT NULL,
        status text NOT NULL,
        reason text,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (rollout, node)
      );
      CREATE INDEX hub_rollout_node_status ON ${s}.hub_rollout_node (node, status);`,
  },
  { name: 'hub-pg-2-rollout-actor', sql: (s) => `ALTER TABLE ${s}.hub_rollout ADD COLUMN IF NOT EXISTS actor text` },
  {
    name: 'hub-pg-3-config-rollouts',
    sql: (s) => `
      ALTER TABLE ${s}.hub_rollout ADD COLUMN kind text NOT NULL DEFAULT 'bundle';
      ALTER TABLE ${s}.hub_rollout ADD COLUMN settings text;
      ALTER TABLE ${s}.hub_node ADD COLUMN config text NOT NULL DEFAULT '';
      ALTER TABLE ${s}.hub_node ADD COLUMN config_refused text;`,
  },
  {
    // The signed issue time of each rollout (replay protection), as text: the hub's exact ISO-8601 form, ordered as time.
    name: 'hub-pg-4-rollout-issued-at',
    sql: (s) => `
      ALTER TABLE ${s}.hub_rollout ADD COLUMN IF NOT EXISTS issued_at text;
      CREATE INDEX IF NOT EXISTS hub_rollout_kind_issued ON ${s}.hub_rollout (kind, issued_at);`,
  },
];

export interface PgLedgerOptions {
  url: string;
  /** Schema holding the hub's tables (created when missing). Default `telemed_hub`. */
  schema?: string;
  logger: Logger;
  /** Pool size (default 4: one writer at a time, readers beside it). */
  max?: number;
  /** Most messages per transaction (default 1000). */
  batch?: number;
}

type Pending = { m: Incoming; resolve: (fresh: boolean) => void; reject: (err: Error) => void };

const iso = (v: unknown): string => (v instanceof Date ? v.toISOString() : String(v));
const isoOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : iso(v));

export class PgLedger implements Ledger {
  readonly kind = 'postgres' as const;
  readonly store = undefined;
  readonly schema: string;
  readonly #pool: pg.Pool;
  readonly #batch: number;
  #queue: Pending[] = [];
  #flushing = false;
  #closed = false;

  constructor(o: PgLedgerOptions) {
    const schema = o.schema ?? 'telemed_hub';
    if (!SCHEMA_NAME.test(schema)) throw new TypeError('schema: lower-case letters, digits and _ (1-63), starting with a letter or _');
    this.schema = schema;
    this.#batch = o.batch ?? 1000;
    this.#pool = new pg.Pool({ connectionString: o.url, max: o.max ?? 4, connectionTimeoutMillis: 10_000, application_name: 'telemed-edge hub' });
    // An idle connection dropped by the server must not take the process down; the next query opens a new one.
    this.#pool.on('error', (err) => o.logger.warn({ part: 'hub', err: { message: err.message } }, 'postgresql connection lost'));
    // The same for a connection lost while checked out: its query fails (and the batch is handed back), the event is only logged.
    this.#pool.on('connect', (client) => client.on('error', (err) => o.logger.warn({ part: 'hub', err: { message: err.message } }, 'postgresql connection lost')));
  }

  /** Creates the schema and applies what is missing, under an advisory lock (two hubs starting at once do not race). */
  async init(): Promise<void> {
    const s = this.schema;
    await this.#tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`telemed-hub-migrate:${s}`]);
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${s}.hub_migration (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
      const done = new Set((await c.query<{ name: string }>(`SELECT name FROM ${s}.hub_migration`)).rows.map((r) => r.name));
      for (const m of MIGRATIONS) {
        if (done.has(m.name)) continue;
        await c.query(m.sql(s));
        await c.query(`INSERT INTO ${s}.hub_migration (name) VALUES ($1)`, [m.name]);
      }
    });
  }

  async #tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.#pool.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      c.release();
      return out;
    } catch (err) {
      try {
        await c.query('ROLLBACK');
        c.release();
      } catch {
        c.release(true); // the connection is broken: drop it from the pool
      }
      throw err;
    }
  }

  record(m: Incoming): Promise<boolean> {
    if (this.#closed) return Promise.reject(new Error('the hub ledger is closed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ m, resolve, reject });
      if (!this.#flushing) {
        this.#flushing = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#batch);
      try {
        const fresh = await this.#tx((c) => this.#apply(c, batch.map((p) => p.m)));
        batch.forEach((p, i) => p.resolve(fresh[i]!));
      } catch (err) {
        for (const p of batch) p.reject(err as Error);
      }
    }
    this.#flushing = false;
  }

  /** The effect of a batch, in one transaction; returns per message whether it was new. */
  async #apply(c: pg.PoolClient, ms: Incoming[]): Promise<boolean[]> {
    const s = this.schema;
    const now = new Date();
    const out = ms.map((m) => m.kind === 'heartbeat');

    // 1. Message ids, once: the first copy in the batch is the candidate, the unique key decides.
    const first = new Map<string, number>();
    ms.forEach((m, i) => {
      if (m.kind !== 'heartbeat' && !first.has(m.id)) first.set(m.id, i);
    });
    const fresh = new Set<string>();
    if (first.size > 0) {
      const idx = [...first.values()].sort((a, b) => (ms[a]!.id < ms[b]!.id ? -1 : 1)); // one lock order for concurrent hubs
      const r = await c.query<{ id: string }>(
        `INSERT INTO ${s}.hub_message (id, node, seq, kind, received_at)
         SELECT u.id, u.node, u.seq, u.kind, $5 FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS u(id, node, seq, kind)
         ON CONFLICT (id) DO NOTHING RETURNING id`,
        [idx.map((i) => ms[i]!.id), idx.map((i) => ms[i]!.node), idx.map((i) => ms[i]!.seq), idx.map((i) => ms[i]!.kind), now],
      );
      for (const row of r.rows) fresh.add(row.id);
      for (const [id, i] of first) if (fresh.has(id)) out[i] = true;
    }

    // 2. The registry: every node seen is seen now; the last heartbeat of the batch sets its fields.
    const nodes = new Map<string, { added: number; hb?: ReturnType<typeof heartbeatFields> }>();
    ms.forEach((m, i) => {
      const n = nodes.get(m.node) ?? { added: 0 };
      if (m.kind === 'heartbeat') n.hb = heartbeatFields(m.body);
      else if (out[i]) n.added++;
      nodes.set(m.node, n);
    });
    const ids = [...nodes.keys()].sort();
    const before = new Map(
      (await c.query<{ id: string; bundle: string; config: string }>(`SELECT id, bundle, config FROM ${s}.hub_node WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`, [ids])).rows.map((r) => [r.id, r]),
    );
    const col = <T>(f: (n: { added: number; hb?: ReturnType<typeof heartbeatFields> }) => T): T[] => ids.map((id) => f(nodes.get(id)!));
    await c.query(
      `INSERT INTO ${s}.hub_node (id, last_seen, messages, last_heartbeat, city, version, bundle, backlog, bundle_refused, p99_ms, groups, config, config_refused)
       SELECT u.id, $1, u.added, u.hb, coalesce(u.city, ''), coalesce(u.version, ''), coalesce(u.bundle, ''), coalesce(u.backlog, 0), u.refused, u.p99, coalesce(u.groups, ''),
         coalesce(u.config, ''), u.config_refused
       FROM unnest($2::text[], $3::bigint[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::integer[], $9::text[], $10::float8[], $11::text[], $12::text[], $13::text[])
         AS u(id, added, hb, city, version, bundle, backlog, refused, p99, groups, config, config_refused)
       ON CONFLICT (id) DO UPDATE SET
         last_seen = excluded.last_seen,
         messages = ${s}.hub_node.messages + excluded.messages,
         last_heartbeat = coalesce(excluded.last_heartbeat, ${s}.hub_node.last_heartbeat),
         city = CASE WHEN excluded.last_heartbeat IS NULL THEN ${s}.hub_node.city ELSE excluded.city END,
         version = CASE WHEN excluded.last_heartbeat IS NULL THEN ${s}.hub_node.version ELSE excluded.version END,
         bundle = CASE WHEN excluded.last_heartbeat IS NULL THEN ${s}.hub_node.bundle ELSE excluded.bundle END,
         backlog = CASE WHEN excluded.last_heartbeat IS NULL THEN ${s}.hub_node.backlog ELSE excluded.backlog END,
         bundle_refused = CASE WHEN excluded.last_heartbeat IS NULL THEN ${s}.hub_node.bundle_refused ELSE excluded.bundle_refused END,
         p99_ms = CASE WHEN excluded.last_heartbeat IS NULL THEN ${s}.hub_node.p99_ms ELSE excluded.p99_ms END,
         groups = CASE WHEN excluded.last_heartbeat IS NULL THEN ${s}.hub_node.groups ELSE excluded.groups END,
         config = CASE WHEN excluded.last_heartbeat IS NULL THEN ${s}.hub_node.config ELSE excluded.config END,
         config_refused = CASE WHEN excluded.last_heartbeat IS NULL THEN ${s}.hub_node.config_refused ELSE excluded.config_refused END`,
      [now, ids, col((n) => n.added), col((n) => (n.hb ? now : null)), col((n) => n.hb?.city ?? null), col((n) => n.hb?.version ?? null),
        col((n) => n.hb?.bundle ?? null), col((n) => n.hb?.backlog ?? null), col((n) => n.hb?.refused ?? null), col((n) => n.hb?.p99 ?? null), col((n) => n.hb?.groups ?? null),
        col((n) => n.hb?.config ?? null), col((n) => n.hb?.configRefused ?? null)],
    );

    // 3. Rollouts, per kind: a node reporting a revision in force has it active; reporting a refusal, refused (while pending).
    for (const kind of ['bundle', 'config'] as const) {
      const inForce = (h: ReturnType<typeof heartbeatFields>) => (kind === 'bundle' ? h.bundle : h.config);
      const hb = ids.filter((id) => { const h = nodes.get(id)!.hb; return h !== undefined && inForce(h) !== ''; });
      if (hb.length > 0) {
        const revs = hb.map((id) => inForce(nodes.get(id)!.hb!));
        const changed = hb.filter((id, i) => before.get(id)?.[kind] !== revs[i]);
        if (changed.length > 0) {
          await c.query(
            `INSERT INTO ${s}.hub_rollout_node (rollout, node, status, reason, updated_at)
             SELECT r.id, u.node, 'active', NULL, $3 FROM unnest($1::text[], $2::text[]) AS u(node, revision)
             JOIN ${s}.hub_rollout r ON r.revision = u.revision AND r.kind = $4 AND r.target_kind = 'group'
             ON CONFLICT (rollout, node) DO NOTHING`,
            [changed, changed.map((id) => inForce(nodes.get(id)!.hb!)), now, kind],
          );
        }
        await c.query(
          `UPDATE ${s}.hub_rollout_node rn SET status = 'active', reason = NULL, updated_at = $3
           FROM unnest($1::text[], $2::text[]) AS u(node, revision), ${s}.hub_rollout r
           WHERE rn.node = u.node AND rn.status <> 'active' AND rn.rollout = r.id AND r.revision = u.revision AND r.kind = $4`,
          [hb, revs, now, kind],
        );
      }
      const refusal = (h: ReturnType<typeof heartbeatFields>) => (kind === 'bundle' ? { revision: h.refusedRevision, reason: h.refusedReason } : { revision: h.configRefusedRevision, reason: h.configRefusedReason });
      const ref = ids.filter((id) => {
        const h = nodes.get(id)!.hb;
        return h !== undefined && refusal(h).revision && refusal(h).revision !== inForce(h);
      });
      if (ref.length > 0) {
        await c.query(
          `UPDATE ${s}.hub_rollout_node rn SET status = 'refused', reason = u.reason, updated_at = $4
           FROM unnest($1::text[], $2::text[], $3::text[]) AS u(node, revision, reason), ${s}.hub_rollout r
           WHERE rn.node = u.node AND rn.status = 'pending' AND rn.rollout = r.id AND r.revision = u.revision AND r.kind = $5`,
          [ref, ref.map((id) => refusal(nodes.get(id)!.hb!).revision), ref.map((id) => refusal(nodes.get(id)!.hb!).reason), now, kind],
        );
      }
    }

    // 3b. Bundle and config reports (new ones, in batch order): the node's status for that revision.
    for (let i = 0; i < ms.length; i++) {
      const m = ms[i]!;
      if ((m.kind !== 'bundle' && m.kind !== 'config') || !out[i]) continue;
      const r = m.kind === 'bundle' ? bundleFields(m.body) : configFields(m.body);
      if (!r) continue;
      await c.query(
        `INSERT INTO ${s}.hub_rollout_node (rollout, node, status, reason, updated_at)
         SELECT id, $1, $2, $3, $4 FROM ${s}.hub_rollout WHERE revision = $5 AND kind = $6 AND target_kind = 'group'
         ON CONFLICT (rollout, node) DO NOTHING`,
        [m.node, r.status, r.reason, now, r.revision, m.kind],
      );
      await c.query(
        `UPDATE ${s}.hub_rollout_node rn SET status = $2, reason = $3, updated_at = $4
         FROM ${s}.hub_rollout r
         WHERE rn.node = $1 AND ${r.status === 'active' ? "rn.status <> 'active'" : "rn.status = 'pending'"} AND rn.rollout = r.id AND r.revision = $5 AND r.kind = $6`,
        [m.node, r.status, r.reason, now, r.revision, m.kind],
      );
    }

    // 4. Aggregates of the new messages, summed per cell first (one row per key in the statement).
    const cells = new Map<string, { node: string; metric: string; period: string; count: number; sum: number }>();
    ms.forEach((m, i) => {
      if (m.kind !== 'aggregate' || !out[i]) return;
      const a = aggregateFields(m.body);
      if (!a) return;
      const k = `${m.node}\u0000${a.metric}\u0000${a.period}`;
      const cell = cells.get(k) ?? { node: m.node, metric: a.metric, period: a.period, count: 0, sum: 0 };
      cell.count += a.count;
      cell.sum += a.sum;
      cells.set(k, cell);
    });
    if (cells.size > 0) {
      const v = [...cells.values()].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
      await c.query(
        `INSERT INTO ${s}.hub_aggregate (node, metric, period, count, sum)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::float8[])
         ON CONFLICT (node, metric, period) DO UPDATE SET count = ${s}.hub_aggregate.count + excluded.count, sum = ${s}.hub_aggregate.sum + excluded.sum`,
        [v.map((x) => x.node), v.map((x) => x.metric), v.map((x) => x.period), v.map((x) => x.count), v.map((x) => x.sum)],
      );
    }
    return out;
  }

  async messageCount(node?: string): Promise<number> {
    const r = node === undefined
      ? await this.#pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${this.schema}.hub_message`)
      : await this.#pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${this.schema}.hub_message WHERE node = $1`, [node]);
    return Number(r.rows[0]!.n);
  }

  async messageSeqs(node: string): Promise<number[]> {
    const r = await this.#pool.query<{ seq: string }>(`SELECT seq FROM ${this.schema}.hub_message WHERE node = $1 ORDER BY seq`, [node]);
    return r.rows.map((x) => Number(x.seq));
  }

  async aggregateCount(node: string, metric: string): Promise<number> {
    const r = await this.#pool.query<{ n: string }>(`SELECT coalesce(sum(count), 0) AS n FROM ${this.schema}.hub_aggregate WHERE node = $1 AND metric = $2`, [node, metric]);
    return Number(r.rows[0]!.n);
  }

  async nodeRows(): Promise<NodeRow[]> {
    const s = this.schema;
    const today = new Date().toISOString().slice(0, 10);
    const r = await this.#pool.query<Record<string, unknown>>(`
      SELECT n.id, n.city, n.version, n.bundle, n.backlog, n.last_heartbeat, n.last_seen, n.messages, n.bundle_refused, n.p99_ms, n.groups, n.config, n.config_refused,
        coalesce((SELECT sum(count) FROM ${s}.hub_aggregate a WHERE a.node = n.id AND a.metric = 'consultations' AND a.period LIKE $1 || '%'), 0) AS calls_today
      FROM ${s}.hub_node n ORDER BY n.id`, [today]);
    return r.rows.map((x) => ({
      id: String(x.id), city: String(x.city), version: String(x.version), bundle: String(x.bundle), backlog: Number(x.backlog),
      last_heartbeat: isoOrNull(x.last_heartbeat), last_seen: iso(x.last_seen), messages: Number(x.messages),
      calls_today: Number(x.calls_today), bundle_refused: (x.bundle_refused as string | null) ?? null,
      p99_ms: x.p99_ms === null || x.p99_ms === undefined ? null : Number(x.p99_ms), groups: String(x.groups),
      config: String(x.config ?? ''), config_refused: (x.config_refused as string | null) ?? null,
    }));
  }

  async targetNodes(target: RolloutTarget): Promise<string[]> {
    if ('node' in target) return [target.node];
    const r = await this.#pool.query<{ id: string; groups: string }>(`SELECT id, groups FROM ${this.schema}.hub_node ORDER BY id`);
    return 'group' in target ? r.rows.filter((x) => x.groups.split(',').includes(target.group)).map((x) => x.id) : r.rows.map((x) => x.id);
  }

  async createRollout(r: NewRollout): Promise<string> {
    const s = this.schema;
    const { kind, value } = targetParts(r.target);
    const rolloutKind = r.kind ?? 'bundle';
    const now = new Date();
    return this.#tx(async (c) => {
      // One issuer at a time per kind, across hubs sharing the schema: no two rollouts of a kind share an issuedAt.
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`telemed-hub-issue:${s}:${rolloutKind}`]);
      const last = (await c.query<{ last: string | null }>(`SELECT max(issued_at COLLATE "C") AS last FROM ${s}.hub_rollout WHERE kind = $1`, [rolloutKind])).rows[0]?.last ?? null;
      const issuedAt = nextIssuedAt(r.now ?? now, last);
      await c.query(`INSERT INTO ${s}.hub_rollout (id, kind, settings, revision, target_kind, target, files, sha256, state, created_at, actor, issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'publishing', $9, $10, $11)`,
        [r.id, rolloutKind, r.settings ? JSON.stringify(r.settings) : null, r.revision, kind, value, r.files, r.sha256, now, r.actor ?? null, issuedAt]);
      if (r.nodes.length > 0) {
        await c.query(`INSERT INTO ${s}.hub_rollout_node (rollout, node, status, updated_at) SELECT $1, n, 'pending', $3 FROM unnest($2::text[]) AS n`, [r.id, r.nodes, now]);
      }
      return issuedAt;
    });
  }

  async rolloutPublished(id: string, at: string): Promise<void> {
    await this.#pool.query(`UPDATE ${this.schema}.hub_rollout SET state = 'published', published_at = $2 WHERE id = $1`, [id, at]);
  }

  async rolloutFailed(id: string, error: string): Promise<void> {
    await this.#pool.query(`UPDATE ${this.schema}.hub_rollout SET state = 'failed', error = $2 WHERE id = $1`, [id, error.slice(0, 300)]);
  }

  async rollouts(limit = 50): Promise<RolloutRecord[]> {
    const r = await this.#pool.query<Record<string, unknown>>(`SELECT * FROM ${this.schema}.hub_rollout ORDER BY created_at DESC, id DESC LIMIT $1`, [limit]);
    return Promise.all(r.rows.map((row) => this.#withNodes(row)));
  }

  async rollout(id: string): Promise<RolloutRecord | undefined> {
    const r = await this.#pool.query<Record<string, unknown>>(`SELECT * FROM ${this.schema}.hub_rollout WHERE id = $1`, [id]);
    return r.rows[0] ? this.#withNodes(r.rows[0]) : undefined;
  }

  async #withNodes(row: Record<string, unknown>): Promise<RolloutRecord> {
    const n = await this.#pool.query<{ node: string; status: string; reason: string | null; updated_at: Date }>(
      `SELECT node, status, reason, updated_at FROM ${this.schema}.hub_rollout_node WHERE rollout = $1 ORDER BY node`, [row.id]);
    return rolloutFromRows(
      {
        id: String(row.id), kind: String(row.kind ?? 'bundle'), settings: (row.settings as string | null) ?? null, revision: String(row.revision), target_kind: String(row.target_kind), target: String(row.target), files: Number(row.files),
        sha256: String(row.sha256), state: row.state as RolloutRecord['state'], error: (row.error as string | null) ?? null,
        created_at: iso(row.created_at), published_at: isoOrNull(row.published_at), actor: (row.actor as string | null) ?? null, issued_at: (row.issued_at as string | null) ?? null,
      },
      n.rows.map((x) => ({ ...x, updated_at: iso(x.updated_at) })),
    );
  }

  /** Waits for the batch in flight, then closes the pool. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#flushing) await new Promise((r) => setTimeout(r, 10));
    await this.#pool.end();
  }
}
