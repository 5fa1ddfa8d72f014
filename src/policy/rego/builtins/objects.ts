/**
 * Types, arrays and objects (opa `topdown/type.go`, `array.go`, `object.go`,
 * `json.go`), plus `walk` and `graph.reachable`.
 */
import { BuiltinError, ErrorCodes } from '../errors.ts';
import { equal, isNumber, RObject, RSet, typeName, type Value } from '../value.ts';
import { arr, builtinErr, collection, decl, obj, operandErr, smallInt, type BuiltinImpl, type Family } from './types.ts';

export const decls = [
  decl('is_number', 1), decl('is_string', 1), decl('is_boolean', 1), decl('is_array', 1),
  decl('is_set', 1), decl('is_object', 1), decl('is_null', 1), decl('type_name', 1),
  decl('array.concat', 2), decl('array.slice', 3), decl('array.reverse', 1), decl('array.flatten', 1),
  decl('object.get', 3), decl('object.keys', 1), decl('object.remove', 2), decl('object.union', 2),
  decl('object.union_n', 1), decl('object.filter', 2), decl('object.subset', 2),
  decl('json.filter', 2), decl('json.remove', 2), decl('json.patch', 2),
  decl('walk', 1), decl('graph.reachable', 2), decl('graph.reachable_paths', 2),
  decl('cast_array', 1), decl('cast_set', 1), decl('cast_string', 1), decl('cast_boolean', 1),
  decl('cast_null', 1), decl('cast_object', 1), decl('set_diff', 2),
];

function keysOf(fn: string, v: Value | undefined, pos: number): Value[] {
  if (Array.isArray(v)) return v;
  if (v instanceof RSet) return [...v.values()];
  if (v instanceof RObject) return v.keys();
  throw operandErr(fn, pos, 'one of {object, set, array}', v ?? null);
}

function unionObj(a: RObject, b: RObject): RObject {
  const out = a.clone();
  for (const [k, v] of b.entries()) {
    const cur = out.get(k);
    out.set(k, cur instanceof RObject && v instanceof RObject ? unionObj(cur, v) : v);
  }
  return out;
}

/** Parses json.filter / json.remove paths into segment lists. */
function paths(fn: string, v: Value | undefined): Value[][] {
  const items = v instanceof RSet ? [...v.values()] : Array.isArray(v) ? v : undefined;
  if (!items) throw new BuiltinError(`${fn}: operand 2 must be one of {set, array} but got ${typeName(v ?? null)}`, ErrorCodes.evalType);
  return items.map((p) => {
    if (typeof p === 'string') return p.replace(/^\/+/, '').split('/').filter((s, i, a) => !(s === '' && a.length === 1)).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (Array.isArray(p)) return p;
    throw new BuiltinError(`${fn}: operand 2 must be one of {set, array} containing string paths or array of path segments but got ${typeName(p)}`, ErrorCodes.evalType);
  });
}

interface PathTree {
  children: Map<string, { key: Value; tree: PathTree }>;
  leaf: boolean;
}

function pathTree(ps: Value[][]): PathTree {
  const root: PathTree = { children: new Map(), leaf: false };
  for (const p of ps) {
    let n = root;
    for (const seg of p) {
      const k = JSON.stringify(typeof seg === 'bigint' ? seg.toString() : seg);
      let c = n.children.get(k);
      if (!c) n.children.set(k, (c = { key: seg, tree: { children: new Map(), leaf: false } }));
      n = c.tree;
    }
    n.leaf = true;
  }
  return root;
}

function segMatches(key: Value, seg: Value): boolean {
  if (equal(key, seg)) return true;
  if (typeof key === 'number' && typeof seg === 'string') return String(key) === seg;
  return false;
}

/** The subtree of `t` whose path segment matches `key`, if any. */
function childFor(t: PathTree, key: Value): PathTree | undefined {
  for (const { key: seg, tree } of t.children.values()) if (segMatches(key, seg)) return tree;
  return undefined;
}

function filterValue(v: Value, t: PathTree): Value | undefined {
  if (t.leaf) return v;
  const pick = (key: Value) => childFor(t, key);
  if (v instanceof RObject) {
    const out = new RObject();
    for (const [k, x] of v.entries()) {
      const sub = pick(k);
      if (!sub) continue;
      const fx = filterValue(x, sub);
      if (fx !== undefined) out.set(k, fx);
    }
    return out;
  }
  if (Array.isArray(v)) {
    const out: Value[] = [];
    v.forEach((x, i) => {
      const sub = pick(i);
      if (!sub) return;
      const fx = filterValue(x, sub);
      if (fx !== undefined) out.push(fx);
    });
    return out;
  }
  if (v instanceof RSet) {
    const out = new RSet();
    for (const x of v.values()) {
      const sub = pick(x);
      if (!sub) continue;
      const fx = filterValue(x, sub);
      if (fx !== undefined) out.add(fx);
    }
    return out;
  }
  return undefined;
}

