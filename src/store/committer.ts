import type { Db } from './database.ts';

interface Pending {
  fn: (db: Db) => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: writes queued in the same turn of the event loop run in one
 * SQLite transaction, each inside its own savepoint (one failing write rolls
 * back alone), and every caller's promise settles only after COMMIT returned
 * and, when `durable` is given, after it resolved too (the WAL's fdatasync, off
 * the event loop: wal.ts). So an acknowledgement always follows a durable
 * commit, and one fsync serves many concurrent writes.
 *
 * A batch takes at most `maxBatch` writes and stops taking more once it has
 * run `maxBatchMs` (the event loop is blocked while a batch runs: socket
 * reads, live fan-out and timers wait for it); the rest go in the next batch,
 * a turn later.
 */
export class GroupCommitter {
  readonly #db: Db;
  readonly #maxBatch: number;
  readonly #maxBatchNs: bigint;
  readonly #onCommit: (seconds: number, size: number) => void;
  readonly #durable: (() => Promise<void>) | undefined;
  readonly #afterCommit: (() => void) | undefined;
  #queue: Pending[] = [];
  #scheduled = false;
  #closed = false;
  /** Set when a commit could not be made durable (the WAL's fdatasync failed): no write is taken any more. */
  #failed: unknown;

  constructor(
    db: Db,
    opts: {
      maxBatch?: number;
      maxBatchMs?: number;
      onCommit?: (seconds: number, size: number) => void;
      /** Resolves when what was committed so far is on disk; writers settle after it. */
      durable?: () => Promise<void>;
      /** Runs after each COMMIT, before the writers settle (the WAL bound). */
      afterCommit?: () => void;
    } = {},
  ) {
    this.#db = db;
    this.#maxBatch = opts.maxBatch ?? 512;
    this.#maxBatchNs = BigInt(Math.round((opts.maxBatchMs ?? 8) * 1e6));
    this.#onCommit = opts.onCommit ?? (() => {});
    this.#durable = opts.durable;
    this.#afterCommit = opts.afterCommit;
  }

  /** Runs `fn` inside a transaction; resolves with its result after the commit. */
  write<T>(fn: (db: Db) => T): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('store is closed'));
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
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
    if (this.#failed !== undefined) for (const p of this.#queue.splice(0)) p.reject(this.#failed);
    if (this.#queue.length === 0) return;
    const db = this.#db;
    const batch: Pending[] = [];
    const results: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    const t0 = process.hrtime.bigint();
    try {
      db.exec('BEGIN IMMEDIATE');
      // the first write always runs; the next ones while the batch is under its size and time
      while (this.#queue.length > 0 && batch.length < this.#maxBatch && (batch.length === 0 || process.hrtime.bigint() - t0 < this.#maxBatchNs)) {
        const p = this.#queue.shift()!;
        batch.push(p);
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
      // no transaction at all (BEGIN failed): the writes waiting longest fail, not spin
      if (batch.length === 0) batch.push(...this.#queue.splice(0, this.#maxBatch));
      for (const p of batch) p.reject(error);
      return;
    } finally {
      this.#next();
    }
    this.#onCommit(Number(process.hrtime.bigint() - t0) / 1e9, batch.length);
    this.#afterCommit?.();
    const settle = () =>
      batch.forEach((p, i) => {
        const r = results[i]!;
        if (r.ok) p.resolve(r.value);
        else p.reject(r.error);
      });
    if (!this.#durable) return settle();
    // Committed but not known to be on disk (an I/O error): nobody hears "done", and the store takes no
    // more writes, since what callers remember of their writes (marks, counters) no longer matches the
    // file; a restart reads the truth back from disk.
    this.#durable().then(settle, (error: unknown) => {
      this.#failed ??= new Error(`store failed: a commit could not be made durable (${(error as Error)?.message ?? String(error)}); restart the node`);
      for (const p of batch) p.reject(this.#failed);
      for (const p of this.#queue.splice(0)) p.reject(this.#failed);
    });
  }

  /** What did not fit in this batch goes in the next one, a turn later. */
  #next(): void {
    if (this.#queue.length > 0 && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
  }
}
