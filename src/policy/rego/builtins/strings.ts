/**
 * String builtins (opa `topdown/strings.go`). Offsets and lengths count
 * Unicode code points, like Go's runes.
 */
import { BuiltinError, ErrorCodes } from '../errors.ts';
import { isNumber, num, RObject, RSet, typeName, type Value } from '../value.ts';
import { sprintf } from './sprintf.ts';
import { arr, builtinErr, collection, decl, numArg, obj, operandErr, smallInt, str, type BuiltinImpl, type Family } from './types.ts';

export const decls = [
  decl('concat', 2), decl('contains', 2), decl('startswith', 2), decl('endswith', 2),
  decl('indexof', 2), decl('indexof_n', 2), decl('lower', 1), decl('upper', 1),
  decl('replace', 3), decl('strings.replace_n', 2), decl('split', 2), decl('strings.split_n', 3),
  decl('sprintf', 2), decl('substring', 3), decl('trim', 2), decl('trim_left', 2), decl('trim_right', 2),
  decl('trim_prefix', 2), decl('trim_suffix', 2), decl('trim_space', 1), decl('format_int', 2),
  decl('strings.reverse', 1), decl('strings.count', 2), decl('strings.any_prefix_match', 2),
  decl('strings.any_suffix_match', 2), decl('to_number', 1), decl('strings.render_template', 2),
];

const runes = (s: string): string[] => [...s];

function cutset(fn: string, s: Value | undefined, c: Value | undefined): [string, Set<string>] {
  return [str(fn, s, 1), new Set(runes(str(fn, c, 2)))];
}

function trimLeft(s: string, cs: Set<string>): string {
  const r = runes(s);
  let i = 0;
  while (i < r.length && cs.has(r[i]!)) i++;
  return r.slice(i).join('');
}

function trimRight(s: string, cs: Set<string>): string {
  const r = runes(s);
  let j = r.length;
  while (j > 0 && cs.has(r[j - 1]!)) j--;
  return r.slice(0, j).join('');
}

function splitGo(s: string, sep: string): string[] {
  return sep === '' ? runes(s) : s.split(sep);
}

function strs(fn: string, v: Value | undefined, pos: number): string[] {
  if (typeof v === 'string') return [v];
  const items = collection(fn, v, pos, 'one of {string, set, array}');
  return items.map((x) => {
    if (typeof x !== 'string') throw new BuiltinError(`${fn}: operand ${pos} must be array of strings but got array containing ${typeName(x)}`, ErrorCodes.evalType);
    return x;
  });
}

/** Go's strings.TrimSpace set of white space. */
const SPACE = /^[\s\u0085\u00a0]+|[\s\u0085\u00a0]+$/gu;

