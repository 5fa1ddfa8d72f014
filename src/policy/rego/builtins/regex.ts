/**
 * Regular expressions and globs (opa `topdown/regex.go`, `glob.go`). Go's RE2
 * syntax is translated to JavaScript's where they differ; compiled patterns
 * are cached.
 */
import { BuiltinError } from '../errors.ts';
import { RSet, type Value } from '../value.ts';
import { arr, builtinErr, decl, smallInt, str, type BuiltinImpl, type Family } from './types.ts';

export const decls = [
  decl('regex.match', 2), decl('regex.is_valid', 1), decl('regex.split', 2), decl('regex.find_n', 3),
  decl('regex.find_all_string_submatch_n', 3), decl('regex.replace', 3), decl('regex.template_match', 4),
  decl('regex.globs_match', 2), decl('glob.match', 3), decl('glob.quote_meta', 1), decl('re_match', 2),
];

const cache = new Map<string, RegExp>();
const MAX_CACHE = 1000;

/** Translates RE2 syntax to a JS RegExp (global flag for iteration). */
export function compileRegex(fn: string, pattern: string): RegExp {
  const hit = cache.get(pattern);
  if (hit) {
    hit.lastIndex = 0;
    return hit;
  }
  if (pattern.length > 10000) throw builtinErr(fn, 'pattern too long');
  // JS regexes backtrack; refuse the shapes that blow up (a quantified group holding a quantifier)
  if (/\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)[+*{]/.test(pattern)) throw builtinErr(fn, 'pattern may backtrack catastrophically (nested quantifiers)');
  let src = pattern;
  let flags = 'g';
  const m = /^\(\?([imsU]+)\)/.exec(src);
  if (m) {
    src = src.slice(m[0].length);
    if (m[1]!.includes('i')) flags += 'i';
    if (m[1]!.includes('s')) flags += 's';
    if (m[1]!.includes('m')) flags += 'm';
  }
  src = src.replace(/\(\?P</g, '(?<').replace(/\\z/g, '$').replace(/\\A/g, '^');
  let re: RegExp;
  try {
    re = new RegExp(src, flags + 'u');
  } catch {
    try {
      re = new RegExp(src, flags);
    } catch (e) {
      throw builtinErr(fn, `error parsing regexp: ${(e as Error).message}`);
    }
  }
  if (cache.size >= MAX_CACHE) cache.clear();
  cache.set(pattern, re);
  return re;
}

function matchAll(re: RegExp, s: string, n: number): RegExpExecArray[] {
  const out: RegExpExecArray[] = [];
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((n < 0 || out.length < n) && (m = re.exec(s)) !== null) {
    out.push(m);
    if (m[0] === '') re.lastIndex++;
  }
  return out;
}

/** Converts a glob (gobwas/glob syntax) to a RegExp source. */
export function globToRegex(pattern: string, delims: string[]): string {
  const notDelim = delims.length ? `[^${delims.map(escapeClass).join('')}]` : '[\\s\\S]';
  let out = '';
  let i = 0;
  let inAlt = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) {
      out += escapeRe(pattern[i + 1]!);
      i += 2;
      continue;
    }
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        out += '[\\s\\S]*';
        i += 2;
      } else {
        out += notDelim + '*';
        i++;
      }
      continue;
    }
    if (c === '?') {
      out += notDelim;
      i++;
      continue;
    }
    if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw new BuiltinError('glob.match: unexpected end of input');
      let body = pattern.slice(i + 1, end);
      let neg = false;
      if (body.startsWith('!')) {
        neg = true;
        body = body.slice(1);
      }
      out += '[' + (neg ? '^' : '') + body.replace(/\\/g, '\\\\').replace(/\]/g, '\\]') + ']';
      i = end + 1;
      continue;
    }
    if (c === '{') {
      out += '(?:';
      inAlt++;
      i++;
      continue;
    }
    if (c === '}' && inAlt > 0) {
      out += ')';
      inAlt--;
      i++;
      continue;
    }
    if (c === ',' && inAlt > 0) {
      out += '|';
      i++;
      continue;
    }
    out += escapeRe(c);
    i++;
  }
  if (inAlt > 0) throw new BuiltinError('glob.match: unexpected end of input');
  return out;
}

