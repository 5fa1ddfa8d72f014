/**
 * Calls on the calling thread under fuel (src/functions/inline.ts, meter.ts):
 * a metered function answers without a worker, with the same output as a
 * worker gives; anything that would hold the node's thread (a loop in any
 * position, bulk memory work, growing memory, host calls, deep recursion)
 * runs out of fuel or traps and is answered by a worker instead; a module the
 * meter cannot rewrite stays on the workers, with the reason shown.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { FunctionError, FunctionRegistry, type FunctionRuntimeOptions } from '../src/functions/index.ts';
import { meter, meterModule } from '../src/functions/meter.ts';
import { createLogger } from '../src/observability/index.ts';
import { admin, ecgObservation, shipped, wat } from './functions-support.ts';

const WASI = 'wasi_snapshot_preview1';
const NEWS2_IN = { respiratoryRate: 25, spo2: 91, onOxygen: false, systolicBP: 95, heartRate: 115, consciousness: 'A', temperature: 38.5 };
const code = (c: string) => (e: unknown) => e instanceof FunctionError && e.code === c;

type Seen = Array<'answered' | 'fuel' | 'trap' | 'instantiate'>;

function runtime(o: Partial<FunctionRuntimeOptions> = {}): { rt: FunctionRegistry; seen: Seen } {
  const seen: Seen = [];
  const rt = new FunctionRegistry({
    logger: createLogger({ level: 'silent' }),
    limits: { workers: 1, timeoutMs: 300, memoryPages: 256 },
    decide: () => ({ allow: true, reason: 'test' }),
    onInline: (r) => seen.push(r),
    ...o,
  });
  return { rt, seen };
}

/** A WASI command: `_start` runs `body`, then writes `{"ok":true}` (stored at 1024) to stdout. */
const command = (body: string, extra = '', memory = '(memory (export "memory") 17 64)') => `(module
  (import "${WASI}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "${WASI}" "random_get" (func $random_get (param i32 i32) (result i32)))
  ${memory}
  (data (i32.const 1024) "{\\"ok\\":true}")
  ${extra}
  (func (export "_start") ${body}
    (i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 11))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`;

/** `n` iterations of `step` (a counted loop in local 0). */
const repeat = (n: number, step: string) => `(local $i i32) (loop $l ${step}
  (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const ${n}))))`;

