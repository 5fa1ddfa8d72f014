/**
 * Rego values. Scalars are JS primitives (null, boolean, string, number);
 * integers beyond 2^53 are `bigint` so that big numbers stay exact. Arrays are
 * JS arrays; sets and objects are {@link RSet} / {@link RObject}, keyed by a
 * canonical string so that any value may be a key (OPA allows non-string keys).
 *
 * Invariant: a number is a `bigint` exactly when it is an integer outside the
 * safe range; use {@link num} to normalise.
 */

export type Value = null | boolean | number | bigint | string | Value[] | RSet | RObject;

/** Canonical key of a value: strings are themselves (escaped when they start with NUL), the rest are tagged. */
export function keyOf(v: Value): string {
  if (typeof v === 'string') return v.length > 0 && v.charCodeAt(0) === 0 ? '\0s' + v : v;
  return '\0' + canon(v);
}

function canon(v: Value): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
    case 'bigint':
      return 'n' + String(v);
    case 'boolean':
      return v ? 'T' : 'F';
    case 'object':
      if (v === null) return 'N';
      if (Array.isArray(v)) return '[' + v.map(canon).join(',') + ']';
      if (v instanceof RSet) return 's{' + v.sorted().map(canon).join(',') + '}';
      return '{' + v.sortedEntries().map(([k, x]) => canon(k) + ':' + canon(x)).join(',') + '}';
  }
  return '?';
}

