/**
 * The Rego engine's door: compile modules once, then evaluate queries.
 */
import type { Module, Term } from './ast.ts';
import { builtinArity, implementations } from './builtins/index.ts';
import { Compiler } from './compile.ts';
import { ErrorCodes, RegoError, RegoErrors } from './errors.ts';
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
      const c = new Compiler(builtinArity, this.program);
      q = c.compileQuery(body);
      if (c.errors.length) throw new RegoErrors(c.errors);
      // queries can come from outside (the data API): keep the cache bounded
      if (this.#queries.size >= MAX_CACHED_QUERIES) this.#queries.clear();
      this.#queries.set(query, q);
    }
    return q;
  }

  /**
   * Evaluates a query the way `opa eval` reports it: per solution, the value of
   * each top-level expression (a term's value, `true` for other expressions)
   * and the bindings of the query's variables.
   */
  evaluateExpressions(query: string, opts: EvalOptions = {}): { expressions: { value: Value; text: string; location: { row: number; col: number } }[]; bindings: Map<string, Value> }[] {
    const body = parseQuery(query, 'query');
    const texts = splitQueryText(query, body.length);
    const captured: (string | undefined)[] = [];
    const rewritten = body.map((e, i) => {
      if (e.k === 'term' && !e.neg && e.term.t !== 'call') {
        const name = `__expr${i}__`;
        captured.push(name);
        const v: Term = { t: 'var', name, loc: e.loc };
        return { ...e, term: { t: 'call' as const, fn: { t: 'var' as const, name: 'eq', loc: e.loc }, args: [v, e.term], loc: e.loc } };
      }
      captured.push(undefined);
      return e;
    });
    const c = new Compiler(builtinArity, this.program);
    const q = c.compileQuery(rewritten);
    const rows = guardStack(() => new Evaluator(this.program, implementations, opts).query(q.body, q.vars, q.nslots));
    return rows.map((row) => {
      const expressions = body.map((e, i) => {
        const name = captured[i];
        const value = name ? row.get(name) ?? null : true;
        return { value, text: texts[i] ?? query, location: { row: e.loc.row, col: e.loc.col } };
      });
      const bindings = new Map([...row].filter(([k]) => !/^__expr\d+__$/.test(k)));
      return { expressions, bindings };
    });
  }

  /**
   * Evaluates several prepared queries against one input with one evaluator
   * (rule values are computed once and shared); returns, per query, the value
   * of `var` in its first solution.
   */
  evaluateFirst(queries: PreparedQuery[], varName: string, opts: EvalOptions = {}): (Value | undefined)[] {
    const ev = new Evaluator(this.program, implementations, opts);
    return guardStack(() =>
      queries.map((q) => {
        const slot = q.vars.find((v) => v.name === varName)?.slot;
        return slot === undefined ? undefined : ev.first(q.body, slot, q.nslots);
      }),
    );
  }

  /** Evaluates a query; one binding map per solution. Throws {@link RegoError} on evaluation errors. */
  evaluate(query: string | PreparedQuery, opts: EvalOptions = {}): Map<string, Value>[] {
    const q = typeof query === 'string' ? this.prepare(query) : query;
    return guardStack(() => new Evaluator(this.program, implementations, opts).query(q.body, q.vars, q.nslots));
  }
}

/** Turns a JS stack overflow (deeply nested data or rules) into an evaluation error. */
function guardStack<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof RangeError) throw new RegoError(ErrorCodes.evalInternal, 'evaluation too deep (stack exhausted)');
    throw e;
  }
}

/** Splits query text into its top-level expressions (by `;` and newlines outside brackets). */
function splitQueryText(text: string, n: number): string[] {
  if (n <= 1) return [text.trim()];
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if ('([{'.includes(ch)) depth++;
    if (')]}'.includes(ch)) depth--;
    if (depth === 0 && (ch === ';' || ch === '\n')) {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

const MAX_CACHED_QUERIES = 1000;

/** A module larger than this is refused at parse time (policies are code; data belongs in data.json). */
export const MAX_MODULE_CHARS = 8 * 1024 * 1024;

/** Parses and compiles Rego sources. Throws {@link RegoErrors} with every parse or compile error. */
export function compile(sources: SourceFile[], opts: ParseOptions = {}): CompiledPolicy {
  const modules: Module[] = [];
  const errors: RegoError[] = [];
  for (const s of sources) {
    if (s.text.length > MAX_MODULE_CHARS) {
      errors.push(new RegoError(ErrorCodes.parse, `module too large (${s.text.length} characters, limit ${MAX_MODULE_CHARS})`, { file: s.file, row: 1, col: 1 }));
      continue;
    }
    try {
      modules.push(parseModule(s.text, s.file, opts));
    } catch (e) {
      if (e instanceof RegoError) errors.push(e);
      else if (e instanceof RangeError) errors.push(new RegoError(ErrorCodes.parse, 'nesting too deep', { file: s.file, row: 1, col: 1 }));
      else throw e;
    }
  }
  if (errors.length) throw new RegoErrors(errors);
  return new CompiledPolicy(modules);
}

/** Converts JSON-like JS to an engine value (sets and bigints allowed). */
export const value = (x: unknown): Value => fromJS(x);
