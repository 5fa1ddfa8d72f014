/**
 * The evaluator (opa `v1/topdown`): depth-first search with backtracking,
 * written in continuation-passing style. A continuation returns `true` to
 * stop the search (first solution found, or the caller has enough).
 */
import type { Loc } from './ast.ts';
import { relationImpls, relations } from './builtins/index.ts';
import type { BuiltinImpl } from './builtins/types.ts';
import { conflict, ErrorCodes, RegoError } from './errors.ts';
import { DocEvaluator } from './eval-docs.ts';
import { hasUnbound, isPrefix, lookup, NONE, printValue, upsert, type EvalOptions, type Frame, type K, type State, type VK } from './eval-state.ts';
import type { CBody, CExpr, CTerm, CWith, Program } from './ir.ts';
import { equal, RObject, RSet, type Value } from './value.ts';

export type { EvalOptions } from './eval-state.ts';
export { lookup, upsert } from './eval-state.ts';

export class Evaluator extends DocEvaluator {
  constructor(prog: Program, builtins: Map<string, BuiltinImpl>, opts: EvalOptions) {
    super(prog, builtins, opts);
  }

  body(b: CBody, i: number, f: Frame, k: K): boolean {
    if (i === b.length) return k();
    if ((++this.steps & 4095) === 0) this.checkDeadline();
    return this.expr(b[i]!, f, () => this.body(b, i + 1, f, k));
  }

  expr(e: CExpr, f: Frame, k: K): boolean {
    if (e.with.length > 0) return this.withExpr(e, f, k);
    if (e.neg) return this.exprInner(e, f, () => true) ? false : k();
    return this.exprInner(e, f, k);
  }

  exprInner(e: CExpr, f: Frame, k: K): boolean {
    switch (e.k) {
      case 'term':
        return this.term(e.t, f, (v) => v !== false && k());
      case 'unify':
        return this.unify(e.a, e.b, f, k);
      case 'some':
        return k();
      case 'somein':
        return this.term(e.coll, f, (coll) => this.iterate(coll, (key, val) => {
          if (e.key) return this.match(e.key, key, f, () => this.match(e.value, val, f, k));
          return this.match(e.value, val, f, k);
        }));
      case 'every':
        return this.every(e, f, k);
      case 'or':
        // a logic group succeeds at most once and binds nothing outside it
        for (const alt of e.alts) if (this.body(alt, 0, f, () => true)) return k();
        return false;
    }
  }

  every(e: CExpr & { k: 'every' }, f: Frame, k: K): boolean {
    let ok = false;
    this.term(e.coll, f, (coll) => {
      if (!(Array.isArray(coll) || coll instanceof RObject || coll instanceof RSet)) return true;
      ok = !this.iterate(coll, (key, val) => {
        const found = e.key
          ? this.match(e.key, key, f, () => this.match(e.value, val, f, () => this.body(e.body, 0, f, () => true)))
          : this.match(e.value, val, f, () => this.body(e.body, 0, f, () => true));
        return !found;
      });
      return true;
    });
    return ok ? k() : false;
  }

  withExpr(e: CExpr, f: Frame, k: K): boolean {
    const saved = this.st;
    const next: State = { input: saved.input, overrides: saved.overrides, mocks: saved.mocks, cache: new Map() };
    for (const w of e.with) this.applyWith(w, f, next, saved);
    const inner: CExpr = { ...e, with: [] };
    this.st = next;
    try {
      return this.expr(inner, f, () => {
        this.st = saved;
        try {
          return k();
        } finally {
          this.st = next;
        }
      });
    } finally {
      this.st = saved;
    }
  }

  applyWith(w: CWith, f: Frame, next: State, saved: State): void {
    let value: Value | typeof NONE = NONE;
    if (w.valueFn === undefined || w.kind !== 'fn') {
      const cur = this.st;
      this.st = saved;
      try {
        this.term(w.value, f, (v) => ((value = v), true));
      } finally {
        this.st = cur;
      }
    }
    if (w.kind === 'fn') {
      next.mocks = new Map(next.mocks);
      next.mocks.set(w.name, { fn: w.valueFn, value: value === NONE ? null : value });
      return;
    }
    if (value === NONE) {
      if (w.valueFn) return;
      throw new RegoError(ErrorCodes.evalType, 'with value is undefined', w.loc);
    }
    if (w.kind === 'input') next.input = w.path.length === 0 ? value : upsert(next.input, w.path, value);
    else next.overrides = [...next.overrides.filter((o) => !isPrefix(w.path, o.path)), { path: w.path, value }];
  }

  // ---- terms ----

