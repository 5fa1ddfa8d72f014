/**
 * The FHIR REST interactions (https://hl7.org/fhir/R4/http.html), free of
 * HTTP: a request comes in as method, path, query, headers and body and
 * leaves as status, headers and a resource. Access is decided here, once per
 * interaction, through the policy door; every touch of patient data is
 * audited in the same transaction as the touch itself.
 */
import type { Principal } from '../auth/principal.ts';
import { Actions, type Action, type PolicyEngine, type PolicyInput } from '../policy/index.ts';
import type { Db, Store } from '../store/index.ts';
import { buildAuditEvent, type AuditFacts } from './audit-event.ts';
import { badRequest, FhirError, forbidden, notAllowed, notFound, toFhirError, unprocessable } from './outcome.ts';
import { parseSearch, toPairs, type QueryParams } from './query.ts';
import { FhirRepository, type WriteResult } from './repository.ts';
import { compartmentOf, normaliseReference } from './search-params.ts';
import { ID_PATTERN, isResourceType, type Bundle, type BundleEntry, type Resource, type StoredResource } from './types.ts';
import type { ResourceValidator } from './validate.ts';
import { depthIssue, MAX_DEPTH, walkReferences } from './validate.ts';
import { processBundle } from './bundle.ts';
import { capabilityStatement } from './capability.ts';

export interface FhirRequest {
  method: string;
  /** Path below the FHIR base, e.g. `/Patient/123/_history/2`. */
  path: string;
  query: QueryParams;
  headers: { ifMatch?: string; ifNoneExist?: string; prefer?: string };
  body?: unknown;
  principal: Principal;
  /** Absolute base URL of the FHIR endpoint, for links and Location headers. */
  baseUrl: string;
}

export interface FhirResponse {
  status: number;
  body?: Resource;
  headers?: Record<string, string>;
}

/** Appends a hash-chain link for an audit record (audit/ implements it; wired in node/). */
export interface AuditLink {
  append(db: Db, ref: string, json: string): void;
}

export interface FhirServiceOptions {
  store: Store;
  validator: ResourceValidator;
  policy: () => PolicyEngine;
  audit: AuditLink;
  nodeId: string;
  /** Called per interaction with its outcome, for metrics. */
  onOutcome?: (interaction: string, type: string, outcome: 'ok' | 'client_error' | 'denied' | 'error') => void;
  /**
   * Called after a commit with the resources a client interaction created
   * (event triggers: Wasm functions). Never called for writes of the node
   * itself, so a trigger's output cannot trigger again.
   */
  onCreated?: (resources: Resource[]) => void;
  /** Called per decision, for metrics. */
  onDecision?: (action: Action, allow: boolean) => void;
}

/**
 * One committed write, as {@link FhirService.onWrite} listeners get it:
 * `resource` is the version written, or for a delete the last live version.
 */
export interface FhirChange {
  interaction: 'create' | 'update' | 'delete';
  type: string;
  id: string;
  resource: Resource;
}

/** Per-interaction context: the audit records gathered while it runs. */
export interface Ctx {
  db: Db;
  principal: Principal;
  audits: AuditFacts[];
  baseUrl: string;
  /** Resources created by this interaction, reported to `onCreated` after the commit. */
  created: Resource[];
  /** Every create, update and delete of this interaction, reported to `onWrite` listeners after the commit. */
  changes: FhirChange[];
  /**
   * In a transaction: `Type/id` of every resource the transaction creates or
   * updates. References to them are valid before they are written, since the
   * transaction commits all of its entries or none.
   */
  pending?: ReadonlySet<string>;
}

const AUDIT_ONLY = new Set(['read', 'vread', 'search-type', 'history-instance']);

export class FhirService {
  readonly repo: FhirRepository;
  readonly #o: FhirServiceOptions;
  readonly #writeListeners = new Set<(changes: readonly FhirChange[]) => void>();

  constructor(o: FhirServiceOptions) {
    this.#o = o;
    this.repo = new FhirRepository(o.store.db, o.store.cipher);
  }

