/**
 * The search parameters the node supports, per resource type, with the
 * extraction that turns a resource into index rows. Names, types and paths
 * follow the R4 definitions (https://hl7.org/fhir/R4/searchparameter-registry.html).
 * Only codes, statuses, references (opaque ids) and dates are indexed in
 * plain columns: names, addresses and free text never are.
 */
import type { Resource } from './types.ts';

export type ParamType = 'token' | 'reference' | 'date';

/** One index row: a token (system|code), a reference (`Type/id`) or a date range in ms. */
export interface IndexRow {
  param: string;
  sys: string | null;
  val: string | null;
  lo: number | null;
  hi: number | null;
}

export interface ParamDef {
  name: string;
  type: ParamType;
  /** FHIRPath-like description, for the CapabilityStatement. */
  expression: string;
  /** For reference params: the only target type (e.g. `patient` → Patient). */
  target?: string;
  extract(r: Resource): IndexRow[];
}

type Any = Record<string, any>;
const arr = <T>(v: T | T[] | undefined | null): T[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);

// ---- value → row helpers ----------------------------------------------------

function tokenRows(param: string, codings: unknown[]): IndexRow[] {
  const rows: IndexRow[] = [];
  for (const c of codings as Any[]) {
    if (c && typeof c.code === 'string') rows.push({ param, sys: typeof c.system === 'string' ? c.system : null, val: c.code, lo: null, hi: null });
  }
  return rows;
}
function conceptRows(param: string, concepts: unknown[]): IndexRow[] {
  return tokenRows(param, (concepts as Any[]).flatMap((cc) => arr(cc?.coding)));
}
function codeRows(param: string, codes: unknown[]): IndexRow[] {
  return codes.filter((c): c is string => typeof c === 'string').map((val) => ({ param, sys: null, val, lo: null, hi: null }));
}
/** Normalises a reference to `Type/id` (drops a base URL and a `_history` suffix); undefined if not a literal reference. */
export function normaliseReference(ref: string): string | undefined {
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/.exec(ref);
  return m ? `${m[1]}/${m[2]}` : undefined;
}
function refRows(param: string, refs: unknown[], target?: string): IndexRow[] {
  const rows: IndexRow[] = [];
  for (const r of refs as Any[]) {
    const n = typeof r?.reference === 'string' ? normaliseReference(r.reference) : undefined;
    if (n !== undefined && (target === undefined || n.startsWith(`${target}/`))) rows.push({ param, sys: null, val: n, lo: null, hi: null });
  }
  return rows;
}

/**
 * The range of instants a FHIR date, dateTime or instant covers, in ms:
 * `2024` covers the whole year, `2024-05-01T10:00:00Z` one second... Times
 * without a zone are taken as UTC. Undefined when the text is not a date.
 */
export function dateRange(text: string): [number, number] | undefined {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const year = Number(y);
  const month = mo ? Number(mo) - 1 : 0;
  const day = d ? Number(d) : 1;
  const daysInMonth = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  if (month < 0 || month > 11 || day < 1 || day > daysInMonth) return undefined;
  if ((h && Number(h) > 23) || (mi && Number(mi) > 59) || (s && Number(s) > 59)) return undefined;
  if (tz && tz !== 'Z' && (Number(tz.slice(1, 3)) > 14 || Number(tz.slice(4, 6)) > 59)) return undefined;
  let offset = 0;
  if (tz && tz !== 'Z') offset = (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6))) * 60_000;
  const lo = Date.UTC(year, month, day, h ? Number(h) : 0, mi ? Number(mi) : 0, s ? Number(s) : 0, frac ? Math.floor(Number(frac) * 1000) : 0) - offset;
  if (Number.isNaN(lo)) return undefined;
  let hi: number;
  if (!mo) hi = Date.UTC(year + 1, 0, 1) - 1;
  else if (!d) hi = Date.UTC(year, month + 1, 1) - 1;
  else if (!h) hi = Date.UTC(year, month, day + 1) - 1;
  else if (!s) hi = lo + 60_000 - 1;
  else if (!frac) hi = lo + 999;
  else hi = lo;
  return [lo, hi];
}
function dateRows(param: string, values: unknown[]): IndexRow[] {
  const rows: IndexRow[] = [];
  for (const v of values) {
    if (typeof v === 'string') {
      const r = dateRange(v);
      if (r) rows.push({ param, sys: null, val: null, lo: r[0], hi: r[1] });
    } else if (v && typeof v === 'object' && ('start' in v || 'end' in v)) {
      const p = v as Any;
      const lo = typeof p.start === 'string' ? dateRange(p.start)?.[0] : undefined;
      const hi = typeof p.end === 'string' ? dateRange(p.end)?.[1] : undefined;
      if (lo !== undefined || hi !== undefined) rows.push({ param, sys: null, val: null, lo: lo ?? Number.MIN_SAFE_INTEGER, hi: hi ?? Number.MAX_SAFE_INTEGER });
    }
  }
  return rows;
}

// ---- definitions --------------------------------------------------------------

const P = (name: string, type: ParamType, expression: string, extract: (r: Any) => IndexRow[], target?: string): ParamDef =>
  ({ name, type, expression, extract: extract as (r: Resource) => IndexRow[], ...(target ? { target } : {}) });

const subjectParams = (path: 'subject' | 'patient'): ParamDef[] => [
  P('patient', 'reference', `${path}.where(resolve() is Patient)`, (r) => refRows('patient', arr(r[path]), 'Patient'), 'Patient'),
  ...(path === 'subject' ? [P('subject', 'reference', 'subject', (r) => refRows('subject', arr(r.subject)))] : []),
];
const statusParam = P('status', 'token', 'status', (r) => codeRows('status', arr(r.status)));