/** A glob-intersection token: a character set, possibly repeated (`*`). */
interface GToken {
  test: (c: number) => boolean;
  bounds: number[];
  star: boolean;
}

function globTokens(p: string): GToken[] {
  const out: GToken[] = [];
  const bad = (pos: number, what: string): never => {
    throw builtinErr('regex.globs_match', `input:${p}, pos:${pos}, ${what}: the input provided is invalid`);
  };
  const chars = [...p];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    let tok: GToken;
    if (c === '.') tok = { test: () => true, bounds: [], star: false };
    else if (c === '[') {
      let j = i + 1;
      const neg = chars[j] === '^';
      if (neg) j++;
      const ranges: [number, number][] = [];
      for (; j < chars.length && chars[j] !== ']'; j++) {
        let lo = chars[j]!;
        if (lo === '\\' && j + 1 < chars.length) lo = chars[++j]!;
        if (chars[j + 1] === '-' && j + 2 < chars.length && chars[j + 2] !== ']') {
          ranges.push([lo.codePointAt(0)!, chars[j + 2]!.codePointAt(0)!]);
          j += 2;
        } else ranges.push([lo.codePointAt(0)!, lo.codePointAt(0)!]);
      }
      if (j >= chars.length) bad(i + 1, "set-open '[' with no closing ']'");
      const inRanges = (x: number): boolean => ranges.some(([l, h]) => x >= l && x <= h);
      tok = { test: neg ? (x) => !inRanges(x) : inRanges, bounds: ranges.flat(), star: false };
      i = j;
    } else if (c === ']') return bad(i + 1, "set-close ']' with no preceding '['");
    else if (c === '*' || c === '+' || c === '?') return bad(i + 1, `'${c}' with nothing to repeat`);
    else {
      const lit = c === '\\' && i + 1 < chars.length ? chars[++i]! : c;
      const cp = lit.codePointAt(0)!;
      tok = { test: (x) => x === cp, bounds: [cp], star: false };
    }
    const q = chars[i + 1];
    if (q === '*') {
      out.push({ ...tok, star: true });
      i++;
    } else if (q === '+') {
      out.push(tok, { ...tok, star: true });
      i++;
    } else out.push(tok);
  }
  return out;
}

function overlap(a: GToken, b: GToken): boolean {
  const candidates = [...a.bounds, ...b.bounds, 0x61, 0x30, 0x20, 0x10ffff];
  return candidates.some((c) => a.test(c) && b.test(c));
}

/** True when some string matches both patterns (regex.globs_match, glob-intersection semantics). */
export function globsIntersect(p: string, q: string): boolean {
  const a = globTokens(p);
  const b = globTokens(q);
  const seen = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = i * (b.length + 1) + j;
    const hit = seen.get(key);
    if (hit !== undefined) return hit;
    seen.set(key, false);
    let r = false;
    if (i === a.length && j === b.length) r = true;
    else if (i < a.length && a[i]!.star && go(i + 1, j)) r = true;
    else if (j < b.length && b[j]!.star && go(i, j + 1)) r = true;
    else if (i < a.length && j < b.length && overlap(a[i]!, b[j]!)) r = go(a[i]!.star ? i : i + 1, b[j]!.star ? j : j + 1);
    seen.set(key, r);
    return r;
  };
  return go(0, 0);
}

const escapeRe = (c: string): string => c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
const escapeClass = (c: string): string => c.replace(/[\]\\^-]/g, '\\$&');

const globCache = new Map<string, RegExp>();

