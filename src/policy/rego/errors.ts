/**
 * Errors with OPA's codes (opa `v1/ast/errors.go`, `v1/topdown/errors.go`).
 * Parse and compile errors are collected into a {@link RegoErrors}; evaluation
 * errors stop the query.
 */
import type { Loc } from './ast.ts';

export const ErrorCodes = {
  parse: 'rego_parse_error',
  compile: 'rego_compile_error',
  unsafeVar: 'rego_unsafe_var_error',
  recursion: 'rego_recursion_error',
  type: 'rego_type_error',
  evalType: 'eval_type_error',
  evalConflict: 'eval_conflict_error',
  evalBuiltin: 'eval_builtin_error',
  evalCancel: 'eval_cancel_error',
  evalInternal: 'eval_internal_error',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class RegoError extends Error {
  readonly code: ErrorCode;
  readonly loc: Loc | undefined;
  constructor(code: ErrorCode, message: string, loc?: Loc) {
    super(message);
    this.code = code;
    this.loc = loc;
  }
  /** OPA's text form: `file:row: code: message` (or `code: message` without a location). */
  override toString(): string {
    return this.loc ? `${this.loc.file}:${this.loc.row}: ${this.code}: ${this.message}` : `${this.code}: ${this.message}`;
  }
  /** With the column too, for `policy check`. */
  format(): string {
    return this.loc ? `${this.loc.file}:${this.loc.row}:${this.loc.col}: ${this.code}: ${this.message}` : `${this.code}: ${this.message}`;
  }
}

/** Several parse/compile errors at once. */
export class RegoErrors extends Error {
  readonly errors: RegoError[];
  constructor(errors: RegoError[]) {
    super(errors.map((e) => e.toString()).join('\n'));
    this.errors = errors;
  }
}

/** A builtin failure: undefined unless strict mode, where it becomes the query's error. */
export class BuiltinError extends RegoError {
  constructor(message: string, code: ErrorCode = ErrorCodes.evalBuiltin) {
    super(code, message);
  }
}

/** Halts evaluation regardless of strict mode (e.g. conflicts). */
export const conflict = (message: string, loc?: Loc): RegoError => new RegoError(ErrorCodes.evalConflict, message, loc);
