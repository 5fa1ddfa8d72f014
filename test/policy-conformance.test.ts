/**
 * OPA's own conformance cases, run as data (shared/conformance/opa). The pass
 * count must not drop below FLOOR; raise FLOOR as the engine improves.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runConformance } from '../src/policy/index.ts';

const FLOOR = 1930;

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const casesDir = path.resolve(repoRoot, '..', 'shared', 'conformance', 'opa', 'cases');

test('OPA conformance cases pass at or above the floor', { skip: existsSync(casesDir) ? false : `no conformance cases at ${casesDir}` }, () => {
  const { cases, categories } = runConformance(casesDir);
  const passed = cases.filter((c) => c.ok).length;
  const failing = categories.filter((c) => c.failed > 0).map((c) => `${c.category} ${c.passed}/${c.passed + c.failed}`);
  assert.ok(passed >= FLOOR, `conformance: ${passed} passed (floor ${FLOOR}); failing categories: ${failing.join(', ')}`);
});
