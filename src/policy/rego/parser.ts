/**
 * Rego v1 parser (opa `v1/ast/parser.go`): tokens → {@link Module}.
 * Operators become calls named like OPA's (`eq`, `assign`, `equal`, `plus`, …).
 */
import type { Body, Expr, Import, Loc, Module, Rule, RuleHead, Term, With } from './ast.ts';
import { ErrorCodes, RegoError } from './errors.ts';
import { lex, type Token } from './lexer.ts';
import { num } from './value.ts';

const KEYWORDS = new Set([
  'not', 'some', 'every', 'with', 'if', 'contains', 'in', 'else', 'default', 'import', 'package', 'true', 'false', 'null',
]);

const RELATIONS: Record<string, string> = { '==': 'equal', '!=': 'neq', '<': 'lt', '<=': 'lte', '>': 'gt', '>=': 'gte' };
const ARITH: Record<string, string> = { '+': 'plus', '-': 'minus' };
const FACTOR: Record<string, string> = { '*': 'mul', '/': 'div', '%': 'rem' };

export interface ParseOptions {
  /** Accept `and` / `or` (OPA's experimental logic keywords). */
  logicOps?: boolean;
}

export function parseModule(src: string, file: string, opts: ParseOptions = {}): Module {
  return new Parser(src, file, opts).module();
}

/** Parses a query body (`x = 1; y = 2`). */
export function parseQuery(src: string, file = 'query', opts: ParseOptions = {}): Body {
  const p = new Parser(src, file, opts);
  const body = p.bodyUntil('eof');
  if (body.length === 0) p.fail('empty query');
  return body;
}

/** Parses a single term (for `input_term`). */
export function parseTerm(src: string, file = 'term'): Term {
  const p = new Parser(src, file, {});
  const t = p.termIn();
  p.expectEOF();
  return t;
}

class Parser {
  readonly toks: Token[];
  pos = 0;
  readonly file: string;
  readonly opts: ParseOptions;
  /** Whether newlines separate expressions here (bodies) or not (inside brackets). */
  nlSig: boolean[] = [true];
  wild = 0;
  logic = false;
  notBody = false;

