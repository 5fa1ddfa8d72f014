/**
 * Recursion check (opa `v1/ast/compile.go`, `checkRecursion`): a rule or
 * function that depends on itself, directly or through others, is a
 * rego_recursion_error at compile time.
 */
import { ErrorCodes, RegoError } from './errors.ts';
import type { CBody, CRule, CTerm, Program, RuleNode } from './ir.ts';

const hasRules = (n: RuleNode): boolean => n.complete.length > 0 || n.multi.length > 0 || n.funcs.length > 0 || n.defaultRule !== undefined;

function rulesOf(n: RuleNode): CRule[] {
  const out: CRule[] = [];
  for (const r of [...n.complete, ...n.multi, ...n.funcs, ...(n.defaultRule ? [n.defaultRule] : [])]) {
    for (let c: CRule | undefined = r; c; c = c.else) out.push(c);
  }
  return out;
}

function ruleNodesUnder(n: RuleNode, out: Set<RuleNode>): void {
  if (hasRules(n)) out.add(n);
  for (const c of n.children.values()) ruleNodesUnder(c, out);
}

/** Rule nodes a `data` reference can reach: constants select one child, anything else all of them. */
function matchRef(node: RuleNode, path: CTerm[], i: number, out: Set<RuleNode>): void {
  if (hasRules(node)) {
    out.add(node);
    return;
  }
  if (i === path.length) {
    ruleNodesUnder(node, out);
    return;
  }
  const p = path[i]!;
  if (p.k === 'val') {
    if (typeof p.v !== 'string') return;
    const c = node.children.get(p.v);
    if (c) matchRef(c, path, i + 1, out);
    return;
  }
  for (const c of node.children.values()) matchRef(c, path, i + 1, out);
}

/** The rule nodes a rule reads: data refs (by their ground prefix) and function calls. */
function dependencies(prog: Program, n: RuleNode): Set<RuleNode> {
  const out = new Set<RuleNode>();
  const term = (t: CTerm): void => {
    switch (t.k) {
      case 'data': {
        matchRef(prog.root, t.path, 0, out);
        t.path.forEach(term);
        return;
      }
      case 'ref':
        term(t.head);
        t.path.forEach(term);
        return;
      case 'array':
      case 'set':
        t.items.forEach(term);
        return;
      case 'object':
        t.items.forEach(([a, b]) => (term(a), term(b)));
        return;
      case 'call': {
        if (t.user) {
          const f = prog.funcs.get(t.name);
          if (f) out.add(f);
        }
        t.args.forEach(term);
        return;
      }
      case 'acomp':
      case 'scomp':
        term(t.head);
        body(t.body);
        return;
      case 'ocomp':
        term(t.key);
        term(t.value);
        body(t.body);
        return;
    }
  };
  const body = (b: CBody): void => {
    for (const e of b) {
      switch (e.k) {
        case 'term':
          term(e.t);
          break;
        case 'unify':
          term(e.a);
          term(e.b);
          break;
        case 'somein':
          if (e.key) term(e.key);
          term(e.value);
          term(e.coll);
          break;
        case 'every':
          term(e.coll);
          body(e.body);
          break;
        case 'or':
          e.alts.forEach(body);
          break;
      }
      for (const w of e.with) {
        term(w.value);
        if (w.valueFn?.startsWith('data.')) {
          const f = prog.funcs.get(w.valueFn);
          if (f) out.add(f);
        }
      }
    }
  };
  for (const r of rulesOf(n)) {
    body(r.body);
    for (const t of [...r.suffix, ...(r.args ?? []), ...(r.member ? [r.member] : []), ...(r.value ? [r.value] : [])]) term(t);
  }
  return out;
}

export function checkRecursion(prog: Program): RegoError[] {
  const nodes = new Set<RuleNode>();
  ruleNodesUnder(prog.root, nodes);
  const deps = new Map<RuleNode, Set<RuleNode>>();
  for (const n of nodes) deps.set(n, dependencies(prog, n));
  const errors: RegoError[] = [];
  const state = new Map<RuleNode, 1 | 2>();
  const stack: RuleNode[] = [];
  const reported = new Set<RuleNode>();
  const visit = (n: RuleNode): void => {
    state.set(n, 1);
    stack.push(n);
    for (const d of deps.get(n) ?? []) {
      const s = state.get(d);
      if (s === 1) {
        const cycle = stack.slice(stack.indexOf(d));
        if (!reported.has(d)) {
          reported.add(d);
          const names = [...cycle, d].map((x) => 'data.' + x.key);
          const loc = rulesOf(d)[0]?.loc;
          errors.push(new RegoError(ErrorCodes.recursion, `rule ${names[0]} is recursive: ${names.join(' -> ')}`, loc));
        }
      } else if (s === undefined) visit(d);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const n of nodes) if (!state.has(n)) visit(n);
  return errors;
}
