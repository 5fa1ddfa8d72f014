// deidentify: strips an Observation down to what the hub's aggregates need
// and nothing that identifies a patient (ARCHITECTURE.md, promise 1).
//
// Kept, by allow-list: resourceType, status, category, code, value[x] of
// type Quantity, CodeableConcept, boolean or integer, dataAbsentReason,
// interpretation, referenceRange (low, high), component (code and the same
// values), and effective[x] / issued coarsened to the month ("2026-11", a
// valid FHIR dateTime). Codings keep only system and code (no display, no
// text: free text can name a person). Everything else goes: id, meta,
// identifier, subject, encounter, performer, note, text, contained,
// extensions, references, strings, attachments and sampled data.
// The output carries meta.security ANONYED (HL7 v3 ObservationValue).

import { input, writeOutput, fail, JSONWriter, JSONValue, Kind } from "../sdk";

const MAX_TOKEN = 128;

// A code, system or unit: a short token without control characters, else dropped.
function token(v: JSONValue | null): string | null {
  if (v === null || v.kind != Kind.String) return null;
  const s = v.str;
  if (s.length == 0 || s.length > MAX_TOKEN) return null;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 0x20) return null;
  return s;
}

function coding(w: JSONWriter, c: JSONValue): bool {
  const system = token(c.get("system"));
  const code = token(c.get("code"));
  if (code === null) return false;
  w.beginObject();
  if (system !== null) w.key("system").str(system);
  w.key("code").str(code);
  w.endObject();
  return true;
}

function hasCoding(cc: JSONValue | null): bool {
  if (cc === null || !cc.isObject()) return false;
  const list = cc.get("coding");
  if (list === null || !list.isArray()) return false;
  for (let i = 0; i < list.items.length; i++) if (token(list.items[i].get("code")) !== null) return true;
  return false;
}

function codeableConcept(w: JSONWriter, cc: JSONValue): void {
  w.beginObject().key("coding").beginArray();
  const list = cc.get("coding")!;
  for (let i = 0; i < list.items.length; i++) if (list.items[i].isObject()) coding(w, list.items[i]);
  w.endArray().endObject();
}

function concepts(w: JSONWriter, key: string, v: JSONValue | null): void {
  if (v === null || !v.isArray()) return;
  let any = false;
  for (let i = 0; i < v.items.length; i++) if (hasCoding(v.items[i])) any = true;
  if (!any) return;
  w.key(key).beginArray();
  for (let i = 0; i < v.items.length; i++) if (hasCoding(v.items[i])) codeableConcept(w, v.items[i]);
  w.endArray();
}

function quantity(w: JSONWriter, q: JSONValue): bool {
  const value = q.get("value");
  if (value === null || !value.isNumber()) return false;
  w.beginObject().key("value").num(value.num);
  const comparator = token(q.get("comparator"));
  if (comparator !== null && (comparator == "<" || comparator == "<=" || comparator == ">=" || comparator == ">")) w.key("comparator").str(comparator);
  const unit = token(q.get("unit"));
  if (unit !== null) w.key("unit").str(unit);
  const system = token(q.get("system"));
  if (system !== null) w.key("system").str(system);
  const code = token(q.get("code"));
  if (code !== null) w.key("code").str(code);
  w.endObject();
  return true;
}

// The values an aggregate can use; strings, attachments, periods, sampled data and references are dropped.
function values(w: JSONWriter, v: JSONValue): void {
  const q = v.get("valueQuantity");
  if (q !== null && q.isObject() && q.get("value") !== null) { w.key("valueQuantity"); quantity(w, q); }
  const cc = v.get("valueCodeableConcept");
  if (hasCoding(cc)) { w.key("valueCodeableConcept"); codeableConcept(w, cc!); }
  const b = v.get("valueBoolean");
  if (b !== null && b.isBool()) w.key("valueBoolean").bool(b.bool);
  const n = v.get("valueInteger");
  if (n !== null && n.isNumber()) w.key("valueInteger").num(n.num);
  const absent = v.get("dataAbsentReason");
  if (hasCoding(absent)) { w.key("dataAbsentReason"); codeableConcept(w, absent!); }
  concepts(w, "interpretation", v.get("interpretation"));
  const ranges = v.get("referenceRange");
  if (ranges !== null && ranges.isArray()) {
    w.key("referenceRange").beginArray();
    for (let i = 0; i < ranges.items.length; i++) {
      const r = ranges.items[i];
      w.beginObject();
      const low = r.get("low");
      if (low !== null && low.isObject() && low.get("value") !== null) { w.key("low"); quantity(w, low); }
      const high = r.get("high");
      if (high !== null && high.isObject() && high.get("value") !== null) { w.key("high"); quantity(w, high); }
      w.endObject();
    }
    w.endArray();
  }
}

// "2026-11-25T10:42:00Z" -> "2026-11": the month, when the text starts with YYYY-MM.
function month(v: JSONValue | null): string | null {
  if (v === null || !v.isString() || v.str.length < 7) return null;
  const s = v.str.substring(0, 7);
  for (let i = 0; i < 7; i++) {
    const c = s.charCodeAt(i);
    if (i == 4 ? c != 0x2d : (c < 0x30 || c > 0x39)) return null;
  }
  return s;
}

function main(): void {
  const v = input();
  if (!v.isObject()) fail("the input must be a FHIR Observation");
  const type = v.get("resourceType");
  if (type === null || !type.isString() || type.str != "Observation") fail("the input must be a FHIR Observation");
  if (!hasCoding(v.get("code"))) fail("the Observation has no coded code");

  const w = new JSONWriter();
  w.beginObject();
  w.key("resourceType").str("Observation");
  w.key("meta").beginObject().key("security").beginArray()
    .beginObject().key("system").str("http://terminology.hl7.org/CodeSystem/v3-ObservationValue").key("code").str("ANONYED").endObject()
    .endArray().endObject();
  const status = token(v.get("status"));
  w.key("status").str(status !== null ? status! : "unknown");
  concepts(w, "category", v.get("category"));
  w.key("code");
  codeableConcept(w, v.get("code")!);
  let when = month(v.get("effectiveDateTime"));
  if (when === null) when = month(v.get("effectiveInstant"));
  const period = v.get("effectivePeriod");
  if (when === null && period !== null) when = month(period.get("start"));
  if (when === null) when = month(v.get("issued"));
  if (when !== null) w.key("effectiveDateTime").str(when);
  values(w, v);
  const comps = v.get("component");
  if (comps !== null && comps.isArray()) {
    w.key("component").beginArray();
    for (let i = 0; i < comps.items.length; i++) {
      const c = comps.items[i];
      if (!hasCoding(c.get("code"))) continue;
      w.beginObject().key("code");
      codeableConcept(w, c.get("code")!);
      values(w, c);
      w.endObject();
    }
    w.endArray();
  }
  w.endObject();
  writeOutput(w.toString());
}

main();
