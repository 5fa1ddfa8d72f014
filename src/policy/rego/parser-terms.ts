/**
 * Rego terms (opa `v1/ast/parser.go`, `parseTerm*`): tokens, precedence
 * climbing over `in` < relations < `|` < `&` < `+ -` < `* / %`, refs, calls,
 * literals and comprehensions. {@link Parser} adds modules, rules and bodies.
 */
import type { Body, Expr, Loc, Term } from './ast.ts';
import { ErrorCodes, RegoError } from './errors.ts';
import { lex, type Token } from './lexer.ts';
import { num } from './value.ts';

export const KEYWORDS = new Set([
  'not', 'some', 'every', 'with', 'if', 'contains', 'in', 'else', 'default', 'import', 'package', 'true', 'false', 'null',
]);

const RELATIONS: Record<string, string> = { '==': 'equal', '!=': 'neq', '<': 'lt', '<=': 'lte', '>': 'gt', '>=': 'gte' };
const ARITH: Record<string, string> = { '+': 'plus', '-': 'minus' };
const FACTOR: Record<string, string> = { '*': 'mul', '/': 'div', '%': 'rem' };

export interface ParseOptions {
  /** Accept `and` / `or` (OPA's experimental logic keywords). */
  logicOps?: boolean;
}

export abstract class TermParser {
  readonly toks: Token[];
  readonly comments: { row: number; text: string }[] = [];
  pos = 0;
  readonly file: string;
  readonly opts: ParseOptions;
  /** Whether newlines separate expressions here (bodies) or not (inside brackets). */
  nlSig: boolean[] = [true];
  wild = 0;
  logic = false;
  notBody = false;

  constructor(src: string, file: string, opts: ParseOptions) {
    this.toks = lex(src, file, this.comments);
    this.file = file;
    this.opts = opts;
    this.logic = opts.logicOps === true;
  }

  get tok(): Token {
    return this.toks[this.pos]!;
  }
  peek(n = 1): Token {
    return this.toks[Math.min(this.pos + n, this.toks.length - 1)]!;
  }
  next(): Token {
    const t = this.tok;
    if (t.kind !== 'eof') this.pos++;
    return t;
  }
  fail(msg: string, loc: Loc = this.tok.loc): never {
    throw new RegoError(ErrorCodes.parse, msg, loc);
  }
  is(text: string): boolean {
    const t = this.tok;
    return (t.kind === 'punct' || t.kind === 'ident') && t.text === text;
  }
  isP(text: string): boolean {
    return this.tok.kind === 'punct' && this.tok.text === text;
  }
  expect(text: string): Token {
    if (!this.is(text)) this.fail(`expected ${text} but got ${this.describe()}`);
    return this.next();
  }
  expectEOF(): void {
    if (this.tok.kind !== 'eof') this.fail(`unexpected ${this.describe()}`);
  }
  describe(): string {
    const t = this.tok;
    return t.kind === 'eof' ? 'EOF' : t.kind === 'string' ? 'string' : `${t.text}`;
  }
  /** A newline ends the expression here. */
  stopAtNL(): boolean {
    return this.nlSig[this.nlSig.length - 1]! && this.tok.nl;
  }
  withNL<T>(sig: boolean, f: () => T): T {
    this.nlSig.push(sig);
    try {
      return f();
    } finally {
      this.nlSig.pop();
    }
  }
  /** An ident used as a name: a keyword counts only when directly followed by a dot (`if.foo`). */
  isName(t: Token = this.tok, idx = this.pos): boolean {
    if (t.kind !== 'ident') return false;
    if (!KEYWORDS.has(t.text) && !(this.logic && (t.text === 'and' || t.text === 'or'))) return true;
    const d = this.toks[idx + 1]!;
    if (t.text === 'contains' && d.kind === 'punct' && d.text === '(' && d.loc.col === t.loc.col + t.text.length) return true;
    return d.kind === 'punct' && d.text === '.' && d.loc.row === t.loc.row && d.loc.col === t.loc.col + t.text.length;
  }
  kw(text: string): boolean {
    return this.tok.kind === 'ident' && this.tok.text === text && !this.isName();
  }

  // ---- module ----


  /** A body up to `end` (comprehension bodies, blocks). */
  abstract bodyUntil(end: string): Body;

  // ---- terms, by precedence: in < relation < | < & < + - < * / % ----

