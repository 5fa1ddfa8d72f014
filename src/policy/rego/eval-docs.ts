/**
 * The document side of the evaluator (opa `topdown/eval.go`, `evalTree`):
 * `data` references across the rule tree and the base document, rule values
 * (complete, partial, ref heads, defaults, else chains), conflicts, and the
 * limits that keep evaluation bounded.
 */
import type { BuiltinContext, BuiltinImpl } from './builtins/types.ts';
import { conflict, ErrorCodes, RegoError } from './errors.ts';
import type { CBody, CRule, CTerm, Program, RuleNode } from './ir.ts';
import {
  BuiltinCtx, DEFAULT_TIMEOUT_MS, hasRules, NONE, UNDEFINED, insertMember, insertValue, isPrefix, lookup, MAX_DEPTH, mergeDocs, printToStderr, samePath, upsert,
  type EvalOptions, type Frame, type K, type State, type VK,
} from './eval-state.ts';
import { equal, keyOf, RObject, RSet, type Value } from './value.ts';

export abstract class DocEvaluator {
  readonly prog: Program;
  readonly builtins: Map<string, BuiltinImpl>;
  st: State;
  readonly data: Value;
  readonly strict: boolean;
  builtinError: RegoError | undefined;
  readonly bctx: BuiltinContext;
  readonly printFn: (msg: string) => void;
  depth = 0;
  readonly maxDepth: number;
  steps = 0;
  readonly deadline: number;
  keyCaches: WeakMap<object, Map<RuleNode, Map<string, Value | typeof UNDEFINED>>> | undefined;


  constructor(prog: Program, builtins: Map<string, BuiltinImpl>, opts: EvalOptions) {
    this.prog = prog;
    this.builtins = builtins;
    this.data = opts.data ?? new RObject();
    this.strict = opts.strict === true;
    this.st = { input: opts.input, overrides: [], mocks: undefined, cache: new Map() };
    this.bctx = new BuiltinCtx(opts.now);
    this.printFn = opts.print ?? printToStderr;
    this.maxDepth = opts.maxDepth ?? MAX_DEPTH;
    this.deadline = opts.timeoutMs === undefined ? 0 : Date.now() + opts.timeoutMs;
  }

  checkDeadline(): void {
    if (this.deadline === 0) {
      (this as { deadline: number }).deadline = Date.now() + DEFAULT_TIMEOUT_MS;
      return;
    }
    if (Date.now() > this.deadline) throw new RegoError(ErrorCodes.evalCancel, 'evaluation exceeded its time budget');
  }

  // ---- bodies and expressions ----

  abstract body(b: CBody, i: number, f: Frame, k: K): boolean;
  abstract term(t: CTerm, f: Frame, k: VK): boolean;
  abstract deref(v: Value, path: CTerm[], i: number, f: Frame, k: VK, store?: boolean): boolean;
  abstract list(items: CTerm[], i: number, acc: Value[], f: Frame, k: (vs: Value[]) => boolean): boolean;
  abstract matchItems(ps: CTerm[], vs: Value[], i: number, f: Frame, k: K): boolean;

  // ---- data and rules ----

  dataRef(path: CTerm[], i: number, node: RuleNode | undefined, base: Value | undefined, segs: string[], f: Frame, k: VK): boolean {
    const ov = this.st.overrides;
    if (ov.length > 0) {
      for (const o of ov) if (samePath(o.path, segs)) return this.deref(o.value, path, i, f, k);
      if ((i === path.length || node === undefined || hasRules(node)) && ov.some((o) => isPrefix(segs, o.path))) {
        const v = this.materialize(node, base, segs);
        return v === undefined ? false : this.deref(v, path, i, f, k);
      }
    }
    if (node === undefined) return base === undefined ? false : this.deref(base, path, i, f, k, true);
    if (hasRules(node)) {
      if (i < path.length && onlyPartial(node)) {
        const key = this.direct(path[i]!, f);
        if (key === undefined) return false;
        if (key !== NONE) {
          const v = this.multiKeyValue(node, key);
          return v === undefined ? false : this.deref(v, path, i + 1, f, k);
        }
      }
      const v = this.nodeValue(node, base, segs);
      return v === undefined ? false : this.deref(v, path, i, f, k);
    }
    if (i === path.length) {
      const v = this.materialize(node, base, segs);
      return v === undefined ? false : k(v);
    }
    const p = path[i]!;
    if (p.k === 'val') return this.dataStep(p.v, path, i, node, base, segs, f, k);
    if (p.k === 'var' && f[p.slot] === undefined) {
      const keys = new Set<string>(node.children.keys());
      if (base instanceof RObject) for (const key of base.keys()) if (typeof key === 'string') keys.add(key);
      for (const o of this.st.overrides) if (o.path.length > segs.length && isPrefix(segs, o.path)) keys.add(o.path[segs.length]!);
      for (const key of keys) {
        f[p.slot] = key;
        try {
          if (this.dataStep(key, path, i, node, base, segs, f, k)) return true;
        } finally {
          f[p.slot] = undefined;
        }
      }
      return false;
    }
    return this.term(p, f, (key) => this.dataStep(key, path, i, node, base, segs, f, k));
  }

