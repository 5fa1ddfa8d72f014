/**
 * FHIR benchmark: reads by id, searches and creates in a 70/20/10 mix against
 * a running edge node (child process, demo mode, SQLite synchronous=FULL,
 * every read audited), driven by autocannon; in the same run, a bare
 * node:http server answering a fixed JSON document, as the baseline.
 */
import autocannon from 'autocannon';
import { startBaselineChild, startNodeChild, summary, root } from './_support.ts';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const SEED = 300;

function token(dataDir: string): string {
  const r = spawnSync(process.execPath, [path.join(root, 'bin/telemed-edge.js'), 'token', '--role', 'authorized_medical_staff', '--sub', 'Practitioner/demo-clinician', '--ttl', '3600'], {
    env: { ...process.env, TELEMED_DATA_DIR: dataDir },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`token: ${r.stderr}`);
  return r.stdout.trim();
}

function observation(i: number): string {
  return JSON.stringify({
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: 'Patient/demo-patient' },
    effectiveDateTime: new Date(Date.UTC(2026, 10, 25, 8, 0, i % 60)).toISOString(),
    valueQuantity: { value: 60 + (i % 40), unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
  });
}

async function mix(url: string, auth: string, ids: string[]): Promise<autocannon.Result> {
  const headers = { authorization: `Bearer ${auth}`, 'content-type': 'application/fhir+json' };
  const requests: autocannon.Request[] = [];
  for (let i = 0; i < 10; i++) {
    if (i < 7) requests.push({ method: 'GET', path: `/fhir/Observation/${ids[(i * 37) % ids.length]}`, headers });
    else if (i < 9) requests.push({ method: 'GET', path: `/fhir/Observation?patient=demo-patient&code=http://loinc.org|8867-4&date=ge2026-11-25&_count=10`, headers });
    else requests.push({ method: 'POST', path: '/fhir/Observation', headers, body: observation(i) });
  }
  return autocannon({ url, connections: CONNECTIONS, duration: DURATION, requests });
}

export async function run(): Promise<void> {
  process.stdout.write(`node: SQLite synchronous=${process.env.TELEMED_DB_SYNC ?? 'full'}, every read of patient data audited before it is answered\n`);
  process.stdout.write(`autocannon: ${CONNECTIONS} connections, ${DURATION} s per target; mix 70% read by id, 20% search, 10% create\n`);
  const baseline = await startBaselineChild();
  const base = summary('baseline node:http fixed JSON', await autocannon({ url: baseline.url, connections: CONNECTIONS, duration: DURATION }));
  await baseline.stop();

  const node = await startNodeChild();
  try {
    const auth = token(node.dataDir);
    const ids: string[] = [];
    for (let i = 0; i < SEED; i++) {
      const r = await fetch(`${node.url}/fhir/Observation`, { method: 'POST', headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/fhir+json' }, body: observation(i) });
      if (r.status !== 201) throw new Error(`seed create: ${r.status} ${await r.text()}`);
      ids.push(((await r.json()) as { id: string }).id);
    }
    const m = summary('telemed-edge FHIR mix 70/20/10', await mix(node.url, auth, ids));
    const ratio = (a: number, b: number) => (b >= 1 ? `${(a / b).toFixed(1)}x` : `n/a (baseline under autocannon's 1 ms resolution)`);
    process.stdout.write(`ratio to baseline: throughput ${(m.rps / base.rps).toFixed(3)}x, p50 ${ratio(m.p50, base.p50)}, p99 ${ratio(m.p99, base.p99)}\n`);
    const reads = await autocannon({ url: node.url, connections: CONNECTIONS, duration: Math.max(3, DURATION / 2), requests: [{ method: 'GET', path: `/fhir/Observation/${ids[0]}`, headers: { authorization: `Bearer ${auth}` } }] });
    summary('telemed-edge read by id only', reads);
  } finally {
    await node.stop();
  }
}
