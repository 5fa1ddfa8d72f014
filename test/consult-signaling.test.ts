/**
 * Video consultation signaling against a node started in-process: the
 * waiting room, admission by the policy, relaying only within a room, chat as
 * Communication, document share, refusals with their reasons, resume after a
 * drop, call quality, and the end of the call finishing the Encounter.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { turnCredential, type CallSummary } from '../src/consult/index.ts';
import { createBuiltinPolicy, type PolicyEngine, type PolicyInput } from '../src/policy/index.ts';
import { ConsultHarness, type Any } from './consult-harness.ts';

const TURN_SECRET = 'test-turn-secret-0123456789';
const PATH = '/ws/consult-test';

describe('consultation signaling', () => {
  let h: ConsultHarness;
  const summaries: CallSummary[] = [];
  const events: string[] = [];

  before(async () => {
    h = await ConsultHarness.start('consult-test', {
      turn: { urls: 'turn:127.0.0.1:3478?transport=udp', secret: TURN_SECRET },
      limits: { burst: 30, perSecond: 15 },
    });
    h.consult.on('call-ended', (e) => summaries.push(e.summary));
    h.consult.on('call-started', (e) => events.push(`started ${e.appointmentId} ${e.encounter}`));
    h.consult.on('admitted', (e) => events.push(`admitted ${e.appointmentId} ${e.role}${e.resumed ? ' resumed' : ''}`));
    h.consult.on('left', (e) => events.push(`left ${e.appointmentId} ${e.role} ${e.reason}`));
    h.consult.on('admitted', () => { throw new Error('a faulty listener'); });
  });

  after(async () => {
    await h?.close();
  });

  test('the patient waits, the clinician sees who waits and admits; the call starts an in-progress virtual Encounter', async () => {
    const a = await h.book();
    const doc = await h.connect(a.clinician);
    doc.send({ type: 'join', appointmentId: a.id, ref: 'j1' });
    const docAdmitted = await doc.next('admitted');
    assert.equal(docAdmitted.ref, 'j1');
    assert.deepEqual(docAdmitted.peers, []);
    assert.deepEqual((await doc.next('lobby')).waiting, []);

    const pat = await h.connect(a.patient);
    pat.send({ type: 'join', appointmentId: a.id });
    const waiting = await pat.next('waiting');
    const lobby = await doc.next('lobby', (f) => f.waiting.length === 1);
    assert.equal(lobby.waiting[0].seat, waiting.seat);
    assert.equal(lobby.waiting[0].user, a.patient);

    // Waiting is not admitted: nothing reaches the clinician, and no Encounter exists yet.
    pat.send({ type: 'offer', appointmentId: a.id, sdp: 'v=0 early' });
    assert.equal((await pat.next('error')).code, 'not_admitted');
    await doc.roundTrip();
    assert.equal(doc.pending('offer').length, 0);
    assert.equal(pat.pending('admitted').length, 0);

    doc.send({ type: 'admit', appointmentId: a.id, seat: waiting.seat });
    const admitted = await pat.next('admitted');
    assert.equal(admitted.seat, waiting.seat);
    assert.deepEqual(admitted.peers.map((p: Any) => [p.seat, p.role]), [[docAdmitted.seat, 'clinician']]);
    const joined = await doc.next('peer-joined');
    assert.equal(joined.peer.seat, waiting.seat);
    assert.deepEqual((await doc.next('lobby')).waiting, []);

    const enc = h.node.fhir.repo.current('Encounter', admitted.encounter)?.resource as Any;
    assert.equal(enc.status, 'in-progress');
    assert.deepEqual(enc.class, { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR', display: 'virtual' });
    assert.equal(enc.subject.reference, a.patient);
    assert.deepEqual(enc.appointment, [{ reference: `Appointment/${a.id}` }]);
    assert.ok(Date.parse(enc.period.start) > 0);
    assert.equal(enc.period.end, undefined);
  });

  test("a clinician watches an appointment's waiting room without a seat; patients and strangers may not", async () => {
    const a = await h.book();
    const dash = await h.connect(a.clinician);
    dash.send({ type: 'watch', appointmentId: a.id, ref: 'w1' });
    const first = await dash.next('lobby');
    assert.deepEqual([first.ref, first.waiting], ['w1', []]);
    const pat = await h.connect(a.patient);
    pat.send({ type: 'join', appointmentId: a.id });
    const { seat } = await pat.next('waiting');
    const seen = await dash.next('lobby', (f) => f.waiting.length === 1);
    assert.equal(seen.waiting[0].seat, seat);
    // From the dashboard to the call: the same socket joins and admits.
    dash.send({ type: 'join', appointmentId: a.id });
    await dash.next('admitted');
    dash.send({ type: 'admit', appointmentId: a.id, seat });
    await pat.next('admitted');
    dash.send({ type: 'end', appointmentId: a.id });
    await dash.next('ended');
    await pat.next('ended');

    const b = await h.book();
    pat.send({ type: 'watch', appointmentId: b.id });
    assert.equal((await pat.next('error')).code, 'forbidden');
    const stranger = await h.connect(b.clinician);
    stranger.send({ type: 'watch', appointmentId: a.id });
    assert.equal((await stranger.next('error')).reason, 'not_a_participant');
    // Unwatched: the waiting room of b no longer reaches the socket.
    stranger.send({ type: 'watch', appointmentId: b.id });
    await stranger.next('lobby');
    stranger.send({ type: 'unwatch', appointmentId: b.id });
    await stranger.roundTrip();
    const other = await h.connect(b.patient);
    other.send({ type: 'join', appointmentId: b.id });
    await other.next('waiting');
    await stranger.roundTrip();
    assert.equal(stranger.pending('lobby').length, 0);
  });

  test('every join asks the policy video_call with exactly the input of ARCHITECTURE.md', async () => {
    const inputs: PolicyInput[] = [];
    const builtin = createBuiltinPolicy();
    const spy: PolicyEngine = { revision: 'spy', decide: (input) => { inputs.push(structuredClone(input)); return builtin.decide(input); } };
    const { url } = h.extraService('consult-spy', { policy: () => spy });
    const a = await h.book();
    const noConsent = await h.book({ consent: false });
    const appt = (id: string) => ({ type: 'Appointment', id });
    await h.enterCall(a, url);
    await h.refusal(await h.connect(noConsent.patient, url), noConsent.id);
    assert.deepEqual(inputs, [
      { action: 'video_call', user: { id: a.clinician, role: 'authorized_medical_staff' }, patient: { id: a.patient, consent: true }, data_stays_local: true, destination: 'local', resource: appt(a.id) },
      { action: 'video_call', user: { id: a.patient, role: 'patient' }, patient: { id: a.patient, consent: true }, data_stays_local: true, destination: 'local', resource: appt(a.id) },
      // The admit decides for the waiting patient again.
      { action: 'video_call', user: { id: a.patient, role: 'patient' }, patient: { id: a.patient, consent: true }, data_stays_local: true, destination: 'local', resource: appt(a.id) },
      { action: 'video_call', user: { id: noConsent.patient, role: 'patient' }, patient: { id: noConsent.patient, consent: false }, data_stays_local: true, destination: 'local', resource: appt(noConsent.id) },
    ]);
  });

  test('each participant gets STUN and TURN with coturn REST credentials bound to its seat', async () => {
    const { patAdmitted } = await h.enterCall(await h.book());
    const [stun, turn] = patAdmitted.iceServers as [Any, Any];
    assert.deepEqual(stun.urls, ['stun:127.0.0.1:3478']);
    const [expiry, tag] = turn.username.split(':');
    assert.equal(tag, patAdmitted.seat);
    assert.ok(Number(expiry) > Date.now() / 1000);
    assert.equal(turn.credential, turnCredential(TURN_SECRET, tag, Number(expiry)).credential);
  });

  test('offer, answer and candidates are relayed only between the admitted seats of one room', async () => {
    const one = await h.enterCall(await h.book());
    const two = await h.enterCall(await h.book());
    const id1 = one.doc === undefined ? '' : (one.patAdmitted.appointmentId as string);

    one.doc.send({ type: 'offer', appointmentId: id1, sdp: 'v=0 offer-1' });
    const offer = await one.pat.next('offer');
    assert.deepEqual([offer.from, offer.sdp], [one.docSeat, 'v=0 offer-1']);
    one.pat.send({ type: 'answer', appointmentId: id1, to: one.docSeat, sdp: 'v=0 answer-1' });
    assert.equal((await one.doc.next('answer')).sdp, 'v=0 answer-1');
    const cand = { candidate: 'candidate:1 1 udp 2122260223 10.0.0.2 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 };
    one.pat.send({ type: 'candidate', appointmentId: id1, candidate: cand });
    assert.deepEqual((await one.doc.next('candidate')).candidate, cand);
    one.doc.send({ type: 'candidate', appointmentId: id1, candidate: null });
    assert.equal((await one.pat.next('candidate')).candidate, null);

    // The other room's people cannot reach into room one, by room or by seat.
    two.doc.send({ type: 'offer', appointmentId: id1, sdp: 'v=0 intruder' });
    assert.equal((await two.doc.next('error')).code, 'not_in_room');
    two.doc.send({ type: 'offer', appointmentId: two.patAdmitted.appointmentId, to: one.patSeat, sdp: 'v=0 intruder' });
    assert.equal((await two.doc.next('error')).code, 'unknown_participant');
    for (const c of [one.doc, one.pat, two.doc, two.pat]) await c.roundTrip();
    assert.equal(one.pat.pending('offer').length, 0);
    assert.equal(two.pat.pending('offer').length, 0);
    assert.equal(two.doc.pending('answer').length + two.doc.pending('candidate').length, 0);
  });

  test("a seat's camera and microphone state reaches the other seat of its room only; not while waiting", async () => {
    const a = await h.book();
    const one = await h.enterCall(a);
    const two = await h.enterCall(await h.book());
    one.pat.send({ type: 'media', appointmentId: a.id, audio: true, video: false });
    const got = await one.doc.next('media');
    assert.deepEqual([got.appointmentId, got.from, got.audio, got.video], [a.id, one.patSeat, true, false]);
    two.doc.send({ type: 'media', appointmentId: a.id, audio: false, video: false });
    assert.equal((await two.doc.next('error')).code, 'not_in_room');
    one.pat.send({ type: 'media', appointmentId: a.id, audio: 'off', video: false });
    assert.equal((await one.pat.next('error')).code, 'bad_frame');
    for (const c of [one.doc, one.pat, two.doc, two.pat]) await c.roundTrip();
    assert.equal(one.pat.pending('media').length, 0, 'the sender is not told its own state');
    assert.equal(one.doc.pending('media').length, 0, 'only the one valid frame was relayed');
    assert.equal(two.pat.pending('media').length, 0);

    const w = await h.book();
    const { pat, doc } = await h.openWaitingRoom(w);
    pat.send({ type: 'media', appointmentId: w.id, audio: false, video: true });
    assert.equal((await pat.next('error')).code, 'not_admitted');
    await doc.roundTrip();
    assert.equal(doc.pending('media').length, 0);
  });

  test('chat is kept as a Communication before it is delivered, and its text never reaches the logs', async () => {
    const a = await h.book();
    const { doc, pat, patSeat, patAdmitted } = await h.enterCall(a);
    const text = `chest pain since Tuesday ${randomUUID()}`;
    pat.send({ type: 'chat', appointmentId: a.id, text, ref: 'c1' });
    const mine = await pat.next('chat');
    const theirs = await doc.next('chat');
    assert.equal(mine.ref, 'c1');
    assert.deepEqual([theirs.from, theirs.user, theirs.text, theirs.id], [patSeat, a.patient, text, mine.id]);
    const comm = h.node.fhir.repo.current('Communication', mine.id)?.resource as Any;
    assert.equal(comm.status, 'completed');
    assert.equal(comm.payload[0].contentString, text);
    assert.equal(comm.sender.reference, a.patient);
    assert.equal(comm.subject.reference, a.patient);
    assert.deepEqual(comm.recipient, [{ reference: a.clinician }]);
    assert.equal(comm.encounter.reference, `Encounter/${patAdmitted.encounter}`);
    assert.ok(!h.logLines.some((l) => l.includes(text.slice(-36))), 'chat text leaked into the logs');
  });

  test("a DocumentReference of the call's patient is shared with the room; another patient's is unknown", async () => {
    const a = await h.book();
    const other = await h.book();
    const { doc, pat, docSeat } = await h.enterCall(a);
    const mine = `docref-${randomUUID().slice(0, 8)}`;
    const theirs = `docref-${randomUUID().slice(0, 8)}`;
    for (const [id, patient] of [[mine, a.patient], [theirs, other.patient]] as const) {
      await h.node.fhir.putAsSystem({ resourceType: 'DocumentReference', id, status: 'current', subject: { reference: patient }, content: [{ attachment: { contentType: 'application/pdf', title: 'Lab results' } }] });
    }
    doc.send({ type: 'document', appointmentId: a.id, documentReference: mine, ref: 'd1' });
    const shared = await pat.next('document');
    assert.deepEqual([shared.from, shared.id, shared.title, shared.contentType], [docSeat, mine, 'Lab results', 'application/pdf']);
    assert.equal((await doc.next('document')).ref, 'd1');
    doc.send({ type: 'document', appointmentId: a.id, documentReference: theirs });
    assert.equal((await doc.next('error')).code, 'unknown_document');
    await pat.roundTrip();
    assert.equal(pat.pending('document').length, 0);
  });

  test('refused joins get their reason code and no seat: no consent, another appointment, wrong clinician, inactive or unknown appointment', async () => {
    const noConsent = await h.book({ consent: false });
    const pat = await h.connect(noConsent.patient);
    const r1 = await h.refusal(pat, noConsent.id);
    assert.deepEqual([r1.reason, r1.appointmentId], ['no_consent', noConsent.id]);
    const doc = await h.connect(noConsent.clinician);
    assert.equal((await h.refusal(doc, noConsent.id)).reason, 'no_consent');

    const a = await h.book();
    const docA = await h.connect(a.clinician);
    docA.send({ type: 'join', appointmentId: a.id });
    await docA.next('admitted');
    await docA.next('lobby');
    const other = await h.book();
    const stranger = await h.connect(other.patient);
    assert.equal((await h.refusal(stranger, a.id)).reason, 'not_a_participant');
    const otherDoc = await h.connect(other.clinician);
    assert.equal((await h.refusal(otherDoc, a.id)).reason, 'not_a_participant');
    const admin = await h.connect('ops-admin');
    assert.equal((await h.refusal(admin, a.id)).reason, 'not_a_participant');
    assert.equal((await h.refusal(stranger, `nope-${randomUUID().slice(0, 8)}`)).reason, 'appointment_not_found');
    const cancelled = await h.book({ status: 'cancelled' });
    assert.equal((await h.refusal(await h.connect(cancelled.patient), cancelled.id)).reason, 'appointment_not_active');

    // Nobody was seated: the clinician's waiting room never showed anyone, and the sockets still work.
    for (const c of [pat, doc, stranger, otherDoc, admin, docA]) await c.roundTrip();
    assert.equal(docA.pending('lobby').length, 0);
    for (const c of [pat, stranger, otherDoc, admin]) assert.equal(c.pending('admitted').length + c.pending('waiting').length, 0);
    const metrics = await h.registry.getSingleMetricAsString('consult_join_refusals_total');
    assert.match(metrics, /reason="no_consent"\} 2/);
  });

  test('a token without the clinician role cannot admit, not even itself', async () => {
    const a = await h.book();
    const { doc, pat, seat } = await h.openWaitingRoom(a);
    pat.send({ type: 'admit', appointmentId: a.id, seat });
    assert.equal((await pat.next('error')).code, 'forbidden');
    pat.send({ type: 'end', appointmentId: a.id });
    assert.equal((await pat.next('error')).code, 'forbidden');
    await pat.roundTrip();
    assert.equal(pat.pending('admitted').length, 0);
    await doc.roundTrip();
    assert.equal(doc.pending('peer-joined').length, 0);
    assert.equal(h.count('Encounter', 'appointment', `Appointment/${a.id}`), 0);
  });

  test('consent withdrawn while waiting: the admit is refused and the patient is not admitted', async () => {
    const a = await h.book();
    const { doc, pat, seat } = await h.openWaitingRoom(a);
    await h.consentFor(a.patient, 'inactive');
    doc.send({ type: 'admit', appointmentId: a.id, seat });
    const err = await doc.next('error');
    assert.deepEqual([err.code, err.reason], ['join_refused', 'no_consent']);
    assert.equal((await pat.next('error')).reason, 'no_consent');
    await pat.roundTrip();
    assert.equal(pat.pending('admitted').length, 0);
  });

  test('consent withdrawn during the call: the next recheck ends the call and finishes the Encounter', async () => {
    const { service, url } = h.extraService('consult-recheck', { recheckMs: 50 });
    const ended = new Promise<{ reason: string }>((resolve) => service.on('call-ended', resolve));
    const a = await h.book();
    const { doc, pat, patAdmitted } = await h.enterCall(a, url);
    await h.consentFor(a.patient, 'inactive');
    assert.equal((await pat.next('ended')).reason, 'no_consent');
    assert.equal((await doc.next('ended')).reason, 'no_consent');
    assert.equal((await ended).reason, 'no_consent');
    assert.equal((h.node.fhir.repo.current('Encounter', patAdmitted.encounter)?.resource as Any).status, 'finished');
  });

  test('a clinician taken off the appointment during the call loses the seat at the next recheck; the patient stays', async () => {
    const { url } = h.extraService('consult-recheck-one', { recheckMs: 50 });
    const a = await h.book();
    const { doc, pat, docSeat } = await h.enterCall(a, url);
    const { meta: _meta, ...appt } = h.node.fhir.repo.current('Appointment', a.id)!.resource as Any;
    await h.node.fhir.putAsSystem({ ...appt, resourceType: 'Appointment', participant: appt.participant.filter((p: Any) => p.actor.reference !== a.clinician) });
    const err = await doc.next('error');
    assert.deepEqual([err.code, err.reason], ['join_refused', 'not_a_participant']);
    assert.equal((await doc.next('left')).reason, 'refused');
    const gone = await pat.next('peer-left');
    assert.deepEqual([gone.seat, gone.reason], [docSeat, 'refused']);
    await pat.roundTrip();
    assert.equal(pat.pending('ended').length, 0);
  });

  test('a participant who drops resumes the same seat with the resume token; the peer is told to restart ICE', async () => {
    const a = await h.book();
    const { doc, pat, patSeat, patAdmitted } = await h.enterCall(a);
    pat.drop();
    const gone = await doc.next('peer-disconnected');
    assert.equal(gone.seat, patSeat);
    doc.send({ type: 'offer', appointmentId: a.id, sdp: 'v=0 to nobody' });
    assert.equal((await doc.next('error')).code, 'peer_unavailable');

    const wrong = await h.connect(a.patient);
    wrong.send({ type: 'resume', appointmentId: a.id, resumeToken: 'x'.repeat(32) });
    assert.equal((await wrong.next('error')).code, 'resume_failed');

    const back = await h.connect(a.patient);
    back.send({ type: 'resume', appointmentId: a.id, resumeToken: patAdmitted.resumeToken });
    const resumed = await back.next('admitted');
    assert.deepEqual([resumed.seat, resumed.resumed], [patSeat, true]);
    assert.notEqual(resumed.resumeToken, patAdmitted.resumeToken);
    assert.equal((await doc.next('ice-restart')).seat, patSeat);
    doc.send({ type: 'offer', appointmentId: a.id, sdp: 'v=0 restart' });
    assert.equal((await back.next('offer')).sdp, 'v=0 restart');

    // The old token is spent.
    const replay = await h.connect(a.patient);
    replay.send({ type: 'resume', appointmentId: a.id, resumeToken: patAdmitted.resumeToken });
    assert.equal((await replay.next('error')).code, 'resume_failed');
    await back.roundTrip();
    assert.equal(back.pending('left').length, 0);
  });

  test('after the grace period the seat is freed and a resume is refused', async () => {
    const { service: graceful, url } = h.extraService('consult-grace', { graceMs: 150 });
    try {
      const a = await h.book();
      const { doc, pat, patSeat, patAdmitted } = await h.enterCall(a, url);
      pat.drop();
      await doc.next('peer-disconnected');
      const left = await doc.next('peer-left');
      assert.deepEqual([left.seat, left.reason], [patSeat, 'timeout']);
      const back = await h.connect(a.patient, url);
      back.send({ type: 'resume', appointmentId: a.id, resumeToken: patAdmitted.resumeToken });
      assert.equal((await back.next('error')).code, 'resume_failed');
      // Shutdown closes the sockets with 1001 (going away).
      await graceful.close();
      assert.equal((await doc.waitClosed()).code, 1001);
    } finally {
      await graceful.close();
    }
  });

  test('a started call that everyone left is ended as abandoned after a while: the Encounter is finished', async () => {
    const { service, url } = h.extraService('consult-abandon', { abandonAfterMs: 50 });
    const ended = new Promise<{ reason: string; encounter?: string }>((resolve) => service.on('call-ended', resolve));
    const a = await h.book();
    const { doc, pat, patAdmitted } = await h.enterCall(a, url);
    pat.send({ type: 'leave', appointmentId: a.id });
    await pat.next('left');
    doc.send({ type: 'leave', appointmentId: a.id });
    await doc.next('left');
    const e = await ended;
    assert.deepEqual([e.reason, e.encounter], ['abandoned', patAdmitted.encounter]);
    assert.equal((h.node.fhir.repo.current('Encounter', patAdmitted.encounter)?.resource as Any).status, 'finished');
    assert.equal((await h.refusal(doc, a.id)).reason, 'call_ended');
  });

  test('a participant who comes back before the call is abandoned finds it still running', async () => {
    const { service, url } = h.extraService('consult-comeback', { abandonAfterMs: 60_000 });
    const ends: string[] = [];
    service.on('call-ended', (e) => ends.push(e.reason));
    const a = await h.book();
    const { doc, pat, patAdmitted } = await h.enterCall(a, url);
    for (const c of [pat, doc]) {
      c.send({ type: 'leave', appointmentId: a.id });
      await c.next('left');
    }
    doc.send({ type: 'join', appointmentId: a.id });
    assert.equal((await doc.next('admitted')).encounter, patAdmitted.encounter);
    assert.deepEqual(ends, []);
    assert.equal((h.node.fhir.repo.current('Encounter', patAdmitted.encounter)?.resource as Any).status, 'in-progress');
  });

  test('an end sent right before the socket drops still ends the call', async () => {
    const a = await h.book();
    const { doc, pat, patAdmitted } = await h.enterCall(a);
    doc.send({ type: 'chat', appointmentId: a.id, text: 'take care' });
    doc.send({ type: 'end', appointmentId: a.id });
    doc.drop();
    assert.equal((await pat.next('ended')).reason, 'ended_by_clinician');
    assert.equal((h.node.fhir.repo.current('Encounter', patAdmitted.encounter)?.resource as Any).status, 'finished');
  });

  test('ending before anyone was admitted closes the room and leaves the Appointment booked', async () => {
    const a = await h.book();
    const { doc, pat } = await h.openWaitingRoom(a);
    doc.send({ type: 'end', appointmentId: a.id });
    assert.equal((await doc.next('ended')).encounter, undefined);
    await pat.next('ended');
    assert.equal((h.node.fhir.repo.current('Appointment', a.id)?.resource as Any).status, 'booked');
    pat.send({ type: 'join', appointmentId: a.id });
    await pat.next('waiting');
  });

  test('join info for the web app: role, whether a join would be admitted, and 404 to strangers', async () => {
    const a = await h.book();
    const noConsent = await h.book({ consent: false });
    const info = h.consult.joinInfo({ id: a.patient, role: 'patient', patientId: a.patient.split('/')[1]! }, a.id);
    assert.equal(info.status, 200);
    assert.ok(info.status === 200 && info.body.canJoin && info.body.role === 'patient' && info.body.signaling.path === PATH);
    const refused = h.consult.joinInfo({ id: noConsent.clinician, role: 'authorized_medical_staff' }, noConsent.id);
    assert.ok(refused.status === 200 && !refused.body.canJoin && refused.body.reason === 'no_consent');
    assert.equal(h.consult.joinInfo({ id: noConsent.patient, role: 'patient' }, a.id).status, 404);
  });

  test('stats become histograms; ending the call finishes the Encounter, fulfils the Appointment and leaves a PHI-free summary', async () => {
    const a = await h.book();
    const { doc, pat, patAdmitted } = await h.enterCall(a);
    pat.send({ type: 'stats', appointmentId: a.id, rtt: 0.031, jitter: 0.002, packetLoss: 0.01, framesDecoded: 240, bitrate: 1_200_000 });
    doc.send({ type: 'stats', appointmentId: a.id, rtt: 0.029, framesDecoded: 230 });
    await pat.roundTrip();
    await doc.roundTrip();
    assert.match(await h.registry.getSingleMetricAsString('consult_rtt_seconds'), /consult_rtt_seconds_count \d+/);
    assert.match(await h.registry.getSingleMetricAsString('consult_frames_decoded_total'), /consult_frames_decoded_total \d+/);

    doc.send({ type: 'end', appointmentId: a.id });
    const endedDoc = await doc.next('ended');
    const endedPat = await pat.next('ended');
    assert.equal(endedPat.encounter, patAdmitted.encounter);
    assert.equal(endedDoc.reason, 'ended_by_clinician');
    const enc = h.node.fhir.repo.current('Encounter', patAdmitted.encounter)?.resource as Any;
    assert.equal(enc.status, 'finished');
    assert.ok(Date.parse(enc.period.end) >= Date.parse(enc.period.start));
    assert.equal((h.node.fhir.repo.current('Appointment', a.id)?.resource as Any).status, 'fulfilled');

    const summary = summaries.at(-1)!;
    assert.equal(summary.framesDecoded, 470);
    assert.equal(summary.reports, 2);
    assert.equal(summary.quality, 'good');
    assert.doesNotMatch(JSON.stringify(summary), /Patient|Practitioner|appt-|\d{4}-\d{2}-\d{2}T/);

    // The event bus saw the call's life, in order (a listener that throws changed nothing).
    assert.deepEqual(events.filter((e) => e.includes(` ${a.id} `)), [
      `admitted ${a.id} clinician`,
      `started ${a.id} ${patAdmitted.encounter}`,
      `admitted ${a.id} patient`,
      `left ${a.id} clinician ended`,
      `left ${a.id} patient ended`,
    ]);

    const again = await h.connect(a.patient);
    assert.equal((await h.refusal(again, a.id)).reason, 'call_ended');
    doc.send({ type: 'end', appointmentId: a.id });
    assert.equal((await doc.next('error')).code, 'not_in_room');
  });

  test('the consultation logs carry no patient reference and no chat text', () => {
    const consultLines = h.logLines.filter((l) => l.includes('"part":"consult"'));
    assert.ok(consultLines.length > 0, 'expected consult log lines');
    for (const l of consultLines) assert.doesNotMatch(l, /Patient\/|chest pain/);
  });
});
