/**
 * Bad input corpus over raw HTTP: every case gets its 4xx with an
 * OperationOutcome that explains it, the database holds exactly what it held
 * before, and the node stays up.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { tableDigests } from './helpers/db.ts';
import { call, CLINICIAN, DEMO_PATIENT, isOperationOutcome, observation, removeDir, startNode, type RunningNode } from './helpers/node.ts';

interface Case {
  name: string;
  method?: string;
  path: string;
  body?: unknown;
  raw?: string | Buffer;
  headers?: Record<string, string>;
  /** The expected status, or the accepted ones. */
  status: number | number[];
  /** Text the diagnostics must contain (what is wrong, or where). */
  mentions?: RegExp;
}

const obs = (extra: Record<string, unknown> = {}) => observation(DEMO_PATIENT, extra);

/** An Observation nested `depth` extensions deep. */
function deeplyNested(depth: number): Record<string, unknown> {
  let ext: Record<string, unknown> = { url: 'urn:leaf', valueString: 'x' };
  for (let i = 0; i < depth; i++) ext = { url: `urn:level-${i}`, extension: [ext] };
  return obs({ extension: [ext] });
}

const CORPUS: Case[] = [
  // Not JSON, or not a resource.
  { name: 'malformed JSON', path: '/fhir/Observation', raw: '{"resourceType": "Observation", "status": ', status: 400, mentions: /JSON/ },
  { name: 'malformed JSON on update', method: 'PUT', path: '/fhir/Observation/x1', raw: '{resourceType: Observation}', status: 400, mentions: /JSON/ },
  { name: 'empty body', path: '/fhir/Observation', raw: '', status: 400 },
  { name: 'a JSON array', path: '/fhir/Observation', raw: '[]', status: 400 },
  { name: 'a JSON string', path: '/fhir/Observation', raw: '"Observation"', status: 400 },
  { name: 'JSON null', path: '/fhir/Observation', raw: 'null', status: 400 },
  { name: 'not JSON at all (text/plain)', path: '/fhir/Observation', raw: 'status=final', headers: { 'content-type': 'text/plain' }, status: [400, 415] },
  { name: 'a form post', path: '/fhir/Observation', raw: 'status=final', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415 },
  // resourceType.
  { name: 'resourceType missing', path: '/fhir/Observation', body: { status: 'final', code: { text: 'x' } }, status: 400, mentions: /resourceType/ },
  { name: 'resourceType does not match the URL', path: '/fhir/Observation', body: { resourceType: 'Patient', active: true }, status: 400, mentions: /resourceType/ },
  { name: 'unknown resourceType in the body', path: '/fhir/Observation', body: { resourceType: 'Spaceship', status: 'final' }, status: 400, mentions: /Spaceship/ },
  { name: 'unknown resource type in the URL', path: '/fhir/Spaceship', body: { resourceType: 'Spaceship' }, status: 404, mentions: /Spaceship/ },
  { name: 'a type the node does not hold (Medication)', path: '/fhir/Medication', body: { resourceType: 'Medication' }, status: 404 },
  { name: 'writing an AuditEvent', path: '/fhir/AuditEvent', body: { resourceType: 'AuditEvent' }, status: 405 },
  // Wrong types.
  { name: 'status is a number', path: '/fhir/Observation', body: obs({ status: 5 }), status: 400, mentions: /status/ },
  { name: 'status is not in the value set', path: '/fhir/Observation', body: obs({ status: 'sort-of-final' }), status: 400, mentions: /status/ },
  { name: 'status is null', path: '/fhir/Observation', body: obs({ status: null }), status: 400, mentions: /status/ },
  { name: 'code is a string, not a CodeableConcept', path: '/fhir/Observation', body: obs({ code: 'heart rate' }), status: 400, mentions: /code/ },
  { name: 'code is an array, not a CodeableConcept', path: '/fhir/Observation', body: obs({ code: [{ text: 'x' }] }), status: 400, mentions: /code/ },
  { name: 'code is null', path: '/fhir/Observation', body: obs({ code: null }), status: 400, mentions: /code/ },
  { name: 'subject is a string, not a Reference', path: '/fhir/Observation', body: obs({ subject: 'Patient/demo-patient' }), status: 400, mentions: /subject/ },
  { name: 'a category entry is a string', path: '/fhir/Observation', body: obs({ category: ['vital-signs'] }), status: 400, mentions: /category/ },
  { name: 'a coding is a string', path: '/fhir/Observation', body: obs({ code: { coding: ['8867-4'] } }), status: 400, mentions: /coding/ },
  { name: 'the narrative div is an object', path: '/fhir/Observation', body: obs({ text: { status: 'generated', div: { p: 'x' } } }), status: 400, mentions: /div/ },
  { name: 'the narrative div is not a <div>', path: '/fhir/Observation', body: obs({ text: { status: 'generated', div: 'plain text' } }), status: 400, mentions: /div/ },
  { name: 'valueQuantity.value is a string', path: '/fhir/Observation', body: obs({ valueQuantity: { value: 'seventy' } }), status: 400, mentions: /value/ },
  { name: 'effectiveDateTime is not a date', path: '/fhir/Observation', body: obs({ effectiveDateTime: 'yesterday' }), status: 400, mentions: /effectiveDateTime/ },
  { name: 'Patient.birthDate is not a date', path: '/fhir/Patient', body: { resourceType: 'Patient', birthDate: '1980-13-45' }, status: 400, mentions: /birthDate/ },
  { name: 'Patient.active is a string', path: '/fhir/Patient', body: { resourceType: 'Patient', active: 'yes' }, status: 400, mentions: /active/ },
  // Unknown elements.
  { name: 'unknown top-level element', path: '/fhir/Observation', body: obs({ heartRate: 72 }), status: 400, mentions: /heartRate/ },
  { name: 'unknown nested element', path: '/fhir/Observation', body: obs({ code: { text: 'x', colour: 'red' } }), status: 400, mentions: /colour/ },
  { name: '__proto__ as an element', path: '/fhir/Observation', raw: JSON.stringify(obs()).replace(/^\{/, '{"__proto__":{"polluted":true},'), status: 400 },
  { name: 'deeply nested extensions (2000 levels)', path: '/fhir/Observation', body: deeplyNested(2000), status: 400, mentions: /nests deeper/ },
  { name: 'deeply nested arrays (200,000 levels)', path: '/fhir/Observation', raw: `{"resourceType":"Observation","status":"final","code":{"text":"x"},"note":${'['.repeat(200_000)}${']'.repeat(200_000)}}`, status: 400 },
  { name: 'a deeply nested transaction', path: '/fhir', raw: `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Observation"},"resource":{"resourceType":"Observation","x":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}}]}`, status: 400 },
  // Size.
  { name: 'a 10 MB body', path: '/fhir/Observation', raw: JSON.stringify(obs({ note: [{ text: 'x'.repeat(10 * 1024 * 1024) }] })), status: 413 },
  // Ids with path characters.
  { name: 'id with ../ (encoded)', path: '/fhir/Patient/..%2F..%2Fetc', status: [400, 404] },
  { name: 'update to an id with ../ (encoded)', method: 'PUT', path: '/fhir/Patient/..%2F..%2Fetc', body: { resourceType: 'Patient', id: '../../etc' }, status: [400, 404] },
  { name: 'id with $', path: '/fhir/Patient/a$b', status: 400 },
  { name: 'update to an id with $', method: 'PUT', path: '/fhir/Patient/a$b', body: { resourceType: 'Patient', id: 'a$b' }, status: 400 },
  { name: 'id with a NUL byte', path: '/fhir/Patient/a%00b', status: 400 },
  { name: 'id with broken percent-encoding', path: '/fhir/Patient/a%E0%A4%A', status: 400 },
  { name: 'a path longer than the router allows', path: `/fhir/Patient/${'a'.repeat(300)}`, status: [400, 404, 414] },
  { name: 'id of 65 characters', method: 'PUT', path: `/fhir/Patient/${'a'.repeat(65)}`, body: { resourceType: 'Patient', id: 'a'.repeat(65) }, status: 400 },
  { name: 'body id differs from the URL id', method: 'PUT', path: '/fhir/Patient/p-one', body: { resourceType: 'Patient', id: 'p-two' }, status: 400, mentions: /id/ },
  { name: 'body id with path characters on create', path: '/fhir/Patient', body: { resourceType: 'Patient', id: '../../etc/passwd' }, status: 400, mentions: /id/ },
  // References.
  { name: 'malformed reference', path: '/fhir/Observation', body: obs({ subject: { reference: 'not a reference' } }), status: 400, mentions: /subject/ },
  { name: 'reference without an id', path: '/fhir/Observation', body: obs({ subject: { reference: 'Patient/' } }), status: 400, mentions: /subject/ },
  { name: 'reference to a missing resource', path: '/fhir/Observation', body: obs({ subject: { reference: 'Patient/does-not-exist' } }), status: 422, mentions: /does-not-exist/ },
  { name: 'reference is a number', path: '/fhir/Observation', body: obs({ subject: { reference: 42 } }), status: 400, mentions: /subject/ },
  // Search parameters.
  { name: 'unknown search parameter', path: '/fhir/Observation?colour=red', status: 400, mentions: /colour/ },
  { name: 'bad date', path: '/fhir/Observation?date=last-tuesday', status: 400, mentions: /date/ },
  { name: 'impossible date', path: '/fhir/Observation?date=2026-13-01', status: 400, mentions: /date/ },
  { name: 'bad _lastUpdated prefix', path: '/fhir/Observation?_lastUpdated=xx2026', status: 400, mentions: /_lastUpdated/ },
  { name: 'negative _count', path: '/fhir/Observation?_count=-1', status: 400, mentions: /_count/ },
  { name: 'non-numeric _count', path: '/fhir/Observation?_count=ten', status: 400, mentions: /_count/ },
  { name: 'huge _count', path: '/fhir/Observation?_count=100000000', status: 400, mentions: /_count/ },
  { name: '_sort by an unsortable parameter', path: '/fhir/Observation?_sort=status', status: 400, mentions: /_sort/ },
  { name: '_sort by an unknown parameter', path: '/fhir/Observation?_sort=colour', status: 400, mentions: /_sort/ },
  { name: '_id with path characters', path: '/fhir/Observation?_id=..%2Fetc', status: 400, mentions: /_id/ },
  { name: 'unsupported modifier', path: '/fhir/Observation?code:text=heart', status: 400, mentions: /modifier/ },
  { name: 'patient parameter pointing at a Practitioner', path: '/fhir/Observation?patient=Practitioner/demo-clinician', status: 400, mentions: /patient/ },
  { name: 'SQL in a search value', path: `/fhir/Observation?_sort=${encodeURIComponent("date'); DROP TABLE resource; --")}`, status: 400 },
  // Headers.
  { name: 'If-Match that is not an ETag', method: 'PUT', path: '/fhir/Patient/demo-patient', body: { resourceType: 'Patient', id: 'demo-patient' }, headers: { 'if-match': 'yesterday' }, status: 400, mentions: /If-Match/ },
  { name: 'If-None-Exist with no criteria', path: '/fhir/Observation', body: obs(), headers: { 'if-none-exist': '' }, status: 400 },
  { name: 'If-None-Exist with an unknown parameter', path: '/fhir/Observation', body: obs(), headers: { 'if-none-exist': 'colour=red' }, status: 400, mentions: /colour/ },
  // Methods the endpoint does not have.
  { name: 'OPTIONS on a type', method: 'OPTIONS', path: '/fhir/Observation', status: 405 },
  { name: 'PATCH (not supported)', method: 'PATCH', path: '/fhir/Patient/demo-patient', body: [{ op: 'remove', path: '/active' }], status: [400, 405] },
  { name: 'DELETE on a type', method: 'DELETE', path: '/fhir/Observation', status: 405 },
  // Bundles.
  { name: 'a Bundle of type searchset posted to the base', path: '/fhir', body: { resourceType: 'Bundle', type: 'searchset' }, status: 400, mentions: /type/ },
  { name: 'a Patient posted to the base', path: '/fhir', body: { resourceType: 'Patient' }, status: 400 },
  { name: 'a transaction entry without a request', path: '/fhir', body: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: obs() }] }, status: 400, mentions: /request/ },
  { name: 'a transaction entry URL with ../', path: '/fhir', body: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: obs(), request: { method: 'POST', url: '../../etc/Observation' } }] }, status: 400 },
  {
    name: 'a transaction with one valid and one invalid entry',
    path: '/fhir',
    body: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: obs(), request: { method: 'POST', url: 'Observation' } },
        { resource: obs({ status: 5 }), request: { method: 'POST', url: 'Observation' } },
      ],
    },
    status: 400,
    mentions: /status/,
  },
  {
    name: 'a transaction naming the same resource twice',
    path: '/fhir',
    body: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: { resourceType: 'Patient', id: 'twice' }, request: { method: 'PUT', url: 'Patient/twice' } },
        { resource: { resourceType: 'Patient', id: 'twice' }, request: { method: 'PUT', url: 'Patient/twice' } },
      ],
    },
    status: 400,
  },
];

