import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compile, ErrorCodes, RegoError, RegoErrors, toJS } from './index.ts';
import { fromJS } from './value.ts';
import { SEED } from './seed.fixture.ts';

const evalOne = (src: string, query: string, input?: unknown): unknown => {
  const rows = compile([{ file: 'p.rego', text: src }]).evaluate(query, { input: input === undefined ? undefined : fromJS(input) });
  return rows.length ? toJS(rows[0]!.get('x')!) : undefined;
};

test('seed policy: a clinician video call with consent and local data is allowed', () => {
  const input = { action: 'video_call', user: { role: 'authorized_medical_staff' }, patient: { consent: true }, data_stays_local: true };
  assert.equal(evalOne(SEED, 'x = data.healthcare.telemedicine.allow', input), true);
  assert.equal(evalOne(SEED, 'x = data.healthcare.telemedicine.allow', { ...input, data_stays_local: false }), false);
  assert.equal(evalOne(SEED, 'x = data.healthcare.telemedicine.deny', input), undefined);
  assert.equal(evalOne(SEED, 'x = data.healthcare.telemedicine.deny', { action: 'data_transfer', destination: 'hub' }), true);
});

test('partial sets, partial objects, functions with several bodies, else', () => {
  const src = `package t
import rego.v1
s contains x if some x in [1, 2, 2, 3]
o[k] := v if some k, v in {"a": 1, "b": 2}
f(1) := "one"
f(x) := "many" if x > 1
g(x) := "pos" if { x > 0 } else := "neg"
`;
  assert.deepEqual(evalOne(src, 'x = data.t.s'), [1, 2, 3]);
  assert.deepEqual(evalOne(src, 'x = data.t.o'), { a: 1, b: 2 });
  assert.equal(evalOne(src, 'x = data.t.f(3)'), 'many');
  assert.equal(evalOne(src, 'x = data.t.f(1)'), 'one');
  assert.equal(evalOne(src, 'x = data.t.g(-1)'), 'neg');
});

test('big integers stay exact', () => {
  assert.equal(evalOne('package t\n', 'x = 9007199254740993 + 1'), 9007199254740994n);
});

test('conflicting complete rule values raise eval_conflict_error', () => {
  const p = compile([{ file: 'p.rego', text: 'package t\np := 1\np := 2\n' }]);
  assert.throws(() => p.evaluate('x = data.t.p'), (e: unknown) => e instanceof RegoError && e.code === ErrorCodes.evalConflict);
});

test('an unknown builtin is a compile error naming it', () => {
  assert.throws(
    () => compile([{ file: 'p.rego', text: 'package t\np if no_such_fn(1)\n' }]),
    (e: unknown) => e instanceof RegoErrors && e.errors.some((x) => x.message.includes('no_such_fn') && x.loc?.row === 2),
  );
});

test('a syntax error reports rego_parse_error with file:line:col', () => {
  assert.throws(
    () => compile([{ file: 'bad.rego', text: 'package t\n\np if {\n  x := [1, 2\n}\n' }]),
    (e: unknown) => e instanceof RegoErrors && e.errors[0]!.code === ErrorCodes.parse && e.errors[0]!.format().startsWith('bad.rego:5:'),
  );
});

test('with replaces input, data and builtins', () => {
  const src = `package t
import rego.v1
p if input.x == 1
q := count([1, 2])
mock(_) := 42
r := y if y := q with count as mock
s := y if y := data.t.p with input as {"x": 1}
`;
  assert.equal(evalOne(src, 'x = data.t.r'), 42);
  assert.equal(evalOne(src, 'x = data.t.s'), true);
  assert.equal(evalOne(src, 'x = data.t.q'), 2);
});

test('every, not, comprehensions and set operators', () => {
  const src = `package t
import rego.v1
all_pos if every v in [1, 2, 3] { v > 0 }
none_neg if not some_neg
some_neg if { some v in [1, 2]; v < 0 }
sq := {y | some v in [1, 2, 3]; y := v * v}
u := {1, 2} | {3}
`;
  assert.equal(evalOne(src, 'x = data.t.all_pos'), true);
  assert.equal(evalOne(src, 'x = data.t.none_neg'), true);
  assert.deepEqual(evalOne(src, 'x = data.t.sq'), [1, 4, 9]);
  assert.deepEqual(evalOne(src, 'x = data.t.u'), [1, 2, 3]);
});

test('a variable no expression can bind is rego_unsafe_var_error at compile time', () => {
  assert.throws(
    () => compile([{ file: 'u.rego', text: 'package t\nimport rego.v1\np if {\n  count(x) > 0\n}\n' }]),
    (e: unknown) => e instanceof RegoErrors && e.errors.some((x) => x.code === ErrorCodes.unsafeVar && x.message === 'var x is unsafe' && x.loc?.row === 4),
  );
});

test('rules that depend on themselves are rego_recursion_error at compile time', () => {
  assert.throws(
    () => compile([{ file: 'r.rego', text: 'package t\nimport rego.v1\np if q\nq if p\nf(x) := f(x)\n' }]),
    (e: unknown) => e instanceof RegoErrors && e.errors.filter((x) => x.code === ErrorCodes.recursion).length === 2,
  );
});

test('calling a builtin with the wrong number of arguments is a rego_type_error', () => {
  assert.throws(
    () => compile([{ file: 'a.rego', text: 'package t\nimport rego.v1\np if count(1, 2, 3)\n' }]),
    (e: unknown) => e instanceof RegoErrors && e.errors[0]!.code === ErrorCodes.type && e.errors[0]!.message.includes('count'),
  );
});

test('assigning a variable twice in one body is a rego_compile_error', () => {
  assert.throws(
    () => compile([{ file: 'a.rego', text: 'package t\nimport rego.v1\np if {\n  x := 1\n  x := 2\n}\n' }]),
    (e: unknown) => e instanceof RegoErrors && e.errors[0]!.message === 'var x assigned above' && e.errors[0]!.loc?.row === 5,
  );
});

test('v0 rule bodies without `if` are refused, as OPA 1.x does', () => {
  assert.throws(
    () => compile([{ file: 'v0.rego', text: 'package t\np { true }\n' }]),
    (e: unknown) => e instanceof RegoErrors && e.errors[0]!.code === ErrorCodes.parse && /`if` keyword is required/.test(e.errors[0]!.message),
  );
});

test('p[key] evaluates only the rules that can produce that key', () => {
  const p = compile([{ file: 'k.rego', text: 'package t\nimport rego.v1\np[k] := 1 if k := "a"\np[k] := 2 if k := "b"\np[k] := 3 if k := "b"\nq := p.a\n' }]);
  assert.deepEqual(toJS(p.evaluate('x = data.t.q')[0]!.get('x')!), 1);
  assert.throws(() => p.evaluate('x = data.t.p'), (e: unknown) => e instanceof RegoError && e.code === ErrorCodes.evalConflict);
});
