/**
 * Signed node configurations, hub → node: Ed25519 (the same hub key as the
 * policy bundles) over a canonical JSON of the kind, the revision, the issue
 * time (`issuedAt`, replay protection: issued.ts) and the settings, keys
 * sorted at every depth. A node refuses an unsigned, wrongly signed,
 * unstamped or malformed configuration and keeps the one in force. Which settings may be
 * carried, and their values, is the node configuration's business
 * (src/config `checkRemoteSettings`): this file only proves who sent what.
 */
import { sign, verify, type KeyObject } from 'node:crypto';
import { ed25519Key } from './bundles.ts';
import { isIssuedAt, issueNow } from './issued.ts';

/** The message body of a configuration rollout. */
export interface SignedConfig {
  kind: 'config';
  revision: string;
  /** When the hub signed it (ISO-8601 UTC with milliseconds), strictly increasing per kind: a node takes only a newer one than it has. */
  issuedAt: string;
  /** Setting name → value (JSON), the hub's layer of the node's configuration, complete: a key absent here takes the node's local value. */
  settings: Record<string, unknown>;
  /** Base64 Ed25519 signature of {@link canonicalConfig}. */
  sig?: string;
}

export type ConfigCheck =
  /** `issuedAt` is null only with `{ kept: true }`: a configuration the node kept before messages carried it. */
  | { ok: true; revision: string; settings: Record<string, unknown>; sig: string; issuedAt: string | null }
  | { ok: false; reason: 'malformed' | 'unsigned' | 'bad_signature' };

const REVISION = /^[A-Za-z0-9._:-]{1,100}$/;
const MAX_BYTES = 64 * 1024;

/** JSON with object keys sorted at every depth (arrays keep their order). */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * The bytes that are signed: `{"issuedAt":…,"kind":"config","revision":…,"settings":{…}}`,
 * keys sorted. The kind is signed too, so a config signature never verifies a
 * bundle. Without `issuedAt`, the bytes of a configuration made before it
 * existed (the rollout's content `sha256` at the hub; a node takes such a one
 * only from its own kept file).
 */
export function canonicalConfig(revision: string, settings: Record<string, unknown>, issuedAt?: string): Buffer {
  return Buffer.from(canonicalJson({ kind: 'config', revision, issuedAt, settings }), 'utf8');
}

/**
 * Signs a configuration issued at `issuedAt` (the running hub gives its own,
 * strictly increasing and kept in its ledger; default: this process's clock,
 * strictly after the last configuration it signed).
 */
export function signConfig(revision: string, settings: Record<string, unknown>, privateKey: KeyObject | string, issuedAt: string = issueNow('config')): SignedConfig {
  if (!REVISION.test(revision)) throw new TypeError('config revision: letters, digits, . _ : - (1-100)');
  if (!isIssuedAt(issuedAt)) throw new TypeError('config issuedAt: ISO-8601 UTC with milliseconds (YYYY-MM-DDTHH:MM:SS.mmmZ)');
  const sig = sign(null, canonicalConfig(revision, settings, issuedAt), ed25519Key(privateKey, 'private')).toString('base64');
  return { kind: 'config', revision, issuedAt, settings: { ...settings }, sig };
}

/**
 * Checks a received configuration against the hub's public key. Never throws.
 * One without a valid `issuedAt` is `malformed` (every configuration signed
 * before it existed could otherwise be replayed), except with `kept: true`:
 * the node's own kept file (`node-config.json`, in its data folder, not from
 * the broker) written before the upgrade still verifies, with `issuedAt: null`.
 */
export function verifyConfig(content: Buffer | string, publicKey: KeyObject, o: { kept?: boolean } = {}): ConfigCheck {
  if (content.length > MAX_BYTES) return { ok: false, reason: 'malformed' };
  let v: unknown;
  try {
    v = JSON.parse(typeof content === 'string' ? content : content.toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const c = v as Partial<SignedConfig> | null;
  if (typeof c !== 'object' || c === null || c.kind !== 'config' || typeof c.revision !== 'string' || !REVISION.test(c.revision)) return { ok: false, reason: 'malformed' };
  if (typeof c.settings !== 'object' || c.settings === null || Array.isArray(c.settings)) return { ok: false, reason: 'malformed' };
  const issuedAt = isIssuedAt(c.issuedAt) ? c.issuedAt : c.issuedAt === undefined && o.kept === true ? null : undefined;
  if (issuedAt === undefined) return { ok: false, reason: 'malformed' };
  if (typeof c.sig !== 'string' || c.sig === '') return { ok: false, reason: 'unsigned' };
  let good = false;
  try {
    good = verify(null, canonicalConfig(c.revision, c.settings, issuedAt ?? undefined), publicKey, Buffer.from(c.sig, 'base64'));
  } catch {
    good = false;
  }
  return good ? { ok: true, revision: c.revision, settings: c.settings, sig: c.sig, issuedAt } : { ok: false, reason: 'bad_signature' };
}
