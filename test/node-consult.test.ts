/**
 * The node itself serves consultations: `telemed-edge node` answers the
 * signaling socket at /ws/consult and the join-info route, with the policy
 * in force deciding every join; upgrades to any other path are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { SignalingClient } from '../src/consult/index.ts';
import { VitalsClient } from '../src/vitals/index.ts';
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

/** Sends a WebSocket upgrade request for `target` on a raw socket; resolves with all the node wrote once it closed the socket. */
function rawUpgrade(port: number, target: string, opts: { abort?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', (err) => (opts.abort ? resolve(text) : reject(err)));
    socket.on('close', () => resolve(text));
    socket.write(
      `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      () => {
        if (opts.abort) socket.resetAndDestroy();
      },
    );
  });
}

test('an upgrade to a path no service serves gets 404 and is closed; the node keeps serving its sockets', async (t) => {
  const node = await startNode();
  t.after(async () => {
    await node.stop();
    await removeDir(node.dataDir);
  });
  for (const target of ['/ws/nope', '/ws/consult/extra', '/ws/CONSULT', '/fhir/Patient', '/']) {
    const answer = await rawUpgrade(node.port, target);
    assert.match(answer, /^HTTP\/1\.1 404 Not Found\r\n/, `${target}: ${JSON.stringify(answer.slice(0, 60))}`);
  }
  // A target that is no URL at all gets 400.
  assert.match(await rawUpgrade(node.port, '//[bad'), /^HTTP\/1\.1 400 Bad Request\r\n/);
  // Clients that give up mid-request (reset) do not take the node down.
  for (let i = 0; i < 20; i++) await rawUpgrade(node.port, '/ws/nope', { abort: true });

  assert.equal((await call(`${node.url}/healthz`)).status, 200);
  const ws = node.url.replace('http', 'ws');
  const patient = await SignalingClient.connect(`${ws}/ws/consult?x=1`, await node.token('patient', DEMO_PATIENT));
  patient.close();
  const watcher = await VitalsClient.connect(`${ws}/ws/vitals`, await node.token('authorized_medical_staff', CLINICIAN));
  watcher.client.close();
  assert.equal(node.child.exitCode, null, 'the node is still running');
  assert.doesNotMatch(node.stderr(), /uncaught|ERR_/i);
});
