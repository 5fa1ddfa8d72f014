/**
 * Versioned FHIR storage over the node's SQLite store. Bodies are sealed
 * (AES-256-GCM, bound to `Type/id/version`); only the index rows of
 * search-params.ts sit in plain columns. Every method runs synchronously and
 * must be called inside a store transaction for writes (Store.write).
 */
import { v7 as uuidv7 } from 'uuid';
import type { Db, DataCipher, Migration } from '../store/index.ts';
import { gone, notFound, preconditionFailed, FhirError } from './outcome.ts';
import type { Criterion, DateBound, SearchRequest } from './query.ts';
import { extractIndex } from './search-params.ts';
import type { Resource, StoredResource } from './types.ts';

export const FHIR_MIGRATIONS: Migration[] = [
  {
    name: 'fhir-1-resources',
    sql: `
      CREATE TABLE resource (
        type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
        last_updated INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (type, id)) WITHOUT ROWID, STRICT;
      CREATE INDEX resource_updated ON resource (type, last_updated);
      CREATE TABLE resource_version (
        type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
        last_updated INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, body BLOB,
        PRIMARY KEY (type, id, version)) STRICT;
      CREATE TABLE search_index (
        type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
        sys TEXT, val TEXT, lo INTEGER, hi INTEGER, lu INTEGER NOT NULL) STRICT;
      CREATE INDEX search_val ON search_index (type, param, val, lu, id) WHERE val IS NOT NULL;
      CREATE INDEX search_date ON search_index (type, param, lo, hi) WHERE lo IS NOT NULL;
      CREATE INDEX search_owner ON search_index (type, id, param, val);
    `,
  },
];

export interface WriteResult {
  stored: StoredResource;
  created: boolean;
  /** The exact JSON that was sealed (the audit chain hashes it). */
  json: string;
}

export interface SearchResult {
  entries: StoredResource[];
  /** True when more matches follow this page. */
  more: boolean;
  /** The number of matches, when known (see {@link FhirRepository.search}). */
  total?: number;
}

interface SearchStatement {
  get(...args: unknown[]): unknown;
  all(...args: unknown[]): unknown[];
}

/** The current version's sealed body lives once, in resource_version. */
const JOIN_BODY = 'JOIN resource_version v ON v.type = r.type AND v.id = r.id AND v.version = r.version';

interface Row { id: string; version: number; last_updated: number; deleted: number; body: Buffer | null }

export class FhirRepository {
  readonly #db: Db;
  readonly #cipher: DataCipher;
  readonly #stmt;
  /** Prepared search statements by SQL text (the shapes are few: one per combination of criteria). */
  readonly #searchStmts = new Map<string, SearchStatement>();

  constructor(db: Db, cipher: DataCipher) {
    this.#db = db;
    this.#cipher = cipher;
    this.#stmt = {
      current: db.prepare<[string, string], Row>(`SELECT r.id, r.version, r.last_updated, r.deleted, v.body FROM resource r ${JOIN_BODY} WHERE r.type = ? AND r.id = ?`),
      version: db.prepare<[string, string, number], Row>('SELECT id, version, last_updated, deleted, body FROM resource_version WHERE type = ? AND id = ? AND version = ?'),
      history: db.prepare<[string, string], Row>('SELECT id, version, last_updated, deleted, body FROM resource_version WHERE type = ? AND id = ? ORDER BY version DESC'),
      upsert: db.prepare('INSERT INTO resource (type, id, version, last_updated, deleted) VALUES (?, ?, ?, ?, ?) ON CONFLICT (type, id) DO UPDATE SET version = excluded.version, last_updated = excluded.last_updated, deleted = excluded.deleted'),
      addVersion: db.prepare('INSERT INTO resource_version (type, id, version, last_updated, deleted, body) VALUES (?, ?, ?, ?, ?, ?)'),
      dropIndex: db.prepare('DELETE FROM search_index WHERE type = ? AND id = ?'),
      addIndex: db.prepare('INSERT INTO search_index (type, id, param, sys, val, lo, hi, lu) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
    };
  }

