/**
 * Signed node configurations, hub → node: Ed25519 (the same hub key as the
 * policy bundles) over a canonical JSON of the revision and the settings,
 * keys sorted at every depth. A node refuses an unsigned, wrongly signed or
 * malformed configuration and keeps the one in force. Which settings may be
 * carried, and their values, is the node configuration's business
 * (src/config `checkRemoteSettings`): this file only proves who sent what.
 */
import { sign, verify, type KeyObject } from 'node:crypto';
import { ed25519Key } from './bundles.ts';

/** The message body of a configuration rollout. */
export interface SignedConfig {
  kind: 'config';
  revision: string;
  /** Setting name → value (JSON), the hub's layer of the node's configuration, complete: a key absent here takes the node's local value. */
  settings: Record<string, unknown>;
  /** Base64 Ed25519 signature of {@link canonicalConfig}. */
  sig?: string;
}

export type ConfigCheck =
  | { ok: true; revision: string; settings: Record<string, unknown>; sig: string }
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

/** The bytes that are signed: `{"kind":"config","revision":…,"settings":{…}}`, keys sorted. The kind is signed too, so a config signature never verifies a bundle. */
export function canonicalConfig(revision: string, settings: Record<string, unknown>): Buffer {
  return Buffer.from(canonicalJson({ kind: 'config', revision, settings }), 'utf8');
}

export function signConfig(revision: string, settings: Record<string, unknown>, privateKey: KeyObject | string): SignedConfig {
  if (!REVISION.test(revision)) throw new TypeError('config revision: letters, digits, . _ : - (1-100)');
  const sig = sign(null, canonicalConfig(revision, settings), ed25519Key(privateKey, 'private')).toString('base64');
  return { kind: 'config', revision, settings: { ...settings }, sig };
}

/** Checks a received configuration against the hub's public key. Never throws. */
export function verifyConfig(content: Buffer | string, publicKey: KeyObject): ConfigCheck {
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
  if (typeof c.sig !== 'string' || c.sig === '') return { ok: false, reason: 'unsigned' };
  let good = false;
  try {
    good = verify(null, canonicalConfig(c.revision, c.settings), publicKey, Buffer.from(c.sig, 'base64'));
  } catch {
    good = false;
  }
  return good ? { ok: true, revision: c.revision, settings: c.settings, sig: c.sig } : { ok: false, reason: 'bad_signature' };
}
