/**
 * Patient data never leaves the node, checked through a real node process
 * (`telemed-edge node` with AMQP_URL): a tap bound with `#` to each of the
 * run's exchanges sees every message that reaches the broker during a busy
 * run (FHIR record writes with names, birth dates, addresses and notes; a
 * video consultation through the node's signaling; vitals streamed by
 * `telemed-edge simulate vitals`; the call's end producing aggregates, sent
 * after the node's figures are flushed at shutdown and drained on its
 * restart), and none of them holds a patient id, name, birth date, address,
 * free text or exact event time.
 *
 * Policy: the node runs a TEST bundle (TELEMED_POLICY_DIR) built from the
 * shipped `policies/` with the seed's `deny` narrowed to let de-identified
 * figures go to the hub. Under the shipped bundle as written, the seed's
 * `deny` refuses every transfer to the hub (docs/SYNC.md) and the tap would
 * see nothing, which proves nothing. The shipped bundle is not changed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SignalingClient } from '../src/consult/index.ts';
import { topology } from '../src/sync/index.ts';
import { call, CLINICIAN, DEMO_PATIENT, removeDir, ROOT, runCli, startNode, tempDataDir, type RunningNode } from './helpers/node.ts';
import { brokerSkip, brokerUrl, deleteTopology, tapEverything, type Tapped, runPrefix, until } from './sync-harness.ts';

const skip = await brokerSkip();
const T = 30_000;

const SEED_DENY = `deny if {
    input.action == "data_transfer"
    input.destination != "local"
}`;

/** The shipped bundle, its tests left out, with the seed's deny narrowed for de-identified figures to the hub. */
function testBundle(dir: string): string {
  cpSync(path.join(ROOT, 'policies'), dir, { recursive: true, filter: (src) => !src.endsWith('_test.rego') });
  const file = path.join(dir, 'healthcare', 'telemedicine.rego');
  const seed = readFileSync(file, 'utf8');
  assert.ok(seed.includes(SEED_DENY), 'the shipped bundle still holds the seed deny this test narrows');
  writeFileSync(file, seed.replace(SEED_DENY, `${SEED_DENY.slice(0, -1)}    not deidentified_to_hub
}

deidentified_to_hub if {
    input.destination == "hub"
    input.resource.classification == "deidentified"
}

allow if {
    input.action == "data_transfer"
    deidentified_to_hub
}`));
  writeFileSync(path.join(dir, '.manifest'), JSON.stringify({ revision: 'phi-test-deidentified-to-hub', roots: ['healthcare'] }));
  return dir;
}

const FAMILIES = ['Quintessa', 'Marchetti-Oyelaran', 'Vasquez-Thornbury', 'Ilunga'];
const people = Array.from({ length: 12 }, (_, i) => ({
  id: `phi-${(7_000_000 + i * 13).toString(36)}`,
  given: `Zephyrine${i}`,
  family: FAMILIES[i % FAMILIES.length]!,
  birthDate: `19${41 + i}-0${1 + (i % 9)}-${11 + i}`,
  street: `${i + 3} Rue des Tilleuls`,
  postal: `6900${i % 10}`,
  note: `complains of intermittent chest pain since Tuesday, case ${i}`,
  at: new Date(Date.UTC(2026, 10, 24, 6, 7, 0) + i * 61_337 + 17).toISOString(),
}));

