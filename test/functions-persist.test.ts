/** Registrations survive a restart of the node: kept in its SQLite store and restored at start. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { FUNCTION_MIGRATIONS, FunctionError, FunctionRegistry, SqliteFunctionStore } from '../src/functions/index.ts';
import { createLogger } from '../src/observability/index.ts';
import { openStore } from '../src/store/index.ts';
import { admin, shipped } from './functions-support.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'telemed-fn-persist-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

const EXAMPLE = { respiratoryRate: 25, spo2: 91, onOxygen: false, systolicBP: 95, heartRate: 115, consciousness: 'A', temperature: 38.5 };

function start(memoryPages = 256, timeoutMs = 1000) {
  const store = openStore({ dataDir, sync: 'normal' });
  store.migrate(FUNCTION_MIGRATIONS);
  const registry = new FunctionRegistry({
    logger: createLogger({ level: 'silent' }),
    limits: { workers: 1, memoryPages, timeoutMs },
    decide: () => ({ allow: true, reason: 'test' }),
    store: new SqliteFunctionStore(store),
  });
  return { store, registry, async stop() { await registry.close(); store.close(); } };
}

it('restores registrations, limits and disabled state after a restart, without what was deleted', async () => {
  const first = start();
  await first.registry.register(admin, 'news2', await shipped('news2'), { timeoutMs: 700 });
  await first.registry.register(admin, 'ecg-hr', await shipped('ecg-hr'));
  await first.registry.register(admin, 'deidentify', await shipped('deidentify'));
  await first.registry.disable(admin, 'ecg-hr');
  await first.registry.unregister(admin, 'deidentify');
  await first.stop();

  const second = start();
  try {
    const { restored, failed } = await second.registry.restore();
    assert.deepEqual(restored.map((f) => [f.name, f.enabled]), [['ecg-hr', false], ['news2', true]]);
    assert.deepEqual(failed, []);
    assert.equal(second.registry.get(admin, 'news2')?.limits.timeoutMs, 700);
    assert.equal(((await second.registry.call(admin, 'news2', EXAMPLE)).output as { score: number }).score, 11);
    await assert.rejects(second.registry.call(admin, 'ecg-hr', {}), (e: unknown) => e instanceof FunctionError && e.code === 'FN_ERR_DISABLED');
  } finally {
    await second.stop();
  }
});

it('brings a kept function\'s limits down to a node-wide maximum lowered since', async () => {
  const lowered = start(256, 500);
  try {
    await lowered.registry.restore();
    assert.equal(lowered.registry.get(admin, 'news2')?.limits.timeoutMs, 500);
    assert.equal(((await lowered.registry.call(admin, 'news2', EXAMPLE)).output as { score: number }).score, 11);
  } finally {
    await lowered.stop();
  }
});

it('skips and reports a kept module that today\'s limits refuse, restoring the others', async () => {
  const third = start(64); // the shipped modules declare 256 pages
  try {
    const { restored, failed } = await third.registry.restore();
    assert.deepEqual(restored, []);
    assert.deepEqual(failed.map((f) => [f.name, f.code]), [['ecg-hr', 'FN_ERR_MODULE_SHAPE'], ['news2', 'FN_ERR_MODULE_SHAPE']]);
  } finally {
    await third.stop();
  }
});
