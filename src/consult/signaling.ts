/**
 * What each signaling frame does to the rooms: the waiting room (and the
 * dashboards that watch it), relaying offer/answer/candidate between the
 * admitted seats of one room, chat kept as Communication, document share,
 * call-quality reports, leave, end, resume after a drop, and the call's
 * lifecycle (Encounter started at the first admit, finished at the end or
 * when abandoned). Every seat is decided by admission.ts, at join and again
 * every `recheckMs`. Transport-free: it sees {@link Connection}s, never sockets.
 */
import type { Logger } from 'pino';
import type { Principal } from '../auth/index.ts';
import type { PolicyEngine } from '../policy/index.ts';
import { Admissions, principalOfSeat, seatRoleOf, type Admission } from './admission.ts';
import { SignalingError, type Connection } from './connection.ts';
import { ErrorCodes, type ClientFrame, type FrameOf, type ServerFrame } from './protocol.ts';
import type { ConsultEmitter } from './events.ts';
import type { ConsultMetrics } from './quality.ts';
import type { AppointmentFacts, ConsultRecords } from './records.ts';
import { Room, type Participant } from './room.ts';
import type { IceServerMinter } from './turn.ts';

export interface SignalingDeps {
  records: ConsultRecords;
  policy: () => PolicyEngine;
  ice: IceServerMinter;
  metrics: ConsultMetrics;
  logger: Logger;
  /** How long a dropped seat is kept for a resume, in ms. */
  graceMs: number;
  /** How long a started call may stand empty before it is ended as `abandoned`, in ms. */
  abandonAfterMs: number;
  /** How often the seats of every room are decided again (a withdrawn consent, a new policy bundle), in ms. */
  recheckMs: number;
  /** Called for every policy decision (the node counts them). */
  onDecision?: (action: string, allow: boolean) => void;
  events: ConsultEmitter;
}

export class Signaling {
  readonly #d: SignalingDeps;
  readonly #rooms = new Map<string, Room>();
  readonly #starting = new WeakMap<Room, Promise<void>>();
  readonly #ending = new WeakMap<Room, Promise<void>>();
  /** Sockets watching an appointment's waiting room without a seat, by appointment id. */
  readonly #watchers = new Map<string, Set<Connection>>();
  /** Started calls that everyone left: ended as `abandoned` unless someone comes back in time. */
  readonly #abandoned = new Map<Room, NodeJS.Timeout>();

  readonly #recheck: NodeJS.Timeout;
  #rechecking = false;

  readonly #admissions: Admissions;

