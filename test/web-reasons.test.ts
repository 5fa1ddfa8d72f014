/**
 * Every reason the node can give for a refused join (its own, and the shipped
 * policy's for `video_call`) has its own words in the browser app, so a person
 * never sees a bare code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { RefusalReasons } from '../src/consult/index.ts';
import { KNOWN_REASONS, refusal } from '../src/web/app/reasons.ts';

test('every refusal reason of the consult service has a human explanation', () => {
  for (const reason of Object.values(RefusalReasons)) assert.ok(KNOWN_REASONS.includes(reason), `no words for '${reason}'`);
});

test("every reason code of the shipped policy has a human explanation", () => {
  const rego = readFileSync(new URL('../policies/healthcare/actions.rego', import.meta.url), 'utf8');
  const codes = [...rego.matchAll(/reason := "([a-z_]+)"|else := "([a-z_]+)"/g)].map((m) => m[1] ?? m[2]!).filter((c) => c !== 'allowed');
  assert.ok(codes.includes('no_consent') && codes.includes('role_not_allowed'), 'the policy file still names its reasons');
  for (const code of codes) assert.ok(KNOWN_REASONS.includes(code), `no words for the policy's '${code}'`);
});

test('an unknown reason still reads as a sentence and names the code in words', () => {
  const r = refusal('some_new_rule');
  assert.match(r.title, /cannot join/);
  assert.match(r.detail, /some new rule/);
});
