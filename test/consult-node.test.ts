/**
 * The consultation service as the node wires it: signaling on `/ws/consult`
 * decided by the node's policy in force (the shipped Rego bundle), join info
 * over HTTP at GET /api/consult/:appointmentId, the demo appointment joinable
 * out of the box, and the service's metrics on the node's /metrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConsultHarness } from './consult-harness.ts';

describe('consultations as wired in the node', () => {
  let h: ConsultHarness;
  let url: string;

  before(async () => {
    h = await ConsultHarness.start('consult-aside');
    url = `${h.node.url.replace('http', 'ws')}/ws/consult`;
  });

  after(async () => {
    await h?.close();
  });

  const info = async (appointmentId: string, token?: string) => {
    const res = await fetch(`${h.node.url}/api/consult/${appointmentId}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  test('the demo appointment: join info over HTTP, then waiting room, admit and call on /ws/consult under the Rego policy', async () => {
    const appointmentId = h.node.demoAppointment!;
    const patientToken = await h.node.auth.mint('Patient/demo-patient', 'patient');
    const seen = await info(appointmentId, patientToken);
    assert.equal(seen.status, 200);
    assert.deepEqual([seen.body.role, seen.body.canJoin, seen.body.signaling.path], ['patient', true, '/ws/consult']);
    assert.equal((await info(appointmentId)).status, 401);

    const { doc, pat, patAdmitted } = await h.enterCall({ id: appointmentId, clinician: 'Practitioner/demo-clinician', patient: 'Patient/demo-patient' }, url);
    assert.ok(patAdmitted.encounter);
    doc.send({ type: 'offer', appointmentId, sdp: 'v=0 wired' });
    assert.equal((await pat.next('offer')).sdp, 'v=0 wired');
    const metrics = await (await fetch(`${h.node.url}/metrics`)).text();
    assert.match(metrics, /consult_joins_total\{role="patient",outcome="admitted"\} 1/);
    assert.match(metrics, /policy_decisions_total\{action="video_call",allow="true"\}/);
  });

  test('the Rego policy refuses a patient without consent, and a stranger gets 404 from join info', async () => {
    const a = await h.book({ consent: false });
    const other = await h.book();
    const pat = await h.connect(a.patient, url);
    const refused = await h.refusal(pat, a.id);
    assert.equal(refused.reason, 'no_consent');
    await pat.roundTrip();
    assert.equal(pat.pending('waiting').length, 0);
    const stranger = await h.node.auth.mint(other.patient, 'patient');
    assert.equal((await info(a.id, stranger)).status, 404);
    const own = await info(a.id, await h.node.auth.mint(a.patient, 'patient'));
    assert.deepEqual([own.status, own.body.canJoin, own.body.reason], [200, false, refused.reason]);
  });
});
