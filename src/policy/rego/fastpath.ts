/**
 * A fast path for simple decision rules: when every rule of a node is a
 * constant-valued complete rule whose body only compares `input.<path>` with
 * constants (`==`, `!=`), the rule's value is computed straight from the plain
 * JS input, without converting it or starting the evaluator. Anything else
 * returns null and goes through the general evaluator. The answers are the
 * same; `fastpath.test.ts` checks them against the evaluator.
 */
import type { CExpr, CRule, CTerm, RuleNode } from './ir.ts';
import type { Value } from './value.ts';

type Check = (input: unknown) => boolean;

/** Thrown when the input is not plain JSON-like data; the caller then takes the general path. */
export const UNSUPPORTED = Symbol('fastpath: unsupported input');

/** Reads `input.<path>` from plain JSON-like data the way a Rego ref would (undefined when absent). */
function reader(path: string[]): (input: unknown) => unknown {
  return (input) => {
    let v = input;
    for (const seg of path) {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
      if (Object.getPrototypeOf(v) !== Object.prototype && Object.getPrototypeOf(v) !== null) throw UNSUPPORTED;
      v = (v as Record<string, unknown>)[seg];
      if (v === undefined) return undefined;
    }
    if (typeof v === 'function' || typeof v === 'symbol') throw UNSUPPORTED;
    return v;
  };
}

function isScalar(v: Value): v is string | boolean | null | number {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

/** Equality of a plain JSON scalar with a Rego scalar constant. */
function same(x: unknown, c: string | boolean | null | number): boolean {
  if (typeof c === 'number') return (typeof x === 'number' || typeof x === 'bigint') && Number(x) === c;
  return x === c;
}

function inputPath(t: CTerm): string[] | undefined {
  if (t.k !== 'ref' || t.head.k !== 'input') return undefined;
  const out: string[] = [];
  for (const p of t.path) {
    if (p.k !== 'val' || typeof p.v !== 'string') return undefined;
    out.push(p.v);
  }
  return out;
}

function check(e: CExpr): Check | undefined {
  if (e.neg || e.with.length > 0 || e.k !== 'term' || e.t.k !== 'call' || (e.t.name !== 'equal' && e.t.name !== 'neq')) return undefined;
  const [a, b] = e.t.args as [CTerm, CTerm];
  const path = inputPath(a) ?? inputPath(b);
  const c = a.k === 'val' ? a.v : b.k === 'val' ? b.v : undefined;
  if (!path || c === undefined || !isScalar(c)) return undefined;
  const read = reader(path);
  // an absent operand makes the comparison undefined, so the body fails either way
  if (e.t.name === 'equal') return (input) => same(read(input), c);
  return (input) => {
    const x = read(input);
    if (x === undefined) return false;
    if (x !== null && typeof x === 'object') return true;
    return !same(x, c);
  };
}

function ruleCheck(r: CRule): { checks: Check[]; value: Value } | undefined {
  if (r.else || r.value?.k !== 'val' || r.args) return undefined;
  const checks: Check[] = [];
  for (const e of r.body) {
    if (e.k === 'term' && !e.neg && e.with.length === 0 && e.t.k === 'val' && e.t.v === true) continue;
    const c = check(e);
    if (!c) return undefined;
    checks.push(c);
  }
  return { checks, value: r.value.v };
}

/** Compiles a node into a direct function of the plain input, or null when it is not that simple. */
export function fastNode(node: RuleNode | undefined): ((input: unknown) => Value | undefined) | null {
  if (!node || node.multi.length > 0 || node.funcs.length > 0 || node.isFunc || node.children.size > 0 || !node.constant) return null;
  const rules = node.complete.map(ruleCheck);
  if (rules.some((r) => r === undefined)) return null;
  const def = node.defaultRule;
  if (def && (def.value?.k !== 'val' || def.body.length !== 1)) return null;
  const fallback = def?.value?.k === 'val' ? def.value.v : undefined;
  const compiled = rules as { checks: Check[]; value: Value }[];
  return (input) => {
    for (const r of compiled) {
      let ok = true;
      for (const c of r.checks) {
        if (!c(input)) {
          ok = false;
          break;
        }
      }
      if (ok) return r.value;
    }
    return fallback;
  };
}
