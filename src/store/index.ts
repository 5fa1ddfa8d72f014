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
  #closed = false;

  constructor(opts: StoreOptions) {
    this.file = opts.memory ? ':memory:' : path.join(opts.dataDir, 'telemed.db');
    this.db = openDatabase({ file: this.file, sync: opts.sync ?? 'full' });
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
    } catch (err) {
      this.db.close();
      throw err;
    }
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