  /** {@link dataRef} for a path without unbound variables, in direct style; NONE to fall back. */
  dataDirect(t: CTerm & { k: 'data' }, f: Frame): Value | undefined | typeof NONE {
    if (this.st.overrides.length > 0) return NONE;
    const path = t.path;
    if (t.target === undefined) t.target = resolveTarget(this.prog.root, path);
    if (t.target !== null) {
      // a constant path onto a rule: jump straight to its value
      const node = t.target.node;
      let j = t.target.next;
      let v: Value | undefined;
      if (j < path.length && onlyPartial(node)) {
        // p[key]: only the rules that can produce this key
        const key = this.direct(path[j]!, f);
        if (key === NONE) return NONE;
        if (key === undefined) return undefined;
        v = this.multiKeyValue(node, key);
        j++;
      } else v = this.nodeValue(node, undefined, []);
      for (; j < path.length && v !== undefined; j++) {
        const key = this.direct(path[j]!, f);
        if (key === NONE) return NONE;
        if (key === undefined) return undefined;
        v = lookup(v, key);
      }
      return v;
    }
    let node: RuleNode | undefined = this.prog.root;
    let base: Value | undefined = this.data;
    for (let i = 0; i < path.length; i++) {
      if (node !== undefined && hasRules(node)) {
        let v = this.nodeValue(node, base, []);
        for (let j = i; j < path.length && v !== undefined; j++) {
          const key = this.direct(path[j]!, f);
          if (key === NONE) return NONE;
          if (key === undefined) return undefined;
          v = lookup(v, key);
        }
        return v;
      }
      let key = this.direct(path[i]!, f);
      if (key === NONE) return NONE;
      if (key === undefined) return undefined;
      if (typeof key === 'number' && base instanceof RObject && !base.has(key)) key = String(key);
      base = base === undefined ? undefined : lookup(base, key);
      node = typeof key === 'string' && node !== undefined ? node.children.get(key) : undefined;
      if (node === undefined && base === undefined) return undefined;
    }
    if (node === undefined) return base;
    return hasRules(node) ? this.nodeValue(node, base, []) : this.materialize(node, base, []);
  }

  abstract direct(t: CTerm, f: Frame): Value | undefined | typeof NONE;

  dataStep(key: Value, path: CTerm[], i: number, node: RuleNode, base: Value | undefined, segs: string[], f: Frame, k: VK): boolean {
    // the store addresses base documents by string keys: data[2] reads data["2"]
    if (typeof key === 'number' && base instanceof RObject && !base.has(key)) key = String(key);
    const b = base === undefined ? undefined : lookup(base, key);
    if (typeof key !== 'string') return b === undefined ? false : this.deref(b, path, i + 1, f, k);
    const child = node.children.get(key);
    const ov = this.st.overrides;
    if (ov.length === 0) {
      if (child === undefined && b === undefined) return false;
      return this.dataRef(path, i + 1, child, b, segs, f, k);
    }
    const next = [...segs, key];
    if (child === undefined && b === undefined && !ov.some((o) => isPrefix(next, o.path))) return false;
    return this.dataRef(path, i + 1, child, b, next, f, k);
  }

