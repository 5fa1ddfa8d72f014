/**
 * Compile stages (opa `v1/ast/compile.go`, much condensed): build the rule
 * tree, resolve names (locals, imports, package rules, builtins), allocate
 * frame slots, rewrite `f(x, out)` into unification, and reorder bodies so
 * that every expression runs after the variables it needs are bound.
 */
import type { Body, Expr, Loc, Module, Rule, Term } from './ast.ts';
import { ErrorCodes, RegoError, RegoErrors } from './errors.ts';
import type { CBody, CExpr, CRule, CTerm, CWith, Program, RuleNode } from './ir.ts';
import { chainMetadata, indexAnnotations, ruleMetadata, type MetadataIndex } from './annotations.ts';
import { argVarNames, child, markConstants, constFold, declaredBy, directNames, exprNames, guardsOf, newNode, patternNames, slotsOf, termPath } from './compile-util.ts';
import { checkRecursion } from './recursion.ts';
import { reorderBody } from './safety.ts';

export { slotsOf, termPath } from './compile-util.ts';

/** What the compiler needs to know about builtins: their arity by name. */
export interface BuiltinArity {
  arity(name: string): number | undefined;
}

interface Env {
  /** The module and rule being compiled (for `rego.metadata.*`). */
  mod?: Module;
  rule?: Rule;
  pkg: string[];
  imports: Map<string, { root: 'data' | 'input'; path: string[] }>;
  ruleNames: Set<string>;
}

class Scope {
  readonly vars = new Map<string, CTerm & { k: 'var' }>();
  /** Declared (`:=`, `some`) but not yet reached in source order: invisible to closures. */
  readonly hidden = new Set<string>();
  constructor(
    readonly parent: Scope | undefined,
    readonly frame: { n: number },
  ) {}
  lookup(name: string, fromChild = false): (CTerm & { k: 'var' }) | undefined {
    const v = this.vars.get(name);
    if (v && !(fromChild && this.hidden.has(name))) return v;
    return this.parent?.lookup(name, true);
  }
  declare(name: string): CTerm & { k: 'var' } {
    const v = { k: 'var' as const, slot: this.frame.n++, name };
    this.vars.set(name, v);
    return v;
  }
}

export class Compiler {
  readonly program: Program;
  readonly errors: RegoError[] = [];
  readonly pkgRules = new Map<string, Set<string>>();
  readonly builtins: BuiltinArity;
  meta: MetadataIndex = { packages: new Map(), subpackages: new Map(), documents: new Map() };

  /** `program`: an already compiled rule tree, to compile queries against it. */
  constructor(builtins: BuiltinArity, program?: Program) {
    this.builtins = builtins;
    this.program = program ?? { root: newNode([]), funcs: new Map() };
  }

  /** Compiles modules into the rule tree. Collects all errors, then throws a {@link RegoErrors}. */
  compileModules(modules: Module[]): Program {
    const pending: { mod: Module; rule: Rule; env: Env }[] = [];
    for (const mod of modules) {
      const key = mod.pkg.join('.');
      let names = this.pkgRules.get(key);
      if (!names) this.pkgRules.set(key, (names = new Set()));
      for (const r of mod.rules) {
        const h = r.head.ref[0];
        if (h?.t === 'var') names.add(h.name);
      }
    }
    for (const mod of modules) {
      let node = this.program.root;
      for (const seg of mod.pkg) node = child(node, seg);
    }
    for (const mod of modules) {
      const env = this.moduleEnv(mod);
      env.mod = mod;
      for (const rule of mod.rules) {
        pending.push({ mod, rule, env });
        this.placeRule(mod, rule);
      }
    }
    this.meta = indexAnnotations(modules);
    for (const { rule, env } of pending) {
      try {
        env.rule = rule;
        this.compileRuleInto(rule, env);
      } catch (e) {
        if (e instanceof RegoError) this.errors.push(e);
        else throw e;
      }
    }
    if (this.errors.length === 0) this.errors.push(...checkRecursion(this.program));
    markConstants(this.program.root);
    if (this.errors.length > 0) throw new RegoErrors(this.errors);
    return this.program;
  }

  moduleEnv(mod: Module): Env {
    const imports = new Map<string, { root: 'data' | 'input'; path: string[] }>();
    for (const imp of mod.imports) {
      const p = termPath(imp.path);
      if (!p) continue;
      if (p[0] !== 'data' && p[0] !== 'input') continue;
      const alias = imp.alias ?? p[p.length - 1]!;
      imports.set(alias, { root: p[0], path: p.slice(1) });
    }
    const pkg = mod.pkg;
    return { pkg, imports, ruleNames: this.pkgRules.get(pkg.join('.')) ?? new Set() };
  }

