/**
 * Who is in which call, as the consultation service tells it (its
 * `call-started`, `admitted`, `left`, `call-ended` events): per appointment,
 * the patient, the Encounter and the clinicians admitted now. The vitals
 * fan-out reaches only sockets of those clinicians.
 */
import type { FhirService } from '../fhir/index.ts';

type Any = Record<string, any>;

export interface CallState {
  appointmentId: string;
  patient: string | undefined;
  encounter: string | undefined;
  /** Users (`Practitioner/…`) admitted to the call now. */
  clinicians: Set<string>;
}

/** The consult service's event door, as far as vitals needs it (ConsultService.on). */
export interface ConsultEventSource {
  on(name: 'call-started', l: (e: { appointmentId: string; encounter: string; patient: string; clinician: string }) => void): () => void;
  on(name: 'call-ended', l: (e: { appointmentId: string; encounter?: string; reason: string }) => void): () => void;
  on(name: 'admitted', l: (e: { appointmentId: string; seat: string; user: string; role: 'clinician' | 'patient'; resumed: boolean }) => void): () => void;
  on(name: 'left', l: (e: { appointmentId: string; seat: string; user: string; role: 'clinician' | 'patient'; reason: string }) => void): () => void;
}

export interface CallChanges {
  /** The call of this patient changed (started, ended, the patient admitted or gone). */
  patientChanged(patient: string): void;
  /** A clinician is no longer admitted to this appointment (or the call is over). */
  clinicianGone(appointmentId: string, user: string | undefined, reason: string): void;
}

export class CallDirectory {
  readonly #calls = new Map<string, CallState>();
  readonly #byPatient = new Map<string, Set<string>>();
  readonly #fhir: FhirService;
  readonly #off: Array<() => void> = [];

  constructor(fhir: FhirService) {
    this.#fhir = fhir;
  }

  /** Follows the consult service's events. */
  follow(source: ConsultEventSource, changes: CallChanges): void {
    this.#off.push(
      source.on('call-started', (e) => {
        const c = this.#ensure(e.appointmentId);
        c.encounter = e.encounter.includes('/') ? e.encounter : `Encounter/${e.encounter}`;
        this.#setPatient(c, e.patient);
        changes.patientChanged(e.patient);
      }),
      source.on('admitted', (e) => {
        const c = this.#ensure(e.appointmentId);
        if (e.role === 'clinician') c.clinicians.add(e.user);
        else {
          this.#setPatient(c, e.user);
          changes.patientChanged(e.user);
        }
      }),
      source.on('left', (e) => {
        const c = this.#calls.get(e.appointmentId);
        if (!c) return;
        if (e.role === 'clinician') {
          c.clinicians.delete(e.user);
          changes.clinicianGone(e.appointmentId, e.user, e.reason);
        } else changes.patientChanged(e.user);
      }),
      source.on('call-ended', (e) => {
        const c = this.#calls.get(e.appointmentId);
        if (!c) return;
        this.#calls.delete(e.appointmentId);
        if (c.patient) this.#byPatient.get(c.patient)?.delete(e.appointmentId);
        changes.clinicianGone(e.appointmentId, undefined, 'call-ended');
        if (c.patient) changes.patientChanged(c.patient);
      }),
    );
  }

  get(appointmentId: string): CallState | undefined {
    return this.#calls.get(appointmentId);
  }

  /** Whether `user` is admitted to the appointment's call now. */
  admitted(appointmentId: string, user: string): boolean {
    return this.#calls.get(appointmentId)?.clinicians.has(user) ?? false;
  }

  /** The appointments with a call of this patient. */
  callsOf(patient: string): CallState[] {
    const ids = this.#byPatient.get(patient);
    if (!ids) return [];
    return [...ids].map((id) => this.#calls.get(id)).filter((c): c is CallState => c !== undefined);
  }

  /** The Encounter of the patient's call in progress, if any (the Observations point at it). */
  encounterOf(patient: string): string | undefined {
    for (const c of this.callsOf(patient)) if (c.encounter) return c.encounter;
    return undefined;
  }

  /**
   * Without a consult service: the clinician counts as in the call when the
   * Appointment lists them as a participant (booked, arrived or checked-in).
   */
  fromAppointment(appointmentId: string, user: string): CallState | undefined {
    const s = this.#fhir.repo.current('Appointment', appointmentId);
    if (!s || s.deleted) return undefined;
    const a = s.resource as Any;
    if (!['booked', 'arrived', 'checked-in'].includes(a.status)) return undefined;
    const actors: string[] = (Array.isArray(a.participant) ? a.participant : []).map((p: Any) => p?.actor?.reference).filter((r: unknown) => typeof r === 'string');
    if (!actors.includes(user)) return undefined;
    const c = this.#ensure(appointmentId);
    c.clinicians.add(user);
    return c;
  }

  close(): void {
    for (const off of this.#off.splice(0)) off();
  }

  #ensure(appointmentId: string): CallState {
    let c = this.#calls.get(appointmentId);
    if (!c) {
      c = { appointmentId, patient: undefined, encounter: undefined, clinicians: new Set() };
      this.#calls.set(appointmentId, c);
      const s = this.#fhir.repo.current('Appointment', appointmentId);
      const actors = s && !s.deleted ? ((s.resource as Any).participant ?? []) : [];
      const patient = (Array.isArray(actors) ? actors : []).map((p: Any) => p?.actor?.reference).find((r: unknown) => typeof r === 'string' && r.startsWith('Patient/'));
      if (patient) this.#setPatient(c, patient);
    }
    return c;
  }

  #setPatient(c: CallState, patient: string): void {
    if (c.patient === patient) return;
    if (c.patient) this.#byPatient.get(c.patient)?.delete(c.appointmentId);
    c.patient = patient;
    let set = this.#byPatient.get(patient);
    if (!set) this.#byPatient.set(patient, (set = new Set()));
    set.add(c.appointmentId);
  }
}
