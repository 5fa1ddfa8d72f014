/**
 * The node decides with the Rego bundle in TELEMED_POLICY_DIR: OPA's data API
 * answers for admins, a changed bundle is taken on the fly, and a broken one
 * is refused while the old one stays in force.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { call, removeDir, ROOT, startNode, tempDataDir } from './helpers/node.ts';

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const metric = async (url: string, line: RegExp) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  return line.test(text) ? true : undefined;
};

test('policy bundle in force: data API, hot reload, refusal of a broken bundle', async (t) => {
  const policyDir = path.join(await tempDataDir(), 'policies');
  cpSync(path.join(ROOT, 'policies'), policyDir, { recursive: true });
  const node = await startNode({ env: { TELEMED_POLICY_DIR: policyDir } });
  t.after(async () => {
    await node.stop();
    await removeDir(node.dataDir);
    await removeDir(path.dirname(policyDir));
  });
  const admin = await node.token('admin', 'ops-1');
  const blocked = await node.token('authorized_medical_staff', 'Practitioner/blocked');

  // OPA's data API: the seed's allow for a consented, local video call.
  const input = { action: 'video_call', user: { id: 'Practitioner/1', role: 'authorized_medical_staff' }, patient: { id: 'Patient/2', consent: true }, data_stays_local: true };
  const r = await call(`${node.url}/v1/data/healthcare/telemedicine/allow`, { method: 'POST', token: admin, body: { input } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { result: true });
  const denied = await call(`${node.url}/v1/data/healthcare/telemedicine/allow`, { method: 'POST', token: admin, body: { input: { ...input, patient: { id: 'Patient/2', consent: false } } } });
  assert.deepEqual(denied.body, { result: false });
  const undef = await call(`${node.url}/v1/data/healthcare/telemedicine/no_such_rule`, { method: 'POST', token: admin, body: { input } });
  assert.deepEqual(undef.body, {});
  const notAdmin = await call(`${node.url}/v1/data/healthcare/telemedicine/allow`, { method: 'POST', token: blocked, body: { input } });
  assert.equal(notAdmin.status, 403);

  // Before the change the clinician reads the record.
  assert.equal((await call(`${node.fhirBase}/Patient/demo-patient`, { token: blocked })).status, 200);

  // A broken module is refused; the bundle in force keeps deciding.
  writeFileSync(path.join(policyDir, 'healthcare', 'broken.rego'), 'package healthcare.telemedicine\n\nallow if {\n');
  await until('the refusal metric', () => metric(node.url, /policy_bundle_loads_total\{result="refused"\} [1-9]/));
  assert.equal((await call(`${node.fhirBase}/Patient/demo-patient`, { token: blocked })).status, 200);
  rmSync(path.join(policyDir, 'healthcare', 'broken.rego'));

  // A valid change is taken without a restart.
  writeFileSync(path.join(policyDir, 'healthcare', 'blocklist.rego'), 'package healthcare.telemedicine\n\nimport rego.v1\n\ndeny if input.user.id == "Practitioner/blocked"\n');
  await until('the new bundle', async () => ((await call(`${node.fhirBase}/Patient/demo-patient`, { token: blocked })).status === 403 ? true : undefined));
  const other = await node.token('authorized_medical_staff', 'Practitioner/demo-clinician');
  assert.equal((await call(`${node.fhirBase}/Patient/demo-patient`, { token: other })).status, 200);
  assert.ok(await metric(node.url, /policy_decision_seconds_count [1-9]/));
});

test('a node whose policy bundle does not compile does not start, and says why', async () => {
  const dir = await tempDataDir();
  const policyDir = path.join(dir, 'policies');
  cpSync(path.join(ROOT, 'policies'), policyDir, { recursive: true });
  writeFileSync(path.join(policyDir, 'healthcare', 'broken.rego'), 'package healthcare.telemedicine\n\nallow if {\n');
  await assert.rejects(startNode({ dataDir: dir, env: { TELEMED_POLICY_DIR: policyDir }, readyTimeoutMs: 20_000 }), /broken\.rego:\d+/);
  await removeDir(dir);
});
