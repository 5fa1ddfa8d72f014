/**
 * A FHIR client nobody here wrote (fhir-kit-client 2.x) drives a running node:
 * create, read, search with paging, conditional create, version conflict,
 * transaction rollback and references between the entries of a transaction.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Client, type FhirResource } from 'fhir-kit-client';
import { CLINICIAN, DEMO_PATIENT, isOperationOutcome, observation, removeDir, startNode, type RunningNode } from './helpers/node.ts';

type Any = FhirResource & Record<string, any>;

/** The HTTP status and body of a failed fhir-kit-client call. */
async function failure(p: Promise<unknown>): Promise<{ status: number; data: Any }> {
  try {
    await p;
  } catch (err) {
    const r = (err as { response?: { status: number; data: Any } }).response;
    assert.ok(r, `expected an HTTP error, got ${String(err)}`);
    return r;
  }
  assert.fail('the request should have failed');
}

/** A code no other test uses, so searches by it see only this test's data. */
function uniqueCode(): { system: string; code: string; token: string } {
  const code = `t-${randomUUID()}`;
  return { system: 'urn:test', code, token: `urn:test|${code}` };
}

describe('a real FHIR client (fhir-kit-client) against a running node', () => {
  let node: RunningNode;
  let client: Client;

  before(async () => {
    node = await startNode();
    client = new Client({ baseUrl: node.fhirBase, bearerToken: await node.token('authorized_medical_staff', CLINICIAN) });
  });

  after(async () => {
    await node?.stop();
    if (node) await removeDir(node.dataDir);
  });

  test('create, read, vread, update, history and delete an Observation', async () => {
    const created = (await client.create({ resourceType: 'Observation', body: observation(DEMO_PATIENT) as FhirResource })) as Any;
    assert.equal(created.resourceType, 'Observation');
    assert.match(created.id, /^[A-Za-z0-9\-.]{1,64}$/);
    assert.equal(created.meta.versionId, '1');

    const read = (await client.read({ resourceType: 'Observation', id: created.id })) as Any;
    assert.deepEqual(read, created);

    const updated = (await client.update({ resourceType: 'Observation', id: created.id, body: { ...read, status: 'amended' } })) as Any;
    assert.equal(updated.meta.versionId, '2');
    assert.equal(updated.status, 'amended');

    const v1 = (await client.vread({ resourceType: 'Observation', id: created.id, version: '1' })) as Any;
    assert.equal(v1.status, 'final');
    const history = (await client.history({ resourceType: 'Observation', id: created.id })) as Any;
    assert.equal(history.type, 'history');
    assert.deepEqual(history.entry.map((e: Any) => e.resource.meta.versionId), ['2', '1']);

    await client.delete({ resourceType: 'Observation', id: created.id });
    const gone = await failure(client.read({ resourceType: 'Observation', id: created.id }));
    assert.equal(gone.status, 410);
    assert.ok(isOperationOutcome(gone.data));

    const unknown = await failure(client.read({ resourceType: 'Observation', id: 'no-such-observation' }));
    assert.equal(unknown.status, 404);
    assert.ok(isOperationOutcome(unknown.data));
  });

  test('search with paging: 25 Observations in pages of 10, each seen exactly once', async () => {
    const code = uniqueCode();
    const createdIds = new Set<string>();
    for (let i = 0; i < 25; i++) {
      const body = observation(DEMO_PATIENT, {
        code: { coding: [{ system: code.system, code: code.code }] },
        effectiveDateTime: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(),
      });
      const r = (await client.create({ resourceType: 'Observation', body: body as FhirResource })) as Any;
      createdIds.add(r.id);
    }
    assert.equal(createdIds.size, 25);

    let page = (await client.search({ resourceType: 'Observation', searchParams: { code: code.token, _count: 10 } })) as Any;
    assert.equal(page.type, 'searchset');
    const seen: string[] = [];
    let pages = 0;
    for (;;) {
      pages++;
      assert.ok((page.entry ?? []).length <= 10, 'a page holds at most _count entries');
      // Bundle.total is optional on a page (https://hl7.org/fhir/R4/bundle-definitions.html#Bundle.total); when given, it is right.
      if (page.total !== undefined) assert.equal(page.total, 25);
      for (const e of page.entry ?? []) {
        assert.equal(e.resource.resourceType, 'Observation');
        assert.equal(e.fullUrl, `${node.fhirBase}/Observation/${e.resource.id}`);
        seen.push(e.resource.id);
      }
      const next = client.nextPage({ bundle: page as Any & { link: Array<{ relation: string; url: string }> } });
      if (next === undefined) break;
      page = (await next) as Any;
      assert.ok(pages < 10, 'paging must end');
    }
    assert.equal(pages, 3);
    assert.equal(seen.length, 25, 'every match is returned once across the pages');
    assert.equal(new Set(seen).size, 25, 'no match is returned twice');
    assert.deepEqual(new Set(seen), createdIds);
    const counted = (await client.search({ resourceType: 'Observation', searchParams: { code: code.token, _summary: 'count' } })) as Any;
    assert.equal(counted.total, 25, '_summary=count gives the total');
    const accurate = (await client.search({ resourceType: 'Observation', searchParams: { code: code.token, _count: 10, _total: 'accurate' } })) as Any;
    assert.equal(accurate.total, 25, '_total=accurate gives the total on a page');

    // _sort by date, descending: the newest first.
    const sorted = (await client.search({ resourceType: 'Observation', searchParams: { code: code.token, _sort: '-date', _count: 3 } })) as Any;
    assert.deepEqual(
      sorted.entry.map((e: Any) => e.resource.effectiveDateTime),
      ['2026-01-01T00:24:00.000Z', '2026-01-01T00:23:00.000Z', '2026-01-01T00:22:00.000Z'],
    );
    // A date search narrows the set.
    const early = (await client.search({ resourceType: 'Observation', searchParams: { code: code.token, date: 'lt2026-01-01T00:10:00Z', _summary: 'count' } })) as Any;
    assert.equal(early.total, 10);
  });

  test('conditional create (If-None-Exist) returns the existing resource instead of a duplicate', async () => {
    const code = uniqueCode();
    const body = observation(DEMO_PATIENT, { code: { coding: [{ system: code.system, code: code.code }] } }) as FhirResource;
    const ifNoneExist = { 'If-None-Exist': `code=${encodeURIComponent(code.token)}&patient=${DEMO_PATIENT}` };

    const first = (await client.create({ resourceType: 'Observation', body, options: { headers: ifNoneExist } })) as Any;
    const second = (await client.create({ resourceType: 'Observation', body, options: { headers: ifNoneExist } })) as Any;
    assert.equal(second.id, first.id, 'the second create finds the first');
    assert.equal(second.meta.versionId, '1');
    const httpOf = Client.httpFor(second as FhirResource);
    assert.equal(httpOf.response?.status, 200, 'an existing match answers 200, not 201');

    const count = (await client.search({ resourceType: 'Observation', searchParams: { code: code.token, _summary: 'count' } })) as Any;
    assert.equal(count.total, 1, 'no duplicate was stored');
  });

  test('ten concurrent conditional creates with the same criteria store exactly one resource', async () => {
    const code = uniqueCode();
    const body = observation(DEMO_PATIENT, { code: { coding: [{ system: code.system, code: code.code }] } }) as FhirResource;
    const headers = { 'If-None-Exist': `code=${encodeURIComponent(code.token)}` };
    const results = (await Promise.all(Array.from({ length: 10 }, () => client.create({ resourceType: 'Observation', body, options: { headers } })))) as Any[];
    assert.equal(new Set(results.map((r) => r.id)).size, 1, 'every caller gets the same resource');
    const statuses = results.map((r) => Client.httpFor(r).response?.status).sort();
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    const count = (await client.search({ resourceType: 'Observation', searchParams: { code: code.token, _summary: 'count' } })) as Any;
    assert.equal(count.total, 1);
  });

  test('an update with a stale If-Match gets 412 and an OperationOutcome, and changes nothing', async () => {
    const created = (await client.create({ resourceType: 'Observation', body: observation(DEMO_PATIENT) as FhirResource })) as Any;
    const v2 = (await client.update({
      resourceType: 'Observation',
      id: created.id,
      body: { ...created, status: 'amended' },
      options: { headers: { 'If-Match': 'W/"1"' } },
    })) as Any;
    assert.equal(v2.meta.versionId, '2');

    const stale = await failure(
      client.update({
        resourceType: 'Observation',
        id: created.id,
        body: { ...created, status: 'cancelled' },
        options: { headers: { 'If-Match': 'W/"1"' } },
      }),
    );
    assert.equal(stale.status, 412);
    assert.ok(isOperationOutcome(stale.data));

    const now = (await client.read({ resourceType: 'Observation', id: created.id })) as Any;
    assert.equal(now.meta.versionId, '2');
    assert.equal(now.status, 'amended');
  });

  test('a transaction whose second entry is invalid stores nothing of the first', async () => {
    const code = uniqueCode();
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: `urn:uuid:${randomUUID()}`,
          resource: observation(DEMO_PATIENT, { code: { coding: [{ system: code.system, code: code.code }] } }),
          request: { method: 'POST', url: 'Observation' },
        },
        {
          fullUrl: `urn:uuid:${randomUUID()}`,
          resource: observation(DEMO_PATIENT, { code: { coding: [{ system: code.system, code: code.code }] }, status: 5 }),
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    };
    const res = await failure(client.transaction({ body: bundle as FhirResource }));
    assert.equal(res.status, 400);
    assert.ok(isOperationOutcome(res.data));
    assert.match(JSON.stringify(res.data.issue), /status/, 'the outcome names the element at fault');

    const count = (await client.search({ resourceType: 'Observation', searchParams: { code: code.token, _summary: 'count' } })) as Any;
    assert.equal(count.total, 0, 'the valid first entry was rolled back');
  });

  test('a transaction that fails on a reference rolls back the Patient it created', async () => {
    const before = (await client.search({ resourceType: 'Patient', searchParams: { _summary: 'count' } })) as Any;
    const patientUrl = `urn:uuid:${randomUUID()}`;
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: patientUrl, resource: { resourceType: 'Patient', active: true }, request: { method: 'POST', url: 'Patient' } },
        { resource: observation('Patient/does-not-exist'), request: { method: 'POST', url: 'Observation' } },
      ],
    };
    const res = await failure(client.transaction({ body: bundle as FhirResource }));
    assert.ok(res.status >= 400 && res.status < 500, `a 4xx, got ${res.status}`);
    assert.ok(isOperationOutcome(res.data));
    const afterCount = (await client.search({ resourceType: 'Patient', searchParams: { _summary: 'count' } })) as Any;
    assert.equal(afterCount.total, before.total, 'no Patient was left behind');
  });

  test('a valid transaction resolves urn:uuid references to the ids the server assigns', async () => {
    const patientUrl = `urn:uuid:${randomUUID()}`;
    const encounterUrl = `urn:uuid:${randomUUID()}`;
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        // The Observation comes first on purpose: references resolve regardless of entry order.
        { fullUrl: `urn:uuid:${randomUUID()}`, resource: observation(patientUrl, { encounter: { reference: encounterUrl } }), request: { method: 'POST', url: 'Observation' } },
        { fullUrl: patientUrl, resource: { resourceType: 'Patient', active: true }, request: { method: 'POST', url: 'Patient' } },
        {
          fullUrl: encounterUrl,
          resource: { resourceType: 'Encounter', status: 'in-progress', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR' }, subject: { reference: patientUrl } },
          request: { method: 'POST', url: 'Encounter' },
        },
      ],
    };
    const res = (await client.transaction({ body: bundle as FhirResource })) as Any;
    assert.equal(res.type, 'transaction-response');
    assert.equal(res.entry.length, 3);
    for (const e of res.entry) assert.equal(e.response.status, '201');
    const [obsId, patientId, encounterId] = res.entry.map((e: Any) => e.resource.id);

    const obs = (await client.read({ resourceType: 'Observation', id: obsId })) as Any;
    assert.equal(obs.subject.reference, `Patient/${patientId}`);
    assert.equal(obs.encounter.reference, `Encounter/${encounterId}`);
    const enc = (await client.read({ resourceType: 'Encounter', id: encounterId })) as Any;
    assert.equal(enc.subject.reference, `Patient/${patientId}`);
    // And the new patient's compartment finds the Observation.
    const found = (await client.search({ resourceType: 'Observation', searchParams: { patient: patientId } })) as Any;
    assert.deepEqual(found.entry.map((e: Any) => e.resource.id), [obsId]);
  });

  test('a batch reports each entry on its own', async () => {
    const res = (await client.batch({
      body: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { resource: observation(DEMO_PATIENT), request: { method: 'POST', url: 'Observation' } },
          { resource: { ...observation(DEMO_PATIENT), status: 'not-a-status' }, request: { method: 'POST', url: 'Observation' } },
          { request: { method: 'GET', url: 'Patient/demo-patient' } },
        ],
      } as FhirResource,
    })) as Any;
    assert.equal(res.type, 'batch-response');
    assert.deepEqual(res.entry.map((e: Any) => e.response.status), ['201', '400', '200']);
    assert.ok(isOperationOutcome(res.entry[1].response.outcome));
  });

  test('the CapabilityStatement lists what is supported, and what it lists works', async () => {
    const cs = (await client.capabilityStatement()) as Any;
    assert.equal(cs.resourceType, 'CapabilityStatement');
    assert.equal(cs.fhirVersion, '4.0.1');
    assert.ok(cs.format.includes('application/fhir+json'));
    const rest = cs.rest[0];
    assert.equal(rest.mode, 'server');
    assert.deepEqual(rest.interaction.map((i: Any) => i.code).sort(), ['batch', 'transaction']);

    const byType = new Map<string, Any>(rest.resource.map((r: Any) => [r.type, r]));
    for (const t of ['Patient', 'Practitioner', 'Appointment', 'Encounter', 'Observation', 'Consent', 'DocumentReference', 'Communication', 'AuditEvent']) {
      assert.ok(byType.has(t), `${t} is listed`);
    }
    const obs = byType.get('Observation')!;
    assert.deepEqual(
      obs.interaction.map((i: Any) => i.code).sort(),
      ['create', 'delete', 'history-instance', 'read', 'search-type', 'update', 'vread'],
    );
    assert.equal(obs.conditionalCreate, true);
    const obsParams = obs.searchParam.map((p: Any) => p.name);
    for (const p of ['_id', '_lastUpdated', 'patient', 'subject', 'code', 'date', 'status']) assert.ok(obsParams.includes(p), `Observation lists ${p}`);
    // AuditEvent is written by the node only.
    const ae = byType.get('AuditEvent')!;
    assert.ok(!ae.interaction.some((i: Any) => ['create', 'update', 'delete'].includes(i.code)));
    const refused = await failure(client.create({ resourceType: 'AuditEvent', body: { resourceType: 'AuditEvent' } as FhirResource }));
    assert.equal(refused.status, 405);

    // Every search parameter listed is accepted; one not listed is refused.
    const sample: Record<string, string> = { token: 'x', date: '2026', reference: 'x' };
    for (const [type, r] of byType) {
      for (const p of r.searchParam as Any[]) {
        const value = p.name === '_id' ? 'x' : sample[p.type];
        assert.ok(value, `a sample value for ${type}.${p.name} (${p.type})`);
        const res = (await client.search({ resourceType: type, searchParams: { [p.name]: value, _summary: 'count' } })) as Any;
        assert.equal(res.resourceType, 'Bundle', `${type}?${p.name} works`);
      }
      const unlisted = await failure(client.search({ resourceType: type, searchParams: { 'not-a-param': 'x' } }));
      assert.equal(unlisted.status, 400, `${type}?not-a-param is refused`);
    }
  });
});
