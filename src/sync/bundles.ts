/**
 * Signed policy bundles, hub → node: Ed25519 (RFC 8032) over a canonical JSON
 * of the revision, the issue time (`issuedAt`, replay protection: issued.ts)
 * and the files sorted by path. A node refuses an unsigned, wrongly signed or
 * unstamped bundle and keeps the one in force.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { isIssuedAt, issueNow } from './issued.ts';

export interface BundleFileText {
  path: string;
  text: string;
}

/** The message body of a rollout. */
export interface SignedBundle {
  kind: 'bundle';
  revision: string;
  /** When the hub signed it (ISO-8601 UTC with milliseconds), strictly increasing per kind: a node takes only a newer one than it has. */
  issuedAt: string;
  files: BundleFileText[];
  /** Base64 Ed25519 signature of {@link canonicalBundle}. */
  sig?: string;
}

export type BundleCheck =
  | { ok: true; revision: string; issuedAt: string; files: BundleFileText[]; sig: string }
  | { ok: false; reason: 'malformed' | 'unsigned' | 'bad_signature' };

const REVISION = /^[A-Za-z0-9._:-]{1,100}$/;

/**
 * The bytes that are signed: `{"revision":…,"issuedAt":…,"files":[{path,text}…]}`
 * with files sorted by path. Without `issuedAt`, the bytes of a bundle made
 * before it existed, `{"revision":…,"files":[…]}` (the hub hashes those as the
 * rollout's content `sha256`; a node never takes such a bundle from the broker).
 */
export function canonicalBundle(revision: string, files: readonly BundleFileText[], issuedAt?: string): Buffer {
  const sorted = [...files].map((f) => ({ path: f.path, text: f.text })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return Buffer.from(JSON.stringify({ revision, ...(issuedAt !== undefined ? { issuedAt } : {}), files: sorted }), 'utf8');
}

/** Reads an Ed25519 key given as a KeyObject or PEM text. */
export function ed25519Key(key: KeyObject | string, kind: 'private' | 'public'): KeyObject {
  const k = typeof key === 'string' ? (kind === 'private' ? createPrivateKey(key) : createPublicKey(key)) : key;
  if (k.asymmetricKeyType !== 'ed25519') throw new TypeError(`expected an Ed25519 ${kind} key, got ${k.asymmetricKeyType ?? k.type}`);
  return kind === 'public' && k.type === 'private' ? createPublicKey(k) : k;
}

/**
 * Signs a bundle issued at `issuedAt` (the running hub gives its own, strictly
 * increasing and kept in its ledger; default: this process's clock, strictly
 * after the last bundle it signed).
 */
export function signBundle(revision: string, files: readonly BundleFileText[], privateKey: KeyObject | string, issuedAt: string = issueNow('bundle')): SignedBundle {
  if (!REVISION.test(revision)) throw new TypeError('bundle revision: letters, digits, . _ : - (1-100)');
  if (!isIssuedAt(issuedAt)) throw new TypeError('bundle issuedAt: ISO-8601 UTC with milliseconds (YYYY-MM-DDTHH:MM:SS.mmmZ)');
  const sig = sign(null, canonicalBundle(revision, files, issuedAt), ed25519Key(privateKey, 'private')).toString('base64');
  return { kind: 'bundle', revision, issuedAt, files: [...files], sig };
}

/**
 * Checks a received bundle against the hub's public key. Never throws. A
 * bundle without a valid `issuedAt` (made before replay protection, or
 * changed) is `malformed`: every bundle signed before it existed could
 * otherwise be replayed.
 */
export function verifyBundle(content: Buffer, publicKey: KeyObject): BundleCheck {
  let v: unknown;
  try {
    v = JSON.parse(content.toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const b = v as Partial<SignedBundle> | null;
  if (typeof b !== 'object' || b === null || b.kind !== 'bundle' || typeof b.revision !== 'string' || !REVISION.test(b.revision) || !isIssuedAt(b.issuedAt) || !Array.isArray(b.files)) {
    return { ok: false, reason: 'malformed' };
  }
  const files: BundleFileText[] = [];
  for (const f of b.files as unknown[]) {
    const x = f as Partial<BundleFileText> | null;
    if (typeof x !== 'object' || x === null || typeof x.path !== 'string' || typeof x.text !== 'string' || x.path.includes('..')) return { ok: false, reason: 'malformed' };
    files.push({ path: x.path, text: x.text });
  }
  if (typeof b.sig !== 'string' || b.sig === '') return { ok: false, reason: 'unsigned' };
  let good = false;
  try {
    good = verify(null, canonicalBundle(b.revision, files, b.issuedAt), publicKey, Buffer.from(b.sig, 'base64'));
  } catch {
    good = false;
  }
  return good ? { ok: true, revision: b.revision, issuedAt: b.issuedAt, files, sig: b.sig } : { ok: false, reason: 'bad_signature' };
}
