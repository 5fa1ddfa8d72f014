/**
 * JSON Web Tokens (opa `topdown/tokens.go`; RFC 7515, 7519): decode, verify
 * with HMAC / RSA / RSA-PSS / ECDSA / EdDSA, sign.
 */
import { constants, createHmac, createPrivateKey, sign as cryptoSign, timingSafeEqual, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { parseJSON } from '../json.ts';
import { isNumber, RObject, toJSON, type Value } from '../value.ts';
import { publicKeys } from './crypto.ts';
import { decodeBase64URL } from './encoding.ts';
import { builtinErr, decl, obj, str, type BuiltinContext, type BuiltinImpl, type Family } from './types.ts';

const ALGS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

export const decls = [
  decl('io.jwt.decode', 1), decl('io.jwt.decode_verify', 2), decl('io.jwt.encode_sign', 3), decl('io.jwt.encode_sign_raw', 3),
  ...ALGS.map((a) => decl(`io.jwt.verify_${a.toLowerCase()}`, 2)),
];

interface Decoded {
  header: RObject;
  payload: RObject;
  signature: Buffer;
  signingInput: string;
  headerRaw: string;
}

const HASH: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };

function decodeToken(fn: string, token: string): Decoded {
  const parts = token.split('.');
  if (parts.length === 1) throw builtinErr(fn, 'encoded JWT had no period separators');
  if (parts.length !== 3) throw builtinErr(fn, `encoded JWT must have 3 sections, found ${parts.length}`);
  const [h, p, s] = parts as [string, string, string];
  const headerText = withPrefix(fn, 'JWT header had invalid encoding: ', () => decodeBase64URL(fn, h)).toString('utf8');
  let header: Value;
  try {
    header = parseJSON(headerText);
  } catch {
    throw builtinErr(fn, 'JWT header had invalid encoding: ' + 'invalid JSON');
  }
  if (!(header instanceof RObject)) throw builtinErr(fn, 'JWT header is not an object');
  if (header.get('enc') !== undefined) throw builtinErr(fn, 'JWT is a JWE object, which is not supported');
  const payloadText = withPrefix(fn, 'JWT payload had invalid encoding: ', () => decodeBase64URL(fn, p)).toString('utf8');
  const signature = withPrefix(fn, 'JWT signature had invalid encoding: ', () => decodeBase64URL(fn, s));
  if (header.get('cty') === 'JWT') {
    let innerText = payloadText;
    try {
      const j = parseJSON(payloadText);
      if (typeof j === 'string') innerText = j;
    } catch {
      // not JSON: the payload is the token itself
    }
    const inner = decodeToken(fn, innerText);
    return { ...inner };
  }
  let payload: Value;
  try {
    payload = parseJSON(payloadText);
  } catch {
    throw builtinErr(fn, 'JWT payload had invalid encoding: invalid JSON');
  }
  if (!(payload instanceof RObject)) throw builtinErr(fn, 'JWT payload is not an object');
  return { header, payload, signature, signingInput: `${h}.${p}`, headerRaw: headerText };
}

function withPrefix<T>(fn: string, prefix: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw builtinErr(fn, prefix + (e as Error).message.replace(`${fn}: `, ''));
  }
}

/** Outer token parts for signature checks (a nested token is signed as a whole). */
function splitToken(fn: string, token: string): { signingInput: string; signature: Buffer; header: RObject } {
  const parts = token.split('.');
  if (parts.length === 1) throw builtinErr(fn, 'encoded JWT had no period separators');
  if (parts.length !== 3) throw builtinErr(fn, `encoded JWT must have 3 sections, found ${parts.length}`);
  let header: Value;
  try {
    header = parseJSON(decodeBase64URL(fn, parts[0]!).toString('utf8'));
  } catch {
    throw builtinErr(fn, 'JWT header had invalid encoding');
  }
  if (!(header instanceof RObject)) throw builtinErr(fn, 'JWT header is not an object');
  return { signingInput: `${parts[0]}.${parts[1]}`, signature: decodeBase64URL(fn, parts[2]!), header };
}

