/**
 * Helpers of the compile stages: name collection over the AST, rule-tree
 * nodes, constant folding and rule-index guards.
 */
import type { Expr, Term } from './ast.ts';
import type { CBody, CRule, CTerm, RuleNode } from './ir.ts';
import { equal, RObject, RSet, type Value } from './value.ts';

/** `input.a.b == "x"` expressions (unnegated, no `with`) of a body: rule indexing. */
export function guardsOf(body: CBody): { path: string[]; value: Value }[] | undefined {
  const out: { path: string[]; value: Value }[] = [];
  for (const e of body) {
    if (e.k !== 'term' || e.neg || e.with.length > 0 || e.t.k !== 'call' || e.t.name !== 'equal') continue;
    const [a, b] = e.t.args as [CTerm, CTerm];
    const ref = a.k === 'ref' ? a : b.k === 'ref' ? b : undefined;
    const val = a.k === 'val' ? a : b.k === 'val' ? b : undefined;
    if (!ref || !val || ref.head.k !== 'input') continue;
    const path: string[] = [];
    for (const p of ref.path) {
      if (p.k !== 'val' || typeof p.v !== 'string') break;
      path.push(p.v);
    }
    if (path.length === ref.path.length) out.push({ path, value: val.v });
  }
  return out.length ? out : undefined;
}

export function newNode(path: string[]): RuleNode {
  return { path, key: path.join('.'), children: new Map(), complete: [], multi: [], funcs: [], defaultRule: undefined, isFunc: false, arity: 0, constant: false };
}

export function child(node: RuleNode, seg: string): RuleNode {
  let c = node.children.get(seg);
  if (!c) node.children.set(seg, (c = newNode([...node.path, seg])));
  return c;
}

/** The dotted path a var or ground string ref names, e.g. `time.now_ns`. */
export function termPath(t: Term): string[] | undefined {
  if (t.t === 'var') return [t.name];
  if (t.t !== 'ref' || t.head.t !== 'var') return undefined;
  const out = [t.head.name];
  for (const p of t.path) {
    if (p.t !== 'scalar' || typeof p.v !== 'string') return undefined;
    out.push(p.v);
  }
  return out;
}

/** Every var of a function argument pattern (they are always locals). */
export function argVarNames(t: Term, out: Set<string>): void {
  if (t.t === 'var') out.add(t.name);
  else if (t.t === 'array' || t.t === 'set') t.items.forEach((x) => argVarNames(x, out));
  else if (t.t === 'object') t.items.forEach(([, v]) => argVarNames(v, out));
}

/** Names an expression declares (`some`, `:=`, `some … in`). */
export function declaredBy(e: Expr, out: Set<string>): void {
  if (e.k === 'some') for (const v of e.vars) if (v.t === 'var') out.add(v.name);
  if (e.k === 'somein') {
    if (e.key) patternNames(e.key, out);
    patternNames(e.value, out);
  }
  if (e.k === 'term' && e.term.t === 'call' && e.term.fn.t === 'var' && e.term.fn.name === 'assign') {
    patternNames(e.term.args[0]!, out);
  }
}

export function patternNames(t: Term, out: Set<string>): void {
  switch (t.t) {
    case 'var':
      if (!t.name.startsWith('$')) out.add(t.name);
      else out.add(t.name);
      return;
    case 'array':
      for (const x of t.items) patternNames(x, out);
      return;
    case 'object':
      for (const [, v] of t.items) patternNames(v, out);
      return;
  }
}

/** Names a term mentions outside nested closures. */
export function directNames(t: Term, out: string[]): void {
  switch (t.t) {
    case 'var':
      out.push(t.name);
      return;
    case 'ref':
      directNames(t.head, out);
      for (const p of t.path) directNames(p, out);
      return;
    case 'array':
    case 'set':
      for (const x of t.items) directNames(x, out);
      return;
    case 'object':
      for (const [a, b] of t.items) {
        directNames(a, out);
        directNames(b, out);
      }
      return;
    case 'call':
      for (const a of t.args) directNames(a, out);
      return;
  }
}

export function exprNames(e: Expr, out: string[]): void {
  switch (e.k) {
    case 'term':
      directNames(e.term, out);
      break;
    case 'somein':
      if (e.key) directNames(e.key, out);
      directNames(e.value, out);
      directNames(e.coll, out);
      break;
    case 'every':
      directNames(e.coll, out);
      break;
  }
  for (const w of e.with) directNames(w.value, out);
}

export function slotsOf(ts: CTerm[]): number[] {
  const out: number[] = [];
  const walk = (t: CTerm): void => {
    if (t.k === 'var') out.push(t.slot);
    else if (t.k === 'array' || t.k === 'set') t.items.forEach(walk);
    else if (t.k === 'object') t.items.forEach(([a, b]) => (walk(a), walk(b)));
    else if (t.k === 'ref') (walk(t.head), t.path.forEach(walk));
    else if (t.k === 'data') t.path.forEach(walk);
    else if (t.k === 'call') t.args.forEach(walk);
  };
  ts.forEach(walk);
  return out;
}

/** Folds a composite literal whose items are all constants into one value. */
export function constFold(t: CTerm): CTerm {
  if (t.k === 'array') {
    if (t.items.every((x) => x.k === 'val')) return { k: 'val', v: t.items.map((x) => (x as { v: Value }).v) };
  } else if (t.k === 'set') {
    if (t.items.every((x) => x.k === 'val')) return { k: 'val', v: new RSet(t.items.map((x) => (x as { v: Value }).v)) };
  } else if (t.k === 'object') {
    if (t.items.every(([a, b]) => a.k === 'val' && b.k === 'val')) {
      const o = new RObject();
      for (const [a, b] of t.items) o.set((a as { v: Value }).v, (b as { v: Value }).v);
      return { k: 'val', v: o };
    }
  }
  return t;
}

/** Marks nodes whose complete rules all yield one and the same constant. */
export function markConstants(node: RuleNode): void {
  let first: Value | undefined;
  let constant = node.complete.length > 0 && node.multi.length === 0;
  for (const r of node.complete) {
    for (let c: CRule | undefined = r; c && constant; c = c.else) {
      if (c.value?.k !== 'val') constant = false;
      else if (first === undefined) first = c.value.v;
      else if (!equal(first, c.value.v)) constant = false;
    }
  }
  node.constant = constant;
  for (const c of node.children.values()) markConstants(c);
}
