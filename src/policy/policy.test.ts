import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  Actions, BundleRejected, bundleFromFiles, createBuiltinPolicy, loadVerifiedRegoPolicy, createRegoPolicy, inputHash, loadBundle, RegoErrors, runBundleTests, withDecisionLog,
  type DecisionLogEntry, type PolicyInput,
} from './index.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const policies = path.join(root, 'policies');

const input = (over: Partial<PolicyInput>): PolicyInput => ({
  action: Actions.videoCall,
  user: { id: 'Practitioner/123', role: 'authorized_medical_staff' },
  patient: { id: 'Patient/456', consent: true },
  data_stays_local: true,
  destination: 'local',
  resource: { type: 'Observation', classification: 'phi' },
  ...over,
});

test('the shipped bundle decides like the built-in rules', () => {
  const rego = createRegoPolicy(policies);
  const builtin = createBuiltinPolicy();
  const patient = { id: 'Patient/456', role: 'patient' };
  const cases: PolicyInput[] = [
    input({}),
    input({ patient: { id: 'Patient/456', consent: false } }),
    input({ user: patient }),
    input({ action: Actions.readRecord, user: { id: 'Patient/9', role: 'patient' } }),
    input({ action: Actions.writeRecord }),
    input({ action: Actions.joinWaitingRoom, user: patient }),
    input({ action: Actions.runFunction, user: { id: 'x', role: 'admin' } }),
    input({ action: Actions.runFunction, resource: { type: 'Function', operation: 'register' } }),
    input({ action: Actions.runFunction, resource: { type: 'Function', operation: 'call' } }),
    input({ action: Actions.streamVitals }),
    input({ action: Actions.streamVitals, patient: { id: 'Patient/456', consent: false } }),
    input({ action: Actions.streamVitals, user: { id: 'Patient/9', role: 'patient' } }),
    input({ action: Actions.dataTransfer, destination: 'local' }),
    input({ action: Actions.dataTransfer, destination: 'elsewhere' }),
  ];
  for (const c of cases) assert.equal(rego.decide(c).allow, builtin.decide(c).allow, JSON.stringify(c));
  assert.equal(rego.revision, 'telemed-edge-policies-1');
  assert.equal(rego.decide(input({ action: Actions.dataTransfer, destination: 'hub' })).reason, 'data_must_stay_local');
});

test('the data API answers data.<path> for an input', () => {
  const rego = createRegoPolicy(policies);
  assert.equal(rego.data(['healthcare', 'telemedicine', 'allow'], input({})), true);
  assert.equal(rego.data(['healthcare', 'nothing'], input({})), undefined);
});

test('a bundle archive (.tar.gz) loads like its directory', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bundle-'));
  const archive = path.join(dir, 'bundle.tar.gz');
  execFileSync('tar', ['czf', archive, '-C', policies, '.']);
  const b = loadBundle(archive);
  assert.equal(b.manifest.revision, 'telemed-edge-policies-1');
  assert.equal(createRegoPolicy(b).decide(input({})).allow, true);
});

test('a broken bundle is refused with file:line and the reason', () => {
  assert.throws(
    () => createRegoPolicy({ modules: [{ path: 'x.rego', text: 'package x\np if {\n' }], data: null, manifest: {}, source: 'mem' }),
    (e: unknown) => e instanceof RegoErrors && e.errors[0]!.code === 'rego_parse_error' && e.errors[0]!.loc?.file === 'x.rego',
  );
});

test('an evaluation error is a deny with reason policy_error', () => {
  const rego = createRegoPolicy({
    modules: [{ path: 'x.rego', text: 'package healthcare.telemedicine\nallow := 1\nallow := 2\n' }],
    data: null,
    manifest: {},
    source: 'mem',
  });
  assert.deepEqual(rego.decide(input({})), { allow: false, reason: 'policy_error' });
});

test('bundle tests report failures and errors, not only passes', () => {
  const report = runBundleTests(
    bundleFromFiles([
      { path: 'x/p.rego', text: 'package x\nimport rego.v1\np := 1\n' },
      { path: 'x/p_test.rego', text: 'package x_test\nimport rego.v1\ntest_ok if data.x.p == 1\ntest_bad if data.x.p == 2\ntest_err if 1 / 0 == 1 with data.x.p as 2\n' },
    ]),
  );
  assert.deepEqual(
    report.results.map((r) => [r.name, r.status]),
    [
      ['data.x_test.test_ok', 'PASS'],
      ['data.x_test.test_bad', 'FAIL'],
      ['data.x_test.test_err', 'FAIL'],
    ],
  );
});

test('the decision log records id, path, result, latency and an input hash, never the input', () => {
  const entries: DecisionLogEntry[] = [];
  const engine = withDecisionLog(createRegoPolicy(policies), (e) => entries.push(e));
  const decision = engine.decide(input({}));
  assert.equal(decision.allow, true);
  assert.equal(entries.length, 1);
  const e = entries[0]!;
  assert.equal(e.input_sha256, inputHash(input({})));
  assert.ok(e.latency_seconds > 0 && e.decision_id.length === 36);
  assert.ok(!JSON.stringify(e).includes('Patient/456'));
});

test('hot reload: a bundle whose own tests fail is refused with the failing test named', () => {
  const good = loadVerifiedRegoPolicy(policies);
  assert.equal(good.decide(input({})).allow, true);
  const broken = bundleFromFiles([
    { path: 'healthcare/p.rego', text: 'package healthcare.telemedicine\nimport rego.v1\nallow := true\n' },
    { path: 'healthcare/p_test.rego', text: 'package healthcare.telemedicine_test\nimport rego.v1\ntest_denies_by_default if not data.healthcare.telemedicine.allow\n' },
  ]);
  assert.throws(() => loadVerifiedRegoPolicy(broken), (e: unknown) => e instanceof BundleRejected && e.reasons[0]!.includes('test_denies_by_default: FAIL'));
  assert.throws(() => loadVerifiedRegoPolicy(bundleFromFiles([{ path: 'x.rego', text: 'package x\np if {' }])), (e: unknown) => e instanceof BundleRejected && /rego_parse_error/.test(e.reasons[0]!));
});
