/**
 * The durable outbox: de-identified messages waiting for the broker, in the
 * node's own SQLite file. A row is written before `enqueue` resolves (group
 * commit) and deleted only after the broker confirmed it.
 */
import { randomUUID } from 'node:crypto';
import type { Migration, Store } from '../store/index.ts';

export const SYNC_MIGRATIONS: Migration[] = [
  {
    name: 'sync-1-outbox',
    sql: `CREATE TABLE sync_outbox (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      id TEXT NOT NULL UNIQUE,
      kind TEXT NOT NULL,
      body TEXT NOT NULL
    ) STRICT;`,
  },
];

export interface OutboxRow {
  seq: number;
  id: string;
  kind: string;
  body: string;
}

export class Outbox {
  readonly #store: Store;
  #backlog: number;

  constructor(store: Store) {
    this.#store = store;
    this.#backlog = store.db.prepare('SELECT count(*) FROM sync_outbox').pluck().get() as number;
  }

  /** Rows waiting for a broker confirm. */
  get backlog(): number {
    return this.#backlog;
  }

  /** Appends one message; resolves after the commit, with its id and sequence number. */
  async append(kind: string, body: string): Promise<{ id: string; seq: number }> {
    const id = randomUUID();
    const seq = await this.#store.write((db) =>
      Number(db.prepare('INSERT INTO sync_outbox (id, kind, body) VALUES (?, ?, ?)').run(id, kind, body).lastInsertRowid),
    );
    this.#backlog++;
    return { id, seq };
  }

  /** The oldest rows, in order. */
  head(limit: number): OutboxRow[] {
    return this.#store.db.prepare('SELECT seq, id, kind, body FROM sync_outbox ORDER BY seq LIMIT ?').all(limit) as OutboxRow[];
  }

  /** Deletes rows the broker confirmed (all with seq ≤ `upTo`, since the drain is in order). */
  async confirm(upTo: number): Promise<void> {
    const n = await this.#store.write((db) => db.prepare('DELETE FROM sync_outbox WHERE seq <= ?').run(upTo).changes);
    this.#backlog -= n;
  }
}