function removeValue(v: Value, t: PathTree): Value | undefined {
  if (t.leaf) return undefined;
  const pick = (key: Value) => childFor(t, key);
  if (v instanceof RObject) {
    const out = new RObject();
    for (const [k, x] of v.entries()) {
      const sub = pick(k);
      if (!sub) out.set(k, x);
      else {
        const rx = removeValue(x, sub);
        if (rx !== undefined) out.set(k, rx);
      }
    }
    return out;
  }
  if (Array.isArray(v)) {
    const out: Value[] = [];
    v.forEach((x, i) => {
      const sub = pick(i);
      if (!sub) out.push(x);
      else {
        const rx = removeValue(x, sub);
        if (rx !== undefined) out.push(rx);
      }
    });
    return out;
  }
  if (v instanceof RSet) {
    const out = new RSet();
    for (const x of v.values()) {
      const sub = pick(x);
      if (!sub) out.add(x);
      else {
        const rx = removeValue(x, sub);
        if (rx !== undefined) out.add(rx);
      }
    }
    return out;
  }
  return v;
}

function isSubset(sup: Value, sub: Value): boolean {
  if (sup instanceof RObject && sub instanceof RObject) {
    for (const [k, v] of sub.entries()) {
      const s = sup.get(k);
      if (s === undefined || !isSubset(s, v)) return false;
    }
    return true;
  }
  if (sup instanceof RSet && sub instanceof RSet) {
    for (const v of sub.values()) if (!sup.has(v)) return false;
    return true;
  }
  if (Array.isArray(sup) && sub instanceof RSet) {
    for (const v of sub.values()) if (!sup.some((x) => equal(x, v))) return false;
    return true;
  }
  if (Array.isArray(sup) && Array.isArray(sub)) {
    if (sub.length === 0) return true;
    for (let i = 0; i + sub.length <= sup.length; i++) {
      if (sub.every((x, j) => equal(sup[i + j]!, x))) return true;
    }
    return false;
  }
  return equal(sup, sub);
}

/** `walk` as a relation: yields [path, value] pairs lazily, so evaluation limits apply while it runs. */
export function* walkIter(v: Value, path: Value[] = []): Generator<Value> {
  yield [path.slice(), v];
  if (Array.isArray(v)) for (let i = 0; i < v.length; i++) yield* walkIter(v[i]!, [...path, i]);
  else if (v instanceof RObject) for (const [k, x] of v.sortedEntries()) yield* walkIter(x, [...path, k]);
  else if (v instanceof RSet) for (const x of v.sorted()) yield* walkIter(x, [...path, x]);
}

/** `walk`: every [path, value] pair below and including the root. */
export function walkPairs(v: Value, out: Value[] = [], path: Value[] = []): Value[] {
  out.push([path.slice(), v]);
  if (Array.isArray(v)) v.forEach((x, i) => walkPairs(x, out, [...path, i]));
  else if (v instanceof RObject) for (const [k, x] of v.sortedEntries()) walkPairs(x, out, [...path, k]);
  else if (v instanceof RSet) for (const x of v.sorted()) walkPairs(x, out, [...path, x]);
  return out;
}

function reachable(fn: string, g: Value | undefined, init: Value | undefined): RSet {
  const graph = obj(fn, g, 1);
  const start = collection(fn, init, 2, 'one of {array, set}');
  const seen = new RSet();
  const queue = [...start];
  while (queue.length) {
    const n = queue.shift()!;
    if (seen.has(n)) continue;
    const edges = graph.get(n);
    if (edges === undefined) continue;
    seen.add(n);
    if (Array.isArray(edges) || edges instanceof RSet) for (const e of edges instanceof RSet ? edges.values() : edges) queue.push(e);
  }
  return seen;
}

