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

/** Thrown when the input is not plain JSON-like data; the caller then takes the general path. */
export const UNSUPPORTED = Symbol('fastpath: unsupported input');

/** One step of a ref into plain JSON-like data (undefined when absent; UNSUPPORTED for class instances). */
function step(v: unknown, seg: string): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const proto = Object.getPrototypeOf(v);
  if (proto !== OBJECT_PROTO && proto !== null) throw UNSUPPORTED;
  return (v as Record<string, unknown>)[seg];
}

const OBJECT_PROTO = Object.prototype;

function scalarOnly(v: unknown): unknown {
  if (typeof v === 'function' || typeof v === 'symbol') throw UNSUPPORTED;
  return v;
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

/** One comparison of a rule body: `input.<path> == c` or `input.<path> != c`. */
interface Cond {
  path: string[];
  c: string | boolean | null | number;
  op: 'equal' | 'neq';
}

function cond(e: CExpr): Cond | undefined {
  if (e.neg || e.with.length > 0 || e.k !== 'term' || e.t.k !== 'call' || (e.t.name !== 'equal' && e.t.name !== 'neq')) return undefined;
  const [a, b] = e.t.args as [CTerm, CTerm];
  const path = inputPath(a) ?? inputPath(b);
  const c = a.k === 'val' ? a.v : b.k === 'val' ? b.v : undefined;
  if (!path || path.length === 0 || c === undefined || !isScalar(c)) return undefined;
  return { path, c, op: e.t.name };
}

function ruleConds(r: CRule): { conds: Cond[]; value: Value } | undefined {
  if (r.else || r.value?.k !== 'val' || r.args) return undefined;
  const conds: Cond[] = [];
  for (const e of r.body) {
    if (e.k === 'term' && !e.neg && e.with.length === 0 && e.t.k === 'val' && e.t.v === true) continue;
    const c = cond(e);
    if (!c) return undefined;
    conds.push(c);
  }
  return { conds, value: r.value.v };
}

/**
 * Generates the JavaScript of a node's rules: one labelled block per rule, one
 * property step per path segment, so every property read is its own
 * (monomorphic) site. Property names and constants enter the source only
 * through JSON.stringify.
 */
function generate(rules: { conds: Cond[] }[]): string {
  const out: string[] = ['return function decide(input) {', '  let v;'];
  rules.forEach((r, i) => {
    out.push(`  r${i}: {`);
    for (const { path, c, op } of r.conds) {
      out.push('    v = input;');
      for (const seg of path) out.push(`    v = step(v, ${JSON.stringify(seg)}); if (v === undefined) break r${i};`);
      out.push('    v = scalarOnly(v);');
      const k = JSON.stringify(c);
      // an absent operand makes the comparison undefined, so the body fails either way (handled above)
      if (op === 'equal') out.push(`    if (!same(v, ${k})) break r${i};`);
      else out.push(`    if ((v === null || typeof v !== 'object') && same(v, ${k})) break r${i};`);
    }
    out.push(`    return VALUES[${i}];`, '  }');
  });
  out.push('  return FALLBACK;', '};');
  return out.join('\n');
}

/** Compiles a node into a direct function of the plain input, or null when it is not that simple. */
export function fastNode(node: RuleNode | undefined): ((input: unknown) => Value | undefined) | null {
  if (!node || node.multi.length > 0 || node.funcs.length > 0 || node.isFunc || node.children.size > 0 || !node.constant) return null;
  const rules = node.complete.map(ruleConds);
  if (rules.some((r) => r === undefined)) return null;
  const def = node.defaultRule;
  if (def && (def.value?.k !== 'val' || def.body.length !== 1)) return null;
  const fallback = def?.value?.k === 'val' ? def.value.v : undefined;
  const compiled = rules as { conds: Cond[]; value: Value }[];
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from the policy's own constants, see generate()
  const make = new Function('step', 'scalarOnly', 'same', 'VALUES', 'FALLBACK', generate(compiled)) as (
    ...a: unknown[]
  ) => (input: unknown) => Value | undefined;
  return make(step, scalarOnly, same, compiled.map((r) => r.value), fallback);
}
