/**
 * Demo mode: a clinician, a patient with an active telehealth Consent and an
 * Appointment today, so a new user can try a consultation at once. Written
 * through the FHIR service as the node itself (audited like any write).
 */
import type { FhirService } from '../fhir/index.ts';
import type { Resource } from '../fhir/index.ts';

export const DEMO = {
  clinician: 'Practitioner/demo-clinician',
  patient: 'Patient/demo-patient',
} as const;

function today(now: Date): { day: string; start: string; end: string } {
  const day = now.toISOString().slice(0, 10);
  const start = new Date(Math.max(now.getTime(), Date.parse(`${day}T00:00:00Z`)) + 15 * 60_000);
  start.setUTCSeconds(0, 0);
  const end = new Date(start.getTime() + 30 * 60_000);
  return { day: day.replaceAll('-', ''), start: start.toISOString(), end: end.toISOString() };
}

/** Seeds what is missing; returns the id of today's demo appointment. */
export async function seedDemo(fhir: FhirService, now = new Date()): Promise<string> {
  const t = today(now);
  const appointmentId = `demo-appointment-${t.day}`;
  const resources: Resource[] = [
    {
      resourceType: 'Practitioner',
      id: 'demo-clinician',
      active: true,
      name: [{ family: 'Demo', given: ['Dana'], prefix: ['Dr.'] }],
      qualification: [{ code: { text: 'Physician' } }],
    },
    {
      resourceType: 'Patient',
      id: 'demo-patient',
      active: true,
      name: [{ family: 'Lindqvist', given: ['Maren'] }],
      gender: 'unknown',
      birthDate: '1980-01-01',
    },
    {
      resourceType: 'Consent',
      id: 'demo-consent',
      status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0', display: 'Patient Consent' }], text: 'telehealth' }],
      patient: { reference: DEMO.patient },
      dateTime: now.toISOString(),
      policyRule: { text: 'Video consultation and live sharing of vitals; data stays on this node.' },
      provision: { type: 'permit', purpose: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT' }] },
    },
    {
      resourceType: 'Appointment',
      id: appointmentId,
      status: 'booked',
      serviceType: [{ text: 'Video consultation' }],
      start: t.start,
      end: t.end,
      participant: [
        { actor: { reference: DEMO.clinician }, status: 'accepted' },
        { actor: { reference: DEMO.patient }, status: 'accepted' },
      ],
    },
  ];
  for (const r of resources) {
    if (fhir.repo.current(r.resourceType, r.id!)) continue;
    await fhir.putAsSystem(r);
  }
  return appointmentId;
}
