/**
 * Signed policy bundles, hub → node: Ed25519 (RFC 8032) over a canonical JSON
 * of the revision and the files sorted by path. A node refuses an unsigned or
 * wrongly signed bundle and keeps the one in force.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export interface BundleFileText {
  path: string;
  text: string;
}

/** The message body of a rollout. */
export interface SignedBundle {
  kind: 'bundle';
  revision: string;
  files: BundleFileText[];
  /** Base64 Ed25519 signature of {@link canonicalBundle}. */
  sig?: string;
}

export type BundleCheck =
  | { ok: true; revision: string; files: BundleFileText[] }
  | { ok: false; reason: 'malformed' | 'unsigned' | 'bad_signature' };

const REVISION = /^[A-Za-z0-9._:-]{1,100}$/;

/** The bytes that are signed: `{"revision":…,"files":[{path,text}…]}` with files sorted by path. */
export function canonicalBundle(revision: string, files: readonly BundleFileText[]): Buffer {
  const sorted = [...files].map((f) => ({ path: f.path, text: f.text })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return Buffer.from(JSON.stringify({ revision, files: sorted }), 'utf8');
}

/** Reads an Ed25519 key given as a KeyObject or PEM text. */
export function ed25519Key(key: KeyObject | string, kind: 'private' | 'public'): KeyObject {
  const k = typeof key === 'string' ? (kind === 'private' ? createPrivateKey(key) : createPublicKey(key)) : key;
  if (k.asymmetricKeyType !== 'ed25519') throw new TypeError(`expected an Ed25519 ${kind} key, got ${k.asymmetricKeyType ?? k.type}`);
  return kind === 'public' && k.type === 'private' ? createPublicKey(k) : k;
}

export function signBundle(revision: string, files: readonly BundleFileText[], privateKey: KeyObject | string): SignedBundle {
  if (!REVISION.test(revision)) throw new TypeError('bundle revision: letters, digits, . _ : - (1-100)');
  const sig = sign(null, canonicalBundle(revision, files), ed25519Key(privateKey, 'private')).toString('base64');
  return { kind: 'bundle', revision, files: [...files], sig };
}

/** Checks a received bundle against the hub's public key. Never throws. */
export function verifyBundle(content: Buffer, publicKey: KeyObject): BundleCheck {
  let v: unknown;
  try {
    v = JSON.parse(content.toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const b = v as Partial<SignedBundle> | null;
  if (typeof b !== 'object' || b === null || b.kind !== 'bundle' || typeof b.revision !== 'string' || !REVISION.test(b.revision) || !Array.isArray(b.files)) {
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
    good = verify(null, canonicalBundle(b.revision, files), publicKey, Buffer.from(b.sig, 'base64'));
  } catch {
    good = false;
  }
  return good ? { ok: true, revision: b.revision, files } : { ok: false, reason: 'bad_signature' };
}
