import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { FnErrorCodes } from './errors.ts';

it('documents every error code with its status in functions/README.md', () => {
  const readme = readFileSync(new URL('../../functions/README.md', import.meta.url), 'utf8');
  for (const { code, status } of Object.values(FnErrorCodes)) {
    assert.match(readme, new RegExp(`^\\| \`${code}\` \\| ${status} \\|`, 'm'), `${code} (${status}) is not in the errors table`);
  }
  const codes = Object.values(FnErrorCodes).map((c) => c.code);
  assert.equal(new Set(codes).size, codes.length, 'codes are unique');
});
