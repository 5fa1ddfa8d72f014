/**
 * Audit: every read and write of patient data appends an AuditEvent (who,
 * what, when, outcome) to a hash-chained trail; `telemed-edge audit verify`
 * passes on an intact trail and names the first altered or removed link.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { dbFile } from './helpers/db.ts';
import { call, CLINICIAN, observation, removeDir, runCli, startNode, type RunningNode } from './helpers/node.ts';

type Any = Record<string, any>;

describe('the audit trail', () => {
  let node: RunningNode;
  let dataDir: string;
  let clinician: string;
  let obsId: string;

  const auditOf = async (patient: string): Promise<Any[]> => {
    const r = await call(`${node.fhirBase}/AuditEvent?patient=${patient}&_count=1000&_sort=date`, { token: clinician });
    assert.equal(r.status, 200, r.text.slice(0, 300));
    return (r.body.entry ?? []).map((e: Any) => e.resource);
  };
  const verify = () => runCli(['audit', 'verify'], { TELEMED_DATA_DIR: dataDir });
  const withDb = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(dbFile(dataDir));
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };

  before(async () => {
    node = await startNode();
    dataDir = node.dataDir;
    clinician = await node.token('authorized_medical_staff', CLINICIAN);
  });

  after(async () => {
    await node?.stop();
    await removeDir(dataDir);
  });

  test('reads and writes of patient data append AuditEvents: who, what, when, outcome', async () => {
    const t0 = Date.now();
    const put = await call(`${node.fhirBase}/Patient/pat-audit`, {
      method: 'PUT',
      token: clinician,
      body: { resourceType: 'Patient', id: 'pat-audit', name: [{ family: 'Quuxley', given: ['Zebedee'] }], birthDate: '1961-02-03' },
    });
    assert.equal(put.status, 201);
    const created = await call(`${node.fhirBase}/Observation`, { token: clinician, body: observation('Patient/pat-audit') });
    assert.equal(created.status, 201);
    obsId = created.body.id;
    assert.equal((await call(`${node.fhirBase}/Observation/${obsId}`, { token: clinician })).status, 200);
    assert.equal((await call(`${node.fhirBase}/Observation?patient=pat-audit`, { token: clinician })).status, 200);
    const patient = await node.token('patient', 'Patient/pat-audit');
    assert.equal((await call(`${node.fhirBase}/Observation/${obsId}`, { token: patient })).status, 200);
    const updated = await call(`${node.fhirBase}/Observation/${obsId}`, { method: 'PUT', token: clinician, body: { ...created.body, status: 'amended' } });
    assert.equal(updated.status, 200);
    // Another patient tries, and is refused: the attempt is on the record too.
    const other = await node.token('patient', 'Patient/someone-else');
    assert.equal((await call(`${node.fhirBase}/Observation/${obsId}`, { token: other })).status, 404);

    const events = await auditOf('pat-audit');
    const summary = events.map((e) => `${e.subtype[0].code} ${e.action} ${e.outcome} ${e.agent[0].who.reference} ${e.entity?.[0]?.what?.reference ?? '-'}`);
    const expect = [
      `update U 0 ${CLINICIAN} Patient/pat-audit`,
      `create C 0 ${CLINICIAN} Observation/${obsId}`,
      `read R 0 ${CLINICIAN} Observation/${obsId}`,
      `search-type E 0 ${CLINICIAN} Patient/pat-audit`,
      `read R 0 Patient/pat-audit Observation/${obsId}`,
      `update U 0 ${CLINICIAN} Observation/${obsId}`,
      `read R 4 Patient/someone-else Observation/${obsId}`,
    ];
    // Compared as sets: events recorded in the same millisecond have no defined order.
    assert.deepEqual([...summary].sort(), [...expect].sort());
    for (const e of events) {
      const when = Date.parse(e.recorded);
      assert.ok(when >= t0 - 1000 && when <= Date.now() + 1000, `recorded is the time of the access: ${e.recorded}`);
      assert.ok(e.entity.some((x: Any) => x.what.reference === 'Patient/pat-audit'), 'the patient is named as an entity');
    }
    // AuditEvents hold references, never clinical content or names.
    const text = JSON.stringify(events);
    assert.doesNotMatch(text, /Quuxley|Zebedee|1961-02-03|8867-4|beats/);
  });

  test('AuditEvents cannot be written, changed or deleted through the API', async () => {
    const [first] = await auditOf('pat-audit');
    assert.ok(first);
    const put = await call(`${node.fhirBase}/AuditEvent/${first.id}`, { method: 'PUT', token: clinician, body: { ...first, outcome: '8' } });
    assert.equal(put.status, 405);
    const del = await call(`${node.fhirBase}/AuditEvent/${first.id}`, { method: 'DELETE', token: clinician });
    assert.equal(del.status, 405);
    const post = await call(`${node.fhirBase}/AuditEvent`, { token: clinician, body: { ...first, id: undefined } });
    assert.equal(post.status, 405);
    const again = await call(`${node.fhirBase}/AuditEvent/${first.id}`, { token: clinician });
    assert.deepEqual(again.body, first);
  });

  test('audit verify passes on the intact trail, and every AuditEvent is a link of it', async () => {
    const admin = await node.token('admin', 'ops-admin');
    const all = await call(`${node.fhirBase}/AuditEvent?_summary=count`, { token: admin });
    assert.equal(all.status, 200);
    const stopped = await node.stop();
    assert.equal(stopped.code, 0);
    const r = await verify();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const m = /OK, (\d+) links intact/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(Number(m[1]), all.body.total, 'one link per AuditEvent');
    assert.ok(all.body.total >= 7);
  });

  test('an altered link hash makes audit verify fail naming that link', async () => {
    const original = withDb((db) => db.prepare('SELECT hash FROM audit_chain WHERE seq = 3').pluck().get() as string);
    withDb((db) => db.prepare('UPDATE audit_chain SET hash = ? WHERE seq = 3').run('f'.repeat(64)));
    const r = await verify();
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /link 3\b/);
    withDb((db) => db.prepare('UPDATE audit_chain SET hash = ? WHERE seq = 3').run(original));
    assert.equal((await verify()).code, 0, 'restored, the trail verifies again');
  });

  test('a flipped byte in an AuditEvent body makes audit verify fail naming that AuditEvent', async () => {
    const ref = withDb((db) => db.prepare('SELECT ref FROM audit_chain WHERE seq = 5').pluck().get() as string);
    const [, id, version] = ref.split('/');
    const body = withDb((db) => db.prepare("SELECT body FROM resource_version WHERE type = 'AuditEvent' AND id = ? AND version = ?").pluck().get(id, Number(version)) as Buffer);
    assert.ok(Buffer.isBuffer(body) && body.length > 40);
    const altered = Buffer.from(body);
    altered[30]! ^= 0x01;
    withDb((db) => db.prepare("UPDATE resource_version SET body = ? WHERE type = 'AuditEvent' AND id = ? AND version = ?").run(altered, id, Number(version)));
    const r = await verify();
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /link 5\b/);
    assert.ok(r.stdout.includes(`AuditEvent/${id}`), `names the AuditEvent: ${r.stdout}`);
    withDb((db) => db.prepare("UPDATE resource_version SET body = ? WHERE type = 'AuditEvent' AND id = ? AND version = ?").run(body, id, Number(version)));
    assert.equal((await verify()).code, 0, 'restored, the trail verifies again');
  });

  test('a removed link or a removed AuditEvent makes audit verify fail naming it', async () => {
    const row = withDb((db) => db.prepare('SELECT * FROM audit_chain WHERE seq = 4').get() as { seq: number; ref: string; prev_hash: string; hash: string });
    withDb((db) => db.prepare('DELETE FROM audit_chain WHERE seq = 4').run());
    const gap = await verify();
    assert.equal(gap.code, 1, gap.stdout + gap.stderr);
    assert.match(gap.stdout, /link 4\b/);
    withDb((db) => db.prepare('INSERT INTO audit_chain (seq, ref, prev_hash, hash) VALUES (?, ?, ?, ?)').run(row.seq, row.ref, row.prev_hash, row.hash));
    assert.equal((await verify()).code, 0);

    const last = withDb((db) => db.prepare('SELECT seq, ref FROM audit_chain ORDER BY seq DESC LIMIT 1').get() as { seq: number; ref: string });
    const [, id] = last.ref.split('/');
    withDb((db) => {
      db.prepare("DELETE FROM resource_version WHERE type = 'AuditEvent' AND id = ?").run(id);
      db.prepare("DELETE FROM resource WHERE type = 'AuditEvent' AND id = ?").run(id);
    });
    const gone = await verify();
    assert.equal(gone.code, 1, gone.stdout + gone.stderr);
    assert.match(gone.stdout, new RegExp(`link ${last.seq}\\b`));
    assert.ok(gone.stdout.includes(`AuditEvent/${id}`), gone.stdout);
  });
});
