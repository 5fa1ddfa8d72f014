/**
 * Video consultation signaling against a node started in-process: the
 * waiting room, admission by the policy, relaying only within a room, chat as
 * Communication, refusals with their reasons, resume after a drop, bad input,
 * call quality, and the end of the call finishing the Encounter.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { createConsultService, ErrorCodes, turnCredential, SignalingClient, type CallSummary, type ConsultService, type Received } from '../src/consult/index.ts';
import { loadConfig } from '../src/config/index.ts';
import { startNode, type EdgeNode } from '../src/node/index.ts';
import { createLogger } from '../src/observability/index.ts';
import { createBuiltinPolicy } from '../src/policy/index.ts';

type Any = Record<string, any>;
const CLINICIAN_ROLE = 'authorized_medical_staff';
const TURN_SECRET = 'test-turn-secret-0123456789';
const PATH = '/ws/consult-test';

describe('consultation signaling', () => {
  let dir: string;
  let node: EdgeNode;
  let consult: ConsultService;
  let registry: Registry;
  let wsUrl: string;
  const logLines: string[] = [];
  const summaries: CallSummary[] = [];
  const events: string[] = [];
  const clients: SignalingClient[] = [];

  /** A fresh practitioner / patient / appointment set, so tests never share rooms. */
  async function book(opts: { consent?: boolean; status?: string; clinician?: string; patient?: string } = {}) {
    const tag = randomUUID().slice(0, 8);
    const clinician = opts.clinician ?? `Practitioner/dr-${tag}`;
    const patient = opts.patient ?? `Patient/p-${tag}`;
    const [ct, cid] = clinician.split('/') as [string, string];
    const [pt, pid] = patient.split('/') as [string, string];
    if (!node.fhir.repo.current(ct, cid)) await node.fhir.putAsSystem({ resourceType: 'Practitioner', id: cid, active: true });
    if (!node.fhir.repo.current(pt, pid)) await node.fhir.putAsSystem({ resourceType: 'Patient', id: pid, active: true });
    if (opts.consent !== false) await consentFor(patient, 'active');
    const id = `appt-${tag}`;
    await node.fhir.putAsSystem({
      resourceType: 'Appointment',
      id,
      status: opts.status ?? 'booked',
      start: new Date().toISOString(),
      participant: [
        { actor: { reference: clinician }, status: 'accepted' },
        { actor: { reference: patient }, status: 'accepted' },
      ],
    });
    return { id, clinician, patient };
  }

  async function consentFor(patient: string, status: string): Promise<void> {
    await node.fhir.putAsSystem({
      resourceType: 'Consent',
      id: `consent-${patient.split('/')[1]}`,
      status,
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }], text: 'telehealth' }],
      patient: { reference: patient },
    });
  }

  async function connect(sub: string, url = wsUrl): Promise<SignalingClient> {
    const role = sub.startsWith('Patient/') ? 'patient' : sub.startsWith('Practitioner/') ? CLINICIAN_ROLE : 'admin';
    const c = await SignalingClient.connect(url, await node.auth.mint(sub, role));
    clients.push(c);
    return c;
  }

  /** Clinician in, patient waits, clinician admits: both admitted. */
  /** Clinician in (admitted), patient in the waiting room. */
  async function openWaitingRoom(a: { id: string; clinician: string; patient: string }, url = wsUrl) {
    const doc = await connect(a.clinician, url);
    doc.send({ type: 'join', appointmentId: a.id });
    const docAdmitted = await doc.next('admitted');
    const pat = await connect(a.patient, url);
    pat.send({ type: 'join', appointmentId: a.id });
    const waiting = await pat.next('waiting');
    return { doc, pat, docAdmitted, waiting, seat: waiting.seat as string };
  }

  async function enterCall(a: { id: string; clinician: string; patient: string }, url = wsUrl) {
    const { doc, pat, docAdmitted, waiting } = await openWaitingRoom(a, url);
    await doc.next('lobby', (f) => f.waiting.some((w: Any) => w.seat === waiting.seat));
    doc.send({ type: 'admit', appointmentId: a.id, seat: waiting.seat });
    const patAdmitted = await pat.next('admitted');
    await doc.next('peer-joined');
    return { doc, pat, docSeat: docAdmitted.seat as string, patSeat: patAdmitted.seat as string, patAdmitted, docAdmitted };
  }

  /** Another service on the same node, on its own path, with its own settings. */
  function extraService(name: string, opts: Partial<Parameters<typeof createConsultService>[0]>): { service: ConsultService; url: string } {
    const policy = createBuiltinPolicy();
    const service = createConsultService({ fhir: node.fhir, auth: node.auth, policy: () => policy, logger: createLogger({ level: 'silent' }), registry: new Registry(), path: `/ws/${name}`, ...opts });
    service.attach(node.app.server);
    return { service, url: `${node.url.replace('http', 'ws')}/ws/${name}` };
  }

  async function refusal(c: SignalingClient, appointmentId: string): Promise<Received> {
    c.send({ type: 'join', appointmentId });
    return c.next('error', (f) => f.code === 'join_refused');
  }

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'consult-test-'));
    const sink = new Writable({ write(chunk, _enc, cb) { logLines.push(...String(chunk).split('\n').filter(Boolean)); cb(); } });
    const logger = createLogger({ level: 'info', destination: sink });
    node = await startNode(loadConfig({ ...process.env, PORT: '0', TELEMED_DATA_DIR: dir, TELEMED_DB_SYNC: 'normal' }), { port: 0, logger });
    registry = new Registry();
    const policy = createBuiltinPolicy();
    consult = createConsultService({
      fhir: node.fhir, auth: node.auth, policy: () => policy, logger, registry,
      turn: { urls: 'turn:127.0.0.1:3478?transport=udp', secret: TURN_SECRET },
      path: PATH, limits: { burst: 30, perSecond: 15 },
    });
    consult.on('call-ended', (e) => summaries.push(e.summary));
    consult.on('call-started', (e) => events.push(`started ${e.appointmentId} ${e.encounter}`));
    consult.on('admitted', (e) => events.push(`admitted ${e.appointmentId} ${e.role}${e.resumed ? ' resumed' : ''}`));
    consult.on('left', (e) => events.push(`left ${e.appointmentId} ${e.role} ${e.reason}`));
    consult.on('admitted', () => { throw new Error('a faulty listener'); });
    consult.attach(node.app.server);
    wsUrl = `${node.url.replace('http', 'ws')}${PATH}`;
  });

  after(async () => {
    for (const c of clients) c.drop();
    await consult?.close();
    await node?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('the patient waits, the clinician sees who waits and admits; the call starts an in-progress virtual Encounter', async () => {
    const a = await book();
    const doc = await connect(a.clinician);
    doc.send({ type: 'join', appointmentId: a.id, ref: 'j1' });
    const docAdmitted = await doc.next('admitted');
    assert.equal(docAdmitted.ref, 'j1');
    assert.deepEqual(docAdmitted.peers, []);
    assert.deepEqual((await doc.next('lobby')).waiting, []);

    const pat = await connect(a.patient);
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

    const enc = node.fhir.repo.current('Encounter', admitted.encounter)?.resource as Any;
    assert.equal(enc.status, 'in-progress');
    assert.deepEqual(enc.class, { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR', display: 'virtual' });
    assert.equal(enc.subject.reference, a.patient);
    assert.deepEqual(enc.appointment, [{ reference: `Appointment/${a.id}` }]);
    assert.ok(Date.parse(enc.period.start) > 0);
    assert.equal(enc.period.end, undefined);
  });

  test('each participant gets STUN and TURN with coturn REST credentials bound to its seat', async () => {
    const { patAdmitted } = await enterCall(await book());
    const [stun, turn] = patAdmitted.iceServers as [Any, Any];
    assert.deepEqual(stun.urls, ['stun:127.0.0.1:3478']);
    const [expiry, tag] = turn.username.split(':');
    assert.equal(tag, patAdmitted.seat);
    assert.ok(Number(expiry) > Date.now() / 1000);
    assert.equal(turn.credential, turnCredential(TURN_SECRET, tag, Number(expiry)).credential);
  });

  test('offer, answer and candidates are relayed only between the admitted seats of one room', async () => {
    const one = await enterCall(await book());
    const two = await enterCall(await book());
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

  test('chat is kept as a Communication before it is delivered, and its text never reaches the logs', async () => {
    const a = await book();
    const { doc, pat, patSeat, patAdmitted } = await enterCall(a);
    const text = `chest pain since Tuesday ${randomUUID()}`;
    pat.send({ type: 'chat', appointmentId: a.id, text, ref: 'c1' });
    const mine = await pat.next('chat');
    const theirs = await doc.next('chat');
    assert.equal(mine.ref, 'c1');
    assert.deepEqual([theirs.from, theirs.user, theirs.text, theirs.id], [patSeat, a.patient, text, mine.id]);
    const comm = node.fhir.repo.current('Communication', mine.id)?.resource as Any;
    assert.equal(comm.status, 'completed');
    assert.equal(comm.payload[0].contentString, text);
    assert.equal(comm.sender.reference, a.patient);
    assert.equal(comm.subject.reference, a.patient);
    assert.deepEqual(comm.recipient, [{ reference: a.clinician }]);
    assert.equal(comm.encounter.reference, `Encounter/${patAdmitted.encounter}`);
    assert.ok(!logLines.some((l) => l.includes(text.slice(-36))), 'chat text leaked into the logs');
  });

  test("a DocumentReference of the call's patient is shared with the room; another patient's is unknown", async () => {
    const a = await book();
    const other = await book();
    const { doc, pat, docSeat } = await enterCall(a);
    const mine = `docref-${randomUUID().slice(0, 8)}`;
    const theirs = `docref-${randomUUID().slice(0, 8)}`;
    for (const [id, patient] of [[mine, a.patient], [theirs, other.patient]] as const) {
      await node.fhir.putAsSystem({ resourceType: 'DocumentReference', id, status: 'current', subject: { reference: patient }, content: [{ attachment: { contentType: 'application/pdf', title: 'Lab results' } }] });
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
    const noConsent = await book({ consent: false });
    const pat = await connect(noConsent.patient);
    const r1 = await refusal(pat, noConsent.id);
    assert.deepEqual([r1.reason, r1.appointmentId], ['no_consent', noConsent.id]);
    const doc = await connect(noConsent.clinician);
    assert.equal((await refusal(doc, noConsent.id)).reason, 'no_consent');

    const a = await book();
    const docA = await connect(a.clinician);
    docA.send({ type: 'join', appointmentId: a.id });
    await docA.next('admitted');
    await docA.next('lobby');
    const other = await book();
    const stranger = await connect(other.patient);
    assert.equal((await refusal(stranger, a.id)).reason, 'not_a_participant');
    const otherDoc = await connect(other.clinician);
    assert.equal((await refusal(otherDoc, a.id)).reason, 'not_a_participant');
    const admin = await connect('ops-admin');
    assert.equal((await refusal(admin, a.id)).reason, 'not_a_participant');
    assert.equal((await refusal(stranger, `nope-${randomUUID().slice(0, 8)}`)).reason, 'appointment_not_found');
    const cancelled = await book({ status: 'cancelled' });
    assert.equal((await refusal(await connect(cancelled.patient), cancelled.id)).reason, 'appointment_not_active');

    // Nobody was seated: the clinician's waiting room never showed anyone, and the sockets still work.
    for (const c of [pat, doc, stranger, otherDoc, admin, docA]) await c.roundTrip();
    assert.equal(docA.pending('lobby').length, 0);
    for (const c of [pat, stranger, otherDoc, admin]) assert.equal(c.pending('admitted').length + c.pending('waiting').length, 0);
    const metrics = await registry.getSingleMetricAsString('consult_join_refusals_total');
    assert.match(metrics, /reason="no_consent"\} 2/);
  });

  test('a token without the clinician role cannot admit, not even itself', async () => {
    const a = await book();
    const { doc, pat, seat } = await openWaitingRoom(a);
    pat.send({ type: 'admit', appointmentId: a.id, seat });
    assert.equal((await pat.next('error')).code, 'forbidden');
    pat.send({ type: 'end', appointmentId: a.id });
    assert.equal((await pat.next('error')).code, 'forbidden');
    await pat.roundTrip();
    assert.equal(pat.pending('admitted').length, 0);
    await doc.roundTrip();
    assert.equal(doc.pending('peer-joined').length, 0);
    assert.ok(!node.fhir.repo.search('Encounter', { criteria: [{ kind: 'reference', param: 'appointment', values: [`Appointment/${a.id}`] }], count: 10, offset: 0, sort: [], summaryCount: false }).total);
  });

  test('consent withdrawn while waiting: the admit is refused and the patient is not admitted', async () => {
    const a = await book();
    const { doc, pat, seat } = await openWaitingRoom(a);
    await consentFor(a.patient, 'inactive');
    doc.send({ type: 'admit', appointmentId: a.id, seat });
    const err = await doc.next('error');
    assert.deepEqual([err.code, err.reason], ['join_refused', 'no_consent']);
    assert.equal((await pat.next('error')).reason, 'no_consent');
    await pat.roundTrip();
    assert.equal(pat.pending('admitted').length, 0);
  });

  test('a participant who drops resumes the same seat with the resume token; the peer is told to restart ICE', async () => {
    const a = await book();
    const { doc, pat, patSeat, patAdmitted } = await enterCall(a);
    pat.drop();
    const gone = await doc.next('peer-disconnected');
    assert.equal(gone.seat, patSeat);
    doc.send({ type: 'offer', appointmentId: a.id, sdp: 'v=0 to nobody' });
    assert.equal((await doc.next('error')).code, 'peer_unavailable');

    const wrong = await connect(a.patient);
    wrong.send({ type: 'resume', appointmentId: a.id, resumeToken: 'x'.repeat(32) });
    assert.equal((await wrong.next('error')).code, 'resume_failed');

    const back = await connect(a.patient);
    back.send({ type: 'resume', appointmentId: a.id, resumeToken: patAdmitted.resumeToken });
    const resumed = await back.next('admitted');
    assert.deepEqual([resumed.seat, resumed.resumed], [patSeat, true]);
    assert.notEqual(resumed.resumeToken, patAdmitted.resumeToken);
    assert.equal((await doc.next('ice-restart')).seat, patSeat);
    doc.send({ type: 'offer', appointmentId: a.id, sdp: 'v=0 restart' });
    assert.equal((await back.next('offer')).sdp, 'v=0 restart');

    // The old token is spent.
    const replay = await connect(a.patient);
    replay.send({ type: 'resume', appointmentId: a.id, resumeToken: patAdmitted.resumeToken });
    assert.equal((await replay.next('error')).code, 'resume_failed');
    await back.roundTrip();
    assert.equal(back.pending('left').length, 0);
  });

  test('after the grace period the seat is freed and a resume is refused', async () => {
    const { service: graceful, url } = extraService('consult-grace', { graceMs: 150 });
    try {
      const a = await book();
      const { doc, pat, patSeat, patAdmitted } = await enterCall(a, url);
      pat.drop();
      await doc.next('peer-disconnected');
      const left = await doc.next('peer-left');
      assert.deepEqual([left.seat, left.reason], [patSeat, 'timeout']);
      const back = await connect(a.patient, url);
      back.send({ type: 'resume', appointmentId: a.id, resumeToken: patAdmitted.resumeToken });
      assert.equal((await back.next('error')).code, 'resume_failed');
      // Shutdown closes the sockets with 1001 (going away).
      await graceful.close();
      assert.equal((await doc.waitClosed()).code, 1001);
    } finally {
      await graceful.close();
    }
  });

  test('a socket that stops answering pings is dropped; beyond maxConnections the upgrade gets 503', async () => {
    const { service: small, url } = extraService('consult-small', { heartbeatMs: 100, maxConnections: 1 });
    try {
      const mute = new SignalingClient(url, { autoPong: false });
      clients.push(mute);
      await mute.opened;
      mute.send({ type: 'hello', token: await node.auth.mint('Patient/mute', 'patient') });
      await mute.next('welcome');
      await assert.rejects(new SignalingClient(url).opened, /HTTP 503/);
      const closed = await mute.waitClosed();
      assert.equal(closed.code, 1006, 'dropped without a close handshake');
      let again: SignalingClient | undefined;
      for (let i = 0; i < 50 && !again; i++) {
        // The count drops when the server sees the close; retry until it has.
        const c = new SignalingClient(url);
        again = await c.opened.then(() => c, () => undefined);
        if (!again) await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(again, 'a new socket was never accepted after the mute one was dropped');
      clients.push(again);
    } finally {
      await small.close();
    }
  });

  test('bad frames get an error frame each; the socket and the room survive and nothing else changes', async () => {
    const a = await book();
    const { doc, pat, docSeat } = await enterCall(a);
    await doc.roundTrip();
    doc.drain();
    const codes: string[] = [];
    const expect = async (send: () => void) => {
      send();
      codes.push((await pat.next('error')).code);
      await pat.roundTrip();
    };
    await expect(() => pat.sendRaw('{not json'));
    await expect(() => pat.sendRaw(JSON.stringify({ v: 1, type: 'chat', appointmentId: a.id, text: 'x'.repeat(100 * 1024) })));
    await expect(() => pat.send({ type: 'teleport', appointmentId: a.id }));
    await expect(() => pat.send({ v: 2, type: 'ping' }));
    await expect(() => pat.sendRaw(Buffer.from([1, 2, 3])));
    await expect(() => pat.send({ type: 'offer', appointmentId: a.id, sdp: 42 }));
    await expect(() => pat.send({ type: 'chat', appointmentId: 'not-my-room', text: 'hi' }));
    await expect(() => pat.send({ type: 'hello', token: 'again' }));
    assert.deepEqual(codes, ['bad_json', 'frame_too_large', 'unknown_type', 'unsupported_version', 'bad_frame', 'bad_frame', 'not_in_room', 'already_authenticated']);
    await doc.roundTrip();
    assert.deepEqual(doc.pending().map((f) => f.type), [], 'the clinician saw something of the bad frames');
    assert.equal(node.fhir.repo.search('Communication', { criteria: [{ kind: 'reference', param: 'patient', values: [a.patient] }], count: 10, offset: 0, sort: [], summaryCount: false }).total, 0);
    pat.send({ type: 'offer', appointmentId: a.id, sdp: 'v=0 still here' });
    assert.equal((await doc.next('offer')).sdp, 'v=0 still here');
    doc.send({ type: 'answer', appointmentId: a.id, sdp: 'v=0 answer' });
    assert.equal((await pat.next('answer')).from, docSeat);
  });

  test('a frame over the hard cap (1 MiB) closes only that socket (1009); the seat waits for a resume and the node goes on', async () => {
    const a = await book();
    const { doc, pat, patSeat } = await enterCall(a);
    pat.sendRaw('x'.repeat(2 * 1024 * 1024));
    assert.equal((await pat.waitClosed()).code, 1009);
    assert.equal((await doc.next('peer-disconnected')).seat, patSeat);
    await doc.roundTrip();
  });

  test('ending before anyone was admitted closes the room and leaves the Appointment booked', async () => {
    const a = await book();
    const { doc, pat } = await openWaitingRoom(a);
    doc.send({ type: 'end', appointmentId: a.id });
    assert.equal((await doc.next('ended')).encounter, undefined);
    await pat.next('ended');
    assert.equal((node.fhir.repo.current('Appointment', a.id)?.resource as Any).status, 'booked');
    pat.send({ type: 'join', appointmentId: a.id });
    await pat.next('waiting');
  });

  test('fuzz: 400 random frames from a seated patient get handled or an error frame with a known code; the call goes on', async () => {
    const { service: fuzzed, url } = extraService('consult-fuzz', { limits: { burst: 10_000, perSecond: 10_000 } });
    try {
      const a = await book();
      const { doc, pat, patSeat, docSeat } = await enterCall(a, url);
      let seed = 0x2f6b_1d3a;
      const rnd = () => ((seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
      const values = [a.id, 'x', '', docSeat, patSeat, 0, -1, 1e308, null, true, [], {}, { candidate: 'c' }, 'ü\u0000😀', 'y'.repeat(5000), { __proto__: { admin: true } }, ['join']];
      const types = ['join', 'resume', 'admit', 'offer', 'answer', 'candidate', 'chat', 'stats', 'document', 'ping', 'hello', 'end', 'Join', '', 'constructor', 7];
      const keys = ['appointmentId', 'seat', 'to', 'sdp', 'candidate', 'text', 'token', 'resumeToken', 'documentReference', 't', 'rtt', 'packetLoss', 'framesDecoded', 'ref', 'v'];
      const known = new Set<string>(Object.values(ErrorCodes));
      let errors = 0;
      for (let i = 0; i < 400; i++) {
        const frame: Record<string, unknown> = { v: rnd() < 0.95 ? 1 : pick(values), type: pick(types) };
        for (let k = Math.floor(rnd() * 5); k > 0; k--) frame[pick(keys)] = pick(values);
        if (rnd() < 0.5) frame.appointmentId = a.id;
        pat.sendRaw(rnd() < 0.05 ? JSON.stringify(frame).slice(0, -3) : JSON.stringify(frame));
        if (i % 50 === 49) await pat.roundTrip();
      }
      await pat.roundTrip();
      for (const e of pat.pending('error')) {
        errors += 1;
        assert.ok(known.has(e.code), `unknown error code ${e.code}`);
      }
      assert.ok(errors > 100, `only ${errors} errors for 400 random frames`);
      assert.equal(pat.closed, undefined);
      assert.equal(pat.pending('left').length + pat.pending('ended').length, 0);
      doc.send({ type: 'offer', appointmentId: a.id, sdp: 'v=0 after the fuzz' });
      assert.equal((await pat.next('offer', (f) => f.sdp === 'v=0 after the fuzz')).from, docSeat);
    } finally {
      await fuzzed.close();
    }
  });

  test('a flood is rate limited with one error frame, the excess dropped; the socket recovers', async () => {
    const a = await book();
    const { doc, pat } = await enterCall(a);
    for (let i = 0; i < 300; i++) pat.send({ type: 'candidate', appointmentId: a.id, candidate: null });
    const err = await pat.next('error');
    assert.equal(err.code, 'rate_limited');
    // Recovery: once the bucket refills, frames are handled again.
    let pong = false;
    for (let i = 0; i < 50 && !pong; i++) {
      const ref = `p${i}`;
      pat.send({ type: 'ping', ref });
      pong = await pat.next('pong', (f) => f.ref === ref, 200).then(() => true, () => false);
    }
    assert.ok(pong, 'the socket never answered again');
    await doc.roundTrip();
    const relayed = doc.pending('candidate').length;
    assert.ok(relayed > 0 && relayed < 300, `relayed ${relayed} of 300 candidates`);
    assert.ok(pat.pending('error').every((f) => f.code === 'rate_limited'));
  });

  test('frames before hello are refused; a bad token closes the socket with 4401, no hello in time with 4408', async () => {
    const anon = new SignalingClient(wsUrl);
    clients.push(anon);
    await anon.opened;
    anon.send({ type: 'join', appointmentId: 'x' });
    assert.equal((await anon.next('error')).code, 'unauthenticated');
    anon.send({ type: 'hello', token: 'a.b.c' });
    assert.equal((await anon.next('error')).code, 'auth_failed');
    assert.equal((await anon.waitClosed()).code, 4401);

    const { service: strict, url } = extraService('consult-hello', { helloTimeoutMs: 50 });
    try {
      const silent = new SignalingClient(url);
      clients.push(silent);
      await silent.opened;
      assert.equal((await silent.waitClosed()).code, 4408);
    } finally {
      await strict.close();
    }
  });

  test('join info for the web app: role, whether a join would be admitted, and 404 to strangers', async () => {
    const a = await book();
    const noConsent = await book({ consent: false });
    const info = consult.joinInfo({ id: a.patient, role: 'patient', patientId: a.patient.split('/')[1]! }, a.id);
    assert.equal(info.status, 200);
    assert.ok(info.status === 200 && info.body.canJoin && info.body.role === 'patient' && info.body.signaling.path === PATH);
    const refused = consult.joinInfo({ id: noConsent.clinician, role: 'authorized_medical_staff' }, noConsent.id);
    assert.ok(refused.status === 200 && !refused.body.canJoin && refused.body.reason === 'no_consent');
    assert.equal(consult.joinInfo({ id: noConsent.patient, role: 'patient' }, a.id).status, 404);
  });

  test('stats become histograms; ending the call finishes the Encounter, fulfils the Appointment and leaves a PHI-free summary', async () => {
    const a = await book();
    const { doc, pat, patAdmitted } = await enterCall(a);
    pat.send({ type: 'stats', appointmentId: a.id, rtt: 0.031, jitter: 0.002, packetLoss: 0.01, framesDecoded: 240, bitrate: 1_200_000 });
    doc.send({ type: 'stats', appointmentId: a.id, rtt: 0.029, framesDecoded: 230 });
    await pat.roundTrip();
    await doc.roundTrip();
    assert.match(await registry.getSingleMetricAsString('consult_rtt_seconds'), /consult_rtt_seconds_count \d+/);
    assert.match(await registry.getSingleMetricAsString('consult_frames_decoded_total'), /consult_frames_decoded_total \d+/);

    doc.send({ type: 'end', appointmentId: a.id });
    const endedDoc = await doc.next('ended');
    const endedPat = await pat.next('ended');
    assert.equal(endedPat.encounter, patAdmitted.encounter);
    assert.equal(endedDoc.reason, 'ended_by_clinician');
    const enc = node.fhir.repo.current('Encounter', patAdmitted.encounter)?.resource as Any;
    assert.equal(enc.status, 'finished');
    assert.ok(Date.parse(enc.period.end) >= Date.parse(enc.period.start));
    assert.equal((node.fhir.repo.current('Appointment', a.id)?.resource as Any).status, 'fulfilled');

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

    const again = await connect(a.patient);
    assert.equal((await refusal(again, a.id)).reason, 'call_ended');
    doc.send({ type: 'end', appointmentId: a.id });
    assert.equal((await doc.next('error')).code, 'not_in_room');
  });

  test('the consultation logs carry no patient reference and no chat text', () => {
    const consultLines = logLines.filter((l) => l.includes('"part":"consult"'));
    assert.ok(consultLines.length > 0, 'expected consult log lines');
    for (const l of consultLines) assert.doesNotMatch(l, /Patient\/|chest pain/);
  });
});