  #open(type: string, row: Row): StoredResource {
    const lastUpdated = new Date(row.last_updated).toISOString();
    if (row.deleted || row.body === null) {
      return { resource: { resourceType: type, id: row.id }, versionId: row.version, lastUpdated, deleted: true };
    }
    const json = this.#cipher.open(row.body, `${type}/${row.id}/${row.version}`).toString('utf8');
    return { resource: JSON.parse(json) as Resource, versionId: row.version, lastUpdated, deleted: false };
  }

  /** The current version, deleted or not; undefined if the id never existed. */
  current(type: string, id: string): StoredResource | undefined {
    const row = this.#stmt.current.get(type, id);
    return row ? this.#open(type, row) : undefined;
  }

  /** Reads the current version: 404 if unknown, 410 if deleted. */
  read(type: string, id: string): StoredResource {
    const s = this.current(type, id);
    if (!s) throw notFound(`${type}/${id} is not known`);
    if (s.deleted) throw gone(`${type}/${id} was deleted`);
    return s;
  }

  vread(type: string, id: string, versionId: number): StoredResource {
    const row = this.#stmt.version.get(type, id, versionId);
    if (!row) throw notFound(`${type}/${id}/_history/${versionId} is not known`);
    const s = this.#open(type, row);
    if (s.deleted) throw gone(`${type}/${id}/_history/${versionId} is a deletion`);
    return s;
  }

  history(type: string, id: string): StoredResource[] {
    const rows = this.#stmt.history.all(type, id);
    if (rows.length === 0) throw notFound(`${type}/${id} is not known`);
    return rows.map((r) => this.#open(type, r));
  }

  /** The sealed bytes of one version, as stored (the audit chain reads them). */
  rawJson(type: string, id: string, versionId: number): string | undefined {
    const row = this.#stmt.version.get(type, id, versionId);
    if (!row || row.body === null) return undefined;
    return this.#cipher.open(row.body, `${type}/${id}/${versionId}`).toString('utf8');
  }

  /** Creates a resource with a new server-assigned id (the client's id is ignored, as the spec says). */
  create(resource: Resource, now = Date.now()): WriteResult {
    return this.#put({ ...resource, id: uuidv7() }, undefined, now);
  }

  /**
   * Updates (or creates with the client's id). `ifMatch` is the expected
   * current version: a stale one is a 412.
   */
  update(resource: Resource, ifMatch?: number, now = Date.now()): WriteResult {
    const prev = this.current(resource.resourceType, resource.id!);
    if (ifMatch !== undefined && (!prev || prev.deleted || prev.versionId !== ifMatch)) {
      throw preconditionFailed(`${resource.resourceType}/${resource.id}: version ${ifMatch} is not the current version${prev ? ` (current: ${prev.versionId})` : ''}`);
    }
    return this.#put(resource, prev, now);
  }

  /** Deletes; returns the deleted-version number, or undefined if it was already deleted. 404 if never known. */
  delete(type: string, id: string, now = Date.now()): number | undefined {
    const prev = this.current(type, id);
    if (!prev) throw notFound(`${type}/${id} is not known`);
    if (prev.deleted) return undefined;
    const version = prev.versionId + 1;
    this.#stmt.upsert.run(type, id, version, now, 1);
    this.#stmt.addVersion.run(type, id, version, now, 1, null);
    this.#stmt.dropIndex.run(type, id);
    return version;
  }

  #put(resource: Resource, prev: StoredResource | undefined, now: number): WriteResult {
    const type = resource.resourceType;
    const id = resource.id!;
    const version = prev ? prev.versionId + 1 : 1;
    const lastUpdated = new Date(now).toISOString();
    const { resourceType: _t, id: _i, meta, ...rest } = resource;
    const stored: Resource = { resourceType: type, id, meta: { ...(meta ?? {}), versionId: String(version), lastUpdated }, ...rest };
    const json = JSON.stringify(stored);
    const sealed = this.#cipher.seal(json, `${type}/${id}/${version}`);
    this.#stmt.upsert.run(type, id, version, now, 0);
    this.#stmt.addVersion.run(type, id, version, now, 0, sealed);
    if (prev) this.#stmt.dropIndex.run(type, id);
    for (const row of extractIndex(stored)) this.#stmt.addIndex.run(type, id, row.param, row.sys, row.val, row.lo, row.hi, now);
    return { stored: { resource: stored, versionId: version, lastUpdated, deleted: false }, created: !prev || prev.deleted, json };
  }

  #prepared(sql: string): SearchStatement {
    let st = this.#searchStmts.get(sql);
    if (st === undefined) {
      if (this.#searchStmts.size >= 500) this.#searchStmts.delete(this.#searchStmts.keys().next().value!);
      st = this.#db.prepare(sql) as unknown as SearchStatement;
      this.#searchStmts.set(sql, st);
    }
    return st;
  }

  /**
   * Runs a search. `compartment` limits the result to one patient's
   * compartment (https://hl7.org/fhir/R4/compartmentdefinition-patient.html).
   */
  search(type: string, req: SearchRequest, compartment?: string): SearchResult {
    const T = type.replace(/[^A-Za-z]/g, '');
    const where: string[] = ['r.type = ?', 'r.deleted = 0'];
    const args: unknown[] = [T];
    const criteria = [...req.criteria];
    if (compartment !== undefined) {
      if (T === 'Patient') criteria.push({ kind: 'id', ids: [compartment] });
      else criteria.push({ kind: 'reference', param: 'patient', values: [`Patient/${compartment}`] });
    }
    // The plan: with the default order (newest first) and one exact patient or
    // subject reference, walk that reference's index rows newest first and stop
    // at the page; otherwise walk the type's resources newest first. Every other
    // criterion is a correlated probe on (type, id, param), so a page costs
    // about its own size, not the number of matches.
    const defaultOrder = req.sort.length === 0;
    const driverAt = defaultOrder
      ? criteria.findIndex((c) => c.kind === 'reference' && (c.param === 'patient' || c.param === 'subject') && c.values.length === 1 && !c.values[0]!.startsWith('*/'))
      : -1;
    let from = `resource r ${JOIN_BODY}`;
    const fromArgs: unknown[] = [];
    let order: string[];
    if (driverAt >= 0) {
      const d = criteria.splice(driverAt, 1)[0] as Extract<Criterion, { kind: 'reference' }>;
      from = `search_index d JOIN resource r ON r.type = d.type AND r.id = d.id ${JOIN_BODY}`;
      where.unshift('d.type = ?', 'd.param = ?', 'd.val = ?');
      fromArgs.push(T, d.param, d.values[0]);
      order = ['d.lu DESC', 'd.id DESC'];
    } else if (defaultOrder) {
      order = ['r.last_updated DESC', 'r.id DESC'];
    } else {
      order = req.sort.map((s) => {
        const dir = s.desc ? 'DESC' : 'ASC';
        if (s.key === '_id') return `r.id ${dir}`;
        if (s.key === '_lastUpdated') return `r.last_updated ${dir}`;
        const agg = s.desc ? 'MAX(s.hi)' : 'MIN(s.lo)';
        return `(SELECT ${agg} FROM search_index s WHERE s.type = r.type AND s.id = r.id AND s.param = '${s.key.replace(/[^A-Za-z_-]/g, '')}') ${dir} NULLS LAST`;
      });
      order.push('r.last_updated DESC', 'r.id DESC');
    }
    for (const c of criteria) addCriterion(T, c, where, args);
    const whereSql = where.join(' AND ');
    const allArgs = [...fromArgs, ...args];
    const countAll = () => (this.#prepared(`SELECT count(*) AS n FROM ${from} WHERE ${whereSql}`).get(...allArgs) as { n: number }).n;
    if (req.summaryCount || req.count === 0) return { entries: [], total: countAll(), more: false };
    const rows = this.#prepared(`SELECT r.id, r.version, r.last_updated, r.deleted, v.body FROM ${from} WHERE ${whereSql} ORDER BY ${order.join(', ')} LIMIT ? OFFSET ?`)
      .all(...allArgs, req.count + 1, req.offset) as Row[];
    const more = rows.length > req.count;
    if (more) rows.pop();
    // The exact total costs a pass over every match: computed when asked
    // (_total=accurate) or when it is free (the first page holds everything).
    const total = req.total === 'accurate' ? countAll() : !more && req.offset === 0 ? rows.length : undefined;
    return { entries: rows.map((row) => this.#open(type, row)), more, ...(total !== undefined ? { total } : {}) };
  }
}

function dateClause(lo: string, hi: string, b: DateBound, args: unknown[]): string {
  switch (b.prefix) {
    case 'eq': args.push(b.lo, b.hi); return `(${lo} >= ? AND ${hi} <= ?)`;
    case 'ne': args.push(b.lo, b.hi); return `NOT (${lo} >= ? AND ${hi} <= ?)`;
    case 'gt': args.push(b.hi); return `${hi} > ?`;
    case 'lt': args.push(b.lo); return `${lo} < ?`;
    case 'ge': args.push(b.lo); return `${hi} >= ?`;
    case 'le': args.push(b.hi); return `${lo} <= ?`;
    case 'sa': args.push(b.hi); return `${lo} > ?`;
    case 'eb': args.push(b.lo); return `${hi} < ?`;
    case 'ap': {
      const slack = Math.max(Math.round((b.hi - b.lo) * 0.1), 86_400_000);
      args.push(b.hi + slack, b.lo - slack);
      return `(${lo} <= ? AND ${hi} >= ?)`;
    }
  }
}

function addCriterion(type: string, c: Criterion, where: string[], args: unknown[]): void {
  const exists = (param: string, cond: string) =>
    `EXISTS (SELECT 1 FROM search_index s WHERE s.type = '${type}' AND s.id = r.id AND s.param = '${param}' AND ${cond})`;
  switch (c.kind) {
    case 'id':
      where.push(`r.id IN (${c.ids.map(() => '?').join(', ')})`);
      args.push(...c.ids);
      return;
    case 'lastUpdated':
      where.push(dateClause('r.last_updated', 'r.last_updated', c.bound, args));
      return;
    case 'date':
      where.push(exists(c.param, dateClause('s.lo', 's.hi', c.bound, args)));
      return;
    case 'token': {
      const ors = c.values.map((v) => {
        const parts: string[] = [];
        if (v.code !== undefined) { parts.push('s.val = ?'); args.push(v.code); }
        if (v.sys === null) parts.push('s.sys IS NULL');
        else if (v.sys !== undefined) { parts.push('s.sys = ?'); args.push(v.sys); }
        return `(${parts.join(' AND ') || '1'})`;
      });
      where.push(exists(c.param, `(${ors.join(' OR ')})`));
      return;
    }
    case 'reference': {
      const ors = c.values.map((v) => {
        if (v.startsWith('*/')) { args.push(`%/${v.slice(2)}`); return 's.val LIKE ?'; }
        args.push(v);
        return 's.val = ?';
      });
      where.push(exists(c.param, `(${ors.join(' OR ')})`));
      return;
    }
  }
}

/** Re-exported for callers that want to tell FHIR errors apart. */
export { FhirError };
