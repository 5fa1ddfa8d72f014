/**
 * Nothing acknowledged is lost (ARCHITECTURE.md, promise 3): a node with the
 * vitals service is SIGKILLed while a device streams; restarted on the same
 * data, it tells the device a committed mark at or past every ack the device
 * saw; the device resends the rest; the stored samples are exactly the sent
 * ones, each once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { VitalsClient } from '../src/vitals/index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const T = 60_000;

/** A node with the vitals service on its own path, in a child process; prints {url, patient, clinician} when ready. */
const SERVER = `
const { loadConfig } = await import(${JSON.stringify(path.join(ROOT, 'src/config/index.ts'))});
const { startNode } = await import(${JSON.stringify(path.join(ROOT, 'src/node/index.ts'))});
const { createLogger } = await import(${JSON.stringify(path.join(ROOT, 'src/observability/index.ts'))});
const { createVitalsService, VITALS_MIGRATIONS } = await import(${JSON.stringify(path.join(ROOT, 'src/vitals/index.ts'))});
const { Registry } = await import('prom-client');
const logger = createLogger({ level: 'silent' });
const node = await startNode(loadConfig({ ...process.env, PORT: '0', TELEMED_FUNCTIONS_SHIPPED: 'false' }), { port: 0, logger });
node.store.migrate(VITALS_MIGRATIONS);
const vitals = createVitalsService({ store: node.store, fhir: node.fhir, auth: node.auth, policy: () => node.policy.current(), logger, registry: new Registry(), path: '/ws/vitals-crash' });
vitals.attach(node.app.server);
await node.fhir.putAsSystem({ resourceType: 'Patient', id: 'crash-1', active: true });
// Vitals flow only with the patient's telehealth consent (the shipped policy).
await node.fhir.putAsSystem({ resourceType: 'Consent', id: 'crash-1-consent', status: 'active', scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] }, category: [{ text: 'telehealth' }], patient: { reference: 'Patient/crash-1' }, provision: { type: 'permit' } });
const patient = await node.auth.mint('Patient/crash-1', 'patient');
const clinician = await node.auth.mint('Practitioner/crash-dr', 'authorized_medical_staff');
process.stdout.write(JSON.stringify({ url: node.url, patient, clinician }) + '\\n');
`;

async function startChild(dataDir: string): Promise<{ child: ChildProcess; url: string; patient: string; clinician: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SERVER], {
    cwd: ROOT,
    env: { ...process.env, TELEMED_DATA_DIR: dataDir, TELEMED_DB_SYNC: 'normal', LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the node exited (${code}) before it was ready`)));
  });
  return { child, ...(JSON.parse(line) as { url: string; patient: string; clinician: string }) };
}

function frame(seq0: number, now: number): Record<string, unknown>[] {
  return [
    { seq: seq0, code: '8867-4', value: 70 + (seq0 % 9), unit: '/min', time: now },
    { seq: seq0 + 1, code: '2708-6', value: 97, unit: '%', time: now },
    { seq: seq0 + 2, code: '85354-9', systolic: 120, diastolic: 80, unit: 'mm[Hg]', time: now },
    { seq: seq0 + 3, code: '9279-1', value: 15, unit: '/min', time: now },
    { seq: seq0 + 4, code: '8310-5', value: 36.9, unit: 'Cel', time: now },
    { seq: seq0 + 5, code: '131328', unit: 'mV', time: now, period: 4, data: Array.from({ length: 250 }, (_, i) => Math.round(Math.sin(i / 7) * 1000) / 1000) },
  ];
}

test('SIGKILL mid-stream, restart, resend: every sample stored once, nothing acknowledged lost', { timeout: 5 * T }, async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'vitals-crash-'));
  let current: ChildProcess | undefined;
  t.after(async () => {
    current?.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  const FRAMES = 150;
  const sent = FRAMES * 6;
  const first = await startChild(dataDir);
  current = first.child;
  const ws1 = `${first.url.replace('http', 'ws')}/ws/vitals-crash`;
  let seenAck = -1;
  const { client: dev1 } = await VitalsClient.connect(ws1, first.patient, { device: 'crash-dev' }, {
    keep: false,
    onFrame: (f) => {
      if (f.type === 'ack' && f.seq > seenAck) seenAck = f.seq;
    },
  });
  const now = Date.now();
  // stream without waiting; kill once some are acknowledged and more are in flight
  let k = 0;
  const pump = setInterval(() => {
    for (let i = 0; i < 5 && k < FRAMES; i++, k++) dev1.send({ type: 'samples', samples: frame(k * 6, now + k) });
  }, 5);
  for (let i = 0; i < 600 && seenAck < sent / 3; i++) await new Promise((r) => setTimeout(r, 50));
  const exited = new Promise((r) => first.child.once('exit', r));
  first.child.kill('SIGKILL');
  await exited;
  clearInterval(pump);
  const ackedBeforeKill = seenAck;
  assert.ok(ackedBeforeKill >= 0, 'some samples were acknowledged before the kill');

  const second = await startChild(dataDir);
  current = second.child;
  const { client: dev2, welcome } = await VitalsClient.connect(`${second.url.replace('http', 'ws')}/ws/vitals-crash`, second.patient, { device: 'crash-dev' });
  assert.ok(welcome.acked >= ackedBeforeKill, `the node remembers at least every ack the device saw (${welcome.acked} ≥ ${ackedBeforeKill})`);
  // the device resends everything after the node's mark (and, carelessly, the frame before it too)
  const from = Math.max(0, Math.floor(welcome.acked / 6) - 1);
  for (let j = from; j < FRAMES; j++) dev2.send({ type: 'samples', samples: frame(j * 6, now + j) });
  await dev2.next('ack', (f) => f.seq === sent - 1, T);
  assert.equal(dev2.all('error').length, 0);
  dev2.close();

  const res = await fetch(`${second.url}/fhir/Observation?subject=Patient/crash-1&_count=1000`, { headers: { authorization: `Bearer ${second.clinician}` } });
  assert.equal(res.status, 200);
  const bundle = (await res.json()) as { entry?: Array<{ resource: { identifier: Array<{ value: string }> } }> };
  const ids = (bundle.entry ?? []).map((e) => e.resource.identifier[0]!.value);
  assert.equal(ids.length, sent, 'as many Observations as samples sent');
  assert.equal(new Set(ids).size, sent, 'no duplicate');
});
