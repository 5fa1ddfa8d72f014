/**
 * Nothing acknowledged is lost: a node is killed with SIGKILL in the middle of
 * a stream of concurrent creates; after a restart on the same data folder
 * every create that was answered 201 is there, and the audit chain is intact.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import { call, CLINICIAN, DEMO_PATIENT, observation, removeDir, runCli, startNode, type RunningNode } from './helpers/node.ts';

const WORKERS = 8;
const KILL_AFTER = 300;

const nodes: RunningNode[] = [];
after(async () => {
  for (const n of nodes) {
    await n.stop('SIGKILL');
    await removeDir(n.dataDir);
  }
});

for (const dbSync of ['full', 'normal'] as const) {
  test(`kill -9 during concurrent creates loses no acknowledged create (TELEMED_DB_SYNC=${dbSync})`, async (t) => {
    const first = await startNode({ env: { TELEMED_DB_SYNC: dbSync } });
    nodes.push(first);
    const token = await first.token('authorized_medical_staff', CLINICIAN);
    const code = `crash-${randomUUID()}`;

    const acked = new Map<string, number>(); // id → the value it was created with
    let sent = 0;
    let failed = 0;
    let killed = false;

    const worker = async () => {
      for (;;) {
        const n = sent++;
        const body = observation(DEMO_PATIENT, {
          code: { coding: [{ system: 'urn:test', code }] },
          valueQuantity: { value: n, unit: 'count' },
        });
        let res;
        try {
          res = await call(`${first.fhirBase}/Observation`, { token, body });
        } catch {
          failed++;
          return; // the node is gone
        }
        if (res.status !== 201) {
          // Only a dying node may answer otherwise (e.g. a 503 while closing).
          assert.ok(killed, `unexpected ${res.status} before the kill: ${res.text.slice(0, 200)}`);
          failed++;
          return;
        }
        const location = res.headers.get('location') ?? '';
        const m = /\/Observation\/([^/]+)\/_history\/1$/.exec(location);
        assert.ok(m, `a 201 carries the Location of the new version, got '${location}'`);
        assert.equal(res.body.id, m[1]);
        acked.set(m[1]!, n);
        if (!killed && acked.size >= KILL_AFTER) {
          killed = true;
          first.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    const exit = await first.exited;
    assert.equal(exit.signal, 'SIGKILL', 'the node died by SIGKILL, not on its own');
    assert.ok(acked.size >= KILL_AFTER);

    // Restart on the same data folder.
    const second = await startNode({ dataDir: first.dataDir, env: { TELEMED_DB_SYNC: dbSync } });
    nodes.push(second);
    const token2 = await second.token('authorized_medical_staff', CLINICIAN);
    const missing: string[] = [];
    for (const [id, value] of acked) {
      const r = await call(`${second.fhirBase}/Observation/${id}`, { token: token2 });
      if (r.status !== 200) missing.push(`${id}: ${r.status}`);
      else assert.equal(r.body.valueQuantity.value, value, `Observation/${id} holds what was sent`);
    }
    const count = await call(`${second.fhirBase}/Observation?code=${encodeURIComponent(`urn:test|${code}`)}&_summary=count`, { token: token2 });
    assert.equal(count.status, 200);

    t.diagnostic(
      `${sent} creates sent by ${WORKERS} workers, ${acked.size} acknowledged with 201, ${failed} cut off by the kill; ` +
        `after restart ${count.body.total} stored (${count.body.total - acked.size} of them unacknowledged), ${missing.length} acknowledged but lost`,
    );
    assert.deepEqual(missing, [], 'every acknowledged create survives the crash');
    assert.ok(count.body.total >= acked.size);

    // The audit trail written in the same transactions is intact too.
    const stopped = await second.stop();
    assert.equal(stopped.code, 0);
    const verify = await runCli(['audit', 'verify'], { TELEMED_DATA_DIR: first.dataDir });
    assert.equal(verify.code, 0, `audit verify after the crash: ${verify.stdout}${verify.stderr}`);
    assert.match(verify.stdout, /OK/);
    await removeDir(first.dataDir);
  });
}
