/**
 * What a consultation reads from and writes to the clinical record: the
 * Appointment (who may join), the patient's telehealth Consent, the
 * Encounter of the call and the chat kept as Communication. Writes go
 * through {@link FhirService.putAsSystem}: validated, committed, audited.
 */
import { randomUUID } from 'node:crypto';
import type { FhirRepository, FhirService, Resource } from '../fhir/index.ts';

type SearchRequest = Parameters<FhirRepository['search']>[1];
type Any = Record<string, any>;

/** http://terminology.hl7.org/CodeSystem/v3-ActCode, code VR: a virtual encounter. */
export const VIRTUAL_ENCOUNTER = { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR', display: 'virtual' } as const;

/** Appointment statuses that may hold a call (https://hl7.org/fhir/R4/valueset-appointmentstatus.html). */
const JOINABLE = new Set(['booked', 'arrived', 'checked-in']);

/** The facts of an Appointment a room needs. */
export interface AppointmentFacts {
  id: string;
  status: string;
  joinable: boolean;
  /** `Patient/<id>` of the (first) patient participant. */
  patient: string | undefined;
  /** `Practitioner/<id>` of every practitioner participant. */
  clinicians: string[];
  start?: string;
  end?: string;
}

const REF = /(?:^|\/)((?:Patient|Practitioner)\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]+)?$/;
const refOf = (r: unknown): string | undefined => {
  const s = (r as Any | undefined)?.reference;
  return typeof s === 'string' ? REF.exec(s)?.[1] : undefined;
};

const TELEHEALTH = /\btele[- ]?(health|medicine|consult(ation)?)\b|\bvideo\b|\bvirtual\b/i;

/** True when one CodeableConcept (its text, a coding's code or display) speaks of telehealth. */
function mentionsTelehealth(concept: unknown): boolean {
  const c = concept as Any | undefined;
  if (!c || typeof c !== 'object') return false;
  if (typeof c.text === 'string' && TELEHEALTH.test(c.text)) return true;
  return Array.isArray(c.coding) && c.coding.some((cd: Any) => [cd?.code, cd?.display].some((v) => typeof v === 'string' && TELEHEALTH.test(v)));
}

/**
 * The consent rule (documented in PROTOCOL.md): a Consent counts for a video
 * call when its status is `active`, its patient is the appointment's patient,
 * its top-level provision is not `deny`, its provision period (if any)
 * covers now, and a category (or the scope) speaks of telehealth:
 * "telehealth", "telemedicine", "teleconsultation", "video" or "virtual" in
 * its text or in a coding's code or display.
 */
export function isTelehealthConsent(consent: Resource, patient: string, nowMs: number): boolean {
  const c = consent as Any;
  if (c.resourceType !== 'Consent' || c.status !== 'active') return false;
  if (refOf(c.patient) !== patient) return false;
  if (c.provision?.type === 'deny') return false;
  const period = c.provision?.period as Any | undefined;
  if (period) {
    if (typeof period.start === 'string' && Date.parse(period.start) > nowMs) return false;
    if (typeof period.end === 'string' && Date.parse(period.end) < nowMs) return false;
  }
  const concepts = [...(Array.isArray(c.category) ? c.category : []), c.scope];
  return concepts.some(mentionsTelehealth);
}

const search = (criteria: SearchRequest['criteria'], count = 50): SearchRequest => ({ criteria, count, offset: 0, sort: [], summaryCount: false });

export class ConsultRecords {
  readonly #fhir: FhirService;

  constructor(fhir: FhirService) {
    this.#fhir = fhir;
  }

  /** The Appointment's facts, or undefined when it does not exist (or was deleted). */
  appointment(id: string): AppointmentFacts | undefined {
    const s = this.#fhir.repo.current('Appointment', id);
    if (!s || s.deleted) return undefined;
    const a = s.resource as Any;
    const actors = (Array.isArray(a.participant) ? a.participant : [])
      .filter((p: Any) => p?.status !== 'declined')
      .map((p: Any) => refOf(p?.actor))
      .filter((r: string | undefined): r is string => r !== undefined);
    const status = typeof a.status === 'string' ? a.status : 'unknown';
    return {
      id,
      status,
      joinable: JOINABLE.has(status),
      patient: actors.find((r: string) => r.startsWith('Patient/')),
      clinicians: actors.filter((r: string) => r.startsWith('Practitioner/')),
      ...(typeof a.start === 'string' ? { start: a.start } : {}),
      ...(typeof a.end === 'string' ? { end: a.end } : {}),
    };
  }

