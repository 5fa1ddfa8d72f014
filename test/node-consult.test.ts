/**
 * The node itself serves consultations: `telemed-edge node` answers the
 * signaling socket at /ws/consult and the join-info route, with the policy
 * in force deciding every join.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignalingClient } from '../src/consult/index.ts';
import { call, CLINICIAN, DEMO_PATIENT, removeDir, startNode } from './helpers/node.ts';

/** Generous: the test machines are small and shared. */
const T = 30_000;

test('the demo consultation: waiting room, admit, relay, end', async (t) => {
  const node = await startNode();
  t.after(async () => {
    await node.stop();
    await removeDir(node.dataDir);
  });
  const clinicianToken = await node.token('authorized_medical_staff', CLINICIAN);
  const patientToken = await node.token('patient', DEMO_PATIENT);
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  const appointmentId = `demo-appointment-${day}`;

  const info = await call(`${node.url}/api/consult/${appointmentId}`, { token: patientToken });
  assert.equal(info.status, 200);
  assert.equal(info.body.canJoin, true);
  assert.equal((await call(`${node.url}/api/consult/${appointmentId}`)).status, 401);
  const stranger = await node.token('patient', 'Patient/someone-else');
  assert.equal((await call(`${node.url}/api/consult/${appointmentId}`, { token: stranger })).status, 404);

  const ws = node.url.replace('http', 'ws') + '/ws/consult';
  const doctor = await SignalingClient.connect(ws, clinicianToken);
  const patient = await SignalingClient.connect(ws, patientToken);
  t.after(() => {
    doctor.close();
    patient.close();
  });
  doctor.send({ v: 1, type: 'join', appointmentId });
  await doctor.next('admitted', () => true, T);
  patient.send({ v: 1, type: 'join', appointmentId });
  const waiting = await patient.next('waiting', () => true, T);
  const lobby = await doctor.next('lobby', (f) => f.waiting.length === 1, T);
  assert.equal(lobby.waiting[0].seat, waiting.seat);
  doctor.send({ v: 1, type: 'admit', appointmentId, seat: waiting.seat });
  await patient.next('admitted', () => true, T);
  await doctor.next('peer-joined', () => true, T);
  doctor.send({ v: 1, type: 'offer', appointmentId, sdp: 'v=0 fake offer' });
  const offer = await patient.next('offer', () => true, T);
  assert.equal(offer.sdp, 'v=0 fake offer');
  doctor.send({ v: 1, type: 'end', appointmentId });
  const ended = await patient.next('ended', () => true, T);
  assert.ok(ended.encounter, 'the call produced an Encounter');
  const ref = String(ended.encounter).includes("/") ? ended.encounter : `Encounter/${ended.encounter}`;
  const enc = await call(`${node.fhirBase}/${ref}`, { token: clinicianToken });
  assert.equal(enc.status, 200);
  assert.equal(enc.body.status, 'finished');
  assert.ok(enc.body.period?.start && enc.body.period?.end);
});
