/**
 * The consultation service: WebSocket signaling on `/ws/consult` (the `ws`
 * package; the node routes that path's upgrades here), first-frame authentication,
 * heartbeats, and an HTTP-agnostic join-info handler for the web app.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import { AuthError, type Principal } from '../auth/index.ts';
import type { FhirService } from '../fhir/index.ts';
import type { PolicyEngine } from '../policy/index.ts';
import { Connection, SignalingError, type ConnectionLimits } from './connection.ts';
import { CloseCodes, ErrorCodes, PROTOCOL_VERSION, RefusalReasons, type ClientFrame, type FrameOf } from './protocol.ts';
import { ConsultEmitter, type ConsultEventName, type Listener } from './events.ts';
import { ConsultMetrics } from './quality.ts';
import { ConsultRecords } from './records.ts';
import { seatRoleOf } from './admission.ts';
import { Signaling } from './signaling.ts';
import { IceServerMinter, type TurnOptions } from './turn.ts';

export interface ConsultServiceOptions {
  fhir: FhirService;
  /** Verifies `Bearer <jwt>` (the node's Authenticator). */
  auth: { authenticate(header: string | undefined): Promise<Principal> };
  policy: () => PolicyEngine;
  logger: Logger;
  /** The node's Prometheus registry; the service adds its `consult_*` instruments to it. */
  registry: Registry;
  /** STUN/TURN for the ICE servers handed out at join; without it, none (host candidates only: fine on a LAN). */
  turn?: TurnOptions;
  /** WebSocket path (default `/ws/consult`). */
  path?: string;
  /** How long a dropped seat waits for a resume, ms (default 30 000). */
  graceMs?: number;
  /** How long a started call may stand empty (everyone left or timed out) before it is ended as `abandoned`, ms (default 15 min). */
  abandonAfterMs?: number;
  /** How often every seat is decided again, as at its join (a withdrawn consent ends a patient's seat), ms (default 60 000). */
  recheckMs?: number;
  /** Server ping interval, ms; a socket that misses one ping is dropped (default 15 000). */
  heartbeatMs?: number;
  /** Time allowed for the `hello` frame, ms (default 10 000). */
  helloTimeoutMs?: number;
  /** Most signaling sockets at once; more get HTTP 503 at the upgrade (default 10 000). */
  maxConnections?: number;
  /** Frame cap and rate limit per socket (default 64 KiB, burst 60, 30 frames/s). */
  limits?: Partial<ConnectionLimits>;
  /** Called for every policy decision the service asks for (the node counts them). */
  onDecision?: (action: string, allow: boolean) => void;
}

/** The body of GET /api/consult/:appointmentId, as {@link ConsultService.joinInfo} answers it. */
export interface JoinInfo {
  appointmentId: string;
  status: string;
  start?: string;
  end?: string;
  role: 'clinician' | 'patient';
  /** Whether a join would be admitted now (to the waiting room for a patient). */
  canJoin: boolean;
  /** Why not, when `canJoin` is false: a refusal reason code. */
  reason?: string;
  inCall: boolean;
  /** For the clinician: how many wait. */
  waiting?: number;
  signaling: { path: string; protocol: number };
}

export type JoinInfoResult = { status: 200; body: JoinInfo } | { status: 404; body: { error: { code: string; message: string } } };

const HEARTBEAT_PHASES = 8;

/** Frames larger than this close the socket (1009) before they are even read; up to `maxFrameBytes` they get an error frame. */
const HARD_PAYLOAD_CAP = 1024 * 1024;

export class ConsultService {
  readonly path: string;
  readonly #o: ConsultServiceOptions;
  readonly #log: Logger;
  readonly #metrics: ConsultMetrics;
  readonly #events: ConsultEmitter;
  readonly #signaling: Signaling;
  readonly #limits: ConnectionLimits;
  readonly #wss: WebSocketServer;
  readonly #conns = new Set<Connection>();
  readonly #heartbeat: NodeJS.Timeout;
  readonly #graceMs: number;
  readonly #heartbeatMs: number;
  #closing: Promise<void> | undefined;