export const impls: Record<string, BuiltinImpl> = {
  'regex.match': ([p, s]) => {
    const re = compileRegex('regex.match', str('regex.match', p, 1));
    re.lastIndex = 0;
    return re.test(str('regex.match', s, 2));
  },
  re_match: ([p, s]) => {
    const re = compileRegex('re_match', str('re_match', p, 1));
    re.lastIndex = 0;
    return re.test(str('re_match', s, 2));
  },
  'regex.is_valid': ([p]) => {
    if (typeof p !== 'string') return false;
    try {
      compileRegex('regex.is_valid', p);
      return true;
    } catch {
      return false;
    }
  },
  'regex.split': ([p, s]) => {
    const re = compileRegex('regex.split', str('regex.split', p, 1));
    const text = str('regex.split', s, 2);
    const out: Value[] = [];
    let last = 0;
    for (const m of matchAll(re, text, -1)) {
      if (m[0] === '' && (m.index === 0 || m.index >= text.length)) continue;
      out.push(text.slice(last, m.index));
      last = m.index + m[0].length;
    }
    out.push(text.slice(last));
    return out;
  },
  'regex.find_n': ([p, s, n]) => {
    const re = compileRegex('regex.find_n', str('regex.find_n', p, 1));
    return matchAll(re, str('regex.find_n', s, 2), smallInt('regex.find_n', n, 3)).map((m) => m[0]);
  },
  'regex.find_all_string_submatch_n': ([p, s, n]) => {
    const re = compileRegex('regex.find_all_string_submatch_n', str('regex.find_all_string_submatch_n', p, 1));
    const ms = matchAll(re, str('regex.find_all_string_submatch_n', s, 2), smallInt('regex.find_all_string_submatch_n', n, 3));
    return ms.map((m) => [...m].map((x) => x ?? ''));
  },
  'regex.replace': ([s, p, v]) => {
    const re = compileRegex('regex.replace', str('regex.replace', p, 2));
    const repl = str('regex.replace', v, 3).replace(/\$\{(\w+)\}/g, '$$<$1>');
    re.lastIndex = 0;
    return str('regex.replace', s, 1).replace(re, repl.replace(/\$<(\d+)>/g, '$$$1'));
  },
  'regex.template_match': ([t, s, a, b]) => {
    const tpl = str('regex.template_match', t, 1);
    const text = str('regex.template_match', s, 2);
    const open = str('regex.template_match', a, 3);
    const close = str('regex.template_match', b, 4);
    let src = '^';
    let i = 0;
    while (i < tpl.length) {
      const o = tpl.indexOf(open, i);
      if (o < 0) {
        src += tpl.slice(i).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
        break;
      }
      src += tpl.slice(i, o).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      const c = tpl.indexOf(close, o + open.length);
      if (c < 0) throw builtinErr('regex.template_match', 'unbalanced delimiters');
      src += '(?:' + tpl.slice(o + open.length, c) + ')';
      i = c + close.length;
    }
    src += '$';
    try {
      return new RegExp(src, 'u').test(text);
    } catch (e) {
      throw builtinErr('regex.template_match', (e as Error).message);
    }
  },
  'regex.globs_match': ([a, b]) => globsIntersect(str('regex.globs_match', a, 1), str('regex.globs_match', b, 2)),
  'glob.match': ([p, d, m]) => {
    const pattern = str('glob.match', p, 1);
    let delims: string[];
    if (d === null) delims = [];
    else {
      delims = arr('glob.match', d, 2).map((x) => str('glob.match', x, 2));
      if (delims.length === 0) delims = ['.'];
    }
    const key = pattern + '\0' + delims.join('\0');
    let re = globCache.get(key);
    if (!re) {
      re = new RegExp('^' + globToRegex(pattern, delims) + '$', 's');
      if (globCache.size > 1000) globCache.clear();
      globCache.set(key, re);
    }
    return re.test(str('glob.match', m, 3));
  },
  'glob.quote_meta': ([p]) => str('glob.quote_meta', p, 1).replace(/[*?\\[\]{}]/g, '\\$&'),
};

void RSet;

export const family: Family = { decls, impls };
