/**
 * The node's store: one SQLite file in WAL mode under the data folder, bodies
 * sealed with AES-256-GCM under the node's data key, and writes acknowledged
 * only after their group commit.
 *
 * Tests use the same store over `:memory:` (SQLite is its own in-memory twin).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { openDatabase, migrate, type Db, type Migration } from './database.ts';
import { GroupCommitter } from './committer.ts';
import { DataCipher, loadDataKey, loadOrCreateKeyFile } from './crypto.ts';
import { Checkpointer, WalFsync } from './wal.ts';

export { DataCipher, loadOrCreateKeyFile, type Db, type Migration };

export interface StoreOptions {
  dataDir: string;
  /** Base64 of 32 bytes; default: `<dataDir>/keys/data.key`, made on first start. */
  dataKey?: string;
  sync?: 'full' | 'normal';
  /** Use an in-memory database (tests). */
  memory?: boolean;
  onCommit?: (seconds: number, size: number) => void;
  /** Longest a group commit keeps taking writes, ms (default 8): the event loop waits while it runs. */
  maxBatchMs?: number;
}

/** The start is refused: the data key at hand is not the one the database was written with. The message names where the key comes from. */
export class DataKeyError extends Error {
  override readonly name = 'DataKeyError';
}

/** The store's own table: a value sealed with the data key, so a wrong key is caught at open, not at the first read. */
const STORE_MIGRATIONS: Migration[] = [
  { name: 'store-1-meta', sql: 'CREATE TABLE store_meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT;' },
];
const KEY_CHECK = 'key-check';

export class Store {
  readonly db: Db;
  readonly cipher: DataCipher;
  readonly file: string;
  readonly #committer: GroupCommitter;
  /** `full` on a file: the WAL's fdatasync before a write settles, off the event loop. */
  readonly #fsync: WalFsync | undefined;
  /** On a file: WAL checkpoints in a worker thread. */
  readonly #checkpointer: Checkpointer | undefined;
  #closed = false;

  constructor(opts: StoreOptions) {
    this.file = opts.memory ? ':memory:' : path.join(opts.dataDir, 'telemed.db');
    const sync = opts.sync ?? 'full';
    // Off the event loop (wal.ts): `full` is SQLite's NORMAL plus our own fdatasync of the WAL before any
    // write settles, and checkpoints run in a worker. In memory there is neither a WAL file nor a disk.
    const file = !opts.memory;
    this.db = openDatabase({ file: this.file, sync: file ? 'normal' : sync, checkpoint: file ? 'external' : 'own' });
    this.#fsync = file && sync === 'full' ? new WalFsync(`${this.file}-wal`) : undefined;
    try {
      migrate(this.db, STORE_MIGRATIONS);
      const check = this.db.prepare('SELECT value FROM store_meta WHERE name = ?').pluck().get(KEY_CHECK) as Buffer | undefined;
      const keyFile = path.join(opts.dataDir, 'keys', 'data.key');
      const source = opts.dataKey !== undefined ? 'TELEMED_DATA_KEY' : keyFile;
      if (check !== undefined && opts.dataKey === undefined && !existsSync(keyFile)) {
        // Making a new key now would leave a database nobody can read.
        throw new DataKeyError(`TELEMED_DATA_KEY is not set and ${keyFile} is missing, but ${this.file} was written with a data key: set TELEMED_DATA_KEY or restore the key file`);
      }
      this.cipher = new DataCipher(loadDataKey(opts.dataDir, opts.dataKey));
      if (check === undefined) {
        this.db.prepare('INSERT INTO store_meta (name, value) VALUES (?, ?)').run(KEY_CHECK, this.cipher.seal(KEY_CHECK, `store_meta/${KEY_CHECK}`));
      } else {
        try {
          this.cipher.open(check, `store_meta/${KEY_CHECK}`);
        } catch {
          throw new DataKeyError(`${source}: this is not the data key ${this.file} was written with`);
        }
      }
      this.#fsync?.syncNow();
    } catch (err) {
      this.#fsync?.close();
      this.db.close();
      throw err;
    }
    if (file) {
      this.#checkpointer = new Checkpointer({
        file: this.file,
        synchronous: sync === 'full' ? 'FULL' : 'NORMAL',
        // without the worker, SQLite checkpoints inside COMMIT again (slower, still bounded)
        onFailed: () => {
          if (!this.#closed) this.db.pragma('wal_autocheckpoint = 8000');
        },
      });
    }
    const fsync = this.#fsync;
    const checkpointer = this.#checkpointer;
    this.#committer = new GroupCommitter(this.db, {
      ...(opts.onCommit ? { onCommit: opts.onCommit } : {}),
      ...(opts.maxBatchMs !== undefined ? { maxBatchMs: opts.maxBatchMs } : {}),
      ...(fsync ? { durable: () => fsync.sync() } : {}),
      // the WAL passed its bound (the worker's checkpoints do not catch up): one checkpoint here, blocking
      ...(checkpointer ? { afterCommit: () => void (checkpointer.takeOver() && this.db.pragma('wal_checkpoint(RESTART)')) } : {}),
    });
  }

  /** Applies schema migrations (each part passes its own). */
  migrate(migrations: readonly Migration[]): string[] {
    const applied = migrate(this.db, migrations);
    if (applied.length > 0) this.#fsync?.syncNow();
    return applied;
  }

  /** Runs `fn` in a transaction; resolves after the commit is durable. */
  write<T>(fn: (db: Db) => T): Promise<T> {
    return this.#committer.write(fn);
  }

  /** Runs `fn` in a synchronous transaction right now (start-up, CLI tools). */
  writeNow<T>(fn: (db: Db) => T): T {
    const value = this.db.transaction(fn).immediate(this.db);
    this.#fsync?.syncNow();
    return value;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Commits what is queued, checkpoints the WAL and closes. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#committer.close();
    this.#checkpointer?.stop();
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      this.#fsync?.close();
      this.db.close();
    }
  }
}

export function openStore(opts: StoreOptions): Store {
  return new Store(opts);
}