  /** Whether the patient has an active telehealth Consent now (see {@link isTelehealthConsent}). */
  hasConsent(patient: string, nowMs = Date.now()): boolean {
    const found = this.#fhir.repo.search('Consent', search([
      { kind: 'reference', param: 'patient', values: [patient] },
      { kind: 'token', param: 'status', values: [{ sys: undefined, code: 'active' }] },
    ]));
    return found.entries.some((e) => isTelehealthConsent(e.resource, patient, nowMs));
  }

  /** The in-progress Encounter of this appointment (left by a node restart mid-call), if any. */
  openEncounter(appointmentId: string): { id: string; start: string } | undefined {
    const found = this.#fhir.repo.search('Encounter', search([
      { kind: 'reference', param: 'appointment', values: [`Appointment/${appointmentId}`] },
      { kind: 'token', param: 'status', values: [{ sys: undefined, code: 'in-progress' }] },
    ], 1));
    const e = found.entries[0]?.resource as Any | undefined;
    if (!e?.id) return undefined;
    return { id: e.id, start: typeof e.period?.start === 'string' ? e.period.start : new Date().toISOString() };
  }

  /** Creates the call's Encounter: class VR, in-progress, period.start = now. */
  async startEncounter(a: AppointmentFacts, clinician: string, now = new Date()): Promise<{ id: string; start: string }> {
    const id = randomUUID();
    const start = now.toISOString();
    await this.#fhir.putAsSystem({
      resourceType: 'Encounter',
      id,
      status: 'in-progress',
      class: { ...VIRTUAL_ENCOUNTER },
      serviceType: { text: 'Video consultation' },
      subject: { reference: a.patient },
      participant: [{ individual: { reference: clinician } }],
      appointment: [{ reference: `Appointment/${a.id}` }],
      period: { start },
    });
    return { id, start };
  }

  /** Finishes the Encounter with period.end = now (idempotent: a finished one is left alone). */
  async finishEncounter(id: string, now = new Date()): Promise<void> {
    const s = this.#fhir.repo.current('Encounter', id);
    if (!s || s.deleted) return;
    const e = s.resource as Any;
    if (e.status === 'finished') return;
    const { meta: _meta, ...rest } = e;
    await this.#fhir.putAsSystem({ ...rest, resourceType: 'Encounter', status: 'finished', period: { ...(e.period ?? {}), end: now.toISOString() } });
  }

  /** Marks the Appointment fulfilled (a later join is refused with `call_ended`). */
  async fulfilAppointment(id: string): Promise<void> {
    const s = this.#fhir.repo.current('Appointment', id);
    if (!s || s.deleted) return;
    const a = s.resource as Any;
    if (!JOINABLE.has(a.status)) return;
    const { meta: _meta, ...rest } = a;
    await this.#fhir.putAsSystem({ ...rest, resourceType: 'Appointment', status: 'fulfilled' });
  }

  /** A DocumentReference of `patient` (current, not deleted), with what the peers are shown; undefined otherwise. */
  document(id: string, patient: string): { id: string; title?: string; contentType?: string } | undefined {
    const s = this.#fhir.repo.current('DocumentReference', id);
    if (!s || s.deleted) return undefined;
    const d = s.resource as Any;
    if (refOf(d.subject) !== patient || d.status === 'entered-in-error') return undefined;
    const attachment = Array.isArray(d.content) ? d.content[0]?.attachment : undefined;
    const title = typeof attachment?.title === 'string' ? attachment.title : typeof d.description === 'string' ? d.description : undefined;
    return {
      id,
      ...(title !== undefined ? { title: title.slice(0, 200) } : {}),
      ...(typeof attachment?.contentType === 'string' ? { contentType: attachment.contentType } : {}),
    };
  }

  /** Keeps one chat message as a Communication; resolves after the commit with its id and time. */
  async storeChat(m: { appointmentId: string; patient: string; encounter?: string; sender: string; recipients: string[]; text: string }, now = new Date()): Promise<{ id: string; sent: string }> {
    const id = randomUUID();
    const sent = now.toISOString();
    await this.#fhir.putAsSystem({
      resourceType: 'Communication',
      id,
      status: 'completed',
      category: [{ text: 'consultation chat' }],
      subject: { reference: m.patient },
      ...(m.encounter ? { encounter: { reference: `Encounter/${m.encounter}` } } : {}),
      about: [{ reference: `Appointment/${m.appointmentId}` }],
      sent,
      sender: { reference: m.sender },
      ...(m.recipients.length > 0 ? { recipient: m.recipients.map((r) => ({ reference: r })) } : {}),
      payload: [{ contentString: m.text }],
    });
    return { id, sent };
  }
}
