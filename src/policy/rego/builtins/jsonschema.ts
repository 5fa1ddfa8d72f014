/**
 * `json.verify_schema` / `json.match_schema` (opa `topdown/jsonschema.go`),
 * a JSON Schema (draft 4–7) core subset with gojsonschema's error shapes:
 * type, enum, const, required, properties, additionalProperties, items,
 * min/max (length, items, properties, value), pattern, allOf/anyOf/oneOf/not.
 */
import { parseJSON } from '../json.ts';
import { compare, equal, isInteger, isNumber, RObject, toJSON, typeName, type Value } from '../value.ts';
import { builtinErr, decl, type BuiltinImpl, type Family } from './types.ts';

export const decls = [decl('json.verify_schema', 1), decl('json.match_schema', 2)];

const TYPES = ['array', 'boolean', 'integer', 'number', 'null', 'object', 'string'];

class SchemaError extends Error {}

interface Issue {
  field: string;
  type: string;
  desc: string;
}

function load(v: Value | undefined, what: string): Value {
  if (typeof v === 'string') {
    try {
      return parseJSON(v);
    } catch (e) {
      throw new SchemaError(`${what}: ${(e as Error).message}`);
    }
  }
  return v ?? null;
}

/** Checks the schema itself (the part gojsonschema validates at load). */
function checkSchema(s: Value): void {
  if (typeof s === 'boolean') return;
  if (!(s instanceof RObject)) throw new SchemaError('Invalid JSON schema: must be an object or a boolean');
  const t = s.get('type');
  const types = Array.isArray(t) ? t : t === undefined ? [] : [t];
  for (const x of types) {
    if (typeof x !== 'string' || !TYPES.includes(x)) {
      throw new SchemaError(`has a primitive type that is NOT VALID -- given: /${typeof x === 'string' ? x : toJSON(x)}/ Expected valid values are:[${TYPES.join(' ')}]`);
    }
  }
  for (const key of ['properties', 'patternProperties', 'definitions']) {
    const p = s.get(key);
    if (p instanceof RObject) for (const [, sub] of p.entries()) checkSchema(sub);
  }
  for (const key of ['items', 'additionalProperties', 'not']) {
    const sub = s.get(key);
    if (sub instanceof RObject) checkSchema(sub);
    if (Array.isArray(sub)) sub.forEach(checkSchema);
  }
  for (const key of ['allOf', 'anyOf', 'oneOf']) {
    const subs = s.get(key);
    if (Array.isArray(subs)) subs.forEach(checkSchema);
  }
}

const jsonType = (v: Value): string => (isInteger(v) ? 'integer' : typeName(v));

