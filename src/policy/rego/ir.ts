/**
 * The compiled form the evaluator runs: names resolved, variables turned into
 * frame slots, bodies reordered for safety. Built once per bundle.
 */
import type { Loc } from './ast.ts';
import type { Value } from './value.ts';

export type CTerm =
  | { k: 'val'; v: Value }
  | { k: 'var'; slot: number; name: string }
  | { k: 'input' }
  /** `data.<path>`: resolved against the rule tree and the base document. */
  | { k: 'data'; path: CTerm[]; loc: Loc; target?: { node: RuleNode; next: number } | null }
  /** Dereference of any other head (a local, input, a literal, a call result). */
  | { k: 'ref'; head: CTerm; path: CTerm[]; loc: Loc }
  | { k: 'array'; items: CTerm[] }
  | { k: 'object'; items: [CTerm, CTerm][] }
  | { k: 'set'; items: CTerm[] }
  /** A call: `name` is a builtin name or a user function's `data.…` path. */
  | { k: 'call'; name: string; user: boolean; args: CTerm[]; loc: Loc }
  | { k: 'acomp'; head: CTerm; body: CBody }
  | { k: 'scomp'; head: CTerm; body: CBody }
  | { k: 'ocomp'; key: CTerm; value: CTerm; body: CBody };

export interface CWith {
  /** `input`, `data`, or `fn` (a builtin or function mock). */
  kind: 'input' | 'data' | 'fn';
  path: string[];
  /** Mock name (builtin name or `data.…` function path). */
  name: string;
  value: CTerm;
  /** The value term names a function (mock replaces calls), otherwise a value. */
  valueFn: string | undefined;
  loc: Loc;
}

export type CExprKind =
  | { k: 'term'; t: CTerm }
  | { k: 'unify'; a: CTerm; b: CTerm }
  | { k: 'some' }
  | { k: 'somein'; key: CTerm | undefined; value: CTerm; coll: CTerm }
  | { k: 'every'; key: CTerm | undefined; value: CTerm; coll: CTerm; body: CBody }
  | { k: 'or'; alts: CBody[] };

export type CExpr = CExprKind & { neg: boolean; with: CWith[]; loc: Loc };
export type CBody = CExpr[];

export type RuleKind = 'complete' | 'multi' | 'func';

export interface CRule {
  kind: RuleKind;
  /** For `multi`: key terms below the node (may hold vars). */
  suffix: CTerm[];
  /** `contains` rules: the set element. */
  member: CTerm | undefined;
  value: CTerm | undefined;
  args: CTerm[] | undefined;
  body: CBody;
  nslots: number;
  isDefault: boolean;
  /** Index: `input.<path> == value` expressions of the body, checked before running it. */
  guards: { path: string[]; value: Value }[] | undefined;
  else: CRule | undefined;
  loc: Loc;
}

/** A node of the rule tree: one per ground path prefix of any rule head. */
export interface RuleNode {
  path: string[];
  key: string;
  children: Map<string, RuleNode>;
  complete: CRule[];
  multi: CRule[];
  funcs: CRule[];
  defaultRule: CRule | undefined;
  /** Function node: not a value; `arity` is its number of arguments. */
  isFunc: boolean;
  arity: number;
  /** Every complete rule (else branches included) yields the same constant: evaluation may stop at the first success. */
  constant: boolean;
}

export interface Program {
  root: RuleNode;
  /** Function nodes by `data.a.b.f`. */
  funcs: Map<string, RuleNode>;
}
