/**
 * Encodings (opa `topdown/encoding.go`): base64, base64url, hex, JSON, YAML,
 * URL query strings.
 */
import YAML from 'yaml';
import { BuiltinError, ErrorCodes } from '../errors.ts';
import { parseJSON } from '../json.ts';
import { fromJS, RObject, RSet, toJS, toJSON, type Value } from '../value.ts';
import { builtinErr, decl, obj, operandErr, str, type BuiltinImpl, type Family } from './types.ts';

export const decls = [
  decl('base64.encode', 1), decl('base64.decode', 1), decl('base64.is_valid', 1),
  decl('base64url.encode', 1), decl('base64url.encode_no_pad', 1), decl('base64url.decode', 1),
  decl('hex.encode', 1), decl('hex.decode', 1),
  decl('json.marshal', 1), decl('json.marshal_with_options', 2), decl('json.unmarshal', 1), decl('json.is_valid', 1),
  decl('yaml.marshal', 1), decl('yaml.unmarshal', 1), decl('yaml.is_valid', 1),
  decl('urlquery.encode', 1), decl('urlquery.decode', 1), decl('urlquery.encode_object', 1), decl('urlquery.decode_object', 1),
];

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;
const B64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/** Strict base64 (standard alphabet, padded), like Go's StdEncoding. */
export function decodeBase64(fn: string, s: string): Buffer {
  if (!B64.test(s) || s.length % 4 !== 0) {
    const bad = [...s].findIndex((c) => !/[A-Za-z0-9+/=]/.test(c));
    throw builtinErr(fn, `illegal base64 data at input byte ${bad >= 0 ? bad : Math.floor(s.length / 4) * 4}`);
  }
  return Buffer.from(s, 'base64');
}

export function decodeBase64URL(fn: string, s: string): Buffer {
  const stripped = s.replace(/=+$/, '');
  if (!B64URL.test(s) || stripped.length % 4 === 1) {
    const bad = [...s].findIndex((c) => !/[A-Za-z0-9_=-]/.test(c));
    throw builtinErr(fn, `illegal base64 data at input byte ${bad >= 0 ? bad : s.length}`);
  }
  return Buffer.from(stripped, 'base64url');
}

/** Buffer → string, as Go does: bytes kept as they are (invalid UTF-8 replaced). */
const utf8 = (b: Buffer): string => b.toString('utf8');

function queryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, '+');
}

function queryUnescape(fn: string, s: string): string {
  if (/%(?![0-9a-fA-F]{2})/.test(s)) {
    const m = /%(?![0-9a-fA-F]{2}).{0,2}/.exec(s)!;
    throw builtinErr(fn, `invalid URL escape ${JSON.stringify(m[0])}`);
  }
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return Buffer.from(s.replace(/\+/g, ' ').replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
  }
}

export function marshalIndent(v: Value, prefix: string, indent: string): string {
  const lines = stringifyIndent(toJS(v), indent, 0).split('\n');
  return lines.map((l) => prefix + l).join('\n');
}

function stringifyIndent(x: unknown, indent: string, depth: number): string {
  if (x === null || typeof x !== 'object') return toJSON(fromJS(x));
  const pad = indent.repeat(depth + 1);
  const end = indent.repeat(depth);
  if (Array.isArray(x)) {
    if (x.length === 0) return '[]';
    return '[\n' + x.map((e) => pad + stringifyIndent(e, indent, depth + 1)).join(',\n') + '\n' + end + ']';
  }
  const keys = Object.keys(x).sort();
  if (keys.length === 0) return '{}';
  return '{\n' + keys.map((k) => pad + JSON.stringify(k) + ': ' + stringifyIndent((x as Record<string, unknown>)[k], indent, depth + 1)).join(',\n') + '\n' + end + '}';
}

export function yamlToValue(fn: string, s: string): Value {
  const docs = YAML.parseAllDocuments(s, { intAsBigInt: true });
  const doc = Array.isArray(docs) ? docs[0] : docs;
  if (!doc) return null;
  if (doc.errors.length > 0) {
    // go-yaml's wording (what OPA reports), keeping the line number
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line ?? 1;
    const what = e.code === 'MISSING_CHAR' ? `did not find expected ${/must end with an? (\S+)/.exec(e.message)?.[1] ?? 'token'}` : e.message.split('\n')[0];
    throw builtinErr(fn, `yaml: line ${line}: ${what}`);
  }
  return fromJS(doc.toJS({ maxAliasCount: 100 }));
}

