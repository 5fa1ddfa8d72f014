/**
 * The functions API as an admin and a clinician see it, through
 * FunctionAdmin (HTTP-agnostic; node/ mounts it under /functions).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { FunctionAdmin, FunctionRegistry, type AdminResponse, type Caller } from '../src/functions/index.ts';
import { createBuiltinPolicy } from '../src/policy/index.ts';
import { createLogger } from '../src/observability/index.ts';
import { shipped, wat } from './functions-support.ts';

const policy = createBuiltinPolicy();
const registry = new FunctionRegistry({ logger: createLogger({ level: 'silent' }), limits: { workers: 1 }, decide: (i) => policy.decide(i) });
const api = new FunctionAdmin(registry);
after(() => registry.close());

const admin: Caller = { id: 'Practitioner/admin', role: 'admin' };
const patient: Caller = { id: 'Patient/1', role: 'patient' };
const errCode = (r: AdminResponse) => (r.body as { error: { code: string } }).error.code;
const EXAMPLE = { respiratoryRate: 25, spo2: 91, onOxygen: false, systolicBP: 95, heartRate: 115, consciousness: 'A', temperature: 38.5 };

describe('functions API', () => {
  it('registers news2 from application/wasm, then replaces it from base64 JSON', async () => {
    const wasm = await shipped('news2');
    const created = await api.handle({ method: 'PUT', path: '/news2', body: wasm, caller: admin, query: { timeoutMs: '500' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((created.body as { limits: { timeoutMs: number } }).limits.timeoutMs, 500);
    const replaced = await api.handle({ method: 'PUT', path: '/news2', body: { wasm: Buffer.from(wasm).toString('base64') }, caller: admin });
    assert.equal(replaced.status, 200);
    const listed = await api.handle({ method: 'GET', path: '', caller: admin });
    assert.deepEqual((listed.body as { functions: Array<{ name: string }> }).functions.map((f) => f.name), ['news2']);
  });

  it('lets a clinician call it and returns the output', async () => {
    const clinician: Caller = { id: 'Practitioner/7', role: 'authorized_medical_staff' };
    const r = await api.handle({ method: 'POST', path: '/news2/call', body: EXAMPLE, caller: clinician });
    assert.equal(r.status, 200);
    assert.deepEqual([(r.body as { output: { score: number } }).output.score, (r.body as { output: { risk: string } }).output.risk], [11, 'high']);
  });

  it('denies a patient by policy (403) and changes nothing', async () => {
    const r = await api.handle({ method: 'DELETE', path: '/news2', caller: patient });
    assert.deepEqual([r.status, errCode(r)], [403, 'FN_ERR_DENIED']);
    assert.equal((await api.handle({ method: 'GET', path: '/news2', caller: admin })).status, 200);
  });

  it('disables (409 on call), enables, and deletes (404 after)', async () => {
    assert.equal((await api.handle({ method: 'POST', path: '/news2/disable', caller: admin })).status, 200);
    const off = await api.handle({ method: 'POST', path: '/news2/call', body: EXAMPLE, caller: admin });
    assert.deepEqual([off.status, errCode(off)], [409, 'FN_ERR_DISABLED']);
    assert.equal((await api.handle({ method: 'POST', path: '/news2/enable', caller: admin })).status, 200);
    assert.equal((await api.handle({ method: 'POST', path: '/news2/call', body: EXAMPLE, caller: admin })).status, 200);
    assert.equal((await api.handle({ method: 'DELETE', path: '/news2', caller: admin })).status, 204);
    const gone = await api.handle({ method: 'GET', path: '/news2', caller: admin });
    assert.deepEqual([gone.status, errCode(gone)], [404, 'FN_ERR_NOT_FOUND']);
  });

  it('answers a refused module with the code and the import it names', async () => {
    const bad = await wat('(module (import "env" "fetch" (func (param i32) (result i32))) (memory (export "memory") 1 1) (func (export "_start")))');
    const r = await api.handle({ method: 'PUT', path: '/fetcher', body: bad, caller: admin });
    assert.deepEqual([r.status, errCode(r)], [400, 'FN_ERR_FORBIDDEN_IMPORT']);
    assert.match((r.body as { error: { message: string } }).error.message, /env\.fetch/);
    const junk = await api.handle({ method: 'PUT', path: '/junk', body: { wasm: 'bm90IHdhc20=' }, caller: admin });
    assert.deepEqual([junk.status, errCode(junk)], [400, 'FN_ERR_INVALID_MODULE']);
  });

  it('answers unknown routes, methods and bad limits with their codes', async () => {
    const cases: Array<[AdminResponse, number, string]> = [
      [await api.handle({ method: 'POST', path: '/news2/explode', caller: admin }), 404, 'FN_ERR_ROUTE'],
      [await api.handle({ method: 'PATCH', path: '/news2', caller: admin }), 405, 'FN_ERR_METHOD'],
      [await api.handle({ method: 'PUT', path: '/x', body: await shipped('news2'), query: { timeoutMs: '-1' }, caller: admin }), 400, 'FN_ERR_BAD_INPUT'],
      [await api.handle({ method: 'PUT', path: '/Bad%20Name', body: await shipped('news2'), caller: admin }), 400, 'FN_ERR_BAD_NAME'],
    ];
    for (const [r, status, code] of cases) assert.deepEqual([r.status, errCode(r)], [status, code]);
  });

  it('takes per-function limits up to the node-wide maximum and refuses more, naming it', async () => {
    const low = await api.handle({ method: 'PUT', path: '/news2-low', body: { wasm: Buffer.from(await shipped('news2')).toString('base64'), limits: { outputBytes: 2048, logBytes: 16 } }, caller: admin });
    assert.equal(low.status, 201, JSON.stringify(low.body));
    const { limits } = low.body as { limits: { outputBytes: number; logBytes: number; timeoutMs: number } };
    assert.deepEqual([limits.outputBytes, limits.logBytes, limits.timeoutMs], [2048, 16, 1000]);
    for (const [key, value] of [['timeoutMs', 1001], ['memoryPages', 257], ['outputBytes', 262145], ['logBytes', 4097]] as const) {
      const r = await api.handle({ method: 'PUT', path: '/too-much', body: await shipped('news2'), query: { [key]: String(value) }, caller: admin });
      assert.deepEqual([r.status, errCode(r)], [400, 'FN_ERR_BAD_INPUT'], key);
      assert.match((r.body as { error: { message: string } }).error.message, new RegExp(`${key} ${value} is above this node's maximum`));
    }
    assert.equal((await api.handle({ method: 'GET', path: '/too-much', caller: admin })).status, 404);
  });
});
