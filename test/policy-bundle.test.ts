/** The shipped bundle's own Rego tests pass (`telemed-edge policy test policies`). */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { policyCommand } from '../src/cli/policy.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

test('policy test passes on the shipped bundle', async () => {
  const write = process.stdout.write.bind(process.stdout);
  let output = '';
  process.stdout.write = ((chunk: string) => ((output += chunk), true)) as typeof process.stdout.write;
  let code: number;
  try {
    code = await policyCommand.run(['test', path.join(repoRoot, 'policies')]);
  } finally {
    process.stdout.write = write;
  }
  assert.equal(code, 0, output);
  assert.match(output, /PASS: \d+\/\d+/);
});
