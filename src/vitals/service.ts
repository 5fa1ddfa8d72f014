/**
 * The vitals service: a WebSocket at `/ws/vitals` (the `ws` package; the node
 * routes that path's upgrades here) for devices that stream samples and clinicians
 * who watch them, and an HTTP-agnostic batch ingest for `POST /api/vitals`.
 * Every stream asks the policy (`stream_vitals`) at open and again when the
 * patient's call changes or every `recheckMs` (a withdrawn consent);
 * samples are acknowledged after their group commit, fanned out to the
 * clinicians admitted to the patient's call, and watched for alerts.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Principal } from '../auth/index.ts';
import { isTelehealthConsent } from '../consult/index.ts';
import type { FhirService } from '../fhir/index.ts';
import { Actions, type PolicyEngine } from '../policy/index.ts';
import type { Store } from '../store/index.ts';
import type { ThresholdRule } from './alerts.ts';
import { Alerter } from './alerter.ts';
import { CallDirectory, type ConsultEventSource } from './calls.ts';
import { Ledger, type DeviceState } from './ledger.ts';
import { toObservations } from './observation.ts';
import {
  BatchSchema, checkSample, ClientFrameSchema, CloseCodes, ErrorCodes, isSampleError, PROTOCOL_VERSION, zodError,
  type ClientFrame, type ErrorCode, type LiveSample, type Sample, type SampleError,
} from './protocol.ts';

/** A FunctionRegistry, as far as NEWS2 needs it. */
export interface FunctionCaller {
  call(caller: { id: string; role: string }, name: string, input: unknown): Promise<{ output: unknown }>;
}

export interface VitalsServiceOptions {
  store: Store;
  fhir: FhirService;
  auth: { authenticate(header: string | undefined): Promise<Principal> };
  policy: () => PolicyEngine;
  logger: Logger;
  /** The node's Prometheus registry; the service adds its `vitals_*` instruments. */
  registry: Registry;
  /** The consult service's events: who is admitted to which call. Without it, a clinician may watch the appointments that list them. */
  consult?: ConsultEventSource;
  /** Runs NEWS2 as the `news2` Wasm function; without it (or when it fails) the TypeScript chart scores. */
  functions?: FunctionCaller;
  /** Identity of the node for its own writes and function calls (default `Device/vitals`). */
  system?: { id: string; role: string };
  path?: string;
  /** Re-decide every stream this often, ms (default 60 000). */
  recheckMs?: number;
  helloTimeoutMs?: number;
  heartbeatMs?: number;
  /** Frames up to this size get an error frame when too large (default 256 KiB); beyond `hardFrameBytes` (8 MiB) the socket closes (1009). */
  maxFrameBytes?: number;
  hardFrameBytes?: number;
  /** Least time between two NEWS2 scores of one patient, ms (default 1000). */
  news2IntervalMs?: number;
  rules?: ThresholdRule[];
  /** One Observation (SampledData) per regular series of a code in a frame, instead of one per reading (default true; observation.ts). */
  window?: boolean;
  /**
   * When clinicians get a sample: `received` (default) as soon as it passed
   * the checks and the dedupe, while its commit runs — the live view does
   * not wait for the disk; or `committed`, after the commit (they see only
   * what is recorded). Either way a sample reaches them once, in order; only
   * a failed commit (then resent by the device) can show one twice, and
   * clients drop a (device, seq) they have (PROTOCOL.md).
   */
  fanOut?: 'received' | 'committed';
  onDecision?: (action: string, allow: boolean) => void;
  /** After each commit of fresh samples: how many (the node's de-identified vitals volume; no patient, no time finer than the caller's). */
  onStored?: (samples: number) => void;
  /** Each alert raised, by rule name (the node counts them for the hub's figures). */
  onAlert?: (rule: string) => void;
}

export interface IngestResult {
  status: number;
  body: unknown;
}

type Any = Record<string, any>;

/** Bytes queued to a clinician socket past which it is closed as too slow. */
const SLOW_WATCHER_BYTES = 16 * 1024 * 1024;

class Session {
  readonly ws: WebSocket;
  principal: Principal | undefined;
  device: DeviceState | undefined;
  readonly subscriptions = new Set<string>();
  alive = true;
  lastAck = -1;
  hello: NodeJS.Timeout | undefined;

  constructor(ws: WebSocket) {
    this.ws = ws;
  }

