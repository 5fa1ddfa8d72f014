/**
 * Batch and transaction Bundles (https://hl7.org/fhir/R4/http.html#transaction).
 * A transaction is all or nothing: entries run in the spec's order (DELETE,
 * POST, PUT, GET), `urn:uuid:` full URLs are resolved to the ids the server
 * assigns, and any failure rolls back every entry. A batch runs each entry on
 * its own and reports each outcome.
 */
import { v7 as uuidv7 } from 'uuid';
import { badRequest, FhirError, toFhirError } from './outcome.ts';
import { toPairs } from './query.ts';
import type { Ctx, FhirResponse, FhirService } from './service.ts';
import { ID_PATTERN, isResourceType, type Bundle, type BundleEntry, type Resource } from './types.ts';

const ORDER: Record<string, number> = { DELETE: 0, POST: 1, PUT: 2, GET: 3 };
const MAX_ENTRIES = 1000;

interface Parsed {
  index: number;
  method: string;
  type: string;
  id?: string;
  query?: string;
  entry: BundleEntry;
}

function parseEntry(e: unknown, index: number): Parsed {
  const where = `Bundle.entry[${index}]`;
  if (e === null || typeof e !== 'object' || Array.isArray(e)) throw badRequest(`${where}: must be an object`, where);
  const entry = e as BundleEntry;
  const req = entry.request;
  if (!req || typeof req.method !== 'string' || typeof req.url !== 'string') throw badRequest(`${where}.request: method and url are required`, `${where}.request`);
  const method = req.method.toUpperCase();
  if (!(method in ORDER)) throw badRequest(`${where}.request.method: ${req.method.slice(0, 10)} is not supported in a bundle`, `${where}.request.method`);
  const [path, query] = req.url.replace(/^\//, '').split('?', 2) as [string, string?];
  const [type, id, ...rest] = path.split('/');
  if (!type || !isResourceType(type) || rest.length > 0 || (id !== undefined && !ID_PATTERN.test(id))) {
    throw badRequest(`${where}.request.url: '${req.url.slice(0, 80)}' is not a supported resource URL`, `${where}.request.url`);
  }
  if ((method === 'PUT' || method === 'DELETE') && id === undefined) throw badRequest(`${where}.request.url: ${method} needs Type/id`, `${where}.request.url`);
  if (method === 'POST' && id !== undefined) throw badRequest(`${where}.request.url: POST takes a type, not an id`, `${where}.request.url`);
  return { index, method, type, ...(id !== undefined ? { id } : {}), ...(query !== undefined ? { query } : {}), entry };
}

function replaceReferences(node: unknown, map: Map<string, string>): unknown {
  if (Array.isArray(node)) return node.map((n) => replaceReferences(n, map));
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    out[k] = k === 'reference' && typeof v === 'string' && map.has(v) ? map.get(v) : replaceReferences(v, map);
  }
  return out;
}

function toEntry(res: FhirResponse): BundleEntry {
  const response: NonNullable<BundleEntry['response']> = { status: String(res.status) };
  if (res.headers?.location) response.location = res.headers.location;
  if (res.headers?.etag) response.etag = res.headers.etag;
  if (res.headers?.['last-modified']) response.lastModified = new Date(res.headers['last-modified']).toISOString();
  if (res.status >= 400 && res.body) response.outcome = res.body;
  return { ...(res.body && res.status < 400 ? { resource: res.body } : {}), response };
}

function runOne(svc: FhirService, ctx: Ctx, p: Parsed, presetId?: string): FhirResponse {
  const r = p.entry.request!;
  switch (p.method) {
    case 'GET':
      if (p.id !== undefined) return svc.readResolved(ctx, p.type, p.id);
      return svc.search(ctx, p.type, toPairs(p.query ?? ''));
    case 'DELETE':
      return svc.deleteResolved(ctx, p.type, p.id!);
    case 'POST': {
      const resource = svc.checkBody(p.entry.resource, p.type);
      return svc.createResolved(ctx, resource, presetId);
    }
    case 'PUT': {
      const resource = svc.checkBody(p.entry.resource, p.type);
      if (resource.id !== p.id) throw badRequest(`Bundle.entry[${p.index}]: resource id does not match request.url`, `Bundle.entry[${p.index}].resource.id`);
      return svc.updateResolved(ctx, resource, r.ifMatch);
    }
    default:
      throw badRequest(`method ${p.method} is not supported`);
  }
}

