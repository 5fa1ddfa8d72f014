import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

export type Db = Database.Database;

export interface Migration {
  /** Unique, stable name: `<part>-<n>-<what>`. Applied once, in order of registration. */
  name: string;
  sql: string;
}

export interface OpenOptions {
  /** File path, or ':memory:' for tests. */
  file: string;
  /** `full` fsyncs every commit (survives power loss); `normal` survives a process crash. */
  sync: 'full' | 'normal';
  /** `own` (default): SQLite checkpoints the WAL inside a COMMIT past 8000 pages; `external`: never on this connection (a Checkpointer does, wal.ts). */
  checkpoint?: 'own' | 'external';
}

/** Opens SQLite in WAL mode with the pragmas the node relies on. */
export function openDatabase(opts: OpenOptions): Db {
  if (opts.file !== ':memory:') mkdirSync(path.dirname(opts.file), { recursive: true, mode: 0o700 });
  const db = new Database(opts.file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${opts.sync === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.pragma('temp_store = MEMORY');
  db.pragma('secure_delete = ON');
  // Fewer, larger checkpoints (each one fsyncs the database file) and a 64 MB page cache;
  // a WAL restarted after a checkpoint is cut back to 64 MiB.
  db.pragma(`wal_autocheckpoint = ${opts.checkpoint === 'external' ? 0 : 8000}`);
  db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
  db.pragma('cache_size = -65536');
  return db;
}

/** Applies the migrations not applied yet, each in its own transaction. */
export function migrate(db: Db, migrations: readonly Migration[]): string[] {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migration (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL) STRICT');
  const done = new Set(db.prepare('SELECT name FROM schema_migration').pluck().all() as string[]);
  const applied: string[] = [];
  for (const m of migrations) {
    if (done.has(m.name)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migration (name, applied_at) VALUES (?, ?)').run(m.name, new Date().toISOString());
    }).immediate();
    applied.push(m.name);
  }
  return applied;
}
