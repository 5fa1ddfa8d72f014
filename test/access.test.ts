/**
 * Access: no token is a 401; a patient reaches only their own compartment and
 * cannot even learn that another patient's data exists.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { loadSigningKey } from '../src/auth/index.ts';
import { call, CLINICIAN, isOperationOutcome, observation, removeDir, startNode, type RunningNode } from './helpers/node.ts';

describe('access to the clinical record', () => {
  let node: RunningNode;
  let clinician: string;
  let patientA: string;
  let patientB: string;
  /** Observation ids: A's, B's, and B's deleted one. */
  let obsA: string;
  let obsB: string;
  let obsBDeleted: string;

  const get = (path: string, token?: string) => call(`${node.fhirBase}${path}`, token === undefined ? {} : { token });

  /** The response with every occurrence of `id` replaced, so a denial and a true miss can be compared. */
  const shape = (r: Awaited<ReturnType<typeof call>>, id: string) => ({
    status: r.status,
    contentType: r.headers.get('content-type'),
    etag: r.headers.get('etag'),
    lastModified: r.headers.get('last-modified'),
    body: JSON.parse(r.text.replaceAll(id, '<id>')),
  });

  before(async () => {
    node = await startNode();
    clinician = await node.token('authorized_medical_staff', CLINICIAN);
    for (const id of ['pat-a', 'pat-b']) {
      const r = await call(`${node.fhirBase}/Patient/${id}`, { method: 'PUT', token: clinician, body: { resourceType: 'Patient', id, active: true } });
      assert.equal(r.status, 201);
    }
    const create = async (patient: string) => {
      const r = await call(`${node.fhirBase}/Observation`, { token: clinician, body: observation(`Patient/${patient}`) });
      assert.equal(r.status, 201);
      return r.body.id as string;
    };
    obsA = await create('pat-a');
    obsB = await create('pat-b');
    obsBDeleted = await create('pat-b');
    assert.equal((await call(`${node.fhirBase}/Observation/${obsBDeleted}`, { method: 'DELETE', token: clinician })).status, 204);
    patientA = await node.token('patient', 'Patient/pat-a');
    patientB = await node.token('patient', 'Patient/pat-b');
  });

  after(async () => {
    await node?.stop();
    if (node) await removeDir(node.dataDir);
  });

  test('a patient reads their own Observation', async () => {
    const r = await get(`/Observation/${obsA}`, patientA);
    assert.equal(r.status, 200);
    assert.equal(r.body.id, obsA);
  });

  test("patient A cannot read patient B's Observation, and the answer is that of an id that does not exist", async () => {
    const denied = await get(`/Observation/${obsB}`, patientA);
    assert.ok(denied.status === 403 || denied.status === 404, `403 or 404, got ${denied.status}`);
    assert.ok(isOperationOutcome(denied.body));
    assert.doesNotMatch(denied.text, /pat-b|valueQuantity|8867-4/, 'nothing of the record leaks');
    const missing = await get('/Observation/00000000-0000-4000-8000-000000000000', patientA);
    assert.deepEqual(shape(denied, obsB), shape(missing, '00000000-0000-4000-8000-000000000000'));
    // Patient B, the clinician: the record is there.
    assert.equal((await get(`/Observation/${obsB}`, patientB)).status, 200);
    assert.equal((await get(`/Observation/${obsB}`, clinician)).status, 200);
  });

  test("patient A's vread and history of B's Observation look like those of an id that does not exist", async () => {
    const ghost = '00000000-0000-4000-8000-000000000001';
    for (const suffix of ['/_history/1', '/_history']) {
      const denied = await get(`/Observation/${obsB}${suffix}`, patientA);
      const missing = await get(`/Observation/${ghost}${suffix}`, patientA);
      assert.ok(denied.status === 403 || denied.status === 404, `${suffix}: 403 or 404, got ${denied.status}`);
      assert.deepEqual(shape(denied, obsB), shape(missing, ghost), `${suffix}: a denial must not differ from a miss`);
    }
  });

  test("patient A cannot tell that B's deleted Observation ever existed", async () => {
    const ghost = '00000000-0000-4000-8000-000000000002';
    assert.equal((await get(`/Observation/${obsBDeleted}`, clinician)).status, 410, 'the clinician sees it was deleted');
    assert.equal((await get(`/Observation/${obsBDeleted}/_history/2`, clinician)).status, 410, 'version 2 is the deletion');
    for (const suffix of ['', '/_history/1', '/_history/2', '/_history']) {
      const denied = await get(`/Observation/${obsBDeleted}${suffix}`, patientA);
      const missing = await get(`/Observation/${ghost}${suffix}`, patientA);
      assert.deepEqual(shape(denied, obsBDeleted), shape(missing, ghost), `'${suffix}': a denial must not differ from a miss`);
    }
    // B still learns that their own Observation was deleted.
    assert.equal((await get(`/Observation/${obsBDeleted}`, patientB)).status, 410);
  });

  test("patient A's searches see only A's compartment", async () => {
    const all = await get('/Observation', patientA);
    assert.equal(all.status, 200);
    const ids = (all.body.entry ?? []).map((e: any) => e.resource.id);
    assert.deepEqual(ids, [obsA]);
    assert.equal(all.body.total, 1);

    const asked = await get('/Observation?patient=pat-b', patientA);
    assert.ok(asked.status === 200 || asked.status === 403, `got ${asked.status}`);
    if (asked.status === 200) assert.deepEqual(asked.body.entry ?? [], [], "asking for B's data finds nothing");

    const byId = await get(`/Observation?_id=${obsB}`, patientA);
    assert.equal(byId.status, 200);
    assert.equal(byId.body.total, 0);

    const patients = await get('/Patient', patientA);
    assert.deepEqual((patients.body.entry ?? []).map((e: any) => e.resource.id), ['pat-a']);

    // The clinician's search sees both.
    const clin = await get(`/Observation?_id=${obsA},${obsB}`, clinician);
    assert.equal(clin.body.total, 2);
  });

  test("patient A cannot write into B's compartment", async () => {
    const create = await call(`${node.fhirBase}/Observation`, { token: patientA, body: observation('Patient/pat-b') });
    assert.equal(create.status, 403);
    assert.ok(isOperationOutcome(create.body));

    const original = (await get(`/Observation/${obsB}`, clinician)).body;
    const takeOver = await call(`${node.fhirBase}/Observation/${obsB}`, { method: 'PUT', token: patientA, body: { ...original, subject: { reference: 'Patient/pat-a' } } });
    // A PUT tells A no more than a read would: B's record and an id nobody uses answer alike.
    const ghostPut = await call(`${node.fhirBase}/Observation/00000000-0000-4000-8000-000000000004`, { method: 'PUT', token: patientA, body: { ...original, id: '00000000-0000-4000-8000-000000000004', subject: { reference: 'Patient/pat-a' } } });
    assert.equal(ghostPut.status, 404, 'a patient does not create with an id of their choosing');
    assert.equal(takeOver.status, 404);
    assert.equal(takeOver.body.issue[0].code, ghostPut.body.issue[0].code);
    assert.equal((await get(`/Observation/${obsB}`, clinician)).body.subject.reference, 'Patient/pat-b', "B's record is unchanged");
    // A delete tells A no more than a read would: B's record, live or deleted, looks like one that does not exist.
    const ghost = '00000000-0000-4000-8000-000000000003';
    const delMissing = await call(`${node.fhirBase}/Observation/${ghost}`, { method: 'DELETE', token: patientA });
    assert.equal(delMissing.status, 404);
    for (const id of [obsB, obsBDeleted]) {
      const del = await call(`${node.fhirBase}/Observation/${id}`, { method: 'DELETE', token: patientA });
      assert.deepEqual(shape(del, id), shape(delMissing, ghost), 'a refused delete must not differ from a miss');
    }

    const tx = await call(node.fhirBase, {
      token: patientA,
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: observation('Patient/pat-a'), request: { method: 'POST', url: 'Observation' } },
          { resource: observation('Patient/pat-b'), request: { method: 'POST', url: 'Observation' } },
        ],
      },
    });
    assert.equal(tx.status, 403);

    const now = await get(`/Observation/${obsB}`, clinician);
    assert.deepEqual(now.body, original, "B's Observation is untouched");
    const bs = await get('/Observation?patient=pat-b', clinician);
    assert.equal(bs.body.total, 1, 'nothing was added to B');
    const as = await get('/Observation?patient=pat-a', clinician);
    assert.equal(as.body.total, 1, 'the transaction left nothing behind in A either');
  });

  test('no token, a garbage token, a forged or expired token: 401 with an OperationOutcome', async () => {
    const { privateKey } = loadSigningKey(node.dataDir, false);
    const sign = (key: Parameters<SignJWT['sign']>[0], claims: { iss?: string; aud?: string; exp?: number; sub?: string; role?: string } = {}) =>
      new SignJWT({ role: claims.role ?? 'authorized_medical_staff' })
        .setProtectedHeader({ alg: 'EdDSA' })
        .setSubject(claims.sub ?? CLINICIAN)
        .setIssuer(claims.iss ?? 'telemed-edge:edge-local')
        .setAudience(claims.aud ?? 'telemed-edge')
        .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
        .setExpirationTime(claims.exp ?? Math.floor(Date.now() / 1000) + 600)
        .sign(key);
    const header = (s: object) => Buffer.from(JSON.stringify(s)).toString('base64url');
    const cases: Array<[string, Record<string, string>]> = [
      ['no token', {}],
      ['empty Authorization', { authorization: '' }],
      ['not a bearer token', { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` }],
      ['garbage', { authorization: 'Bearer not.a.jwt' }],
      ['expired', { authorization: `Bearer ${await sign(privateKey, { exp: Math.floor(Date.now() / 1000) - 3600 })}` }],
      ['signed by another key', { authorization: `Bearer ${await sign(generateKeyPairSync('ed25519').privateKey)}` }],
      ['wrong audience', { authorization: `Bearer ${await sign(privateKey, { aud: 'someone-else' })}` }],
      ['wrong issuer', { authorization: `Bearer ${await sign(privateKey, { iss: 'evil' })}` }],
      ['unknown role', { authorization: `Bearer ${await sign(privateKey, { role: 'superuser' })}` }],
      ['a patient role for a Practitioner', { authorization: `Bearer ${await sign(privateKey, { role: 'patient' })}` }],
      ['alg none', { authorization: `Bearer ${header({ alg: 'none' })}.${header({ sub: CLINICIAN, role: 'authorized_medical_staff', iss: 'telemed-edge:edge-local', aud: 'telemed-edge' })}.` }],
    ];
    for (const [name, headers] of cases) {
      for (const path of [`/Observation/${obsA}`, '/Observation', '/Patient/pat-a']) {
        const r = await call(`${node.fhirBase}${path}`, { headers });
        assert.equal(r.status, 401, `${name} on ${path}: got ${r.status}`);
        assert.ok(isOperationOutcome(r.body), `${name}: an OperationOutcome`);
        assert.equal(r.body.issue[0].code, 'login');
        assert.match(String(r.headers.get('www-authenticate')), /^Bearer/);
        assert.doesNotMatch(r.text, /pat-a|8867-4/, `${name}: nothing of the record leaks`);
      }
      const write = await call(`${node.fhirBase}/Observation`, { headers, body: observation('Patient/pat-a') });
      assert.equal(write.status, 401, `${name}: a write without a valid token is refused`);
    }
    const count = await get('/Observation?patient=pat-a', clinician);
    assert.equal(count.body.total, 1, 'no unauthenticated write got through');
    // The CapabilityStatement stays public, as the spec expects.
    assert.equal((await get('/metadata')).status, 200);
  });
});
