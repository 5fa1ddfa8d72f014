/**
 * The hash-chained audit trail. Each AuditEvent the node records gets a link
 * `hash = SHA-256(prev_hash ‖ ref ‖ exact JSON)`; altering, removing or
 * reordering any record breaks the chain at that record, and
 * {@link AuditChain.verify} names the first broken link.
 */
import { createHash } from 'node:crypto';
import type { Db, Migration } from '../store/index.ts';

export const AUDIT_MIGRATIONS: Migration[] = [
  {
    name: 'audit-1-chain',
    sql: `CREATE TABLE audit_chain (
      seq INTEGER PRIMARY KEY, ref TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL) STRICT;`,
  },
];

export const GENESIS = '0'.repeat(64);

export function linkHash(prev: string, ref: string, json: string): string {
  return createHash('sha256').update(prev).update('\n').update(ref).update('\n').update(json).digest('hex');
}

export type VerifyResult =
  | { ok: true; links: number }
  | { ok: false; links: number; seq: number; ref: string; reason: string };

export class AuditChain {
  readonly #head;
  readonly #insert;

  constructor(db: Db) {
    this.#head = db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1');
    this.#insert = db.prepare('INSERT INTO audit_chain (seq, ref, prev_hash, hash) VALUES (?, ?, ?, ?)');
  }

  /** Appends a link for the record `ref` (`AuditEvent/id/version`) whose stored JSON is `json`. Call inside the write's transaction. */
  append(_db: Db, ref: string, json: string): void {
    const head = this.#head.get();
    const prev = head?.hash ?? GENESIS;
    this.#insert.run((head?.seq ?? 0) + 1, ref, prev, linkHash(prev, ref, json));
  }

  /**
   * Walks the chain from the start. `readJson` returns the stored JSON of a
   * record (undefined if it is gone; it may throw if the record's sealed body
   * fails authentication). Reports the first broken link, with `onProgress`
   * called every 10,000 links.
   */
  static verify(db: Db, readJson: (ref: string) => string | undefined, onProgress?: (links: number) => void): VerifyResult {
    let prev = GENESIS;
    let expected = 1;
    let links = 0;
    const rows = db.prepare<[], { seq: number; ref: string; prev_hash: string; hash: string }>('SELECT seq, ref, prev_hash, hash FROM audit_chain ORDER BY seq').iterate();
    for (const row of rows) {
      const fail = (reason: string): VerifyResult => ({ ok: false, links, seq: row.seq, ref: row.ref, reason });
      if (row.seq !== expected) return { ok: false, links, seq: expected, ref: row.ref, reason: `link ${expected} is missing (next present is ${row.seq})` };
      if (row.prev_hash !== prev) return fail('prev_hash does not match the hash of the link before it');
      let json: string | undefined;
      try {
        json = readJson(row.ref);
      } catch {
        return fail('the stored record fails authentication (it was altered)');
      }
      if (json === undefined) return fail('the audit record is missing');
      if (linkHash(prev, row.ref, json) !== row.hash) return fail('the record does not match its hash (it was altered)');
      prev = row.hash;
      expected++;
      links++;
      if (onProgress && links % 10_000 === 0) onProgress(links);
    }
    return { ok: true, links };
  }
}