function verifySig(alg: string, keys: KeyObject[] | Buffer, input: string, sig: Buffer): boolean {
  const data = Buffer.from(input, 'utf8');
  const family = alg.slice(0, 2);
  if (family === 'HS') {
    const mac = createHmac(HASH[alg.slice(2)]!, keys as Buffer).update(data).digest();
    return mac.length === sig.length && timingSafeEqual(mac, sig);
  }
  for (const key of keys as KeyObject[]) {
    try {
      if (alg === 'EdDSA') {
        if (cryptoVerify(null, data, key, sig)) return true;
      } else if (family === 'RS') {
        if (cryptoVerify(HASH[alg.slice(2)]!, data, key, sig)) return true;
      } else if (family === 'PS') {
        if (cryptoVerify(HASH[alg.slice(2)]!, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig)) return true;
      } else if (family === 'ES') {
        if (cryptoVerify(HASH[alg.slice(2)]!, data, { key, dsaEncoding: 'ieee-p1363' }, sig)) return true;
      }
    } catch {
      // wrong key type for this algorithm: try the next key
    }
  }
  return false;
}

function verifyWith(alg: string): BuiltinImpl {
  const fn = `io.jwt.verify_${alg.toLowerCase()}`;
  return ([t, k]) => {
    const token = str(fn, t, 1);
    const key = str(fn, k, 2);
    const { signingInput, signature } = splitToken(fn, token);
    const keys = alg.startsWith('HS') ? Buffer.from(key, 'utf8') : publicKeys(fn, key);
    return verifySig(alg, keys, signingInput, signature);
  };
}

const INVALID = (): Value => [false, new RObject(), new RObject()];

function decodeVerify(args: Value[], ctx: BuiltinContext): Value {
  const fn = 'io.jwt.decode_verify';
  const token = str(fn, args[0], 1);
  const c = obj(fn, args[1], 2);
  let keys: KeyObject[] | undefined;
  let secret: Buffer | undefined;
  let wantAlg: string | undefined;
  let wantIss: string | undefined;
  let wantAud: string | undefined;
  let now = ctx.now();
  for (const [k, v] of c.entries()) {
    switch (k) {
      case 'cert':
        keys = publicKeys(fn, str(fn, v, 2));
        break;
      case 'secret':
        secret = Buffer.from(str(fn, v, 2), 'utf8');
        break;
      case 'alg':
        wantAlg = str(fn, v, 2);
        break;
      case 'iss':
        wantIss = str(fn, v, 2);
        break;
      case 'aud':
        wantAud = str(fn, v, 2);
        break;
      case 'time':
        if (!isNumber(v)) throw builtinErr(fn, 'time constraint must be a number');
        now = typeof v === 'bigint' ? v : BigInt(Math.trunc(v));
        break;
      default:
        throw builtinErr(fn, `unknown token validation constraint: ${String(k)}`);
    }
  }
  if (!keys && !secret) throw builtinErr(fn, 'no cert or secret constraint provided');
  const outer = splitToken(fn, token);
  const alg = outer.header.get('alg');
  if (typeof alg !== 'string' || !ALGS.includes(alg)) return INVALID();
  if (wantAlg !== undefined && wantAlg !== alg) return INVALID();
  const crit = outer.header.get('crit');
  if (crit !== undefined) return INVALID();
  const key = alg.startsWith('HS') ? secret : keys;
  if (!key || !verifySig(alg, key, outer.signingInput, outer.signature)) return INVALID();
  const d = decodeToken(fn, token);
  const p = d.payload;
  const exp = p.get('exp');
  if (exp !== undefined) {
    if (!isNumber(exp)) throw builtinErr(fn, 'exp value must be a number');
    if (Number(now) >= Number(exp) * 1e9) return INVALID();
  }
  const nbf = p.get('nbf');
  if (nbf !== undefined) {
    if (!isNumber(nbf)) throw builtinErr(fn, 'nbf value must be a number');
    if (Number(now) < Number(nbf) * 1e9) return INVALID();
  }
  if (wantIss !== undefined && p.get('iss') !== wantIss) return INVALID();
  const aud = p.get('aud');
  if (aud !== undefined) {
    if (wantAud === undefined) return INVALID();
    if (typeof aud === 'string' ? aud !== wantAud : !(Array.isArray(aud) && aud.includes(wantAud))) return INVALID();
  } else if (wantAud !== undefined) return INVALID();
  return [true, outer.header.get('cty') === 'JWT' ? d.header : outer.header, p];
}

