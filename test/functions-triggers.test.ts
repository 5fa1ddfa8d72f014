/**
 * Event triggers: a created resource that matches runs the function, and its
 * output becomes the resource the trigger names, tied to the triggering
 * resource's subject whatever the function said.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { FunctionAdmin, FunctionRegistry, MemoryFunctionStore, type Trigger } from '../src/functions/index.ts';
import { createLogger } from '../src/observability/index.ts';
import { admin, wat } from './functions-support.ts';

/** A WASI command that prints `json`. */
const printer = (json: string) => wat(`(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1 1) (data (i32.const 64) "${json.replace(/"/g, '\\"')}")
  (func (export "_start") (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const ${Buffer.byteLength(json)}))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`);

const store = new MemoryFunctionStore();
const make = () => new FunctionRegistry({ logger: createLogger({ level: 'silent' }), limits: { workers: 1 }, decide: () => ({ allow: true, reason: 'test' }), store });
const rt = make();
after(() => rt.close());

const RISK = JSON.stringify({ resourceType: 'RiskAssessment', id: 'forged', subject: { reference: 'Patient/someone-else' }, status: 'final', prediction: [{ qualitativeRisk: { coding: [{ code: 'high' }] } }] });
const HEART_RATE = { resourceType: 'Observation', id: 'obs-1', status: 'final', subject: { reference: 'Patient/p1' }, code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, valueQuantity: { value: 131 } };
const onHeartRate = (output: Trigger['output']): Trigger => ({ resourceType: 'Observation', code: 'http://loinc.org|8867-4', output });

describe('function triggers', () => {
  it('turns the output of a matching function into a RiskAssessment of the same patient', async () => {
    await rt.register(admin, 'risk', await printer(RISK), {}, onHeartRate('RiskAssessment'));
    const [r, ...more] = await rt.runTriggers(admin, HEART_RATE);
    assert.equal(more.length, 0);
    assert.equal(r!.error, undefined);
    assert.deepEqual(r!.resource, {
      resourceType: 'RiskAssessment', status: 'final', prediction: [{ qualitativeRisk: { coding: [{ code: 'high' }] } }],
      meta: { tag: [{ system: 'urn:telemed-edge:function', code: 'risk' }] },
      subject: { reference: 'Patient/p1' },
      basis: [{ reference: 'Observation/obs-1' }],
    });
  });

  it('runs nothing for another code, another type, or a disabled function', async () => {
    assert.deepEqual(await rt.runTriggers(admin, { ...HEART_RATE, code: { coding: [{ system: 'http://loinc.org', code: '9279-1' }] } }), []);
    assert.deepEqual(await rt.runTriggers(admin, { ...HEART_RATE, resourceType: 'Condition' }), []);
    await rt.disable(admin, 'risk');
    assert.deepEqual(await rt.runTriggers(admin, HEART_RATE), []);
    await rt.enable(admin, 'risk');
  });

  it('matches a bare code in any system', async () => {
    await rt.register(admin, 'any-system', await printer('{}'), {}, { resourceType: 'Observation', code: '8867-4', output: 'none' });
    const results = await rt.runTriggers(admin, { ...HEART_RATE, code: { coding: [{ system: 'urn:local', code: '8867-4' }] } });
    assert.deepEqual(results.map((r) => [r.function, r.resource]), [['any-system', undefined]]);
    await rt.unregister(admin, 'any-system');
  });

  it('reports a function whose output is not the promised resource, and still runs the others', async () => {
    await rt.register(admin, 'wrong', await printer('{"score":3}'), {}, onHeartRate('Flag'));
    const results = await rt.runTriggers(admin, HEART_RATE);
    const byName = Object.fromEntries(results.map((r) => [r.function, r]));
    assert.equal(byName.wrong?.error?.code, 'FN_ERR_BAD_OUTPUT');
    assert.equal((byName.risk?.resource as { resourceType: string }).resourceType, 'RiskAssessment');
    await rt.unregister(admin, 'wrong');
  });

  it('keeps triggers across a restart', async () => {
    const again = make();
    try {
      await again.restore();
      assert.deepEqual(again.get(admin, 'risk')?.trigger, onHeartRate('RiskAssessment'));
      assert.equal((await again.runTriggers(admin, HEART_RATE)).length, 1);
    } finally {
      await again.close();
    }
  });

  it('takes a trigger over the API and refuses a malformed one', async () => {
    const api = new FunctionAdmin(rt);
    const wasm = Buffer.from(await printer('{}')).toString('base64');
    const ok = await api.handle({ method: 'PUT', path: '/flagger', body: { wasm, trigger: { resourceType: 'Observation', output: 'Flag' } }, caller: admin });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.deepEqual((ok.body as { trigger: Trigger }).trigger, { resourceType: 'Observation', output: 'Flag' });
    const bad = await api.handle({ method: 'PUT', path: '/flagger2', body: { wasm, trigger: { resourceType: 'Observation', output: 'Patient' } }, caller: admin });
    assert.deepEqual([bad.status, (bad.body as { error: { code: string } }).error.code], [400, 'FN_ERR_BAD_INPUT']);
    await rt.unregister(admin, 'flagger');
  });
});