describe('bad input gets a 4xx OperationOutcome and changes nothing', () => {
  let node: RunningNode;
  let token: string;
  let before_: ReturnType<typeof tableDigests>;

  before(async () => {
    node = await startNode();
    token = await node.token('authorized_medical_staff', CLINICIAN);
    // Some data of our own besides the demo seed, so "unchanged" compares something real.
    const r = await call(`${node.fhirBase}/Observation`, { token, body: obs() });
    assert.equal(r.status, 201);
    before_ = tableDigests(node.dataDir);
  });

  after(async () => {
    await node?.stop();
    if (node) await removeDir(node.dataDir);
  });

  for (const c of CORPUS) {
    test(c.name, async () => {
      const res = await call(`${node.url}${c.path}`, {
        method: c.method ?? (c.body !== undefined || c.raw !== undefined ? 'POST' : 'GET'),
        token,
        ...(c.body !== undefined ? { body: c.body } : {}),
        ...(c.raw !== undefined ? { rawBody: c.raw, headers: { 'content-type': 'application/fhir+json', ...c.headers } } : {}),
        ...(c.headers && c.raw === undefined ? { headers: c.headers } : {}),
      });
      const expected = Array.isArray(c.status) ? c.status : [c.status];
      assert.ok(expected.includes(res.status), `status ${res.status} (expected ${expected.join(' or ')}): ${res.text.slice(0, 300)}`);
      assert.ok(isOperationOutcome(res.body), `an OperationOutcome with diagnostics, got: ${res.text.slice(0, 300)}`);
      assert.match(String(res.headers.get('content-type')), /^application\/fhir\+json/);
      if (c.mentions) assert.match(JSON.stringify(res.body.issue), c.mentions, 'the outcome says what is wrong');
      assert.ok(res.text.length < 10_000, 'the outcome does not echo the input back');
    });
  }

  test('the database holds exactly what it held before the corpus', () => {
    const after_ = tableDigests(node.dataDir);
    assert.deepEqual(after_, before_);
  });

  test('the node is still up and serving', async () => {
    assert.equal(node.child.exitCode, null, 'the process did not exit');
    const health = await call(`${node.url}/healthz`);
    assert.equal(health.status, 200);
    const r = await call(`${node.fhirBase}/Observation`, { token, body: obs() });
    assert.equal(r.status, 201, 'a valid create still works');
    assert.doesNotMatch(node.stderr() + node.stdout(), /unhandled error|"level":"(error|fatal)"/, 'no bad input caused an internal error');
  });
});
