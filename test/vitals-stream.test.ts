/**
 * Live vitals end to end on a node started in-process: a device streams
 * through a consultation and the admitted clinician receives every sample in
 * order; the samples are Observations in /fhir; bad samples get error frames
 * naming the field and store nothing; a reconnecting device that resends
 * leaves no duplicate; a crossing raises an alert and a Flag.
 * Nothing here asserts a timing (the machines are small and shared).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { SignalingClient } from '../src/consult/index.ts';
import { loadConfig } from '../src/config/index.ts';
import { ResourceValidator } from '../src/fhir/index.ts';
import { startNode, type EdgeNode } from '../src/node/index.ts';
import { createLogger } from '../src/observability/index.ts';
import type { PolicyEngine } from '../src/policy/index.ts';
import { createVitalsService, VitalsClient, VITALS_MIGRATIONS, type Frame, type VitalsService } from '../src/vitals/index.ts';

const T = 60_000;
type Any = Record<string, any>;

let dir: string;
let node: EdgeNode;
let vitals: VitalsService;
let wsVitals: string;
/** Lets a test refuse streams (consent withdrawn) without changing the node's bundle. */
let override: ((input: Any) => { allow: boolean; reason: string } | undefined) | undefined;
const clients: Array<{ close(): void }> = [];

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vitals-'));
  const logger = createLogger({ level: 'silent' });
  node = await startNode(loadConfig({ ...process.env, PORT: '0', TELEMED_DATA_DIR: dir, TELEMED_DB_SYNC: 'normal', TELEMED_FUNCTIONS_SHIPPED: 'false' }), { port: 0, logger });
  node.store.migrate(VITALS_MIGRATIONS);
  const policy = (): PolicyEngine => {
    const engine = node.policy.current();
    return { revision: engine.revision, decide: (input) => override?.(input) ?? engine.decide(input) };
  };
  vitals = createVitalsService({ store: node.store, fhir: node.fhir, auth: node.auth, policy, logger, registry: new Registry(), consult: node.consult, news2IntervalMs: 0, path: '/ws/vitals-test' });
  node.upgrades.add(vitals);
  // its own path, so the test holds whether or not the node wires a vitals service itself
  wsVitals = `${node.url.replace('http', 'ws')}/ws/vitals-test`;
});

after(async () => {
  for (const c of clients) c.close();
  await vitals.close();
  await node.close();
  await rm(dir, { recursive: true, force: true });
});

interface Booking { id: string; clinician: string; patient: string }

async function book(): Promise<Booking> {
  const tag = randomUUID().slice(0, 8);
  const b = { id: `appt-${tag}`, clinician: `Practitioner/dr-${tag}`, patient: `Patient/p-${tag}` };
  await node.fhir.putAsSystem({ resourceType: 'Practitioner', id: `dr-${tag}`, active: true });
  await node.fhir.putAsSystem({ resourceType: 'Patient', id: `p-${tag}`, active: true });
  await node.fhir.putAsSystem({
    resourceType: 'Consent', id: `consent-${tag}`, status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }], text: 'telehealth' }],
    patient: { reference: b.patient },
  });
  await node.fhir.putAsSystem({
    resourceType: 'Appointment', id: b.id, status: 'booked', start: new Date().toISOString(),
    participant: [{ actor: { reference: b.clinician }, status: 'accepted' }, { actor: { reference: b.patient }, status: 'accepted' }],
  });
  return b;
}

const token = (sub: string) => node.auth.mint(sub, sub.startsWith('Patient/') ? 'patient' : 'authorized_medical_staff');

/** Clinician and patient in the call (consult signaling on the node's own /ws/consult). */
async function enterCall(b: Booking): Promise<void> {
  const ws = `${node.url.replace('http', 'ws')}/ws/consult`;
  const doc = await SignalingClient.connect(ws, await token(b.clinician));
  const pat = await SignalingClient.connect(ws, await token(b.patient));
  clients.push(doc, pat);
  doc.send({ type: 'join', appointmentId: b.id });
  await doc.next('admitted', () => true, T);
  pat.send({ type: 'join', appointmentId: b.id });
  const waiting = await pat.next('waiting', () => true, T);
  doc.send({ type: 'admit', appointmentId: b.id, seat: waiting.seat });
  await pat.next('admitted', () => true, T);
}

