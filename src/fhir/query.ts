/**
 * Parsing of FHIR search requests (https://hl7.org/fhir/R4/search.html) into
 * criteria the repository runs. Unknown parameters, modifiers and malformed
 * values are errors (400) unless the client asked `Prefer: handling=lenient`.
 */
import { badRequest } from './outcome.ts';
import { dateRange, findParam, normaliseReference } from './search-params.ts';
import { ID_PATTERN } from './types.ts';

export type Prefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';
const PREFIXES = new Set<string>(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);

export interface DateBound { prefix: Prefix; lo: number; hi: number }
export type Criterion =
  | { kind: 'id'; ids: string[] }
  | { kind: 'lastUpdated'; bound: DateBound }
  | { kind: 'token'; param: string; values: Array<{ sys: string | null | undefined; code: string | undefined }> }
  | { kind: 'reference'; param: string; values: string[] }
  | { kind: 'date'; param: string; bound: DateBound };

export interface SortKey { key: string; desc: boolean }

export interface SearchRequest {
  criteria: Criterion[];
  count: number;
  offset: number;
  sort: SortKey[];
  /** `_summary=count`: only the total. */
  summaryCount: boolean;
  /** `_total`: `accurate` asks for the exact count on every page. */
  total?: 'none' | 'estimate' | 'accurate';
}

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;
/** Parameters that change the response format, not the result: accepted and ignored. */
const IGNORED = new Set(['_format', '_pretty']);

export type QueryParams = Array<[string, string]>;

/** Reads `a=1&b=2` (or a URLSearchParams) into ordered pairs. */
export function toPairs(q: string | URLSearchParams | Record<string, string | string[] | undefined>): QueryParams {
  if (typeof q === 'string') return [...new URLSearchParams(q)];
  if (q instanceof URLSearchParams) return [...q];
  const out: QueryParams = [];
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined) continue;
    for (const item of Array.isArray(v) ? v : [v]) out.push([k, item]);
  }
  return out;
}

function parseDate(raw: string, name: string): DateBound {
  let prefix: Prefix = 'eq';
  let text = raw;
  if (PREFIXES.has(raw.slice(0, 2))) {
    prefix = raw.slice(0, 2) as Prefix;
    text = raw.slice(2);
  }
  const r = dateRange(text);
  if (!r) throw badRequest(`search parameter '${name}': '${raw}' is not a valid date (YYYY, YYYY-MM, YYYY-MM-DD or dateTime, with an optional prefix eq|ne|gt|lt|ge|le|sa|eb|ap)`);
  return { prefix, lo: r[0], hi: r[1] };
}

export function parseSearch(type: string, params: QueryParams, opts: { lenient?: boolean } = {}): SearchRequest {
  const req: SearchRequest = { criteria: [], count: DEFAULT_COUNT, offset: 0, sort: [], summaryCount: false };
  for (const [rawName, value] of params) {
    const [name, modifier] = rawName.split(':', 2) as [string, string | undefined];
    const fail = (msg: string) => {
      if (!opts.lenient) throw badRequest(msg);
    };
    if (IGNORED.has(name)) continue;
    if (value === '' && name !== '_summary') {
      fail(`search parameter '${rawName}' has an empty value`);
      continue;
    }
    if (modifier !== undefined && name !== '_id') {
      fail(`search parameter modifier ':${modifier}' is not supported (parameter '${name}')`);
      continue;
    }
    switch (name) {
      case '_count': {
        const n = Number(value);
        if (!/^\d+$/.test(value) || n > MAX_COUNT) throw badRequest(`_count must be a whole number from 0 to ${MAX_COUNT}`);
        req.count = n;
        break;
      }
      case '_offset': {
        if (!/^\d{1,9}$/.test(value)) throw badRequest('_offset must be a whole number');
        req.offset = Number(value);
        break;
      }
      case '_sort':
        for (const part of value.split(',')) {
          const desc = part.startsWith('-');
          const key = desc ? part.slice(1) : part;
          const def = findParam(type, key);
          if (key !== '_id' && key !== '_lastUpdated' && def?.type !== 'date') {
            throw badRequest(`_sort: cannot sort ${type} by '${key}' (supported: _id, _lastUpdated and date parameters)`);
          }
          req.sort.push({ key, desc });
        }
        break;
      case '_summary':
        if (value === 'count') req.summaryCount = true;
        else if (value !== 'false') fail(`_summary=${value} is not supported (only count and false)`);
        break;
      case '_total':
        if (value === 'none' || value === 'estimate' || value === 'accurate') req.total = value;
        else fail(`_total=${value} is not valid (none, estimate or accurate)`);
        break;
      case '_id': {
        if (modifier !== undefined) throw badRequest(`search parameter modifier ':${modifier}' is not supported (parameter '_id')`);
        const ids = value.split(',');
        for (const id of ids) if (!ID_PATTERN.test(id)) throw badRequest(`_id: '${id.slice(0, 70)}' is not a valid id`);
        req.criteria.push({ kind: 'id', ids });
        break;
      }
      case '_lastUpdated':
        req.criteria.push({ kind: 'lastUpdated', bound: parseDate(value, name) });
        break;
      default: {
        const def = findParam(type, name);
        if (!def) {
          fail(`unknown search parameter '${name}' for ${type}`);
          break;
        }
        if (def.type === 'date') {
          req.criteria.push({ kind: 'date', param: name, bound: parseDate(value, name) });
        } else if (def.type === 'token') {
          const values = value.split(',').map((v) => {
            const bar = v.indexOf('|');
            if (bar < 0) return { sys: undefined, code: v };
            const sys = v.slice(0, bar);
            const code = v.slice(bar + 1);
            return { sys: sys === '' ? null : sys, code: code === '' ? undefined : code };
          });
          req.criteria.push({ kind: 'token', param: name, values });
        } else {
          const values = value.split(',').map((v) => {
            const ref = v.includes('/') ? normaliseReference(v) : ID_PATTERN.test(v) ? (def.target ? `${def.target}/${v}` : `*/${v}`) : undefined;
            if (ref === undefined || (def.target && !ref.startsWith(`${def.target}/`))) {
              throw badRequest(`search parameter '${name}': '${v.slice(0, 70)}' is not a valid reference${def.target ? ` to ${def.target}` : ''}`);
            }
            return ref;
          });
          req.criteria.push({ kind: 'reference', param: name, values });
        }
      }
    }
  }
  return req;
}
