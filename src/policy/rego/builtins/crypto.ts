/**
 * Hashes, HMAC and key parsing (opa `topdown/crypto.go`), on Node's crypto.
 */
import { createHash, createHmac, createPrivateKey, createPublicKey, timingSafeEqual, X509Certificate, type KeyObject } from 'node:crypto';
import { parseJSON } from '../json.ts';
import { fromJS, RObject, type Value } from '../value.ts';
import { builtinErr, decl, str, type BuiltinImpl, type Family } from './types.ts';
import { x509Impls } from './x509.ts';

export const decls = [
  decl('crypto.md5', 1), decl('crypto.sha1', 1), decl('crypto.sha256', 1),
  decl('crypto.hmac.md5', 2), decl('crypto.hmac.sha1', 2), decl('crypto.hmac.sha256', 2), decl('crypto.hmac.sha512', 2),
  decl('crypto.hmac.equal', 2),
  decl('crypto.x509.parse_certificates', 1), decl('crypto.x509.parse_and_verify_certificates', 1),
  decl('crypto.x509.parse_certificate_request', 1), decl('crypto.x509.parse_keypair', 2),
  decl('crypto.x509.parse_rsa_private_key', 1), decl('crypto.parse_private_keys', 1),
];

const hash = (alg: string) => (args: Value[]): Value => createHash(alg).update(str(`crypto.${alg}`, args[0], 1), 'utf8').digest('hex');
const hmac = (alg: string) => (args: Value[]): Value => {
  const fn = `crypto.hmac.${alg}`;
  return createHmac(alg, Buffer.from(str(fn, args[1], 2), 'utf8')).update(str(fn, args[0], 1), 'utf8').digest('hex');
};

/** Public keys from a PEM certificate / public key, a JWK or a JWK set (JSON text). */
export function publicKeys(fn: string, text: string): KeyObject[] {
  const t = text.trim();
  if (t.startsWith('-----BEGIN CERTIFICATE-----')) {
    const blocks = t.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    const rest = t.replace(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g, '').trim();
    if (rest !== '') throw builtinErr(fn, 'extra data after a PEM certificate block');
    return blocks.map((b) => {
      try {
        return new X509Certificate(b).publicKey;
      } catch {
        throw builtinErr(fn, 'failed to parse a PEM certificate');
      }
    });
  }
  if (t.startsWith('-----BEGIN')) {
    try {
      return [createPublicKey(t)];
    } catch {
      throw builtinErr(fn, 'failed to extract a Key from the PEM certificate');
    }
  }
  let jwk: Value;
  try {
    jwk = parseJSON(t);
  } catch {
    throw builtinErr(fn, 'failed to parse a JWK key (set)');
  }
  if (!(jwk instanceof RObject)) throw builtinErr(fn, 'failed to parse a JWK key (set)');
  const keys = jwk.get('keys');
  const list = Array.isArray(keys) ? keys : [jwk];
  const out: KeyObject[] = [];
  for (const k of list) {
    try {
      out.push(createPublicKey({ key: toPlain(k) as never, format: 'jwk' }));
    } catch {
      throw builtinErr(fn, 'failed to parse a JWK key (set)');
    }
  }
  return out;
}

function toPlain(v: Value): unknown {
  if (v instanceof RObject) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v.entries()) o[String(k)] = toPlain(x);
    return o;
  }
  if (Array.isArray(v)) return v.map(toPlain);
  return typeof v === 'bigint' ? Number(v) : v;
}

export const impls: Record<string, BuiltinImpl> = {
  'crypto.md5': hash('md5'),
  'crypto.sha1': hash('sha1'),
  'crypto.sha256': hash('sha256'),
  'crypto.hmac.md5': hmac('md5'),
  'crypto.hmac.sha1': hmac('sha1'),
  'crypto.hmac.sha256': hmac('sha256'),
  'crypto.hmac.sha512': hmac('sha512'),
  'crypto.hmac.equal': ([a, b]) => {
    const x = Buffer.from(str('crypto.hmac.equal', a, 1), 'utf8');
    const y = Buffer.from(str('crypto.hmac.equal', b, 2), 'utf8');
    return x.length === y.length && timingSafeEqual(x, y);
  },
  ...x509Impls,
  'crypto.parse_private_keys': ([a]) => {
    const fn = 'crypto.parse_private_keys';
    let text = str(fn, a, 1);
    if (text === '') return [];
    if (!text.includes('-----BEGIN')) text = Buffer.from(text, 'base64').toString('latin1');
    const blocks = text.match(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g) ?? [];
    return blocks.map((b) => {
      try {
        return fromJS(createPrivateKey(b).export({ format: 'jwk' }));
      } catch (e) {
        throw builtinErr(fn, (e as Error).message);
      }
    });
  },
};

export const family: Family = { decls, impls };
