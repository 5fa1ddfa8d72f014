import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DataCipher, openStore } from './index.ts';

test('sealed data opens only unaltered and in its own place', () => {
  const c = new DataCipher(randomBytes(32));
  const blob = c.seal('{"name":"Ada"}', 'Patient/1/1');
  assert.equal(c.open(blob, 'Patient/1/1').toString(), '{"name":"Ada"}');
  assert.ok(!blob.includes(Buffer.from('Ada')), 'ciphertext must not contain the plaintext');
  assert.throws(() => c.open(blob, 'Patient/2/1'), 'a blob moved to another row must not open');
  const flipped = Buffer.from(blob);
  flipped[20]! ^= 1;
  assert.throws(() => c.open(flipped, 'Patient/1/1'), 'an altered blob must not open');
  assert.throws(() => new DataCipher(randomBytes(16)));
});

test('the data key file is made once with mode 0600 and reused', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'telemed-store-'));
  const a = openStore({ dataDir: dir });
  const sealed = a.cipher.seal('x', 'k');
  a.close();
  assert.equal(statSync(path.join(dir, 'keys', 'data.key')).mode & 0o777, 0o600);
  const b = openStore({ dataDir: dir });
  assert.equal(b.cipher.open(sealed, 'k').toString(), 'x');
  b.close();
});

test('group commit: writes of one turn share a transaction, a failing one rolls back alone', async () => {
  const store = openStore({ dataDir: mkdtempSync(path.join(tmpdir(), 'telemed-store-')), memory: true });
  store.db.exec('CREATE TABLE t (v INTEGER)');
  const ins = store.db.prepare('INSERT INTO t (v) VALUES (?)');
  const results = await Promise.allSettled([
    store.write(() => ins.run(1)),
    store.write(() => {
      ins.run(2);
      throw new Error('refused');
    }),
    store.write(() => ins.run(3)),
  ]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  assert.deepEqual(store.db.prepare('SELECT v FROM t ORDER BY v').pluck().all(), [1, 3]);
  store.close();
  store.close(); // idempotent
  await assert.rejects(store.write(() => 1), /closed/);
});

test('a write resolves only after its commit is visible to a second connection', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'telemed-store-'));
  const store = openStore({ dataDir: dir });
  store.db.exec('CREATE TABLE t (v INTEGER)');
  const other = openStore({ dataDir: dir });
  await store.write((db) => db.prepare('INSERT INTO t (v) VALUES (42)').run());
  assert.equal(other.db.prepare('SELECT count(*) FROM t').pluck().get(), 1);
  other.close();
  store.close();
});
