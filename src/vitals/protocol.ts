/**
 * The vitals protocol, version 1 (./PROTOCOL.md): JSON text frames over one
 * WebSocket at `/ws/vitals`, and the same samples in `POST /api/vitals`.
 * Frames and samples are validated with zod, then each sample against the
 * catalogue of ./codes.ts (code, unit per code, plausible range, time window);
 * a bad sample gets an error naming its field and is never stored.
 */
import { z } from 'zod';
import { celsius, isVitalCode, VITALS, type VitalCode } from './codes.ts';

export const PROTOCOL_VERSION = 1;

/** Stable codes of `error` frames (PROTOCOL.md lists every one). */
export const ErrorCodes = {
  badJson: 'bad_json',
  badFrame: 'bad_frame',
  unknownType: 'unknown_type',
  frameTooLarge: 'frame_too_large',
  unauthenticated: 'unauthenticated',
  authFailed: 'auth_failed',
  alreadyAuthenticated: 'already_authenticated',
  notADevice: 'not_a_device',
  badSample: 'bad_sample',
  streamRefused: 'stream_refused',
  subscribeRefused: 'subscribe_refused',
  storeFailed: 'store_failed',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export const CloseCodes = {
  /** Authentication failed. */
  authFailed: 4401,
  /** The policy refused the stream (at open or at a later re-decision). */
  refused: 4403,
  /** No hello in time. */
  helloTimeout: 4408,
  /** Another socket took over this device. */
  replaced: 4409,
  /** A clinician socket with more than 16 MiB unsent: it reads too slowly. */
  tooSlow: 1013,
  /** A batch could not be committed: reconnect and resend from the last ack. */
  storeFailed: 1011,
} as const;

/** Most samples in one frame (or one HTTP batch). */
export const MAX_SAMPLES_PER_FRAME = 1000;
/** Most points of one ECG chunk. */
export const MAX_WAVEFORM_POINTS = 5000;
/** A device clock may run this far ahead of the node's. */
export const MAX_FUTURE_MS = 60 * 60_000;
/** Samples older than this are refused (a device replaying a month-old buffer is broken). */
export const MAX_AGE_MS = 30 * 24 * 60 * 60_000;

const ref = z.string().max(64).optional();
const id = z.string().regex(/^[A-Za-z0-9\-._:]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 - . _ :');
const seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** One sample as a device sends it (before the checks of {@link checkSample}). */
export const SampleSchema = z.object({
  seq,
  code: z.string().max(32),
  unit: z.string().max(32),
  /** Device time: RFC 3339 date-time or epoch milliseconds. */
  time: z.union([z.iso.datetime({ offset: true }), z.number().int().min(0)]),
  value: z.number().optional(),
  systolic: z.number().optional(),
  diastolic: z.number().optional(),
  /** ECG: points of the trace, and milliseconds between them. */
  data: z.array(z.number()).max(MAX_WAVEFORM_POINTS).optional(),
  period: z.number().positive().max(1000).optional(),
});
export type RawSample = z.infer<typeof SampleSchema>;

/** A checked sample, ready to store and fan out. */
export interface Sample {
  seq: number;
  code: VitalCode;
  unit: string;
  /** Device time, epoch ms. */
  time: number;
  value?: number;
  systolic?: number;
  diastolic?: number;
  data?: number[];
  period?: number;
}

export const ClientFrameSchema = z.discriminatedUnion('type', [
  z.object({ v: z.literal(1).optional(), type: z.literal('hello'), token: z.string().min(1).max(8192), device: id.optional(), patient: z.string().regex(/^Patient\/[A-Za-z0-9\-.]{1,64}$/).optional(), ref }),
  // samples are checked one by one (checkSample), so one bad sample does not sink the frame
  z.object({ v: z.literal(1).optional(), type: z.literal('samples'), samples: z.array(z.unknown()).min(1).max(MAX_SAMPLES_PER_FRAME), ref }),
  z.object({ v: z.literal(1).optional(), type: z.literal('subscribe'), appointmentId: id, ref }),
  z.object({ v: z.literal(1).optional(), type: z.literal('unsubscribe'), appointmentId: id, ref }),
  z.object({ v: z.literal(1).optional(), type: z.literal('ping'), t: z.number().optional(), ref }),
]);
export type ClientFrame = z.infer<typeof ClientFrameSchema>;
export const CLIENT_FRAME_TYPES = ['hello', 'samples', 'subscribe', 'unsubscribe', 'ping'] as const;

/** The HTTP batch body (`POST /api/vitals`). */
export const BatchSchema = z.object({
  device: id,
  patient: z.string().regex(/^Patient\/[A-Za-z0-9\-.]{1,64}$/).optional(),
  samples: z.array(z.unknown()).min(1).max(MAX_SAMPLES_PER_FRAME),
});

export interface SampleError {
  /** The field at fault, e.g. `samples[3].unit`. */
  field: string;
  message: string;
  seq?: number;
}

const fieldOf = (prefix: string, path: readonly PropertyKey[]) =>
  [prefix, ...path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))].join('');

