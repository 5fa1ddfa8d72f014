/**
 * Rego v1 parser (opa `v1/ast/parser.go`): tokens → {@link Module}.
 * Operators become calls named like OPA's (`eq`, `assign`, `equal`, `plus`, …).
 */
import type { Body, Expr, Import, Loc, Module, Rule, RuleHead, Term, With } from './ast.ts';
import { RegoError } from './errors.ts';
import { attachAnnotations } from './annotations.ts';
import { call, refPath, TermParser, trueExpr, type ParseOptions } from './parser-terms.ts';

export { parseNumber, type ParseOptions } from './parser-terms.ts';

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


class Parser extends TermParser {
  constructor(src: string, file: string, opts: ParseOptions) {
    super(src, file, opts);
  }

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
    attachAnnotations(mod, this.comments);
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
      if (this.isP('{')) {
        // `if { ... }` is a body, unless it only parses as a term (`if {x: 1 | ...}`)
        const save = this.pos;
        const wild = this.wild;
        try {
          return this.braceBody();
        } catch (e) {
          if (!(e instanceof RegoError)) throw e;
          this.pos = save;
          this.wild = wild;
          try {
            return this.withNL(true, () => [this.expr()]);
          } catch {
            throw e;
          }
        }
      }
      return this.withNL(true, () => [this.expr()]);
    }
    // Rego v1 (OPA 1.x): a body needs `if`; accepting `p { … }` would silently change v0 policies' meaning
    if (this.isP('{') && !this.tok.nl) this.fail('`if` keyword is required before rule body');
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
        if (t.kind !== 'ident') this.fail(`unexpected ${t.kind === 'eof' ? 'eof' : t.text} token: expected ident`, t.loc);
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

}