async function device(b: Booking, deviceId: string): Promise<{ client: VitalsClient; welcome: Frame }> {
  const r = await VitalsClient.connect(wsVitals, await token(b.patient), { device: deviceId });
  clients.push(r.client);
  return r;
}

async function watcher(b: Booking): Promise<VitalsClient> {
  const { client } = await VitalsClient.connect(wsVitals, await token(b.clinician));
  clients.push(client);
  client.send({ type: 'subscribe', appointmentId: b.id });
  await client.next('subscribed', () => true, T);
  return client;
}

/** A realistic frame: one of each vital (ECG as a 1 s chunk at 250 Hz). */
function frame(seq0: number, now = Date.now()): Any[] {
  const t = new Date(now).toISOString();
  return [
    { seq: seq0, code: '8867-4', value: 72, unit: '/min', time: t },
    { seq: seq0 + 1, code: '2708-6', value: 97, unit: '%', time: t },
    { seq: seq0 + 2, code: '85354-9', systolic: 121, diastolic: 79, unit: 'mm[Hg]', time: t },
    { seq: seq0 + 3, code: '9279-1', value: 14, unit: '/min', time: t },
    { seq: seq0 + 4, code: '8310-5', value: 36.8, unit: 'Cel', time: t },
    { seq: seq0 + 5, code: '131328', unit: 'mV', time: now, period: 4, data: Array.from({ length: 250 }, (_, i) => Math.round(Math.sin(i / 8) * 1000) / 1000) },
  ];
}

function observationsOf(patient: string): Any[] {
  const req: Parameters<EdgeNode['fhir']['repo']['search']>[1] = { criteria: [{ kind: 'reference', param: 'subject', values: [patient] }], count: 1000, offset: 0, sort: [], summaryCount: false };
  const r = node.fhir.repo.search('Observation', req);
  return r.entries.map((e) => e.resource as Any);
}

async function fhirGet(pathAndQuery: string, sub: string): Promise<{ status: number; body: Any }> {
  const res = await fetch(`${node.url}/fhir/${pathAndQuery}`, { headers: { authorization: `Bearer ${await token(sub)}` } });
  return { status: res.status, body: (await res.json()) as Any };
}

test('a device streams through a consultation: the clinician gets every sample in order, and they are Observations in /fhir', { timeout: 4 * T }, async () => {
  const b = await book();
  await enterCall(b);
  const doc = await watcher(b);
  const { client: dev, welcome } = await device(b, 'oximeter-1');
  assert.equal(welcome.acked, -1, 'a new device starts from nothing');
  assert.equal(welcome.patient, b.patient);

  const frames = 10;
  for (let k = 0; k < frames; k++) dev.send({ type: 'samples', samples: frame(k * 6) });
  const last = frames * 6 - 1;
  await dev.next('ack', (f) => f.seq === last, T);

  const seen: number[] = [];
  while (seen.length < frames * 6) {
    const f = await doc.next('vitals', () => true, T);
    assert.equal(f.appointmentId, b.id);
    assert.equal(f.patient, b.patient);
    for (const s of f.samples) {
      assert.equal(s.device, 'oximeter-1');
      seen.push(s.seq);
    }
  }
  assert.deepEqual(seen, Array.from({ length: frames * 6 }, (_, i) => i), 'every sample, in order, once');
  const acks = dev.all('ack').map((f) => f.seq);
  assert.deepEqual(acks, [...acks].sort((x, y) => x - y), 'acks never go backwards');

  const stored = observationsOf(b.patient);
  assert.equal(stored.length, frames * 6);
  const validator: ResourceValidator = new ResourceValidator();
  for (const o of stored.slice(0, 12)) validator.assertValid(o as never);
  const bp = stored.find((o) => o.code.coding[0].code === '85354-9')!;
  assert.deepEqual(bp.component.map((c: Any) => c.code.coding[0].code), ['8480-6', '8462-4']);
  const spo2 = stored.find((o) => o.code.coding[0].code === '2708-6')!;
  assert.ok(spo2.code.coding.some((c: Any) => c.code === '59408-5'), 'SpO2 carries 59408-5');
  const ecg = stored.find((o) => o.code.coding[0].code === '131328')!;
  assert.equal(ecg.valueSampledData.data.split(' ').length, 250);
  assert.equal(ecg.valueSampledData.period, 4);
  assert.ok(stored.every((o) => o.category[0].coding[0].code === 'vital-signs'));
  assert.ok(stored.every((o) => o.encounter?.reference?.startsWith('Encounter/')), 'the call\'s Encounter');

  // through the FHIR endpoint, as the clinician: searchable by patient and code
  const hr = await fhirGet(`Observation?subject=${b.patient}&code=http://loinc.org|8867-4&_count=100`, b.clinician);
  assert.equal(hr.status, 200);
  assert.equal(hr.body.entry.length, frames);
  assert.equal(hr.body.entry[0].resource.valueQuantity.code, '/min');
  const cat = await fhirGet(`Observation?subject=${b.patient}&category=vital-signs&_summary=count`, b.clinician);
  assert.equal(cat.body.total, frames * 6);
});

