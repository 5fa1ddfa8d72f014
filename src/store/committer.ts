import type { Db } from './database.ts';

interface Pending {
  fn: (db: Db) => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: writes queued in the same turn of the event loop run in one
 * SQLite transaction, each inside its own savepoint (one failing write rolls
 * back alone), and every caller's promise settles only after COMMIT returned.
 * So an acknowledgement always follows a durable commit, and one fsync serves
 * many concurrent writes.
 */
export class GroupCommitter {
  readonly #db: Db;
  readonly #maxBatch: number;
  readonly #onCommit: (seconds: number, size: number) => void;
  #queue: Pending[] = [];
  #scheduled = false;
  #closed = false;

  constructor(db: Db, opts: { maxBatch?: number; onCommit?: (seconds: number, size: number) => void } = {}) {
    this.#db = db;
    this.#maxBatch = opts.maxBatch ?? 512;
    this.#onCommit = opts.onCommit ?? (() => {});
  }

  /** Runs `fn` inside a transaction; resolves with its result after the commit. */
  write<T>(fn: (db: Db) => T): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /** Commits what is queued now (used at shutdown). */
  flushNow(): void {
    while (this.#queue.length > 0) this.#flush();
  }

  close(): void {
    this.flushNow();
    this.#closed = true;
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queue.splice(0, this.#maxBatch);
    if (this.#queue.length > 0) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    if (batch.length === 0) return;
    const db = this.#db;
    const results: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    const t0 = process.hrtime.bigint();
    try {
      db.exec('BEGIN IMMEDIATE');
      for (const p of batch) {
        db.exec('SAVEPOINT op');
        try {
          const value = p.fn(db);
          db.exec('RELEASE op');
          results.push({ ok: true, value });
        } catch (error) {
          db.exec('ROLLBACK TO op');
          db.exec('RELEASE op');
          results.push({ ok: false, error });
        }
      }
      db.exec('COMMIT');
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK');
      for (const p of batch) p.reject(error);
      return;
    }
    this.#onCommit(Number(process.hrtime.bigint() - t0) / 1e9, batch.length);
    batch.forEach((p, i) => {
      const r = results[i]!;
      if (r.ok) p.resolve(r.value);
      else p.reject(r.error);
    });
  }
}
