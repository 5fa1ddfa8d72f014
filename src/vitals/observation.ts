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
