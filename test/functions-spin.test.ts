/**
 * The reply poll (`spinUs`, TELEMED_FN_SPIN_US): a call alone in flight waits
 * for its reply on the calling thread for a bounded time, then falls back to
 * `Atomics.waitAsync`. What a caller must never notice: a wrong reply, a call
 * lost past the budget, a deadline that no longer ends a call, or concurrent
 * calls answered with one another's output. No timings are asserted.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { FunctionError, FunctionRegistry, type CallTrace, type RuntimeLimits } from '../src/functions/index.ts';
import { createLogger } from '../src/observability/index.ts';
import { admin, shipped, wat } from './functions-support.ts';

const WASI = 'wasi_snapshot_preview1';

/** Copies stdin (up to 60000 bytes) to stdout. */
const ECHO = `(module
  (import "${WASI}" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "${WASI}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 60000))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 16) (i32.const 1024)) (i32.store (i32.const 20) (i32.load (i32.const 8)))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))))`;

/** Runs for 30 ms of the monotonic clock (far past a 1 ms budget), then writes {"slow":true}. */
const SLOW = `(module
  (import "${WASI}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "${WASI}" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 1024) "{\\"slow\\":true}")
  (func (export "_start") (local $t0 i64)
    (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 32)))
    (local.set $t0 (i64.load (i32.const 32)))
    (loop $l
      (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 32)))
      (br_if $l (i64.lt_u (i64.sub (i64.load (i32.const 32)) (local.get $t0)) (i64.const 30000000))))
    (i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 13))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`;

const LOOP = `(module (memory (export "memory") 1 1) (func (export "_start") (loop $l (br $l))))`;

const NEWS2_IN = { respiratoryRate: 25, spo2: 91, onOxygen: false, systolicBP: 95, heartRate: 115, consciousness: 'A', temperature: 38.5 };

interface Seen { spins: Array<{ seconds: number; answered: boolean }>; traces: CallTrace[] }

function runtime(spinUs: number, limits: Partial<RuntimeLimits> = {}): { rt: FunctionRegistry; seen: Seen } {
  const seen: Seen = { spins: [], traces: [] };
  const rt = new FunctionRegistry({
    logger: createLogger({ level: 'silent' }),
    limits: { workers: 1, ...limits },
    decide: () => ({ allow: true, reason: 'test' }),
    spinUs,
    inlineFuel: 0, // every call goes to a worker: the poll is what is tested
    onSpin: (seconds, answered) => seen.spins.push({ seconds, answered }),
    trace: (t) => seen.traces.push(t),
  });
  return { rt, seen };
}

describe('functions reply poll (spinUs)', () => {
  const on = runtime(1000, { workers: 2, timeoutMs: 300, maxQueue: 1024 });
  const off = runtime(0);
  after(() => Promise.all([on.rt.close(), off.rt.close()]));

  it('answers the same, right reply with the poll on and off', async () => {
    const wasm = await shipped('news2');
    await on.rt.register(admin, 'news2', wasm);
    await off.rt.register(admin, 'news2', wasm);
    for (let i = 0; i < 5; i++) {
      const [a, b] = [await on.rt.call(admin, 'news2', NEWS2_IN), await off.rt.call(admin, 'news2', NEWS2_IN)];
      assert.deepEqual(a.output, b.output);
      assert.equal((a.output as { score: number }).score, 11);
      assert.equal((a.output as { risk: string }).risk, 'high');
    }
    assert.ok(on.seen.spins.length >= 5, 'each lone call polled');
    assert.ok(on.seen.traces.every((t) => t.spin === 'answered' || t.spin === 'budget'));
    assert.equal(off.seen.spins.length, 0, 'with spinUs 0 nothing polls');
    assert.ok(off.seen.traces.every((t) => t.spin === 'off'));
  });

  it('completes a call that runs past the budget through the asynchronous wait', async () => {
    await on.rt.register(admin, 'slow', await wat(SLOW));
    const before = on.seen.spins.length;
    const r = await on.rt.call(admin, 'slow', {});
    assert.deepEqual(r.output, { slow: true });
    const spin = on.seen.spins.at(-1)!;
    assert.equal(on.seen.spins.length, before + 1);
    assert.equal(spin.answered, false, 'a 30 ms run cannot answer within a 1 ms budget');
    assert.equal(on.seen.traces.at(-1)!.spin, 'budget');
  });

  it('still ends an endless call at its deadline and replaces the worker, then answers the next call', async () => {
    await on.rt.register(admin, 'loop', await wat(LOOP));
    await on.rt.register(admin, 'echo', await wat(ECHO));
    const replaced = on.rt.workersReplaced;
    await assert.rejects(on.rt.call(admin, 'loop', {}), (e: unknown) => e instanceof FunctionError && e.code === 'FN_ERR_TIMEOUT');
    assert.equal(on.rt.workersReplaced, replaced + 1);
    assert.deepEqual((await on.rt.call(admin, 'echo', { after: 'timeout' })).output, { after: 'timeout' });
  });

  it('answers many concurrent calls, each with its own reply; concurrent calls do not poll', async () => {
    const spinsBefore = on.seen.spins.length;
    const tracesBefore = on.seen.traces.length;
    const n = 300;
    const replies = await Promise.all(Array.from({ length: n }, (_, i) => on.rt.call(admin, 'echo', { i, pad: 'x'.repeat(i) })));
    replies.forEach((r, i) => assert.deepEqual(r.output, { i, pad: 'x'.repeat(i) }));
    const traces = on.seen.traces.slice(tracesBefore);
    assert.equal(traces.length, n);
    assert.ok(traces.filter((t) => t.spin === 'skipped').length > 0, 'calls made together wait asynchronously');
    assert.ok(on.seen.spins.length - spinsBefore < n, 'not every call polled');
  });

  it('answers calls on the other worker while a long call runs past the budget on one', async () => {
    const slow = on.rt.call(admin, 'slow', {});
    const quick = [];
    for (let i = 0; i < 10; i++) quick.push((await on.rt.call(admin, 'echo', { q: i })).output);
    assert.deepEqual(quick, Array.from({ length: 10 }, (_, i) => ({ q: i })));
    assert.deepEqual((await slow).output, { slow: true });
  });
});
