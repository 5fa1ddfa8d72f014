/** FHIR R4 resource types held by the node, and the shapes the code relies on. */

export const ResourceTypes = [
  'Patient', 'Practitioner', 'Appointment', 'Encounter', 'Observation', 'Consent',
  'DocumentReference', 'Communication', 'AuditEvent', 'Flag', 'RiskAssessment',
] as const;
export type ResourceType = (typeof ResourceTypes)[number];

const typeSet = new Set<string>(ResourceTypes);
export const isResourceType = (t: string): t is ResourceType => typeSet.has(t);

/** FHIR `id` datatype: https://hl7.org/fhir/R4/datatypes.html#id */
export const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;

export interface Meta {
  versionId?: string;
  lastUpdated?: string;
  [k: string]: unknown;
}

export interface Resource {
  resourceType: string;
  id?: string;
  meta?: Meta;
  [k: string]: unknown;
}

export interface Reference {
  reference?: string;
  [k: string]: unknown;
}

export interface Bundle extends Resource {
  resourceType: 'Bundle';
  type: string;
  entry?: BundleEntry[];
}

export interface BundleEntry {
  fullUrl?: string;
  resource?: Resource;
  request?: { method: string; url: string; ifMatch?: string; ifNoneExist?: string; ifNoneMatch?: string };
  response?: { status: string; location?: string; etag?: string; lastModified?: string; outcome?: Resource };
  search?: { mode: 'match' | 'include' | 'outcome' };
  [k: string]: unknown;
}

/** A version of a resource as the repository keeps it. */
export interface StoredResource {
  resource: Resource;
  versionId: number;
  lastUpdated: string;
  deleted: boolean;
}
