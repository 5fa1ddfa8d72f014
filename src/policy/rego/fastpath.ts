/**
 * The compiled fast path of the decision the node asks: `allow`, `deny` and
 * (when the package has one) `reason`, generated into ONE JavaScript function
 * of the plain input that computes all three in one pass and returns a shared,
 * frozen decision object (nothing is allocated per decision).
 *
 * What compiles: complete rules with constant values (any number of rules,
 * `default`, `else` chains; conflicting values hand over to the evaluator, which
 * raises the conflict), whose bodies are made of
 * - `==`, `!=`, `<`, `<=`, `>`, `>=` and `=` between `input` paths, constants,
 *   locals and the values of other compilable rules;
 * - `x in C` (C a constant collection, an input path or a constant rule);
 * - `not <expr>`, rule references (`clinician`, `data.pkg.rule`) as conditions;
 * - `x := <term>` and `some x in <collection>` / `some k, x in <collection>`.
 * Anything else (builtin calls, `with`, `every`, comprehensions, functions,
 * partial rules, a bundle with base data) does not compile: the whole decision
 * then runs on the general evaluator.
 *
 * Identical results are the contract (a fast path that differs is a security
 * bug): the code follows the evaluator's semantics on the evaluator's view of
 * the input (`fromJS`): an undefined member is absent, functions and symbols are
 * null, numbers compare by value. Whenever a value is outside what the code
 * handles exactly (a Map or class instance on a path, a deep comparison of two
 * objects, a bigint against a number, a rule conflict, too many loop steps), it
 * throws {@link UNSUPPORTED} and the caller decides the same input on the general
 * evaluator. `fastpath.test.ts` checks both paths agree over generated inputs.
 *
 * Precondition (true of JSON and of object literals): the input's objects hold
 * their members as ordinary enumerable data properties.
 */
import type { CBody, CExpr, CRule, CTerm, RuleNode } from './ir.ts';
import { compare, equal, keyOf, num, RObject, RSet, type Value } from './value.ts';

/** Thrown when an input is outside what the generated code decides exactly; the caller then takes the general path. */
export const UNSUPPORTED = Symbol('fastpath: unsupported input');

/** Loop steps (`some x in ...`) one fast decision may take before it hands over to the evaluator and its time budget. */
const MAX_STEPS = 100_000;

/** Generated functions larger than this (lines) are not built; the evaluator decides instead. */
const MAX_LINES = 20_000;

const OBJECT_PROTO = Object.prototype;

// ---- runtime helpers the generated code calls (small, so V8 inlines them) ----

/** One step of a path into plain data: undefined when absent; UNSUPPORTED inside a Map or class instance. */
function get(v: unknown, k: string): unknown {
  if (typeof v !== 'object' || v === null) return undefined;
  const p = Object.getPrototypeOf(v);
  if (p === OBJECT_PROTO || p === null) return (v as Record<string, unknown>)[k];
  if (Array.isArray(v)) return undefined;
  throw UNSUPPORTED;
}

/** A member of an object that is not of Object.prototype: read when the object has no prototype, undefined in an array, else UNSUPPORTED. */
function slow(v: object, k: string): unknown {
  if (Object.getPrototypeOf(v) === null) return (v as Record<string, unknown>)[k];
  if (Array.isArray(v)) return undefined;
  throw UNSUPPORTED;
}

/** {@link get} for a key Object.prototype also has (`toString`, `__proto__`, ...): own members only. */
function getOwn(v: unknown, k: string): unknown {
  if (typeof v !== 'object' || v === null) return undefined;
  const p = Object.getPrototypeOf(v);
  if (p === OBJECT_PROTO || p === null) return Object.hasOwn(v, k) ? (v as Record<string, unknown>)[k] : undefined;
  if (Array.isArray(v)) return undefined;
  throw UNSUPPORTED;
}

/** A function or symbol, which the evaluator sees as null. */
function fnsym(x: unknown): boolean {
  const t = typeof x;
  return t === 'function' || t === 'symbol';
}

/** A bigint input equal to a number constant (the evaluator normalises safe bigints to numbers). */
function bigEq(x: bigint, c: number): boolean {
  return num(x) === c;
}