export class RSet {
  readonly m = new Map<string, Value>();
  #sorted: Value[] | undefined;
  constructor(items?: Iterable<Value>) {
    if (items) for (const x of items) this.add(x);
  }
  add(v: Value): void {
    const k = keyOf(v);
    if (!this.m.has(k)) {
      this.m.set(k, v);
      this.#sorted = undefined;
    }
  }
  has(v: Value): boolean {
    return this.m.has(keyOf(v));
  }
  get size(): number {
    return this.m.size;
  }
  values(): IterableIterator<Value> {
    return this.m.values();
  }
  /** Elements in Rego's sort order (cached until the next add). */
  sorted(): Value[] {
    if (this.#sorted === undefined) this.#sorted = [...this.m.values()].sort(compare);
    return this.#sorted;
  }
}

export class RObject {
  /** Values by canonical key (for plain string keys, the key itself). */
  readonly vals = new Map<string, Value>();
  /** Original keys, only for keys whose canonical form differs (non-strings). */
  #keys: Map<string, Value> | undefined;
  #sorted: [Value, Value][] | undefined;
  constructor(entries?: Iterable<[Value, Value]>) {
    if (entries) for (const [k, v] of entries) this.set(k, v);
  }
  set(k: Value, v: Value): void {
    if (typeof k === 'string' && (k.length === 0 || k.charCodeAt(0) !== 0)) this.vals.set(k, v);
    else {
      const ck = keyOf(k);
      (this.#keys ??= new Map()).set(ck, k);
      this.vals.set(ck, v);
    }
    this.#sorted = undefined;
  }
  get(k: Value): Value | undefined {
    return this.vals.get(typeof k === 'string' && (k.length === 0 || k.charCodeAt(0) !== 0) ? k : keyOf(k));
  }
  has(k: Value): boolean {
    return this.vals.has(keyOf(k));
  }
  delete(k: Value): void {
    const ck = keyOf(k);
    this.vals.delete(ck);
    this.#keys?.delete(ck);
    this.#sorted = undefined;
  }
  get size(): number {
    return this.vals.size;
  }
  /** Key/value pairs in insertion order. */
  entries(): [Value, Value][] {
    const out: [Value, Value][] = [];
    const keys = this.#keys;
    for (const [ck, v] of this.vals) out.push([keys !== undefined && keys.has(ck) ? keys.get(ck)! : ck, v]);
    return out;
  }
  keys(): Value[] {
    const keys = this.#keys;
    if (!keys) return [...this.vals.keys()];
    return [...this.vals.keys()].map((ck) => (keys.has(ck) ? keys.get(ck)! : ck));
  }
  sortedEntries(): [Value, Value][] {
    if (this.#sorted === undefined) this.#sorted = this.entries().sort((a, b) => compare(a[0], b[0]));
    return this.#sorted;
  }
  clone(): RObject {
    const o = new RObject();
    for (const [ck, v] of this.vals) o.vals.set(ck, v);
    if (this.#keys) o.#keys = new Map(this.#keys);
    return o;
  }
}

/** Normalises a number: unsafe integers become bigint, safe bigints become number. */
export function num(n: number | bigint): number | bigint {
  if (typeof n === 'bigint') return n >= -9007199254740991n && n <= 9007199254740991n ? Number(n) : n;
  if (Number.isInteger(n) && !Number.isSafeInteger(n) && Number.isFinite(n)) return BigInt(n);
  if (Object.is(n, -0)) return 0;
  return n;
}

export function isNumber(v: Value): v is number | bigint {
  return typeof v === 'number' || typeof v === 'bigint';
}

export function isInteger(v: Value): boolean {
  return typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v));
}

const typeRank = (v: Value): number => {
  switch (typeof v) {
    case 'boolean':
      return 1;
    case 'number':
    case 'bigint':
      return 2;
    case 'string':
      return 3;
    case 'object':
      if (v === null) return 0;
      if (Array.isArray(v)) return 4;
      if (v instanceof RObject) return 5;
      return 6;
  }
  return 7;
};

/** OPA's total order: null < boolean < number < string < array < object < set. */
export function compare(a: Value, b: Value): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 0:
      return 0;
    case 1:
      return a === b ? 0 : a ? 1 : -1;
    case 2:
      return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
    case 3:
      return a === b ? 0 : (a as string) < (b as string) ? -1 : 1;
    case 4: {
      const x = a as Value[];
      const y = b as Value[];
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) {
        const c = compare(x[i]!, y[i]!);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
    case 5: {
      const x = (a as RObject).sortedEntries();
      const y = (b as RObject).sortedEntries();
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) {
        let c = compare(x[i]![0], y[i]![0]);
        if (c !== 0) return c;
        c = compare(x[i]![1], y[i]![1]);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
    case 6: {
      const x = (a as RSet).sorted();
      const y = (b as RSet).sorted();
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) {
        const c = compare(x[i]!, y[i]!);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
  }
  return 0;
}

export function equal(a: Value, b: Value): boolean {
  if (a === b) return true;
  const ta = typeof a;
  if (ta !== 'object' || typeof b !== 'object' || a === null || b === null) {
    // number/bigint never mix for the same integer (normalised), so === above is enough
    return false;
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!equal(a[i]!, b[i]!)) return false;
    return true;
  }
  if (a instanceof RObject) {
    if (!(b instanceof RObject) || a.size !== b.size) return false;
    for (const [k, v] of a.vals) {
      const w = b.vals.get(k);
      if (w === undefined || !equal(v, w)) return false;
    }
    return true;
  }
  if (a instanceof RSet) {
    if (!(b instanceof RSet) || a.size !== b.size) return false;
    for (const k of a.m.keys()) if (!b.m.has(k)) return false;
    return true;
  }
  return false;
}

/** OPA's type names (`type_name` builtin). */
export function typeName(v: Value): string {
  switch (typeof v) {
    case 'boolean':
      return 'boolean';
    case 'number':
    case 'bigint':
      return 'number';
    case 'string':
      return 'string';
    default:
      if (v === null) return 'null';
      if (Array.isArray(v)) return 'array';
      if (v instanceof RSet) return 'set';
      return 'object';
  }
}

/** Documents nested deeper than this are refused (a clear error instead of a stack overflow). */
export const MAX_NESTING = 1000;

export class NestingError extends Error {}

/** Converts plain JS (JSON-like; bigint allowed) to a Rego value. */
export function fromJS(x: unknown, depth = 0): Value {
  if (x === null || x === undefined) return null;
  switch (typeof x) {
    case 'string':
    case 'boolean':
      return x;
    case 'number':
    case 'bigint':
      return num(x);
    case 'object': {
      if (depth > MAX_NESTING) throw new NestingError(`document nested deeper than ${MAX_NESTING} levels`);
      if (Array.isArray(x)) return x.map((e) => fromJS(e, depth + 1));
      if (x instanceof RSet || x instanceof RObject) return x;
      if (x instanceof Map) {
        const o = new RObject();
        for (const [k, v] of x) o.set(fromJS(k, depth + 1), fromJS(v, depth + 1));
        return o;
      }
      const o = new RObject();
      for (const k of Object.keys(x)) {
        const v = (x as Record<string, unknown>)[k];
        if (v !== undefined) o.set(k, fromJS(v, depth + 1)); // as in JSON, an undefined member is absent
      }
      return o;
    }
  }
  return null;
}

/** Converts a Rego value to plain JS the way OPA serialises to JSON: sets become sorted arrays, keys strings. */
export function toJS(v: Value): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(toJS);
  if (v instanceof RSet) return v.sorted().map(toJS);
  const o: Record<string, unknown> = {};
  for (const [k, x] of v.sortedEntries()) o[typeof k === 'string' ? k : toJSON(k)] = toJS(x);
  return o;
}

/** JSON text of a value (bigints written exactly). */
export function toJSON(v: Value, indent?: number): string {
  return stringifyJS(toJS(v), indent, 0);
}

export function stringifyJS(x: unknown, indent: number | undefined, depth: number): string {
  if (x === null || x === undefined) return 'null';
  switch (typeof x) {
    case 'bigint':
      return x.toString();
    case 'number':
      return formatNumber(x);
    case 'string':
      return JSON.stringify(x);
    case 'boolean':
      return x ? 'true' : 'false';
  }
  const nl = indent ? '\n' + ' '.repeat(indent * (depth + 1)) : '';
  const end = indent ? '\n' + ' '.repeat(indent * depth) : '';
  const sep = indent ? ': ' : ':';
  if (Array.isArray(x)) {
    if (x.length === 0) return '[]';
    return '[' + x.map((e) => nl + stringifyJS(e, indent, depth + 1)).join(',') + end + ']';
  }
  const keys = Object.keys(x as object);
  if (keys.length === 0) return '{}';
  return (
    '{' +
    keys.map((k) => nl + JSON.stringify(k) + sep + stringifyJS((x as Record<string, unknown>)[k], indent, depth + 1)).join(',') +
    end +
    '}'
  );
}

/** Formats a number like Go's strconv 'g'-ish JSON output used by OPA. */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return n.toFixed(0);
  const s = String(n);
  return s.replace('e+', 'e+');
}

/** Rego source text of a value (used by sprintf %v and print). */
export function toRegoString(v: Value): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return formatNumber(v);
    case 'bigint':
      return v.toString();
    case 'boolean':
      return v ? 'true' : 'false';
  }
  if (v === null) return 'null';
  if (Array.isArray(v)) return '[' + v.map(toRegoString).join(', ') + ']';
  if (v instanceof RSet) return v.size === 0 ? 'set()' : '{' + v.sorted().map(toRegoString).join(', ') + '}';
  return '{' + v.sortedEntries().map(([k, x]) => toRegoString(k) + ': ' + toRegoString(x)).join(', ') + '}';
}

export const EMPTY_OBJECT = new RObject();