export const impls: Record<string, BuiltinImpl> = {
  is_number: ([a]) => isNumber(a!),
  is_string: ([a]) => typeof a === 'string',
  is_boolean: ([a]) => typeof a === 'boolean',
  is_array: ([a]) => Array.isArray(a),
  is_set: ([a]) => a instanceof RSet,
  is_object: ([a]) => a instanceof RObject,
  is_null: ([a]) => a === null,
  type_name: ([a]) => typeName(a!),
  cast_array: ([a]) => (Array.isArray(a) ? a : a instanceof RSet ? a.sorted() : undefined),
  cast_set: ([a]) => (a instanceof RSet ? a : Array.isArray(a) ? new RSet(a) : undefined),
  cast_string: ([a]) => (typeof a === 'string' ? a : undefined),
  cast_boolean: ([a]) => (typeof a === 'boolean' ? a : undefined),
  cast_null: ([a]) => (a === null ? null : undefined),
  cast_object: ([a]) => (a instanceof RObject ? a : undefined),
  set_diff: ([a, b]) => {
    if (!(a instanceof RSet)) throw operandErr('set_diff', 1, 'set', a ?? null);
    if (!(b instanceof RSet)) throw operandErr('set_diff', 2, 'set', b ?? null);
    return new RSet([...a.values()].filter((x) => !b.has(x)));
  },
  'array.concat': ([a, b]) => [...arr('array.concat', a, 1), ...arr('array.concat', b, 2)],
  'array.slice': ([a, b, c]) => {
    const xs = arr('array.slice', a, 1);
    let s = smallInt('array.slice', b, 2);
    let e = smallInt('array.slice', c, 3);
    if (s < 0) s = 0;
    if (e > xs.length) e = xs.length;
    if (s > e) return [];
    return xs.slice(s, e);
  },
  'array.reverse': ([a]) => [...arr('array.reverse', a, 1)].reverse(),
  'array.flatten': ([a]) => {
    return arr('array.flatten', a, 1).flatMap((x) => (Array.isArray(x) ? x : [x]));
  },
  'object.get': ([o, k, d]) => {
    const x = obj('object.get', o, 1);
    if (Array.isArray(k)) {
      let cur: Value = x;
      for (const seg of k) {
        let next: Value | undefined;
        if (cur instanceof RObject) next = cur.get(seg);
        else if (Array.isArray(cur) && typeof seg === 'number') next = cur[seg];
        else if (cur instanceof RSet) next = cur.has(seg) ? seg : undefined;
        if (next === undefined) return d!;
        cur = next;
      }
      return cur;
    }
    return x.get(k!) ?? d!;
  },
  'object.keys': ([o]) => new RSet(obj('object.keys', o, 1).keys()),
  'object.remove': ([o, k]) => {
    const x = obj('object.remove', o, 1);
    const out = x.clone();
    for (const key of keysOf('object.remove', k, 2)) out.delete(key);
    return out;
  },
  'object.union': ([a, b]) => unionObj(obj('object.union', a, 1), obj('object.union', b, 2)),
  'object.union_n': ([a]) => {
    const xs = arr('object.union_n', a, 1);
    let out = new RObject();
    for (const x of xs) {
      if (!(x instanceof RObject)) throw operandErr('object.union_n', 1, 'array', a!);
      out = unionObj(out, x);
    }
    return out;
  },
  'object.filter': ([o, k]) => {
    const x = obj('object.filter', o, 1);
    const out = new RObject();
    for (const key of keysOf('object.filter', k, 2)) {
      const v = x.get(key);
      if (v !== undefined) out.set(key, v);
    }
    return out;
  },
  'object.subset': ([a, b]) => {
    const ok = (v: Value | undefined): boolean => v instanceof RObject || v instanceof RSet || Array.isArray(v);
    if (!ok(a)) throw operandErr('object.subset', 1, 'one of {object, set, array}', a ?? null);
    if (!ok(b)) throw operandErr('object.subset', 2, 'one of {object, set, array}', b ?? null);
    if (a instanceof RObject !== b instanceof RObject) throw builtinErr('object.subset', 'both arguments must be objects, or neither');
    return isSubset(a!, b!);
  },
  'json.filter': ([o, p]) => {
    const x = obj('json.filter', o, 1);
    return filterValue(x, pathTree(paths('json.filter', p)));
  },
  'json.remove': ([o, p]) => {
    const x = obj('json.remove', o, 1);
    return removeValue(x, pathTree(paths('json.remove', p)));
  },
  'json.patch': ([o, p]) => jsonPatch(o!, arr('json.patch', p, 2)),
  walk: ([a]) => walkPairs(a!) as Value,
  'graph.reachable': ([g, i]) => reachable('graph.reachable', g, i),
  'graph.reachable_paths': ([g, i]) => {
    const graph = obj('graph.reachable_paths', g, 1);
    const out = new RSet();
    const visit = (n: Value, path: Value[]): void => {
      const edges = graph.get(n);
      const next = edges instanceof RSet ? [...edges.values()] : Array.isArray(edges) ? edges : [];
      const fresh = next.filter((e) => !path.some((p) => equal(p, e)) && graph.get(e) !== undefined);
      if (fresh.length === 0) out.add(path);
      for (const e of fresh) visit(e, [...path, e]);
    };
    for (const n of collection('graph.reachable_paths', i, 2)) if (graph.get(n) !== undefined) visit(n, [n]);
    return out;
  },
};

