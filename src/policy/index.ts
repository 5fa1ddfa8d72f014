/**
 * The policy door: the one place where clinical actions are decided.
 *
 * Every clinical action builds a {@link PolicyInput} (the shape of
 * docs/ARCHITECTURE.md, chosen so the seed's Rego policy
 * `package healthcare.telemedicine` evaluates unmodified) and asks a
 * {@link PolicyEngine}. Default deny: anything but an explicit allow is a deny.
 *
 * This folder imports nothing else of the project.
 */

/** Clinical actions the node asks about. */
export const Actions = {
  videoCall: 'video_call',
  joinWaitingRoom: 'join_waiting_room',
  readRecord: 'read_record',
  writeRecord: 'write_record',
  streamVitals: 'stream_vitals',
  shareDocument: 'share_document',
  runFunction: 'run_function',
  dataTransfer: 'data_transfer',
} as const;
export type Action = (typeof Actions)[keyof typeof Actions];

/** Roles a principal can hold; `authorized_medical_staff` is the seed's clinician role. */
export const Roles = {
  clinician: 'authorized_medical_staff',
  patient: 'patient',
  admin: 'admin',
} as const;
export type Role = (typeof Roles)[keyof typeof Roles];

/** The input document of every decision (ARCHITECTURE.md, "Rego input for clinical actions"). */
export interface PolicyInput {
  action: Action;
  user: { id: string; role: Role | string };
  /** The patient whose data the action touches, when there is one. */
  patient?: { id: string; consent?: boolean };
  data_stays_local: boolean;
  destination: string;
  resource?: { type: string; id?: string; classification?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** The outcome of one decision. `allow` is true only on an explicit allow. */
export interface Decision {
  allow: boolean;
  /** A stable, PHI-free reason code, e.g. `not_in_compartment`, `policy_default_deny`. */
  reason: string;
}

export interface PolicyEngine {
  /** Decides one action. Never throws: an internal error is a deny with reason `policy_error`. */
  decide(input: PolicyInput): Decision;
  /** A short label of what is in force (e.g. `builtin-rules` or a bundle revision). */
  readonly revision: string;
}

const allow = (reason: string): Decision => ({ allow: true, reason });
const deny = (reason: string): Decision => ({ allow: false, reason });

/**
 * The built-in rules, written in code, used until a Rego bundle is loaded.
 * They mirror the seed policy (video calls need clinician role, consent and
 * local data; data transfer off the node is denied) and extend it to the
 * other actions: a patient reaches only their own compartment, clinicians
 * read and write records, admins run functions.
 */
export function createBuiltinPolicy(): PolicyEngine {
  return {
    revision: 'builtin-rules',
    decide(input: PolicyInput): Decision {
      try {
        return decideBuiltin(input);
      } catch {
        return deny('policy_error');
      }
    },
  };
}

function decideBuiltin(input: PolicyInput): Decision {
  const role = input.user?.role;
  const ownCompartment =
    role === Roles.patient && input.patient !== undefined && input.patient.id === input.user.id;
  switch (input.action) {
    case Actions.videoCall:
      if (input.data_stays_local !== true) return deny('data_not_local');
      if (input.patient?.consent !== true) return deny('no_consent');
      if (role === Roles.clinician || ownCompartment) return allow('video_call_allowed');
      return deny('role_not_allowed');
    case Actions.joinWaitingRoom:
      if (role === Roles.clinician || ownCompartment) return allow('waiting_room_allowed');
      return deny('not_in_compartment');
    case Actions.streamVitals:
      if (input.data_stays_local !== true) return deny('data_not_local');
      if (input.patient?.consent !== true) return deny('no_consent');
      if (role === Roles.clinician || ownCompartment) return allow('vitals_allowed');
      return deny(role === Roles.patient ? 'not_in_compartment' : 'role_not_allowed');
    case Actions.readRecord:
    case Actions.writeRecord:
    case Actions.shareDocument:
      if (input.data_stays_local !== true) return deny('data_not_local');
      if (role === Roles.clinician) return allow('clinician_access');
      if (role === Roles.patient) {
        if (input.patient === undefined) {
          // Data outside any patient compartment (e.g. a Practitioner) is readable, not writable, by patients.
          return input.action === Actions.readRecord ? allow('non_patient_data') : deny('role_not_allowed');
        }
        return ownCompartment ? allow('own_compartment') : deny('not_in_compartment');
      }
      if (role === Roles.admin && input.action === Actions.readRecord && input.resource?.type === 'AuditEvent') {
        return allow('admin_audit_read');
      }
      return deny('role_not_allowed');
    case Actions.runFunction: {
      // Admins manage functions; clinicians may call and list them.
      const op = input.resource?.operation;
      if (role === Roles.admin) return allow('function_allowed');
      if (role === Roles.clinician && (op === 'call' || op === 'list')) return allow('function_allowed');
      return deny('role_not_allowed');
    }
    case Actions.dataTransfer:
      // The seed: data may not leave the node. Only de-identified aggregates may go to the hub.
      if (input.destination === 'local') return allow('local_transfer');
      if (input.destination === 'hub' && input.resource?.classification === 'deidentified') {
        return allow('deidentified_to_hub');
      }
      return deny('data_must_stay_local');
    default:
      return deny('policy_default_deny');
  }
}

// ---- The Rego engine (src/policy/rego and the files beside this door) ----

export { createRegoPolicy, loadVerifiedRegoPolicy, BundleRejected, type RegoPolicyEngine } from './rego-engine.ts';
export { loadBundle, bundleFromFiles, mergeBundles, type Bundle, type BundleFile } from './bundle.ts';
export { RegoPolicy, describeError, type RegoPolicyOptions, type RegoDecision } from './rego-policy.ts';
export { runBundleTests, formatTestReport, type TestReport, type TestResult } from './testing.ts';
export { withDecisionLog, inputHash, type DecisionLogEntry } from './decision-log.ts';
export { compile as compileRego, CompiledPolicy, RegoError, RegoErrors, ErrorCodes, type Value } from './rego/index.ts';
export { parseJSON } from './rego/json.ts';
export { fromJS, toJS, stringifyJS, RObject, RSet } from './rego/value.ts';
export { runConformance, runCase, readCases, type CaseResult, type CategoryResult, type ConformanceCase } from './conformance.ts';