export function processBundle(svc: FhirService, ctx: Ctx, body: unknown): FhirResponse {
  if (body === null || typeof body !== 'object' || Array.isArray(body) || (body as Resource).resourceType !== 'Bundle') {
    throw badRequest('POST to the FHIR base takes a Bundle of type batch or transaction');
  }
  const bundle = body as Bundle;
  if (bundle.type !== 'batch' && bundle.type !== 'transaction') throw badRequest(`Bundle.type must be batch or transaction, got '${String(bundle.type).slice(0, 20)}'`, 'Bundle.type');
  const entries = bundle.entry ?? [];
  if (!Array.isArray(entries)) throw badRequest('Bundle.entry must be an array', 'Bundle.entry');
  if (entries.length > MAX_ENTRIES) throw new FhirError(400, 'too-costly', `a bundle may hold at most ${MAX_ENTRIES} entries`);

  if (bundle.type === 'batch') {
    const out: BundleEntry[] = entries.map((e, i) => {
      ctx.db.exec('SAVEPOINT entry');
      const marks = [ctx.created.length, ctx.changes.length] as const;
      try {
        const res = runOne(svc, ctx, parseEntry(e, i));
        ctx.db.exec('RELEASE entry');
        return toEntry(res);
      } catch (err) {
        ctx.db.exec('ROLLBACK TO entry');
        ctx.db.exec('RELEASE entry');
        // what this entry wrote is gone: nobody is told it was created or changed
        ctx.created.length = marks[0];
        ctx.changes.length = marks[1];
        const fe = toFhirError(err);
        return toEntry({ status: fe.status, body: fe.toOutcome() });
      }
    });
    return { status: 200, body: { resourceType: 'Bundle', type: 'batch-response', entry: out } as Bundle };
  }

  // Transaction: parse all first; any malformed entry fails the whole bundle.
  const parsed = entries.map((e, i) => parseEntry(e, i));
  const ids = new Map<number, string>();
  const refMap = new Map<string, string>();
  const seen = new Set<string>();
  for (const p of parsed) {
    const key = p.id ? `${p.type}/${p.id}` : undefined;
    if (key && p.method !== 'GET') {
      if (seen.has(key)) throw badRequest(`Bundle.entry[${p.index}]: ${key} appears twice in the transaction`);
      seen.add(key);
    }
    if (p.method === 'POST') {
      const id = uuidv7();
      ids.set(p.index, id);
      if (p.entry.fullUrl) refMap.set(p.entry.fullUrl, `${p.type}/${id}`);
    } else if (p.method === 'PUT' && p.entry.fullUrl) {
      refMap.set(p.entry.fullUrl, `${p.type}/${p.id}`);
    }
  }
  // Conditional creates: an existing match is used instead of a new resource.
  const existing = new Map<number, FhirResponse>();
  for (const p of parsed) {
    const cond = p.entry.request?.ifNoneExist;
    if (p.method !== 'POST' || cond === undefined) continue;
    const found = svc.search(ctx, p.type, [...toPairs(cond.replace(/^\?/, '')), ['_count', '2']]);
    const b = found.body as Bundle;
    if ((b.entry?.length ?? 0) > 1) throw new FhirError(412, 'multiple-matches', `Bundle.entry[${p.index}]: ifNoneExist matched several resources`);
    const match = b.entry?.[0]?.resource;
    if (match) {
      existing.set(p.index, { status: 200, body: match, headers: { etag: `W/"${match.meta?.versionId ?? '1'}"` } });
      if (p.entry.fullUrl) refMap.set(p.entry.fullUrl, `${p.type}/${match.id}`);
    }
  }
  for (const p of parsed) if (p.entry.resource) p.entry = { ...p.entry, resource: replaceReferences(p.entry.resource, refMap) as Resource };
  // Entries may reference each other in any order (the spec fixes the processing order, not the entry order).
  const pending = new Set<string>();
  for (const p of parsed) {
    if (p.method === 'POST' && !existing.has(p.index)) pending.add(`${p.type}/${ids.get(p.index)}`);
    else if (p.method === 'PUT') pending.add(`${p.type}/${p.id}`);
  }
  ctx.pending = pending;

  const results = new Map<number, FhirResponse>();
  const order = [...parsed].sort((a, b) => ORDER[a.method]! - ORDER[b.method]! || a.index - b.index);
  for (const p of order) {
    try {
      const res = existing.get(p.index) ?? runOne(svc, ctx, p, ids.get(p.index));
      if (res.status >= 400) throw FhirError.withIssues(res.status, (res.body as unknown as { issue: FhirError['issues'] }).issue);
      results.set(p.index, res);
    } catch (err) {
      const fe = toFhirError(err);
      fe.issues.forEach((i) => (i.diagnostics = `Bundle.entry[${p.index}] (${p.method} ${p.entry.request?.url?.slice(0, 80)}): ${i.diagnostics ?? ''}`));
      throw fe;
    }
  }
  const out = parsed.map((p) => toEntry(results.get(p.index)!));
  return { status: 200, body: { resourceType: 'Bundle', type: 'transaction-response', entry: out } as Bundle };
}
