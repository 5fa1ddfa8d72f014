import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const NONCE = 12;
const TAG = 16;
const VERSION = 1;

/**
 * AES-256-GCM for data at rest. A sealed blob is
 * `version(1) ‖ nonce(12) ‖ ciphertext ‖ tag(16)`; the additional data binds it
 * to its place (e.g. `Patient/123/2`), so a blob copied to another row fails
 * to open.
 */
export class DataCipher {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('data key must be 32 bytes');
    this.#key = Buffer.from(key);
  }

  seal(plaintext: string | Buffer, aad: string): Buffer {
    const nonce = randomBytes(NONCE);
    const c = createCipheriv('aes-256-gcm', this.#key, nonce);
    c.setAAD(Buffer.from(aad));
    const body = Buffer.concat([c.update(plaintext), c.final()]);
    return Buffer.concat([Buffer.of(VERSION), nonce, body, c.getAuthTag()]);
  }

  /** Opens a sealed blob; throws if it was altered or sealed for another place. */
  open(blob: Buffer, aad: string): Buffer {
    if (blob.length < 1 + NONCE + TAG || blob[0] !== VERSION) throw new Error('not a sealed blob');
    const d = createDecipheriv('aes-256-gcm', this.#key, blob.subarray(1, 1 + NONCE));
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(blob.subarray(blob.length - TAG));
    return Buffer.concat([d.update(blob.subarray(1 + NONCE, blob.length - TAG)), d.final()]);
  }
}

/**
 * Reads a secret key file, or creates it (random bytes, mode 0600) when it
 * does not exist yet. The folder is created with mode 0700.
 */
export function loadOrCreateKeyFile(file: string, make: () => Buffer): Buffer {
  if (existsSync(file)) return readFileSync(file);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const key = make();
  writeFileSync(file, key, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return key;
}

/** The node's data key: from configuration (base64) or `<dataDir>/keys/data.key`. */
export function loadDataKey(dataDir: string, configured?: string): Buffer {
  if (configured !== undefined) return Buffer.from(configured, 'base64');
  const key = loadOrCreateKeyFile(path.join(dataDir, 'keys', 'data.key'), () => randomBytes(32));
  if (key.length !== 32) throw new Error(`${path.join(dataDir, 'keys', 'data.key')}: expected 32 bytes, found ${key.length}`);
  return key;
}
