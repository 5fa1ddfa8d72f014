/**
 * Safety reordering (opa `v1/ast/compile.go`, `reorderBodyForSafety`): an
 * expression runs once the variables it reads are bound; the original order
 * is kept wherever it is already safe.
 */
import type { CBody, CExpr, CTerm } from './ir.ts';

interface Info {
  needs: Set<number>;
  provides: Set<number>;
  /** For unification: slots that must be bound on at least one side. */
  sides: [Set<number>, Set<number>] | undefined;
  all: Set<number>;
  names: Map<number, string>;
}

/**
 * Reorders a body for safety. `unsafe` is told about each variable that no
 * order can bind before it is read (OPA's rego_unsafe_var_error).
 */
export function reorderBody(body: CBody, bound: Set<number>, owned: Set<number>, unsafe?: (name: string, e: CExpr) => void): CBody {
  if (body.length === 0) return body;
  const infos = body.map((e) => analyze(e, owned));
  // negation: a var seen only inside one negated expression is local to it
  const count = new Map<number, number>();
  for (const inf of infos) for (const s of inf.all) count.set(s, (count.get(s) ?? 0) + 1);
  body.forEach((e, i) => {
    if (!e.neg) return;
    const inf = infos[i]!;
    for (const s of [...inf.needs]) if ((count.get(s) ?? 0) <= 1) inf.needs.delete(s);
  });
  const b = new Set(bound);
  const out: CExpr[] = [];
  const left = body.map((_, i) => i);
  let changed = false;
  while (left.length > 0) {
    let pick = left.findIndex((i) => ready(infos[i]!, b));
    if (pick < 0) {
      pick = 0;
      const inf = infos[left[0]!]!;
      const missing = [...inf.needs].filter((s) => !b.has(s));
      if (missing.length === 0 && inf.sides) missing.push(...inf.sides[0], ...inf.sides[1]);
      for (const s of new Set(missing)) unsafe?.(inf.names.get(s) ?? '?', body[left[0]!]!);
      for (const s of missing) b.add(s);
    }
    if (pick !== 0) changed = true;
    const i = left.splice(pick, 1)[0]!;
    out.push(body[i]!);
    for (const s of infos[i]!.provides) b.add(s);
  }
  return changed ? out : body;
}

function ready(inf: Info, bound: Set<number>): boolean {
  for (const s of inf.needs) if (!bound.has(s)) return false;
  if (inf.sides) {
    const [a, b] = inf.sides;
    const aok = [...a].every((s) => bound.has(s));
    const bok = [...b].every((s) => bound.has(s));
    if (!aok && !bok) return false;
  }
  return true;
}

function analyze(e: CExpr, owned: Set<number>): Info {
  const needs = new Set<number>();
  const provides = new Set<number>();
  const all = new Set<number>();
  const names = new Map<number, string>();
  const add = (set: Set<number>, s: number): void => {
    if (!owned.has(s)) return;
    set.add(s);
    all.add(s);
  };
  const walk = (t: CTerm, out: boolean): void => {
    switch (t.k) {
      case 'var':
        names.set(t.slot, t.name.startsWith('$_') ? '_' : t.name);
        add(out ? provides : needs, t.slot);
        return;
      case 'ref':
        walk(t.head, false);
        for (const p of t.path) walkPath(p);
        return;
      case 'data':
        for (const p of t.path) walkPath(p);
        return;
      case 'array':
        for (const x of t.items) walk(x, out);
        return;
      case 'set':
        for (const x of t.items) walk(x, false);
        return;
      case 'object':
        for (const [a, b] of t.items) {
          walk(a, false);
          walk(b, out);
        }
        return;
      case 'call':
        for (const a of t.args) walk(a, false);
        return;
      case 'acomp':
      case 'scomp':
        closure(t.body, [t.head]);
        return;
      case 'ocomp':
        closure(t.body, [t.key, t.value]);
        return;
    }
  };
  const walkPath = (p: CTerm): void => {
    if (p.k === 'var') {
      names.set(p.slot, p.name.startsWith('$_') ? '_' : p.name);
      add(provides, p.slot);
    } else walk(p, p.k === 'array' || p.k === 'object');
  };
  const closure = (body: CBody, terms: CTerm[]): void => {
    for (const [s, n] of freeSlots(body, terms)) {
      names.set(s, n);
      add(needs, s);
    }
  };
  let sides: [Set<number>, Set<number>] | undefined;
  switch (e.k) {
    case 'term':
      walk(e.t, false);
      break;
    case 'unify': {
      walk(e.a, true);
      walk(e.b, true);
      const composite = (t: CTerm): boolean => t.k === 'array' || t.k === 'object';
      if (!(composite(e.a) && composite(e.b))) {
        sides = [patternSlots(e.a, owned), patternSlots(e.b, owned)];
      }
      break;
    }
    case 'somein':
      walk(e.coll, false);
      if (e.key) walk(e.key, true);
      walk(e.value, true);
      break;
    case 'every':
      walk(e.coll, false);
      closure(e.body, e.key ? [e.key, e.value] : [e.value]);
      break;
    case 'or':
      for (const b of e.alts) closure(b, []);
      break;
    case 'some':
      break;
  }
  for (const w of e.with) walk(w.value, false);
  // refs inside the expression bind their key variables before the rest is evaluated
  if (e.k === 'term') for (const s of provides) needs.delete(s);
  if (e.neg) {
    for (const s of provides) needs.add(s);
    provides.clear();
  }
  return { needs, provides, sides, all, names };
}

function patternSlots(t: CTerm, owned: Set<number>): Set<number> {
  const out = new Set<number>();
  const walk = (x: CTerm): void => {
    if (x.k === 'var') {
      if (owned.has(x.slot)) out.add(x.slot);
    } else if (x.k === 'array') x.items.forEach(walk);
    else if (x.k === 'object') x.items.forEach(([, v]) => walk(v));
  };
  walk(t);
  return out;
}

/** All slots a closure mentions (the caller intersects with its own slots). */
function freeSlots(body: CBody, terms: CTerm[]): Map<number, string> {
  const out = new Map<number, string>();
  const walk = (t: CTerm): void => {
    switch (t.k) {
      case 'var':
        out.set(t.slot, t.name);
        return;
      case 'ref':
        walk(t.head);
        t.path.forEach(walk);
        return;
      case 'data':
        t.path.forEach(walk);
        return;
      case 'array':
      case 'set':
        t.items.forEach(walk);
        return;
      case 'object':
        t.items.forEach(([a, b]) => (walk(a), walk(b)));
        return;
      case 'call':
        t.args.forEach(walk);
        return;
      case 'acomp':
      case 'scomp':
        walk(t.head);
        walkBody(t.body);
        return;
      case 'ocomp':
        walk(t.key);
        walk(t.value);
        walkBody(t.body);
        return;
    }
  };
  const walkBody = (b: CBody): void => {
    for (const e of b) {
      switch (e.k) {
        case 'term':
          walk(e.t);
          break;
        case 'unify':
          walk(e.a);
          walk(e.b);
          break;
        case 'somein':
          if (e.key) walk(e.key);
          walk(e.value);
          walk(e.coll);
          break;
        case 'every':
          if (e.key) walk(e.key);
          walk(e.value);
          walk(e.coll);
          walkBody(e.body);
          break;
        case 'or':
          e.alts.forEach(walkBody);
          break;
      }
      for (const w of e.with) walk(w.value);
    }
  };
  terms.forEach(walk);
  walkBody(body);
  return out;
}
