/**
 * Who may be in a call: the one place where consultation decisions are made.
 * Membership is a fact of the Appointment (checked here, before the policy is
 * asked); for members the policy decides, with the input of ARCHITECTURE.md
 * ("Rego input for clinical actions"), the patient's consent read from the
 * record (records.ts, "consent rule").
 */
import type { Principal } from '../auth/index.ts';
import { Actions, Roles, type Decision, type PolicyEngine, type PolicyInput } from '../policy/index.ts';
import { RefusalReasons } from './protocol.ts';
import type { AppointmentFacts, ConsultRecords } from './records.ts';
import type { SeatRole } from './room.ts';

export type Admission =
  | { ok: true; facts: AppointmentFacts & { patient: string }; role: SeatRole }
  | { ok: false; reason: string; member: boolean; facts?: AppointmentFacts };

/** The seat role a principal can take, if any. */
export function seatRoleOf(p: Principal): SeatRole | undefined {
  return p.role === Roles.clinician ? 'clinician' : p.role === Roles.patient ? 'patient' : undefined;
}

/** The principal behind a seat, to decide for it again. */
export function principalOfSeat(seat: { user: string; role: SeatRole }): Principal {
  return { id: seat.user, role: seat.role === 'clinician' ? Roles.clinician : Roles.patient };
}

export interface AdmissionDeps {
  records: ConsultRecords;
  policy: () => PolicyEngine;
  /** Whether the appointment's call is being ended (joins refused with `call_ended`). */
  ending: (appointmentId: string) => boolean;
  onDecision?: (action: string, allow: boolean) => void;
}

export class Admissions {
  readonly #d: AdmissionDeps;

  constructor(deps: AdmissionDeps) {
    this.#d = deps;
  }

  /**
   * Decides whether `principal` may be in the call of an Appointment (join,
   * resume, admit, watch, and the periodic recheck). Synchronous: reads only.
   */
  decide(principal: Principal, appointmentId: string, now = Date.now()): Admission {
    const facts = this.#d.records.appointment(appointmentId);
    if (!facts) return { ok: false, reason: RefusalReasons.appointmentNotFound, member: false };
    const role = seatRoleOf(principal);
    const member = role === 'patient' ? principal.id === facts.patient : role === 'clinician' && facts.clinicians.includes(principal.id);
    if (!member || !role) return { ok: false, reason: RefusalReasons.notAParticipant, member: false, facts };
    if (facts.status === 'fulfilled' || this.#d.ending(appointmentId)) return { ok: false, reason: RefusalReasons.callEnded, member, facts };
    if (!facts.joinable) return { ok: false, reason: RefusalReasons.appointmentNotActive, member, facts };
    if (!facts.patient) return { ok: false, reason: RefusalReasons.noPatient, member, facts };
    const decision = this.#ask(Actions.videoCall, principal, facts.patient, { type: 'Appointment', id: appointmentId }, now);
    if (!decision.allow) return { ok: false, reason: decision.reason || 'policy_default_deny', member, facts };
    return { ok: true, facts: { ...facts, patient: facts.patient }, role };
  }

  /** Asks the policy `share_document` for a DocumentReference of the call's patient. */
  share(principal: Principal, patient: string, documentReference: string): Decision {
    return this.#ask(Actions.shareDocument, principal, patient, { type: 'DocumentReference', id: documentReference, classification: 'phi' });
  }

  #ask(action: PolicyInput['action'], principal: Principal, patient: string, resource: PolicyInput['resource'], now = Date.now()): Decision {
    const input: PolicyInput = {
      action,
      user: { id: principal.id, role: principal.role },
      patient: { id: patient, consent: this.#d.records.hasConsent(patient, now) },
      data_stays_local: true,
      destination: 'local',
      ...(resource ? { resource } : {}),
    };
    const decision = this.#d.policy().decide(input);
    this.#d.onDecision?.(action, decision.allow);
    return decision;
  }
}