test('bad samples each get an error frame naming the field, nothing is stored for them, and the stream survives', { timeout: 4 * T }, async () => {
  const b = await book();
  const { client: dev } = await device(b, 'cuff-1');
  const now = Date.now();
  const t = new Date(now).toISOString();
  dev.send({ type: 'samples', samples: [
    { seq: 0, code: '8867-4', value: 70, unit: '/min', time: t },
    { seq: 1, code: '1234-5', value: 70, unit: '/min', time: t },
    { seq: 2, code: '8867-4', value: 70, unit: 'mm[Hg]', time: t },
    { seq: 3, code: '8867-4', value: 'NaN', unit: '/min', time: t },
    { seq: 4, code: '8867-4', value: null, unit: '/min', time: t },
    { seq: 5, code: '8867-4', value: 70, unit: '/min', time: new Date(now + 365 * 86_400_000).toISOString() },
    { seq: 6, code: '8867-4', value: 71, unit: '/min', time: t },
    { seq: 6, code: '8867-4', value: 72, unit: '/min', time: t },
    { seq: 3, code: '8867-4', value: 73, unit: '/min', time: t },
    { seq: 7, code: '85354-9', systolic: 80, diastolic: 120, unit: 'mm[Hg]', time: t },
  ] });
  const errors: Frame[] = [];
  for (let i = 0; i < 8; i++) errors.push(await dev.next('error', () => true, T));
  const fields = errors.map((e) => e.field);
  assert.deepEqual([...fields].sort(), ['samples[1].code', 'samples[2].unit', 'samples[3].value', 'samples[4].value', 'samples[5].time', 'samples[7].seq', 'samples[8].seq', 'samples[9].diastolic'].sort());
  assert.ok(errors.every((e) => e.code === 'bad_sample'));
  assert.deepEqual(errors.filter((e) => e.field.endsWith('.seq')).map((e) => e.seq), [6, 3], 'sequences going backwards (or repeated) name their seq');
  await dev.next('ack', (f) => f.seq === 6, T);

  // a 5 MB frame: an error frame, the socket stays
  dev.send({ type: 'samples', samples: [{ seq: 100, code: '8867-4', value: 70, unit: '/min', time: t, pad: 'x'.repeat(5 * 1024 * 1024) }] });
  const big = await dev.next('error', () => true, T);
  assert.equal(big.code, 'frame_too_large');
  assert.equal(big.field, 'frame');
  // not JSON, unknown type: errors too
  dev.ws.send('{nope');
  assert.equal((await dev.next('error', () => true, T)).code, 'bad_json');
  dev.send({ type: 'launch' });
  assert.equal((await dev.next('error', () => true, T)).field, 'type');

  dev.send({ type: 'samples', samples: [{ seq: 8, code: '8867-4', value: 74, unit: '/min', time: t }] });
  await dev.next('ack', (f) => f.seq === 8, T);
  const stored = observationsOf(b.patient).map((o) => o.identifier[0].value).sort();
  assert.deepEqual(stored, ['cuff-1/0', 'cuff-1/6', 'cuff-1/8']);
  assert.equal(observationsOf(b.patient).find((o) => o.identifier[0].value === 'cuff-1/6')!.valueQuantity.value, 71, 'the first seq 6 counts; the second is refused');
});

