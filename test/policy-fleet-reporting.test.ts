/**
 * examples/policies/fleet-reporting: the hospital-chosen variant that lets
 * de-identified fleet figures reach the hub. Assembled the way the README tells
 * an operator to (a copy of policies/ with telemedicine.rego replaced), it must
 * pass its own tests and the shipped ones, allow exactly what the sync agent
 * sends, and still deny everything else leaving the node.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createRegoPolicy, loadBundle, loadVerifiedRegoPolicy, runBundleTests, type PolicyInput } from '../src/policy/index.ts';
import { transferInput } from '../src/sync/index.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const example = path.join(repoRoot, 'examples', 'policies', 'fleet-reporting');
const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-reporting-'));
after(() => rmSync(dir, { recursive: true, force: true }));

cpSync(path.join(repoRoot, 'policies'), dir, { recursive: true });
cpSync(path.join(example, 'telemedicine.rego'), path.join(dir, 'healthcare', 'telemedicine.rego'));
cpSync(path.join(example, 'fleet_reporting_test.rego'), path.join(dir, 'healthcare', 'fleet_reporting_test.rego'));

test('the assembled bundle passes its own tests and the shipped ones, as hot reload requires', () => {
  const report = runBundleTests(loadBundle(dir));
  const failed = report.results.filter((r) => r.status !== 'PASS');
  assert.deepEqual(failed, []);
  assert.ok(report.results.some((r) => r.name.includes('fleet_reporting_test')), 'the example tests ran');
  assert.ok(report.results.some((r) => r.name.includes('telemedicine_test')), 'the shipped tests ran');
  loadVerifiedRegoPolicy(dir); // the node's own gate: does not throw
});

test('what the sync agent sends is allowed under the variant and refused under the shipped bundle', () => {
  const variant = createRegoPolicy(dir);
  const shipped = createRegoPolicy(path.join(repoRoot, 'policies'));
  for (const kind of ['heartbeat', 'aggregate']) {
    const input = transferInput('node-1', kind);
    assert.equal(variant.decide(input).allow, true, `${kind} allowed by the variant`);
    assert.deepEqual({ allow: shipped.decide(input).allow, reason: shipped.decide(input).reason }, { allow: false, reason: 'data_must_stay_local' });
  }
});

test('everything else leaving the node stays denied under the variant', () => {
  const variant = createRegoPolicy(dir);
  const base = transferInput('node-1', 'aggregate');
  const cases: PolicyInput[] = [
    { ...base, resource: { type: 'Observation', classification: 'phi' } },
    { ...base, resource: { type: 'Aggregate', classification: 'phi' } },
    { ...base, resource: { type: 'Patient', classification: 'deidentified' } },
    { ...base, destination: 'research-partner' },
    { ...base, data_stays_local: true },
  ];
  for (const input of cases) {
    const d = variant.decide(input);
    assert.equal(d.allow, false, JSON.stringify(input));
    assert.equal(d.reason, 'data_must_stay_local');
  }
});