  term(t: CTerm, f: Frame, k: VK): boolean {
    switch (t.k) {
      case 'val':
        return k(t.v);
      case 'ref':
      case 'data':
      case 'call': {
        // most terms have exactly one value: compute it directly, without continuations
        const v = this.direct(t, f);
        if (v !== NONE) return v === undefined ? false : k(v);
        break;
      }
    }
    switch (t.k) {
      case 'var': {
        const v = f[t.slot];
        if (v === undefined) throw new RegoError(ErrorCodes.unsafeVar, `var ${t.name} is unsafe`);
        return k(v);
      }
      case 'input':
        return this.st.input === undefined ? false : k(this.st.input);
      case 'ref':
        return this.term(t.head, f, (h) => this.deref(h, t.path, 0, f, k));
      case 'data':
        return this.dataRef(t.path, 0, this.prog.root, this.data, [], f, k);
      case 'array':
        return this.list(t.items, 0, [], f, (vs) => k(vs));
      case 'set':
        return this.list(t.items, 0, [], f, (vs) => k(new RSet(vs)));
      case 'object': {
        const flat = t.items.flat();
        return this.list(flat, 0, [], f, (vs) => {
          const o = new RObject();
          for (let i = 0; i < vs.length; i += 2) o.set(vs[i]!, vs[i + 1]!);
          return k(o);
        });
      }
      case 'call':
        return this.call(t, f, k);
      case 'acomp': {
        const out: Value[] = [];
        this.body(t.body, 0, f, () => this.term(t.head, f, (v) => (out.push(v), false)));
        return k(out);
      }
      case 'scomp': {
        const out = new RSet();
        this.body(t.body, 0, f, () => this.term(t.head, f, (v) => (out.add(v), false)));
        return k(out);
      }
      case 'ocomp': {
        const out = new RObject();
        this.body(t.body, 0, f, () =>
          this.term(t.key, f, (kv) =>
            this.term(t.value, f, (vv) => {
              const prev = out.get(kv);
              if (prev !== undefined && !equal(prev, vv)) throw conflict('object keys must be unique');
              out.set(kv, vv);
              return false;
            }),
          ),
        );
        return k(out);
      }
    }
  }

  /**
   * The single value of a term whose refs hold no unbound variable, computed
   * directly (undefined when it has none); NONE when the term may have
   * several values and must go through {@link term}.
   */
  direct(t: CTerm, f: Frame): Value | undefined | typeof NONE {
    switch (t.k) {
      case 'val':
        return t.v;
      case 'var': {
        const v = f[t.slot];
        return v === undefined ? NONE : v;
      }
      case 'input':
        return this.st.input;
      case 'ref': {
        let v = this.direct(t.head, f);
        if (v === NONE || v === undefined) return v;
        for (const p of t.path) {
          const key = this.direct(p, f);
          if (key === NONE) return NONE;
          if (key === undefined) return undefined;
          v = lookup(v, key);
          if (v === undefined) return undefined;
        }
        return v;
      }
      case 'data':
        return this.dataDirect(t, f);
      case 'call': {
        if (t.name === 'print' || relations.has(t.name)) return NONE;
        const args: Value[] = new Array(t.args.length);
        for (let i = 0; i < t.args.length; i++) {
          const a = this.direct(t.args[i]!, f);
          if (a === NONE) return NONE;
          if (a === undefined) return undefined;
          args[i] = a;
        }
        return this.invoke(t.name, t.user, args, t.loc);
      }
      default:
        return NONE;
    }
  }

  list(items: CTerm[], i: number, acc: Value[], f: Frame, k: (vs: Value[]) => boolean): boolean {
    if (i === items.length) return k(acc.slice());
    return this.term(items[i]!, f, (v) => {
      acc[i] = v;
      return this.list(items, i + 1, acc, f, k);
    });
  }

  /** `store`: v is (part of) the base document, whose object keys are strings. */
  deref(v: Value, path: CTerm[], i: number, f: Frame, k: VK, store = false): boolean {
    if (i === path.length) return k(v);
    const p = path[i]!;
    if (p.k === 'var' && f[p.slot] === undefined) {
      const slot = p.slot;
      return this.iterate(v, (key, val) => {
        f[slot] = key;
        try {
          return this.deref(val, path, i + 1, f, k, store);
        } finally {
          f[slot] = undefined;
        }
      });
    }
    if (hasUnbound(p, f)) {
      return this.iterate(v, (key, val) => this.match(p, key, f, () => this.deref(val, path, i + 1, f, k)));
    }
    return this.term(p, f, (key) => {
      if (store && typeof key === 'number' && v instanceof RObject && !v.has(key)) key = String(key);
      const next = lookup(v, key);
      return next === undefined ? false : this.deref(next, path, i + 1, f, k, store);
    });
  }