function validate(s: Value, v: Value, field: string, out: Issue[]): void {
  if (s === true) return;
  if (s === false) {
    out.push({ field, type: 'false', desc: 'False always fails validation' });
    return;
  }
  if (!(s instanceof RObject)) return;
  const t = s.get('type');
  if (t !== undefined) {
    const types = (Array.isArray(t) ? t : [t]) as string[];
    const actual = jsonType(v);
    if (!types.some((x) => x === actual || (x === 'number' && actual === 'integer'))) {
      out.push({ field, type: 'invalid_type', desc: `Invalid type. Expected: ${types.join('/')}, given: ${actual}` });
      return;
    }
  }
  const en = s.get('enum');
  if (Array.isArray(en) && !en.some((x) => equal(x, v))) {
    out.push({ field, type: 'enum', desc: `${field} must be one of the following: ${en.map((x) => toJSON(x)).join(', ')}` });
  }
  const c = s.get('const');
  if (c !== undefined && !equal(c, v)) out.push({ field, type: 'const', desc: `${field} does not match: ${toJSON(c)}` });
  if (isNumber(v)) {
    const n = (k: string): Value | undefined => s.get(k);
    const min = n('minimum');
    const max = n('maximum');
    if (isNumber(min ?? null) && compare(v, min!) < 0) out.push({ field, type: 'number_gte', desc: `Must be greater than or equal to ${toJSON(min!)}` });
    if (isNumber(max ?? null) && compare(v, max!) > 0) out.push({ field, type: 'number_lte', desc: `Must be less than or equal to ${toJSON(max!)}` });
  }
  if (typeof v === 'string') {
    const len = [...v].length;
    const minL = s.get('minLength');
    const maxL = s.get('maxLength');
    if (isNumber(minL ?? null) && len < Number(minL)) out.push({ field, type: 'string_gte', desc: `String length must be greater than or equal to ${toJSON(minL!)}` });
    if (isNumber(maxL ?? null) && len > Number(maxL)) out.push({ field, type: 'string_lte', desc: `String length must be less than or equal to ${toJSON(maxL!)}` });
    const pat = s.get('pattern');
    if (typeof pat === 'string' && !new RegExp(pat, 'u').test(v)) out.push({ field, type: 'pattern', desc: `Does not match pattern '${pat}'` });
  }
  if (Array.isArray(v)) {
    const items = s.get('items');
    if (items instanceof RObject || typeof items === 'boolean') v.forEach((x, i) => validate(items, x, `${field === '(root)' ? '' : field + '.'}${i}`, out));
    else if (Array.isArray(items)) items.forEach((sub, i) => i < v.length && validate(sub, v[i]!, `${field === '(root)' ? '' : field + '.'}${i}`, out));
    const minI = s.get('minItems');
    const maxI = s.get('maxItems');
    if (isNumber(minI ?? null) && v.length < Number(minI)) out.push({ field, type: 'array_min_items', desc: `Array must have at least ${toJSON(minI!)} items` });
    if (isNumber(maxI ?? null) && v.length > Number(maxI)) out.push({ field, type: 'array_max_items', desc: `Array must have at most ${toJSON(maxI!)} items` });
  }
  if (v instanceof RObject) {
    const req = s.get('required');
    if (Array.isArray(req)) for (const r of req) if (typeof r === 'string' && v.get(r) === undefined) out.push({ field, type: 'required', desc: `${r} is required` });
    const props = s.get('properties');
    const addl = s.get('additionalProperties');
    for (const [k, x] of v.entries()) {
      const key = String(k);
      const sub = props instanceof RObject ? props.get(key) : undefined;
      const child = field === '(root)' ? key : `${field}.${key}`;
      if (sub !== undefined) validate(sub, x, child, out);
      else if (addl === false) out.push({ field, type: 'additional_property_not_allowed', desc: `Additional property ${key} is not allowed` });
      else if (addl instanceof RObject) validate(addl, x, child, out);
    }
  }
  for (const sub of arrayOf(s.get('allOf'))) validate(sub, v, field, out);
  const anyOf = arrayOf(s.get('anyOf'));
  if (anyOf.length && !anyOf.some((sub) => passes(sub, v))) out.push({ field, type: 'number_any_of', desc: 'Must validate at least one schema (anyOf)' });
  const oneOf = arrayOf(s.get('oneOf'));
  if (oneOf.length && oneOf.filter((sub) => passes(sub, v)).length !== 1) out.push({ field, type: 'number_one_of', desc: 'Must validate one and only one schema (oneOf)' });
  const not = s.get('not');
  if (not !== undefined && passes(not, v)) out.push({ field, type: 'number_not', desc: 'Must not validate the schema (not)' });
}

const arrayOf = (v: Value | undefined): Value[] => (Array.isArray(v) ? v : []);

function passes(s: Value, v: Value): boolean {
  const out: Issue[] = [];
  validate(s, v, '(root)', out);
  return out.length === 0;
}

export const impls: Record<string, BuiltinImpl> = {
  'json.verify_schema': ([a]) => {
    try {
      checkSchema(load(a, 'schema'));
      return [true, null];
    } catch (e) {
      if (e instanceof SchemaError) return [false, `jsonschema: ${e.message}`];
      throw e;
    }
  },
  'json.match_schema': ([d, sch]) => {
    let schema: Value;
    let doc: Value;
    try {
      schema = load(sch, 'schema');
      checkSchema(schema);
      doc = load(d, 'document');
    } catch (e) {
      if (e instanceof SchemaError) throw builtinErr('json.match_schema', e.message);
      throw e;
    }
    const issues: Issue[] = [];
    validate(schema, doc, '(root)', issues);
    const errs = issues.map((i) => new RObject([['desc', i.desc], ['error', `${i.field}: ${i.desc}`], ['field', i.field], ['type', i.type]]));
    return [errs.length === 0, errs];
  },
};

export const family: Family = { decls, impls };
