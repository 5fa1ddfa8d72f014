/**
 * Bad input on the consultation signaling: malformed, oversized, unknown and
 * misplaced frames, floods, random frames, silent and unauthenticated
 * sockets. Each gets an error frame (or, for a dead socket, a clean drop); the
 * socket, the room and the process survive, and nothing else changes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ErrorCodes, SignalingClient } from '../src/consult/index.ts';
import { ConsultHarness } from './consult-harness.ts';

describe('consultation signaling under bad input', () => {
  let h: ConsultHarness;

  before(async () => {
    h = await ConsultHarness.start('consult-robust', { limits: { burst: 30, perSecond: 15 } });
  });

  after(async () => {
    await h?.close();
  });

  test('a socket that stops answering pings is dropped; beyond maxConnections the upgrade gets 503', async () => {
    const { service: small, url } = h.extraService('consult-small', { heartbeatMs: 100, maxConnections: 1 });
    try {
      const mute = await h.anonymous(url, { autoPong: false });
      mute.send({ type: 'hello', token: await h.node.auth.mint('Patient/mute', 'patient') });
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
      again.drop();
    } finally {
      await small.close();
    }
  });

  test('bad frames get an error frame each; the socket and the room survive and nothing else changes', async () => {
    const a = await h.book();
    const { doc, pat, docSeat } = await h.enterCall(a);
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
    assert.equal(h.count('Communication', 'patient', a.patient), 0);
    pat.send({ type: 'offer', appointmentId: a.id, sdp: 'v=0 still here' });
    assert.equal((await doc.next('offer')).sdp, 'v=0 still here');
    doc.send({ type: 'answer', appointmentId: a.id, sdp: 'v=0 answer' });
    assert.equal((await pat.next('answer')).from, docSeat);
  });

  test('a frame over the hard cap (1 MiB) closes only that socket (1009); the seat waits for a resume and the node goes on', async () => {
    const a = await h.book();
    const { doc, pat, patSeat } = await h.enterCall(a);
    pat.sendRaw('x'.repeat(2 * 1024 * 1024));
    assert.equal((await pat.waitClosed()).code, 1009);
    assert.equal((await doc.next('peer-disconnected')).seat, patSeat);
    await doc.roundTrip();
  });

  test('fuzz: 400 random frames from a seated patient get handled or an error frame with a known code; the call goes on', async () => {
    const { service: fuzzed, url } = h.extraService('consult-fuzz', { limits: { burst: 10_000, perSecond: 10_000 } });
    try {
      const a = await h.book();
      const { doc, pat, patSeat, docSeat } = await h.enterCall(a, url);
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
    const a = await h.book();
    const { doc, pat } = await h.enterCall(a);
    for (let i = 0; i < 300; i++) pat.send({ type: 'candidate', appointmentId: a.id, candidate: null });
    const err = await pat.next('error');
    assert.equal(err.code, 'rate_limited');
    // The limit is per socket: the clinician's socket in the same room is answered at once.
    doc.send({ type: 'ping', ref: 'doc-during-flood' });
    await doc.next('pong', (f) => f.ref === 'doc-during-flood');
    assert.equal(doc.pending('error').length, 0, 'the clinician was not rate limited');
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
    const anon = await h.anonymous();
    anon.send({ type: 'join', appointmentId: 'x' });
    assert.equal((await anon.next('error')).code, 'unauthenticated');
    anon.send({ type: 'hello', token: 'a.b.c' });
    assert.equal((await anon.next('error')).code, 'auth_failed');
    assert.equal((await anon.waitClosed()).code, 4401);

    const { service: strict, url } = h.extraService('consult-hello', { helloTimeoutMs: 50 });
    try {
      const silent = await h.anonymous(url);
      assert.equal((await silent.waitClosed()).code, 4408);
    } finally {
      await strict.close();
    }
  });
});
