/**
 * The shipped `deidentify` function: what reaches the hub carries no
 * identifier, name, birth date, address, free text or exact timestamp of a
 * patient (ARCHITECTURE.md, promise 1), and keeps the coded values the
 * aggregates need.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FunctionError } from '../src/functions/index.ts';
import { admin, runtime, shipped } from './functions-support.ts';

const rt = runtime();
before(async () => {
  await rt.register(admin, 'deidentify', await shipped('deidentify'));
});
after(() => rt.close());

const deidentify = async (input: unknown) => (await rt.call(admin, 'deidentify', input)).output as Record<string, unknown>;

/** A blood-pressure Observation as a node stores it, loaded with everything that identifies its patient. */
const BP = {
  resourceType: 'Observation',
  id: 'bp-7f3a',
  meta: { versionId: '3', lastUpdated: '2026-11-25T10:42:13.512Z', source: 'urn:device:omron-4411' },
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Blood pressure of Maria Garcia-Lopez: 142/91</div>' },
  contained: [{ resourceType: 'Patient', id: 'p', name: [{ family: 'Garcia-Lopez', given: ['Maria'] }], birthDate: '1961-03-14' }],
  extension: [{ url: 'http://example.org/fhir/home-address', valueString: '12 Calle Mayor, Zaragoza' }],
  identifier: [{ system: 'urn:oid:2.16.724.4.40', value: 'ES-4471-2209' }],
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs', display: 'Vital Signs' }], text: 'Vitals taken by Maria at home' }],
  code: { coding: [{ system: 'http://loinc.org', code: '85354-9', display: 'Blood pressure panel' }], text: 'BP (Maria Garcia-Lopez)' },
  subject: { reference: 'Patient/ES-4471-2209', display: 'Maria Garcia-Lopez' },
  encounter: { reference: 'Encounter/tele-991' },
  effectiveDateTime: '2026-11-25T10:41:00+01:00',
  issued: '2026-11-25T10:42:13.512Z',
  performer: [{ reference: 'Practitioner/dr-ruiz', display: 'Dr. Ana Ruiz' }],
  note: [{ text: 'Patient Maria reports dizziness since her fall at 12 Calle Mayor.' }],
  interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'H' }], text: 'high for Maria' }],
  component: [
    { code: { coding: [{ system: 'http://loinc.org', code: '8480-6', display: 'Systolic blood pressure' }] }, valueQuantity: { value: 142, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
    { code: { coding: [{ system: 'http://loinc.org', code: '8462-4', display: 'Diastolic blood pressure' }] }, valueQuantity: { value: 91, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
      referenceRange: [{ low: { value: 60, unit: 'mmHg' }, high: { value: 80, unit: 'mmHg' }, text: 'Maria usual range' }] },
    { code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, valueString: 'Maria felt faint' },
  ],
};

/** Every string anywhere in a JSON value. */
const strings = (v: unknown): string[] =>
  typeof v === 'string' ? [v] : Array.isArray(v) ? v.flatMap(strings) : v && typeof v === 'object' ? Object.entries(v).flatMap(([k, x]) => [k, ...strings(x)]) : [];

describe('deidentify', () => {
  it('leaves no identifier, name, birth date, address, free text or exact time', async () => {
    const out = await deidentify(BP);
    const text = strings(out).join('\n');
    for (const secret of ['Maria', 'Garcia', 'ES-4471', '1961', 'Calle Mayor', 'Zaragoza', 'Ruiz', 'dizziness', 'faint', 'bp-7f3a', 'tele-991', 'omron', '10:41', '10:42', '2026-11-25', 'div', 'display']) {
      assert.ok(!text.includes(secret), `output still contains ${secret}`);
    }
    for (const key of ['id', 'identifier', 'subject', 'encounter', 'performer', 'note', 'text', 'contained', 'extension', 'issued']) {
      assert.ok(!(key in out), `output still has ${key}`);
    }
  });

  it('keeps the codes and values aggregates need, with the time coarsened to the month', async () => {
    const out = await deidentify(BP);
    assert.deepEqual(out, {
      resourceType: 'Observation',
      meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'ANONYED' }] },
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
      code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
      effectiveDateTime: '2026-11',
      interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'H' }] }],
      component: [
        { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 142, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
        { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueQuantity: { value: 91, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
          referenceRange: [{ low: { value: 60, unit: 'mmHg' }, high: { value: 80, unit: 'mmHg' } }] },
        { code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] } },
      ],
    });
  });

  it('coarsens effectivePeriod and falls back to issued', async () => {
    const base = { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, valueQuantity: { value: 72.5, unit: '/min' } };
    assert.equal((await deidentify({ ...base, effectivePeriod: { start: '2025-01-31T23:59:59Z', end: '2025-02-01T00:10:00Z' } })).effectiveDateTime, '2025-01');
    assert.equal((await deidentify({ ...base, issued: '2024-07-04T08:00:00Z' })).effectiveDateTime, '2024-07');
    const none = await deidentify({ ...base, effectiveDateTime: 'yesterday at noon' });
    assert.ok(!('effectiveDateTime' in none));
    assert.deepEqual(none.valueQuantity, { value: 72.5, unit: '/min' });
  });

  it('drops codes that are long free text or carry control characters', async () => {
    const out = await deidentify({ resourceType: 'Observation', status: 'final', code: { coding: [
      { system: 'http://loinc.org', code: '8867-4' },
      { system: 'urn:local', code: `Patient ${'x'.repeat(200)}` },
      { system: 'urn:local', code: 'line\nbreak' },
    ] } });
    assert.deepEqual(out.code, { coding: [{ system: 'http://loinc.org', code: '8867-4' }] });
  });

  it('refuses what is not a coded Observation', async () => {
    for (const input of [{ resourceType: 'Patient', name: [{ family: 'X' }] }, { resourceType: 'Observation', code: { text: 'free' } }, [1]]) {
      await assert.rejects(deidentify(input), (e: unknown) => e instanceof FunctionError && e.code === 'FN_ERR_EXIT' && !e.message.includes('X'));
    }
  });
});
