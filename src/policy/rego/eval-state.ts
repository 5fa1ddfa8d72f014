/**
 * Evaluator state and helpers shared by the evaluator's parts: frames,
 * continuations, `with` state, and document helpers (lookup, upsert, merge).
 */
import type { Loc } from './ast.ts';
import type { BuiltinContext } from './builtins/types.ts';
import { conflict } from './errors.ts';
import type { CTerm, RuleNode } from './ir.ts';
import { equal, RObject, RSet, toRegoString as toRego, type Value } from './value.ts';

export type K = () => boolean;
export type VK = (v: Value) => boolean;
export type Frame = (Value | undefined)[];

export interface Mock {
  fn: string | undefined;
  value: Value;
}

export interface State {
  input: Value | undefined;
  overrides: { path: string[]; value: Value }[];
  mocks: Map<string, Mock> | undefined;
  /** Rule values of this state; {@link UNDEFINED} marks a rule known to be undefined. */
  cache: Map<RuleNode, Value | typeof UNDEFINED>;
}

export interface EvalOptions {
  input?: Value | undefined;
  data?: Value;
  strict?: boolean;
  /** Fixed clock for `time.now_ns`, ns since the epoch. */
  now?: bigint;
  print?: (msg: string) => void;
  /** Maximum nesting of function calls and rule evaluations. */
  maxDepth?: number;
  /** Wall-clock budget of one query in ms (default 1000); past it evaluation stops with eval_cancel_error. */
  timeoutMs?: number;
}

export const NONE = Symbol('none');
export const UNDEFINED = Symbol('undefined');
export const MAX_DEPTH = 400;
export const DEFAULT_TIMEOUT_MS = 1000;

export class BuiltinCtx implements BuiltinContext {
  readonly cache = new Map<string, unknown>();
  #now: bigint | undefined;
  constructor(now: bigint | undefined) {
    this.#now = now;
  }
  now(): bigint {
    if (this.#now === undefined) this.#now = BigInt(Date.now()) * 1000000n;
    return this.#now;
  }
}

export function printToStderr(m: string): void {
  process.stderr.write(m + '\n');
}

export function printValue(v: Value): string {
  // print uses Rego term syntax for composites
  return toRego(v);
}


export function hasRules(n: RuleNode): boolean {
  return n.complete.length > 0 || n.multi.length > 0 || n.defaultRule !== undefined || n.funcs.length > 0;
}

export function lookup(v: Value, key: Value): Value | undefined {
  if (Array.isArray(v)) {
    if (typeof key === 'number' && Number.isInteger(key) && key >= 0 && key < v.length) return v[key];
    return undefined;
  }
  if (v instanceof RObject) return v.get(key);
  if (v instanceof RSet) return v.has(key) ? key : undefined;
  return undefined;
}

export function hasUnbound(t: CTerm, f: Frame): boolean {
  switch (t.k) {
    case 'var':
      return f[t.slot] === undefined;
    case 'array':
      return t.items.some((x) => hasUnbound(x, f));
    case 'object':
      return t.items.some(([, x]) => hasUnbound(x, f));
    default:
      return false;
  }
}

export function samePath(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function isPrefix(pre: string[], p: string[]): boolean {
  if (pre.length > p.length) return false;
  for (let i = 0; i < pre.length; i++) if (pre[i] !== p[i]) return false;
  return true;
}

/** Returns `doc` with `value` written at `path`, creating objects on the way. */
export function upsert(doc: Value | undefined, path: string[], value: Value): Value {
  if (path.length === 0) return value;
  const o = doc instanceof RObject ? doc.clone() : new RObject();
  const [head, ...rest] = path as [string, ...string[]];
  o.set(head, upsert(o.get(head), rest, value));
  return o;
}

/** Merges two rule outputs at the same key: sets union, objects merge, else they must be equal. */
/** Object values a rule produced as its leaf: other rules may not inject keys into them. */
const leafValues = new WeakSet<RObject>();

export function mergeDocs(a: Value, b: Value): Value {
  if (a instanceof RObject && leafValues.has(a) && !equal(a, b)) throw conflict('object keys must be unique');
  if (a instanceof RSet && b instanceof RSet) return new RSet([...a.values(), ...b.values()]);
  if (a instanceof RObject && b instanceof RObject) {
    const out = a.clone();
    for (const [k, v] of b.entries()) {
      const cur = out.get(k);
      out.set(k, cur === undefined ? v : mergeDocs(cur, v));
    }
    return out;
  }
  if (equal(a, b)) return a;
  throw conflict('object keys must be unique');
}

export function insertValue(root: { v: Value }, keys: Value[], v: Value, loc: Loc): void {
  let cur = root.v as RObject;
  for (let i = 0; i < keys.length - 1; i++) {
    let next = cur.get(keys[i]!);
    if (next === undefined) {
      next = new RObject();
      cur.set(keys[i]!, next);
    }
    if (!(next instanceof RObject)) throw conflict('object keys must be unique', loc);
    cur = next;
  }
  const last = keys[keys.length - 1]!;
  const prev = cur.get(last);
  if (prev !== undefined && !equal(prev, v)) throw conflict('object keys must be unique', loc);
  if (v instanceof RObject) leafValues.add(v);
  cur.set(last, v);
}

export function insertMember(root: { v: Value }, keys: Value[], m: Value): void {
  if (keys.length === 0) {
    (root.v as RSet).add(m);
    return;
  }
  let cur = root.v as RObject;
  for (let i = 0; i < keys.length - 1; i++) {
    let next = cur.get(keys[i]!);
    if (next === undefined) cur.set(keys[i]!, (next = new RObject()));
    cur = next as RObject;
  }
  const last = keys[keys.length - 1]!;
  let s = cur.get(last);
  if (s === undefined) cur.set(last, (s = new RSet()));
  (s as RSet).add(m);
}