test('a device that reconnects and resends leaves no duplicate', { timeout: 4 * T }, async () => {
  const b = await book();
  const first = await device(b, 'patch-1');
  const sent = 120;
  for (let k = 0; k < sent; k += 6) first.client.send({ type: 'samples', samples: frame(k) });
  await first.client.next('ack', (f) => f.seq >= 11, T);
  first.client.ws.terminate(); // mid-stream: some frames may be in flight, unacknowledged

  const second = await device(b, 'patch-1');
  const acked = second.welcome.acked as number;
  assert.ok(acked >= 11 && acked <= sent - 1);
  // a careless device resends everything it has, acknowledged or not
  for (let k = 0; k < sent; k += 6) second.client.send({ type: 'samples', samples: frame(k) });
  await second.client.next('ack', (f) => f.seq === sent - 1, T);
  assert.equal(second.client.all('error').length, 0, 'resends are not errors');

  // and once more over HTTP (a device falling back to the batch POST)
  const principal = await node.auth.authenticate(`Bearer ${await token(b.patient)}`);
  const again = await vitals.ingestBatch(principal, { device: 'patch-1', samples: frame(0) });
  assert.equal(again.status, 200);
  assert.deepEqual({ ...(again.body as Any), errors: undefined }, { acked: sent - 1, stored: 0, duplicates: 6, errors: undefined });

  const ids = observationsOf(b.patient).map((o) => o.identifier[0].value);
  assert.equal(ids.length, sent);
  assert.equal(new Set(ids).size, sent);

  // a second socket for the same device replaces the first
  const third = await device(b, 'patch-1');
  assert.equal(third.welcome.acked, sent - 1);
  await assert.rejects(second.client.next('never', () => true, T), /closed \(4409/);
});

test('the policy decides: a patient streams only for themself, only admitted clinicians watch, a refusal at a re-decision ends the stream', { timeout: 4 * T }, async () => {
  const b = await book();
  const other = await book();
  // a patient claiming another patient
  const { client } = await VitalsClient.connect(wsVitals, await token(b.patient));
  clients.push(client);
  const bad = new VitalsClient(wsVitals);
  clients.push(bad);
  await bad.opened;
  bad.send({ type: 'hello', token: await token(b.patient), device: 'x', patient: other.patient });
  assert.equal((await bad.next('error', () => true, T)).field, 'patient');
  // a clinician not in the call (the call has not started)
  const doc = (await VitalsClient.connect(wsVitals, await token(b.clinician))).client;
  clients.push(doc);
  doc.send({ type: 'subscribe', appointmentId: b.id });
  const refused = await doc.next('error', () => true, T);
  assert.equal(refused.code, 'subscribe_refused');
  // samples before hello
  const anon = new VitalsClient(wsVitals);
  clients.push(anon);
  await anon.opened;
  anon.send({ type: 'samples', samples: frame(0) });
  assert.equal((await anon.next('error', () => true, T)).code, 'unauthenticated');

  // the call starts; the stream is decided again; a refusal then closes it
  const dev = await device(b, 'oxi-9');
  override = (input) => (input.patient?.id === b.patient ? { allow: false, reason: 'no_consent' } : undefined);
  try {
    await enterCall(b);
    const e = await dev.client.next('error', (f) => f.code === 'stream_refused', T);
    assert.equal(e.reason, 'no_consent');
    await assert.rejects(dev.client.next('never', () => true, T), /closed \(4403/);
  } finally {
    override = undefined;
  }
});

test('a Consent revoked or deleted through /fhir ends the patient\'s streams at once, with the reason, and the clinician\'s feed stops', { timeout: 4 * T }, async () => {
  for (const how of ['revoke', 'delete'] as const) {
    const b = await book();
    await enterCall(b);
    const doc = await watcher(b);
    const { client: dev } = await device(b, `consent-${how}`);
    dev.send({ type: 'samples', samples: frame(0) });
    await dev.next('ack', (f) => f.seq === 5, T);
    await doc.next('vitals', (f) => f.samples.at(-1).seq === 5, T);
    const before = observationsOf(b.patient).length;

    const consentId = `consent-${b.patient.split('-')[1]}`;
    const current = await fhirGet(`Consent/${consentId}`, b.clinician);
    assert.equal(current.status, 200);
    const res = how === 'revoke'
      ? await fetch(`${node.url}/fhir/Consent/${consentId}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${await token(b.clinician)}`, 'content-type': 'application/fhir+json' },
        body: JSON.stringify({ ...current.body, status: 'inactive' }),
      })
      : await fetch(`${node.url}/fhir/Consent/${consentId}`, { method: 'DELETE', headers: { authorization: `Bearer ${await token(b.clinician)}` } });
    assert.ok(res.status < 300, `the consent write is accepted (${res.status})`);
    await res.arrayBuffer();

    // the device is told why and closed; what it sends now is not stored
    dev.send({ type: 'samples', samples: frame(6) });
    const e = await dev.next('error', (f) => f.code === 'stream_refused', T);
    assert.equal(typeof e.reason, 'string');
    assert.ok(e.reason.length > 0, 'the error frame names the reason');
    await assert.rejects(dev.next('never', () => true, T), /closed \(4403/);
    // the clinician heard it before anything they send after the write: it came with the write, not with the minute's re-decision
    doc.send({ type: 'ping', ref: 'after-consent' });
    const order = await doc.next('pong', (f) => f.ref === 'after-consent', T);
    const idx = (f: Frame) => doc.received.indexOf(f);
    const gone = doc.received.find((f) => f.type === 'unsubscribed' && f.appointmentId === b.id);
    assert.ok(gone, 'the clinician is unsubscribed');
    assert.equal(gone.reason, e.reason);
    assert.ok(idx(gone) < idx(order), 'unsubscribed arrived before the pong of a ping sent after the write');
    assert.ok(!doc.received.some((f) => f.type === 'vitals' && f.samples.some((x: Any) => x.seq >= 6)), 'no sample after the revocation reached the clinician');
    assert.equal(observationsOf(b.patient).length, before, 'nothing after the revocation is stored');

    // a new stream is refused while there is no consent
    const again = new VitalsClient(wsVitals);
    clients.push(again);
    await again.opened;
    again.send({ type: 'hello', token: await token(b.patient), device: `consent-${how}` });
    assert.equal((await again.next('error', () => true, T)).code, 'stream_refused');
  }
});

test('a deterioration raises alert frames to the clinician and FHIR Flags', { timeout: 4 * T }, async () => {
  const b = await book();
  await enterCall(b);
  const doc = await watcher(b);
  const { client: dev } = await device(b, 'monitor-1');
  dev.send({ type: 'samples', samples: frame(0) });
  await dev.next('ack', (f) => f.seq === 5, T);
  const t = new Date().toISOString();
  dev.send({ type: 'samples', samples: [
    { seq: 6, code: '8867-4', value: 135, unit: '/min', time: t },
    { seq: 7, code: '2708-6', value: 89, unit: '%', time: t },
    { seq: 8, code: '9279-1', value: 26, unit: '/min', time: t },
  ] });
  const hr = await doc.next('alert', (f) => f.rule === 'heart-rate-high', T);
  assert.equal(hr.value, 135);
  assert.match(hr.flag, /^Flag\//);
  await doc.next('alert', (f) => f.rule === 'spo2-low', T);
  const score = await doc.next('alert', (f) => f.rule === 'news2', T);
  assert.ok(score.score >= 7, `NEWS2 ${score.score}`);
  assert.equal(score.risk, 'high');
  const flag = await fhirGet(score.flag, b.clinician);
  assert.equal(flag.status, 200);
  assert.equal(flag.body.subject.reference, b.patient);
  assert.equal(flag.body.status, 'active');
  // the same crossing again raises nothing new
  dev.send({ type: 'samples', samples: [{ seq: 9, code: '8867-4', value: 138, unit: '/min', time: t }] });
  await dev.next('ack', (f) => f.seq === 9, T);
  await doc.next('vitals', (f) => f.samples.some((s: Any) => s.seq === 9), T);
  assert.equal(doc.all('alert').filter((f) => f.rule === 'heart-rate-high').length, 1);
  // back in range: the alert clears and its Flag becomes inactive
  dev.send({ type: 'samples', samples: [{ seq: 10, code: '8867-4', value: 88, unit: '/min', time: t }] });
  const cleared = await doc.next('alert', (f) => f.rule === 'heart-rate-high' && f.cleared === true, T);
  assert.equal(cleared.flag, hr.flag);
  const inactive = await fhirGet(hr.flag, b.clinician);
  assert.equal(inactive.body.status, 'inactive');
  assert.ok(inactive.body.period.end);
});

test('a regular series of one code in a frame is one SampledData Observation; an irregular one stays reading by reading', { timeout: 4 * T }, async () => {
  const b = await book();
  const { client: dev } = await device(b, 'watch-1');
  const t0 = Date.now() - 10_000;
  dev.send({ type: 'samples', samples: [
    ...Array.from({ length: 10 }, (_, i) => ({ seq: i, code: '8867-4', value: 70 + i, unit: '/min', time: t0 + i * 1000 })),
    { seq: 10, code: '2708-6', value: 96, unit: '%', time: t0 },
    { seq: 11, code: '2708-6', value: 97, unit: '%', time: t0 + 100 },
    { seq: 12, code: '2708-6', value: 98, unit: '%', time: t0 + 5000 },
  ] });
  await dev.next('ack', (f) => f.seq === 12, T);
  const stored = observationsOf(b.patient);
  const hrs = stored.filter((o) => o.code.coding[0].code === '8867-4');
  assert.equal(hrs.length, 1);
  const hr = hrs[0]!;
  assert.equal(hr.valueSampledData.data, '70 71 72 73 74 75 76 77 78 79');
  assert.equal(hr.valueSampledData.period, 1000);
  assert.equal(hr.identifier[0].value, 'watch-1/0..9');
  assert.equal(hr.effectivePeriod.start, new Date(t0).toISOString());
  const validator: ResourceValidator = new ResourceValidator();
  validator.assertValid(hr as never);
  assert.deepEqual(stored.filter((o) => o.code.coding[0].code === '2708-6').map((o) => o.valueQuantity.value).sort(), [96, 97, 98]);
  const found = await fhirGet(`Observation?subject=${b.patient}&code=http://loinc.org|8867-4`, b.clinician);
  assert.equal(found.body.entry.length, 1);
});

test('POST /api/vitals (ingestBatch): the same checks and dedupe, answered after the commit', { timeout: 4 * T }, async () => {
  const b = await book();
  const patient = await node.auth.authenticate(`Bearer ${await token(b.patient)}`);
  const clinician = await node.auth.authenticate(`Bearer ${await token(b.clinician)}`);
  const t = new Date().toISOString();
  const bad = await vitals.ingestBatch(patient, { device: 'cuff-http' });
  assert.equal(bad.status, 400);
  assert.equal((bad.body as Any).error.field, 'samples');
  assert.equal((await vitals.ingestBatch(clinician, { device: 'cuff-http', samples: frame(0) })).status, 400, 'a clinician names the patient');
  const ok = await vitals.ingestBatch(clinician, { device: 'cuff-http', patient: b.patient, samples: [
    { seq: 0, code: '85354-9', systolic: 130, diastolic: 85, unit: 'mm[Hg]', time: t },
    { seq: 1, code: '8310-5', value: 99.1, unit: '[degF]', time: t },
    { seq: 2, code: '8310-5', value: 37.2, unit: 'mm[Hg]', time: t },
  ] });
  assert.equal(ok.status, 200);
  const body = ok.body as Any;
  assert.equal(body.acked, 1);
  assert.equal(body.stored, 2);
  assert.deepEqual(body.errors.map((e: Any) => e.field), ['samples[2].unit']);
  assert.equal(observationsOf(b.patient).length, 2);
  // the batch is in the audit trail: an AuditEvent naming the device and the patient
  const audit = await node.fhir.handle({
    method: 'GET', path: '/AuditEvent', query: [['patient', b.patient], ['agent', 'Device/cuff-http']], headers: {},
    principal: { id: b.clinician, role: 'authorized_medical_staff' }, baseUrl: 'http://node/fhir',
  });
  assert.equal(audit.status, 200);
  const events = ((audit.body as Any).entry ?? []).map((e: Any) => e.resource);
  assert.equal(events.length, 1, 'one AuditEvent for the batch');
  assert.equal(events[0].action, 'C');
  assert.ok(!JSON.stringify(events[0]).includes('37.2'), 'no clinical values in the audit trail');
  override = () => ({ allow: false, reason: 'role_not_allowed' });
  try {
    const refused = await vitals.ingestBatch(patient, { device: 'cuff-http', samples: frame(10) });
    assert.equal(refused.status, 403);
    assert.equal((refused.body as Any).error.reason, 'role_not_allowed');
  } finally {
    override = undefined;
  }
  assert.equal(observationsOf(b.patient).length, 2, 'nothing stored when refused');
});

test('NEWS2 runs as the news2 function when one is given, in TypeScript when it fails; fan-out after the commit when asked', { timeout: 4 * T }, async () => {
  const calls: Any[] = [];
  let failing = false;
  const functions = {
    async call(_caller: { id: string; role: string }, name: string, input: unknown) {
      calls.push({ name, input });
      if (failing) throw Object.assign(new Error('not registered'), { code: 'FN_ERR_NOT_FOUND' });
      return { output: { score: 9, risk: 'high', redScore: true } };
    },
  };
  const extra = createVitalsService({
    store: node.store, fhir: node.fhir, auth: node.auth, policy: () => node.policy.current(), logger: createLogger({ level: 'silent' }),
    registry: new Registry(), consult: node.consult, functions, news2IntervalMs: 0, fanOut: 'committed', path: '/ws/vitals-fn',
  });
  node.upgrades.add(extra);
  try {
    const url = `${node.url.replace('http', 'ws')}/ws/vitals-fn`;
    const b = await book();
    await enterCall(b);
    const doc = (await VitalsClient.connect(url, await token(b.clinician))).client;
    const dev = (await VitalsClient.connect(url, await token(b.patient), { device: 'fn-1' })).client;
    clients.push(doc, dev);
    doc.send({ type: 'subscribe', appointmentId: b.id });
    await doc.next('subscribed', () => true, T);
    dev.send({ type: 'samples', samples: frame(0) });
    const v = await doc.next('vitals', () => true, T);
    assert.equal(v.samples.length, 6);
    const alert = await doc.next('alert', (f) => f.rule === 'news2', T);
    assert.equal(alert.score, 9, 'the function\'s score');
    assert.equal(calls[0]!.name, 'news2');
    assert.deepEqual(Object.keys(calls[0]!.input).sort(), ['consciousness', 'heartRate', 'onOxygen', 'respiratoryRate', 'spo2', 'systolicBP', 'temperature']);

    // the function fails: the TypeScript chart scores (a normal set: no alert, but a score was made)
    failing = true;
    const before = calls.length;
    dev.send({ type: 'samples', samples: frame(6) });
    await dev.next('ack', (f) => f.seq === 11, T);
    await doc.next('vitals', (f) => f.samples.some((s: Any) => s.seq === 11), T);
    for (let i = 0; i < 50 && calls.length === before; i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(calls.length > before, 'asked the function again');
    assert.equal(doc.all('alert').filter((f) => f.rule === 'news2').length, 1);
  } finally {
    await extra.close();
  }
});
