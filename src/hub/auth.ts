/**
 * Who may write to the hub's API (`POST /api/rollouts`): a fleet admin signed
 * in at the hospital's identity provider (OIDC bearer JWT verified with jose
 * against the provider's JWKS), or the holder of the static admin token
 * (break-glass / automation). Either, both or neither may be configured;
 * with neither, writes are off (403).
 *
 * {@link HubAuth.authorize} answers `{ ok, actor }` or the refusal to send:
 * 401 (with `WWW-Authenticate`) when the token is missing, malformed, expired,
 * from another issuer or for another audience, or not an access token
 * ({@link tokenTypeProblem}: an ID token is issued to the hub's client too,
 * with the same issuer and audience); 403 when it is valid but lacks
 * the admin role; 503 when the provider's key set cannot be fetched. A message
 * says why and never echoes the token; tokens are never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Logger } from '../observability/index.ts';

export interface HubOidcOptions {
  /** The provider's JSON Web Key Set, e.g. https://idp.example/realms/x/protocol/openid-connect/certs. */
  jwksUrl: string;
  /** Expected `iss`, exactly as the provider writes it. */
  issuer: string;
  /** Expected `aud` (the hub's client id at the provider). */
  audience: string;
  /** The role (or group) value that makes a fleet admin (default `fleet-admin`). */
  adminRole?: string;
  /** Look the role up only in this top-level claim (default: `roles`, `role`, `groups`, `realm_access.roles`, `resource_access.<audience>.roles`). */
  roleClaim?: string;
  /** How long a key-set fetch may take (default 5000 ms). */
  timeoutMs?: number;
}

export interface HubAuthOptions {
  logger: Logger;
  /** The static bearer token (at least 32 characters). */
  adminToken?: string;
  oidc?: HubOidcOptions;
}

export type AuthDecision =
  | { ok: true; actor: string }
  | { ok: false; status: 401 | 403 | 503; error: string; message: string; headers: Record<string, string> };

export interface HubAuth {
  /** Whether anything can authorize a write (false: the write API is off). */
  readonly enabled: boolean;
  /** Decides on the request's `Authorization` header. Never throws. */
  authorize(req: { headers: { authorization?: string | undefined } }): Promise<AuthDecision>;
}