export const impls: Record<string, BuiltinImpl> = {
  'base64.encode': ([a]) => Buffer.from(str('base64.encode', a, 1), 'utf8').toString('base64'),
  'base64.decode': ([a]) => utf8(decodeBase64('base64.decode', str('base64.decode', a, 1))),
  'base64.is_valid': ([a]) => {
    const s = str('base64.is_valid', a, 1);
    return B64.test(s) && s.length % 4 === 0;
  },
  'base64url.encode': ([a]) => {
    const s = Buffer.from(str('base64url.encode', a, 1), 'utf8').toString('base64url');
    return s + '='.repeat((4 - (s.length % 4)) % 4);
  },
  'base64url.encode_no_pad': ([a]) => Buffer.from(str('base64url.encode_no_pad', a, 1), 'utf8').toString('base64url'),
  'base64url.decode': ([a]) => utf8(decodeBase64URL('base64url.decode', str('base64url.decode', a, 1))),
  'hex.encode': ([a]) => Buffer.from(str('hex.encode', a, 1), 'utf8').toString('hex'),
  'hex.decode': ([a]) => {
    const s = str('hex.decode', a, 1);
    const bad = [...s].findIndex((c) => !/[0-9a-fA-F]/.test(c));
    if (bad >= 0) throw builtinErr('hex.decode', `encoding/hex: invalid byte: U+${s.codePointAt(bad)!.toString(16).toUpperCase().padStart(4, '0')} ${JSON.stringify(s[bad]).replace(/"/g, "'")}`);
    if (s.length % 2 !== 0) throw builtinErr('hex.decode', 'encoding/hex: odd length hex string');
    return utf8(Buffer.from(s, 'hex'));
  },
  'json.marshal': ([a]) => toJSON(a!),
  'json.marshal_with_options': ([a, o]) => {
    const opts = obj('json.marshal_with_options', o, 2);
    let pretty = opts.size > 0;
    let prefix = '';
    let indent = '\t';
    for (const [k, v] of opts.entries()) {
      if (k === 'pretty') {
        if (typeof v !== 'boolean') throw builtinErr('json.marshal_with_options', 'pretty option must be a boolean');
        pretty = v;
      } else if (k === 'prefix') prefix = str('json.marshal_with_options', v, 2);
      else if (k === 'indent') indent = str('json.marshal_with_options', v, 2);
      else throw new BuiltinError(`json.marshal_with_options: object contained unknown key ${JSON.stringify(k)}`, ErrorCodes.evalType);
    }
    if (!pretty) return toJSON(a!);
    return marshalIndent(a!, prefix, indent);
  },
  'json.unmarshal': ([a]) => {
    try {
      return parseJSON(str('json.unmarshal', a, 1));
    } catch (e) {
      if (e instanceof BuiltinError) throw e;
      throw builtinErr('json.unmarshal', (e as Error).message);
    }
  },
  'json.is_valid': ([a]) => {
    if (typeof a !== 'string') return false;
    try {
      parseJSON(a);
      return true;
    } catch {
      return false;
    }
  },
  'yaml.marshal': ([a]) => YAML.stringify(toJS(a!), { sortMapEntries: true }),
  'yaml.unmarshal': ([a]) => yamlToValue('yaml.unmarshal', str('yaml.unmarshal', a, 1)),
  'yaml.is_valid': ([a]) => {
    if (typeof a !== 'string') return false;
    try {
      yamlToValue('yaml.is_valid', a);
      return true;
    } catch {
      return false;
    }
  },
  'urlquery.encode': ([a]) => queryEscape(str('urlquery.encode', a, 1)),
  'urlquery.decode': ([a]) => queryUnescape('urlquery.decode', str('urlquery.decode', a, 1)),
  'urlquery.encode_object': ([a]) => {
    const o = obj('urlquery.encode_object', a, 1);
    const parts: string[] = [];
    for (const [k, v] of o.sortedEntries()) {
      const key = queryEscape(str('urlquery.encode_object', k, 1));
      const vals = typeof v === 'string' ? [v] : Array.isArray(v) ? v : v instanceof RSet ? v.sorted() : undefined;
      if (!vals) throw operandErr('urlquery.encode_object', 1, 'object[string: any<string, array[string], set[string]>]', a!);
      for (const x of vals) parts.push(key + '=' + queryEscape(str('urlquery.encode_object', x, 1)));
    }
    return parts.join('&');
  },
  'urlquery.decode_object': ([a]) => {
    const s = str('urlquery.decode_object', a, 1);
    const out = new RObject();
    if (s === '') return out;
    for (const part of s.split(/[&]/)) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const k = queryUnescape('urlquery.decode_object', eq < 0 ? part : part.slice(0, eq));
      const v = eq < 0 ? '' : queryUnescape('urlquery.decode_object', part.slice(eq + 1));
      const cur = out.get(k);
      out.set(k, Array.isArray(cur) ? [...cur, v] : [v]);
    }
    return out;
  },
};

export const family: Family = { decls, impls };