/** Search parameters by resource type (besides `_id` and `_lastUpdated`, which every type has). */
export const SEARCH_PARAMS: Record<string, ParamDef[]> = {
  Patient: [],
  Practitioner: [],
  Observation: [
    ...subjectParams('subject'),
    P('code', 'token', 'code', (r) => conceptRows('code', arr(r.code))),
    P('category', 'token', 'category', (r) => conceptRows('category', arr(r.category))),
    P('date', 'date', 'effective', (r) => dateRows('date', [r.effectiveDateTime, r.effectivePeriod, r.effectiveInstant])),
    P('encounter', 'reference', 'encounter', (r) => refRows('encounter', arr(r.encounter), 'Encounter'), 'Encounter'),
    statusParam,
  ],
  Encounter: [
    ...subjectParams('subject'),
    P('date', 'date', 'period', (r) => dateRows('date', [r.period])),
    P('class', 'token', 'class', (r) => tokenRows('class', arr(r.class))),
    P('appointment', 'reference', 'appointment', (r) => refRows('appointment', arr(r.appointment), 'Appointment'), 'Appointment'),
    P('practitioner', 'reference', 'participant.individual', (r) => refRows('practitioner', arr(r.participant).map((p: Any) => p?.individual), 'Practitioner'), 'Practitioner'),
    statusParam,
  ],
  Appointment: [
    P('patient', 'reference', 'participant.actor.where(resolve() is Patient)', (r) => refRows('patient', arr(r.participant).map((p: Any) => p?.actor), 'Patient'), 'Patient'),
    P('practitioner', 'reference', 'participant.actor.where(resolve() is Practitioner)', (r) => refRows('practitioner', arr(r.participant).map((p: Any) => p?.actor), 'Practitioner'), 'Practitioner'),
    P('actor', 'reference', 'participant.actor', (r) => refRows('actor', arr(r.participant).map((p: Any) => p?.actor))),
    P('date', 'date', 'start', (r) => dateRows('date', [r.start])),
    statusParam,
  ],
  Consent: [
    ...subjectParams('patient'),
    P('date', 'date', 'dateTime', (r) => dateRows('date', [r.dateTime])),
    P('category', 'token', 'category', (r) => conceptRows('category', arr(r.category))),
    P('scope', 'token', 'scope', (r) => conceptRows('scope', arr(r.scope))),
    statusParam,
  ],
  DocumentReference: [
    ...subjectParams('subject'),
    P('date', 'date', 'date', (r) => dateRows('date', [r.date])),
    P('type', 'token', 'type', (r) => conceptRows('type', arr(r.type))),
    P('encounter', 'reference', 'context.encounter', (r) => refRows('encounter', arr(r.context?.encounter), 'Encounter'), 'Encounter'),
    statusParam,
  ],
  Communication: [
    ...subjectParams('subject'),
    P('sent', 'date', 'sent', (r) => dateRows('sent', [r.sent])),
    P('encounter', 'reference', 'encounter', (r) => refRows('encounter', arr(r.encounter), 'Encounter'), 'Encounter'),
    statusParam,
  ],
  AuditEvent: [
    P('patient', 'reference', 'entity.what.where(resolve() is Patient)', (r) => refRows('patient', arr(r.entity).map((e: Any) => e?.what), 'Patient'), 'Patient'),
    P('agent', 'reference', 'agent.who', (r) => refRows('agent', arr(r.agent).map((a: Any) => a?.who))),
    P('entity', 'reference', 'entity.what', (r) => refRows('entity', arr(r.entity).map((e: Any) => e?.what))),
    P('date', 'date', 'recorded', (r) => dateRows('date', [r.recorded])),
    P('action', 'token', 'action', (r) => codeRows('action', arr(r.action))),
    P('outcome', 'token', 'outcome', (r) => codeRows('outcome', arr(r.outcome))),
    P('subtype', 'token', 'subtype', (r) => tokenRows('subtype', arr(r.subtype))),
  ],
  Flag: [
    ...subjectParams('subject'),
    P('date', 'date', 'period', (r) => dateRows('date', [r.period])),
    P('encounter', 'reference', 'encounter', (r) => refRows('encounter', arr(r.encounter), 'Encounter'), 'Encounter'),
    statusParam,
  ],
  RiskAssessment: [
    ...subjectParams('subject'),
    P('date', 'date', 'occurrence', (r) => dateRows('date', [r.occurrenceDateTime])),
    P('encounter', 'reference', 'encounter', (r) => refRows('encounter', arr(r.encounter), 'Encounter'), 'Encounter'),
    statusParam,
  ],
};

export function paramsOf(type: string): ParamDef[] {
  return SEARCH_PARAMS[type] ?? [];
}

export function findParam(type: string, name: string): ParamDef | undefined {
  return paramsOf(type).find((p) => p.name === name);
}

/** All index rows of a resource. */
export function extractIndex(r: Resource): IndexRow[] {
  return paramsOf(r.resourceType).flatMap((p) => p.extract(r));
}

/**
 * The patient compartment a resource belongs to (https://hl7.org/fhir/R4/compartmentdefinition-patient.html):
 * the Patient's own id, or the ids its `patient` parameter points to. Empty for non-patient data.
 */
export function compartmentOf(r: Resource): string[] {
  if (r.resourceType === 'Patient') return r.id ? [r.id] : [];
  const def = findParam(r.resourceType, 'patient');
  if (!def) return [];
  return def.extract(r).map((row) => row.val!.slice('Patient/'.length));
}