  send(frame: Any): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, ...frame }));
  }

  sendRaw(text: string): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(text);
  }

  error(code: ErrorCode, message: string, extra: Any = {}): void {
    this.send({ type: 'error', code, message, ...extra });
  }
}

export class VitalsService {
  readonly path: string;
  readonly #o: VitalsServiceOptions;
  readonly #log: Logger;
  readonly #wss: WebSocketServer;
  readonly #ledger: Ledger;
  readonly #calls: CallDirectory;
  readonly #sessions = new Set<Session>();
  /** Device sockets per patient (re-decided when the patient's call changes). */
  readonly #streams = new Map<string, Set<Session>>();
  /** Clinician sockets per appointment. */
  readonly #watchers = new Map<string, Set<Session>>();
  readonly #alerter: Alerter;
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #system: { id: string; role: string };
  readonly #maxFrame: number;
  readonly #m: {
    samples: Counter<'result'>; ack: Histogram; streams: Gauge; watchers: Gauge; fanout: Counter; alerts: Counter<'rule'>; decisions: Counter<'allow'>;
  };
  #closing: Promise<void> | undefined;
  readonly #offWrite: () => void;

  constructor(o: VitalsServiceOptions) {
    this.#o = o;
    this.path = o.path ?? '/ws/vitals';
    this.#log = o.logger.child({ part: 'vitals' });
    this.#system = o.system ?? { id: 'Device/vitals', role: 'admin' };
    this.#maxFrame = o.maxFrameBytes ?? 256 * 1024;
    // Every batch of Observations is audited in its own transaction, with the device as the agent.
    this.#ledger = new Ledger(o.store, o.fhir.repo, (db, state, written) =>
      o.fhir.auditWrites(db, { id: `Device/${state.device}`, role: 'patient' }, written),
    );
    this.#calls = new CallDirectory(o.fhir);
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: o.hardFrameBytes ?? 8 * 1024 * 1024, perMessageDeflate: false, clientTracking: false });
    const r = [o.registry];
    this.#m = {
      samples: new Counter({ name: 'vitals_samples_total', help: 'Vitals samples received, by result (stored, duplicate, rejected)', labelNames: ['result'], registers: r }),
      ack: new Histogram({ name: 'vitals_ack_seconds', help: 'From a samples frame received to its ack (after the commit), in seconds', buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1], registers: r }),
      streams: new Gauge({ name: 'vitals_streams', help: 'Device streams open now', registers: r }),
      watchers: new Gauge({ name: 'vitals_watchers', help: 'Clinician subscriptions open now', registers: r }),
      fanout: new Counter({ name: 'vitals_fanout_frames_total', help: 'vitals frames sent to clinician sockets', registers: r }),
      alerts: new Counter({ name: 'vitals_alerts_total', help: 'Alerts raised, by rule', labelNames: ['rule'], registers: r }),
      decisions: new Counter({ name: 'vitals_stream_decisions_total', help: 'stream_vitals decisions, by outcome', labelNames: ['allow'], registers: r }),
    };
    this.#alerter = new Alerter({
      fhir: o.fhir,
      calls: this.#calls,
      log: this.#log,
      system: this.#system,
      rules: o.rules,
      intervalMs: o.news2IntervalMs ?? 1000,
      ...(o.functions ? { functions: o.functions } : {}),
      onAlert: (rule) => {
        this.#m.alerts.inc({ rule });
        o.onAlert?.(rule);
      },
      send: (appointmentId, frame) => {
        for (const w of this.#watchers.get(appointmentId) ?? []) w.send(frame);
      },
    });
    if (o.consult) {
      this.#calls.follow(o.consult, {
        patientChanged: (patient) => this.#recheckPatient(patient),
        clinicianGone: (appointmentId, user, reason) => this.#dropWatchers(appointmentId, user, reason),
      });
    }
    // A Consent written through /fhir (created, updated, deleted) decides the patient's streams again at once.
    this.#offWrite = o.fhir.onWrite((changes) => {
      const patients = new Set<string>();
      for (const c of changes) if (c.type === 'Consent') for (const p of consentPatients(c.resource)) patients.add(p);
      for (const p of patients) this.#recheckPatient(p);
    });
    const heartbeat = setInterval(() => {
      for (const s of this.#sessions) {
        if (!s.alive) s.ws.terminate();
        else {
          s.alive = false;
          s.ws.ping();
        }
      }
    }, o.heartbeatMs ?? 15_000);
    const recheck = setInterval(() => {
      for (const patient of this.#streams.keys()) this.#recheckPatient(patient);
      this.#ledger.prune();
    }, o.recheckMs ?? 60_000);
    heartbeat.unref();
    recheck.unref();
    this.#timers.push(heartbeat, recheck);
  }

  /** Takes an upgrade request for {@link path} (the node routes them here); false, touching nothing, while closing: the caller answers 503. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (this.#closing) return false;
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onSocket(ws));
    return true;
  }

  /**
   * `POST /api/vitals`: one batch `{device, patient?, samples}` from a device
   * that cannot hold a socket. Answers after the commit: 200 with
   * `{acked, stored, duplicates, errors}`, 400 for a bad body, 403 when the
   * policy refuses.
   */
  async ingestBatch(principal: Principal, body: unknown): Promise<IngestResult> {
    const parsed = BatchSchema.safeParse(body);
    if (!parsed.success) {
      const e = zodError('', parsed.error);
      return { status: 400, body: { error: { code: ErrorCodes.badFrame, field: e.field.replace(/^\./, ''), message: e.message } } };
    }
    const patient = this.#patientOf(principal, parsed.data.patient);
    if (typeof patient !== 'string') return { status: 400, body: { error: { code: ErrorCodes.badFrame, field: 'patient', message: patient.message } } };
    const d = this.#decide(principal, patient);
    if (!d.allow) return { status: 403, body: { error: { code: ErrorCodes.streamRefused, reason: d.reason, message: 'the policy refused stream_vitals' } } };
    const state = this.#ledger.device(patient, parsed.data.device);
    const { errors, done, stored, duplicates } = this.#ingest(state, parsed.data.samples);
    try {
      const acked = await done;
      return { status: 200, body: { acked, stored, duplicates, errors } };
    } catch {
      return { status: 503, body: { error: { code: ErrorCodes.storeFailed, message: 'the batch was not stored; send it again' }, errors } };
    }
  }

  stats(): { sockets: number; streams: number; watchers: number } {
    let streams = 0;
    for (const s of this.#streams.values()) streams += s.size;
    let watchers = 0;
    for (const s of this.#watchers.values()) watchers += s.size;
    return { sockets: this.#sessions.size, streams, watchers };
  }

  /** Closes every socket (1001), stops following the consult service, waits for queued writes. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const t of this.#timers) clearInterval(t);
      this.#offWrite();
      this.#alerter.close();
      this.#calls.close();
      const tails: Promise<unknown>[] = [];
      for (const s of this.#sessions) {
        if (s.device) tails.push(s.device.tail);
        s.ws.close(1001, 'node shutting down');
      }
      await Promise.all(tails);
      this.#wss.close();
    })();
    return this.#closing;
  }

  // ---- sockets

  #onSocket(ws: WebSocket): void {
    const s = new Session(ws);
    this.#sessions.add(s);
    s.hello = setTimeout(() => ws.close(CloseCodes.helloTimeout, 'no hello'), this.#o.helloTimeoutMs ?? 10_000);
    ws.on('pong', () => (s.alive = true));
    ws.on('message', (data, isBinary) => {
      s.alive = true;
      void this.#onMessage(s, data, isBinary).catch((err: Error) => this.#log.error({ err: { type: err.name, message: err.message } }, 'vitals frame failed'));
    });
    ws.on('close', () => this.#onClose(s));
    ws.on('error', () => {});
  }

  #onClose(s: Session): void {
    clearTimeout(s.hello);
    this.#sessions.delete(s);
    this.#stopStream(s);
    for (const a of s.subscriptions) this.#unwatch(s, a);
  }

  /** The socket streams for its device no more: later `samples` frames on it are refused, not stored, not fanned out. */
  #stopStream(s: Session): void {
    if (!s.device) return;
    if (s.device.owner === s) s.device.owner = undefined;
    this.#streams.get(s.device.patient)?.delete(s);
    if (this.#streams.get(s.device.patient)?.size === 0) this.#streams.delete(s.device.patient);
    this.#m.streams.dec();
    s.device = undefined;
  }

  async #onMessage(s: Session, data: RawData, isBinary: boolean): Promise<void> {
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer).byteLength;
    if (size > this.#maxFrame) return s.error(ErrorCodes.frameTooLarge, `frames are at most ${this.#maxFrame} bytes (this one: ${size})`, { field: 'frame' });
    if (isBinary) return s.error(ErrorCodes.badFrame, 'frames are JSON text', { field: 'frame' });
    let json: unknown;
    try {
      json = JSON.parse(data.toString());
    } catch {
      return s.error(ErrorCodes.badJson, 'the frame is not JSON', { field: 'frame' });
    }
    const parsed = ClientFrameSchema.safeParse(json);
    if (!parsed.success) {
      const type = (json as Any)?.type;
      const ref = typeof (json as Any)?.ref === 'string' ? { ref: (json as Any).ref.slice(0, 64) } : {};
      if (typeof type !== 'string' || !['hello', 'samples', 'subscribe', 'unsubscribe', 'ping'].includes(type)) {
        return s.error(ErrorCodes.unknownType, 'unknown frame type', { field: 'type', ...ref });
      }
      const e = zodError('', parsed.error);
      return s.error(ErrorCodes.badFrame, e.message, { field: e.field.replace(/^\./, ''), ...ref });
    }
    const f = parsed.data;
    if (f.type === 'ping') return s.send({ type: 'pong', t: f.t ?? Date.now(), ...(f.ref ? { ref: f.ref } : {}) });
    if (f.type === 'hello') return this.#hello(s, f);
    if (!s.principal) return s.error(ErrorCodes.unauthenticated, 'send hello first', { ...(f.ref ? { ref: f.ref } : {}) });
    if (f.type === 'samples') return this.#samples(s, f);
    if (f.type === 'subscribe') return this.#subscribe(s, f);
    this.#unwatch(s, f.appointmentId);
    s.send({ type: 'unsubscribed', appointmentId: f.appointmentId, reason: 'asked', ...(f.ref ? { ref: f.ref } : {}) });
  }

  async #hello(s: Session, f: Extract<ClientFrame, { type: 'hello' }>): Promise<void> {
    if (s.principal) return s.error(ErrorCodes.alreadyAuthenticated, 'already authenticated');
    let principal: Principal;
    try {
      principal = await this.#o.auth.authenticate(`Bearer ${f.token}`);
    } catch (err) {
      s.error(ErrorCodes.authFailed, (err as Error).message);
      return void s.ws.close(CloseCodes.authFailed, 'auth failed');
    }
    clearTimeout(s.hello);
    if (f.device === undefined) {
      s.principal = principal;
      return s.send({ type: 'welcome', user: { id: principal.id, role: principal.role }, ...(f.ref ? { ref: f.ref } : {}) });
    }
    const patient = this.#patientOf(principal, f.patient);
    if (typeof patient !== 'string') return s.error(ErrorCodes.badFrame, patient.message, { field: 'patient' });
    const d = this.#decide(principal, patient);
    if (!d.allow) {
      s.error(ErrorCodes.streamRefused, 'the policy refused stream_vitals', { reason: d.reason });
      return void s.ws.close(CloseCodes.refused, d.reason);
    }
    const state = this.#ledger.device(patient, f.device);
    const previous = state.owner as Session | undefined;
    state.owner = s;
    if (previous && previous !== s) previous.ws.close(CloseCodes.replaced, 'replaced by a newer stream of this device');
    await state.tail; // what the old stream queued is committed (or not) before the device is told where to resume
    if (s.ws.readyState !== s.ws.OPEN) return;
    s.principal = principal;
    s.device = state;
    let set = this.#streams.get(patient);
    if (!set) this.#streams.set(patient, (set = new Set()));
    set.add(s);
    this.#m.streams.inc();
    s.lastAck = state.committed;
    s.send({ type: 'welcome', user: { id: principal.id, role: principal.role }, device: f.device, patient, acked: state.committed, ...(f.ref ? { ref: f.ref } : {}) });
  }

  #samples(s: Session, f: Extract<ClientFrame, { type: 'samples' }>): void {
    const state = s.device;
    if (!state || state.owner !== s) return s.error(ErrorCodes.notADevice, 'this socket streams for no device (hello with a device id)', { ...(f.ref ? { ref: f.ref } : {}) });
    const t0 = process.hrtime.bigint();
    const { errors, done } = this.#ingest(state, f.samples);
    for (const e of errors) s.error(ErrorCodes.badSample, e.message, { field: e.field, ...(e.seq !== undefined ? { seq: e.seq } : {}), ...(f.ref ? { ref: f.ref } : {}) });
    done.then(
      (acked) => {
        this.#m.ack.observe(Number(process.hrtime.bigint() - t0) / 1e9);
        if (acked >= s.lastAck) {
          s.lastAck = acked;
          s.send({ type: 'ack', seq: acked, ...(f.ref ? { ref: f.ref } : {}) });
        }
      },
      () => {
        s.error(ErrorCodes.storeFailed, 'samples were not stored; reconnect and resend from the last ack');
        s.ws.close(CloseCodes.storeFailed, 'store failed');
      },
    );
  }

  /** Checks, dedupes and writes one frame's samples; after the commit, fans them out and looks for alerts. */
  #ingest(state: DeviceState, raw: unknown[]): { errors: SampleError[]; done: Promise<number>; stored: number; duplicates: number } {
    const now = Date.now();
    const errors: SampleError[] = [];
    const valid: Array<{ sample: Sample; index: number }> = [];
    raw.forEach((r, i) => {
      const c = checkSample(r, `samples[${i}]`, now);
      if (isSampleError(c)) errors.push(c);
      else valid.push({ sample: c, index: i });
    });
    const classified = this.#ledger.classify(state, valid.map((v) => v.sample));
    const fresh: Sample[] = [];
    let duplicates = 0;
    classified.forEach((c, k) => {
      if (c.kind === 'fresh') fresh.push(c.sample);
      else if (c.kind === 'duplicate') duplicates++;
      else errors.push({ field: `samples[${valid[k]!.index}].seq`, message: `sequence ${c.sample.seq} goes backwards (last accepted ${state.accepted})`, seq: c.sample.seq });
    });
    if (errors.length) this.#m.samples.inc({ result: 'rejected' }, errors.length);
    if (duplicates) this.#m.samples.inc({ result: 'duplicate' }, duplicates);
    const ctx = { patient: state.patient, device: state.device, encounter: this.#calls.encounterOf(state.patient) };
    const done = this.#ledger.write(state, fresh, (list) => toObservations(list, ctx.encounter ? ctx : { patient: ctx.patient, device: ctx.device }, this.#o.window ?? true));
    if (fresh.length > 0) {
      const live = (this.#o.fanOut ?? 'received') === 'received';
      if (live) this.#fanOut(state, fresh);
      done.then(() => {
        this.#m.samples.inc({ result: 'stored' }, fresh.length);
        this.#o.onStored?.(fresh.length);
        if (!live) this.#fanOut(state, fresh);
        this.#alerter.take(state.patient, fresh);
      }, () => undefined);
    }
    return { errors, done, stored: fresh.length, duplicates };
  }

  // ---- clinicians

  #subscribe(s: Session, f: Extract<ClientFrame, { type: 'subscribe' }>): void {
    const p = s.principal!;
    const ref = f.ref ? { ref: f.ref } : {};
    const refuse = (reason: string) => s.error(ErrorCodes.subscribeRefused, 'not admitted to this call', { reason, appointmentId: f.appointmentId, ...ref });
    const call = this.#o.consult
      ? (this.#calls.admitted(f.appointmentId, p.id) ? this.#calls.get(f.appointmentId) : undefined)
      : this.#calls.fromAppointment(f.appointmentId, p.id);
    if (!call || !call.patient) return refuse('not_admitted');
    const d = this.#decide(p, call.patient);
    if (!d.allow) return refuse(d.reason);
    let set = this.#watchers.get(f.appointmentId);
    if (!set) this.#watchers.set(f.appointmentId, (set = new Set()));
    if (!set.has(s)) this.#m.watchers.inc();
    set.add(s);
    s.subscriptions.add(f.appointmentId);
    const latest = this.#alerter.latest(call.patient);
    s.send({ type: 'subscribed', appointmentId: f.appointmentId, patient: call.patient, latest, ...ref });
  }

  #unwatch(s: Session, appointmentId: string): void {
    const set = this.#watchers.get(appointmentId);
    if (set?.delete(s)) this.#m.watchers.dec();
    if (set?.size === 0) this.#watchers.delete(appointmentId);
    s.subscriptions.delete(appointmentId);
  }

  #dropWatchers(appointmentId: string, user: string | undefined, reason: string): void {
    for (const s of [...(this.#watchers.get(appointmentId) ?? [])]) {
      if (user !== undefined && s.principal?.id !== user) continue;
      this.#unwatch(s, appointmentId);
      s.send({ type: 'unsubscribed', appointmentId, reason });
    }
  }

  #fanOut(state: DeviceState, samples: Sample[]): void {
    for (const call of this.#calls.callsOf(state.patient)) {
      const watchers = this.#watchers.get(call.appointmentId);
      if (!watchers || watchers.size === 0) continue;
      const live: LiveSample[] = samples.map((x) => ({ device: state.device, ...x }));
      const text = JSON.stringify({ v: PROTOCOL_VERSION, type: 'vitals', appointmentId: call.appointmentId, patient: state.patient, sent: Date.now(), samples: live });
      for (const w of watchers) {
        // a watcher that cannot keep up is closed (1013), not fed with gaps: it resubscribes and reads the rest from /fhir
        if (w.ws.bufferedAmount > SLOW_WATCHER_BYTES) {
          w.ws.close(CloseCodes.tooSlow, 'not reading fast enough');
          continue;
        }
        w.sendRaw(text);
        this.#m.fanout.inc();
      }
    }
  }

  // ---- policy

  #patientOf(p: Principal, asked: string | undefined): string | { message: string } {
    if (p.role === 'patient') {
      if (asked !== undefined && asked !== p.id) return { message: 'a patient streams for themself only' };
      return p.id;
    }
    return asked ?? { message: 'say which patient the device streams for (patient: "Patient/<id>")' };
  }

  #hasConsent(patient: string): boolean {
    const found = this.#o.fhir.repo.search('Consent', {
      criteria: [
        { kind: 'reference', param: 'patient', values: [patient] },
        { kind: 'token', param: 'status', values: [{ sys: undefined, code: 'active' }] },
      ],
      count: 50, offset: 0, sort: [], summaryCount: false,
    } as Parameters<FhirService['repo']['search']>[1]);
    const now = Date.now();
    return found.entries.some((e) => isTelehealthConsent(e.resource, patient, now));
  }

  /** `stream_vitals` with the input of ARCHITECTURE.md ("Rego input for clinical actions"). */
  #decide(p: Principal, patient: string): { allow: boolean; reason: string } {
    const d = this.#o.policy().decide({
      action: Actions.streamVitals,
      user: { id: p.id, role: p.role },
      patient: { id: patient, consent: this.#hasConsent(patient) },
      data_stays_local: true,
      destination: 'local',
      resource: { type: 'Observation', classification: 'phi' },
    });
    this.#m.decisions.inc({ allow: String(d.allow) });
    this.#o.onDecision?.(Actions.streamVitals, d.allow);
    return d;
  }

  /**
   * Decides every stream of the patient again, and every clinician watching
   * one of the patient's calls: a refused stream gets `stream_refused
   * {reason}` and is closed (4403), and stops at once (it is out of the
   * patient's streams before its close completes); a refused clinician gets
   * `unsubscribed {reason}` and no more samples.
   */
  #recheckPatient(patient: string): void {
    const streams = this.#streams.get(patient);
    for (const s of [...(streams ?? [])]) {
      const d = this.#decide(s.principal!, patient);
      if (d.allow) continue;
      s.error(ErrorCodes.streamRefused, 'the policy no longer allows this stream', { reason: d.reason });
      this.#stopStream(s);
      s.ws.close(CloseCodes.refused, d.reason);
    }
    for (const call of this.#calls.callsOf(patient)) {
      for (const w of [...(this.#watchers.get(call.appointmentId) ?? [])]) {
        const d = this.#decide(w.principal!, patient);
        if (d.allow) continue;
        this.#unwatch(w, call.appointmentId);
        w.send({ type: 'unsubscribed', appointmentId: call.appointmentId, reason: d.reason });
      }
    }
  }
}

/** The patients a Consent is about (`patient`, a literal reference). */
function consentPatients(r: Any): string[] {
  const ref = r?.patient?.reference;
  return typeof ref === 'string' && /^Patient\/[^/]+$/.test(ref) ? [ref] : [];
}

/** Builds the vitals service; the node routes its path's upgrades to it and mounts {@link VitalsService.ingestBatch}. */
export function createVitalsService(o: VitalsServiceOptions): VitalsService {
  return new VitalsService(o);
}
