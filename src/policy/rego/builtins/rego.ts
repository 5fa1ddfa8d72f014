/**
 * `rego.parse_module` (opa `topdown/parse.go`): a module's AST in OPA's JSON
 * form (terms as `{"type": …, "value": …}`).
 */
import type { Body, Expr, Module, Rule, Term } from '../ast.ts';
import { RegoError } from '../errors.ts';
import { parseModule } from '../parser.ts';
import { fromJS, type Value } from '../value.ts';
import { builtinErr, decl, str, type BuiltinImpl, type Family } from './types.ts';

export const decls = [decl('rego.parse_module', 2)];

type J = Record<string, unknown> | unknown[] | string | number | boolean | null;

function term(t: Term): J {
  switch (t.t) {
    case 'scalar': {
      const v = t.v;
      const type = v === null ? 'null' : typeof v === 'boolean' ? 'boolean' : typeof v === 'string' ? 'string' : 'number';
      return { type, value: typeof v === 'bigint' ? Number(v) : (v as J) };
    }
    case 'var':
      return { type: 'var', value: t.name.startsWith('$_') ? '_' : t.name };
    case 'ref':
      return { type: 'ref', value: [term(t.head), ...t.path.map(term)] };
    case 'array':
      return { type: 'array', value: t.items.map(term) };
    case 'set':
      return { type: 'set', value: t.items.map(term) };
    case 'object':
      return { type: 'object', value: t.items.map(([k, v]) => [term(k), term(v)]) };
    case 'call':
      return { type: 'call', value: [term(t.fn), ...t.args.map(term)] };
    case 'arraycomp':
      return { type: 'arraycomprehension', value: { term: term(t.head), body: body(t.body) } };
    case 'setcomp':
      return { type: 'setcomprehension', value: { term: term(t.head), body: body(t.body) } };
    case 'objcomp':
      return { type: 'objectcomprehension', value: { key: term(t.key), value: term(t.value), body: body(t.body) } };
  }
}

function expr(e: Expr, index: number): J {
  const out: Record<string, unknown> = { index };
  if (e.neg) out.negated = true;
  switch (e.k) {
    case 'term':
      out.terms = e.term.t === 'call' ? [term(e.term.fn), ...e.term.args.map(term)] : term(e.term);
      break;
    case 'some':
      out.terms = { type: 'some', value: e.vars.map(term) };
      break;
    case 'somein':
      out.terms = { type: 'some', value: [{ type: 'call', value: [{ type: 'ref', value: [{ type: 'var', value: 'internal' }, { type: 'string', value: e.key ? 'member_3' : 'member_2' }] }, ...(e.key ? [term(e.key)] : []), term(e.value), term(e.coll)] }] };
      break;
    case 'every':
      out.terms = { domain: term(e.coll), key: e.key ? term(e.key) : null, value: term(e.value), body: body(e.body) };
      break;
    case 'or':
      out.terms = e.alts.map(body);
      break;
  }
  if (e.with.length) out.with = e.with.map((w) => ({ target: term(w.target), value: term(w.value) }));
  return out;
}

const body = (b: Body): J => b.map(expr);

function rule(r: Rule): J {
  const head: Record<string, unknown> = { ref: r.head.ref.map(term) };
  const first = r.head.ref[0];
  if (first?.t === 'var' && r.head.ref.length === 1) head.name = first.name;
  if (r.head.args) head.args = r.head.args.map(term);
  if (r.head.key) head.key = term(r.head.key);
  if (r.head.value) head.value = term(r.head.value);
  if (r.head.assign) head.assign = true;
  const out: Record<string, unknown> = { head, body: body(r.body) };
  if (r.default) out.default = true;
  if (r.else) out.else = rule(r.else);
  return out;
}

export function moduleJSON(m: Module): J {
  return {
    package: { path: [{ type: 'var', value: 'data' }, ...m.pkg.map((p) => ({ type: 'string', value: p }))] },
    ...(m.imports.length ? { imports: m.imports.map((i) => ({ path: term(i.path), ...(i.alias ? { alias: i.alias } : {}) })) } : {}),
    ...(m.rules.length ? { rules: m.rules.map(rule) } : {}),
  };
}

export const impls: Record<string, BuiltinImpl> = {
  'rego.parse_module': ([f, s]): Value => {
    const file = str('rego.parse_module', f, 1);
    const src = str('rego.parse_module', s, 2);
    try {
      return fromJS(moduleJSON(parseModule(src, file)));
    } catch (e) {
      if (e instanceof RegoError) throw builtinErr('rego.parse_module', e.toString());
      throw e;
    }
  },
};

export const family: Family = { decls, impls };
