import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FhirError } from './outcome.ts';
import { parseSearch, toPairs } from './query.ts';
import { compartmentOf, dateRange, extractIndex } from './search-params.ts';

test('dateRange covers the precision given', () => {
  assert.deepEqual(dateRange('2024'), [Date.UTC(2024, 0, 1), Date.UTC(2025, 0, 1) - 1]);
  assert.deepEqual(dateRange('2024-02'), [Date.UTC(2024, 1, 1), Date.UTC(2024, 2, 1) - 1]);
  assert.deepEqual(dateRange('2024-02-29'), [Date.UTC(2024, 1, 29), Date.UTC(2024, 2, 1) - 1]);
  assert.deepEqual(dateRange('2024-02-29T10:00:00+02:00'), [Date.UTC(2024, 1, 29, 8), Date.UTC(2024, 1, 29, 8) + 999]);
  for (const bad of ['', '24', '2024-13', '2024-00-10', '2023-02-29', '2024-04-31', 'yesterday', '2024-01-01T25', '2024-01-01T24:00:00Z']) assert.equal(dateRange(bad), undefined, bad);
});

test('parseSearch reads prefixes, tokens, references and paging', () => {
  const r = parseSearch('Observation', toPairs('patient=p1&code=http://loinc.org|8867-4,9279-1&date=ge2026-01-01&_count=5&_offset=10&_sort=-date'));
  assert.equal(r.count, 5);
  assert.equal(r.offset, 10);
  assert.deepEqual(r.sort, [{ key: 'date', desc: true }]);
  assert.deepEqual(r.criteria[0], { kind: 'reference', param: 'patient', values: ['Patient/p1'] });
  assert.deepEqual(r.criteria[1], { kind: 'token', param: 'code', values: [{ sys: 'http://loinc.org', code: '8867-4' }, { sys: undefined, code: '9279-1' }] });
  assert.equal(r.criteria[2]!.kind, 'date');
});

test('bad search parameters are 400s naming the parameter; lenient handling skips unknown ones', () => {
  for (const [q, name] of [
    ['colour=red', 'colour'],
    ['date=yesterday', 'date'],
    ['_count=-1', '_count'],
    ['_count=100000', '_count'],
    ['_sort=status', '_sort'],
    ['patient=Practitioner/x', 'patient'],
    ['code:text=heart', ':text'],
    ['_id=../../etc', '_id'],
  ]) {
    assert.throws(
      () => parseSearch('Observation', toPairs(q!)),
      (e: unknown) => e instanceof FhirError && e.status === 400 && e.message.includes(name!),
      q,
    );
  }
  assert.deepEqual(parseSearch('Observation', toPairs('colour=red'), { lenient: true }).criteria, []);
});

test('compartments follow the patient compartment definition', () => {
  assert.deepEqual(compartmentOf({ resourceType: 'Patient', id: 'p1' }), ['p1']);
  assert.deepEqual(compartmentOf({ resourceType: 'Observation', subject: { reference: 'Patient/p2' } }), ['p2']);
  assert.deepEqual(compartmentOf({ resourceType: 'Observation', subject: { reference: 'Group/g' } }), []);
  assert.deepEqual(
    compartmentOf({ resourceType: 'Appointment', participant: [{ actor: { reference: 'Practitioner/d' } }, { actor: { reference: 'Patient/p3' } }] }),
    ['p3'],
  );
  assert.deepEqual(compartmentOf({ resourceType: 'Practitioner', id: 'd' }), []);
});

test('index rows never hold names or free text', () => {
  const rows = extractIndex({
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }], text: 'Heart rate of Ada Lovelace' },
    subject: { reference: 'Patient/p1', display: 'Ada Lovelace' },
    note: [{ text: 'Ada felt dizzy' }],
    effectiveDateTime: '2026-11-25T10:00:00Z',
  });
  assert.ok(rows.length >= 4);
  assert.ok(!JSON.stringify(rows).includes('Ada'));
});
