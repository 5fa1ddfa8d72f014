/**
 * `uri.parse` / `uri.is_valid`: URL parsing with the rules of Go's net/url
 * (scheme, authority, escapes), which OPA's implementation uses.
 */
import { RObject, type Value } from '../value.ts';
import { builtinErr, decl, str, type BuiltinImpl, type Family } from './types.ts';

export const decls = [decl('uri.parse', 1), decl('uri.is_valid', 1)];

class URLError extends Error {}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

function unescape(s: string, host: boolean): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%') {
      const h = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) throw new URLError(`invalid URL escape ${JSON.stringify(s.slice(i, i + 3))}`);
      const b = parseInt(h, 16);
      if (host && b < 0x80 && h.toLowerCase() !== '25') throw new URLError(`invalid URL escape ${JSON.stringify(s.slice(i, i + 3))}`);
      bytes.push(b);
      i += 2;
    } else {
      for (const b of Buffer.from(s[i]!, 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Go's escape(path, encodePath). */
function escapePath(p: string): string {
  let out = '';
  for (const b of Buffer.from(p, 'utf8')) {
    const c = String.fromCharCode(b);
    if (b < 0x80 && (UNRESERVED.test(c) || '$&+,/:;=@'.includes(c))) out += c;
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function validUserinfo(s: string): boolean {
  return /^[A-Za-z0-9\-._~!$&'()*+,;=:%@]*$/.test(s);
}

function parseURL(raw: string): RObject {
  const out = new RObject();
  let rest = raw;
  const hash = rest.indexOf('#');
  let fragment = '';
  if (hash >= 0) {
    fragment = unescape(rest.slice(hash + 1), false);
    rest = rest.slice(0, hash);
  }
  if (/[\x00-\x1f\x7f]/.test(rest)) throw new URLError('net/url: invalid control character in URL');
  const sm = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(rest);
  let scheme = '';
  if (sm) {
    scheme = sm[1]!.toLowerCase();
    rest = rest.slice(sm[0].length);
  } else if (/^[^/?]*:/.test(rest) && rest !== '') {
    throw new URLError('missing protocol scheme');
  }
  let rawQuery = '';
  const q = rest.indexOf('?');
  if (q >= 0) {
    rawQuery = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  if (scheme) out.set('scheme', scheme);
  if (scheme && !rest.startsWith('/')) {
    // opaque URL (mailto:user@example.com)
    if (rawQuery) out.set('raw_query', rawQuery);
    if (fragment) out.set('fragment', fragment);
    return out;
  }
  if (rest.startsWith('//')) {
    const end = rest.indexOf('/', 2);
    const authority = end < 0 ? rest.slice(2) : rest.slice(2, end);
    rest = end < 0 ? '' : rest.slice(end);
    const at = authority.lastIndexOf('@');
    let host = authority;
    if (at >= 0) {
      const userinfo = authority.slice(0, at);
      if (!validUserinfo(userinfo)) throw new URLError('net/url: invalid userinfo');
      host = authority.slice(at + 1);
    }
    let hostname = host;
    let port = '';
    if (host.startsWith('[')) {
      const close = host.indexOf(']');
      if (close < 0) throw new URLError(`missing ']' in host`);
      hostname = host.slice(1, close);
      const after = host.slice(close + 1);
      if (after !== '') {
        if (!after.startsWith(':') || !/^:[0-9]*$/.test(after)) throw new URLError(`invalid port ${JSON.stringify(after)} after host`);
        port = after.slice(1);
      }
    } else {
      const colon = host.lastIndexOf(':');
      if (colon >= 0) {
        const p = host.slice(colon);
        if (!/^:[0-9]*$/.test(p)) throw new URLError(`invalid port ${JSON.stringify(p)} after host`);
        port = p.slice(1);
        hostname = host.slice(0, colon);
      }
    }
    hostname = unescape(hostname, true);
    if (hostname) out.set('hostname', hostname);
    if (port) out.set('port', port);
  }
  if (rest) {
    const path = unescape(rest, false);
    out.set('path', path);
    out.set('raw_path', escapePath(path) === rest ? path : rest);
  }
  if (rawQuery) out.set('raw_query', rawQuery);
  if (fragment) out.set('fragment', fragment);
  return out;
}

export const impls: Record<string, BuiltinImpl> = {
  'uri.parse': ([a]) => {
    const s = str('uri.parse', a, 1);
    if (s === '') return new RObject();
    try {
      return parseURL(s);
    } catch (e) {
      if (e instanceof URLError) throw builtinErr('uri.parse', `parse ${JSON.stringify(s)}: ${e.message}`);
      throw e;
    }
  },
  'uri.is_valid': ([a]): Value => {
    if (typeof a !== 'string' || a === '') return false;
    try {
      parseURL(a);
      return true;
    } catch {
      return false;
    }
  },
};

export const family: Family = { decls, impls };