  constructor(deps: SignalingDeps) {
    this.#d = deps;
    this.#admissions = new Admissions({
      records: deps.records,
      policy: deps.policy,
      ending: (id) => this.#rooms.get(id)?.ended === true,
      ...(deps.onDecision ? { onDecision: deps.onDecision } : {}),
    });
    this.#recheck = setInterval(() => void this.recheck(), deps.recheckMs);
    this.#recheck.unref();
  }

  /**
   * Decides every seat again, as at its join: a seat the policy now refuses
   * (the consent was withdrawn, a new bundle says no) is told `join_refused`
   * and freed; the others see it leave with reason `refused`.
   */
  async recheck(): Promise<void> {
    if (this.#rechecking) return;
    this.#rechecking = true;
    try {
      let n = 0;
      for (const room of [...this.#rooms.values()]) {
        // A few rooms at a time: each decision reads the record, and signaling must not wait behind a thousand of them.
        if (++n % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
        if (!room.closed) this.#recheckRoom(room);
      }
    } finally {
      this.#rechecking = false;
    }
  }

  #recheckRoom(room: Room): void {
    if (this.#ending.has(room)) return;
    const refused = room.seats().map((p) => {
      const a = this.admission(principalOfSeat(p), room.appointmentId);
      return { p, reason: a.ok ? undefined : a.reason };
    }).filter((r): r is { p: Participant; reason: string } => r.reason !== undefined);
    if (refused.length === 0) return;
    this.#d.logger.info({ event: 'seats_refused', reasons: [...new Set(refused.map((r) => r.reason))], call: room.id }, 'seats refused on a recheck');
    for (const r of refused) this.#d.metrics.refused(r.p.role, r.reason);
    if (refused.length === room.size && room.encounter) {
      // Nobody may stay (a withdrawn consent refuses everyone): the call ends, its Encounter finished.
      this.endCall(room, refused[0]!.reason).catch(() => {});
      return;
    }
    for (const { p, reason } of refused) {
      p.send({ type: 'error', code: ErrorCodes.joinRefused, message: `the call is no longer allowed: ${reason}`, reason, appointmentId: room.appointmentId });
      p.send({ type: 'left', appointmentId: room.appointmentId, reason: 'refused' });
      this.#vacate(p, 'refused');
    }
  }

  room(appointmentId: string): Room | undefined {
    return this.#rooms.get(appointmentId);
  }

  get roomCount(): number {
    return this.#rooms.size;
  }

  /** Decides whether `principal` may be in the call of an Appointment (see admission.ts). */
  admission(principal: Principal, appointmentId: string, now = Date.now()): Admission {
    return this.#admissions.decide(principal, appointmentId, now);
  }

  /** Handles one frame of an authenticated connection; throws {@link SignalingError} to answer with an error frame. */
  handle(conn: Connection, f: ClientFrame): Promise<void> | void {
    switch (f.type) {
      case 'join': return this.#join(conn, f);
      case 'resume': return this.#resume(conn, f);
      case 'admit': return this.#admit(conn, f);
      case 'offer':
      case 'answer':
      case 'candidate': return this.#relay(conn, f);
      case 'chat': return this.#chat(conn, f);
      case 'stats': return this.#stats(conn, f);
      case 'media': return this.#media(conn, f);
      case 'document': return this.#document(conn, f);
      case 'watch': return this.#watch(conn, f);
      case 'unwatch': return this.#unwatch(conn, f.appointmentId);
      case 'leave': return this.#leave(conn, f);
      case 'end': return this.#end(conn, f);
      case 'ping': return conn.send({ type: 'pong', ...(f.t !== undefined ? { t: f.t } : {}), ...(f.ref ? { ref: f.ref } : {}) });
      case 'hello': throw new SignalingError(ErrorCodes.alreadyAuthenticated, 'this socket is already authenticated');
    }
  }

  /** The socket dropped: its seats wait `graceMs` for a resume, then are freed. */
  disconnected(conn: Connection): void {
    for (const id of [...this.#watchers.keys()]) this.#unwatch(conn, id);
    for (const p of conn.seats()) {
      if (p.closed || p.link !== conn) continue;
      p.detach(this.#d.graceMs, (q) => this.#vacate(q, 'timeout'));
      if (p.state === 'admitted') p.room.toAdmitted({ type: 'peer-disconnected', appointmentId: p.room.appointmentId, seat: p.seat, graceMs: this.#d.graceMs }, p);
      else p.room.sendLobby();
    }
  }

  /**
   * Closes every room (node shutdown). Calls in progress keep their
   * in-progress Encounter, picked up again at the next join (a call nobody
   * rejoins after a restart stays in progress until ended).
   */
  close(): void {
    clearInterval(this.#recheck);
    for (const room of [...this.#rooms.values()]) {
      for (const p of room.seats()) this.#free(p, 'shutdown');
      room.close();
    }
  }

  // ---- frames -----------------------------------------------------------------

  #refuse(principal: Principal, appointmentId: string, reason: string): never {
    this.#d.metrics.refused(seatRoleOf(principal) ?? 'other', reason);
    this.#d.logger.info({ event: 'join_refused', reason, role: principal.role }, 'join refused');
    throw new SignalingError(ErrorCodes.joinRefused, `the join was refused: ${reason}`, reason, appointmentId);
  }

  #roomFor(facts: AppointmentFacts): Room {
    let room = this.#rooms.get(facts.id);
    if (room) {
      clearTimeout(this.#abandoned.get(room));
      this.#abandoned.delete(room);
      room.refresh(facts);
      return room;
    }
    const open = this.#d.records.openEncounter(facts.id);
    const created: Room = new Room(facts, this.#d.metrics, {
      watchers: (r) => this.#watchers.get(r.appointmentId) ?? [],
      onClose: (r) => {
        clearTimeout(this.#abandoned.get(r));
        this.#abandoned.delete(r);
        if (this.#rooms.get(r.appointmentId) === r) this.#rooms.delete(r.appointmentId);
        this.#d.metrics.rooms.set(this.#rooms.size);
      },
    }, open);
    room = created;
    this.#rooms.set(facts.id, room);
    this.#d.metrics.rooms.set(this.#rooms.size);
    return room;
  }

  #seatIn(conn: Connection, appointmentId: string, admitted = true): Participant {
    const p = conn.seat(appointmentId);
    if (!p || p.closed) throw new SignalingError(ErrorCodes.notInRoom, 'this socket holds no seat in that room', undefined, appointmentId);
    if (admitted && p.state !== 'admitted') throw new SignalingError(ErrorCodes.notAdmitted, 'wait to be admitted', undefined, appointmentId);
    return p;
  }

  #admittedFrame(p: Participant, resumed: boolean, ref?: string): ServerFrame {
    const enc = p.room.encounter;
    return {
      type: 'admitted',
      appointmentId: p.room.appointmentId,
      seat: p.seat,
      resumeToken: p.resumeToken,
      resumed,
      iceServers: this.#d.ice.mint(p.seat),
      ...(this.#d.ice.transportPolicy === 'relay' ? { iceTransportPolicy: 'relay' as const } : {}),
      peers: p.room.admitted().filter((x) => x !== p).map((x) => x.info()),
      ...(enc ? { encounter: enc.id } : {}),
      ...(ref ? { ref } : {}),
    };
  }

  #waitingFrame(p: Participant, ref?: string): ServerFrame {
    return { type: 'waiting', appointmentId: p.room.appointmentId, seat: p.seat, resumeToken: p.resumeToken, ...(ref ? { ref } : {}) };
  }

  /** Tells the seat's own socket and the room that it is gone, frees it, and drops an empty room. */
  #vacate(p: Participant, reason: string): void {
    const room = p.room;
    const wasAdmitted = p.state === 'admitted';
    this.#free(p, reason);
    if (wasAdmitted) room.toAdmitted({ type: 'peer-left', appointmentId: room.appointmentId, seat: p.seat, reason });
    room.sendLobby();
    if (room.size > 0 || this.#ending.has(room) || room.closed) return;
    if (!room.encounter) {
      room.close();
      return;
    }
    // A started call that everyone left waits a while for someone to come back, then ends.
    const timer = setTimeout(() => {
      this.#abandoned.delete(room);
      if (room.size === 0 && !room.closed) this.endCall(room, 'abandoned').catch(() => room.close());
    }, this.#d.abandonAfterMs);
    timer.unref();
    this.#abandoned.set(room, timer);
  }

  /** Closes a seat and says so on the event bus. */
  #free(p: Participant, reason: string): void {
    if (p.closed) return;
    p.close();
    this.#d.events.emit('left', { appointmentId: p.room.appointmentId, seat: p.seat, user: p.user, role: p.role, reason });
  }

  #admitted(p: Participant, resumed: boolean): void {
    this.#d.events.emit('admitted', { appointmentId: p.room.appointmentId, seat: p.seat, user: p.user, role: p.role, resumed });
  }

  #join(conn: Connection, f: FrameOf<'join'>): void {
    const principal = conn.principal!;
    const mine = conn.seat(f.appointmentId);
    if (mine && !mine.closed) {
      // Joining twice on one socket is harmless: the current state again.
      conn.send(mine.state === 'admitted' ? this.#admittedFrame(mine, false, f.ref) : this.#waitingFrame(mine, f.ref));
      return;
    }
    const a = this.admission(principal, f.appointmentId);
    if (!a.ok) this.#refuse(principal, f.appointmentId, a.reason);
    const room = this.#roomFor(a.facts);
    const prior = room.seatOf(principal.id);
    if (prior) {
      // One seat per person: a join from a new socket (without the resume token) replaces the old seat.
      prior.send({ type: 'left', appointmentId: room.appointmentId, reason: 'replaced' });
      this.#vacate(prior, 'replaced');
    }
    const p = room.addSeat(principal.id, a.role, conn);
    conn.hold(p);
    if (a.role === 'clinician') {
      p.admit();
      this.#admitted(p, false);
      this.#d.metrics.joins.inc({ role: a.role, outcome: 'admitted' });
      p.send(this.#admittedFrame(p, false, f.ref));
      room.toAdmitted({ type: 'peer-joined', appointmentId: room.appointmentId, peer: p.info() }, p);
      p.send(room.lobbyFrame());
    } else {
      this.#d.metrics.joins.inc({ role: a.role, outcome: 'waiting' });
      p.send(this.#waitingFrame(p, f.ref));
      room.sendLobby();
    }
  }

  #resume(conn: Connection, f: FrameOf<'resume'>): void {
    const principal = conn.principal!;
    const room = this.#rooms.get(f.appointmentId);
    const p = room?.seatOf(principal.id);
    if (!room || !p || !p.resumeMatches(f.resumeToken)) {
      throw new SignalingError(ErrorCodes.resumeFailed, 'the seat is gone or the resume token does not match: join again', undefined, f.appointmentId);
    }
    const a = this.admission(principal, f.appointmentId);
    if (!a.ok) {
      this.#vacate(p, 'refused');
      this.#refuse(principal, f.appointmentId, a.reason);
    }
    const old = p.link;
    if (old && old !== conn) old.send({ type: 'left', appointmentId: room.appointmentId, reason: 'resumed_elsewhere' });
    p.attach(conn);
    conn.hold(p);
    room.quality.resumed();
    this.#d.metrics.joins.inc({ role: p.role, outcome: 'resumed' });
    if (p.state === 'admitted') {
      this.#admitted(p, true);
      p.send(this.#admittedFrame(p, true, f.ref));
      // The peers that stayed renegotiate: an ICE restart (RFC 8445 §9; createOffer({iceRestart: true}))
      // or, when the resumed client starts from a new RTCPeerConnection, a new connection altogether.
      room.toAdmitted({ type: 'ice-restart', appointmentId: room.appointmentId, seat: p.seat, fresh: f.fresh === true }, p);
      if (p.role === 'clinician') p.send(room.lobbyFrame());
    } else {
      p.send(this.#waitingFrame(p, f.ref));
      room.sendLobby();
    }
  }

  async #admit(conn: Connection, f: FrameOf<'admit'>): Promise<void> {
    const host = this.#seatIn(conn, f.appointmentId, false);
    if (host.role !== 'clinician' || host.state !== 'admitted') {
      throw new SignalingError(ErrorCodes.forbidden, 'only the clinician admits from the waiting room', undefined, f.appointmentId);
    }
    const room = host.room;
    const target = room.seat(f.seat);
    if (!target || target.state !== 'waiting') {
      throw new SignalingError(ErrorCodes.unknownParticipant, 'no one with that seat waits in this room', undefined, f.appointmentId);
    }
    // Consent may have been withdrawn while the patient waited: ask again.
    const again = this.admission(principalOfSeat(target), room.appointmentId);
    if (!again.ok) {
      target.send({ type: 'error', code: ErrorCodes.joinRefused, message: `the join was refused: ${again.reason}`, reason: again.reason, appointmentId: room.appointmentId });
      this.#vacate(target, 'refused');
      throw new SignalingError(ErrorCodes.joinRefused, `the participant may not join: ${again.reason}`, again.reason, f.appointmentId);
    }
    await this.#startCall(room, host.user);
    if (target.closed || target.state !== 'waiting') {
      throw new SignalingError(ErrorCodes.unknownParticipant, 'the participant left the waiting room', undefined, f.appointmentId);
    }
    target.admit();
    this.#admitted(target, false);
    this.#d.metrics.joins.inc({ role: target.role, outcome: 'admitted' });
    this.#d.metrics.waitSeconds.observe((Date.now() - target.since) / 1000);
    target.send(this.#admittedFrame(target, false));
    room.toAdmitted({ type: 'peer-joined', appointmentId: room.appointmentId, peer: target.info() }, target);
    room.sendLobby();
  }

  /** Creates the call's Encounter once (in-progress, period.start = now). */
  #startCall(room: Room, clinician: string): Promise<void> {
    if (room.encounter) return Promise.resolve();
    let p = this.#starting.get(room);
    if (!p) {
      p = this.#d.records.startEncounter(room.facts, clinician).then(
        (e) => {
          room.setEncounter(e);
          this.#d.events.emit('call-started', { appointmentId: room.appointmentId, encounter: e.id, patient: room.facts.patient!, clinician });
          this.#d.logger.info({ event: 'call_started', call: room.id }, 'call started');
        },
        (err: unknown) => {
          this.#starting.delete(room);
          throw err;
        },
      );
      this.#starting.set(room, p);
    }
    return p;
  }

  #relay(conn: Connection, f: FrameOf<'offer'> | FrameOf<'answer'> | FrameOf<'candidate'>): void {
    const p = this.#seatIn(conn, f.appointmentId);
    const room = p.room;
    let targets: Participant[];
    if (f.to !== undefined) {
      const t = room.seat(f.to);
      if (!t || t === p || t.state !== 'admitted') throw new SignalingError(ErrorCodes.unknownParticipant, 'no admitted peer with that seat in this room', undefined, f.appointmentId);
      targets = [t];
    } else {
      targets = room.admitted().filter((x) => x !== p);
    }
    targets = targets.filter((t) => t.connected);
    if (targets.length === 0) throw new SignalingError(ErrorCodes.peerUnavailable, 'no connected peer to send to (it may be reconnecting)', undefined, f.appointmentId);
    const frame: ServerFrame = f.type === 'candidate'
      ? { type: 'candidate', appointmentId: f.appointmentId, from: p.seat, candidate: f.candidate }
      : { type: f.type, appointmentId: f.appointmentId, from: p.seat, sdp: f.sdp };
    for (const t of targets) t.send(frame);
  }

  async #chat(conn: Connection, f: FrameOf<'chat'>): Promise<void> {
    const p = this.#seatIn(conn, f.appointmentId);
    const room = p.room;
    const stored = await this.#d.records.storeChat({
      appointmentId: room.appointmentId,
      patient: room.facts.patient!,
      ...(room.encounter ? { encounter: room.encounter.id } : {}),
      sender: p.user,
      recipients: room.admitted().filter((x) => x !== p).map((x) => x.user),
      text: f.text,
    });
    // Sent after the commit: the sender's copy (with its ref) is the acknowledgement.
    const frame = { type: 'chat', appointmentId: room.appointmentId, from: p.seat, user: p.user, id: stored.id, text: f.text, sent: stored.sent } as const;
    for (const x of room.admitted()) x.send(x === p && f.ref ? { ...frame, ref: f.ref } : frame);
  }

  /** Shares a stored DocumentReference of the room's patient with the room, if the policy allows `share_document`. */
  #document(conn: Connection, f: FrameOf<'document'>): void {
    const p = this.#seatIn(conn, f.appointmentId);
    const room = p.room;
    const patient = room.facts.patient!;
    const doc = this.#d.records.document(f.documentReference, patient);
    if (!doc) throw new SignalingError(ErrorCodes.unknownDocument, "no such DocumentReference of this call's patient", undefined, f.appointmentId);
    const decision = this.#admissions.share(principalOfSeat(p), patient, doc.id);
    if (!decision.allow) throw new SignalingError(ErrorCodes.forbidden, `sharing was refused: ${decision.reason}`, decision.reason, f.appointmentId);
    const frame = { type: 'document', appointmentId: room.appointmentId, from: p.seat, ...doc } as const;
    for (const x of room.admitted()) x.send(x === p && f.ref ? { ...frame, ref: f.ref } : frame);
  }

  /** At most this many rooms watched by one socket (a clinician's day, with room to spare). */
  static readonly MAX_WATCHES = 200;

  /** A clinician of the appointment (admitted by the same checks as a join) follows its waiting room. */
  #watch(conn: Connection, f: FrameOf<'watch'>): void {
    const principal = conn.principal!;
    if (seatRoleOf(principal) !== 'clinician') throw new SignalingError(ErrorCodes.forbidden, 'only clinicians watch waiting rooms', undefined, f.appointmentId);
    let watching = 0;
    for (const set of this.#watchers.values()) if (set.has(conn)) watching += 1;
    if (watching >= Signaling.MAX_WATCHES) throw new SignalingError(ErrorCodes.forbidden, `a socket watches at most ${Signaling.MAX_WATCHES} rooms`, undefined, f.appointmentId);
    const a = this.admission(principal, f.appointmentId);
    if (!a.ok) this.#refuse(principal, f.appointmentId, a.reason);
    let set = this.#watchers.get(f.appointmentId);
    if (!set) this.#watchers.set(f.appointmentId, (set = new Set()));
    set.add(conn);
    const room = this.#rooms.get(f.appointmentId);
    const snapshot: ServerFrame = room ? room.lobbyFrame() : { type: 'lobby', appointmentId: f.appointmentId, waiting: [] };
    conn.send(f.ref ? { ...snapshot, ref: f.ref } as ServerFrame : snapshot);
  }

  #unwatch(conn: Connection, appointmentId: string): void {
    const set = this.#watchers.get(appointmentId);
    set?.delete(conn);
    if (set?.size === 0) this.#watchers.delete(appointmentId);
  }

  #stats(conn: Connection, f: FrameOf<'stats'>): void {
    const p = this.#seatIn(conn, f.appointmentId);
    p.room.quality.report(p.seat, f);
  }

  /** A seat's microphone/camera state, to the other connected admitted seats (none connected: nothing to tell, no error). */
  #media(conn: Connection, f: FrameOf<'media'>): void {
    const p = this.#seatIn(conn, f.appointmentId);
    const frame: ServerFrame = { type: 'media', appointmentId: f.appointmentId, from: p.seat, audio: f.audio, video: f.video };
    for (const t of p.room.admitted()) if (t !== p && t.connected) t.send(frame);
  }

  #leave(conn: Connection, f: FrameOf<'leave'>): void {
    const p = this.#seatIn(conn, f.appointmentId, false);
    conn.send({ type: 'left', appointmentId: f.appointmentId, reason: 'left', ...(f.ref ? { ref: f.ref } : {}) });
    this.#vacate(p, 'left');
  }

  async #end(conn: Connection, f: FrameOf<'end'>): Promise<void> {
    const p = this.#seatIn(conn, f.appointmentId, false);
    if (p.role !== 'clinician' || p.state !== 'admitted') throw new SignalingError(ErrorCodes.forbidden, 'only the clinician ends the call', undefined, f.appointmentId);
    await this.endCall(p.room, 'ended_by_clinician');
  }

  /**
   * Ends a call: the Encounter finished with period.end, the Appointment
   * fulfilled (only if the call started), every seat told `ended`, the room closed. Idempotent; a
   * failed write leaves the room as it was (the clinician may try again).
   */
  endCall(room: Room, reason: string): Promise<void> {
    let p = this.#ending.get(room);
    if (p) return p;
    room.markEnded(true);
    p = (async () => {
      try {
        await this.#starting.get(room);
      } catch {
        // A failed start leaves no Encounter to finish.
      }
      const enc = room.encounter;
      const end = new Date();
      // A call that never started (nobody admitted) leaves the Appointment as it was: the room just closes.
      if (enc) {
        await this.#d.records.finishEncounter(enc.id, end);
        await this.#d.records.fulfilAppointment(room.appointmentId);
      }
      const duration = enc ? Math.max(0, (end.getTime() - Date.parse(enc.start)) / 1000) : undefined;
      if (duration !== undefined) this.#d.metrics.callSeconds.observe(duration);
      const summary = { ...room.quality.summary(duration), call: room.id };
      this.#d.metrics.calls.inc({ quality: summary.quality });
      this.#d.logger.info({ event: 'call_ended', reason, summary }, 'call ended');
      this.#d.events.emit('call-ended', { appointmentId: room.appointmentId, ...(enc ? { encounter: enc.id } : {}), reason, summary });
      const frame: ServerFrame = { type: 'ended', appointmentId: room.appointmentId, reason, ...(enc ? { encounter: enc.id } : {}) };
      const told = new Set<unknown>();
      for (const s of room.seats()) {
        s.send(frame);
        told.add(s.link);
        this.#free(s, 'ended');
      }
      for (const w of this.#watchers.get(room.appointmentId) ?? []) if (!told.has(w)) w.send(frame);
      this.#watchers.delete(room.appointmentId);
      room.close();
    })();
    p = p.catch((err: unknown) => {
      this.#ending.delete(room);
      room.markEnded(false);
      throw err;
    });
    this.#ending.set(room, p);
    return p;
  }
}
