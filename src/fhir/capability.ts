/**
 * The CapabilityStatement (https://hl7.org/fhir/R4/capabilitystatement.html):
 * exactly what this server supports, generated from the same tables the code
 * runs on, so it cannot drift from the behaviour.
 */
import { paramsOf } from './search-params.ts';
import { ResourceTypes, type Resource } from './types.ts';

const READ_ONLY = new Set(['AuditEvent']);
const FHIR_TYPE_URL = 'http://hl7.org/fhir/SearchParameter';

let cached: { base: string; cs: Resource } | undefined;

export function capabilityStatement(baseUrl: string): Resource {
  if (cached?.base === baseUrl) return cached.cs;
  const resources = ResourceTypes.map((type) => {
    const interactions = READ_ONLY.has(type)
      ? ['read', 'vread', 'search-type']
      : ['read', 'vread', 'update', 'delete', 'history-instance', 'create', 'search-type'];
    return {
      type,
      versioning: 'versioned-update',
      readHistory: true,
      updateCreate: !READ_ONLY.has(type),
      conditionalCreate: !READ_ONLY.has(type),
      conditionalRead: 'not-supported',
      conditionalUpdate: false,
      conditionalDelete: 'not-supported',
      interaction: interactions.map((code) => ({ code })),
      searchParam: [
        { name: '_id', type: 'token', definition: `${FHIR_TYPE_URL}/Resource-id` },
        { name: '_lastUpdated', type: 'date', definition: `${FHIR_TYPE_URL}/Resource-lastUpdated` },
        ...paramsOf(type).map((p) => ({ name: p.name, type: p.type, documentation: p.expression })),
      ],
    };
  });
  const cs: Resource = {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-11-25',
    kind: 'instance',
    software: { name: 'telemed-edge', version: '0.1.0' },
    implementation: { description: 'telemed-edge node: FHIR R4 clinical record on the edge', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        documentation: 'Search: parameters below plus _count (max 1000), _offset, _sort (_id, _lastUpdated, date parameters; - for descending), _summary=count. Unknown parameters are refused (400) unless Prefer: handling=lenient.',
        security: { cors: false, description: 'Bearer JWT (OIDC provider via JWKS, or the node key). Access decided by the node policy (default deny); a patient reaches only their own compartment.' },
        resource: resources,
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
      },
    ],
  };
  cached = { base: baseUrl, cs };
  return cs;
}