describe('functions inline under fuel', () => {
  const { rt, seen } = runtime();
  const workersOnly = runtime({ inlineFuel: 0 });
  after(() => Promise.all([rt.close(), workersOnly.rt.close()]));

  const register = async (name: string, wasm: Uint8Array, r = rt) => {
    await r.register(admin, name, wasm);
    return r.inlineSettled(name);
  };

  it('answers news2 on the calling thread, with the output a worker gives', async () => {
    assert.deepEqual(await register('news2', await shipped('news2')), { state: 'ready' });
    assert.deepEqual(rt.get(admin, 'news2')?.inline, { state: 'ready' });
    seen.length = 0;
    const here = await rt.call(admin, 'news2', NEWS2_IN);
    assert.equal(here.inline, true);
    assert.deepEqual(seen, ['answered']);
    await register('news2', await shipped('news2'), workersOnly.rt);
    const there = await workersOnly.rt.call(admin, 'news2', NEWS2_IN);
    assert.equal(there.inline, false);
    assert.deepEqual(here.output, there.output);
    assert.equal((here.output as { score: number }).score, 11);
    assert.deepEqual((await workersOnly.rt.inlineSettled('news2')).state, 'off');
  });

  it('sends a call that finds no instance made ahead (back to back) to a worker, and runs the next one here once it is made', async () => {
    const [a, b] = await Promise.all([rt.call(admin, 'news2', NEWS2_IN), rt.call(admin, 'news2', NEWS2_IN)]);
    assert.deepEqual([a.inline, b.inline], [true, false]);
    assert.deepEqual(a.output, b.output);
    await new Promise((r) => setImmediate(r));
    assert.equal((await rt.call(admin, 'news2', NEWS2_IN)).inline, true);
  });

  it('gives the same output as a worker for ECG traces, inline when the fuel suffices and on a worker when not', async () => {
    const big = runtime({ inlineFuel: 200_000_000 });
    after(() => big.rt.close());
    await register('ecg-hr', await shipped('ecg-hr'));
    await register('ecg-hr', await shipped('ecg-hr'), big.rt);
    const { resource } = ecgObservation({ bpm: 72, seconds: 10 });
    seen.length = 0;
    const small = await rt.call(admin, 'ecg-hr', resource); // ~11 million units: more than the default fuel
    assert.equal(small.inline, false);
    assert.deepEqual(seen, ['fuel']);
    const large = await big.rt.call(admin, 'ecg-hr', resource);
    assert.equal(large.inline, true);
    assert.deepEqual(large.output, small.output);
  });

  it('runs an infinite loop out of fuel, ends it at the worker deadline, and sends the next calls straight to a worker', async () => {
    await register('spin', await wat(command('(loop $l (br $l))')));
    seen.length = 0;
    await assert.rejects(rt.call(admin, 'spin', {}), code('FN_ERR_TIMEOUT'));
    assert.deepEqual(seen, ['fuel']);
    await assert.rejects(rt.call(admin, 'spin', {}), code('FN_ERR_TIMEOUT'));
    assert.deepEqual(seen, ['fuel'], 'the second call did not try inline');
  });

  it('meters a loop wherever it sits: inside an operand, inside a called function, inside a branch value', async () => {
    const odd = [
      '(drop (i32.add (loop $l (result i32) (br $l)) (i32.const 1)))',
      '(call $f)',
      '(drop (block $b (result i32) (br_if $b (loop $l (result i32) (br $l)) (i32.const 1))))',
    ];
    for (const [i, body] of odd.entries()) {
      const r = runtime();
      try {
        await register('odd', await wat(command(body, '(func $f (loop $l (br $l)))')), r.rt);
        await assert.rejects(r.rt.call(admin, 'odd', {}), code('FN_ERR_TIMEOUT'), `case ${i}`);
        assert.deepEqual(r.seen, ['fuel'], `case ${i}`);
      } finally {
        await r.rt.close();
      }
    }
  });

  it('charges bulk memory work, memory growth and host calls by their size', async () => {
    const cases: Array<[string, string]> = [
      ['fill', repeat(20, '(memory.fill (i32.const 2048) (i32.const 0) (i32.const 1048576))')], // 20 MiB: 2.6 million units
      ['grow', '(drop (memory.grow (i32.const 20)))'], // 20 pages: 1.28 million units
      ['random', repeat(5, '(drop (call $random_get (i32.const 2048) (i32.const 131072)))')], // 5 x 128 KiB: 1.3 million units
    ];
    for (const [name, body] of cases) {
      await register(name, await wat(command(body)));
      seen.length = 0;
      const r = await rt.call(admin, name, {});
      assert.deepEqual([r.output, r.inline, seen], [{ ok: true }, false, ['fuel']], name);
    }
    // The same work, ten times smaller, fits the fuel and is answered here.
    await register('fill-small', await wat(command(repeat(2, '(memory.fill (i32.const 2048) (i32.const 0) (i32.const 1048576))'))));
    assert.equal((await rt.call(admin, 'fill-small', {})).inline, true);
  });

  it('leaves traps and stack overflows to a worker, which reports them', async () => {
    await register('trap', await wat(command('unreachable')));
    await register('recurse', await wat(command('(call $r)', '(func $r (call $r))')));
    seen.length = 0;
    await assert.rejects(rt.call(admin, 'trap', {}), code('FN_ERR_TRAP'));
    await assert.rejects(rt.call(admin, 'recurse', {}), code('FN_ERR_TRAP'));
    assert.deepEqual(seen, ['trap', 'trap']);
  });

  it('keeps on the workers a module it cannot meter, a start section, and everything when turned off, saying why', async () => {
    const atomic = await wat(command('(drop (i32.atomic.load (i32.const 0)))'), { threads: true });
    assert.match(JSON.stringify(await register('atomic', atomic)), /"state":"off".*atomic/);
    assert.equal((await rt.call(admin, 'atomic', {})).inline, false);
    const start = await wat(command('', '(func $s) (start $s)'));
    assert.match(JSON.stringify(await register('start', start)), /"state":"off".*start section/);
    assert.match(JSON.stringify(await register('off', await wat(command('')), workersOnly.rt)), /"state":"off".*TELEMED_FN_INLINE_FUEL=0/);
  });

  it('does not let a module read or set the fuel through an export of its own', async () => {
    const clash = await wat(command('', '(global (export "__telemed_fuel") (mut i64) (i64.const 0))'));
    assert.match(JSON.stringify(await register('clash', clash)), /"state":"off".*already exports __telemed_fuel/);
    assert.deepEqual((await rt.call(admin, 'clash', {})).output, { ok: true });
  });
});

describe('meter', () => {
  it('stops a rewrite that takes too long, with the reason, and the next one works', async () => {
    const wasm = await shipped('news2');
    const slow = await meter(wasm, { stallMs: 1 });
    assert.equal(slow.ok, false);
    assert.match((slow as { reason: string }).reason, /took longer than 0.001 s/);
    const next = await meter(wasm);
    assert.equal(next.ok, true);
  });
});

describe('meterModule', () => {
  it('refuses a binary it cannot read, with a reason, and never throws', async () => {
    const { default: binaryen } = await import('binaryen');
    const r = meterModule(binaryen, new Uint8Array([0, 97, 115, 109, 9, 9, 9, 9]), { fuelExport: '__telemed_fuel', bulkBytesPerFuel: 8, growPageFuel: 64_000 });
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /readable/);
  });
});