  #placed = new Map<Rule, { node: RuleNode; suffix: Term[] }>();

  placeRule(mod: Module, rule: Rule): void {
    const ref = rule.head.ref;
    const full: (string | Term)[] = [...mod.pkg];
    let i = 0;
    for (; i < ref.length; i++) {
      const t = ref[i]!;
      if (i === 0 && t.t === 'var') full.push(t.name);
      else if (t.t === 'scalar' && typeof t.v === 'string') full.push(t.v);
      else break;
    }
    let node = this.program.root;
    for (const seg of full) node = child(node, seg as string);
    this.#placed.set(rule, { node, suffix: ref.slice(i) });
    if (rule.head.args) {
      this.program.funcs.set('data.' + node.path.join('.'), node);
      node.isFunc = true;
      node.arity = rule.head.args.length;
    }
  }

  compileRuleInto(rule: Rule, env: Env): void {
    const { node, suffix } = this.#placed.get(rule)!;
    const c = this.compileRule(rule, env, suffix);
    if (rule.head.args) {
      if (rule.default) node.defaultRule = c;
      else node.funcs.push(c);
      this.program.funcs.set('data.' + node.path.join('.'), node);
    } else if (rule.default) {
      node.defaultRule = c;
    } else if (c.kind === 'complete') node.complete.push(c);
    else node.multi.push(c);
  }

  compileRule(rule: Rule, env: Env, suffix: Term[]): CRule {
    const frame = { n: 0 };
    const scope = new Scope(undefined, frame);
    const h = rule.head;
    const headTerms: Term[] = [...suffix, ...(h.args ?? [])];
    if (h.key) headTerms.push(h.key);
    if (h.value) headTerms.push(h.value);
    const argNames = new Set<string>();
    for (const a of h.args ?? []) argVarNames(a, argNames);
    for (const n of argNames) scope.declare(n);
    this.declareBody(rule.body, scope, env, headTerms);
    const args = h.args?.map((a) => this.term(a, scope, env));
    const body = this.body(rule.body, scope, env, new Set(args ? slotsOf(args) : []));
    const kind = h.args ? 'func' : h.key !== undefined || suffix.length > 0 ? 'multi' : 'complete';
    const value = h.key !== undefined && h.value === undefined ? undefined : h.value ? this.term(h.value, scope, env) : { k: 'val' as const, v: true };
    const c: CRule = {
      kind,
      suffix: suffix.map((t) => this.term(t, scope, env)),
      member: h.key ? this.term(h.key, scope, env) : undefined,
      value,
      args,
      body,
      nslots: 0,
      isDefault: rule.default,
      guards: guardsOf(body),
      else: undefined,
      loc: rule.loc,
    };
    if (rule.else) {
      const e = this.compileRule({ ...rule.else, head: { ...rule.else.head, args: h.args } }, env, suffix);
      c.else = e;
    }
    c.nslots = frame.n;
    return c;
  }

  /** Compiles a query body; returns it with the named query variables. */
  compileQuery(body: Body): { body: CBody; vars: { name: string; slot: number }[]; nslots: number } {
    const frame = { n: 0 };
    const scope = new Scope(undefined, frame);
    const env: Env = { pkg: [], imports: new Map(), ruleNames: new Set() };
    this.declareBody(body, scope, env, []);
    const cb = this.body(body, scope, env, new Set());
    const vars = [...scope.vars.values()].filter((v) => !v.name.startsWith('$')).map((v) => ({ name: v.name, slot: v.slot }));
    return { body: cb, vars, nslots: frame.n };
  }

  /** Allocates slots for the names a body introduces (declared or first seen). */
  declareBody(body: Body, scope: Scope, env: Env, extra: Term[]): void {
    const declared = new Set<string>();
    for (const e of body) {
      const mine = new Set<string>();
      declaredBy(e, mine);
      for (const n of mine) {
        if (declared.has(n) && !n.startsWith('$')) this.errors.push(new RegoError(ErrorCodes.compile, `var ${n} assigned above`, e.loc));
        declared.add(n);
      }
    }
    for (const n of declared) {
      scope.declare(n);
      scope.hidden.add(n);
    }
    const used: string[] = [];
    for (const t of extra) directNames(t, used);
    for (const e of body) exprNames(e, used);
    for (const n of used) {
      if (scope.vars.has(n) || scope.parent?.lookup(n, true)) continue;
      if (n === 'input' || n === 'data' || env.imports.has(n) || env.ruleNames.has(n)) continue;
      scope.declare(n);
    }
  }

