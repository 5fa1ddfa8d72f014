/**
 * Event triggers: a function registered with a trigger runs when a matching
 * resource is created, and its output becomes a FHIR resource of the type
 * the trigger names (https://hl7.org/fhir/R4/riskassessment.html,
 * https://hl7.org/fhir/R4/flag.html, https://hl7.org/fhir/R4/observation.html),
 * tied to the triggering resource's subject and to the resource itself.
 * The node calls {@link FunctionRegistry.runTriggers} after a create commits
 * and writes what comes back through the FHIR service.
 */
import { FunctionError } from './errors.ts';

export const TriggerOutputs = ['RiskAssessment', 'Flag', 'Observation', 'none'] as const;
export type TriggerOutput = (typeof TriggerOutputs)[number];

export interface Trigger {
  /** The resource type whose creation runs the function, e.g. `Observation`. */
  resourceType: string;
  /** Only resources carrying this code: `system|code`, or a bare `code` in any system. */
  code?: string;
  /** What the output becomes: a resource of this type, or nothing (`none`: the call is only logged). */
  output: TriggerOutput;
}

/** The minimum the trigger logic reads of a resource. */
export interface TriggerResource {
  resourceType: string;
  id?: string;
  subject?: { reference?: string };
  code?: { coding?: Array<{ system?: string; code?: string }> };
  [k: string]: unknown;
}

/** Checks a trigger given over the API; throws `FN_ERR_BAD_INPUT` naming the fault. */
export function parseTrigger(v: unknown): Trigger {
  if (v === null || typeof v !== 'object') throw new FunctionError('badInput', 'trigger must be an object {resourceType, code?, output}');
  const t = v as Record<string, unknown>;
  if (typeof t.resourceType !== 'string' || !/^[A-Z][A-Za-z]{1,63}$/.test(t.resourceType)) throw new FunctionError('badInput', 'trigger.resourceType must be a FHIR resource type');
  if (t.code !== undefined && (typeof t.code !== 'string' || t.code.length === 0 || t.code.length > 256)) throw new FunctionError('badInput', 'trigger.code must be "system|code" or "code"');
  if (!TriggerOutputs.includes(t.output as TriggerOutput)) throw new FunctionError('badInput', `trigger.output must be one of ${TriggerOutputs.join(', ')}`);
  return { resourceType: t.resourceType, ...(t.code !== undefined ? { code: t.code as string } : {}), output: t.output as TriggerOutput };
}

/** True when `resource` is of the trigger's type and, if the trigger names a code, carries it. */
export function matches(trigger: Trigger, resource: TriggerResource): boolean {
  if (resource.resourceType !== trigger.resourceType) return false;
  if (trigger.code === undefined) return true;
  const bar = trigger.code.indexOf('|');
  const system = bar >= 0 ? trigger.code.slice(0, bar) : undefined;
  const code = bar >= 0 ? trigger.code.slice(bar + 1) : trigger.code;
  return (resource.code?.coding ?? []).some((c) => c.code === code && (system === undefined || c.system === system));
}

/**
 * The resource a triggered call's output becomes: the output must itself be a
 * resource of the trigger's output type. Its subject is the triggering
 * resource's subject (whatever the function said), it points back to the
 * triggering resource (`basis` of a RiskAssessment, `derivedFrom` of an
 * Observation), and it is tagged with the function that made it.
 */
export function outputResource(name: string, trigger: Trigger, output: unknown, source: TriggerResource): Record<string, unknown> | undefined {
  if (trigger.output === 'none') return undefined;
  if (output === null || typeof output !== 'object' || (output as { resourceType?: unknown }).resourceType !== trigger.output) {
    throw new FunctionError('badOutput', `function ${name} is triggered to make a ${trigger.output}, and its output is not one`);
  }
  const { id: _id, meta: _meta, subject: _subject, ...rest } = output as Record<string, unknown>;
  const resource: Record<string, unknown> = {
    ...rest,
    meta: { tag: [{ system: 'urn:telemed-edge:function', code: name }] },
    ...(source.subject ? { subject: source.subject } : {}),
  };
  const ref = source.id ? { reference: `${source.resourceType}/${source.id}` } : undefined;
  if (ref && trigger.output === 'RiskAssessment') resource.basis = [ref];
  if (ref && trigger.output === 'Observation') resource.derivedFrom = [ref];
  return resource;
}
