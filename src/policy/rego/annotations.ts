/**
 * Annotations (https://www.openpolicyagent.org/docs/policy-language/#annotations):
 * `# METADATA` comment blocks in YAML above a package or rule, and the values
 * `rego.metadata.rule()` / `rego.metadata.chain()` return for a rule.
 */
import YAML from 'yaml';
import type { Module, Rule } from './ast.ts';
import { ErrorCodes, RegoError } from './errors.ts';
import { fromJS, RObject, type Value } from './value.ts';

/** Finds METADATA blocks and attaches each to the package or rule that follows it. */
export function attachAnnotations(mod: Module, comments: { row: number; text: string }[]): void {
  for (let i = 0; i < comments.length; i++) {
    if (comments[i]!.text.trim() !== 'METADATA') continue;
    const lines: string[] = [];
    let row = comments[i]!.row;
    let j = i + 1;
    for (; j < comments.length && comments[j]!.row === row + 1; j++) {
      row = comments[j]!.row;
      lines.push(comments[j]!.text.replace(/^ /, ''));
    }
    i = j - 1;
    let data: unknown;
    try {
      data = YAML.parse(lines.join('\n')) ?? {};
    } catch (e) {
      throw new RegoError(ErrorCodes.parse, `invalid METADATA block: ${(e as Error).message}`, { file: mod.file, row: comments[i]!.row, col: 1 });
    }
    if (typeof data !== 'object' || data === null) continue;
    if (mod.pkgLoc.row > row) mod.annotations = data as Record<string, unknown>;
    else {
      const rule = mod.rules.find((r) => r.loc.row > row);
      if (rule) rule.annotations = data as Record<string, unknown>;
    }
  }
}

/** OPA's normal form: `scope` filled in, authors as `{name, email}` objects. */
export function normalize(a: Record<string, unknown>, defaultScope: string): Value {
  const out: Record<string, unknown> = { ...a, scope: a.scope ?? defaultScope };
  if (Array.isArray(a.authors) || typeof a.authors === 'string') {
    const list = Array.isArray(a.authors) ? a.authors : [a.authors];
    out.authors = list.map((x) => {
      if (typeof x !== 'string') return x;
      const m = /^(.*?)\s*<([^>]+)>$/.exec(x);
      return m ? (m[1] ? { name: m[1], email: m[2] } : { email: m[2] }) : { name: x };
    });
  }
  return fromJS(out);
}

export interface MetadataIndex {
  /** Package-scope annotations by package path (`a.b`). */
  packages: Map<string, Value>;
  /** `subpackages`-scope annotations by package path. */
  subpackages: Map<string, Value>;
  /** `document`-scope annotations by rule path (`a.b.p`). */
  documents: Map<string, Value>;
}

export function indexAnnotations(modules: Module[]): MetadataIndex {
  const idx: MetadataIndex = { packages: new Map(), subpackages: new Map(), documents: new Map() };
  for (const m of modules) {
    const key = m.pkg.join('.');
    if (m.annotations) {
      const scope = String(m.annotations.scope ?? 'package');
      (scope === 'subpackages' ? idx.subpackages : idx.packages).set(key, normalize(m.annotations, 'package'));
    }
    for (const r of m.rules) {
      if (r.annotations?.scope === 'document') idx.documents.set(rulePath(m, r).join('.'), normalize(r.annotations, 'document'));
    }
  }
  return idx;
}

export function rulePath(m: Module, r: Rule): string[] {
  const out = [...m.pkg];
  for (const [i, t] of r.head.ref.entries()) {
    if (i === 0 && t.t === 'var') out.push(t.name);
    else if (t.t === 'scalar' && typeof t.v === 'string') out.push(t.v);
    else break;
  }
  return out;
}

/** `rego.metadata.rule()`: the rule's own (rule-scope) annotations, or `{}`. */
export function ruleMetadata(r: Rule): Value {
  return r.annotations && r.annotations.scope !== 'document' ? normalize(r.annotations, 'rule') : new RObject();
}

/** `rego.metadata.chain()`: rule, document, then package annotations up the package path. */
export function chainMetadata(idx: MetadataIndex, m: Module, r: Rule): Value {
  const path = rulePath(m, r);
  const entries: Value[] = [];
  const entry = (p: string[], a: Value | undefined): RObject => {
    const o = new RObject();
    if (a !== undefined) o.set('annotations', a);
    o.set('path', p);
    return o;
  };
  entries.push(entry(path, r.annotations && r.annotations.scope !== 'document' ? normalize(r.annotations, 'rule') : undefined));
  const doc = idx.documents.get(path.join('.'));
  if (doc) entries.push(entry(path, doc));
  for (let n = m.pkg.length; n > 0; n--) {
    const key = m.pkg.slice(0, n).join('.');
    const a = idx.packages.get(key) ?? (n < m.pkg.length || idx.subpackages.has(key) ? idx.subpackages.get(key) : undefined);
    if (a) entries.push(entry(m.pkg.slice(0, n), a));
  }
  return entries;
}