  /** Calls `k(key, value)` for each element of a collection. */
  iterate(v: Value, k: (key: Value, val: Value) => boolean): boolean {
    if (Array.isArray(v)) {
      for (let j = 0; j < v.length; j++) if (k(j, v[j]!)) return true;
    } else if (v instanceof RObject) {
      for (const [key, val] of [...v.entries()]) if (k(key, val)) return true;
    } else if (v instanceof RSet) {
      for (const x of [...v.values()]) if (k(x, x)) return true;
    }
    return false;
  }

  // ---- unification ----

  unify(a: CTerm, b: CTerm, f: Frame, k: K): boolean {
    if (a.k === 'var' && f[a.slot] === undefined) return this.term(b, f, (v) => this.bind(a.slot, v, f, k));
    if (b.k === 'var' && f[b.slot] === undefined) return this.term(a, f, (v) => this.bind(b.slot, v, f, k));
    if (a.k === 'array' && b.k === 'array') {
      if (a.items.length !== b.items.length) return false;
      return this.unifyItems(a.items, b.items, 0, f, k);
    }
    if (a.k === 'object' && b.k === 'object' && hasUnbound(a, f) && hasUnbound(b, f)) {
      if (a.items.length !== b.items.length) return false;
      const as: CTerm[] = [];
      const bs: CTerm[] = [];
      for (const [ka, va] of a.items) {
        let key: Value | typeof NONE = NONE;
        this.term(ka, f, (x) => ((key = x), true));
        if (key === NONE) return false;
        let match: CTerm | undefined;
        for (const [kb, vb] of b.items) {
          let kv: Value | typeof NONE = NONE;
          this.term(kb, f, (x) => ((kv = x), true));
          if (kv !== NONE && equal(kv, key)) match = vb;
        }
        if (!match) return false;
        as.push(va);
        bs.push(match);
      }
      return this.unifyItems(as, bs, 0, f, k);
    }
    if (hasUnbound(a, f)) return this.term(b, f, (v) => this.match(a, v, f, k));
    if (hasUnbound(b, f)) return this.term(a, f, (v) => this.match(b, v, f, k));
    return this.term(a, f, (va) => this.term(b, f, (vb) => equal(va, vb) && k()));
  }

  unifyItems(as: CTerm[], bs: CTerm[], i: number, f: Frame, k: K): boolean {
    if (i === as.length) return k();
    return this.unify(as[i]!, bs[i]!, f, () => this.unifyItems(as, bs, i + 1, f, k));
  }

  bind(slot: number, v: Value, f: Frame, k: K): boolean {
    f[slot] = v;
    try {
      return k();
    } finally {
      f[slot] = undefined;
    }
  }

  /** Matches a pattern term against a value, binding its unbound vars. */
  match(p: CTerm, v: Value, f: Frame, k: K): boolean {
    switch (p.k) {
      case 'val':
        return equal(p.v, v) && k();
      case 'var': {
        const cur = f[p.slot];
        if (cur !== undefined) return equal(cur, v) && k();
        return this.bind(p.slot, v, f, k);
      }
      case 'array':
        if (!Array.isArray(v) || v.length !== p.items.length) return false;
        return this.matchItems(p.items, v, 0, f, k);
      case 'object': {
        if (!(v instanceof RObject) || v.size !== p.items.length) return false;
        const vals: Value[] = [];
        const pats: CTerm[] = [];
        for (const [kt, vt] of p.items) {
          let key: Value | typeof NONE = NONE;
          this.term(kt, f, (x) => ((key = x), true));
          if (key === NONE) return false;
          const got = v.get(key);
          if (got === undefined) return false;
          vals.push(got);
          pats.push(vt);
        }
        return this.matchItems(pats, vals, 0, f, k);
      }
      default:
        return this.term(p, f, (pv) => equal(pv, v) && k());
    }
  }

  matchItems(ps: CTerm[], vs: Value[], i: number, f: Frame, k: K): boolean {
    if (i === ps.length) return k();
    return this.match(ps[i]!, vs[i]!, f, () => this.matchItems(ps, vs, i + 1, f, k));
  }

  // ---- data and rules ----

  call(t: CTerm & { k: 'call' }, f: Frame, k: VK): boolean {
    if (t.name === 'print' && !this.st.mocks?.has('print')) return this.print(t, f, k);
    if (t.args.some((a) => a.k === 'var' && f[a.slot] === undefined)) return this.callRefsFirst(t, f, k);
    return this.list(t.args, 0, [], f, (args) => {
      const rel = this.st.mocks?.has(t.name) ? undefined : relationImpls.get(t.name);
      if (rel) {
        for (const v of rel(args)) {
          if ((++this.steps & 1023) === 0) this.checkDeadline();
          if (k(v)) return true;
        }
        return false;
      }
      const v = this.invoke(t.name, t.user, args, t.loc);
      return v === undefined ? false : k(v);
    });
  }