export const impls: Record<string, BuiltinImpl> = {
  concat: ([d, c]) => {
    const delim = str('concat', d, 1);
    if (Array.isArray(c)) return c.map((x) => str('concat', x, 2)).join(delim);
    if (c instanceof RSet) return c.sorted().map((x) => str('concat', x, 2)).join(delim);
    throw operandErr('concat', 2, 'one of {array, set}', c ?? null);
  },
  contains: ([a, b]) => str('contains', a, 1).includes(str('contains', b, 2)),
  startswith: ([a, b]) => str('startswith', a, 1).startsWith(str('startswith', b, 2)),
  endswith: ([a, b]) => str('endswith', a, 1).endsWith(str('endswith', b, 2)),
  indexof: ([a, b]) => {
    const s = str('indexof', a, 1);
    const sub = str('indexof', b, 2);
    const i = s.indexOf(sub);
    return i < 0 ? -1 : runes(s.slice(0, i)).length;
  },
  indexof_n: ([a, b]) => {
    const s = str('indexof_n', a, 1);
    const sub = str('indexof_n', b, 2);
    const out: Value[] = [];
    if (sub === '') return out;
    let i = s.indexOf(sub);
    while (i >= 0) {
      out.push(runes(s.slice(0, i)).length);
      i = s.indexOf(sub, i + 1);
    }
    return out;
  },
  lower: ([a]) => str('lower', a, 1).toLowerCase(),
  upper: ([a]) => str('upper', a, 1).toUpperCase(),
  replace: ([a, b, c]) => {
    const s = str('replace', a, 1);
    const old = str('replace', b, 2);
    const nw = str('replace', c, 3);
    if (old === '') return runes(s).map((r) => nw + r).join('') + nw;
    return s.split(old).join(nw);
  },
  'strings.replace_n': ([p, a]) => {
    const pats = obj('strings.replace_n', p, 1);
    let s = str('strings.replace_n', a, 2);
    const pairs: [string, string][] = [];
    for (const [k, v] of pats.sortedEntries()) {
      if (typeof k !== 'string') throw new BuiltinError('strings.replace_n: operand 1 non-string key found in pattern object', ErrorCodes.evalType);
      if (typeof v !== 'string') throw new BuiltinError('strings.replace_n: operand 1 non-string value found in pattern object', ErrorCodes.evalType);
      pairs.push([k, v]);
    }
    // Go's strings.NewReplacer: at each position, the first matching old string in argument order wins
    let out = '';
    let i = 0;
    outer: while (i < s.length) {
      for (const [o, n] of pairs) {
        if (o !== '' && s.startsWith(o, i)) {
          out += n;
          i += o.length;
          continue outer;
        }
      }
      out += s[i];
      i++;
    }
    s = out;
    return s;
  },
  split: ([a, b]) => splitGo(str('split', a, 1), str('split', b, 2)),
  'strings.split_n': ([a, b, c]) => {
    const parts = splitGo(str('strings.split_n', a, 1), str('strings.split_n', b, 2));
    const n = smallInt('strings.split_n', c, 3);
    return n >= 0 ? parts.slice(0, n) : parts.slice(Math.max(0, parts.length + n));
  },
  sprintf: ([f, a]) => sprintf(str('sprintf', f, 1), arr('sprintf', a, 2)),
  substring: ([a, b, c]) => {
    const s = str('substring', a, 1);
    const start = smallInt('substring', b, 2);
    const len = smallInt('substring', c, 3);
    if (start < 0) throw builtinErr('substring', 'negative offset');
    const r = runes(s);
    if (start >= r.length) return '';
    return (len < 0 ? r.slice(start) : r.slice(start, start + len)).join('');
  },
  trim: ([a, b]) => {
    const [s, cs] = cutset('trim', a, b);
    return trimRight(trimLeft(s, cs), cs);
  },
  trim_left: ([a, b]) => trimLeft(...cutset('trim_left', a, b)),
  trim_right: ([a, b]) => trimRight(...cutset('trim_right', a, b)),
  trim_prefix: ([a, b]) => {
    const s = str('trim_prefix', a, 1);
    const p = str('trim_prefix', b, 2);
    return s.startsWith(p) ? s.slice(p.length) : s;
  },
  trim_suffix: ([a, b]) => {
    const s = str('trim_suffix', a, 1);
    const p = str('trim_suffix', b, 2);
    return p !== '' && s.endsWith(p) ? s.slice(0, s.length - p.length) : s;
  },
  trim_space: ([a]) => str('trim_space', a, 1).replace(SPACE, ''),
  format_int: ([a, b]) => {
    const n = numArg('format_int', a, 1);
    const base = numArg('format_int', b, 2);
    if (![2, 8, 10, 16].includes(Number(base))) throw operandErr('format_int', 2, 'one of {2, 8, 10, 16}', b!);
    const i = typeof n === 'bigint' ? n : BigInt(Math.trunc(n));
    return i.toString(Number(base));
  },
  'strings.reverse': ([a]) => runes(str('strings.reverse', a, 1)).reverse().join(''),
  'strings.count': ([a, b]) => {
    const s = str('strings.count', a, 1);
    const sub = str('strings.count', b, 2);
    if (sub === '') return runes(s).length + 1;
    return s.split(sub).length - 1;
  },
  'strings.any_prefix_match': ([a, b]) => {
    const ss = strs('strings.any_prefix_match', a, 1);
    const ps = strs('strings.any_prefix_match', b, 2);
    return ss.some((s) => ps.some((p) => s.startsWith(p)));
  },
  'strings.any_suffix_match': ([a, b]) => {
    const ss = strs('strings.any_suffix_match', a, 1);
    const ps = strs('strings.any_suffix_match', b, 2);
    return ss.some((s) => ps.some((p) => s.endsWith(p)));
  },
  // Go text/template, the subset policies use: {{.name}} and {{.a.b}} substitutions
  'strings.render_template': ([t, v]) => {
    const tpl = str('strings.render_template', t, 1);
    const vars = obj('strings.render_template', v, 2);
    return tpl.replace(/\{\{-?\s*\.([A-Za-z0-9_.]+)\s*-?\}\}/g, (_, path: string) => {
      let cur: Value | undefined = vars;
      for (const seg of path.split('.')) cur = cur instanceof RObject ? cur.get(seg) : undefined;
      if (cur === undefined) return '<no value>';
      return typeof cur === 'string' ? cur : sprintf('%v', [cur]);
    });
  },
  to_number: ([a]) => {
    if (a === null) return 0;
    if (typeof a === 'boolean') return a ? 1 : 0;
    if (isNumber(a!)) return a!;
    if (typeof a === 'string') {
      if (/^[+-]?(nan|inf|infinity)$/i.test(a)) throw operandErr('to_number', 1, 'valid number string', a);
      if (!/^-?(0|[1-9][0-9]*|[0-9]+)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/.test(a.trim()) || a.trim() !== a) {
        throw new BuiltinError(`to_number: strconv.ParseFloat: parsing ${JSON.stringify(a)}: invalid syntax`);
      }
      if (/^-?[0-9]+$/.test(a)) return num(BigInt(a));
      return num(parseFloat(a));
    }
    throw operandErr('to_number', 1, 'one of {boolean, null, number, string}', a ?? null);
  },
};


export const family: Family = { decls, impls };
