/**
 * Real WebRTC through the node's signaling: two headless peers (libwebrtc via
 * @roamhq/wrtc) on loopback negotiate a data channel over `/ws/consult`
 * frames only; after the patient's signaling socket drops and resumes, the
 * clinician restarts ICE and the same connection carries on.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import wrtc from '@roamhq/wrtc';
import { Registry } from 'prom-client';
import { createConsultService, SignalingClient, type ConsultService, type Received } from '../src/consult/index.ts';
import { loadConfig } from '../src/config/index.ts';
import { startNode, type EdgeNode } from '../src/node/index.ts';
import { createLogger } from '../src/observability/index.ts';
import { createBuiltinPolicy } from '../src/policy/index.ts';

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

/** A booked appointment (with the patient's telehealth consent) between two new people. */
async function book(node: EdgeNode): Promise<{ id: string; clinician: string; patient: string }> {
  const tag = randomUUID().slice(0, 8);
  const a = { id: `rtc-${tag}`, clinician: `Practitioner/dr-${tag}`, patient: `Patient/p-${tag}` };
  await node.fhir.putAsSystem({ resourceType: 'Consent', id: `c-${tag}`, status: 'active', scope: { text: 'patient-privacy' }, category: [{ text: 'telehealth' }], patient: { reference: a.patient } });
  await node.fhir.putAsSystem({ resourceType: 'Appointment', id: a.id, status: 'booked', participant: [{ actor: { reference: a.clinician }, status: 'accepted' }, { actor: { reference: a.patient }, status: 'accepted' }] });
  return a;
}

/** Clinician joins, patient waits, clinician admits: both sockets and their `admitted` frames. */
async function waitingRoomToCall(node: EdgeNode, url: string, closers: Array<() => void>) {
  const a = await book(node);
  const docSocket = await SignalingClient.connect(url, await node.auth.mint(a.clinician, 'authorized_medical_staff'));
  const patSocket = await SignalingClient.connect(url, await node.auth.mint(a.patient, 'patient'));
  closers.push(() => docSocket.drop(), () => patSocket.drop());
  docSocket.send({ type: 'join', appointmentId: a.id });
  const docIn = await docSocket.next('admitted');
  patSocket.send({ type: 'join', appointmentId: a.id });
  const { seat } = await patSocket.next('waiting');
  docSocket.send({ type: 'admit', appointmentId: a.id, seat });
  const patIn = await patSocket.next('admitted');
  await docSocket.next('peer-joined');
  return { a, docSocket, patSocket, docIn, patIn, seat: seat as string };
}

describe('WebRTC over the consultation signaling (libwebrtc peers)', () => {
  let dir: string;
  let node: EdgeNode;
  let consult: ConsultService;
  let url: string;
  const closers: Array<() => void> = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'consult-rtc-'));
    const logger = createLogger({ level: 'silent' });
    node = await startNode(loadConfig({ ...process.env, PORT: '0', TELEMED_DATA_DIR: dir, TELEMED_DB_SYNC: 'normal' }), { port: 0, logger });
    const policy = createBuiltinPolicy();
    consult = createConsultService({ fhir: node.fhir, auth: node.auth, policy: () => policy, logger, registry: new Registry(), path: '/ws/consult-rtc' });
    consult.attach(node.app.server);
    url = `${node.url.replace('http', 'ws')}/ws/consult-rtc`;
  });

  after(async () => {
    for (const c of closers) c();
    await consult?.close();
    await node?.close();
    await rm(dir, { recursive: true, force: true });
  });

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
  async function reconnect(sub: string): Promise<SignalingClient> {
    const c = await SignalingClient.connect(url, await node.auth.mint(sub, 'patient'));
    closers.push(() => c.drop());
    return c;
  }

  async function inCall() {
    const { a, docSocket, patSocket, patIn: admitted, seat } = await waitingRoomToCall(node, url, closers);
    const { doc, pat } = await connectPeers(docSocket, patSocket, a.id, 'hello doctor');
    return { a, docSocket, patSocket, doc, pat, admitted, seat: seat as string };
  }

  test('a data channel opens through the signaling, and survives a dropped signaling socket via resume and ICE restart', async () => {
    const { a, docSocket, patSocket, doc, pat, admitted, seat } = await inCall();
    const before = ufrag(doc.pc.remoteDescription?.sdp);

    // The patient's signaling socket drops; the media path is untouched. A new socket resumes the seat.
    patSocket.drop();
    await docSocket.next('peer-disconnected');
    const back = await reconnect(a.patient);
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
    const back = await reconnect(a.patient);
    back.send({ type: 'resume', appointmentId: a.id, resumeToken: admitted.resumeToken, fresh: true });
    await back.next('admitted');
    const restart = await docSocket.next('ice-restart');
    assert.deepEqual([restart.seat, restart.fresh], [seat, true]);
    doc.close();
    await connectPeers(docSocket, back, a.id, 'back again');
  });
});

/** coturn from Debian (`apt-get install coturn`); the TURN test is skipped where it is not installed. */
const TURNSERVER = ['/usr/bin/turnserver', '/usr/sbin/turnserver'].find((f) => existsSync(f));

describe('TURN with the node-minted credentials (coturn, use-auth-secret)', { skip: TURNSERVER ? false : 'coturn is not installed (apt-get install coturn)' }, () => {
  const SECRET = 'turn-test-secret-9f8e7d6c5b4a';
  let dir: string;
  let node: EdgeNode;
  let turn: ChildProcess;
  let port: number;
  const closers: Array<() => void> = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'consult-turn-'));
    port = await freePort();
    turn = spawn(TURNSERVER!, [
      '-n', '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', `--listening-port=${port}`,
      '--use-auth-secret', `--static-auth-secret=${SECRET}`, '--realm=telemed.test',
      '--allow-loopback-peers', '--no-cli', '--no-tls', '--no-dtls', '--fingerprint',
      '--min-port=49152', '--max-port=65535', `--log-file=${path.join(dir, 'turn.log')}`, '--simple-log',
    ], { stdio: 'ignore' });
    await waitTcp(port);
    node = await startNode(loadConfig({ ...process.env, PORT: '0', TELEMED_DATA_DIR: dir, TELEMED_DB_SYNC: 'normal' }), { port: 0, logger: createLogger({ level: 'silent' }) });
  });

  after(async () => {
    for (const c of closers) c();
    await node?.close();
    turn?.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  });

  async function relayedCall(secret: string): Promise<{ doc: Peer; pat: Peer }> {
    const policy = createBuiltinPolicy();
    const name = `consult-turn-${randomUUID().slice(0, 6)}`;
    const service = createConsultService({
      fhir: node.fhir, auth: node.auth, policy: () => policy, logger: createLogger({ level: 'silent' }), registry: new Registry(),
      path: `/ws/${name}`, turn: { urls: `turn:127.0.0.1:${port}?transport=udp`, secret },
    });
    service.attach(node.app.server);
    closers.push(() => void service.close());
    const url = `${node.url.replace('http', 'ws')}/ws/${name}`;
    const { a, docSocket, patSocket, docIn, patIn } = await waitingRoomToCall(node, url, closers);
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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Waits until something accepts TCP connections on the port (coturn listens on TCP and UDP). */
async function waitTcp(port: number): Promise<void> {
  let ready = false;
  for (let i = 0; i < 250 && !ready; i++) {
    ready = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (!ready) await new Promise((r) => setTimeout(r, 20));
  }
  if (!ready) throw new Error(`coturn did not listen on port ${port}`);
}
