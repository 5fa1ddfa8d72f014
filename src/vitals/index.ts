/**
 * Live vitals (issue 5): devices stream LOINC-coded samples over `/ws/vitals`
 * (or `POST /api/vitals`); each is validated, deduplicated by (device,
 * sequence), written as a FHIR vital-signs Observation in a group commit and
 * acknowledged after it; clinicians admitted to the patient's call receive
 * them live; threshold rules and NEWS2 raise alerts and FHIR Flags.
 * HTTP-agnostic: node/ routes the upgrades of its path to
 * {@link VitalsService.handleUpgrade} and mounts {@link VitalsService.ingestBatch}. Protocol: ./PROTOCOL.md.
 */
export { VitalsService, createVitalsService, type VitalsServiceOptions, type IngestResult, type FunctionCaller } from './service.ts';
export { VITALS_MIGRATIONS } from './ledger.ts';
export {
  PROTOCOL_VERSION, ErrorCodes, CloseCodes, MAX_SAMPLES_PER_FRAME, checkSample, isSampleError,
  type ErrorCode, type Sample, type SampleError, type LiveSample, type ClientFrame,
} from './protocol.ts';
export { VitalCodes, VITALS, SYSTOLIC, DIASTOLIC, SPO2_PULSE_OX, LOINC, UCUM, MDC, type VitalCode } from './codes.ts';
export { toObservation, toObservations, regularPeriod, SAMPLE_IDENTIFIER_SYSTEM, DEVICE_IDENTIFIER_SYSTEM } from './observation.ts';
export { news2, DEFAULT_RULES, type Alert, type ThresholdRule, type News2Input, type News2Output } from './alerts.ts';
export { VitalsClient, type Frame, type ClientOptions } from './client.ts';
export type { ConsultEventSource } from './calls.ts';
export { SimulatedDevice, PatientModel, seeded, type DeviceStats } from './simulator.ts';
