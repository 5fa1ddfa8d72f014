/**
 * The de-identifier: the only way a payload becomes a message for the hub.
 *
 * It builds a NEW object from an allow-list of fields (never copies and
 * strips), so a field nobody thought of cannot slip through: patient ids,
 * names, birth dates, addresses, free text and exact event times are simply
 * never read. Times are coarsened to the start of their UTC hour; strings are
 * accepted only from closed sets; numbers must be finite. Anything else is a
 * {@link DeidentifyError} and nothing is queued.
 */

/** The aggregate figures a node reports (issue 6: consultations, call quality, alerts, vitals volume). */
export const Metrics = {
  consultations: 'consultations',
  consultationSeconds: 'consultation_seconds',
  callQuality: 'call_quality',
  alerts: 'alerts',
  vitalsSamples: 'vitals_samples',
} as const;
export type Metric = (typeof Metrics)[keyof typeof Metrics];
const METRICS = new Set<string>(Object.values(Metrics));

/** Histogram bucket labels allowed in a distribution (call-quality scores, duration bands). */
const BUCKET = /^(le_[0-9]{1,6}(\.[0-9]{1,3})?|inf|good|fair|poor|unknown)$/;

/** A de-identified aggregate, as it travels to the hub. */
export interface Aggregate {
  metric: Metric;
  /** Start of the UTC hour the figures belong to, `YYYY-MM-DDTHH:00Z`. */
  period: string;
  count: number;
  sum?: number;
  buckets?: Record<string, number>;
}

/** The payload was refused by the de-identifier; `code` is stable, the message names only the field. */
export class DeidentifyError extends Error {
  override readonly name = 'DeidentifyError';
  constructor(readonly code: 'unknown_metric' | 'bad_period' | 'bad_number' | 'bad_bucket' | 'too_many_buckets', field: string) {
    super(`${code}: ${field}`);
  }
}

const HOUR = 3_600_000;

/** Coarsens a time (ms, Date or ISO string) to the start of its UTC hour. */
export function hourOf(t: unknown): string {
  const ms = t instanceof Date ? t.getTime() : typeof t === 'number' ? t : typeof t === 'string' ? Date.parse(t) : Number.NaN;
  if (!Number.isFinite(ms)) throw new DeidentifyError('bad_period', 'period');
  return new Date(Math.floor(ms / HOUR) * HOUR).toISOString().slice(0, 13) + ':00Z';
}

function count(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new DeidentifyError('bad_number', field);
  return v;
}

/**
 * Builds the de-identified aggregate from `payload`, reading only `metric`,
 * `period` (or `at`), `count`, `sum` and `buckets`. Every other field of the
 * payload (a patient reference, a note, the exact time) is ignored.
 */
export function deidentifyAggregate(payload: Record<string, unknown>): Aggregate {
  const metric = payload.metric;
  if (typeof metric !== 'string' || !METRICS.has(metric)) throw new DeidentifyError('unknown_metric', 'metric');
  const out: Aggregate = {
    metric: metric as Metric,
    period: hourOf(payload.period ?? payload.at),
    count: Math.round(count(payload.count ?? 1, 'count')),
  };
  if (payload.sum !== undefined) out.sum = Math.round(count(payload.sum, 'sum') * 1000) / 1000;
  if (payload.buckets !== undefined) {
    if (typeof payload.buckets !== 'object' || payload.buckets === null) throw new DeidentifyError('bad_bucket', 'buckets');
    const entries = Object.entries(payload.buckets as Record<string, unknown>);
    if (entries.length > 32) throw new DeidentifyError('too_many_buckets', 'buckets');
    const buckets: Record<string, number> = {};
    for (const [k, v] of entries) {
      if (!BUCKET.test(k)) throw new DeidentifyError('bad_bucket', 'buckets');
      buckets[k] = Math.round(count(v, 'buckets'));
    }
    out.buckets = buckets;
  }
  return out;
}

/** What a heartbeat may say about a node: no patient data at all, only the node's own state. */
export interface Heartbeat {
  node: string;
  city: string;
  version: string;
  bundle: string;
  backlog: number;
  /** The node's clock when sent, to the second (a node time, not a patient event time). */
  sentAt: string;
  /** The last bundle from the hub this node refused, and why. */
  bundleRefused?: { revision?: string; reason: string };
  /** The node's p99 request latency, in ms, when the node reports it. */
  p99LatencyMs?: number;
  /** The rollout groups the node is in (its queue is bound to `group.<g>.#` for each). */
  groups?: string[];
  /** The configuration revision from the hub in force ('' for none), when the node takes configurations. */
  config?: string;
  /** The last configuration from the hub this node refused, why, and the setting it named. */
  configRefused?: { revision?: string; reason: string; key?: string };
}

const LABEL = /^[A-Za-z0-9 ._:/-]{0,100}$/;

/** Checks a label that describes the node (id, city, version, bundle revision). */
export function nodeLabel(v: unknown, field: string): string {
  if (typeof v !== 'string' || !LABEL.test(v)) throw new DeidentifyError('bad_bucket', field);
  return v;
}
