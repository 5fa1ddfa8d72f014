// One consultation as this browser takes part in it: the signaling session
// (join / resume, the waiting room, admit, chat, documents, end) and one
// RTCPeerConnection per other admitted seat. The view listens to CallEvents.
import { ReconnectingSocket, type Frame } from './socket.ts';
import { token } from './api.ts';

export type Phase = 'connecting' | 'waiting' | 'in-call' | 'reconnecting' | 'refused' | 'ended' | 'left';
export interface LobbyEntry { seat: string; user: string; waitingSeconds: number; connected: boolean }
export interface PeerInfo { seat: string; user: string; role: string; connected: boolean }
export interface ChatMessage { from: string; user: string; id: string; text: string; sent: string; mine: boolean }
export interface SharedDocument { from: string; id: string; title?: string; contentType?: string; mine: boolean }

export interface CallEvents {
  phase(p: Phase, detail?: string): void;
  lobby(waiting: LobbyEntry[]): void;
  peers(peers: PeerInfo[]): void;
  remote(seat: string, stream: MediaStream | null): void;
  local(stream: MediaStream | null): void;
  chat(m: ChatMessage): void;
  document(d: SharedDocument): void;
  notice(text: string): void;
  /** Another seat's microphone and camera are on or off. */
  media(seat: string, audio: boolean, video: boolean): void;
  /** The summary just sent (every 5 s in the call). */
  stats(s: CallStats): void;
}

/** The summary sent in `stats` frames (PROTOCOL.md §7): seconds, seconds, 0..1, count, bits/s. */
export interface CallStats {
  rtt?: number; jitter?: number; packetLoss?: number; framesDecoded?: number; bitrate?: number;
  /** Shown here only (not sent): no remote video frame was decoded since the last summary. */
  videoStalled?: boolean;
}

const STATS_EVERY_MS = 5000;
const resumeKey = (id: string) => `resume:${id}`;

export class Call {
  readonly pcs = new Map<string, RTCPeerConnection>();
  readonly peers = new Map<string, PeerInfo>();
  phase: Phase = 'connecting';
  seat: string | undefined;
  encounter: string | undefined;
  local: MediaStream | null = null;
  lastStats: CallStats | undefined;
  #signal: ReconnectingSocket | undefined;
  #ice: RTCIceServer[] = [];
  /** 'relay' when the node is configured relay-only (media through TURN alone). */
  #icePolicy: RTCIceTransportPolicy = 'all';
  #chains = new Map<string, Promise<void>>();
  #statsTimer: number | undefined;
  #prev: { at: number; bytes: number; lost: number; received: number; frames?: number; pc?: RTCPeerConnection } | undefined;
  #freshStart: boolean;
  /** Resolves once our own media is in hand (after admission): offers and answers wait for it. */
  #mediaReady: Promise<void>;
  #mediaResolve!: () => void;

  constructor(
    readonly appointmentId: string,
    readonly me: { id: string; role: string },
    /** Gets the camera and microphone; called once, on admission (never before: a refused join starts no media). */
    private readonly media: () => Promise<MediaStream | null>,
    private readonly on: CallEvents,
    /** Media already in hand (the patient's device check), shown in the waiting room. */
    initial: MediaStream | null = null,
  ) {
    this.local = initial;
    // A resume token in this tab means a reload during the call: our RTCPeerConnection is gone (fresh: true).
    this.#freshStart = sessionStorage.getItem(resumeKey(appointmentId)) !== null;
    this.#mediaReady = new Promise((resolve) => (this.#mediaResolve = resolve));
  }

