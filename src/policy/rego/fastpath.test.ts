import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bundleFromFiles } from '../bundle.ts';
import { RegoPolicy } from '../rego-policy.ts';
import { fromJS } from './value.ts';
import { SEED } from './seed.fixture.ts';


const pick = <T>(xs: T[], i: number): T => xs[i % xs.length]!;

test('the fast path decides exactly like the evaluator on the seed policy', () => {
  const p = new RegoPolicy(bundleFromFiles([{ path: 'seed.rego', text: SEED }]));
  const actions = ['video_call', 'data_transfer', 'read_record', 1, null];
  const roles = ['authorized_medical_staff', 'patient', undefined, { role: 'x' }];
  const consents = [true, false, 'true', 1, undefined, null];
  const locals = [true, false, undefined, 'yes'];
  const dests = ['local', 'hub', undefined, null, 0, { a: 1 }, ['local']];
  let n = 0;
  for (let i = 0; i < 2000; i++) {
    const input: Record<string, unknown> = {
      action: pick(actions, i),
      user: i % 7 === 0 ? 'not-an-object' : { role: pick(roles, i >> 2) },
      patient: i % 11 === 0 ? undefined : { consent: pick(consents, i >> 3) },
      data_stays_local: pick(locals, i >> 4),
      destination: pick(dests, i >> 5),
    };
    assert.deepEqual(p.decide(input), p.decideRaw(fromJS(input)), JSON.stringify(input));
    if (p.decide(input).allow) n++;
  }
  assert.ok(n > 0, 'some inputs are allowed');
});

test('inputs that are not plain data take the general path', () => {
  const p = new RegoPolicy(bundleFromFiles([{ path: 'seed.rego', text: SEED }]));
  const user = new Map([['role', 'authorized_medical_staff']]);
  const input = { action: 'video_call', user, patient: { consent: true }, data_stays_local: true };
  assert.equal(p.decide(input).allow, true);
});
