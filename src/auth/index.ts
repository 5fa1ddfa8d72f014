/**
 * Identity: bearer JWTs (RFC 7519) verified with jose, against an OIDC
 * provider's JWKS or against the node's own Ed25519 signing key (made on first
 * start, file mode 0600). A verified token becomes a {@link Principal}.
 *
 * Claims: `sub` is the user's FHIR reference (`Practitioner/123`,
 * `Patient/456`; any subject for admins) and `role` (or the first known entry
 * of `roles`) one of the roles of the policy door.
 */
import { generateKeyPairSync, type KeyObject, createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { SignJWT, createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { Roles, type Role } from '../policy/index.ts';
import { loadOrCreateKeyFile } from '../store/index.ts';
import type { Principal } from './principal.ts';

export type { Principal };

/** Why a token was refused; the message is safe to show (it never echoes the token). */
export class AuthError extends Error {
  override readonly name = 'AuthError';
}

const ROLE_SET = new Set<string>(Object.values(Roles));
const REF = /^(Practitioner|Patient)\/([A-Za-z0-9\-.]{1,64})$/;
export const NODE_AUDIENCE = 'telemed-edge';

/** Checks `sub` against `role` and builds the principal. */
export function toPrincipal(sub: string, role: string): Principal {
  if (!ROLE_SET.has(role)) throw new AuthError(`unknown role '${role.slice(0, 40)}' (one of ${[...ROLE_SET].join(', ')})`);
  const m = REF.exec(sub);
  if (role === Roles.patient) {
    if (!m || m[1] !== 'Patient') throw new AuthError('a patient token needs sub = Patient/<id>');
    return { id: sub, role: Roles.patient, patientId: m[2]! };
  }
  if (role === Roles.clinician && (!m || m[1] !== 'Practitioner')) throw new AuthError('a clinician token needs sub = Practitioner/<id>');
  if (sub.length === 0 || sub.length > 128) throw new AuthError('sub must be 1-128 characters');
  return { id: sub, role: role as Role };
}

function roleOf(payload: JWTPayload): string {
  if (typeof payload.role === 'string') return payload.role;
  if (Array.isArray(payload.roles)) {
    const known = payload.roles.find((r) => typeof r === 'string' && ROLE_SET.has(r));
    if (typeof known === 'string') return known;
  }
  throw new AuthError('the token carries no known role');
}

/** The node's signing key pair, read from `<dataDir>/keys/signing.pem` or made there on first use. */
export function loadSigningKey(dataDir: string, create = true): { privateKey: KeyObject; publicKey: KeyObject } {
  const file = path.join(dataDir, 'keys', 'signing.pem');
  if (!create && !existsSync(file)) throw new AuthError(`no node signing key at ${file}: start the node once (or point TELEMED_DATA_DIR at its data)`);
  const pem = loadOrCreateKeyFile(file, () =>
    Buffer.from(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string),
  );
  const privateKey = createPrivateKey(pem);
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

export interface AuthenticatorOptions {
  dataDir: string;
  nodeId: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
}

export class Authenticator {
  readonly #key: JWTVerifyGetKey | KeyObject;
  readonly #issuer: string | undefined;
  readonly #audience: string | undefined;
  readonly #signer: KeyObject | undefined;
  readonly #nodeIssuer: string;
  /** Tokens already verified, until they expire: a signature check costs ~100-200 µs, a lookup ~0.1 µs. */
  readonly #verified = new Map<string, { principal: Principal; expMs: number }>();

  constructor(o: AuthenticatorOptions) {
    this.#nodeIssuer = `telemed-edge:${o.nodeId}`;
    if (o.jwksUrl) {
      this.#key = createRemoteJWKSet(new URL(o.jwksUrl), { cooldownDuration: 30_000, timeoutDuration: 5_000 });
      this.#issuer = o.issuer;
      this.#audience = o.audience;
    } else {
      const { privateKey, publicKey } = loadSigningKey(o.dataDir);
      this.#key = publicKey;
      this.#signer = privateKey;
      this.#issuer = this.#nodeIssuer;
      this.#audience = NODE_AUDIENCE;
    }
  }

  /** Verifies `Authorization: Bearer <jwt>`; throws AuthError with a reason safe to return. */
  async authenticate(header: string | undefined): Promise<Principal> {
    if (header === undefined || header === '') throw new AuthError('missing bearer token');
    const m = /^Bearer\s+([A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]*)$/.exec(header);
    if (!m) throw new AuthError('the Authorization header must be "Bearer <jwt>"');
    const hit = this.#verified.get(m[1]!);
    if (hit !== undefined) {
      if (hit.expMs > Date.now()) return hit.principal;
      this.#verified.delete(m[1]!);
    }
    let payload: JWTPayload;
    try {
      const opts = { ...(this.#issuer ? { issuer: this.#issuer } : {}), ...(this.#audience ? { audience: this.#audience } : {}), clockTolerance: 30 };
      payload = (typeof this.#key === 'function' ? await jwtVerify(m[1]!, this.#key, opts) : await jwtVerify(m[1]!, this.#key, opts)).payload;
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      throw new AuthError(code === 'ERR_JWT_EXPIRED' ? 'token expired' : 'invalid token');
    }
    if (typeof payload.sub !== 'string') throw new AuthError('the token has no subject');
    const principal = toPrincipal(payload.sub, roleOf(payload));
    if (typeof payload.exp === 'number') {
      if (this.#verified.size >= 10_000) this.#verified.delete(this.#verified.keys().next().value!);
      this.#verified.set(m[1]!, { principal, expMs: payload.exp * 1000 });
    }
    return principal;
  }

  /** Signs a token with the node key (not available with an external identity provider). */
  async mint(sub: string, role: string, ttlSeconds = 3600): Promise<string> {
    if (!this.#signer) throw new AuthError('tokens come from the identity provider; the node does not mint them');
    return mintToken(this.#signer, this.#nodeIssuer, sub, role, ttlSeconds);
  }
}

/** Signs a node token (EdDSA) after checking that `sub` fits `role`. */
export async function mintToken(key: KeyObject, issuer: string, sub: string, role: string, ttlSeconds: number): Promise<string> {
  toPrincipal(sub, role);
  return new SignJWT({ role })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
    .setSubject(sub)
    .setIssuer(issuer)
    .setAudience(NODE_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${Math.max(1, Math.floor(ttlSeconds))}s`)
    .sign(key);
}