  /** The whole value of a rule-tree node merged with the base document. */
  materialize(node: RuleNode | undefined, base: Value | undefined, segs: string[]): Value | undefined {
    for (const o of this.st.overrides) if (samePath(o.path, segs)) return o.value;
    let v: Value | undefined;
    if (node === undefined) v = base;
    else if (hasRules(node)) v = this.nodeValue(node, base, segs);
    else {
      const out = base instanceof RObject ? base.clone() : new RObject();
      for (const [key, child] of node.children) {
        if (child.isFunc) continue;
        const b = base instanceof RObject ? base.get(key) : undefined;
        // where a base document and a rule overlap, the base document's value is kept
        if (b !== undefined && hasRules(child)) continue;
        const cv = this.materialize(child, b, [...segs, key]);
        if (cv !== undefined) out.set(key, cv);
      }
      v = out;
    }
    const deeper = this.st.overrides.filter((o) => o.path.length > segs.length && isPrefix(segs, o.path));
    if (v === undefined && deeper.length === 0) return undefined;
    for (const o of deeper) {
      v = upsert(v, o.path.slice(segs.length), o.value);
    }
    return v;
  }

  /**
   * The value of a rule node, computed once per evaluation state. Recursion is
   * rejected at compile time (`recursion.ts`); the depth cap is the backstop.
   */
  nodeValue(node: RuleNode, _base: Value | undefined, segs: string[]): Value | undefined {
    const cache = this.st.cache;
    const hit = cache.get(node);
    if (hit !== undefined) return hit === UNDEFINED ? undefined : (hit as Value);
    if (node.isFunc) return undefined;
    this.enter();
    let v: Value | undefined;
    try {
      v = node.multi.length > 0 ? this.multiValue(node, segs) : this.completeValue(node);
    } finally {
      this.depth--;
    }
    cache.set(node, v === undefined ? UNDEFINED : v);
    return v;
  }

  enter(): void {
    if (++this.depth > this.maxDepth) {
      this.depth--;
      throw new RegoError(ErrorCodes.evalInternal, 'maximum evaluation depth exceeded');
    }
  }

  completeValue(node: RuleNode): Value | undefined {
    let result: Value | undefined;
    // when every rule yields the same constant, the first success decides (no conflict is possible)
    const early = node.constant;
    for (const r of node.complete) {
      this.ruleChain(r, undefined, (v) => {
        if (result !== undefined && !equal(result, v)) {
          throw conflict('complete rules must not produce multiple outputs', r.loc);
        }
        result = v;
        return early;
      });
      if (early && result !== undefined) return result;
    }
    if (result === undefined && node.defaultRule) result = this.headValue(node.defaultRule, new Array(node.defaultRule.nslots));
    return result;
  }

  /**
   * Adds one partial rule's outputs to `root`. With `key`, only outputs under
   * that key are produced: the rule's first key term (or a set rule's member)
   * is matched to it before the body runs, as OPA does for `p[k]` lookups.
   */
  multiRule(r: CRule, root: { v: Value }, key: { v: Value } | undefined): void {
    const f: Frame = new Array(r.nslots);
    if (key === undefined) this.multiBody(r, root, f);
    else if (r.suffix.length > 0) this.match(r.suffix[0]!, key.v, f, () => this.multiBody(r, root, f));
    else if (r.member !== undefined) this.match(r.member, key.v, f, () => this.multiBody(r, root, f));
  }

  multiBody(r: CRule, root: { v: Value }, f: Frame): boolean {
    return this.body(r.body, 0, f, () =>
      this.list(r.suffix, 0, [], f, (keys) => {
        if (r.member !== undefined) {
          return this.term(r.member, f, (m) => {
            insertMember(root, keys, m);
            return false;
          });
        }
        return this.term(r.value!, f, (v) => {
          insertValue(root, keys, v, r.loc);
          return false;
        });
      }),
    );
  }

