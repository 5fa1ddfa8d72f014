/**
 * Builtin declarations apart from implementations (opa `v1/ast/builtins.go`
 * declares, `v1/topdown/*.go` implements). A family file exports both tables.
 */
import { BuiltinError, ErrorCodes } from '../errors.ts';
import { RObject, RSet, typeName, type Value } from '../value.ts';

/** Runtime services a builtin may use. */
export interface BuiltinContext {
  /** The query's fixed clock, ns since the epoch. */
  now(): bigint;
  /** Per-query cache for non-deterministic builtins. */
  cache: Map<string, unknown>;
}

export type BuiltinImpl = (args: Value[], ctx: BuiltinContext) => Value | undefined;

/** A declaration: name and number of operands (the result is not counted). */
export interface BuiltinDecl {
  name: string;
  arity: number;
}

export type Family = { decls: BuiltinDecl[]; impls: Record<string, BuiltinImpl> };

/** `decl('count', 1)`. */
export const decl = (name: string, arity: number): BuiltinDecl => ({ name, arity });

const article = (t: string): string => t;

/** OPA's operand type error: `count: operand 1 must be one of {...} but got number`. */
export function operandErr(fn: string, pos: number, want: string, got: Value): BuiltinError {
  return new BuiltinError(`${fn}: operand ${pos} must be ${article(want)} but got ${typeName(got)}`, ErrorCodes.evalType);
}

export function builtinErr(fn: string, msg: string): BuiltinError {
  return new BuiltinError(`${fn}: ${msg}`);
}

export function str(fn: string, v: Value | undefined, pos: number): string {
  if (typeof v !== 'string') throw operandErr(fn, pos, 'string', v ?? null);
  return v;
}

export function numArg(fn: string, v: Value | undefined, pos: number): number | bigint {
  if (typeof v !== 'number' && typeof v !== 'bigint') throw operandErr(fn, pos, 'number', v ?? null);
  return v;
}

export function arr(fn: string, v: Value | undefined, pos: number): Value[] {
  if (!Array.isArray(v)) throw operandErr(fn, pos, 'array', v ?? null);
  return v;
}

export function obj(fn: string, v: Value | undefined, pos: number): RObject {
  if (!(v instanceof RObject)) throw operandErr(fn, pos, 'object', v ?? null);
  return v;
}

export function set(fn: string, v: Value | undefined, pos: number): RSet {
  if (!(v instanceof RSet)) throw operandErr(fn, pos, 'set', v ?? null);
  return v;
}

export function bool(fn: string, v: Value | undefined, pos: number): boolean {
  if (typeof v !== 'boolean') throw operandErr(fn, pos, 'boolean', v ?? null);
  return v;
}

/** An integer operand as bigint. */
export function int(fn: string, v: Value | undefined, pos: number): bigint {
  const n = numArg(fn, v, pos);
  if (typeof n === 'bigint') return n;
  if (!Number.isInteger(n)) throw new BuiltinError(`${fn}: operand ${pos} must be integer number but got floating-point number`, ErrorCodes.evalType);
  return BigInt(n);
}

/** An integer operand that fits a JS number. */
export function smallInt(fn: string, v: Value | undefined, pos: number): number {
  return Number(int(fn, v, pos));
}

/** Array or set elements. */
export function collection(fn: string, v: Value | undefined, pos: number, want = 'one of {array, set}'): Value[] {
  if (Array.isArray(v)) return v;
  if (v instanceof RSet) return [...v.values()];
  throw operandErr(fn, pos, want, v ?? null);
}
