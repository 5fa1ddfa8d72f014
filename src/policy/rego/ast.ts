/**
 * The Rego abstract syntax tree (opa `v1/ast`). Every node carries a location.
 */
import type { Value } from './value.ts';

export interface Loc {
  file: string;
  row: number;
  col: number;
}

export type Term =
  | { t: 'scalar'; v: Value; loc: Loc }
  | { t: 'var'; name: string; loc: Loc }
  | { t: 'ref'; head: Term; path: Term[]; loc: Loc }
  | { t: 'array'; items: Term[]; loc: Loc }
  | { t: 'object'; items: [Term, Term][]; loc: Loc }
  | { t: 'set'; items: Term[]; loc: Loc }
  | { t: 'call'; fn: Term; args: Term[]; loc: Loc }
  | { t: 'arraycomp'; head: Term; body: Body; loc: Loc }
  | { t: 'setcomp'; head: Term; body: Body; loc: Loc }
  | { t: 'objcomp'; key: Term; value: Term; body: Body; loc: Loc };

export interface With {
  target: Term;
  value: Term;
  loc: Loc;
}

export type ExprKind =
  | { k: 'term'; term: Term }
  | { k: 'some'; vars: Term[] }
  | { k: 'somein'; key: Term | undefined; value: Term; coll: Term }
  | { k: 'every'; key: Term | undefined; value: Term; coll: Term; body: Body }
  | { k: 'or'; alts: Body[] };

export type Expr = ExprKind & { neg: boolean; with: With[]; loc: Loc };

export type Body = Expr[];

export interface RuleHead {
  /** The head reference: first element a var (the rule name), then path terms. */
  ref: Term[];
  args: Term[] | undefined;
  /** Set for `contains` rules. */
  key: Term | undefined;
  value: Term | undefined;
  assign: boolean;
  loc: Loc;
}

export interface Rule {
  /** `# METADATA` block directly above the rule (YAML, as parsed). */
  annotations?: Record<string, unknown>;
  default: boolean;
  head: RuleHead;
  body: Body;
  else: Rule | undefined;
  loc: Loc;
}

export interface Import {
  /** Full path, e.g. ['data','foo','bar'] or ['input','x'] or ['future','keywords','in']. */
  path: Term;
  alias: string | undefined;
  loc: Loc;
}

export interface Module {
  /** `# METADATA` block above the package clause. */
  annotations?: Record<string, unknown>;
  file: string;
  pkg: string[];
  pkgLoc: Loc;
  imports: Import[];
  rules: Rule[];
}

export const scalar = (v: Value, loc: Loc): Term => ({ t: 'scalar', v, loc });
export const vr = (name: string, loc: Loc): Term => ({ t: 'var', name, loc });
