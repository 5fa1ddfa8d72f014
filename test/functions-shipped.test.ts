/** The node's start-up registration of the shipped functions, from source or from prebuilt files. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { FUNCTIONS_DIR, registerShipped, shippedModule, sourcesDigest } from '../src/functions/index.ts';
import { admin, runtime, shipped, wat } from './functions-support.ts';

const rt = runtime();
const dir = mkdtempSync(join(tmpdir(), 'telemed-fn-prebuilt-'));
after(async () => {
  await rt.close();
  rmSync(dir, { recursive: true, force: true });
});

it('registers news2, ecg-hr and deidentify, preferring a prebuilt module', async () => {
  // A prebuilt news2 that answers a constant: proves the prebuilt file wins over the source.
  const data = '{\\"prebuilt\\":true}';
  writeFileSync(join(dir, 'news2.wasm'), await wat(`(module
    (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1 1) (data (i32.const 64) "${data}")
    (func (export "_start") (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 17))
      (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`));
  writeFileSync(join(dir, 'news2.sources'), `${sourcesDigest(join(FUNCTIONS_DIR, 'news2'))}\n`);
  await Promise.all([shipped('ecg-hr'), shipped('deidentify')]); // warm the build cache
  const infos = await registerShipped(rt, admin, { prebuiltDir: dir });
  assert.deepEqual(infos.map((i) => i.name), ['news2', 'ecg-hr', 'deidentify']);
  assert.deepEqual((await rt.call(admin, 'news2', {})).output, { prebuilt: true });
  const deid = (await rt.call(admin, 'deidentify', { resourceType: 'Observation', status: 'final', code: { coding: [{ code: 'x' }] }, subject: { reference: 'Patient/1' } })).output;
  assert.ok(!JSON.stringify(deid).includes('Patient/1'));
});

it('builds from source rather than take a prebuilt module made from other sources, or without its digest', async () => {
  const stale = mkdtempSync(join(tmpdir(), 'telemed-fn-stale-'));
  try {
    const fake = await wat('(module)');
    writeFileSync(join(stale, 'ecg-hr.wasm'), fake);
    assert.deepEqual(await shippedModule('ecg-hr', { prebuiltDir: stale }), await shipped('ecg-hr'));
    writeFileSync(join(stale, 'ecg-hr.sources'), 'a digest of yesterday\'s sources\n');
    assert.deepEqual(await shippedModule('ecg-hr', { prebuiltDir: stale }), await shipped('ecg-hr'));
    writeFileSync(join(stale, 'ecg-hr.sources'), sourcesDigest(join(FUNCTIONS_DIR, 'ecg-hr')));
    assert.deepEqual(await shippedModule('ecg-hr', { prebuiltDir: stale }), fake);
  } finally {
    rmSync(stale, { recursive: true, force: true });
  }
});
