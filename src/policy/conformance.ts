/**
 * Runs OPA's YAML conformance cases (see shared/conformance/opa/README.md for
 * the format and the comparison rules of `testAssertResultSet`).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { compile, CompiledPolicy, RegoError, RegoErrors } from './rego/index.ts';
import { parseTerm } from './rego/parser.ts';
import { compare, fromJS, RObject, RSet, toJS, toJSON, type Value } from './rego/value.ts';

export interface ConformanceCase {
  note: string;
  query: string;
  modules?: string[];
  data?: unknown;
  input?: unknown;
  input_term?: string;
  want_result?: Record<string, unknown>[];
  want_error_code?: string;
  want_error?: string;
  sort_bindings?: boolean;
  strict_error?: boolean;
  experimental_keywords?: boolean;
}

export interface CaseResult {
  category: string;
  file: string;
  index: number;
  note: string;
  ok: boolean;
  reason: string;
}

export interface CategoryResult {
  category: string;
  passed: number;
  failed: number;
}

/** Reads a conformance YAML file; integers stay exact (bigint beyond 2^53). */
export function readCases(file: string): ConformanceCase[] {
  const doc = YAML.parse(readFileSync(file, 'utf8'), { intAsBigInt: true }) as { cases?: ConformanceCase[] };
  return doc?.cases ?? [];
}

const FIXED_NOW = 1700000000000000000n;

/** Runs one case and says whether it passed, and why not. */
export function runCase(c: ConformanceCase): { ok: boolean; reason: string } {
  let rows: Map<string, Value>[] | undefined;
  let err: unknown;
  try {
    const sources = (c.modules ?? []).map((text, i) => ({ file: `test-${i}.rego`, text }));
    const policy = compile(sources, { logicOps: c.experimental_keywords === true });
    let input: Value | undefined = c.input === undefined ? undefined : fromJS(c.input);
    if (c.input_term !== undefined) input = termValue(c.input_term);
    const q = policy.prepare(c.query, { logicOps: c.experimental_keywords === true });
    rows = policy.evaluate(q, {
      input,
      data: c.data === undefined ? new RObject() : fromJS(c.data),
      strict: c.strict_error === true,
      now: FIXED_NOW,
      print: () => {},
    });
  } catch (e) {
    err = e;
  }
  if (c.want_error_code !== undefined || c.want_error !== undefined) {
    if (err === undefined) return { ok: false, reason: `expected error ${c.want_error_code ?? ''} ${c.want_error ?? ''}, got result ${rowsText(rows!)}` };
    const errs = err instanceof RegoErrors ? err.errors : err instanceof RegoError ? [err] : [];
    const e = errs[0];
    if (!e) return { ok: false, reason: `unexpected exception: ${(err as Error).stack}` };
    if (c.want_error_code !== undefined && e.code !== c.want_error_code) return { ok: false, reason: `want code ${c.want_error_code}, got ${e.toString()}` };
    if (c.want_error !== undefined && !e.toString().includes(c.want_error)) return { ok: false, reason: `want error containing ${JSON.stringify(c.want_error)}, got ${e.toString()}` };
    return { ok: true, reason: '' };
  }
  if (err !== undefined) {
    const text = err instanceof RegoError || err instanceof RegoErrors ? err.toString() : (err as Error).stack ?? String(err);
    return { ok: false, reason: `unexpected error: ${text}` };
  }
  if (c.want_result === undefined) return { ok: false, reason: 'invalid case: no expectation' };
  const want = new Set(c.want_result.map((r) => canonRow(fromJS(r) as RObject)));
  const got = new Set(rows!.map((r) => canonRow(actualRow(r, c.sort_bindings === true))));
  const same = want.size === got.size && [...want].every((w) => got.has(w));
  return same ? { ok: true, reason: '' } : { ok: false, reason: `want ${[...want].join(' | ')}\n      got  ${[...got].join(' | ')}` };
}

function termValue(text: string): Value {
  const t = parseTerm(text);
  const p = new CompiledPolicy([]);
  void t;
  const rows = p.evaluate(`__input_term__ = ${text}`);
  return rows[0]?.get('__input_term__') ?? null;
}

function actualRow(r: Map<string, Value>, sortBindings: boolean): RObject {
  const o = new RObject();
  for (const [k, v] of r) {
    let x = fromJS(toJS(v));
    if (sortBindings && Array.isArray(x)) x = [...x].sort(compare);
    o.set(k, x);
  }
  return o;
}

function canonRow(o: RObject): string {
  return toJSON(normalize(o));
}

/** Sets become sorted arrays so that expected (JSON) and actual compare alike. */
function normalize(v: Value): Value {
  if (v instanceof RSet) return v.sorted().map(normalize);
  if (Array.isArray(v)) return v.map(normalize);
  if (v instanceof RObject) {
    const o = new RObject();
    for (const [k, x] of v.entries()) o.set(k, normalize(x));
    return o;
  }
  return v;
}

function rowsText(rows: Map<string, Value>[]): string {
  return rows.map((r) => toJSON(new RObject([...r.entries()]))).join(' | ');
}

/** Runs every case under `dir/<category>/*.yaml`. */
export function runConformance(dir: string, filter?: (category: string) => boolean): { cases: CaseResult[]; categories: CategoryResult[] } {
  const cases: CaseResult[] = [];
  const categories: CategoryResult[] = [];
  for (const category of readdirSync(dir).sort()) {
    const cdir = path.join(dir, category);
    if (!statSync(cdir).isDirectory() || (filter && !filter(category))) continue;
    const cat: CategoryResult = { category, passed: 0, failed: 0 };
    for (const file of readdirSync(cdir).filter((f) => f.endsWith('.yaml')).sort()) {
      const list = readCases(path.join(cdir, file));
      list.forEach((c, index) => {
        let r: { ok: boolean; reason: string };
        try {
          r = runCase(c);
        } catch (e) {
          r = { ok: false, reason: `harness error: ${(e as Error).stack}` };
        }
        cases.push({ category, file, index, note: c.note, ...r });
        if (r.ok) cat.passed++;
        else cat.failed++;
      });
    }
    categories.push(cat);
  }
  return { cases, categories };
}
