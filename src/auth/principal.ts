import type { Role } from '../policy/index.ts';

/** Who is asking: the verified subject of a bearer token. */
export interface Principal {
  /** FHIR reference of the user: `Practitioner/123`, `Patient/456`, or an opaque admin subject. */
  id: string;
  role: Role;
  /** For a patient: their own Patient id (the compartment they reach). */
  patientId?: string;
}