  constructor(src: string, file: string, opts: ParseOptions) {
    this.toks = lex(src, file);
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

  module(): Module {
    while (this.tok.kind !== 'eof' && !this.is('package')) this.fail('expected package');
    const pkgTok = this.expect('package');
    const pkgTerm = this.refOnly();
    const pkg = refPath(pkgTerm, this);
    const mod: Module = { file: this.file, pkg, pkgLoc: pkgTok.loc, imports: [], rules: [] };
    while (this.kw('import')) mod.imports.push(this.importDecl());
    while (this.tok.kind !== 'eof') {
      if (this.isP(';')) {
        this.next();
        continue;
      }
      mod.rules.push(this.rule());
    }
    return mod;
  }

  importDecl(): Import {
    const loc = this.next().loc;
    const path = this.refOnly();
    let alias: string | undefined;
    if (this.tok.kind === 'ident' && this.tok.text === 'as' && !this.tok.nl) {
      this.next();
      if (this.tok.kind !== 'ident') this.fail('expected import alias');
      alias = this.next().text;
    }
    if (path.t === 'ref' && path.head.t === 'var' && path.head.name === 'future' && this.is('and')) this.logic = true;
    const ps = path.t === 'ref' ? refPath(path, this) : [];
    if (ps[0] === 'future' && ps[1] === 'keywords' && (ps[2] === 'and' || ps[2] === 'or')) this.logic = true;
    if (ps[0] === 'future' && ps[1] === 'keywords' && ps[2] === 'not') this.notBody = true;
    return { path, alias, loc };
  }

  rule(): Rule {
    const loc = this.tok.loc;
    if (this.kw('default')) {
      this.next();
      const head = this.ruleHeadRef();
      if (!this.isP(':=') && !this.isP('=')) this.fail('default rule must have a value');
      const assign = this.next().text === ':=';
      const value = this.withNL(true, () => this.termIn());
      return { default: true, head: { ...head, value, assign }, body: [trueExpr(loc)], else: undefined, loc };
    }
    const head = this.ruleHeadRef();
    if (this.kw('contains')) {
      this.next();
      head.key = this.termIn();
    } else if (this.isP(':=') || this.isP('=')) {
      head.assign = this.next().text === ':=';
      head.value = this.termIn();
    }
    const body = this.ruleBody(loc);
    const rule: Rule = { default: false, head, body, else: undefined, loc };
    let cur = rule;
    while (this.kw('else')) {
      const eloc = this.next().loc;
      let value: Term | undefined;
      let assign = false;
      if (this.isP(':=') || this.isP('=')) {
        assign = this.next().text === ':=';
        value = this.termIn();
      }
      const ebody = this.ruleBody(eloc);
      const eh: RuleHead = { ...head, value: value ?? { t: 'scalar', v: true, loc: eloc }, assign, loc: eloc };
      cur.else = { default: false, head: eh, body: ebody, else: undefined, loc: eloc };
      cur = cur.else;
    }
    return rule;
  }

  ruleBody(loc: Loc): Body {
    if (this.kw('if')) {
      this.next();
      if (this.isP('{')) return this.braceBody();
      return this.withNL(true, () => [this.expr()]);
    }
    if (this.isP('{') && !this.tok.nl) return this.braceBody();
    return [trueExpr(loc)];
  }

  ruleHeadRef(): RuleHead {
    const loc = this.tok.loc;
    if (!this.isName()) this.fail(`unexpected ${this.describe()}, expected rule head`);
    const name = this.next().text;
    const ref: Term[] = [{ t: 'var', name, loc }];
    let args: Term[] | undefined;
    for (;;) {
      if (this.isP('.') && !this.tok.nl) {
        this.next();
        const t = this.next();
        if (t.kind !== 'ident') this.fail('expected name after .', t.loc);
        ref.push({ t: 'scalar', v: t.text, loc: t.loc });
      } else if (this.isP('[') && !this.tok.nl) {
        this.next();
        ref.push(this.withNL(false, () => this.termIn()));
        this.expect(']');
      } else if (this.isP('(') && !this.tok.nl) {
        this.next();
        args = this.withNL(false, () => this.termList(')'));
        break;
      } else break;
    }
    return { ref, args, key: undefined, value: undefined, assign: false, loc };
  }

  braceBody(): Body {
    this.expect('{');
    const b = this.withNL(true, () => this.bodyUntil('}'));
    this.expect('}');
    return b;
  }

  bodyUntil(end: string): Body {
    const body: Body = [];
    for (;;) {
      while (this.isP(';')) this.next();
      if (end === 'eof' ? this.tok.kind === 'eof' : this.isP(end)) break;
      if (body.length > 0 && !this.tok.nl && !this.isP(';') && this.toks[this.pos - 1]?.text !== ';') {
        this.fail(`unexpected ${this.describe()}`);
      }
      body.push(this.expr());
    }
    return body;
  }

  // ---- expressions ----

  expr(): Expr {
    const loc = this.tok.loc;
    let e: Expr;
    if (this.kw('not') && (this.notBody || this.logic) && this.peek().kind === 'punct' && this.peek().text === '{' && !this.logic) {
      this.next();
      const b = this.braceBody();
      e = { k: 'or', alts: [b], neg: true, with: [], loc };
    } else if (this.kw('not') && !this.logic) {
      this.next();
      const inner = this.exprNoWith();
      if (inner.neg) this.fail('not not is not allowed', loc);
      e = { ...inner, neg: true, loc };
    } else {
      e = this.exprNoWith();
    }
    while (this.kw('with')) {
      const wloc = this.next().loc;
      const target = this.termRef();
      if (!(this.tok.kind === 'ident' && this.tok.text === 'as')) this.fail('expected as');
      this.next();
      const value = this.termIn();
      e.with.push({ target, value, loc: wloc } satisfies With);
    }
    return e;
  }

  exprNoWith(): Expr {
    const loc = this.tok.loc;
    if (this.kw('some')) return this.someExpr();
    if (this.kw('every')) return this.everyExpr();
    const e = this.exprLogicOr();
    return e ?? { k: 'term', term: { t: 'scalar', v: true, loc }, neg: false, with: [], loc };
  }

  exprLogicOr(): Expr {
    const first = this.exprLogicAnd();
    if (!(this.logic && this.kw('or'))) return first;
    const alts: Body[] = [[first]];
    while (this.logic && this.kw('or') && !this.stopAtNL()) {
      this.next();
      alts.push([this.exprLogicAnd()]);
    }
    return { k: 'or', alts, neg: false, with: [], loc: first.loc };
  }

  exprLogicAnd(): Expr {
    const first = this.exprLogicUnit();
    if (!(this.logic && this.kw('and'))) return first;
    const body: Body = [first];
    while (this.logic && this.kw('and') && !this.stopAtNL()) {
      this.next();
      body.push(this.exprLogicUnit());
    }
    // an `and` chain is a nested body: true iff all parts hold
    return { k: 'or', alts: [body], neg: false, with: [], loc: first.loc };
  }

  exprLogicUnit(): Expr {
    const loc = this.tok.loc;
    if (this.logic || this.notBody) {
      if (this.isP('{') && this.looksLikeBlock()) {
        const b = this.braceBody();
        return { k: 'or', alts: [b], neg: false, with: [], loc };
      }
      if (this.kw('not')) {
        this.next();
        if (this.isP('{')) {
          const b = this.braceBody();
          return { k: 'or', alts: [b], neg: true, with: [], loc };
        }
        const inner = this.exprLogicUnit();
        return { k: 'or', alts: [[inner]], neg: true, with: [], loc };
      }
      if (this.isP('(')) {
        const save = this.pos;
        const wild = this.wild;
        try {
          this.next();
          const e = this.withNL(false, () => this.expr());
          this.expect(')');
          const t = this.tok;
          const ends = t.kind === 'eof' || t.nl || (t.kind === 'punct' && (t.text === ';' || t.text === '}' || t.text === ')')) || (t.kind === 'ident' && ['and', 'or', 'with'].includes(t.text));
          if (ends && (e.k === 'or' || e.with.length > 0 || e.neg)) {
            if (e.with.length > 0 && this.kw('with')) return { k: 'or', alts: [[e]], neg: false, with: [], loc };
            return e.k === 'or' ? e : { k: 'or', alts: [[e]], neg: false, with: [], loc };
          }
        } catch (err) {
          if (!(err instanceof RegoError)) throw err;
        }
        this.pos = save;
        this.wild = wild;
      }
    }
    return this.termExpr();
  }

  /** `{ ... }` in logic-op position is a block when it contains `;`, a newline, `:=`, `some` or logic ops at top level. */
  looksLikeBlock(): boolean {
    let depth = 0;
    for (let i = this.pos; i < this.toks.length; i++) {
      const t = this.toks[i]!;
      if (t.kind === 'punct' && (t.text === '{' || t.text === '[' || t.text === '(')) depth++;
      else if (t.kind === 'punct' && (t.text === '}' || t.text === ']' || t.text === ')')) {
        depth--;
        if (depth === 0) {
          const nx = this.toks[i + 1]!;
          return nx.kind === 'ident' && (nx.text === 'and' || nx.text === 'or') || this.toks[this.pos - 1]?.text === 'and' || this.toks[this.pos - 1]?.text === 'or' || this.toks[this.pos - 1]?.text === 'not';
        }
      } else if (depth === 1 && t.kind === 'punct' && (t.text === ';' || t.text === ':=')) return true;
      else if (depth === 1 && t.kind === 'ident' && (t.text === 'and' || t.text === 'or' || t.text === 'some')) return true;
      if (t.kind === 'eof') return false;
    }
    return false;
  }

  parenHasLogic(): boolean {
    let depth = 0;
    for (let i = this.pos; i < this.toks.length; i++) {
      const t = this.toks[i]!;
      if (t.kind === 'punct' && (t.text === '{' || t.text === '[' || t.text === '(')) depth++;
      else if (t.kind === 'punct' && (t.text === '}' || t.text === ']' || t.text === ')')) {
        depth--;
        if (depth === 0) return false;
      } else if (depth === 1 && t.kind === 'ident' && (t.text === 'and' || t.text === 'or')) return true;
      if (t.kind === 'eof') return false;
    }
    return false;
  }

  termExpr(): Expr {
    const loc = this.tok.loc;
    const lhs = this.termIn();
    if ((this.isP('=') || this.isP(':=')) && !this.stopAtNL()) {
      const op = this.next().text === ':=' ? 'assign' : 'eq';
      const rhs = this.termIn();
      return { k: 'term', term: call(op, [lhs, rhs], loc), neg: false, with: [], loc };
    }
    return { k: 'term', term: lhs, neg: false, with: [], loc };
  }

  someExpr(): Expr {
    const loc = this.next().loc;
    const first = this.termRelation();
    if (this.kw('in')) {
      this.next();
      const coll = this.termRelation();
      return { k: 'somein', key: undefined, value: first, coll, neg: false, with: [], loc };
    }
    const vars = [first];
    while (this.isP(',')) {
      this.next();
      vars.push(this.termRelation());
      if (this.kw('in')) {
        if (vars.length !== 2) this.fail('unexpected in');
        this.next();
        const coll = this.termRelation();
        return { k: 'somein', key: vars[0], value: vars[1]!, coll, neg: false, with: [], loc };
      }
    }
    for (const v of vars) if (v.t !== 'var') this.fail('expected var in some declaration', v.loc);
    return { k: 'some', vars, neg: false, with: [], loc };
  }

  everyExpr(): Expr {
    const loc = this.next().loc;
    let key: Term | undefined;
    let value = this.termRelation();
    if (this.isP(',')) {
      this.next();
      key = value;
      value = this.termRelation();
    }
    if (!this.kw('in')) this.fail('expected in');
    this.next();
    const coll = this.termRelation();
    const body = this.braceBody();
    return { k: 'every', key, value, coll, body, neg: false, with: [], loc };
  }

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
      const adjacent = tk.loc.row === prev.loc.row && tk.loc.col === prev.loc.col + rawLen(prev);
      if (tk.text === '.' && adjacent) {
        this.next();
        const n = this.next();
        if (n.kind !== 'ident') this.fail('expected name after .', n.loc);
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
        if (n.kind !== 'ident') this.fail('expected name', n.loc);
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

function rawLen(t: Token): number {
  if (t.kind === 'string') return -1; // strings: never adjacent by length (escapes); handled below
  return t.text.length;
}

function appendRef(t: Term, k: Term): Term {
  if (t.t === 'ref') return { ...t, path: [...t.path, k] };
  return { t: 'ref', head: t, path: [k], loc: t.loc };
}

function refPath(t: Term, p: Parser): string[] {
  if (t.t === 'var') return [t.name];
  if (t.t !== 'ref' || t.head.t !== 'var') return p.fail('expected reference', t.loc);
  return [t.head.name, ...t.path.map((x) => (x.t === 'scalar' && typeof x.v === 'string' ? x.v : p.fail('bad path', x.loc)))];
}

function call(name: string, args: Term[], loc: Loc): Term {
  return { t: 'call', fn: { t: 'var', name, loc }, args, loc };
}

function trueExpr(loc: Loc): Expr {
  return { k: 'term', term: { t: 'scalar', v: true, loc }, neg: false, with: [], loc };
}

function negate(v: number | bigint): number | bigint {
  return typeof v === 'bigint' ? num(-v) : num(-v);
}

export function parseNumber(text: string): number | bigint {
  if (/^[0-9]+$/.test(text)) return num(BigInt(text));
  return num(parseFloat(text));
}
