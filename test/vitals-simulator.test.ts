/**
 * `telemed-edge simulate vitals` against a node with the vitals service:
 * it makes its patients and consent, streams, and every sample it counts as
 * acknowledged is an Observation of the node (no more, no fewer).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { simulateCommand } from '../src/cli/simulate.ts';
import { loadConfig } from '../src/config/index.ts';
import { startNode } from '../src/node/index.ts';
import { createLogger } from '../src/observability/index.ts';
import { createVitalsService, PatientModel, VITALS_MIGRATIONS } from '../src/vitals/index.ts';

test('the simulator streams realistic vitals and every acknowledged sample is stored once', { timeout: 180_000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vitals-sim-'));
  const env = { ...process.env, PORT: '0', TELEMED_DATA_DIR: dir, TELEMED_DB_SYNC: 'normal', TELEMED_FUNCTIONS_SHIPPED: 'false' };
  const logger = createLogger({ level: 'silent' });
  const node = await startNode(loadConfig(env), { port: 0, logger });
  node.store.migrate(VITALS_MIGRATIONS);
  const vitals = createVitalsService({ store: node.store, fhir: node.fhir, auth: node.auth, policy: () => node.policy.current(), logger, registry: new Registry(), path: '/ws/vitals-sim' });
  node.upgrades.add(vitals);
  const saved = process.env.TELEMED_DATA_DIR;
  process.env.TELEMED_DATA_DIR = dir; // the simulator mints its tokens with this node's key
  t.after(async () => {
    if (saved === undefined) delete process.env.TELEMED_DATA_DIR;
    else process.env.TELEMED_DATA_DIR = saved;
    await vitals.close();
    await node.close();
    await rm(dir, { recursive: true, force: true });
  });

  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
  let code: number;
  try {
    code = await simulateCommand.run(['vitals', '--patients', '2', '--hz', '4', '--seconds', '3', '--node', node.url, '--path', '/ws/vitals-sim']);
  } finally {
    process.stdout.write = write;
  }
  assert.equal(code, 0, out.join(''));
  const acked = Number(/acknowledged (\d+)/.exec(out.join(''))![1]);
  assert.ok(acked > 0);
  // a series Observation holds several readings; the ECG chunk is one sample
  let stored = 0;
  for (const p of ['Patient/sim-1', 'Patient/sim-2']) {
    const r = node.fhir.repo.search('Observation', { criteria: [{ kind: 'reference', param: 'subject', values: [p] }], count: 1000, offset: 0, sort: [], summaryCount: false });
    for (const e of r.entries) {
      const o = e.resource as Record<string, any>;
      stored += o.valueSampledData && o.code.coding[0].code !== '131328' ? o.valueSampledData.data.split(' ').length : 1;
    }
  }
  assert.equal(stored, acked);
});

test('the patient model stays in physiological ranges', () => {
  const m = new PatientModel(42, 1 / 30);
  for (let i = 0; i < 3600; i++) {
    m.step(1);
    const r = m.readings();
    assert.ok(r.hr >= 35 && r.hr <= 200 && r.spo2 >= 70 && r.spo2 <= 100 && r.rr >= 6 && r.rr <= 40 && r.temp >= 34 && r.temp <= 41.5 && r.dia < r.sys, JSON.stringify(r));
  }
  assert.equal(m.ecg(250).length, 250);
});