  /** `keyVal`: a comma may introduce `key, value in coll` (not inside lists, where commas separate items). */
  termIn(keyVal = true): Term {
    let lhs = this.termRelation();
    for (;;) {
      if (keyVal && this.isP(',')) {
        const save = this.pos;
        const wild = this.wild;
        this.next();
        try {
          const mhs = this.termRelation();
          if (this.kw('in')) {
            this.next();
            lhs = call('internal.member_3', [lhs, mhs, this.termRelation()], lhs.loc);
            continue;
          }
        } catch (e) {
          if (!(e instanceof RegoError)) throw e;
        }
        this.pos = save;
        this.wild = wild;
      }
      if (this.kw('in') && !this.stopAtNL()) {
        const loc = this.next().loc;
        lhs = call('internal.member_2', [lhs, this.termRelation()], loc);
        continue;
      }
      return lhs;
    }
  }

  termRelation(): Term {
    let lhs = this.termOr();
    while (this.tok.kind === 'punct' && RELATIONS[this.tok.text] && !this.stopAtNL()) {
      const op = RELATIONS[this.next().text]!;
      lhs = call(op, [lhs, this.termOr()], lhs.loc);
    }
    return lhs;
  }

  noPipe = false;
  termOr(): Term {
    let lhs = this.termAnd();
    while (this.isP('|') && !this.noPipe && !this.stopAtNL()) {
      this.next();
      lhs = call('or', [lhs, this.termAnd()], lhs.loc);
    }
    return lhs;
  }

  termAnd(): Term {
    let lhs = this.termArith();
    while (this.isP('&') && !this.stopAtNL()) {
      this.next();
      lhs = call('and', [lhs, this.termArith()], lhs.loc);
    }
    return lhs;
  }

  termArith(): Term {
    let lhs = this.termFactor();
    while (this.tok.kind === 'punct' && ARITH[this.tok.text] && !this.stopAtNL()) {
      const op = ARITH[this.next().text]!;
      lhs = call(op, [lhs, this.termFactor()], lhs.loc);
    }
    return lhs;
  }

  termFactor(): Term {
    let lhs = this.termUnary();
    while (this.tok.kind === 'punct' && FACTOR[this.tok.text] && !this.stopAtNL()) {
      const op = FACTOR[this.next().text]!;
      lhs = call(op, [lhs, this.termUnary()], lhs.loc);
    }
    return lhs;
  }

  termUnary(): Term {
    if (this.isP('-')) {
      const loc = this.next().loc;
      if (this.tok.kind === 'number' && !this.tok.nl) {
        const t = this.termRef();
        if (t.t === 'scalar' && typeof t.v !== 'string') return { ...t, v: negate(t.v as number | bigint), loc };
        if (t.t === 'ref' && t.head.t === 'scalar') return { ...t, head: { ...t.head, v: negate(t.head.v as number) } };
        return t;
      }
      return call('minus', [{ t: 'scalar', v: 0, loc }, this.termUnary()], loc);
    }
    return this.termRef();
  }

  /** A primary term followed by `.x`, `[x]` and `(args)` suffixes. */
  termRef(): Term {
    let t = this.primary();
    for (;;) {
      const tk = this.tok;
      if (tk.kind !== 'punct' || tk.nl && this.nlSig[this.nlSig.length - 1]) break;
      const prev = this.toks[this.pos - 1]!;
      const adjacent = tk.loc.row === prev.endRow && tk.loc.col === prev.endCol;
      if (tk.text === '.' && adjacent) {
        this.next();
        const n = this.next();
        if (n.kind !== 'ident') this.fail(`unexpected ${n.kind === 'eof' ? 'eof' : n.text} token: expected ident`, n.loc);
        t = appendRef(t, { t: 'scalar', v: n.text, loc: n.loc });
      } else if (tk.text === '[' && adjacent) {
        this.next();
        const k = this.withNL(false, () => this.termIn());
        this.expect(']');
        t = appendRef(t, k);
      } else if (tk.text === '(' && adjacent && (t.t === 'var' || t.t === 'ref')) {
        this.next();
        const args = this.withNL(false, () => this.termList(')'));
        t = { t: 'call', fn: t, args, loc: t.loc };
      } else break;
    }
    return t;
  }

  termList(end: string): Term[] {
    const out: Term[] = [];
    while (!this.isP(end)) {
      out.push(this.termIn(false));
      if (!this.isP(',')) break;
      this.next();
    }
    this.expect(end);
    return out;
  }

