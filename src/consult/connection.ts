/**
 * One signaling WebSocket: frame size cap, per-socket token-bucket rate
 * limit, parsing, in-order handling of its frames, heartbeats, and the seats
 * it holds. Bad input never closes it: it answers with an `error` frame.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import type { Principal } from '../auth/index.ts';
import { CloseCodes, ErrorCodes, encode, parseFrame, type ClientFrame, type ErrorCode, type ServerFrame } from './protocol.ts';
import type { ConsultMetrics } from './quality.ts';
import type { Participant, SeatLink } from './room.ts';

export interface ConnectionLimits {
  /** Largest frame accepted, in bytes (bigger ones get `frame_too_large`). */
  maxFrameBytes: number;
  /** Token bucket: burst size. */
  burst: number;
  /** Token bucket: frames per second sustained. */
  perSecond: number;
}

export interface ConnectionDeps {
  limits: ConnectionLimits;
  metrics: ConsultMetrics;
  logger: Logger;
  /** Handles one valid frame; frames of one socket are handled one after another, in order. */
  onFrame(conn: Connection, frame: ClientFrame): Promise<void> | void;
  /** The socket closed (after its frames were handled). */
  onClose(conn: Connection): void;
}

/** Thrown by a handler to answer the frame with an error frame (and change nothing). */
export class SignalingError extends Error {
  override readonly name = 'SignalingError';
  constructor(readonly code: ErrorCode, message: string, readonly reason?: string, readonly appointmentId?: string) {
    super(message);
  }
}

