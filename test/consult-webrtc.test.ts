/**
 * Real WebRTC through the node's signaling: two headless peers (libwebrtc via
 * @roamhq/wrtc) on loopback negotiate a data channel over `/ws/consult`
 * frames only; after the patient's signaling socket drops and resumes, the
 * clinician restarts ICE and the same connection carries on.
 */
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import wrtc from '@roamhq/wrtc';
import type { SignalingClient, Received } from '../src/consult/index.ts';
import { ConsultHarness } from './consult-harness.ts';
import { freePort, startTurn, TURNSERVER } from './helpers/turn.ts';

/** The slice of the W3C API used here (the package's types lean on the DOM library, which this project does not load). */
interface Channel extends EventTarget {
  readonly readyState: string;
  send(data: string): void;
  onmessage: ((e: { data: unknown }) => void) | null;
}
interface Description { type: 'offer' | 'answer'; sdp?: string }
interface PC extends EventTarget {
  readonly signalingState: string;
  readonly iceConnectionState: string;
  readonly remoteDescription: Description | null;
  onicecandidate: ((e: { candidate: { toJSON(): object } | null }) => void) | null;
  ondatachannel: ((e: { channel: Channel }) => void) | null;
  createDataChannel(label: string): Channel;
  createOffer(o?: { iceRestart?: boolean }): Promise<Description>;
  createAnswer(): Promise<Description>;
  setLocalDescription(d: Description): Promise<void>;
  setRemoteDescription(d: Description): Promise<void>;
  addIceCandidate(c: object): Promise<void>;
  close(): void;
}
const RTCPeerConnection = (wrtc as unknown as { RTCPeerConnection: new (config: object) => PC }).RTCPeerConnection;

/** Resolves when `check()` holds, checked every 20 ms (rejects after 15 s, naming what it waited for). */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Wires a peer connection to a signaling socket: every SDP and candidate goes through the node. */
class Peer {
  readonly pc: PC;
  /** The `candidate:` lines this peer gathered (and sent through the node). */
  readonly gathered: string[] = [];
  /** True once gathering finished (the null candidate). */
  gatheringDone = false;
  #socket: SignalingClient;
  readonly #appointmentId: string;
  readonly messages: string[] = [];
  channel: Channel | undefined;
  #stop = false;

  constructor(socket: SignalingClient, appointmentId: string, config: object = { iceServers: [] }) {
    this.pc = new RTCPeerConnection(config);
    this.#socket = socket;
    this.#appointmentId = appointmentId;
    this.pc.onicecandidate = (e) => {
      if (e.candidate) this.gathered.push(String((e.candidate.toJSON() as { candidate?: string }).candidate));
      else this.gatheringDone = true;
      this.#socket.send({ type: 'candidate', appointmentId, candidate: e.candidate ? e.candidate.toJSON() : null });
    };
    this.pc.ondatachannel = (e) => this.#adopt(e.channel);
    void this.#pump();
  }

  /** Moves to a new signaling socket (after a resume); the connection stays. */
  rebind(socket: SignalingClient): void {
    this.#socket = socket;
  }