/** The first zod issue as a field and message. */
export function zodError(prefix: string, err: z.ZodError): SampleError {
  const issue = err.issues[0]!;
  return { field: fieldOf(prefix, issue.path), message: issue.message.slice(0, 200) };
}

/**
 * Checks one sample: shape, a known code, a unit of that code, finite values
 * in the unit's range, a device time neither an hour ahead nor 30 days old.
 * `field` names the sample in errors (`samples[3]`).
 */
export function checkSample(raw: unknown, field: string, now = Date.now()): Sample | SampleError {
  const parsed = SampleSchema.safeParse(raw);
  if (!parsed.success) {
    const seqOf = (raw as { seq?: unknown } | null)?.seq;
    return { ...zodError(field, parsed.error), ...(typeof seqOf === 'number' && Number.isSafeInteger(seqOf) ? { seq: seqOf } : {}) };
  }
  const s = parsed.data;
  const bad = (f: string, message: string): SampleError => ({ field: `${field}.${f}`, message, seq: s.seq });
  if (!isVitalCode(s.code)) return bad('code', `unknown code '${s.code}' (one of ${Object.keys(VITALS).join(', ')})`);
  const spec = VITALS[s.code];
  const range = spec.units[s.unit];
  if (range === undefined) return bad('unit', `unit '${s.unit}' does not fit ${s.code} (one of ${Object.keys(spec.units).join(', ')})`);
  const time = typeof s.time === 'number' ? s.time : Date.parse(s.time);
  if (!Number.isFinite(time)) return bad('time', 'not a date-time');
  if (time > now + MAX_FUTURE_MS) return bad('time', 'more than an hour ahead of the node');
  if (time < now - MAX_AGE_MS) return bad('time', 'more than 30 days old');
  const inRange = (f: string, v: number | undefined): SampleError | undefined => {
    if (v === undefined) return bad(f, `required for ${s.code}`);
    if (v < range.min || v > range.max) return bad(f, `out of range (${range.min}-${range.max} ${s.unit})`);
    return undefined;
  };
  const out: Sample = { seq: s.seq, code: s.code, unit: s.unit, time };
  if (spec.kind === 'quantity') {
    const e = inRange('value', s.value);
    if (e) return e;
    out.value = s.value!;
  } else if (spec.kind === 'blood-pressure') {
    const e = inRange('systolic', s.systolic) ?? inRange('diastolic', s.diastolic);
    if (e) return e;
    if (s.diastolic! > s.systolic!) return bad('diastolic', 'higher than systolic');
    out.systolic = s.systolic!;
    out.diastolic = s.diastolic!;
  } else {
    if (s.data === undefined || s.data.length === 0) return bad('data', `required for ${s.code} (the trace)`);
    if (s.period === undefined) return bad('period', `required for ${s.code} (ms between points)`);
    const i = s.data.findIndex((v) => v < range.min || v > range.max);
    if (i >= 0) return bad(`data[${i}]`, `out of range (${range.min}-${range.max} ${s.unit})`);
    out.data = s.data;
    out.period = s.period;
  }
  return out;
}

export const isSampleError = (x: Sample | SampleError): x is SampleError => 'field' in x;

/** A sample as clinicians receive it in `vitals` frames. */
export type LiveSample = Sample & { device: string };

/** The temperature of a sample in °C (NEWS2 wants Celsius). */
export const tempC = (s: Sample) => celsius(s.value!, s.unit);
