/**
 * Consultation metrics (Prometheus, on the registry the node passes in) and
 * the per-call quality summary. Nothing here carries PHI: labels are bounded
 * sets (frame types, error codes, roles), a summary holds figures only.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { CLIENT_FRAME_TYPES, type FrameOf } from './protocol.ts';

const FRAME_LABELS = new Set<string>(CLIENT_FRAME_TYPES);
/** A label value from a bounded set: policy reasons come from a bundle, so unknown shapes fold to `other`. */
const bounded = (s: string): string => (/^[a-z][a-z0-9_]{0,39}$/.test(s) ? s : 'other');

export class ConsultMetrics {
  readonly joins: Counter<'role' | 'outcome'>;
  readonly refusals: Counter<'reason'>;
  readonly frames: Counter<'type' | 'outcome'>;
  readonly errors: Counter<'code'>;
  readonly waitSeconds: Histogram<never>;
  readonly callSeconds: Histogram<never>;
  readonly calls: Counter<'quality'>;
  readonly rooms: Gauge<never>;
  readonly connections: Gauge<never>;
  readonly rtt: Histogram<never>;
  readonly jitter: Histogram<never>;
  readonly loss: Histogram<never>;
  readonly bitrate: Histogram<never>;
  readonly framesDecoded: Counter<never>;
  readonly reconnects: Counter<never>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.joins = new Counter({ name: 'consult_joins_total', help: 'Joins by role and outcome (waiting, admitted, resumed, refused)', labelNames: ['role', 'outcome'], registers });
    this.refusals = new Counter({ name: 'consult_join_refusals_total', help: 'Refused joins by reason code', labelNames: ['reason'], registers });
    this.frames = new Counter({ name: 'consult_frames_total', help: 'Signaling frames received, by type and outcome (ok, error)', labelNames: ['type', 'outcome'], registers });
    this.errors = new Counter({ name: 'consult_errors_total', help: 'Error frames sent, by code', labelNames: ['code'], registers });
    this.waitSeconds = new Histogram({
      name: 'consult_waiting_room_seconds', help: 'Time from a patient joining the waiting room to being admitted, in seconds',
      buckets: [0.05, 0.25, 1, 5, 15, 30, 60, 120, 300, 600, 1800], registers,
    });
    this.callSeconds = new Histogram({
      name: 'consult_call_duration_seconds', help: 'Duration of ended calls (Encounter period), in seconds',
      buckets: [30, 60, 180, 300, 600, 900, 1200, 1800, 2700, 3600, 7200], registers,
    });
    this.calls = new Counter({ name: 'consult_calls_total', help: 'Ended calls by quality verdict (good, poor, unknown)', labelNames: ['quality'], registers });
    this.rooms = new Gauge({ name: 'consult_rooms', help: 'Consultation rooms open on this node', registers });
    this.connections = new Gauge({ name: 'consult_connections', help: 'Signaling WebSocket connections open', registers });
    this.rtt = new Histogram({
      name: 'consult_rtt_seconds', help: 'Media round-trip time reported by browsers, in seconds',
      buckets: [0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1], registers,
    });
    this.jitter = new Histogram({
      name: 'consult_jitter_seconds', help: 'Inbound media jitter reported by browsers, in seconds',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2], registers,
    });
    this.loss = new Histogram({
      name: 'consult_packet_loss_ratio', help: 'Fraction of media packets lost per report (0..1)',
      buckets: [0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1], registers,
    });
    this.bitrate = new Histogram({
      name: 'consult_receive_bitrate_bytes_per_second', help: 'Media receive rate reported by browsers, in bytes per second',
      buckets: [4e3, 8e3, 16e3, 32e3, 64e3, 125e3, 250e3, 500e3, 1e6], registers,
    });
    this.framesDecoded = new Counter({ name: 'consult_frames_decoded_total', help: 'Remote video frames decoded, as reported by browsers', registers });
    this.reconnects = new Counter({ name: 'consult_resumes_total', help: 'Seats resumed after a dropped connection', registers });
  }

  readonly #frameChildren = new Map<string, { inc(): void }>();

  /** Counts one frame (children cached: this runs for every frame relayed). */
  frame(type: string, ok: boolean): void {
    const key = `${FRAME_LABELS.has(type) ? type : 'invalid'}|${ok ? 'ok' : 'error'}`;
    let child = this.#frameChildren.get(key);
    if (!child) {
      const [t, outcome] = key.split('|') as [string, string];
      child = this.frames.labels({ type: t, outcome });
      this.#frameChildren.set(key, child);
    }
    child.inc();
  }

  refused(role: string, reason: string): void {
    this.joins.inc({ role, outcome: 'refused' });
    this.refusals.inc({ reason: bounded(reason) });
  }
}