  /** Handles one request; never throws (errors become OperationOutcome responses). */
  async handle(req: FhirRequest): Promise<FhirResponse> {
    let interaction = 'unknown';
    let type = '-';
    try {
      const tooDeep = req.body === undefined ? undefined : depthIssue(req.body, MAX_DEPTH);
      if (tooDeep) throw FhirError.withIssues(400, [tooDeep]);
      const route = this.#route(req);
      interaction = route.interaction;
      type = route.type ?? '-';
      if (route.interaction === 'capabilities') return { status: 200, body: capabilityStatement(req.baseUrl) };
      const { res, created, changes } = await this.#o.store.write((db) => this.#inTransaction(db, req, route.run));
      if (created.length > 0) this.#notifyCreated(created);
      if (changes.length > 0) this.#notifyWrite(changes);
      this.#o.onOutcome?.(interaction, type, res.status < 400 ? 'ok' : res.status === 403 ? 'denied' : res.status < 500 ? 'client_error' : 'error');
      return res;
    } catch (err) {
      const e = toFhirError(err);
      this.#o.onOutcome?.(interaction, type, e.status === 403 ? 'denied' : e.status < 500 ? 'client_error' : 'error');
      return { status: e.status, body: e.toOutcome() };
    }
  }

  /**
   * Calls `listener` after every commit that created, updated or deleted
   * resources, through the API (batches and transactions included: what
   * committed) or by the node ({@link putAsSystem}); not for writes other parts
   * make through {@link repo} in their own transactions. A listener's error
   * is swallowed. Returns the unsubscribe.
   */
  onWrite(listener: (changes: readonly FhirChange[]) => void): () => void {
    this.#writeListeners.add(listener);
    return () => void this.#writeListeners.delete(listener);
  }

  #notifyWrite(changes: readonly FhirChange[]): void {
    for (const l of [...this.#writeListeners]) {
      try {
        l(changes);
      } catch {
        // a listener's failure never turns into the client's error
      }
    }
  }