  primary(): Term {
    const t = this.tok;
    const loc = t.loc;
    switch (t.kind) {
      case 'number': {
        this.next();
        return { t: 'scalar', v: parseNumber(t.text), loc };
      }
      case 'string':
        this.next();
        return { t: 'scalar', v: t.text, loc };
      case 'ident': {
        if (!this.isName()) {
          if (t.text === 'true' || t.text === 'false') {
            this.next();
            return { t: 'scalar', v: t.text === 'true', loc };
          }
          if (t.text === 'null') {
            this.next();
            return { t: 'scalar', v: null, loc };
          }
          this.fail(`unexpected ${t.text} keyword`);
        }
        this.next();
        if (t.text === 'set' && this.isP('(') && this.peek().kind === 'punct' && this.peek().text === ')') {
          this.next();
          this.next();
          return { t: 'set', items: [], loc };
        }
        if (t.text === '_') return { t: 'var', name: `$_${this.wild++}`, loc };
        return { t: 'var', name: t.text, loc };
      }
      case 'punct':
        if (t.text === '(') {
          this.next();
          const inner = this.withNL(false, () => this.termIn());
          this.expect(')');
          return inner;
        }
        if (t.text === '[') return this.withNL(false, () => this.arrayTerm());
        if (t.text === '{') return this.withNL(false, () => this.braceTerm());
        break;
    }
    return this.fail(`unexpected ${this.describe()}`);
  }

  arrayTerm(): Term {
    const loc = this.next().loc;
    if (this.isP(']')) {
      this.next();
      return { t: 'array', items: [], loc };
    }
    const first = this.headTerm();
    if (this.isP('|')) {
      this.next();
      const body = this.withNL(true, () => this.bodyUntil(']'));
      this.expect(']');
      return { t: 'arraycomp', head: first, body, loc };
    }
    const items = [first];
    while (this.isP(',')) {
      this.next();
      if (this.isP(']')) break;
      items.push(this.termIn(false));
    }
    this.expect(']');
    return { t: 'array', items, loc };
  }

  headTerm(): Term {
    const saved = this.noPipe;
    this.noPipe = true;
    try {
      return this.termIn(false);
    } finally {
      this.noPipe = saved;
    }
  }

  braceTerm(): Term {
    const loc = this.next().loc;
    if (this.isP('}')) {
      this.next();
      return { t: 'object', items: [], loc };
    }
    const first = this.headTerm();
    if (this.isP(':')) {
      this.next();
      const v = this.headTerm();
      if (this.isP('|')) {
        this.next();
        const body = this.withNL(true, () => this.bodyUntil('}'));
        this.expect('}');
        return { t: 'objcomp', key: first, value: v, body, loc };
      }
      const items: [Term, Term][] = [[first, v]];
      while (this.isP(',')) {
        this.next();
        if (this.isP('}')) break;
        const k = this.termIn(false);
        this.expect(':');
        items.push([k, this.termIn(false)]);
      }
      this.expect('}');
      return { t: 'object', items, loc };
    }
    if (this.isP('|')) {
      this.next();
      const body = this.withNL(true, () => this.bodyUntil('}'));
      this.expect('}');
      return { t: 'setcomp', head: first, body, loc };
    }
    const items = [first];
    while (this.isP(',')) {
      this.next();
      if (this.isP('}')) break;
      items.push(this.termIn(false));
    }
    this.expect('}');
    return { t: 'set', items, loc };
  }

  /** A plain reference (package paths, imports). */
  refOnly(): Term {
    const t = this.tok;
    if (t.kind !== 'ident') this.fail('expected reference');
    this.next();
    let term: Term = { t: 'var', name: t.text, loc: t.loc };
    while (this.isP('.') || this.isP('[')) {
      if (this.next().text === '.') {
        const n = this.next();
        if (n.kind !== 'ident') this.fail(`unexpected ${n.kind === 'eof' ? 'eof' : n.text} token: expected ident`, n.loc);
        term = appendRef(term, { t: 'scalar', v: n.text, loc: n.loc });
      } else {
        const k = this.next();
        if (k.kind !== 'string') this.fail('expected string', k.loc);
        this.expect(']');
        term = appendRef(term, { t: 'scalar', v: k.text, loc: k.loc });
      }
    }
    return term;
  }
}

export function appendRef(t: Term, k: Term): Term {
  if (t.t === 'ref') return { ...t, path: [...t.path, k] };
  return { t: 'ref', head: t, path: [k], loc: t.loc };
}

export function refPath(t: Term, p: TermParser): string[] {
  if (t.t === 'var') return [t.name];
  if (t.t !== 'ref' || t.head.t !== 'var') return p.fail('expected reference', t.loc);
  return [t.head.name, ...t.path.map((x) => (x.t === 'scalar' && typeof x.v === 'string' ? x.v : p.fail('bad path', x.loc)))];
}

export function call(name: string, args: Term[], loc: Loc): Term {
  return { t: 'call', fn: { t: 'var', name, loc }, args, loc };
}

export function trueExpr(loc: Loc): Expr {
  return { k: 'term', term: { t: 'scalar', v: true, loc }, neg: false, with: [], loc };
}

function negate(v: number | bigint): number | bigint {
  return typeof v === 'bigint' ? num(-v) : num(-v);
}

export function parseNumber(text: string): number | bigint {
  if (/^[0-9]+$/.test(text)) return num(BigInt(text));
  return num(parseFloat(text));
}

