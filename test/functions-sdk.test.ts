/**
 * The AssemblyScript SDK as a function author meets it, through a probe
 * function built from source: JSON round trips (escapes, unicode, nesting,
 * numbers), log lines, aborts and a memory bomb ending with their errors,
 * and the clock and random numbers the sandbox grants.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildFunction, FUNCTIONS_DIR } from '../src/functions/build.ts';
import { FunctionError } from '../src/functions/index.ts';
import { admin, runtime } from './functions-support.ts';

const PROBE = `
import { input, writeOutput, log, fail, nowMillis, JSONWriter } from "../sdk";
const v = input();
const mode = v.string("mode");
if (mode == "echo") {
  writeOutput(v.get("value")!.toJSON());
} else if (mode == "log") {
  log("step one");
  log("step two");
  writeOutput("{}");
} else if (mode == "abort") {
  const a = new Array<i32>(2);
  writeOutput(a[v.number("index") as i32].toString());
} else if (mode == "throw") {
  throw new Error("deliberate");
} else if (mode == "bomb") {
  const keep = new Array<ArrayBuffer>();
  while (true) keep.push(new ArrayBuffer(65536));
} else if (mode == "fail") {
  fail("no such patient context");
} else if (mode == "env") {
  writeOutput(new JSONWriter().beginObject().key("now").int(nowMillis()).key("random").num(Math.random()).endObject().toString());
}
`;

const dir = mkdtempSync(join(tmpdir(), 'telemed-fn-sdk-'));
const rt = runtime({ memoryPages: 32 });

before(async () => {
  cpSync(join(FUNCTIONS_DIR, 'sdk'), join(dir, 'sdk'), { recursive: true });
  mkdirSync(join(dir, 'probe'));
  writeFileSync(join(dir, 'probe', 'index.ts'), PROBE);
  await rt.register(admin, 'probe', await buildFunction(join(dir, 'probe'), { maxMemoryPages: 32 }));
});
after(async () => {
  await rt.close();
  rmSync(dir, { recursive: true, force: true });
});

const probe = (input: object) => rt.call(admin, 'probe', input);
const fnError = (code: string, message?: RegExp) => (e: unknown) =>
  e instanceof FunctionError && e.code === code && (message === undefined || message.test(e.message));

describe('function SDK', () => {
  it('round-trips JSON: escapes, unicode, nesting, numbers', async () => {
    const value = {
      s: 'quote " backslash \\ slash / tab \t newline \n nul \u0001 é 漢字 😀',
      n: [0, -1, 1.5, 1e-7, 123456789012, -0.25, 1e21],
      nested: { a: [[], {}, [null, true, false]], 'key with "quote"': 'x' },
    };
    assert.deepEqual((await probe({ mode: 'echo', value })).output, value);
  });

  it('parses escaped input text exactly', async () => {
    const r = await rt.call(admin, 'probe', '{"mode":"echo","value":"\\u00e9\\ud83d\\ude00\\/\\b\\f"}');
    assert.equal(r.output, 'é😀/\b\f');
  });

  it('sends log lines to the log, not the output', async () => {
    const r = await probe({ mode: 'log' });
    assert.deepEqual(r.output, {});
    assert.equal(r.log, 'step one\nstep two\n');
  });

  it('ends an out-of-range access and a throw with exit 134 and the abort message', async () => {
    await assert.rejects(probe({ mode: 'abort', index: 5 }), fnError('FN_ERR_EXIT', /exited with code 134: abort: Index out of range/));
    await assert.rejects(probe({ mode: 'throw' }), fnError('FN_ERR_EXIT', /code 134: abort: deliberate/));
  });

  it('ends a memory bomb at the memory limit', async () => {
    await assert.rejects(probe({ mode: 'bomb' }), fnError('FN_ERR_MEMORY_LIMIT'));
  });

  it('returns the line a function fails with', async () => {
    await assert.rejects(probe({ mode: 'fail' }), fnError('FN_ERR_EXIT', /exited with code 1: no such patient context$/));
  });

  it('refuses input that is not JSON at the host, and a non-object at the SDK', async () => {
    await assert.rejects(rt.call(admin, 'probe', '{"mode":'), fnError('FN_ERR_BAD_INPUT'));
    await assert.rejects(probe({ mode: 42 } as object), fnError('FN_ERR_EXIT', /mode must be a string/));
  });

  it('reads the clock and random numbers', async () => {
    const a = (await probe({ mode: 'env' })).output as { now: number; random: number };
    const b = (await probe({ mode: 'env' })).output as { now: number; random: number };
    assert.ok(Math.abs(a.now - Date.now()) < 60_000, String(a.now));
    assert.ok(a.random >= 0 && a.random < 1);
    assert.notEqual(a.random, b.random, 'each call is seeded from random_get');
  });
});