/** RFC 6902 JSON patch over Rego values. */
function jsonPatch(doc: Value, ops: Value[]): Value | undefined {
  let cur = doc;
  for (const op of ops) {
    if (!(op instanceof RObject)) return undefined;
    const kind = op.get('op');
    const p = op.get('path');
    const segs = ptr(p);
    if (segs === undefined) return undefined;
    let r: Value | undefined;
    if ((kind === 'add' || kind === 'replace' || kind === 'test') && op.get('value') === undefined) return undefined;
    switch (kind) {
      case 'add':
        r = patchAt(cur, segs, 'add', op.get('value'));
        break;
      case 'remove':
        r = patchAt(cur, segs, 'remove', undefined);
        break;
      case 'replace':
        r = patchAt(cur, segs, 'replace', op.get('value'));
        break;
      case 'move':
      case 'copy': {
        const from = ptr(op.get('from'));
        if (!from) return undefined;
        const v = getAt(cur, from);
        if (v === undefined) return undefined;
        r = kind === 'move' ? patchAt(cur, from, 'remove', undefined) : cur;
        if (r !== undefined) r = patchAt(r, segs, 'add', v);
        break;
      }
      case 'test': {
        const v = getAt(cur, segs);
        r = v !== undefined && equal(v, op.get('value') ?? null) ? cur : undefined;
        break;
      }
      default:
        return undefined;
    }
    if (r === undefined) return undefined;
    cur = r;
  }
  return cur;
}

/** An RFC 6901 array index: digits without leading zeros (or a number). */
function arrayIndex(s: Value): number {
  if (typeof s === 'number') return Number.isInteger(s) && s >= 0 ? s : -1;
  return typeof s === 'string' && /^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : -1;
}

function ptr(p: Value | undefined): Value[] | undefined {
  if (Array.isArray(p)) return p;
  if (typeof p !== 'string') return undefined;
  if (p === '') return [];
  if (!p.startsWith('/')) return p.split('/');
  return p.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function getAt(v: Value, segs: Value[]): Value | undefined {
  let cur: Value | undefined = v;
  for (const s of segs) {
    if (cur instanceof RObject) cur = cur.get(s);
    else if (Array.isArray(cur)) {
      const idx = arrayIndex(s);
      cur = idx < 0 ? undefined : cur[idx];
    } else if (cur instanceof RSet) cur = cur.has(s) ? s : undefined;
    else return undefined;
    if (cur === undefined) return undefined;
  }
  return cur;
}

function patchAt(v: Value, segs: Value[], op: 'add' | 'remove' | 'replace', val: Value | undefined): Value | undefined {
  if (segs.length === 0) return op === 'remove' ? undefined : val;
  const [s, ...rest] = segs as [Value, ...Value[]];
  if (v instanceof RObject) {
    const child = v.get(s);
    const out = v.clone();
    if (rest.length === 0) {
      if (op === 'add') out.set(s, val!);
      else if (child === undefined) return undefined;
      else if (op === 'remove') out.delete(s);
      else out.set(s, val!);
      return out;
    }
    if (child === undefined) return undefined;
    const r = patchAt(child, rest, op, val);
    if (r === undefined) return undefined;
    out.set(s, r);
    return out;
  }
  if (Array.isArray(v)) {
    const last = rest.length === 0;
    const idx = s === '-' ? v.length : arrayIndex(s);
    if (idx < 0) return undefined;
    const out = v.slice();
    if (last) {
      if (op === 'add') {
        if (idx > v.length) return undefined;
        out.splice(idx, 0, val!);
      } else {
        if (idx >= v.length) return undefined;
        if (op === 'remove') out.splice(idx, 1);
        else out[idx] = val!;
      }
      return out;
    }
    if (idx >= v.length) return undefined;
    const r = patchAt(v[idx]!, rest, op, val);
    if (r === undefined) return undefined;
    out[idx] = r;
    return out;
  }
  if (v instanceof RSet && rest.length > 0) {
    if (!v.has(s)) return undefined;
    const r = patchAt(s, rest, op, val);
    if (r === undefined) return undefined;
    return new RSet([...[...v.values()].filter((x) => !equal(x, s)), r]);
  }
  if (v instanceof RSet && rest.length === 0) {
    const out = new RSet(v.values());
    if (op === 'add') {
      if (!equal(s, val!)) return undefined;
      out.add(val!);
    }
    else if (!v.has(s)) return undefined;
    else {
      const keep = [...v.values()].filter((x) => !equal(x, s));
      return op === 'remove' ? new RSet(keep) : new RSet([...keep, val!]);
    }
    return out;
  }
  return undefined;
}

export const family: Family = { decls, impls };
