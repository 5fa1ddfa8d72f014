/**
 * Test helper: reads a node's SQLite file directly (read-only), the way an
 * auditor or an attacker with the disk would.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';

export function dbFile(dataDir: string): string {
  return path.join(dataDir, 'telemed.db');
}

/** Opens the node's database read-only (works while the node runs: WAL readers do not block it). */
export function openReadOnly(dataDir: string): Database.Database {
  return new Database(dbFile(dataDir), { readonly: true, fileMustExist: true });
}

/** Names of the user tables. */
export function tables(db: Database.Database): string[] {
  return db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[];
}

/**
 * A digest per table of everything it holds: every row, every column, in a
 * fixed order (so the digest does not depend on the physical layout).
 */
export function tableDigests(dataDir: string): Record<string, { rows: number; sha256: string }> {
  const db = openReadOnly(dataDir);
  try {
    const out: Record<string, { rows: number; sha256: string }> = {};
    for (const t of tables(db)) {
      const cols = (db.prepare(`PRAGMA table_info("${t}")`).all() as Array<{ name: string }>).map((c) => `"${c.name}"`);
      const rows = db.prepare(`SELECT ${cols.join(', ')} FROM "${t}" ORDER BY ${cols.join(', ')}`).raw().all() as unknown[][];
      const h = createHash('sha256');
      for (const row of rows) {
        for (const v of row) {
          h.update(v === null ? '\u0000null' : Buffer.isBuffer(v) ? `b:${v.toString('hex')}` : `${typeof v}:${String(v)}`);
          h.update('\u0001');
        }
        h.update('\u0002');
      }
      out[t] = { rows: rows.length, sha256: h.digest('hex') };
    }
    return out;
  } finally {
    db.close();
  }
}
