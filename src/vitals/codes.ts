/**
 * The vitals the node takes: LOINC codes of the FHIR vital-signs profiles
 * (https://hl7.org/fhir/R4/observation-vitalsigns.html), the UCUM units each
 * accepts, and the plausible range of a reading (outside it a sample is
 * refused, not stored). ECG traces use the MDC code of an ECG lead potential,
 * as in FHIR's own SampledData example.
 */
export const LOINC = 'http://loinc.org';
export const UCUM = 'http://unitsofmeasure.org';
export const MDC = 'urn:oid:2.16.840.1.113883.6.24';

export const VitalCodes = {
  heartRate: '8867-4',
  spo2: '2708-6',
  bloodPressure: '85354-9',
  respiratoryRate: '9279-1',
  bodyTemperature: '8310-5',
  ecg: '131328',
} as const;
export type VitalCode = (typeof VitalCodes)[keyof typeof VitalCodes];

/** Components of the blood-pressure panel. */
export const SYSTOLIC = '8480-6';
export const DIASTOLIC = '8462-4';
/** The pulse-oximetry code carried beside 2708-6 (the vital-signs profile's SpO2 pattern). */
export const SPO2_PULSE_OX = '59408-5';

export interface VitalSpec {
  code: VitalCode;
  system: string;
  display: string;
  /** The profile of https://hl7.org/fhir/R4/observation-vitalsigns.html */
  profile: string;
  /** Accepted UCUM units, with the range a reading may take in each. */
  units: Record<string, { min: number; max: number }>;
  kind: 'quantity' | 'blood-pressure' | 'waveform';
}

const P = 'http://hl7.org/fhir/StructureDefinition/';

export const VITALS: Record<VitalCode, VitalSpec> = {
  '8867-4': { code: '8867-4', system: LOINC, display: 'Heart rate', profile: `${P}heartrate`, kind: 'quantity', units: { '/min': { min: 0, max: 350 }, '{beats}/min': { min: 0, max: 350 } } },
  '2708-6': { code: '2708-6', system: LOINC, display: 'Oxygen saturation in Arterial blood', profile: `${P}oxygensat`, kind: 'quantity', units: { '%': { min: 0, max: 100 } } },
  '85354-9': { code: '85354-9', system: LOINC, display: 'Blood pressure panel with all children optional', profile: `${P}bp`, kind: 'blood-pressure', units: { 'mm[Hg]': { min: 0, max: 400 } } },
  '9279-1': { code: '9279-1', system: LOINC, display: 'Respiratory rate', profile: `${P}resprate`, kind: 'quantity', units: { '/min': { min: 0, max: 100 }, '{breaths}/min': { min: 0, max: 100 } } },
  '8310-5': { code: '8310-5', system: LOINC, display: 'Body temperature', profile: `${P}bodytemp`, kind: 'quantity', units: { Cel: { min: 20, max: 46 }, '[degF]': { min: 68, max: 115 } } },
  '131328': { code: '131328', system: MDC, display: 'MDC_ECG_ELEC_POTL', profile: `${P}vitalsigns`, kind: 'waveform', units: { mV: { min: -50, max: 50 }, uV: { min: -50_000, max: 50_000 } } },
};

export function isVitalCode(code: string): code is VitalCode {
  return Object.hasOwn(VITALS, code);
}

/** A temperature in degrees Celsius, whatever unit it came in. */
export function celsius(value: number, unit: string): number {
  return unit === '[degF]' ? ((value - 32) * 5) / 9 : value;
}
