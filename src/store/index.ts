/**
 * The node's store: one SQLite file in WAL mode under the data folder, bodies
 * sealed with AES-256-GCM under the node's data key, and writes acknowledged
 * only after their group commit.
 *
 * Tests use the same store over `:memory:` (SQLite is its own in-memory twin).
 */
import path from 'node:path';
import { openDatabase, migrate, type Db, type Migration } from './database.ts';
import { GroupCommitter } from './committer.ts';
import { DataCipher, loadDataKey, loadOrCreateKeyFile } from './crypto.ts';

export { DataCipher, loadOrCreateKeyFile, type Db, type Migration };

export interface StoreOptions {
  dataDir: string;
  /** Base64 of 32 bytes; default: `<dataDir>/keys/data.key`, made on first start. */
  dataKey?: string;
  sync?: 'full' | 'normal';
  /** Use an in-memory database (tests). */
  memory?: boolean;
  onCommit?: (seconds: number, size: number) => void;
}

export class Store {
  readonly db: Db;
  readonly cipher: DataCipher;
  readonly file: string;
  readonly #committer: GroupCommitter;
  #closed = false;

  constructor(opts: StoreOptions) {
    this.file = opts.memory ? ':memory:' : path.join(opts.dataDir, 'telemed.db');
    this.cipher = new DataCipher(loadDataKey(opts.dataDir, opts.dataKey));
    this.db = openDatabase({ file: this.file, sync: opts.sync ?? 'full' });
    this.#committer = new GroupCommitter(this.db, opts.onCommit ? { onCommit: opts.onCommit } : {});
  }

  /** Applies schema migrations (each part passes its own). */
  migrate(migrations: readonly Migration[]): string[] {
    return migrate(this.db, migrations);
  }

  /** Runs `fn` in a transaction; resolves after the commit is durable. */
  write<T>(fn: (db: Db) => T): Promise<T> {
    return this.#committer.write(fn);
  }

  /** Runs `fn` in a synchronous transaction right now (start-up, CLI tools). */
  writeNow<T>(fn: (db: Db) => T): T {
    return this.db.transaction(fn).immediate(this.db);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Commits what is queued, checkpoints the WAL and closes. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#committer.close();
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      this.db.close();
    }
  }
}

export function openStore(opts: StoreOptions): Store {
  return new Store(opts);
}