  /** Opens the signaling socket and joins (or resumes after a reload). */
  start(path = '/ws/consult'): void {
    // Signaling (src/consult/PROTOCOL.md): each `ready` joins, or resumes the seat when this tab holds a resume token.
    this.#signal = new ReconnectingSocket({ path, token, maxDelayMs: 4000 }, {
      ready: (reconnected) => this.#enter(reconnected),
      frame: (f) => this.#frame(f),
      lost: () => {
        if (this.phase === 'waiting' || this.phase === 'in-call') this.#setPhase('reconnecting');
      },
      authFailed: () => this.#finish('refused', 'auth_failed'),
    });
  }

  admit(seat: string): void {
    this.#send({ type: 'admit', seat });
  }

  sendChat(text: string): boolean {
    return this.#send({ type: 'chat', text });
  }

  shareDocument(id: string): boolean {
    return this.#send({ type: 'document', documentReference: id });
  }

  /** The clinician ends the call for everyone. */
  end(): void {
    this.#send({ type: 'end' });
  }

  /** Leaves the call (the seat is freed at once). */
  leave(): void {
    this.#send({ type: 'leave' });
    this.#finish('left', 'left');
  }

  setMicrophone(on: boolean): void {
    for (const t of this.local?.getAudioTracks() ?? []) t.enabled = on;
    this.#sendMedia();
  }

  setCamera(on: boolean): void {
    for (const t of this.local?.getVideoTracks() ?? []) t.enabled = on;
    this.#sendMedia();
  }

  /** Tells the other seats whether our microphone and camera are on (PROTOCOL.md `media`); only once admitted. */
  #sendMedia(): void {
    if (this.phase !== 'in-call' || !this.local) return;
    const on = (ts: MediaStreamTrack[]) => ts.some((t) => t.enabled && t.readyState === 'live');
    this.#send({ type: 'media', audio: on(this.local.getAudioTracks()), video: on(this.local.getVideoTracks()) });
  }

  /** The first peer connection (the other person, in a two-party call). */
  get pc(): RTCPeerConnection | undefined {
    return this.pcs.values().next().value;
  }

  #send(frame: Record<string, unknown>): boolean {
    return this.#signal?.send({ appointmentId: this.appointmentId, ...frame }) ?? false;
  }

  #setPhase(p: Phase, detail?: string): void {
    this.phase = p;
    this.on.phase(p, detail);
  }

  #enter(_reconnected: boolean): void {
    const resumeToken = sessionStorage.getItem(resumeKey(this.appointmentId));
    if (resumeToken) {
      // Fresh until the node has given the seat back once (a drop before that still means no connection of ours exists).
      const fresh = this.#freshStart;
      this.#send({ type: 'resume', resumeToken, ...(fresh ? { fresh: true } : {}) });
    } else {
      this.#send({ type: 'join' });
    }
  }

  #frame(f: Frame): void {
    if (f.appointmentId !== undefined && f.appointmentId !== this.appointmentId) return;
    switch (f.type) {
      case 'waiting':
        sessionStorage.setItem(resumeKey(this.appointmentId), f.resumeToken);
        this.seat = f.seat;
        this.#setPhase('waiting');
        return;
      case 'admitted':
        void this.#admitted(f);
        return;
      case 'lobby':
        this.on.lobby(f.waiting as LobbyEntry[]);
        return;
      case 'peer-joined': {
        const peer = f.peer as PeerInfo;
        this.peers.set(peer.seat, peer);
        this.on.peers([...this.peers.values()]);
        this.#offer(peer.seat, { fresh: true });
        this.#sendMedia();
        return;
      }
      case 'ice-restart':
        this.on.notice('The other person is back: reconnecting the video…');
        this.#offer(f.seat, { fresh: Boolean(f.fresh) || !this.pcs.has(f.seat), restart: true });
        this.#sendMedia();
        return;
      case 'peer-disconnected': {
        const p = this.peers.get(f.seat);
        if (p) p.connected = false;
        this.on.peers([...this.peers.values()]);
        this.on.notice('The other person lost their connection; waiting for them to come back.');
        return;
      }
      case 'peer-left':
        this.peers.delete(f.seat);
        this.#closePeer(f.seat);
        this.on.peers([...this.peers.values()]);
        this.on.notice(f.reason === 'timeout' ? 'The other person did not come back in time.' : 'The other person left the call.');
        return;
      case 'offer':
        this.#run(f.from, () => this.#answer(f.from, f.sdp));
        return;
      case 'answer':
        this.#run(f.from, async () => {
          const pc = this.pcs.get(f.from);
          if (pc?.signalingState === 'have-local-offer') await pc.setRemoteDescription({ type: 'answer', sdp: f.sdp });
        });
        return;
      case 'candidate':
        this.#run(f.from, async () => {
          const pc = this.pcs.get(f.from);
          if (pc && pc.remoteDescription) await pc.addIceCandidate(f.candidate ?? undefined).catch(() => {});
        });
        return;
      case 'chat':
        this.on.chat({ from: f.from, user: f.user, id: f.id, text: f.text, sent: f.sent, mine: f.from === this.seat });
        return;
      case 'media':
        if (f.from !== this.seat) this.on.media(f.from, f.audio === true, f.video === true);
        return;
      case 'document':
        this.on.document({ from: f.from, id: f.id, title: f.title, contentType: f.contentType, mine: f.from === this.seat });
        return;
      case 'left':
        this.#finish(f.reason === 'replaced' ? 'refused' : 'left', f.reason);
        return;
      case 'ended':
        // Without an Encounter no call had started: the room was only closed, and the appointment can be joined again.
        this.#finish('ended', f.encounter ? f.reason : 'closed');
        return;
      case 'error':
        this.#error(f);
        return;
    }
  }

  #error(f: Frame): void {
    if (f.code === 'join_refused') return this.#finish('refused', f.reason);
    if (f.code === 'resume_failed') {
      // The seat is gone (away past the grace period): join afresh, as a new arrival.
      sessionStorage.removeItem(resumeKey(this.appointmentId));
      this.#freshStart = false;
      for (const seat of [...this.pcs.keys()]) this.#closePeer(seat);
      this.#send({ type: 'join' });
      return;
    }
    if (f.code === 'peer_unavailable') return;
    this.on.notice(f.code === 'forbidden' && f.reason ? `Not allowed: ${String(f.reason).replaceAll('_', ' ')}.` : `The node answered: ${f.message}`);
  }

  async #admitted(f: Frame): Promise<void> {
    sessionStorage.setItem(resumeKey(this.appointmentId), f.resumeToken);
    this.#freshStart = false;
    this.seat = f.seat;
    this.encounter = f.encounter;
    this.#ice = (f.iceServers ?? []) as RTCIceServer[];
    this.#icePolicy = f.iceTransportPolicy === 'relay' ? 'relay' : 'all';
    for (const p of (f.peers ?? []) as PeerInfo[]) this.peers.set(p.seat, p);
    this.on.peers([...this.peers.values()]);
    if (!this.local) {
      this.local = await this.media().catch(() => null);
      if (this.phase === 'refused' || this.phase === 'ended' || this.phase === 'left') {
        for (const t of this.local?.getTracks() ?? []) t.stop();
        this.local = null;
        return;
      }
      this.on.local(this.local);
    }
    this.#mediaResolve();
    // New ICE servers (fresh TURN credentials) apply to the connections we keep.
    for (const pc of this.pcs.values()) {
      try {
        pc.setConfiguration({ ...pc.getConfiguration(), iceServers: this.#ice, iceTransportPolicy: this.#icePolicy });
      } catch {
        /* kept with the old servers: an ICE restart still works over the host candidates */
      }
    }
    this.#setPhase('in-call', f.resumed ? 'resumed' : undefined);
    this.#sendMedia();
    this.#statsTimer ??= window.setInterval(() => void this.#reportStats(), STATS_EVERY_MS);
  }

  /** Runs signaling work for one peer in order (an answer must not overtake its offer, nor a candidate). */
  #run(seat: string, work: () => Promise<void>): void {
    const next = (this.#chains.get(seat) ?? this.#mediaReady).then(work).catch((err) => {
      console.warn('webrtc', seat, err);
    });
    this.#chains.set(seat, next);
  }

  #peer(seat: string, fresh: boolean): RTCPeerConnection {
    const old = this.pcs.get(seat);
    if (old && !fresh && old.signalingState !== 'closed') return old;
    if (old) this.#closePeer(seat);
    const pc = new RTCPeerConnection({ iceServers: this.#ice, iceTransportPolicy: this.#icePolicy });
    const local = this.local;
    if (local) for (const t of local.getTracks()) pc.addTrack(t, local);
    // Without a camera or microphone of our own we still receive the other person's.
    if (!local?.getAudioTracks().length) pc.addTransceiver('audio', { direction: 'recvonly' });
    if (!local?.getVideoTracks().length) pc.addTransceiver('video', { direction: 'recvonly' });
    pc.onicecandidate = (e) => {
      if (this.pcs.get(seat) === pc) this.#send({ type: 'candidate', to: seat, candidate: e.candidate ? e.candidate.toJSON() : null });
    };
    const remote = new MediaStream();
    pc.ontrack = (e) => {
      remote.addTrack(e.track);
      this.on.remote(seat, remote);
    };
    pc.onconnectionstatechange = () => {
      if (this.pcs.get(seat) !== pc) return;
      if (pc.connectionState === 'connected') this.on.notice('');
      // Only one side restarts on its own (the impolite one), so two restarts never cross.
      if (pc.connectionState === 'failed' && !this.#polite(seat)) this.#offer(seat, { fresh: false, restart: true });
    };
    this.pcs.set(seat, pc);
    return pc;
  }

  #closePeer(seat: string): void {
    const pc = this.pcs.get(seat);
    if (!pc) return;
    this.pcs.delete(seat);
    pc.onicecandidate = pc.ontrack = pc.onconnectionstatechange = null;
    pc.close();
    this.on.remote(seat, null);
  }

  #offer(seat: string, o: { fresh: boolean; restart?: boolean }): void {
    this.#run(seat, async () => {
      const pc = this.#peer(seat, o.fresh);
      if (o.restart && !o.fresh) pc.restartIce();
      const offer = await pc.createOffer(o.restart && !o.fresh ? { iceRestart: true } : {});
      await pc.setLocalDescription(offer);
      this.#send({ type: 'offer', to: seat, sdp: pc.localDescription!.sdp });
    });
  }

  /**
   * Perfect negotiation's roles (https://w3c.github.io/webrtc-pc/#perfect-negotiation-example),
   * fixed by comparing seat ids: when offers cross, the polite side yields.
   */
  #polite(seat: string): boolean {
    return (this.seat ?? '') > seat;
  }

  async #answer(seat: string, sdp: string): Promise<void> {
    let pc = this.#peer(seat, false);
    // Offers crossed: the impolite side keeps its own and ignores this one; the polite side rolls back (implicitly) and answers.
    if (pc.signalingState === 'have-local-offer' && !this.#polite(seat)) return;
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp });
    } catch {
      // The other side started over with a new connection (a reload): so do we.
      pc = this.#peer(seat, true);
      await pc.setRemoteDescription({ type: 'offer', sdp });
    }
    await pc.setLocalDescription(await pc.createAnswer());
    this.#send({ type: 'answer', to: seat, sdp: pc.localDescription!.sdp });
  }

  /** The `stats` summary of the first connection: selected pair RTT, inbound video jitter, loss, frames, bitrate. */
  async #reportStats(): Promise<void> {
    const pc = this.pc;
    if (!pc || this.phase !== 'in-call') return;
    const report = await pc.getStats();
    const s: CallStats = {};
    let bytes = 0;
    let lost = 0;
    let received = 0;
    report.forEach((r: any) => {
      if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded' && typeof r.currentRoundTripTime === 'number') s.rtt = r.currentRoundTripTime;
      if (r.type === 'inbound-rtp') {
        bytes += r.bytesReceived ?? 0;
        lost += Math.max(0, r.packetsLost ?? 0);
        received += r.packetsReceived ?? 0;
        if (r.kind === 'video') {
          if (typeof r.jitter === 'number') s.jitter = r.jitter;
          if (typeof r.framesDecoded === 'number') s.framesDecoded = r.framesDecoded;
        }
      }
    });
    const now = performance.now();
    if (this.#prev && now > this.#prev.at) {
      const dBytes = bytes - this.#prev.bytes;
      const dLost = lost - this.#prev.lost;
      const dReceived = received - this.#prev.received;
      if (dBytes >= 0) s.bitrate = (dBytes * 8) / ((now - this.#prev.at) / 1000);
      if (dLost >= 0 && dReceived >= 0 && dLost + dReceived > 0) s.packetLoss = dLost / (dLost + dReceived);
    }
    if (this.#prev?.pc === pc && this.#prev.frames !== undefined && s.framesDecoded !== undefined) s.videoStalled = s.framesDecoded <= this.#prev.frames;
    this.#prev = { at: now, bytes, lost, received, pc, ...(s.framesDecoded !== undefined ? { frames: s.framesDecoded } : {}) };
    const clamp = (v: number | undefined, max: number) => (v === undefined || !Number.isFinite(v) ? undefined : Math.min(max, Math.max(0, v)));
    const frame: Record<string, unknown> = { type: 'stats' };
    for (const [k, v, max] of [['rtt', s.rtt, 60], ['jitter', s.jitter, 60], ['packetLoss', s.packetLoss, 1], ['bitrate', s.bitrate, 1e10]] as const) {
      const c = clamp(v, max);
      if (c !== undefined) frame[k] = c;
    }
    if (s.framesDecoded !== undefined) frame.framesDecoded = Math.floor(s.framesDecoded);
    this.lastStats = s;
    this.#send(frame);
    this.on.stats(s);
  }

  /** Stops everything: media, connections, the socket. Idempotent. */
  #finish(p: Phase, reason?: string): void {
    if (this.phase === 'refused' || this.phase === 'ended' || this.phase === 'left') return;
    clearInterval(this.#statsTimer);
    sessionStorage.removeItem(resumeKey(this.appointmentId));
    for (const seat of [...this.pcs.keys()]) this.#closePeer(seat);
    for (const t of this.local?.getTracks() ?? []) t.stop();
    this.local = null;
    this.on.local(null);
    this.#signal?.close();
    this.#setPhase(p, reason);
  }

  /** Releases everything without telling the node (the page is going away; the seat waits out its grace period). */
  dispose(): void {
    clearInterval(this.#statsTimer);
    this.#signal?.close();
  }
}
