/**
 * `telemed-edge links <appointment>`: each participant of a booked consultation
 * gets a join link whose token signs them in as themselves, and nobody else.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, CLINICIAN, DEMO_PATIENT, removeDir, runCli, startNode } from './helpers/node.ts';

test('links prints a patient link and a clinician link that open that consultation as those two', async (t) => {
  const node = await startNode();
  t.after(async () => {
    await node.stop();
    await removeDir(node.dataDir);
  });
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  const appointmentId = `demo-appointment-${day}`;
  const env = { TELEMED_DATA_DIR: node.dataDir, TELEMED_PUBLIC_URL: node.url };

  const out = await runCli(['links', appointmentId], env);
  assert.equal(out.code, 0, out.stderr);
  const urls = [...out.stdout.matchAll(/(http:\/\/\S+)/g)].map((m) => new URL(m[1]!));
  assert.equal(urls.length, 2, out.stdout);
  const patientUrl = urls.find((u) => u.pathname === `/join/${appointmentId}`);
  const clinicianUrl = urls.find((u) => u.pathname === `/call/${appointmentId}`);
  assert.ok(patientUrl && clinicianUrl, out.stdout);

  for (const [u, id, role] of [[patientUrl, DEMO_PATIENT, 'patient'], [clinicianUrl, CLINICIAN, 'authorized_medical_staff']] as const) {
    const token = new URLSearchParams(u.hash.slice(1)).get('token')!;
    assert.deepEqual((await call(`${node.url}/api/me`, { token })).body, { id, role });
    const info = await call(`${node.url}/api/consult/${appointmentId}`, { token });
    assert.equal(info.status, 200);
    assert.equal(info.body.canJoin, true);
    assert.equal((await fetch(u.origin + u.pathname)).status, 200, 'the page itself is served');
  }
});

test('links names what is wrong: an unknown appointment, no id, no database', async (t) => {
  const node = await startNode();
  t.after(async () => {
    await node.stop();
    await removeDir(node.dataDir);
  });
  const unknown = await runCli(['links', 'no-such-appointment'], { TELEMED_DATA_DIR: node.dataDir });
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /Appointment\/no-such-appointment is not on this node/);
  const none = await runCli(['links'], { TELEMED_DATA_DIR: node.dataDir });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /give the Appointment id/);
  const empty = await runCli(['links', 'x'], { TELEMED_DATA_DIR: `${node.dataDir}-missing` });
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /no node database/);
});