  body(body: Body, scope: Scope, env: Env, bound: Set<number>): CBody {
    const out = body.map((e) => {
      const c = this.expr(e, scope, env);
      const names = new Set<string>();
      declaredBy(e, names);
      for (const n of names) scope.hidden.delete(n);
      return c;
    });
    for (const n of scope.hidden) scope.hidden.delete(n);
    return reorderBody(out, bound, ownedSlots(scope), (name, e) => {
      this.errors.push(new RegoError(ErrorCodes.unsafeVar, `var ${name} is unsafe`, e.loc));
    });
  }

  expr(e: Expr, scope: Scope, env: Env): CExpr {
    const base = { neg: e.neg, loc: e.loc, with: e.with.map((w) => this.withMod(w.target, w.value, w.loc, scope, env)) };
    switch (e.k) {
      case 'some':
        return { k: 'some', ...base };
      case 'somein':
        return {
          k: 'somein',
          key: e.key ? this.term(e.key, scope, env) : undefined,
          value: this.term(e.value, scope, env),
          coll: this.term(e.coll, scope, env),
          ...base,
        };
      case 'every': {
        const inner = new Scope(scope, scope.frame);
        const extra = e.key ? [e.key, e.value] : [e.value];
        for (const t of extra) {
          const ns = new Set<string>();
          patternNames(t, ns);
          for (const n of ns) inner.declare(n);
        }
        this.declareBody(e.body, inner, env, []);
        const key = e.key ? this.term(e.key, inner, env) : undefined;
        const value = this.term(e.value, inner, env);
        const bound = new Set([...slotsOf(key ? [key, value] : [value])]);
        return { k: 'every', key, value, coll: this.term(e.coll, scope, env), body: this.body(e.body, inner, env, bound), ...base };
      }
      case 'or':
        return {
          k: 'or',
          alts: e.alts.map((b) => {
            const inner = new Scope(scope, scope.frame);
            this.declareBody(b, inner, env, []);
            return this.body(b, inner, env, new Set());
          }),
          ...base,
        };
      case 'term': {
        const t = e.term;
        if (t.t === 'call' && t.fn.t === 'var' && (t.fn.name === 'eq' || t.fn.name === 'assign')) {
          return { k: 'unify', a: this.term(t.args[0]!, scope, env), b: this.term(t.args[1]!, scope, env), ...base };
        }
        if (t.t === 'call') {
          const c = this.term(t, scope, env);
          if (c.k === 'call' && c.args.length > 0 && this.isOutputCall(c)) {
            const out = c.args[c.args.length - 1]!;
            return { k: 'unify', a: out, b: { ...c, args: c.args.slice(0, -1) }, ...base };
          }
          return { k: 'term', t: c, ...base };
        }
        return { k: 'term', t: this.term(t, scope, env), ...base };
      }
    }
  }

  isOutputCall(c: CTerm & { k: 'call' }): boolean {
    if (c.user) {
      const node = this.program.funcs.get(c.name);
      return node !== undefined && c.args.length === node.arity + 1;
    }
    const ar = this.builtins.arity(c.name);
    return ar !== undefined && ar >= 0 && c.args.length === ar + 1;
  }

  withMod(target: Term, value: Term, loc: Loc, scope: Scope, env: Env): CWith {
    const valueFn = this.fnName(value, env, true);
    const v: CTerm = valueFn !== undefined && (value.t === 'var' || value.t === 'ref') ? { k: 'val', v: null } : this.term(value, scope, env);
    const p = termPath(target);
    if (!p) throw new RegoError(ErrorCodes.compile, 'with target must be a reference', loc);
    let full = p;
    const imp = env.imports.get(p[0]!);
    if (imp) full = [imp.root, ...imp.path, ...p.slice(1)];
    else if (env.ruleNames.has(p[0]!)) full = ['data', ...env.pkg, ...p];
    if (full[0] === 'input') return { kind: 'input', path: full.slice(1), name: '', value: v, valueFn, loc };
    if (full[0] === 'data') {
      const name = full.join('.');
      if (this.program.funcs.has(name)) return { kind: 'fn', path: [], name, value: v, valueFn, loc };
      return { kind: 'data', path: full.slice(1), name: '', value: v, valueFn, loc };
    }
    const name = p.join('.');
    if (this.builtins.arity(name) === undefined) throw new RegoError(ErrorCodes.compile, `with keyword target is not a builtin: ${name}`, loc);
    return { kind: 'fn', path: [], name, value: v, valueFn, loc };
  }

