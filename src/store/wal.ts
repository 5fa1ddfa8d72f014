/**
 * Keeping SQLite's slow work off the event loop (the p99 of everything the
 * node answers):
 *
 * - {@link WalFsync}: in `full` mode the connection runs `synchronous =
 *   NORMAL` (COMMIT writes the WAL without fsync) and the store makes each
 *   batch durable with an `fdatasync` of the WAL file on libuv's thread pool
 *   before any of its writers hears "committed". The WAL then holds every
 *   acknowledged transaction on disk, as with `synchronous = FULL`, but the
 *   event loop never waits for the disk. One fdatasync serves every commit
 *   that finished before it started.
 * - {@link Checkpointer}: the main connection never checkpoints on its own
 *   (`wal_autocheckpoint = 0`); a worker thread with its own connection runs
 *   PASSIVE checkpoints (which never block the writer) every 250 ms, and
 *   restarts a fully copied WAL past 16 MiB (see WORKER). If the WAL still
 *   grows past a bound (a checkpoint that never catches up), the store runs
 *   one RESTART checkpoint on the main connection after its next commit:
 *   slow once, but the WAL stays bounded.
 */
import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export class WalFsync {
  readonly #file: string;
  #fd: number | undefined;
  /** The fdatasync running now. */
  #running: Promise<void> | undefined;
  /** The next one, queued behind #running; it covers every commit made before it starts. */
  #next: Promise<void> | undefined;
  #closed = false;

  constructor(walFile: string) {
    this.#file = walFile;
  }

  /** Resolves once everything written to the WAL before this call is on disk. */
  sync(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('store is closed'));
    if (this.#next) return this.#next;
    if (!this.#running) return this.#start();
    this.#next = this.#running.catch(() => undefined).then(() => {
      this.#next = undefined;
      return this.#start();
    });
    return this.#next;
  }

  #start(): Promise<void> {
    const p = new Promise<void>((resolve, reject) => {
      let fd: number;
      try {
        fd = this.#fd ??= openSync(this.#file, 'r');
      } catch (err) {
        return reject(err);
      }
      fdatasync(fd, (err) => (err ? reject(err) : resolve()));
    });
    this.#running = p;
    const clear = () => {
      if (this.#running === p) this.#running = undefined;
    };
    p.then(clear, clear);
    return p;
  }

  /** The same, blocking (start-up, CLI writes). */
  syncNow(): void {
    if (this.#closed) return;
    try {
      this.#fd ??= openSync(this.#file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // no WAL yet: nothing written
      throw err;
    }
    fdatasyncSync(this.#fd);
  }

  /** Closes the WAL's descriptor once the fdatasyncs already asked for are done. */
  close(): void {
    this.#closed = true;
    const fd = this.#fd;
    if (fd === undefined) return;
    const pending = this.#next ?? this.#running;
    const done = () => closeSync(fd);
    if (pending) pending.then(done, done);
    else done();
  }
}

/**
 * Runs in the worker: its own connection, a PASSIVE checkpoint on a timer
 * (sooner again while it is behind), the WAL's size reported back. PASSIVE
 * never restarts the WAL; the writer does so at its next transaction only if
 * the WAL was completely copied when that transaction began, which under
 * steady writes rarely happens. So once a PASSIVE copied everything and the
 * WAL is past `restartFrames`, the worker tries a RESTART at once, with no
 * busy wait: nothing is left to copy, so it holds the write lock for a moment
 * only (a writer that comes then waits that moment), or is busy and tries
 * again next time.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 0');
db.pragma('synchronous = ' + workerData.synchronous);
let timer;
const tick = () => {
  let next = workerData.everyMs;
  try {
    let r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    if (r.log > 0 && r.checkpointed < r.log) next = Math.min(next, 20);
    else if (r.log >= workerData.restartFrames) {
      const x = db.pragma('wal_checkpoint(RESTART)')[0];
      if (!x.busy) r = x;
    }
    parentPort.postMessage({ type: 'checkpoint', busy: r.busy, log: r.log, checkpointed: r.checkpointed });
  } catch (err) {
    parentPort.postMessage({ type: 'error', message: String(err && err.message || err) });
  }
  timer = setTimeout(tick, next);
};
timer = setTimeout(tick, workerData.everyMs);
parentPort.on('message', (m) => {
  if (m === 'stop') {
    clearTimeout(timer);
    try { db.close(); } finally {
      // tell stop(), which waits for it: the connection is closed, its files are the main connection's alone
      Atomics.store(workerData.closed, 0, 1);
      Atomics.notify(workerData.closed, 0);
      parentPort.close();
    }
  }
});
`;

export interface CheckpointerOptions {
  file: string;
  synchronous: 'FULL' | 'NORMAL';
  /** How often the worker checkpoints, ms (default 250). */
  everyMs?: number;
  /** WAL frames past which a fully copied WAL is restarted from the top (default 4096: 16 MiB of 4 KiB pages). */
  restartFrames?: number;
  /** WAL frames (pages) past which the main connection checkpoints itself (default 65 536: 256 MiB of 4 KiB pages). */
  boundPages?: number;
  /** The worker failed: the caller goes back to checkpointing on its own connection. */
  onFailed?: (err: Error) => void;
  /** A checkpoint ran in the worker: frames in the WAL, frames copied (metrics). */
  onCheckpoint?: (log: number, checkpointed: number) => void;
}

export class Checkpointer {
  readonly #worker: Worker;
  readonly #bound: number;
  #over = false;
  #stopped = false;
  /** Set to 1 by the worker once its connection is closed. */
  readonly #closed = new Int32Array(new SharedArrayBuffer(4));

  constructor(o: CheckpointerOptions) {
    this.#bound = o.boundPages ?? 65_536;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.#worker = new Worker(WORKER, {
      eval: true,
      workerData: { file: o.file, driver, synchronous: o.synchronous, everyMs: o.everyMs ?? 250, restartFrames: o.restartFrames ?? 4096, closed: this.#closed },
      // a checkpoint worker never holds the node (or a test) open
      stdout: false,
      stderr: false,
    });
    this.#worker.unref();
    this.#worker.on('message', (m: { type: string; log?: number; checkpointed?: number }) => {
      if (m.type !== 'checkpoint') return;
      // log: frames in the WAL (it restarts from the top at the first commit after a complete checkpoint)
      if ((m.log ?? 0) > this.#bound) this.#over = true;
      o.onCheckpoint?.(m.log ?? 0, m.checkpointed ?? 0);
    });
    this.#worker.on('error', (err) => {
      if (!this.#stopped) o.onFailed?.(err);
    });
    // a worker that is gone holds no connection: stop() does not wait for it
    this.#worker.on('exit', () => Atomics.store(this.#closed, 0, 1));
  }

  /** True once: the WAL passed its bound; the caller checkpoints on the main connection. */
  takeOver(): boolean {
    const o = this.#over;
    this.#over = false;
    return o;
  }

  /**
   * Stops the worker and waits (at most `waitMs`, default 5 s; a checkpoint
   * under way finishes first) until its connection is closed, so that when the
   * store closes right after, no other connection still holds the database's
   * files (a folder removed after close() is not written to again).
   */
  stop(waitMs = 5000): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#worker.postMessage('stop');
    Atomics.wait(this.#closed, 0, 0, waitMs);
  }
}