  /** `p[key]` for a node made only of partial rules, without computing all of `p`. */
  multiKeyValue(node: RuleNode, key: Value): Value | undefined {
    const whole = this.st.cache.get(node);
    if (whole !== undefined) return whole === UNDEFINED ? undefined : lookup(whole as Value, key);
    // per-key results live beside the state's cache, so `with` states never share them
    this.keyCaches ??= new WeakMap();
    let byNode = this.keyCaches.get(this.st.cache);
    if (!byNode) this.keyCaches.set(this.st.cache, (byNode = new Map()));
    let byKey = byNode.get(node);
    if (!byKey) byNode.set(node, (byKey = new Map()));
    const ck = keyOf(key);
    const hit = byKey.get(ck);
    if (hit !== undefined) return hit === UNDEFINED ? undefined : hit;
    const v = this.multiKeyCompute(node, key);
    byKey.set(ck, v === undefined ? UNDEFINED : v);
    return v;
  }

  multiKeyCompute(node: RuleNode, key: Value): Value | undefined {
    const isSet = node.multi.every((r) => r.suffix.length === 0 && r.member !== undefined);
    const root: { v: Value } = { v: isSet ? new RSet() : new RObject() };
    this.enter();
    try {
      for (const r of node.multi) this.multiRule(r, root, { v: key });
    } finally {
      this.depth--;
    }
    return lookup(root.v, key);
  }

  abstract match(p: CTerm, v: Value, f: Frame, k: K): boolean;

  /** Runs a rule (falling through its else chain) and reports each head value. */
  ruleChain(r: CRule, args: Value[] | undefined, k: VK): void {
    for (let cur: CRule | undefined = r; cur; cur = cur.else) {
      if (cur.guards !== undefined && !this.guardsHold(cur.guards)) continue;
      const f: Frame = new Array(cur.nslots);
      const found = args ? this.matchItems(cur.args!, args, 0, f, () => this.ruleBody(cur!, f, k)) : this.ruleBody(cur, f, k);
      if (found) return;
    }
  }

  /** Runs a rule body, reporting head values to `k`; true when the body had a solution. */
  ruleBody(rule: CRule, f: Frame, k: VK): boolean {
    let found = false;
    this.body(rule.body, 0, f, () => {
      found = true;
      if (rule.value === undefined) return false;
      return this.term(rule.value, f, k);
    });
    return found;
  }

  /** Rule indexing: `input.a.b == "const"` preconditions checked without running the body. */
  guardsHold(guards: { path: string[]; value: Value }[]): boolean {
    for (const g of guards) {
      let v: Value | undefined = this.st.input;
      for (const seg of g.path) {
        if (!(v instanceof RObject)) return false;
        v = v.get(seg);
      }
      if (v === undefined || !equal(v, g.value)) return false;
    }
    return true;
  }

  headValue(r: CRule, f: Frame): Value | undefined {
    let out: Value | undefined;
    if (r.value) this.term(r.value, f, (v) => ((out = v), true));
    return out;
  }

  multiValue(node: RuleNode, segs: string[]): Value {
    const isSet = node.multi.every((r) => r.suffix.length === 0 && r.member !== undefined);
    const root: { v: Value } = { v: isSet ? new RSet() : new RObject() };
    for (const r of node.multi) this.multiRule(r, root, undefined);
    if (node.children.size > 0 && root.v instanceof RObject) {
      for (const [key, child] of node.children) {
        if (child.isFunc) continue;
        const cv = this.materialize(child, undefined, [...segs, key]);
        if (cv === undefined) continue;
        const prev = root.v.get(key);
        root.v.set(key, prev === undefined ? cv : mergeDocs(prev, cv));
      }
    }
    return root.v;
  }

  // ---- calls ----
}

/** The rule node a path's constant string prefix lands on (the rule tree is fixed once compiled), or null. */
function resolveTarget(root: RuleNode, path: CTerm[]): { node: RuleNode; next: number } | null {
  let node = root;
  for (let i = 0; i < path.length; i++) {
    if (hasRules(node)) return { node, next: i };
    const p = path[i]!;
    if (p.k !== 'val' || typeof p.v !== 'string') return null;
    const c = node.children.get(p.v);
    if (!c) return null;
    node = c;
  }
  return hasRules(node) ? { node, next: path.length } : null;
}

/** A node whose value comes only from partial rules (no complete rules, defaults or sub-rules). */
function onlyPartial(node: RuleNode): boolean {
  return node.multi.length > 0 && node.complete.length === 0 && node.children.size === 0 && node.defaultRule === undefined;
}
