/**
 * AuditEvent resources (https://hl7.org/fhir/R4/auditevent.html) for every
 * read and write of patient data: who, what, when, outcome. They hold
 * references only, never clinical content.
 */
import type { Principal } from '../auth/principal.ts';
import type { Resource } from './types.ts';

/** FHIR restful interactions (http://hl7.org/fhir/restful-interaction) → AuditEvent.action. */
const ACTION: Record<string, 'C' | 'R' | 'U' | 'D' | 'E'> = {
  create: 'C', read: 'R', vread: 'R', 'history-instance': 'R', 'search-type': 'E', update: 'U', delete: 'D',
};

export interface AuditFacts {
  interaction: string;
  principal: Principal;
  /** `Type/id` of the resource acted on, when there is one. */
  target?: string;
  /** Patient ids whose data was touched. */
  patients: string[];
  /** 0 success, 4 refused or failed (minor), 8 serious failure. */
  outcome: '0' | '4' | '8';
  /** A PHI-free reason code for refusals. */
  reason?: string;
}

const isReference = (s: string) => /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(s);

export function buildAuditEvent(f: AuditFacts, nodeId: string, now: Date): Resource {
  const entity: Resource[] = [];
  if (f.target) entity.push({ what: { reference: f.target }, type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' } } as unknown as Resource);
  for (const p of f.patients) {
    const ref = `Patient/${p}`;
    if (ref === f.target) continue;
    entity.push({ what: { reference: ref }, type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' } } as unknown as Resource);
  }
  return {
    resourceType: 'AuditEvent',
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' },
    subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: f.interaction }],
    action: ACTION[f.interaction] ?? 'E',
    recorded: now.toISOString(),
    outcome: f.outcome,
    ...(f.reason ? { outcomeDesc: f.reason } : {}),
    agent: [
      {
        who: isReference(f.principal.id) ? { reference: f.principal.id } : { identifier: { value: f.principal.id } },
        requestor: true,
        role: [{ text: f.principal.role }],
      },
    ],
    source: { observer: { display: nodeId }, type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }] },
    ...(entity.length > 0 ? { entity } : {}),
  };
}