function signingKey(fn: string, jwk: Value, alg: string): KeyObject | Buffer {
  const o = jwk instanceof RObject ? jwk : undefined;
  if (!o) throw builtinErr(fn, 'invalid JWK');
  if (alg.startsWith('HS')) {
    const k = o.get('k');
    if (typeof k !== 'string') throw builtinErr(fn, 'invalid JWK: missing k');
    return Buffer.from(k, 'base64url');
  }
  const plain = JSON.parse(toJSON(o)) as Record<string, unknown>;
  try {
    return createPrivateKey({ key: plain as never, format: 'jwk' });
  } catch (e) {
    throw builtinErr(fn, `invalid JWK: ${(e as Error).message}`);
  }
}

function signRaw(fn: string, headerText: string, payloadText: string, key: Value): string {
  let header: Value;
  try {
    header = parseJSON(headerText);
  } catch {
    // like the Go library: text that is not a JSON object at all has no "alg" header
    if (headerText.trim() !== '' && !headerText.trim().startsWith('{')) throw builtinErr(fn, `missing or invalid 'alg' header: jwsbb: header "alg" not found`);
    throw builtinErr(fn, `missing or invalid 'alg' header: cannot parse JSON${headerText === '' ? ': cannot parse empty string' : ''}`);
  }
  const alg = header instanceof RObject ? header.get('alg') : undefined;
  if (alg === undefined) throw builtinErr(fn, `missing or invalid 'alg' header: jwsbb: header "alg" not found`);
  if (typeof alg !== 'string' || !ALGS.includes(alg)) throw builtinErr(fn, `unknown JWS algorithm: ${typeof alg === 'string' ? alg : toJSON(alg)}`);
  if (header instanceof RObject && header.get('typ') === 'JWT') {
    try {
      parseJSON(payloadText);
    } catch {
      throw builtinErr(fn, 'type is JWT but payload is not JSON');
    }
  }
  const input = Buffer.from(headerText, 'utf8').toString('base64url') + '.' + Buffer.from(payloadText, 'utf8').toString('base64url');
  const k = signingKey(fn, key, alg);
  const data = Buffer.from(input, 'utf8');
  let sig: Buffer;
  const family = alg.slice(0, 2);
  if (family === 'HS') sig = createHmac(HASH[alg.slice(2)]!, k as Buffer).update(data).digest();
  else if (alg === 'EdDSA') sig = cryptoSign(null, data, k as KeyObject);
  else if (family === 'RS') sig = cryptoSign(HASH[alg.slice(2)]!, data, k as KeyObject);
  else if (family === 'PS') sig = cryptoSign(HASH[alg.slice(2)]!, data, { key: k as KeyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  else sig = cryptoSign(HASH[alg.slice(2)]!, data, { key: k as KeyObject, dsaEncoding: 'ieee-p1363' });
  return input + '.' + sig.toString('base64url');
}

export const impls: Record<string, BuiltinImpl> = {
  'io.jwt.decode': ([t]) => {
    const d = decodeToken('io.jwt.decode', str('io.jwt.decode', t, 1));
    return [d.header, d.payload, d.signature.toString('hex')];
  },
  'io.jwt.decode_verify': decodeVerify,
  'io.jwt.encode_sign': ([h, p, k]) => {
    const fn = 'io.jwt.encode_sign';
    return signRaw(fn, toJSON(obj(fn, h, 1)), toJSON(obj(fn, p, 2)), obj(fn, k, 3));
  },
  'io.jwt.encode_sign_raw': ([h, p, k]) => {
    const fn = 'io.jwt.encode_sign_raw';
    let key: Value;
    try {
      key = parseJSON(str(fn, k, 3));
    } catch {
      throw builtinErr(fn, 'invalid JWK: cannot parse JSON');
    }
    return signRaw(fn, str(fn, h, 1), str(fn, p, 2), key);
  },
  ...Object.fromEntries(ALGS.map((a) => [`io.jwt.verify_${a.toLowerCase()}`, verifyWith(a)])),
};

export const family: Family = { decls, impls };
