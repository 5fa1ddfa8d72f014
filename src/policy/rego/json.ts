/**
 * A JSON reader that keeps integers exact (bigint beyond 2^53), used for
 * `json.unmarshal`, `data.json` and input files.
 */
import { num, RObject, type Value } from './value.ts';

export class JSONSyntaxError extends Error {}

export function parseJSON(text: string): Value {
  let i = 0;
  const n = text.length;
  const ws = (): void => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else break;
    }
  };
  const fail = (msg: string): never => {
    throw new JSONSyntaxError(`${msg} at offset ${i}`);
  };
  const value = (depth: number): Value => {
    if (depth > 1000) fail('nesting too deep');
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const o = new RObject();
      ws();
      if (text[i] === '}') {
        i++;
        return o;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected string key');
        const k = string();
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        o.set(k, value(depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return o;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const a: Value[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return a;
      }
      for (;;) {
        a.push(value(depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return a;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    if (text.startsWith('true', i)) return (i += 4), true;
    if (text.startsWith('false', i)) return (i += 5), false;
    if (text.startsWith('null', i)) return (i += 4), null;
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m) return fail('invalid character');
    i += m[0].length;
    if (m[2] === undefined && m[3] === undefined) return num(BigInt(m[0]));
    return num(parseFloat(m[0]));
  };
  const string = (): string => {
    const start = i;
    i++;
    let simple = true;
    while (i < n && text[i] !== '"') {
      if (text[i] === '\\') {
        simple = false;
        i++;
      }
      const c = text.charCodeAt(i);
      if (c < 32) fail('invalid control character in string');
      i++;
    }
    if (i >= n) fail('unterminated string');
    i++;
    const raw = text.slice(start, i);
    if (simple) return raw.slice(1, -1);
    try {
      return JSON.parse(raw) as string;
    } catch {
      return fail('invalid string escape');
    }
  };
  const v = value(0);
  ws();
  if (i < n) fail('unexpected data after top-level value');
  return v;
}