interface Stat { n: number; sum: number; max: number; min: number }
const stat = (): Stat => ({ n: 0, sum: 0, max: 0, min: Number.POSITIVE_INFINITY });
const add = (s: Stat, v: number) => {
  s.n += 1;
  s.sum += v;
  s.max = Math.max(s.max, v);
  s.min = Math.min(s.min, v);
};
const summarise = (s: Stat) => (s.n === 0 ? undefined : { mean: round(s.sum / s.n), min: round(s.min), max: round(s.max) });
const round = (v: number) => Math.round(v * 1e6) / 1e6;

/** The PHI-free quality summary of one call: figures only, no ids of people, no clock times. */
export interface CallSummary {
  call: string;
  durationSeconds: number | undefined;
  reports: number;
  resumes: number;
  rttSeconds?: { mean: number; min: number; max: number };
  jitterSeconds?: { mean: number; min: number; max: number };
  packetLoss?: { mean: number; min: number; max: number };
  bitrate?: { mean: number; min: number; max: number };
  framesDecoded: number;
  /** `good` when mean RTT ≤ 300 ms, mean jitter ≤ 30 ms and mean loss ≤ 3 %; `unknown` without reports. */
  quality: 'good' | 'poor' | 'unknown';
}

/** Accumulates the stats reports of one call and feeds the histograms. */
export class CallQuality {
  readonly #call: string;
  readonly #m: ConsultMetrics;
  readonly #rtt = stat();
  readonly #jitter = stat();
  readonly #loss = stat();
  readonly #bitrate = stat();
  /** Last cumulative framesDecoded per seat, to count deltas. */
  readonly #frames = new Map<string, number>();
  #framesTotal = 0;
  #reports = 0;
  #resumes = 0;

  constructor(call: string, metrics: ConsultMetrics) {
    this.#call = call;
    this.#m = metrics;
  }

  report(seat: string, s: FrameOf<'stats'>): void {
    this.#reports += 1;
    if (s.rtt !== undefined) { add(this.#rtt, s.rtt); this.#m.rtt.observe(s.rtt); }
    if (s.jitter !== undefined) { add(this.#jitter, s.jitter); this.#m.jitter.observe(s.jitter); }
    if (s.packetLoss !== undefined) { add(this.#loss, s.packetLoss); this.#m.loss.observe(s.packetLoss); }
    if (s.bitrate !== undefined) { add(this.#bitrate, s.bitrate); this.#m.bitrate.observe(s.bitrate / 8); }
    if (s.framesDecoded !== undefined) {
      const prev = this.#frames.get(seat) ?? 0;
      // A smaller figure means a new peer connection (ICE restart after a reload): it counts from zero.
      const delta = s.framesDecoded >= prev ? s.framesDecoded - prev : s.framesDecoded;
      this.#frames.set(seat, s.framesDecoded);
      this.#framesTotal += delta;
      if (delta > 0) this.#m.framesDecoded.inc(delta);
    }
  }

  resumed(): void {
    this.#resumes += 1;
    this.#m.reconnects.inc();
  }

  summary(durationSeconds?: number): CallSummary {
    const rtt = summarise(this.#rtt);
    const jitter = summarise(this.#jitter);
    const loss = summarise(this.#loss);
    const bitrate = summarise(this.#bitrate);
    const known = rtt !== undefined || jitter !== undefined || loss !== undefined;
    const good = (rtt?.mean ?? 0) <= 0.3 && (jitter?.mean ?? 0) <= 0.03 && (loss?.mean ?? 0) <= 0.03;
    return {
      call: this.#call,
      durationSeconds: durationSeconds === undefined ? undefined : Math.round(durationSeconds),
      reports: this.#reports,
      resumes: this.#resumes,
      ...(rtt ? { rttSeconds: rtt } : {}),
      ...(jitter ? { jitterSeconds: jitter } : {}),
      ...(loss ? { packetLoss: loss } : {}),
      ...(bitrate ? { bitrate } : {}),
      framesDecoded: this.#framesTotal,
      quality: known ? (good ? 'good' : 'poor') : 'unknown',
    };
  }
}
