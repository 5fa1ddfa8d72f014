/** Bad input ends in a clear error or a bounded evaluation, never a crash or a hang. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compile, ErrorCodes, RegoError, RegoErrors } from './index.ts';
import { fromJS, NestingError } from './value.ts';

test('malformed Rego is a rego_parse_error with a location', () => {
  for (const text of ['package', 'package x\np if {', 'package x\np := [1,\n', 'package x\np if { x := "unterminated }', 'package x\n@@@\n']) {
    assert.throws(() => compile([{ file: 'm.rego', text }]), (e: unknown) => e instanceof RegoErrors && e.errors[0]!.code === ErrorCodes.parse && e.errors[0]!.loc?.file === 'm.rego');
  }
});

test('deeply nested policy source is refused, not a stack overflow', () => {
  const text = `package x\np := ${'['.repeat(100000)}${']'.repeat(100000)}\n`;
  assert.throws(() => compile([{ file: 'deep.rego', text }]), (e: unknown) => e instanceof RegoErrors && e.errors[0]!.code === ErrorCodes.parse);
});

test('a 50 MB policy is refused with a clear parse error', () => {
  const text = 'package huge\n' + '# padding\n'.repeat(5 * 1024 * 1024);
  assert.throws(() => compile([{ file: 'huge.rego', text }]), (e: unknown) => e instanceof RegoErrors && /module too large/.test(e.errors[0]!.message));
});

test('a large policy compiles in bounded time', () => {
  const rules = Array.from({ length: 20000 }, (_, i) => `r${i} if input.x == ${i}\n`).join('');
  const t0 = Date.now();
  const p = compile([{ file: 'big.rego', text: `package big\n${rules}` }]);
  assert.equal(p.evaluate('x = data.big.r42', { input: fromJS({ x: 42 }) }).length, 1);
  assert.ok(Date.now() - t0 < 10000);
});

test('unbounded recursion and runaway iteration stop with an error', () => {
  assert.throws(() => compile([{ file: 'r.rego', text: 'package r\nf(x) := f(x + 1)\n' }]), (e: unknown) => e instanceof RegoErrors && e.errors[0]!.code === ErrorCodes.recursion);
  const p = compile([{ file: 'r.rego', text: 'package r\nbig := [[a, b, c] | some a in numbers.range(1, 1000); some b in numbers.range(1, 1000); some c in numbers.range(1, 1000)]\n' }]);
  assert.throws(() => p.evaluate('x = data.r.big', { timeoutMs: 200 }), (e: unknown) => e instanceof RegoError && e.code === ErrorCodes.evalCancel);
});

test('catastrophic regexes are refused instead of hanging', () => {
  const p = compile([{ file: 'x.rego', text: 'package x\np := regex.match("(a+)+$", concat("", [concat("", array.reverse([x | some x in numbers.range(1, 40); x > 0; true]) ), "!"]))\nq := regex.match("(a+)+b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!")\n' }]);
  const t0 = Date.now();
  assert.deepEqual(p.evaluate('x = data.x.q'), []);
  assert.ok(Date.now() - t0 < 1000);
  assert.throws(() => p.evaluate('x = data.x.q', { strict: true }), (e: unknown) => e instanceof RegoError && e.code === ErrorCodes.evalBuiltin);
});

test('deeply nested input is refused clearly; nested input within limits evaluates', () => {
  const nest = (n: number): unknown => {
    let doc: unknown = 1;
    for (let i = 0; i < n; i++) doc = { a: doc };
    return doc;
  };
  assert.throws(() => fromJS(nest(5000)), NestingError);
  const p = compile([{ file: 'x.rego', text: 'package x\nimport rego.v1\np if input.a.a.a\nn := count([1 | walk(input, _)])\n' }]);
  const input = fromJS(nest(500));
  assert.equal(p.evaluate('x = data.x.p', { input }).length, 1);
  assert.equal(p.evaluate('x = data.x.n', { input, timeoutMs: 5000 }).length, 1);
});

test('walk over a huge document stops at the time budget', () => {
  const big: Record<string, unknown> = {};
  for (let i = 0; i < 200000; i++) big[`k${i}`] = { a: [i, i + 1], b: { c: i } };
  const p = compile([{ file: 'w.rego', text: 'package w\nimport rego.v1\nn := count([1 | walk(input, [_, v]); is_number(v); v < 0])\n' }]);
  // the cancel error is the evidence that the budget, not the document's end, stopped it (no timed assertion: the machine may be loaded)
  assert.throws(() => p.evaluate('x = data.w.n', { input: fromJS(big), timeoutMs: 100 }), (e: unknown) => e instanceof RegoError && e.code === ErrorCodes.evalCancel);
});
