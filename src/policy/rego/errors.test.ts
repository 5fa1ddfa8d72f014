import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ErrorCodes } from './errors.ts';

test('every error code is documented in the policy README table', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  for (const code of Object.values(ErrorCodes)) assert.match(readme, new RegExp(`\\| \`${code}\` \\|`), `${code} is not in src/policy/README.md`);
});