  /** `f(x, data.a[x])` with x unbound: enumerate the refs first, then call. */
  callRefsFirst(t: CTerm & { k: 'call' }, f: Frame, k: VK): boolean {
    const order = t.args.map((_, i) => i).sort((a, b) => Number(t.args[a]!.k === 'var') - Number(t.args[b]!.k === 'var'));
    const items = order.map((i) => t.args[i]!);
    return this.list(items, 0, [], f, (vals) => {
      const args: Value[] = new Array(vals.length);
      order.forEach((orig, j) => (args[orig] = vals[j]!));
      const v = this.invoke(t.name, t.user, args, t.loc);
      return v === undefined ? false : k(v);
    });
  }

  invoke(name: string, user: boolean, args: Value[], loc: Loc): Value | undefined {
    const mock = this.st.mocks?.get(name);
    if (mock) {
      if (mock.fn === undefined) return mock.value;
      // a replacement runs against the originals: no mock applies inside another mock
      const saved = this.st;
      this.st = { ...saved, mocks: undefined, cache: new Map() };
      try {
        return this.invoke(mock.fn, mock.fn.startsWith('data.'), args, loc);
      } finally {
        this.st = saved;
      }
    }
    if (user) return this.callUser(name, args, loc);
    const impl = this.builtins.get(name);
    if (!impl) throw new RegoError(ErrorCodes.evalInternal, `unknown builtin ${name}`, loc);
    try {
      return impl(args, this.bctx);
    } catch (e) {
      const err = e instanceof RegoError ? e : new RegoError(ErrorCodes.evalBuiltin, `${name}: ${(e as Error).message}`);
      if (err.code === ErrorCodes.evalConflict) throw err;
      const located = err.loc ? err : new RegoError(err.code, err.message, loc);
      if (this.strict && this.builtinError === undefined) this.builtinError = located;
      return undefined;
    }
  }

  callUser(name: string, args: Value[], loc: Loc): Value | undefined {
    const node = this.prog.funcs.get(name);
    if (!node) throw new RegoError(ErrorCodes.evalInternal, `unknown function ${name}`, loc);
    this.enter();
    let result: Value | undefined;
    try {
      for (const r of node.funcs) {
        if (r.args!.length !== args.length) continue;
        this.ruleChain(r, args, (v) => {
          if (result !== undefined && !equal(result, v)) throw conflict('functions must not produce multiple outputs for same inputs', r.loc);
          result = v;
          return false;
        });
      }
      if (result === undefined && node.defaultRule) result = this.headValue(node.defaultRule, new Array(node.defaultRule.nslots));
    } finally {
      this.depth--;
    }
    return result;
  }

  print(t: CTerm & { k: 'call' }, f: Frame, k: VK): boolean {
    const parts = t.args.map((a) => {
      const vs: Value[] = [];
      try {
        this.term(a, f, (v) => (vs.push(v), false));
      } catch (e) {
        if (!(e instanceof RegoError)) throw e;
      }
      if (vs.length === 0) return '<undefined>';
      const v = vs[0]!;
      return typeof v === 'string' ? v : printValue(v);
    });
    this.printFn(parts.join(' '));
    return k(true);
  }

  // ---- queries ----

  /** Evaluates a compiled query; one row per solution. */
  query(body: CBody, vars: { name: string; slot: number }[], nslots: number): Map<string, Value>[] {
    const f: Frame = new Array(nslots);
    const rows: Map<string, Value>[] = [];
    try {
      this.run(body, f, vars, rows);
    } catch (e) {
      if (e instanceof RangeError) throw new RegoError(ErrorCodes.evalInternal, 'evaluation too deep (stack exhausted)');
      throw e;
    }
    if (this.builtinError) throw this.builtinError;
    return rows;
  }

  /** The value of one slot in the first solution of a body (undefined when there is none). */
  first(body: CBody, slot: number, nslots: number): Value | undefined {
    const f: Frame = new Array(nslots);
    let out: Value | undefined;
    this.body(body, 0, f, () => {
      out = f[slot];
      return true;
    });
    if (this.builtinError) throw this.builtinError;
    return out;
  }

  run(body: CBody, f: Frame, vars: { name: string; slot: number }[], rows: Map<string, Value>[]): void {
    this.body(body, 0, f, () => {
      const row = new Map<string, Value>();
      for (const v of vars) {
        const x = f[v.slot];
        if (x !== undefined) row.set(v.name, x);
      }
      rows.push(row);
      return false;
    });
  }
}
