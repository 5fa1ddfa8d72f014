/**
 * The clinical record: FHIR R4 resources, validated, versioned, searchable,
 * sealed at rest, with access decided by the policy and every touch audited.
 * HTTP-agnostic: node/ mounts {@link FhirService.handle} on Fastify.
 */
export { FhirService, type FhirChange, type FhirRequest, type FhirResponse, type AuditLink, type FhirServiceOptions } from './service.ts';
export { FhirRepository, FHIR_MIGRATIONS } from './repository.ts';
export { ResourceValidator } from './validate.ts';
export { FhirError, outcome, toFhirError, type OperationOutcome, type Issue } from './outcome.ts';
export { toPairs, type QueryParams } from './query.ts';
export { compartmentOf } from './search-params.ts';
export { capabilityStatement } from './capability.ts';
export { ResourceTypes, isResourceType, type Resource, type Bundle, type StoredResource } from './types.ts';