  #notifyCreated(created: Resource[]): void {
    const listener = this.#o.onCreated;
    if (!listener) return;
    try {
      listener(created);
    } catch {
      // a listener's failure never turns into the client's error
    }
  }

  #inTransaction(db: Db, req: FhirRequest, run: (ctx: Ctx) => FhirResponse): { res: FhirResponse; created: Resource[]; changes: FhirChange[] } {
    const ctx: Ctx = { db, principal: req.principal, audits: [], baseUrl: req.baseUrl, created: [], changes: [] };
    let res: FhirResponse;
    db.exec('SAVEPOINT interaction');
    try {
      res = run(ctx);
      db.exec('RELEASE interaction');
    } catch (err) {
      db.exec('ROLLBACK TO interaction');
      db.exec('RELEASE interaction');
      ctx.audits = ctx.audits.filter((a) => a.outcome !== '0');
      ctx.created = [];
      ctx.changes = [];
      const e = toFhirError(err);
      res = { status: e.status, body: e.toOutcome() };
    }
    for (const a of ctx.audits) this.#writeAudit(db, a);
    return { res, created: ctx.created, changes: ctx.changes };
  }

  #writeAudit(db: Db, facts: AuditFacts): void {
    const event = buildAuditEvent(facts, this.#o.nodeId, new Date());
    const w = this.repo.create(event);
    this.#o.audit.append(db, `AuditEvent/${w.stored.resource.id}/${w.stored.versionId}`, w.json);
  }

  // ---- routing ----------------------------------------------------------------

  #route(req: FhirRequest): { interaction: string; type?: string; run: (ctx: Ctx) => FhirResponse } {
    const parts = req.path.split('/').filter((p) => p !== '');
    const m = req.method.toUpperCase();
    if (parts.length === 0) {
      if (m === 'POST') return { interaction: 'batch', run: (ctx) => this.#bundle(ctx, req.body) };
      throw notAllowed(`${m} is not supported on the FHIR base`);
    }
    if (parts.length === 1 && parts[0] === 'metadata' && m === 'GET') return { interaction: 'capabilities', run: () => ({ status: 200 }) };
    const [type, id, op, vid, ...rest] = parts as [string, string?, string?, string?, ...string[]];
    if (!isResourceType(type)) throw new FhirError(404, 'not-supported', `resource type '${type.slice(0, 64)}' is not supported by this server`);
    if (id !== undefined && !ID_PATTERN.test(id)) {
      if (id.startsWith('_') || id.startsWith('$')) throw notAllowed(`'${id.slice(0, 64)}' is not supported on ${type}`);
      throw badRequest(`'${id.slice(0, 64)}' is not a valid FHIR id`);
    }
    if (rest.length > 0 || (op !== undefined && op !== '_history')) throw new FhirError(404, 'not-found', `no such endpoint: ${req.path.slice(0, 120)}`);
    const readOnly = type === 'AuditEvent';
    if (id === undefined) {
      if (m === 'GET') return { interaction: 'search-type', type, run: (ctx) => this.#search(ctx, type, req.query, req.headers.prefer) };
      if (m === 'POST' && !readOnly) return { interaction: 'create', type, run: (ctx) => this.#create(ctx, type, req.body, req.headers.ifNoneExist) };
    } else if (op === undefined) {
      if (m === 'GET') return { interaction: 'read', type, run: (ctx) => this.#read(ctx, type, id) };
      if (m === 'PUT' && !readOnly) return { interaction: 'update', type, run: (ctx) => this.#update(ctx, type, id, req.body, req.headers.ifMatch) };
      if (m === 'DELETE' && !readOnly) return { interaction: 'delete', type, run: (ctx) => this.#delete(ctx, type, id) };
    } else if (vid === undefined) {
      if (m === 'GET') return { interaction: 'history-instance', type, run: (ctx) => this.#history(ctx, type, id) };
    } else {
      if (!/^\d{1,9}$/.test(vid)) throw notFound(`${type}/${id}/_history/${vid.slice(0, 20)} is not known`);
      if (m === 'GET') return { interaction: 'vread', type, run: (ctx) => this.#vread(ctx, type, id, Number(vid)) };
    }
    throw notAllowed(`${m} is not supported here${readOnly ? ' (AuditEvent is written by the node only)' : ''}`);
  }

  // ---- access -----------------------------------------------------------------

  /** Asks the policy for one action on one resource; on refusal records the refusal and throws (404 for a patient outside their compartment). */
  authorize(ctx: Ctx, action: Action, interaction: string, resource: Resource, ref?: string): string[] {
    const patients = compartmentOf(resource);
    const subjects = patients.length > 0 ? patients : [undefined];
    const policy = this.#o.policy();
    for (const patientId of subjects) {
      const input: PolicyInput = {
        action,
        user: { id: ctx.principal.id, role: ctx.principal.role },
        ...(patientId !== undefined ? { patient: { id: `Patient/${patientId}` } } : {}),
        data_stays_local: true,
        destination: 'local',
        resource: { type: resource.resourceType, ...(resource.id ? { id: resource.id } : {}), classification: patients.length > 0 ? 'phi' : 'directory' },
      };
      const d = policy.decide(input);
      this.#o.onDecision?.(action, d.allow);
      if (!d.allow) {
        if (patients.length > 0) ctx.audits.push({ interaction, principal: ctx.principal, ...(ref ? { target: ref } : {}), patients, outcome: '4', reason: d.reason });
        if (action === Actions.readRecord && ctx.principal.role === 'patient') {
          throw notFound(`${ref ?? resource.resourceType} is not known`);
        }
        throw forbidden(`access denied by policy (${d.reason})`);
      }
    }
    return patients;
  }

  #audit(ctx: Ctx, interaction: string, ref: string | undefined, patients: string[]): void {
    if (patients.length === 0) return;
    ctx.audits.push({ interaction, principal: ctx.principal, ...(ref ? { target: ref } : {}), patients, outcome: '0' });
  }

  // ---- interactions -------------------------------------------------------------

  #read(ctx: Ctx, type: string, id: string): FhirResponse {
    const s = this.repo.current(type, id);
    if (!s) throw notFound(`${type}/${id} is not known`);
    if (s.deleted) {
      // Only someone who could read it may learn that it was deleted (410); to others it is unknown (404).
      this.#authorizeLastLive(ctx, 'read', type, id);
      throw new FhirError(410, 'deleted', `${type}/${id} was deleted`);
    }
    const patients = this.authorize(ctx, Actions.readRecord, 'read', s.resource, `${type}/${id}`);
    if (type !== 'AuditEvent') this.#audit(ctx, 'read', `${type}/${id}`, patients);
    return ok(s);
  }

  #vread(ctx: Ctx, type: string, id: string, vid: number): FhirResponse {
    // A refusal must read exactly like a version that does not exist.
    const unknown = `${type}/${id}/_history/${vid} is not known`;
    const asUnknown = <T>(fn: () => T): T => {
      try {
        return fn();
      } catch (err) {
        throw err instanceof FhirError && err.status === 404 ? notFound(unknown) : err;
      }
    };
    let s: StoredResource;
    try {
      s = this.repo.vread(type, id, vid);
    } catch (err) {
      if (err instanceof FhirError && err.status === 410) asUnknown(() => this.#authorizeLastLive(ctx, 'vread', type, id));
      throw err;
    }
    const patients = asUnknown(() => this.authorize(ctx, Actions.readRecord, 'vread', s.resource, `${type}/${id}`));
    if (type !== 'AuditEvent') this.#audit(ctx, 'vread', `${type}/${id}`, patients);
    return ok(s);
  }

  /** Asks whether the reader may read the last live version of a deleted resource (throws as {@link authorize} does). */
  #authorizeLastLive(ctx: Ctx, interaction: string, type: string, id: string): void {
    const live = this.repo.history(type, id).find((v) => !v.deleted);
    if (live) this.authorize(ctx, Actions.readRecord, interaction, live.resource, `${type}/${id}`);
  }

  #history(ctx: Ctx, type: string, id: string): FhirResponse {
    const versions = this.repo.history(type, id);
    const latestLive = versions.find((v) => !v.deleted);
    const patients = latestLive ? this.authorize(ctx, Actions.readRecord, 'history-instance', latestLive.resource, `${type}/${id}`) : [];
    for (const v of versions) if (!v.deleted) this.authorize(ctx, Actions.readRecord, 'history-instance', v.resource, `${type}/${id}`);
    this.#audit(ctx, 'history-instance', `${type}/${id}`, patients);
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'history',
      total: versions.length,
      entry: versions.map((v) => ({
        fullUrl: `${ctx.baseUrl}/${type}/${id}`,
        ...(v.deleted ? {} : { resource: v.resource }),
        request: { method: v.deleted ? 'DELETE' : v.versionId === 1 ? 'POST' : 'PUT', url: v.versionId === 1 ? type : `${type}/${id}` },
        response: { status: v.deleted ? '204' : v.versionId === 1 ? '201' : '200', etag: `W/"${v.versionId}"`, lastModified: v.lastUpdated },
      })),
    };
    return { status: 200, body: bundle };
  }

  /** Search in one type, limited to the patient's compartment for a patient. */
  search(ctx: Ctx, type: string, query: QueryParams, prefer?: string): FhirResponse {
    return this.#search(ctx, type, query, prefer);
  }

  #search(ctx: Ctx, type: string, query: QueryParams, prefer?: string): FhirResponse {
    const lenient = /handling\s*=\s*lenient/.test(prefer ?? '');
    const req = parseSearch(type, query, { lenient });
    const compartment = ctx.principal.role === 'patient' && type !== 'Practitioner' ? (ctx.principal.patientId ?? '\u0000none') : undefined;
    const probe: Resource = compartment ? { resourceType: 'Patient', id: compartment } : { resourceType: type };
    this.authorize(ctx, Actions.readRecord, 'search-type', probe);
    const result = this.repo.search(type, req, compartment);
    const patients = new Set<string>();
    const entries: BundleEntry[] = [];
    for (const s of result.entries) {
      const ps = this.authorize(ctx, Actions.readRecord, 'search-type', s.resource, `${type}/${s.resource.id}`);
      ps.forEach((p) => patients.add(p));
      entries.push({ fullUrl: `${ctx.baseUrl}/${type}/${s.resource.id}`, resource: s.resource, search: { mode: 'match' } });
    }
    if (type !== 'AuditEvent') this.#audit(ctx, 'search-type', undefined, [...patients]);
    const link = (offset: number) => {
      const q = new URLSearchParams(query.filter(([k]) => k !== '_offset'));
      q.set('_offset', String(offset));
      if (!q.has('_count')) q.set('_count', String(req.count));
      return `${ctx.baseUrl}/${type}?${q.toString()}`;
    };
    const links = [{ relation: 'self', url: link(req.offset) }];
    if (!req.summaryCount && req.count > 0) {
      links.push({ relation: 'first', url: link(0) });
      if (req.offset > 0) links.push({ relation: 'previous', url: link(Math.max(0, req.offset - req.count)) });
      if (result.more) links.push({ relation: 'next', url: link(req.offset + req.count) });
      if (result.total !== undefined) links.push({ relation: 'last', url: link(Math.max(0, Math.floor((result.total - 1) / req.count) * req.count)) });
    }
    const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', ...(result.total !== undefined ? { total: result.total } : {}), link: links, entry: entries };
    return { status: 200, body: bundle };
  }

  #create(ctx: Ctx, type: string, body: unknown, ifNoneExist?: string): FhirResponse {
    const resource = this.#checkBody(body, type);
    if (ifNoneExist !== undefined) {
      const existing = this.#conditionalMatch(ctx, type, ifNoneExist);
      if (existing) return { ...ok(existing), status: 200 };
    }
    return this.createResolved(ctx, resource);
  }

  /** Creates a validated resource (used by create and by bundles). */
  createResolved(ctx: Ctx, resource: Resource, presetId?: string): FhirResponse {
    this.#checkReferences(ctx, resource);
    const candidate = presetId ? { ...resource, id: presetId } : resource;
    const patients = this.authorize(ctx, Actions.writeRecord, 'create', candidate);
    const w: WriteResult = presetId ? this.repo.update(candidate) : this.repo.create(resource);
    const ref = `${resource.resourceType}/${w.stored.resource.id}`;
    ctx.created.push(w.stored.resource);
    ctx.changes.push({ interaction: 'create', type: resource.resourceType, id: w.stored.resource.id!, resource: w.stored.resource });
    this.#audit(ctx, 'create', ref, patients.length > 0 ? patients : compartmentOf(w.stored.resource));
    return { ...ok(w.stored), status: 201, headers: { ...ok(w.stored).headers, location: `${ctx.baseUrl}/${ref}/_history/${w.stored.versionId}` } };
  }

  /** If-None-Exist: the one match, undefined for none, 412 for several (https://hl7.org/fhir/R4/http.html#ccreate). */
  #conditionalMatch(ctx: Ctx, type: string, criteria: string): StoredResource | undefined {
    const q = toPairs(criteria.replace(/^\?/, ''));
    if (q.length === 0) throw badRequest('If-None-Exist has no search criteria');
    const req = parseSearch(type, q);
    req.count = 2;
    const compartment = ctx.principal.role === 'patient' ? (ctx.principal.patientId ?? '\u0000none') : undefined;
    const found = this.repo.search(type, req, compartment);
    if (found.entries.length > 1 || found.more) throw new FhirError(412, 'multiple-matches', 'If-None-Exist matched more than one resource');
    const match = found.entries[0];
    if (match) this.authorize(ctx, Actions.readRecord, 'read', match.resource, `${type}/${match.resource.id}`);
    return match;
  }

  #update(ctx: Ctx, type: string, id: string, body: unknown, ifMatch?: string): FhirResponse {
    const resource = this.#checkBody(body, type);
    if (resource.id !== id) throw badRequest(`the resource id '${String(resource.id ?? '').slice(0, 64)}' does not match the URL id '${id}'`, `${type}.id`);
    return this.updateResolved(ctx, resource, ifMatch);
  }

  updateResolved(ctx: Ctx, resource: Resource, ifMatch?: string): FhirResponse {
    const type = resource.resourceType;
    const id = resource.id!;
    let expected: number | undefined;
    if (ifMatch !== undefined) {
      const m = /^(?:W\/)?"(\d+)"$/.exec(ifMatch.trim());
      if (!m) throw badRequest(`If-Match must be an ETag like W/"3", got '${ifMatch.slice(0, 40)}'`);
      expected = Number(m[1]);
    }
    this.#checkReferences(ctx, resource);
    const prev = this.repo.current(type, id);
    // A patient updates only live records of their own compartment and never
    // creates with an id of their choosing (that is POST): anything else is a
    // 404, exactly like a miss, so a PUT cannot probe which ids exist.
    if (ctx.principal.role === 'patient') {
      const own = prev !== undefined && !prev.deleted && ctx.principal.patientId !== undefined && compartmentOf(prev.resource).includes(ctx.principal.patientId);
      if (!own) throw notFound(`${type}/${id} is not known`);
    }
    if (prev && !prev.deleted) this.authorize(ctx, Actions.writeRecord, 'update', prev.resource, `${type}/${id}`);
    const patients = this.authorize(ctx, Actions.writeRecord, 'update', resource, `${type}/${id}`);
    const w = this.repo.update(resource, expected);
    ctx.changes.push({ interaction: w.created ? 'create' : 'update', type, id, resource: w.stored.resource });
    this.#audit(ctx, 'update', `${type}/${id}`, patients);
    return { ...ok(w.stored), status: w.created ? 201 : 200 };
  }

  #delete(ctx: Ctx, type: string, id: string): FhirResponse {
    const prev = this.repo.current(type, id);
    if (!prev) throw notFound(`${type}/${id} is not known`);
    // Someone who may not read the resource is told it is unknown (404), as a read would tell them, not refused (403).
    if (prev.deleted) {
      this.#authorizeLastLive(ctx, 'delete', type, id);
      return { status: 204 };
    }
    this.authorize(ctx, Actions.readRecord, 'delete', prev.resource, `${type}/${id}`);
    const patients = this.authorize(ctx, Actions.writeRecord, 'delete', prev.resource, `${type}/${id}`);
    this.repo.delete(type, id);
    ctx.changes.push({ interaction: 'delete', type, id, resource: prev.resource });
    this.#audit(ctx, 'delete', `${type}/${id}`, patients);
    return { status: 204 };
  }

  /**
   * Writes a resource with its own id as the node itself (seeding, internal
   * jobs): no user, so no policy question, but validated and audited like any write.
   */
  async putAsSystem(resource: Resource): Promise<Resource> {
    this.#o.validator.assertValid(resource);
    const principal: Principal = { id: `Device/${this.#o.nodeId}`, role: 'admin' };
    const { stored, created } = await this.#o.store.write((db) => {
      const w = resource.id === undefined ? this.repo.create(resource) : this.repo.update(resource);
      const stored = w.stored.resource;
      const patients = compartmentOf(stored);
      if (patients.length > 0) this.#writeAudit(db, { interaction: resource.id === undefined ? 'create' : 'update', principal, target: `${stored.resourceType}/${stored.id}`, patients, outcome: '0' });
      return { stored, created: w.created };
    });
    this.#notifyWrite([{ interaction: created ? 'create' : 'update', type: stored.resourceType, id: stored.id!, resource: stored }]);
    return stored;
  }

  /**
   * Audits resources another part wrote through {@link repo} inside its own
   * store transaction (batched writes such as live vitals): one AuditEvent per
   * call, naming the agent and every patient whose compartment was written.
   * Call inside the same transaction as the writes.
   */
  auditWrites(db: Db, agent: Principal, resources: readonly Resource[]): void {
    const patients = [...new Set(resources.flatMap((r) => compartmentOf(r)))];
    if (patients.length === 0) return;
    const only = resources.length === 1 ? resources[0] : undefined;
    this.#writeAudit(db, { interaction: 'create', principal: agent, ...(only?.id ? { target: `${only.resourceType}/${only.id}` } : {}), patients, outcome: '0' });
  }

  deleteResolved(ctx: Ctx, type: string, id: string): FhirResponse {
    return this.#delete(ctx, type, id);
  }

  readResolved(ctx: Ctx, type: string, id: string): FhirResponse {
    return this.#read(ctx, type, id);
  }

  #bundle(ctx: Ctx, body: unknown): FhirResponse {
    return processBundle(this, ctx, body);
  }

  /** Structural validation of a request body for `type`. */
  checkBody(body: unknown, type: string): Resource {
    return this.#checkBody(body, type);
  }

  #checkBody(body: unknown, type: string): Resource {
    if (body === undefined || body === null) throw badRequest('a request body with a FHIR resource is required');
    this.#o.validator.assertValid(body);
    const r = body as Resource;
    if (r.resourceType !== type) throw badRequest(`resourceType '${r.resourceType}' does not match the URL type '${type}'`, 'resourceType');
    return r;
  }

  /** Local literal references must point at resources that exist (422 otherwise). */
  #checkReferences(ctx: Ctx, resource: Resource): void {
    walkReferences(resource, resource.resourceType, (ref, path) => {
      if (ref.startsWith('#') || ref.startsWith('urn:') || /^https?:/.test(ref)) return;
      const n = normaliseReference(ref);
      if (!n) return;
      const [t, id] = n.split('/') as [string, string];
      if (!isResourceType(t)) return;
      if (t === resource.resourceType && id === resource.id) return;
      if (ctx.pending?.has(n)) return;
      const target = this.repo.current(t, id);
      if (!target || target.deleted) throw unprocessable(`${path}: the referenced ${t}/${id} does not exist on this node`, path);
    });
  }
}

export function ok(s: StoredResource): FhirResponse {
  return {
    status: 200,
    body: s.resource,
    headers: { etag: `W/"${s.versionId}"`, 'last-modified': new Date(s.lastUpdated).toUTCString() },
  };
}