  /** The function a term names (user function path or builtin), if any. */
  fnName(t: Term, env: Env, quiet: boolean): string | undefined {
    const p = termPath(t);
    if (!p) return undefined;
    const imp = env.imports.get(p[0]!);
    let full: string[] | undefined;
    if (imp && imp.root === 'data') full = ['data', ...imp.path, ...p.slice(1)];
    else if (p[0] === 'data') full = p;
    else if (env.ruleNames.has(p[0]!)) full = ['data', ...env.pkg, ...p];
    if (full) {
      const name = full.join('.');
      if (this.program.funcs.has(name)) return name;
      if (quiet) return undefined;
    }
    const name = p.join('.');
    if (this.builtins.arity(name) !== undefined) return name;
    return undefined;
  }

  term(t: Term, scope: Scope, env: Env): CTerm {
    switch (t.t) {
      case 'scalar':
        return { k: 'val', v: t.v };
      case 'var':
        return this.varTerm(t.name, t.loc, scope, env);
      case 'ref': {
        const head = this.term(t.head, scope, env);
        const path = t.path.map((p) => this.term(p, scope, env));
        if (head.k === 'data') return { k: 'data', path: [...head.path, ...path], loc: t.loc };
        if (head.k === 'ref') return { k: 'ref', head: head.head, path: [...head.path, ...path], loc: t.loc };
        return { k: 'ref', head, path, loc: t.loc };
      }
      case 'array':
        return constFold({ k: 'array', items: t.items.map((x) => this.term(x, scope, env)) });
      case 'set':
        return constFold({ k: 'set', items: t.items.map((x) => this.term(x, scope, env)) });
      case 'object':
        return constFold({ k: 'object', items: t.items.map(([a, b]) => [this.term(a, scope, env), this.term(b, scope, env)]) });
      case 'call': {
        const name = this.fnName(t.fn, env, false);
        const label = termPath(t.fn)?.join('.') ?? '?';
        if (name === undefined) {
          if (t.fn.t === 'var' && ['eq', 'assign'].includes(t.fn.name)) {
            throw new RegoError(ErrorCodes.compile, `${t.fn.name === 'eq' ? '=' : ':='} cannot be nested`, t.loc);
          }
          throw new RegoError(ErrorCodes.type, `undefined function ${label}`, t.loc);
        }
        if ((name === 'rego.metadata.rule' || name === 'rego.metadata.chain') && env.rule && env.mod && t.args.length === 0) {
          return { k: 'val', v: name === 'rego.metadata.rule' ? ruleMetadata(env.rule) : chainMetadata(this.meta, env.mod, env.rule) };
        }
        const user = name.startsWith('data.');
        const arity = user ? this.program.funcs.get(name)?.arity : this.builtins.arity(name);
        if (arity !== undefined && arity >= 0 && t.args.length !== arity && t.args.length !== arity + 1) {
          const which = t.args.length < arity ? 'too few' : 'too many';
          throw new RegoError(ErrorCodes.type, `${which} arguments: ${label} takes ${arity} but got ${t.args.length}`, t.loc);
        }
        return { k: 'call', name, user, args: t.args.map((a) => this.term(a, scope, env)), loc: t.loc };
      }
      case 'arraycomp':
      case 'setcomp': {
        const inner = new Scope(scope, scope.frame);
        this.declareBody(t.body, inner, env, [t.head]);
        const body = this.body(t.body, inner, env, new Set());
        const head = this.term(t.head, inner, env);
        return { k: t.t === 'arraycomp' ? 'acomp' : 'scomp', head, body };
      }
      case 'objcomp': {
        const inner = new Scope(scope, scope.frame);
        this.declareBody(t.body, inner, env, [t.key, t.value]);
        const body = this.body(t.body, inner, env, new Set());
        return { k: 'ocomp', key: this.term(t.key, inner, env), value: this.term(t.value, inner, env), body };
      }
    }
  }

  varTerm(name: string, loc: Loc, scope: Scope, env: Env): CTerm {
    const local = scope.lookup(name);
    if (local) return local;
    if (name === 'input') return { k: 'input' };
    if (name === 'data') return { k: 'data', path: [], loc };
    const imp = env.imports.get(name);
    if (imp) {
      const path: CTerm[] = imp.path.map((s) => ({ k: 'val', v: s }));
      return imp.root === 'input' ? (path.length ? { k: 'ref', head: { k: 'input' }, path, loc } : { k: 'input' }) : { k: 'data', path, loc };
    }
    if (env.ruleNames.has(name)) return { k: 'data', path: [...env.pkg, name].map((s) => ({ k: 'val', v: s })), loc };
    // A name first seen in a nested position: a fresh local of this scope.
    return scope.declare(name);
  }
}

function ownedSlots(scope: Scope): Set<number> {
  return new Set([...scope.vars.values()].map((v) => v.slot));
}