  constructor(o: ConsultServiceOptions) {
    this.#o = o;
    this.path = o.path ?? '/ws/consult';
    this.#log = o.logger.child({ part: 'consult' });
    this.#metrics = new ConsultMetrics(o.registry);
    this.#events = new ConsultEmitter(this.#log);
    this.#graceMs = o.graceMs ?? 30_000;
    this.#heartbeatMs = o.heartbeatMs ?? 15_000;
    this.#limits = { maxFrameBytes: 64 * 1024, burst: 60, perSecond: 30, ...o.limits };
    this.#signaling = new Signaling({
      records: new ConsultRecords(o.fhir),
      policy: o.policy,
      ice: new IceServerMinter(o.turn),
      metrics: this.#metrics,
      logger: this.#log,
      graceMs: this.#graceMs,
      abandonAfterMs: o.abandonAfterMs ?? 15 * 60_000,
      recheckMs: o.recheckMs ?? 60_000,
      ...(o.onDecision ? { onDecision: o.onDecision } : {}),
      events: this.#events,
    });
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: Math.max(HARD_PAYLOAD_CAP, this.#limits.maxFrameBytes * 2), perMessageDeflate: false, clientTracking: false });
    // Each socket has a fixed phase: a tick pings one eighth of them, so thousands of
    // sockets never get their pings (and pongs) in one burst, and each is pinged once a period.
    let tick = 0;
    this.#heartbeat = setInterval(() => {
      const phase = tick++ % HEARTBEAT_PHASES;
      for (const c of this.#conns) if (c.phase === phase) c.heartbeat();
    }, this.#heartbeatMs / HEARTBEAT_PHASES);
    this.#heartbeat.unref();
  }

  /**
   * Takes an HTTP upgrade request for {@link path} (the node routes them here);
   * false, touching nothing, while closing or at `maxConnections`: the caller
   * answers 503.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (this.#closing || this.#conns.size >= (this.#o.maxConnections ?? 10_000)) return false;
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onSocket(ws));
    return true;
  }

  /**
   * What the web app shows before joining (GET /api/consult/:appointmentId):
   * the appointment's times, the caller's role, and whether a join would be
   * admitted (with the refusal reason if not). 404 for anyone who is not a
   * participant, so the endpoint does not reveal which appointments exist.
   */
  joinInfo(principal: Principal, appointmentId: string): JoinInfoResult {
    const notFound = { status: 404 as const, body: { error: { code: RefusalReasons.appointmentNotFound, message: 'no such appointment for you' } } };
    if (!/^[A-Za-z0-9\-.]{1,64}$/.test(appointmentId)) return notFound;
    const a = this.#signaling.admission(principal, appointmentId);
    const facts = a.ok ? a.facts : a.member ? a.facts : undefined;
    const role = seatRoleOf(principal);
    if (!facts || !role) return notFound;
    const room = this.#signaling.room(appointmentId);
    return {
      status: 200,
      body: {
        appointmentId,
        status: facts.status,
        ...(facts.start ? { start: facts.start } : {}),
        ...(facts.end ? { end: facts.end } : {}),
        role,
        canJoin: a.ok,
        ...(a.ok ? {} : { reason: a.reason }),
        inCall: room?.encounter !== undefined,
        ...(role === 'clinician' ? { waiting: room?.waiting().length ?? 0 } : {}),
        signaling: { path: this.path, protocol: PROTOCOL_VERSION },
      },
    };
  }

  /**
   * Subscribes to the service's events (call started/ended, seat admitted/left);
   * returns the unsubscribe function. A listener that throws is logged, never fatal.
   */
  on<K extends ConsultEventName>(name: K, listener: Listener<K>): () => void {
    return this.#events.on(name, listener);
  }

  /** Open rooms and sockets (for health pages and tests). */
  stats(): { rooms: number; connections: number } {
    return { rooms: this.#signaling.roomCount, connections: this.#conns.size };
  }

  /**
   * Stops signaling: refuses new sockets, closes every room and socket (1001;
   * dropped after 1 s if the client does not answer). In-progress calls keep
   * their Encounter. Call before closing the HTTP server (upgraded sockets
   * would hold it open). Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#heartbeat);
      this.#signaling.close();
      const open = [...this.#conns];
      for (const c of open) c.close(CloseCodes.goingAway, 'node shutting down');
      const timer = new Promise((r) => setTimeout(r, 1000).unref());
      await Promise.race([Promise.all(open.map((c) => c.done)), timer]);
      for (const c of open) c.terminate();
      await new Promise<void>((r) => this.#wss.close(() => r()));
    })();
    return this.#closing;
  }

  #onSocket(ws: WebSocket): void {
    const conn: Connection = new Connection(ws, HEARTBEAT_PHASES, {
      limits: this.#limits,
      metrics: this.#metrics,
      logger: this.#log,
      onFrame: (c, f) => this.#onFrame(c, f),
      onClose: (c) => {
        this.#conns.delete(c);
        this.#metrics.connections.set(this.#conns.size);
        if (c.principal) this.#signaling.disconnected(c);
      },
    });
    if (this.#closing) {
      conn.close(CloseCodes.goingAway, 'node shutting down');
      return;
    }
    this.#conns.add(conn);
    this.#metrics.connections.set(this.#conns.size);
    const helloTimeout = this.#o.helloTimeoutMs ?? 10_000;
    setTimeout(() => {
      if (!conn.principal && !conn.closed) conn.close(CloseCodes.helloTimeout, 'no hello');
    }, helloTimeout).unref();
  }

  /** Synchronous for the frames that can be (relays, stats, ping), so they skip a promise each. */
  #onFrame(conn: Connection, f: ClientFrame): Promise<void> | void {
    if (conn.principal) return this.#signaling.handle(conn, f);
    if (f.type !== 'hello') throw new SignalingError(ErrorCodes.unauthenticated, 'send a hello frame with your token first');
    return this.#hello(conn, f);
  }

  async #hello(conn: Connection, f: FrameOf<'hello'>): Promise<void> {
    let principal: Principal;
    try {
      principal = await this.#o.auth.authenticate(`Bearer ${f.token}`);
    } catch (err) {
      const message = err instanceof AuthError ? err.message : 'invalid token';
      conn.error(ErrorCodes.authFailed, message, f.ref ? { ref: f.ref } : {});
      conn.close(CloseCodes.authFailed, 'authentication failed');
      return;
    }
    conn.principal = principal;
    conn.send({ type: 'welcome', user: { id: principal.id, role: principal.role }, heartbeatMs: this.#heartbeatMs, graceMs: this.#graceMs, ...(f.ref ? { ref: f.ref } : {}) });
  }
}

/** Builds the consultation service; the node routes its path's upgrades to it (see PROTOCOL.md, "Wiring"). */
export function createConsultService(o: ConsultServiceOptions): ConsultService {
  return new ConsultService(o);
}