/** Rego equality of two defined values (plain or scalar); UNSUPPORTED when it takes more than a scalar comparison. */
function eqv(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const ta = typeof a;
  const tb = typeof b;
  if (ta === 'string' || tb === 'string' || ta === 'boolean' || tb === 'boolean') return false;
  if ((ta === 'number' || a === null) && (tb === 'number' || b === null)) return false;
  throw UNSUPPORTED;
}

/**
 * A plain or scalar value's place in OPA's type order (null < boolean < number < string < array < object < set).
 * Not value.ts `typeRank`: that one ranks the evaluator's values (an object is an RObject, anything else a set),
 * this one the input as the caller gave it (a plain object is an object; a function or symbol reads as null).
 */
function rank(x: unknown): number {
  switch (typeof x) {
    case 'boolean':
      return 1;
    case 'number':
    case 'bigint':
      return 2;
    case 'string':
      return 3;
    case 'object':
      return x === null ? 0 : Array.isArray(x) ? 4 : x instanceof RSet ? 6 : 5;
    default:
      return 0; // functions and symbols are null
  }
}

/** OPA's order of two defined values (value.ts `compare` once both are scalars of one rank); UNSUPPORTED for two collections. */
function ordv(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 0) return 0; // null, and functions or symbols read as null
  if (ra > 3) throw UNSUPPORTED;
  return compare(a as Value, b as Value);
}

/** A plain value against a collection constant: never equal unless it is itself a collection (then: evaluator). */
function eqComposite(x: unknown): boolean {
  if (typeof x === 'object' && x !== null) throw UNSUPPORTED;
  return false;
}

/** `x in c` for a plain collection c (internal.member_2 on the evaluator's view of c). */
function memberPlain(x: unknown, c: unknown): boolean {
  if (typeof c !== 'object' || c === null) return false;
  if (Array.isArray(c)) {
    for (let i = 0; i < c.length; i++) {
      const e: unknown = c[i];
      if (eqv(x, e === undefined ? null : e)) return true;
    }
    return false;
  }
  const p = Object.getPrototypeOf(c);
  if (p !== OBJECT_PROTO && p !== null) throw UNSUPPORTED;
  for (const k of Object.keys(c)) {
    const e = (c as Record<string, unknown>)[k];
    if (e !== undefined && eqv(x, e)) return true;
  }
  return false;
}

/** The keys `some ... in c` visits in a plain object c (own enumerable, as the evaluator sees it); UNSUPPORTED for a Map or class instance. */
function plainObjectKeys(c: object): string[] {
  const p = Object.getPrototypeOf(c);
  if (p !== OBJECT_PROTO && p !== null) throw UNSUPPORTED;
  return Object.keys(c);
}

const HELPERS = { get, getOwn, slow, hasOwn: Object.hasOwn, getPrototypeOf: Object.getPrototypeOf, OBJECT_PROTO, fnsym, bigEq, eqv, ordv, eqComposite, memberPlain, plainObjectKeys, UNSUPPORTED };

// ---- the code generator ----

/** What the generated code knows about a value. */
type Val =
  /** Known at compile time. */
  | { k: 'const'; v: Value }
  /** A value of the plain input (or undefined): anything JS can hold. */
  | { k: 'plain'; code: string }
  /** A Rego scalar (string, boolean, null, finite number, never a bigint) or undefined: a rule's value. */
  | { k: 'scalar'; code: string };

