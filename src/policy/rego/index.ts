/**
 * The Rego engine's door: compile modules once, then evaluate queries.
 */
import type { Module } from './ast.ts';
import { builtinArity, implementations } from './builtins/index.ts';
import { Compiler } from './compile.ts';
import { RegoError, RegoErrors } from './errors.ts';
import { Evaluator, type EvalOptions } from './eval.ts';
import type { CBody, Program } from './ir.ts';
import { parseModule, parseQuery, type ParseOptions } from './parser.ts';
import { fromJS, type Value } from './value.ts';

export { RegoError, RegoErrors, ErrorCodes } from './errors.ts';
export { fromJS, toJS, toJSON, RObject, RSet, type Value, equal, compare } from './value.ts';
export { parseModule, parseQuery, parseTerm } from './parser.ts';
export type { EvalOptions } from './eval.ts';

export interface SourceFile {
  file: string;
  text: string;
}

/** A compiled query, ready to run many times. */
export interface PreparedQuery {
  body: CBody;
  vars: { name: string; slot: number }[];
  nslots: number;
}

/** Modules compiled into a rule tree; immutable, shareable across evaluations. */
export class CompiledPolicy {
  readonly program: Program;
  readonly modules: Module[];
  readonly #queries = new Map<string, PreparedQuery>();
  readonly #compiler: Compiler;

  constructor(modules: Module[]) {
    this.modules = modules;
    this.#compiler = new Compiler(builtinArity);
    this.program = this.#compiler.compileModules(modules);
  }

  /** Compiles (and caches) a query such as `data.pkg.allow` or `x = data.a[_]`. */
  prepare(query: string, opts: ParseOptions = {}): PreparedQuery {
    let q = this.#queries.get(query);
    if (!q) {
      const body = parseQuery(query, 'query', opts);
      const c = new Compiler(builtinArity);
      (c as { program: Program }).program = this.program;
      q = c.compileQuery(body);
      if (c.errors.length) throw new RegoErrors(c.errors);
      this.#queries.set(query, q);
    }
    return q;
  }

  /** Evaluates a query; one binding map per solution. Throws {@link RegoError} on evaluation errors. */
  evaluate(query: string | PreparedQuery, opts: EvalOptions = {}): Map<string, Value>[] {
    const q = typeof query === 'string' ? this.prepare(query) : query;
    const ev = new Evaluator(this.program, implementations, opts);
    return ev.query(q.body, q.vars, q.nslots);
  }
}

/** Parses and compiles Rego sources. Throws {@link RegoErrors} with every parse or compile error. */
export function compile(sources: SourceFile[], opts: ParseOptions = {}): CompiledPolicy {
  const modules: Module[] = [];
  const errors: RegoError[] = [];
  for (const s of sources) {
    try {
      modules.push(parseModule(s.text, s.file, opts));
    } catch (e) {
      if (e instanceof RegoError) errors.push(e);
      else throw e;
    }
  }
  if (errors.length) throw new RegoErrors(errors);
  return new CompiledPolicy(modules);
}

/** Converts JSON-like JS to an engine value (sets and bigints allowed). */
export const value = (x: unknown): Value => fromJS(x);
