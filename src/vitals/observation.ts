/**
 * Samples as FHIR R4 Observations of the vital-signs profile
 * (https://hl7.org/fhir/R4/observation-vitalsigns.html): category
 * `vital-signs`, the LOINC code (SpO2 with 59408-5 beside it, blood pressure
 * with its systolic/diastolic components), a UCUM valueQuantity, and the ECG
 * as a `valueSampledData` (https://hl7.org/fhir/R4/datatypes.html#SampledData).
 * The identifier `urn:telemed-edge:vitals|<device>/<seq>` makes every stored
 * sample findable by where it came from (and shows there is one of each).
 */
import type { Resource } from '../fhir/index.ts';
import { DIASTOLIC, LOINC, SPO2_PULSE_OX, SYSTOLIC, UCUM, VITALS } from './codes.ts';
import type { Sample } from './protocol.ts';

export const SAMPLE_IDENTIFIER_SYSTEM = 'urn:telemed-edge:vitals';
export const DEVICE_IDENTIFIER_SYSTEM = 'urn:telemed-edge:device';

const CATEGORY = [{
  coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs', display: 'Vital Signs' }],
  text: 'Vital Signs',
}];

const quantity = (value: number, unit: string) => ({ value, unit, system: UCUM, code: unit });

export interface ObservationContext {
  patient: string;
  device: string;
  encounter?: string;
}

/** One sample as one Observation (no id: the repository assigns it). */
export function toObservation(s: Sample, ctx: ObservationContext): Resource {
  const spec = VITALS[s.code];
  const coding: Array<{ system: string; code: string; display: string }> = [{ system: spec.system, code: spec.code, display: spec.display }];
  if (s.code === '2708-6') coding.push({ system: LOINC, code: SPO2_PULSE_OX, display: 'Oxygen saturation in Arterial blood by Pulse oximetry' });
  const obs: Resource = {
    resourceType: 'Observation',
    meta: { profile: [spec.profile] },
    identifier: [{ system: SAMPLE_IDENTIFIER_SYSTEM, value: `${ctx.device}/${s.seq}` }],
    status: 'final',
    category: CATEGORY,
    code: { coding, text: spec.display },
    subject: { reference: ctx.patient },
    ...(ctx.encounter ? { encounter: { reference: ctx.encounter } } : {}),
    effectiveDateTime: new Date(s.time).toISOString(),
    device: { identifier: { system: DEVICE_IDENTIFIER_SYSTEM, value: ctx.device } },
  };
  if (spec.kind === 'quantity') {
    obs.valueQuantity = quantity(s.value!, s.unit);
  } else if (spec.kind === 'blood-pressure') {
    obs.component = [
      { code: { coding: [{ system: LOINC, code: SYSTOLIC, display: 'Systolic blood pressure' }] }, valueQuantity: quantity(s.systolic!, s.unit) },
      { code: { coding: [{ system: LOINC, code: DIASTOLIC, display: 'Diastolic blood pressure' }] }, valueQuantity: quantity(s.diastolic!, s.unit) },
    ];
  } else {
    obs.valueSampledData = {
      origin: quantity(0, s.unit),
      period: s.period!,
      dimensions: 1,
      data: s.data!.map((v) => String(Math.round(v * 1e4) / 1e4)).join(' '),
    };
  }
  return obs;
}

/**
 * The Observations of one frame's stored samples. With `window` on, the
 * readings of one code that the frame carries at a regular interval (within
 * 10 % of their mean spacing) become one Observation whose value is a
 * SampledData series over `effectivePeriod` (the base vital-signs profile
 * allows it), identified `<device>/<first seq>..<last seq>`; a lone or
 * irregular reading stays one Observation with its valueQuantity (the
 * specific profile: heartrate, oxygensat, ...). Writing one resource per
 * series instead of one per reading is what makes the ingest rate of
 * bench/vitals.ts possible (README of the vitals folder: the figures).
 */
export function toObservations(samples: Sample[], ctx: ObservationContext, window = true): Resource[] {
  if (!window) return samples.map((s) => toObservation(s, ctx));
  const out: Resource[] = [];
  const series = new Map<string, Sample[]>();
  for (const s of samples) {
    if (VITALS[s.code].kind !== 'quantity') {
      out.push(toObservation(s, ctx));
      continue;
    }
    const key = `${s.code}|${s.unit}`;
    const list = series.get(key);
    if (list) list.push(s);
    else series.set(key, [s]);
  }
  for (const list of series.values()) {
    const period = regularPeriod(list);
    if (period === undefined) for (const s of list) out.push(toObservation(s, ctx));
    else out.push(toSeries(list, period, ctx));
  }
  return out;
}

/** The mean spacing (ms) of readings at a regular interval, or undefined (one reading, equal or irregular times). */
export function regularPeriod(list: Sample[]): number | undefined {
  if (list.length < 2) return undefined;
  const period = (list[list.length - 1]!.time - list[0]!.time) / (list.length - 1);
  if (!(period > 0)) return undefined;
  const tolerance = Math.max(1, period * 0.1);
  for (let i = 1; i < list.length; i++) if (Math.abs(list[i]!.time - list[i - 1]!.time - period) > tolerance) return undefined;
  return period;
}

function toSeries(list: Sample[], period: number, ctx: ObservationContext): Resource {
  const first = list[0]!;
  const last = list[list.length - 1]!;
  const { valueQuantity: _v, effectiveDateTime: _e, meta: _m, identifier: _i, ...rest } = toObservation(first, ctx);
  return {
    ...rest,
    meta: { profile: ['http://hl7.org/fhir/StructureDefinition/vitalsigns'] },
    identifier: [{ system: SAMPLE_IDENTIFIER_SYSTEM, value: `${ctx.device}/${first.seq}..${last.seq}` }],
    effectivePeriod: { start: new Date(first.time).toISOString(), end: new Date(last.time).toISOString() },
    valueSampledData: { origin: quantity(0, first.unit), period: Math.round(period * 1000) / 1000, dimensions: 1, data: list.map((s) => String(s.value)).join(' ') },
  };
}