  #adopt(ch: Channel): void {
    this.channel = ch;
    ch.onmessage = (e) => this.messages.push(String(e.data));
  }

  async offer(iceRestart = false): Promise<void> {
    if (!this.channel) this.#adopt(this.pc.createDataChannel('consult'));
    const offer = await this.pc.createOffer({ iceRestart });
    await this.pc.setLocalDescription(offer);
    this.#socket.send({ type: 'offer', appointmentId: this.#appointmentId, sdp: offer.sdp });
  }

  /** Answers offers and applies answers and candidates as they come, from whichever socket is current. */
  async #pump(): Promise<void> {
    while (!this.#stop) {
      const socket = this.#socket;
      // A closed peer takes no more frames: the predicate leaves them to the connection that replaces it.
      const f: Received | undefined = await socket.next(['offer', 'answer', 'candidate'], () => !this.#stop, 500).catch(() => undefined);
      if (this.#stop) return;
      if (!f) {
        // A dropped socket answers at once: wait for the rebind without spinning.
        if (socket.closed) await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      try {
        if (f.type === 'offer') {
          await this.pc.setRemoteDescription({ type: 'offer', sdp: f.sdp });
          const answer = await this.pc.createAnswer();
          await this.pc.setLocalDescription(answer);
          this.#socket.send({ type: 'answer', appointmentId: this.#appointmentId, sdp: answer.sdp });
        } else if (f.type === 'answer') {
          await this.pc.setRemoteDescription({ type: 'answer', sdp: f.sdp });
        } else if (f.candidate) {
          await this.pc.addIceCandidate(f.candidate);
        }
      } catch {
        // A candidate of an older ICE generation after a restart is refused by libwebrtc: harmless.
      }
    }
  }

  async open(): Promise<void> {
    await until(() => this.channel?.readyState === 'open', 'the data channel to open');
  }

  async receive(text: string): Promise<void> {
    await until(() => this.messages.includes(text), `message '${text}'`);
  }

  close(): void {
    this.#stop = true;
    this.pc.close();
  }
}

/** The `ice-ufrag` of a session description (changes with every ICE restart). */
const ufrag = (sdp: string | undefined) => /a=ice-ufrag:(\S+)/.exec(sdp ?? '')?.[1];

/** One node for the file; peers are closed before it. */
let h: ConsultHarness;
const closers: Array<() => void> = [];
before(async () => {
  h = await ConsultHarness.start('consult-rtc');
});
after(async () => {
  for (const c of closers) c();
  await h?.close();
});

describe('WebRTC over the consultation signaling (libwebrtc peers)', () => {
  /** The clinician (the peer that was there, as the protocol says) offers; a data channel opens; `text` goes through it. */
  async function connectPeers(docSocket: SignalingClient, patSocket: SignalingClient, appointmentId: string, text: string) {
    const doc = new Peer(docSocket, appointmentId);
    const pat = new Peer(patSocket, appointmentId);
    closers.push(() => doc.close(), () => pat.close());
    await doc.offer();
    await Promise.all([doc.open(), pat.open()]);
    pat.channel!.send(text);
    await doc.receive(text);
    return { doc, pat };
  }

  /** Both in the call, a data channel open between them, a first message through. */
  async function inCall() {
    const a = await h.book();
    const { doc: docSocket, pat: patSocket, patAdmitted: admitted, patSeat: seat } = await h.enterCall(a);
    const { doc, pat } = await connectPeers(docSocket, patSocket, a.id, 'hello doctor');
    return { a, docSocket, patSocket, doc, pat, admitted, seat };
  }

  test('a data channel opens through the signaling, and survives a dropped signaling socket via resume and ICE restart', async () => {
    const { a, docSocket, patSocket, doc, pat, admitted, seat } = await inCall();
    const before = ufrag(doc.pc.remoteDescription?.sdp);

    // The patient's signaling socket drops; the media path is untouched. A new socket resumes the seat.
    patSocket.drop();
    await docSocket.next('peer-disconnected');
    const back = await h.connect(a.patient);
    back.send({ type: 'resume', appointmentId: a.id, resumeToken: admitted.resumeToken });
    assert.equal((await back.next('admitted')).resumed, true);
    pat.rebind(back);
    const restart = await docSocket.next('ice-restart');
    assert.deepEqual([restart.seat, restart.fresh], [seat, false]);
    await doc.offer(true);
    await until(() => {
      const u = ufrag(doc.pc.remoteDescription?.sdp);
      return u !== undefined && u !== before && doc.pc.signalingState === 'stable' && ['connected', 'completed'].includes(doc.pc.iceConnectionState);
    }, 'the ICE restart to complete');
    assert.notEqual(ufrag(doc.pc.remoteDescription?.sdp), before, 'the patient answered with new ICE credentials');
    doc.channel!.send('still here');
    await pat.receive('still here');
  });

  test('a client that lost its connection resumes with fresh: the clinician builds a new connection and the call goes on', async () => {
    const { a, docSocket, patSocket, doc, pat, admitted, seat } = await inCall();
    patSocket.drop();
    pat.close();
    await docSocket.next('peer-disconnected');
    const back = await h.connect(a.patient);
    back.send({ type: 'resume', appointmentId: a.id, resumeToken: admitted.resumeToken, fresh: true });
    await back.next('admitted');
    const restart = await docSocket.next('ice-restart');
    assert.deepEqual([restart.seat, restart.fresh], [seat, true]);
    doc.close();
    await connectPeers(docSocket, back, a.id, 'back again');
  });
});

describe('TURN with the node-minted credentials (coturn, use-auth-secret)', { skip: TURNSERVER ? false : 'coturn is not installed (apt-get install coturn)' }, () => {
  const SECRET = 'turn-test-secret-9f8e7d6c5b4a';
  let dir: string;
  let turn: ChildProcess;
  let port: number;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'consult-turn-'));
    port = await freePort();
    turn = await startTurn({ port, secret: SECRET, logFile: path.join(dir, 'turn.log') });
  });

  after(async () => {
    turn?.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  });

  async function relayedCall(secret: string): Promise<{ doc: Peer; pat: Peer }> {
    const { url } = h.extraService(`consult-turn-${randomUUID().slice(0, 6)}`, { turn: { urls: `turn:127.0.0.1:${port}?transport=udp`, secret } });
    const a = await h.book();
    const { doc: docSocket, pat: patSocket, docAdmitted: docIn, patAdmitted: patIn } = await h.enterCall(a, url);
    // Relay only: the call can work only through coturn, with the credentials the node minted.
    const doc = new Peer(docSocket, a.id, { iceServers: docIn.iceServers, iceTransportPolicy: 'relay' });
    const pat = new Peer(patSocket, a.id, { iceServers: patIn.iceServers, iceTransportPolicy: 'relay' });
    closers.push(() => doc.close(), () => pat.close());
    await doc.offer();
    return { doc, pat };
  }

  test('relay-only peers connect through coturn with the minted credentials', async () => {
    const { doc, pat } = await relayedCall(SECRET);
    await Promise.all([doc.open(), pat.open()]);
    assert.ok(doc.gathered.length > 0 && doc.gathered.every((c) => / typ relay /.test(c)), 'the clinician gathered relay candidates only');
    pat.channel!.send('through the relay');
    await doc.receive('through the relay');
  });

  test('credentials minted with another secret are refused by coturn: no relay candidate at all', async () => {
    const { doc } = await relayedCall('not-the-turn-secret-123456');
    await until(() => doc.gatheringDone, 'ICE gathering to finish');
    assert.deepEqual(doc.gathered, []);
  });
});