export const DEFAULT_ADMIN_ROLE = 'fleet-admin';
/** The actor recorded for a write made with the static admin token. */
export const ADMIN_TOKEN_ACTOR = 'admin-token';
const REALM = 'telemed-edge hub';
/** Signature algorithms accepted from the provider (asymmetric only: a JWKS never holds a shared secret). */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** The roles a token carries, from the claims providers use (Keycloak realm and client roles, Azure AD / Okta `roles` / `groups`). */
export function tokenRoles(payload: JWTPayload, audience: string, roleClaim?: string): string[] {
  const list = (v: unknown): string[] => (typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  if (roleClaim !== undefined) return list(payload[roleClaim]);
  const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
  return [
    ...list(payload.roles), ...list(payload.role), ...list(payload.groups),
    ...list(obj(payload.realm_access).roles), ...list(obj(obj(payload.resource_access)[audience]).roles),
  ];
}

/** Header `typ` values of an access token, compared case-insensitively without an `application/` prefix (RFC 7515 §4.1.9). */
const ACCESS_TYPES = new Set(['at+jwt', 'jwt']);

/**
 * Why a verified token is not an access token, or undefined when it may be one.
 * An OIDC ID token names the hub's client as its audience and comes from the
 * same issuer, so issuer and audience alone would let it through; what tells
 * them apart is the type the provider writes:
 *
 * - the JOSE header `typ`, when present, must be `at+jwt` (RFC 9068 §2.1, also
 *   `application/at+jwt`) or `JWT` (what Keycloak, Azure AD and others put on
 *   access tokens); anything else (`id+jwt`, `logout+jwt`, `dpop+jwt`, …) is refused;
 * - Keycloak's payload `typ` marks every token it issues: only `Bearer` is an
 *   access token (`ID`, `Refresh`, `Offline`, `Logout` are not).
 *
 * `nonce` is not used as a sign of an ID token: Keycloak copies it into access
 * tokens too. A provider that marks neither cannot be told apart here; the
 * audience and the admin role remain (docs: give the role to access tokens only).
 */
export function tokenTypeProblem(header: { typ?: unknown }, payload: JWTPayload): string | undefined {
  const shown = (v: unknown) => (typeof v === 'string' && /^[\x21-\x7e]{1,40}$/.test(v) ? `'${v}'` : 'of another kind');
  if (header.typ !== undefined) {
    const t = typeof header.typ === 'string' ? header.typ.toLowerCase().replace(/^application\//, '') : '';
    if (!ACCESS_TYPES.has(t)) return `not an access token: its header typ is ${shown(header.typ)} (at+jwt or JWT expected)`;
  }
  if (payload.typ !== undefined && payload.typ !== 'Bearer') {
    return payload.typ === 'ID' ? 'an ID token, not an access token (typ ID): send the access token' : `not an access token: its typ is ${shown(payload.typ)} (Bearer expected)`;
  }
  return undefined;
}

/** Who the token names, for the record: `preferred_username`, else `sub`; printable, at most 128 characters. */
export function actorOf(payload: JWTPayload): string | undefined {
  const clean = (v: unknown) => (typeof v === 'string' ? v.replace(/[^\x20-\x7e\u00a0-\uffff]/g, '').trim().slice(0, 128) : '');
  return clean(payload.preferred_username) || clean(payload.sub) || undefined;
}

export function createHubAuth(o: HubAuthOptions): HubAuth {
  const log = o.logger.child({ part: 'hub-auth' });
  const adminDigest = o.adminToken ? createHash('sha256').update(o.adminToken).digest() : undefined;
  const oidc = o.oidc;
  if (oidc && (!oidc.issuer || !oidc.audience)) throw new TypeError('OIDC needs an issuer and an audience besides the JWKS URL');
  const adminRole = oidc?.adminRole ?? DEFAULT_ADMIN_ROLE;
  const keys: JWTVerifyGetKey | undefined = oidc
    ? createRemoteJWKSet(new URL(oidc.jwksUrl), { timeoutDuration: oidc.timeoutMs ?? 5_000, cooldownDuration: 30_000 })
    : undefined;

  const ways = [oidc ? `a token from ${oidc.issuer} with the role '${adminRole}'` : '', adminDigest ? 'the admin token' : ''].filter(Boolean).join(' or ');
  const challenge = (error?: string, description?: string) =>
    `Bearer realm="${REALM}"${error ? `, error="${error}"` : ''}${description ? `, error_description="${description.replace(/["\\]/g, '')}"` : ''}`;
  const unauthorized = (message: string, error?: string): AuthDecision => {
    log.warn({ reason: message }, 'write refused: not authenticated');
    return { ok: false, status: 401, error: 'unauthorized', message, headers: { 'www-authenticate': challenge(error, error ? message : undefined) } };
  };

  return {
    enabled: adminDigest !== undefined || keys !== undefined,
    async authorize(req) {
      if (!adminDigest && !keys) {
        return { ok: false, status: 403, error: 'rollouts_disabled', message: 'the rollout API is off: set TELEMED_HUB_JWKS_URL (single sign-on) or TELEMED_HUB_ADMIN_TOKEN on the hub', headers: {} };
      }
      const header = req.headers.authorization ?? '';
      if (header === '') return unauthorized(`a bearer token is required (Authorization: Bearer <token>): ${ways}`);
      const m = /^Bearer +(\S+)$/i.exec(header);
      if (!m) return unauthorized('the Authorization header must be "Bearer <token>"', 'invalid_request');
      const token = m[1]!;
      if (adminDigest) {
        const given = createHash('sha256').update(token).digest();
        if (timingSafeEqual(given, adminDigest)) {
          log.info({ actor: ADMIN_TOKEN_ACTOR }, 'write authorized');
          return { ok: true, actor: ADMIN_TOKEN_ACTOR };
        }
      }
      if (!keys || !oidc) return unauthorized('the admin token does not match', 'invalid_token');
      if (!JWT.test(token)) return unauthorized(`not a JWT${adminDigest ? ' and not the admin token' : ''}`, 'invalid_token');
      let payload: JWTPayload;
      let jose: { typ?: unknown };
      try {
        ({ payload, protectedHeader: jose } = await jwtVerify(token, keys, { issuer: oidc.issuer, audience: oidc.audience, algorithms: ALGORITHMS, requiredClaims: ['exp'], clockTolerance: 30 }));
      } catch (err) {
        const e = err as Error & { code?: string; claim?: string };
        if (err instanceof errors.JWKSTimeout || !(err instanceof errors.JOSEError) || e.code === 'ERR_JOSE_GENERIC' || e.code === 'ERR_JWKS_INVALID') {
          log.warn({ err: { message: e.message, code: e.code } }, 'identity provider key set unavailable');
          return { ok: false, status: 503, error: 'idp_unavailable', message: "cannot fetch the identity provider's signing keys (TELEMED_HUB_JWKS_URL); try again later", headers: { 'retry-after': '30' } };
        }
        return unauthorized(why(e, oidc), 'invalid_token');
      }
      // Only now, signature checked, is the type the provider wrote worth reading.
      const notAccess = tokenTypeProblem(jose, payload);
      if (notAccess) return unauthorized(notAccess, 'invalid_token');
      const actor = actorOf(payload);
      if (typeof payload.sub !== 'string' || payload.sub === '' || !actor) return unauthorized('the token has no subject', 'invalid_token');
      if (!tokenRoles(payload, oidc.audience, oidc.roleClaim).includes(adminRole)) {
        log.warn({ actor }, 'write refused: no admin role');
        const message = `the token of '${actor}' lacks the role '${adminRole}' (needed to roll out)`;
        return { ok: false, status: 403, error: 'forbidden', message, headers: { 'www-authenticate': challenge('insufficient_scope', `the role ${adminRole} is needed`) } };
      }
      log.info({ actor, sub: payload.sub }, 'write authorized');
      return { ok: true, actor };
    },
  };
}

/** Why jose refused a token, in words safe to return (no token, no claims but the names). */
function why(e: Error & { code?: string; claim?: string }, oidc: HubOidcOptions): string {
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      return 'token expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'iss') return `token from another issuer (expected ${oidc.issuer})`;
      if (e.claim === 'aud') return `token for another audience (expected ${oidc.audience})`;
      if (e.claim === 'nbf') return 'token not yet valid';
      if (e.claim === 'exp') return 'token without an expiry (exp)';
      if (e.claim === 'iat') return 'token issued in the future';
      return `token claim ${e.claim ?? ''} is not valid`.replace(/ +/g, ' ');
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'token signed with a key the identity provider does not publish';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'token signature does not verify';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'token signed with an algorithm that is not accepted';
    default:
      return 'invalid token';
  }
}