export class Connection implements SeatLink {
  readonly id = randomBytes(9).toString('base64url');
  readonly #ws: WebSocket;
  readonly #d: ConnectionDeps;
  #principal: Principal | undefined;
  readonly #seats = new Map<string, Participant>();
  #tokens: number;
  #refilledAt = performance.now();
  #limited = false;
  /** Frames waiting while an asynchronous handler runs (order is kept). */
  readonly #pending: ClientFrame[] = [];
  #busy = false;
  #closeHandled = false;
  #alive = true;
  #closed = false;
  #resolveDone!: () => void;
  /** Settles when the socket has closed. */
  readonly done = new Promise<void>((r) => { this.#resolveDone = r; });

  /** Which heartbeat tick pings this socket (fixed, so it is pinged once per period). */
  readonly phase: number;

  constructor(ws: WebSocket, phases: number, deps: ConnectionDeps) {
    this.phase = Math.floor(Math.random() * phases);
    this.#ws = ws;
    this.#d = deps;
    this.#tokens = deps.limits.burst;
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('pong', () => { this.#alive = true; });
    ws.on('error', () => { /* a socket error is followed by 'close'; nothing to add */ });
    ws.on('close', () => this.#onClose());
  }

  get principal(): Principal | undefined { return this.#principal; }
  set principal(p: Principal) { this.#principal ??= p; }
  get closed(): boolean { return this.#closed; }

  seat(appointmentId: string): Participant | undefined { return this.#seats.get(appointmentId); }
  seats(): Participant[] { return [...this.#seats.values()]; }
  hold(p: Participant): void { this.#seats.set(p.room.appointmentId, p); }

  forget(p: Participant): void {
    if (this.#seats.get(p.room.appointmentId) === p) this.#seats.delete(p.room.appointmentId);
  }

  send(frame: ServerFrame): void {
    if (this.#closed || this.#ws.readyState !== this.#ws.OPEN) return;
    this.#ws.send(encode(frame));
  }

  error(code: ErrorCode, message: string, extra: { reason?: string; appointmentId?: string; ref?: string } = {}): void {
    this.#d.metrics.errors.inc({ code });
    this.send({ type: 'error', code, message, ...extra });
  }

  /** Heartbeat tick: a socket that did not answer the previous ping is dropped (its seats enter the grace period). */
  heartbeat(): void {
    if (this.#closed) return;
    if (!this.#alive) {
      this.#ws.terminate();
      return;
    }
    this.#alive = false;
    try {
      this.#ws.ping();
    } catch {
      this.#ws.terminate();
    }
  }

  close(code: number = CloseCodes.goingAway, reason = ''): void {
    if (this.#ws.readyState === this.#ws.OPEN || this.#ws.readyState === this.#ws.CONNECTING) this.#ws.close(code, reason);
  }

  /** Drops the socket at once (no close handshake). */
  terminate(): void {
    this.#ws.terminate();
  }

  #take(): boolean {
    const now = performance.now();
    const { burst, perSecond } = this.#d.limits;
    this.#tokens = Math.min(burst, this.#tokens + ((now - this.#refilledAt) / 1000) * perSecond);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.#closed) return;
    if (!this.#take()) {
      // One error per flood episode: answering every dropped frame would amplify the flood.
      if (!this.#limited) this.error(ErrorCodes.rateLimited, `more than ${this.#d.limits.perSecond} frames per second: frames are dropped`);
      this.#limited = true;
      this.#d.metrics.frame('invalid', false);
      return;
    }
    this.#limited = false;
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
    if (size > this.#d.limits.maxFrameBytes) {
      this.#d.metrics.frame('invalid', false);
      this.error(ErrorCodes.frameTooLarge, `frames are limited to ${this.#d.limits.maxFrameBytes} bytes`);
      return;
    }
    if (isBinary) {
      this.#d.metrics.frame('invalid', false);
      this.error(ErrorCodes.badFrame, 'frames are JSON text, not binary');
      return;
    }
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
    const parsed = parseFrame(text);
    if (!parsed.ok) {
      this.#d.metrics.frame(parsed.type ?? 'invalid', false);
      this.error(parsed.code, parsed.message, parsed.ref === undefined ? {} : { ref: parsed.ref });
      return;
    }
    this.#pending.push(parsed.frame);
    if (!this.#busy) this.#drain();
  }

  /**
   * Handles queued frames in order: synchronous handlers (relay, stats, ping)
   * run at once; an asynchronous one (a join, a chat write) holds the queue
   * until it settles.
   */
  #drain(): void {
    while (this.#pending.length > 0) {
      // Frames that arrived before a close are still handled (an `end` right before the tab closes counts).
      const frame = this.#pending.shift()!;
      let result: Promise<void> | void;
      try {
        result = this.#d.onFrame(this, frame);
      } catch (err) {
        this.#failed(frame, err);
        continue;
      }
      if (result instanceof Promise) {
        this.#busy = true;
        result.then(() => this.#d.metrics.frame(frame.type, true), (err: unknown) => this.#failed(frame, err)).finally(() => {
          this.#busy = false;
          this.#drain();
        });
        return;
      }
      this.#d.metrics.frame(frame.type, true);
    }
    if (this.#closed) this.#afterClose();
  }

  #failed(frame: ClientFrame, err: unknown): void {
    this.#d.metrics.frame(frame.type, false);
    const ref = frame.ref === undefined ? {} : { ref: frame.ref };
    if (err instanceof SignalingError) {
      this.error(err.code, err.message, { ...ref, ...(err.reason ? { reason: err.reason } : {}), ...(err.appointmentId ? { appointmentId: err.appointmentId } : {}) });
      return;
    }
    // Only the error's type and status: a message may quote a resource (PHI).
    const e = err as { name?: string; status?: number; code?: string };
    this.#d.logger.error({ err: { type: e?.name, status: e?.status, code: e?.code }, frame: frame.type }, 'signaling frame failed');
    this.error(ErrorCodes.internalError, 'the node could not handle this frame', ref);
  }

  #afterClose(): void {
    if (this.#closeHandled) return;
    this.#closeHandled = true;
    this.#d.onClose(this);
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#resolveDone();
    // Frames already accepted finish first, so a join then a drop leaves a seat in its grace period.
    if (!this.#busy) this.#drain();
  }
}