describe('sync: no patient data reaches the broker from a busy node', { skip }, () => {
  const prefix = runPrefix();
  const nodeId = `${prefix}-phi-node`;
  const t = topology(prefix);
  const tap = `${prefix}.tap`;
  let tapped: Awaited<ReturnType<typeof tapEverything>> | undefined;
  const seen: Tapped[] = [];
  const dirs: string[] = [];

  before(async () => {
    tapped = await tapEverything(t, tap, seen);
  });

  after(async () => {
    await tapped?.close();
    await deleteTopology(prefix, [nodeId]);
    for (const d of dirs) await removeDir(d);
  });

  it('records, a consultation, vitals, then the figures of the day: every message is free of identifiers, free text and exact times', { timeout: 240_000 }, async (tt) => {
    const work = await tempDataDir();
    const dataDir = await tempDataDir();
    dirs.push(work, dataDir);
    const bundleDir = testBundle(path.join(work, 'bundle'));
    const env = {
      AMQP_URL: brokerUrl(), TELEMED_SYNC_PREFIX: prefix, TELEMED_NODE_ID: nodeId, TELEMED_NODE_CITY: 'Lyon',
      TELEMED_POLICY_DIR: bundleDir, TELEMED_DB_SYNC: 'normal',
    };
    let node: RunningNode = await startNode({ dataDir, env });
    const forbidden: string[] = [];
    try {
      const clinician = await node.token('authorized_medical_staff', CLINICIAN);
      // 1. Record writes: patients with names, birth dates, addresses; observations with notes and exact times.
      for (const p of people) {
        const put = await call(`${node.fhirBase}/Patient/${p.id}`, {
          method: 'PUT', token: clinician,
          body: { resourceType: 'Patient', id: p.id, name: [{ family: p.family, given: [p.given] }], birthDate: p.birthDate, address: [{ line: [p.street], city: 'Lyon', postalCode: p.postal }] },
        });
        assert.ok(put.status < 300, `Patient PUT: ${put.status} ${put.text}`);
        const obs = await call(`${node.fhirBase}/Observation`, {
          token: clinician,
          body: {
            resourceType: 'Observation', status: 'final', subject: { reference: `Patient/${p.id}` }, effectiveDateTime: p.at, note: [{ text: p.note }],
            code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
            valueQuantity: { value: 72, unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
          },
        });
        assert.ok(obs.status < 300, `Observation POST: ${obs.status} ${obs.text}`);
        forbidden.push(p.id, `Patient/${p.id}`, p.given, p.family, p.birthDate, p.street, 'Tilleuls', p.note, 'chest pain', p.at, p.at.slice(0, 19), p.at.slice(0, 16), String(Date.parse(p.at)));
      }

      // 2. A video consultation through the node's own signaling, ended so its figures are counted.
      const patientToken = await node.token('patient', DEMO_PATIENT);
      const appointmentId = `demo-appointment-${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`;
      const ws = `${node.url.replace('http', 'ws')}/ws/consult`;
      const doctor = await SignalingClient.connect(ws, clinician);
      const patient = await SignalingClient.connect(ws, patientToken);
      try {
        doctor.send({ v: 1, type: 'join', appointmentId });
        await doctor.next('admitted', () => true, T);
        patient.send({ v: 1, type: 'join', appointmentId });
        const waiting = await patient.next('waiting', () => true, T);
        doctor.send({ v: 1, type: 'admit', appointmentId, seat: waiting.seat });
        await patient.next('admitted', () => true, T);
        doctor.send({ v: 1, type: 'offer', appointmentId, sdp: 'v=0 fake offer' });
        await patient.next('offer', () => true, T);
        doctor.send({ v: 1, type: 'end', appointmentId });
        const ended = await patient.next('ended', () => true, T);
        const ref = String(ended.encounter).includes('/') ? String(ended.encounter) : `Encounter/${String(ended.encounter)}`;
        const enc = (await call(`${node.fhirBase}/${ref}`, { token: clinician })).body as { id: string; period: { start: string; end: string } };
        for (const at of [enc.period.start, enc.period.end]) {
          const iso = new Date(at).toISOString();
          forbidden.push(at, iso.slice(0, 19), String(Date.parse(at)), String(Math.floor(Date.parse(at) / 1000)));
          if (iso.slice(14, 16) !== '00') forbidden.push(iso.slice(0, 16));
        }
        forbidden.push(enc.id, DEMO_PATIENT, DEMO_PATIENT.split('/')[1]!, appointmentId);
      } finally {
        doctor.close();
        patient.close();
      }

      // 3. Vitals streamed through the node's vitals socket (the simulator makes Patient/sim-1 and sim-2 with consent).
      const sim = await runCli(['simulate', 'vitals', '--patients', '2', '--hz', '4', '--seconds', '3', '--node', node.url], { TELEMED_DATA_DIR: dataDir, TELEMED_NODE_ID: nodeId });
      assert.equal(sim.code, 0, sim.stderr);
      forbidden.push('Patient/sim-1', 'Patient/sim-2', 'Simulated');

      // 4. The day's figures: flushed to the outbox when the node stops, sent when it is back.
      await until(() => seen.some((m) => m.props.includes('"type":"heartbeat"')), 'a heartbeat of the busy node');
      await node.stop();
      node = await startNode({ dataDir, env });
      await until(() => seen.some((m) => m.content.includes('"metric":"consultations"')), 'the consultation figures reach the broker', 60_000);
      await until(() => seen.some((m) => m.content.includes('"metric":"call_quality"')), 'the call quality figures reach the broker', 60_000);
      await until(() => seen.some((m) => m.content.includes('"metric":"vitals_samples"')), 'the vitals volume reaches the broker', 60_000);
    } finally {
      await node.stop();
    }

    const kinds = new Map<string, number>();
    for (const m of seen) {
      // A heartbeat carries the node's own clock to the second (`sentAt`, not a patient event): left out of the time check.
      const text = `${m.content.replace(/"sentAt":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"/, '"sentAt":-')}\n${m.props}`;
      for (const f of forbidden) assert.ok(!text.includes(f), `a message holds patient data or an exact time (${f.length} chars matched)`);
      const env = JSON.parse(m.content) as { kind: string; body: Record<string, unknown> };
      kinds.set(env.kind, (kinds.get(env.kind) ?? 0) + 1);
      if (env.kind === 'aggregate') {
        assert.match(String(env.body.period), /^\d{4}-\d\d-\d\dT\d\d:00Z$/, 'an aggregate period is an hour start');
        assert.deepEqual(Object.keys(env.body).filter((k) => !['metric', 'period', 'count', 'sum', 'buckets'].includes(k)), []);
      }
    }
    tt.diagnostic(`the tap saw ${seen.length} messages: ${JSON.stringify(Object.fromEntries(kinds))}; ${forbidden.length} forbidden strings checked`);
    assert.ok((kinds.get('aggregate') ?? 0) >= 2 && (kinds.get('heartbeat') ?? 0) >= 1);
    rmSync(bundleDir, { recursive: true, force: true });
  });
});
