/**
 * The consultation's object model: a {@link Room} per booked Appointment,
 * holding {@link Participant} seats. Closing is idempotent and cascades
 * (room → seats → their grace timers and socket links), as in mediasoup's
 * `Router.close()`.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { PeerInfo, ServerFrame } from './protocol.ts';
import { CallQuality, type ConsultMetrics } from './quality.ts';
import type { AppointmentFacts } from './records.ts';

export type SeatId = string & { readonly __brand: 'SeatId' };
export type RoomId = string & { readonly __brand: 'RoomId' };
export type SeatState = 'waiting' | 'admitted';
/** A seat's role in the room: the clinician hosts (admits, ends), the patient waits to be admitted. */
export type SeatRole = 'clinician' | 'patient';

const token = (bytes: number) => randomBytes(bytes).toString('base64url');
export const newSeatId = () => token(12) as SeatId;
export const newRoomId = () => token(12) as RoomId;

/** The socket side of a seat (a Connection): where frames go, and who forgets the seat on close. */
export interface SeatLink {
  readonly id: string;
  send(frame: ServerFrame): void;
  /** The seat no longer belongs to this link. */
  forget(p: Participant): void;
}

/** One person's place in a room. Survives a dropped socket for the grace period. */
export class Participant {
  readonly seat: SeatId = newSeatId();
  readonly room: Room;
  /** FHIR reference of the person (`Practitioner/x`, `Patient/y`). */
  readonly user: string;
  readonly role: SeatRole;
  /** When this seat entered the room (ms since epoch); for the waiting time. */
  readonly since = Date.now();
  #state: SeatState = 'waiting';
  #link: SeatLink | undefined;
  #resume = token(24);
  #grace: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(room: Room, user: string, role: SeatRole, link: SeatLink) {
    this.room = room;
    this.user = user;
    this.role = role;
    this.#link = link;
  }

  get state(): SeatState { return this.#state; }
  get connected(): boolean { return this.#link !== undefined; }
  get closed(): boolean { return this.#closed; }
  get link(): SeatLink | undefined { return this.#link; }
  get resumeToken(): string { return this.#resume; }

  admit(): void {
    if (!this.#closed) this.#state = 'admitted';
  }

  info(): PeerInfo {
    return { seat: this.seat, user: this.user, role: this.role, connected: this.connected };
  }

  send(frame: ServerFrame): void {
    if (!this.#closed) this.#link?.send(frame);
  }

  /** Constant-time check of a resume token. */
  resumeMatches(candidate: string): boolean {
    const a = Buffer.from(candidate);
    const b = Buffer.from(this.#resume);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Binds the seat to a (new) socket, cancelling the grace timer; issues a fresh resume token. */
  attach(link: SeatLink): void {
    if (this.#closed) return;
    clearTimeout(this.#grace);
    this.#grace = undefined;
    const old = this.#link;
    this.#link = link;
    if (old && old !== link) old.forget(this);
    this.#resume = token(24);
  }

  /** The socket dropped: the seat is kept for `graceMs`, then `onExpire` runs (unless resumed). */
  detach(graceMs: number, onExpire: (p: Participant) => void): void {
    if (this.#closed) return;
    this.#link = undefined;
    clearTimeout(this.#grace);
    this.#grace = setTimeout(() => {
      this.#grace = undefined;
      if (!this.#closed && this.#link === undefined) onExpire(this);
    }, graceMs);
    this.#grace.unref();
  }

  /** Frees the seat: stops its timer, unbinds its socket, leaves the room. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#grace);
    this.#grace = undefined;
    const link = this.#link;
    this.#link = undefined;
    link?.forget(this);
    this.room.removeSeat(this);
  }
}

export interface RoomHooks {
  /** The room closed (ended or emptied): the registry drops it. */
  onClose(room: Room): void;
  /** Sockets that watch this room's waiting room without a seat (a clinician's dashboard). */
  watchers(room: Room): Iterable<{ send(frame: ServerFrame): void }>;
}

/** A consultation room: one per booked Appointment while anyone is in it or its call runs. */
export class Room {
  readonly id: RoomId = newRoomId();
  readonly appointmentId: string;
  readonly quality: CallQuality;
  #facts: AppointmentFacts;
  readonly #hooks: RoomHooks;
  readonly #seats = new Map<SeatId, Participant>();
  #encounter: { id: string; start: string } | undefined;
  #ended = false;
  #closed = false;

  constructor(facts: AppointmentFacts, metrics: ConsultMetrics, hooks: RoomHooks, encounter?: { id: string; start: string }) {
    this.appointmentId = facts.id;
    this.#facts = facts;
    this.quality = new CallQuality(this.id, metrics);
    this.#hooks = hooks;
    this.#encounter = encounter;
  }

  get facts(): AppointmentFacts { return this.#facts; }
  get encounter(): { id: string; start: string } | undefined { return this.#encounter; }
  /** True once the clinician ended the call (joins are refused from then on). */
  get ended(): boolean { return this.#ended; }
  get closed(): boolean { return this.#closed; }
  get size(): number { return this.#seats.size; }

  /** Refreshes the Appointment facts (re-read at every join). */
  refresh(facts: AppointmentFacts): void { this.#facts = facts; }
  setEncounter(e: { id: string; start: string }): void { this.#encounter = e; }
  markEnded(ended: boolean): void { this.#ended = ended; }

  seat(id: string): Participant | undefined { return this.#seats.get(id as SeatId); }
  seatOf(user: string): Participant | undefined {
    for (const p of this.#seats.values()) if (p.user === user) return p;
    return undefined;
  }
  seats(): Participant[] { return [...this.#seats.values()]; }
  admitted(): Participant[] { return this.seats().filter((p) => p.state === 'admitted'); }
  waiting(): Participant[] { return this.seats().filter((p) => p.state === 'waiting'); }

  addSeat(user: string, role: SeatRole, link: SeatLink): Participant {
    const p = new Participant(this, user, role, link);
    this.#seats.set(p.seat, p);
    return p;
  }

  /** Called by {@link Participant.close}. */
  removeSeat(p: Participant): void {
    this.#seats.delete(p.seat);
  }

  /** Sends to the admitted seats (all but `except`). */
  toAdmitted(frame: ServerFrame, except?: Participant): void {
    for (const p of this.admitted()) if (p !== except) p.send(frame);
  }

  /** The waiting room as the clinicians see it. */
  lobbyFrame(now = Date.now()): ServerFrame {
    return {
      type: 'lobby',
      appointmentId: this.appointmentId,
      waiting: this.waiting().map((p) => ({ seat: p.seat, user: p.user, waitingSeconds: Math.floor((now - p.since) / 1000), connected: p.connected })),
    };
  }

  /** Tells the admitted clinicians, and the sockets that watch the room, who waits. */
  sendLobby(): void {
    const frame = this.lobbyFrame();
    const told = new Set<unknown>();
    for (const p of this.admitted()) {
      if (p.role !== 'clinician') continue;
      p.send(frame);
      told.add(p.link);
    }
    for (const w of this.#hooks.watchers(this)) if (!told.has(w)) w.send(frame);
  }

  /** Closes every seat and the room. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.seats()) p.close();
    this.#hooks.onClose(this);
  }
}
