/**
 * The hub's ledger: every message id recorded once (the effect at the hub is
 * exactly once however often the broker redelivers), the fleet registry, and
 * the aggregates summed per node, metric and hour.
 */
import type { Migration, Store } from '../store/index.ts';

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
];

const NODE_LABEL = /^[A-Za-z0-9 ._:/-]{1,100}$/;

/** A message as the hub accepts it; anything else is refused at parse. */
export interface Incoming {
  id: string;
  node: string;
  seq: number;
  kind: 'aggregate' | 'heartbeat';
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
  if (e.kind !== 'aggregate' && e.kind !== 'heartbeat') return undefined;
  if (typeof e.body !== 'object' || e.body === null) return undefined;
  return { id: e.id, node: e.node, seq: e.seq, kind: e.kind, body: e.body as Record<string, unknown> };
}

const str = (v: unknown): string => (typeof v === 'string' && NODE_LABEL.test(v) ? v : '');
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

export class Ledger {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  /** Records one message; resolves after the commit to true when it was new, false for a duplicate. */
  record(m: Incoming): Promise<boolean> {
    const now = new Date().toISOString();
    return this.#store.write((db) => {
      db.prepare(`INSERT INTO hub_node (id, last_seen) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen`).run(m.node, now);
      if (m.kind === 'heartbeat') {
        const b = m.body;
        const r = b.bundleRefused as { revision?: unknown; reason?: unknown } | undefined;
        const refused = r && typeof r === 'object' && str(r.reason) ? `${str(r.revision) || '?'}: ${str(r.reason)}` : null;
        const p99 = typeof b.p99LatencyMs === 'number' && Number.isFinite(b.p99LatencyMs) && b.p99LatencyMs >= 0 ? b.p99LatencyMs : null;
        db.prepare('UPDATE hub_node SET city = ?, version = ?, bundle = ?, backlog = ?, last_heartbeat = ?, bundle_refused = ?, p99_ms = ? WHERE id = ?')
          .run(str(b.city), str(b.version), str(b.bundle), Math.round(num(b.backlog)), now, refused, p99, m.node);
        return true;
      }
      const fresh = db.prepare('INSERT OR IGNORE INTO hub_message (id, node, seq, kind, received_at) VALUES (?, ?, ?, ?, ?)')
        .run(m.id, m.node, m.seq, m.kind, now).changes === 1;
      if (!fresh) return false;
      db.prepare('UPDATE hub_node SET messages = messages + 1 WHERE id = ?').run(m.node);
      const metric = str(m.body.metric);
      const period = str(m.body.period);
      if (metric && period) {
        db.prepare(`INSERT INTO hub_aggregate (node, metric, period, count, sum) VALUES (?, ?, ?, ?, ?)
          ON CONFLICT (node, metric, period) DO UPDATE SET count = count + excluded.count, sum = sum + excluded.sum`)
          .run(m.node, metric, period, Math.round(num(m.body.count)), num(m.body.sum));
      }
      return true;
    });
  }

  /** Count of distinct messages recorded, for one node or all. */
  messages(node?: string): number {
    const db = this.#store.db;
    return (node === undefined
      ? db.prepare('SELECT count(*) FROM hub_message').pluck().get()
      : db.prepare('SELECT count(*) FROM hub_message WHERE node = ?').pluck().get(node)) as number;
  }

  /** The sequence numbers recorded for a node, ascending (gap checks). */
  seqs(node: string): number[] {
    return this.#store.db.prepare('SELECT seq FROM hub_message WHERE node = ? ORDER BY seq').pluck().all(node) as number[];
  }

  nodes(): Array<{ id: string; city: string; version: string; bundle: string; backlog: number; last_heartbeat: string | null; last_seen: string; messages: number; calls_today: number; bundle_refused: string | null; p99_ms: number | null }> {
    const today = new Date().toISOString().slice(0, 10);
    return this.#store.db.prepare(`
      SELECT n.*, coalesce((SELECT sum(count) FROM hub_aggregate a WHERE a.node = n.id AND a.metric = 'consultations' AND a.period LIKE ? || '%'), 0) AS calls_today
      FROM hub_node n ORDER BY n.id`).all(today) as ReturnType<Ledger['nodes']>;
  }
}