function isScalar(v: Value): v is string | boolean | null | number {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

function hasRules(n: RuleNode): boolean {
  return n.complete.length > 0 || n.multi.length > 0 || n.defaultRule !== undefined || n.funcs.length > 0;
}

/** A compiled rule node: its value lives in `v<id>`, the index of that value in `values` in `i<id>` (-1: undefined). */
interface NodeOut {
  id: number;
  values: Value[];
  /** Every value is a Rego scalar (so the node's value compares with plain data directly). */
  scalar: boolean;
}

/** A rule the generator does not compile (the message says which construct). */
class NotCompilable extends Error {}

function fail(why: string): never {
  throw new NotCompilable(why);
}

interface VarInfo {
  val: Val;
}

class Gen {
  readonly consts: unknown[] = [];
  readonly #constIdx = new Map<unknown, number>();
  /** Input paths read once at the top of the function: JSON of the path → local name. */
  readonly paths = new Map<string, string>();
  readonly nodeLines: string[] = [];
  readonly decls: string[] = [];
  readonly nodes = new Map<RuleNode, NodeOut>();
  readonly #visiting = new Set<RuleNode>();
  #ids = 0;
  #label = 0;
  #local = 0;
  usesSteps = false;

  constructor(readonly root: RuleNode) {}

  label(p: string): string {
    return `${p}${this.#label++}`;
  }

  local(p: string): string {
    return `${p}${this.#local++}`;
  }

  /** Source text of a value: a JSON literal for scalars, else a reference to the constants array. */
  lit(v: Value): string {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return JSON.stringify(v);
    if (typeof v === 'number' && Number.isFinite(v)) return Object.is(v, -0) ? '0' : JSON.stringify(v);
    return this.constRef(v);
  }

  constRef(v: unknown): string {
    let i = this.#constIdx.get(v);
    if (i === undefined) {
      i = this.consts.length;
      this.consts.push(v);
      this.#constIdx.set(v, i);
    }
    return `K[${i}]`;
  }

  /** The local holding `input.<path>` (read once, before any rule). */
  inputPath(path: string[]): string {
    let prev = 'in0';
    for (let i = 1; i <= path.length; i++) {
      const key = JSON.stringify(path.slice(0, i));
      let name = this.paths.get(key);
      if (name === undefined) {
        name = `p${this.paths.size}`;
        this.paths.set(key, name);
        let kids = this.#children.get(prev);
        if (!kids) this.#children.set(prev, (kids = []));
        kids.push([path[i - 1]!, name]);
      }
      prev = name;
    }
    return prev;
  }

  readonly #children = new Map<string, [string, string][]>();

  /**
   * The input reads, grouped by object: every member is loaded first (one
   * property site each, so V8 sees the input's shapes), then the object is
   * checked to be plain data; for anything else (a null-prototype object, an
   * array, a Map or class instance) the members are re-read by `H.slow`.
   */
  pathReads(): string[] {
    const out: string[] = [];
    const emit = (obj: string): void => {
      const kids = this.#children.get(obj);
      if (!kids) return;
      out.push(`  let ${kids.map(([, n]) => n).join(', ')};`);
      out.push(`  if (typeof ${obj} === 'object' && ${obj} !== null) {`);
      for (const [k, n] of kids) {
        const own = k in OBJECT_PROTO;
        out.push(`    ${n} = ${own ? `H.hasOwn(${obj}, ${JSON.stringify(k)}) ? ` : ''}${obj}[${JSON.stringify(k)}]${own ? ' : undefined' : ''};`);
      }
      out.push(`    if (getProto(${obj}) !== OBJECT_PROTO) { ${kids.map(([k, n]) => `${n} = H.slow(${obj}, ${JSON.stringify(k)});`).join(' ')} }`);
      out.push('  }');
      for (const [, n] of kids) emit(n);
    };
    emit('in0');
    return out;
  }

  /** A step into plain data inside a loop (`x.role` for `some x in ...`). */
  step(code: string, seg: string): string {
    return `${seg in OBJECT_PROTO ? 'H.getOwn' : 'H.get'}(${code}, ${JSON.stringify(seg)})`;
  }

  // ---- rule nodes ----

  /** Compiles a rule node (once) into the function's top level; its dependencies first. */
  node(n: RuleNode): NodeOut {
    const done = this.nodes.get(n);
    if (done) return done;
    if (this.#visiting.has(n)) fail('recursion');
    if (n.multi.length > 0 || n.funcs.length > 0 || n.isFunc || n.children.size > 0) fail(`rule ${n.key} is not a complete rule`);
    this.#visiting.add(n);
    const values: Value[] = [];
    const index = (v: Value): number => {
      const k = keyOf(v);
      const at = values.findIndex((x) => keyOf(x) === k);
      if (at >= 0) return at;
      values.push(v);
      return values.length - 1;
    };
    const chains: { rule: CRule; idx: number }[][] = n.complete.map((r) => {
      const out: { rule: CRule; idx: number }[] = [];
      for (let c: CRule | undefined = r; c; c = c.else) {
        if (c.value?.k !== 'val' || c.args) fail(`rule ${n.key} has a computed value`);
        out.push({ rule: c, idx: index(c.value.v) });
      }
      return out;
    });
    let defIdx = -1;
    if (n.defaultRule) {
      if (n.defaultRule.value?.k !== 'val') fail(`default of ${n.key} is computed`);
      defIdx = index(n.defaultRule.value.v);
    }
    const id = this.#ids++;
    const out: NodeOut = { id, values, scalar: values.every(isScalar) };
    const v = `v${id}`;
    const ix = `i${id}`;
    const lines: string[] = [];
    const nl = this.label('N');
    const set = (i: number): string => `${ix} = ${i}; ${v} = ${this.lit(values[i]!)};`;
    lines.push(`  ${nl}: {`);
    if (new Set(chains.flat().map((c) => c.idx)).size <= 1 || chains.length <= 1) {
      // one value, or one chain: the first body that holds decides (no conflict is possible)
      for (const chain of chains) {
        for (const { rule, idx } of chain) {
          const rl = this.label('R');
          lines.push(`    ${rl}: {`);
          this.body(rule.body, 0, new Map(), rl, [`      ${set(idx)} break ${nl};`], lines, '      ');
          lines.push('    }');
        }
      }
    } else {
      // several rules with different values: all run; two different values are a conflict (the evaluator reports it)
      for (const chain of chains) {
        const cl = this.label('C');
        const t = this.local('t');
        lines.push(`    let ${t} = -1;`, `    ${cl}: {`);
        for (const { rule, idx } of chain) {
          const rl = this.label('R');
          lines.push(`      ${rl}: {`);
          this.body(rule.body, 0, new Map(), rl, [`        ${t} = ${idx}; break ${cl};`], lines, '        ');
          lines.push('      }');
        }
        lines.push('    }');
        lines.push(`    if (${t} >= 0) { if (${ix} >= 0 && ${ix} !== ${t}) throw H.UNSUPPORTED; ${ix} = ${t}; }`);
      }
      lines.push(`    if (${ix} >= 0) { ${v} = VALS${id}[${ix}]; break ${nl}; }`);
      this.decls.push(`  const VALS${id} = ${this.constRef(values)};`);
    }
    if (defIdx >= 0) lines.push(`    ${set(defIdx)}`);
    lines.push('  }');
    this.#visiting.delete(n);
    this.decls.push(`  let ${v}, ${ix} = -1;`);
    this.nodeLines.push(...lines);
    this.nodes.set(n, out);
    return out;
  }

  /** A rule node a `data` path names exactly (a leaf of complete rules), or undefined when it names none. */
  target(path: CTerm[]): RuleNode {
    let n = this.root;
    for (const p of path) {
      if (hasRules(n)) fail('a path into a rule value');
      if (p.k !== 'val' || typeof p.v !== 'string') fail('a data path with a computed key');
      const c = n.children.get((p as { v: string }).v);
      if (!c) fail('a data path outside the rules');
      n = c!;
    }
    if (!hasRules(n)) fail('a data path onto a package');
    return n;
  }

  /** A rule that always has the same value (one rule, a body that always holds, no else): that value. */
  constantRule(n: RuleNode): Value | undefined {
    if (n.complete.length !== 1 || n.multi.length > 0 || n.funcs.length > 0 || n.isFunc || n.children.size > 0) return undefined;
    const r = n.complete[0]!;
    if (r.else || r.value?.k !== 'val' || r.body.some((e) => !(e.k === 'term' && !e.neg && e.with.length === 0 && e.t.k === 'val' && e.t.v !== false))) return undefined;
    return r.value.v;
  }

  // ---- bodies ----

  /**
   * Emits a body: each expression that fails breaks out of `failLabel`;
   * reaching the end runs `success`. Loops (`some x in`) nest the rest inside.
   */
  body(b: CBody, i: number, vars: Map<number, VarInfo>, failLabel: string, success: string[], out: string[], ind: string): void {
    if (out.length > MAX_LINES) fail('too large');
    if (i === b.length) {
      out.push(...success.map((s) => ind + s.trimStart()));
      return;
    }
    const e = b[i]!;
    if (e.with.length > 0) fail('with');
    if (e.k === 'some') return this.body(b, i + 1, vars, failLabel, success, out, ind);
    if (!e.neg && e.k === 'somein') return this.someIn(e, b, i, vars, failLabel, success, out, ind);
    if (!e.neg && e.k === 'unify') {
      const bind = this.binding(e.a, e.b, vars) ?? this.binding(e.b, e.a, vars);
      if (bind) {
        const [slot, val] = bind;
        const inner = new Map(vars);
        if (val.k === 'const') inner.set(slot, { val });
        else {
          const name = this.local('x');
          out.push(`${ind}const ${name} = ${val.code};`, `${ind}if (${name} === undefined) break ${failLabel};`);
          inner.set(slot, { val: { k: val.k, code: name } });
        }
        return this.body(b, i + 1, inner, failLabel, success, out, ind);
      }
    }
    const c = this.cond(e, vars);
    if (c !== 'true') out.push(`${ind}if (!(${c})) break ${failLabel};`);
    this.body(b, i + 1, vars, failLabel, success, out, ind);
  }

  /** `x := t` / `x = t` with x an unbound local: the slot and the value it takes. */
  binding(a: CTerm, b: CTerm, vars: Map<number, VarInfo>): [number, Val] | undefined {
    if (a.k !== 'var' || vars.has(a.slot)) return undefined;
    if (b.k === 'var' && !vars.has(b.slot)) fail('unification of two unbound locals');
    return [a.slot, this.value(b, vars)];
  }

  someIn(e: CExpr & { k: 'somein' }, b: CBody, i: number, vars: Map<number, VarInfo>, failLabel: string, success: string[], out: string[], ind: string): void {
    const vt = e.value;
    const kt = e.key;
    if (vt.k !== 'var' || vars.has(vt.slot)) fail('some ... in with a pattern');
    if (kt && (kt.k !== 'var' || vars.has(kt.slot) || kt.slot === vt.slot)) fail('some k, v in with a pattern');
    const coll = this.value(e.coll, vars);
    const inner = new Map(vars);
    this.usesSteps = true;
    if (coll.k === 'scalar') {
      out.push(`${ind}break ${failLabel};`); // a rule value that is a scalar is no collection
      return;
    }
    if (coll.k === 'const') {
      const c = coll.v;
      const pairs: [Value, Value][] = Array.isArray(c) ? c.map((x, j) => [j, x]) : c instanceof RSet ? c.sorted().map((x) => [x, x]) : c instanceof RObject ? c.entries() : [];
      if (!pairs.every(([k, x]) => isScalar(k) && isScalar(x))) fail('some ... in a constant of collections');
      const arr = this.constRef(pairs);
      const j = this.local('j');
      const x = this.local('x');
      const kx = this.local('k');
      out.push(`${ind}for (let ${j} = 0; ${j} < ${arr}.length; ${j}++) {`, `${ind}  if (++steps > ${MAX_STEPS}) throw H.UNSUPPORTED;`);
      out.push(`${ind}  const ${kx} = ${arr}[${j}][0], ${x} = ${arr}[${j}][1];`);
      inner.set(vt.slot, { val: { k: 'scalar', code: x } });
      if (kt) inner.set(kt.slot, { val: { k: 'scalar', code: kx } });
      const l = this.label('L');
      out.push(`${ind}  ${l}: {`);
      this.body(b, i + 1, inner, l, success, out, ind + '    ');
      out.push(`${ind}  }`, `${ind}}`, `${ind}break ${failLabel};`);
      return;
    }
    // a plain collection: an array (elements, undefined is null), a plain object (members, undefined is absent)
    const cv = this.local('c');
    const j = this.local('j');
    const x = this.local('x');
    const ks = this.local('ks');
    const kx = this.local('k');
    const la = this.label('L');
    const lo = this.label('L');
    inner.set(vt.slot, { val: { k: 'plain', code: x } });
    out.push(`${ind}const ${cv} = ${coll.code};`);
    out.push(`${ind}if (Array.isArray(${cv})) {`);
    out.push(`${ind}  for (let ${j} = 0; ${j} < ${cv}.length; ${j}++) {`, `${ind}    if (++steps > ${MAX_STEPS}) throw H.UNSUPPORTED;`);
    out.push(`${ind}    let ${x} = ${cv}[${j}]; if (${x} === undefined) ${x} = null;`);
    if (kt) inner.set(kt.slot, { val: { k: 'scalar', code: j } });
    out.push(`${ind}    ${la}: {`);
    this.body(b, i + 1, inner, la, success, out, ind + '      ');
    out.push(`${ind}    }`, `${ind}  }`);
    out.push(`${ind}} else if (typeof ${cv} === 'object' && ${cv} !== null) {`);
    out.push(`${ind}  const ${ks} = H.plainObjectKeys(${cv});`);
    out.push(`${ind}  for (let ${j} = 0; ${j} < ${ks}.length; ${j}++) {`, `${ind}    if (++steps > ${MAX_STEPS}) throw H.UNSUPPORTED;`);
    out.push(`${ind}    const ${kx} = ${ks}[${j}], ${x} = ${cv}[${kx}];`, `${ind}    if (${x} === undefined) continue;`);
    const inner2 = new Map(inner);
    if (kt) inner2.set(kt.slot, { val: { k: 'scalar', code: kx } });
    out.push(`${ind}    ${lo}: {`);
    this.body(b, i + 1, inner2, lo, success, out, ind + '      ');
    out.push(`${ind}    }`, `${ind}  }`, `${ind}}`, `${ind}break ${failLabel};`);
  }

  // ---- expressions ----

  /** A JS boolean expression: true when the expression holds (false when it fails or is undefined). */
  cond(e: CExpr, vars: Map<number, VarInfo>): string {
    let c: string;
    switch (e.k) {
      case 'term':
        c = this.termCond(e.t, vars);
        break;
      case 'unify':
        c = this.eq(this.value(e.a, vars), this.value(e.b, vars));
        break;
      default:
        return fail(`${e.k} expression`);
    }
    if (!e.neg) return c;
    return c === 'true' ? 'false' : c === 'false' ? 'true' : `!(${c})`;
  }

  termCond(t: CTerm, vars: Map<number, VarInfo>): string {
    if (t.k === 'call' && !t.user) {
      if (t.args.length !== 2) fail(`call of ${t.name}`);
      const a = this.value(t.args[0]!, vars);
      const b = this.value(t.args[1]!, vars);
      switch (t.name) {
        case 'equal':
          return this.eq(a, b);
        case 'neq':
          return this.neq(a, b);
        case 'lt':
          return this.ord(a, b, '<');
        case 'lte':
          return this.ord(a, b, '<=');
        case 'gt':
          return this.ord(a, b, '>');
        case 'gte':
          return this.ord(a, b, '>=');
        case 'internal.member_2':
          return this.member(a, b);
      }
      return fail(`call of ${t.name}`);
    }
    const v = this.value(t, vars);
    if (v.k === 'const') return v.v !== false ? 'true' : 'false';
    return `(${v.code} !== undefined && ${v.code} !== false)`;
  }

  /** A term's value (see {@link Val}); not compilable when it takes more than reading paths and rules. */
  value(t: CTerm, vars: Map<number, VarInfo>): Val {
    switch (t.k) {
      case 'val':
        if (typeof t.v === 'bigint') fail('a big integer constant');
        return { k: 'const', v: t.v };
      case 'var': {
        const b = vars.get(t.slot);
        if (!b) return fail(`unbound local ${t.name}`);
        return b.val;
      }
      case 'input':
        return { k: 'plain', code: 'in0' };
      case 'ref': {
        const segs: string[] = [];
        for (const p of t.path) {
          if (p.k !== 'val' || typeof p.v !== 'string') fail('a path with a computed key');
          segs.push((p as { v: string }).v);
        }
        if (t.head.k === 'input') return { k: 'plain', code: this.inputPath(segs) };
        const head = this.value(t.head, vars);
        if (head.k !== 'plain') fail('a path into a constant or a rule value');
        let code = (head as { code: string }).code;
        for (const s of segs) code = this.step(code, s);
        return { k: 'plain', code };
      }
      case 'data': {
        const n = this.target(t.path);
        const c = this.constantRule(n);
        if (c !== undefined && typeof c !== 'bigint') return { k: 'const', v: c };
        const out = this.node(n);
        if (!out.scalar) fail(`rule ${n.key} has collection values`);
        return { k: 'scalar', code: `v${out.id}` };
      }
      default:
        return fail(`${t.k} term`);
    }
  }

  /** `a == b`, false when either is undefined. */
  eq(a: Val, b: Val): string {
    if (a.k === 'const' && b.k === 'const') return equal(a.v, b.v) ? 'true' : 'false';
    if (b.k === 'const') [a, b] = [b, a];
    if (a.k === 'const') return this.eqConst(b as Exclude<Val, { k: 'const' }>, a.v);
    const x = (a as { code: string }).code;
    const y = (b as { code: string }).code;
    if (a.k === 'scalar' && b.k === 'scalar') return `(${x} !== undefined && ${x} === ${y})`;
    return `(${x} !== undefined && ${y} !== undefined && H.eqv(${x}, ${y}))`;
  }

  /** `x == c` for a constant c (false when x is undefined). */
  eqConst(x: Exclude<Val, { k: 'const' }>, c: Value): string {
    const code = x.code;
    if (typeof c === 'string' || typeof c === 'boolean') return `${code} === ${JSON.stringify(c)}`;
    if (typeof c === 'number') {
      if (!Number.isFinite(c)) fail('a non-finite number');
      const l = this.lit(c);
      return x.k === 'scalar' ? `${code} === ${l}` : `(${code} === ${l} || (typeof ${code} === 'bigint' && H.bigEq(${code}, ${l})))`;
    }
    if (c === null) return x.k === 'scalar' ? `${code} === null` : `(${code} === null || H.fnsym(${code}))`;
    if (typeof c === 'bigint') return fail('a big integer constant');
    // a collection constant: no scalar equals it; two collections go to the evaluator
    return x.k === 'scalar' ? 'false' : `(${code} !== undefined && H.eqComposite(${code}))`;
  }

  neq(a: Val, b: Val): string {
    if (a.k === 'const' && b.k === 'const') return equal(a.v, b.v) ? 'false' : 'true';
    const defined = [a, b].filter((v) => v.k !== 'const').map((v) => `${(v as { code: string }).code} !== undefined`);
    return `(${defined.join(' && ')} && !(${this.eq(a, b)}))`;
  }

  ord(a: Val, b: Val, op: '<' | '<=' | '>' | '>='): string {
    if (a.k === 'const' && b.k === 'const') {
      const c = compare(a.v, b.v);
      return String(op === '<' ? c < 0 : op === '<=' ? c <= 0 : op === '>' ? c > 0 : c >= 0);
    }
    const code = (v: Val): string => {
      if (v.k !== 'const') return v.code;
      if (!isScalar(v.v)) fail('an ordering against a collection constant');
      return this.lit(v.v);
    };
    const defined = [a, b].filter((v) => v.k !== 'const').map((v) => `${(v as { code: string }).code} !== undefined`);
    return `(${defined.join(' && ')} && H.ordv(${code(a)}, ${code(b)}) ${op} 0)`;
  }

  /** `x in coll` (internal.member_2). */
  member(x: Val, coll: Val): string {
    if (coll.k === 'scalar') return 'false'; // a scalar is no collection
    if (coll.k === 'plain') {
      if (x.k === 'const' && !isScalar(x.v)) fail('membership of a collection constant');
      const xc = x.k === 'const' ? this.lit(x.v) : x.code;
      const defined = x.k === 'const' ? '' : `${xc} !== undefined && `;
      return `(${defined}${coll.code} !== undefined && H.memberPlain(${xc}, ${coll.code}))`;
    }
    const c = coll.v;
    const elems: Value[] = Array.isArray(c) ? c : c instanceof RSet ? c.sorted() : c instanceof RObject ? c.entries().map(([, v]) => v) : [];
    if (x.k === 'const') return elems.some((e) => equal(e, x.v)) ? 'true' : 'false';
    if (elems.length === 0) return 'false';
    const strings = [...new Set(elems.filter((e): e is string => typeof e === 'string'))];
    const others = elems.filter((e) => typeof e !== 'string');
    const parts: string[] = [];
    if (strings.length > 8) parts.push(`(typeof ${x.code} === 'string' && ${this.constRef(new Set(strings))}.has(${x.code}))`);
    else parts.push(...strings.map((s) => `${x.code} === ${JSON.stringify(s)}`));
    const seen = new Set<string>();
    for (const e of others) {
      const k = isScalar(e) ? keyOf(e) : 'composite';
      if (seen.has(k)) continue;
      seen.add(k);
      parts.push(this.eqConst(x, e));
    }
    return `(${parts.join(' || ')})`;
  }
}

/** The frozen decision objects a compiled decision returns. */
export interface DecisionObjects<D> {
  /** No `reason` string: a deny, an allow, no allow. */
  deny: D;
  allow: D;
  none: D;
  /** The decision for a reason string (called once per reason constant, at build time). */
  make(allow: boolean, reason: string): D;
}

export interface CompiledDecision<D> {
  decide: (input: unknown) => D;
  /** The generated source (for tests and curious readers). */
  source: string;
}

/**
 * Compiles the decision `allow`/`deny`/`reason` of a package into one function
 * of the plain input, or returns null when a rule it needs does not compile.
 * A verdict allows only when `allow` is true and `deny` is not; `reason` is the
 * package's `reason` value when it is a string.
 */
export function compileDecision<D>(root: RuleNode, pkg: RuleNode | undefined, objects: DecisionObjects<D>): CompiledDecision<D> | null {
  const g = new Gen(root);
  try {
    const nodeVal = (name: string): { v: string; node: NodeOut | undefined } => {
      const n = pkg?.children.get(name);
      if (!n) return { v: 'undefined', node: undefined };
      if (!hasRules(n)) fail(`${name} is a package`);
      const out = g.node(n);
      return { v: `v${out.id}`, node: out };
    };
    const allow = nodeVal('allow');
    const deny = nodeVal('deny');
    const reason = pkg?.children.has('reason') ? nodeVal('reason') : undefined;
    const lines: string[] = ['"use strict";', 'const getProto = H.getPrototypeOf, OBJECT_PROTO = H.OBJECT_PROTO;', 'return function decide(input) {', '  const in0 = input === undefined ? null : input;'];
    if (g.usesSteps) lines.push('  let steps = 0;');
    lines.push(...g.decls, ...g.pathReads(), ...g.nodeLines);
    const plain = `${deny.v} === true ? D_DENY : ${allow.v} === true ? D_ALLOW : D_NONE`;
    const rf: (D | null)[] = [];
    const rt: (D | null)[] = [];
    if (reason?.node) {
      for (const v of reason.node.values) {
        rf.push(typeof v === 'string' ? objects.make(false, v) : null);
        rt.push(typeof v === 'string' ? objects.make(true, v) : null);
      }
      const ix = `i${reason.node.id}`;
      lines.push(`  if (${ix} < 0 || RF[${ix}] === null) return ${plain};`);
      lines.push(`  return ${deny.v} === true ? RF[${ix}] : ${allow.v} === true ? RT[${ix}] : RF[${ix}];`);
    } else lines.push(`  return ${plain};`);
    lines.push('};');
    const source = lines.join('\n');
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- names, keys and constants enter the source only as JSON literals or through K
    const make = new Function('H', 'K', 'D_DENY', 'D_ALLOW', 'D_NONE', 'RF', 'RT', source) as (...a: unknown[]) => (input: unknown) => D;
    return { decide: make(HELPERS, g.consts, objects.deny, objects.allow, objects.none, rf, rt), source };
  } catch {
    // NotCompilable, or (a generator bug) source that does not build: the evaluator decides, the bundle still loads
    return null;
  }
}
