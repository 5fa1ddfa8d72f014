/**
 * The compiled fast path against the general evaluator: for the seed, the
 * shipped bundle and policies using every construct the fast path compiles,
 * over generated inputs (missing members, wrong types, null, numbers against
 * strings, arrays, bigints, Maps, null-prototype objects, hostile getters),
 * both must give the same decision, or the same error. A fast path that
 * differs is a security bug.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readdirSync, readFileSync } from 'node:fs';
import { bundleFromFiles } from '../bundle.ts';
import { RegoPolicy } from '../rego-policy.ts';
import { fromJS } from './value.ts';
import { SEED } from './seed.fixture.ts';

const SHIPPED_DIR = new URL('../../../policies/healthcare/', import.meta.url);
const SHIPPED = readdirSync(SHIPPED_DIR)
  .filter((f) => f.endsWith('.rego') && !f.endsWith('_test.rego'))
  .map((f) => ({ path: f, text: readFileSync(new URL(f, SHIPPED_DIR), 'utf8') }));

/** Every operator, collection and local the fast path compiles, in one decision. */
const OPERATORS = `package healthcare.telemedicine
import rego.v1

default allow := false

level := 3 if input.user.role == "admin"
level := 1 if input.user.role == "patient"
level := 3 if input.user.tier >= 2

default tier_name := "none"
tier_name := "gold" if input.user.tier > 5

limits := {"max": 100}
letters := ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]

allow if { level > 2; input.action != "data_transfer" }
allow if { input.amount < 100; input.amount >= 0.5; input.currency in {"EUR", "USD", null, 1, true} }
allow if { input.user.id == input.patient.id; not input.patient.locked }
allow if { input.user.role in input.allowed_roles }
allow if { "admin" in input.user.roles }
allow if { tier_name == "gold"; input.action in letters }
allow if { x := input.user; x.role == "staff"; x.dept != input.patient.dept }
allow if { some r in input.user.roles; r == "clinician"; input.patient.consent }
allow if { some k, v in input.flags; k == "override"; v == true }
allow if { some r in {"nurse", "doctor"}; input.user.role == r; input.n > 0 }
allow if { input.n <= 3; input.n != 2; input.s > "m" }
allow if { input.x = 5 }
allow if input.obj == {"a": 1}
allow if input.arr != ["x"]
allow if { input.user.tier < level; input.user.tier != null }
allow if { input.user in [{"role": "x"}, "u", 2] }
allow if { input.nothing == null; input.s <= input.t }
allow if { input.__proto__.role == "admin" }
allow if { input.toString == "x" }

deny if input.blocked
deny if { input.user.role == "patient"; input.action in {"write_record", "share_document"}; not input.patient }

reason := "blocked" if {
	deny
} else := 7 if {
	input.code == 7
} else := "ok" if {
	allow
} else := null if {
	input.nullreason
} else := "default"
`;

/** One construct per policy (a single allow rule, so no other rule masks a wrong answer); helpers as in OPERATORS. */
const CONSTRUCTS = [
  'input.nothing == null',
  'input.nothing != null',
  'not input.nothing',
  'input.x = 5',
  'input.x == 5.0',
  'input.x != 5',
  'input.amount < 100',
  'input.amount >= 0.5',
  'input.n <= 3',
  'input.n > input.amount',
  'input.s > "m"',
  'input.s <= input.t',
  'input.currency in {"EUR", "USD", null, 1, true}',
  'input.action in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]',
  'input.user in [{"role": "x"}, "u", 2]',
  'input.obj == {"a": 1}',
  'input.arr != ["x"]',
  'input.user.id == input.patient.id',
  'input.user.id != input.patient.id',
  'input.user.role in input.allowed_roles',
  'not input.user.role in input.allowed_roles',
  '"admin" in input.user.roles',
  'null in input.allowed_roles',
  '{ x := input.user; x.role == "staff"; x.dept != input.patient.dept }',
  '{ some r in input.user.roles; r == "clinician" }',
  '{ some r in input.allowed_roles; r == null }',
  '{ some k, v in input.flags; k == "override"; not v }',
  '{ some k, v in input.flags; v == true; k != "other" }',
  '{ some i, r in input.user.roles; i == 1; r == "admin" }',
  '{ some r in {"nurse", "doctor"}; input.user.role == r }',
  '{ level > 2 }',
  '{ level == 1 }',
  '{ tier_name == "gold" }',
  '{ input.user.tier < level }',
  '{ input.__proto__.role == "admin" }',
  '{ input.toString == "x" }',
  '{ input.constructor }',
  'input.user.role',
  'input',
];

/** Values of different types under one rule, conflicts, non-boolean allow/deny, a reason that is no string. */
const CONFLICTS = `package healthcare.telemedicine
import rego.v1

deny if input.blocked
deny := "yes" if input.weird == 1

allow := 1 if input.one
allow if input.two
allow if input.three == true

default reason := 5
reason := "r" if input.r
`;

/** Pools of values, good and hostile, per member. */
const junk = (): unknown[] => [
  undefined, null, true, false, 0, -0, 1, 2, 3, 1.5, 7, 100, 2 ** 60, NaN, 5n, 2n ** 70n, '', 'a', 'z', '3', 'true', 'admin',
  [], ['admin'], ['x'], ['a', null, undefined], {}, { a: 1 }, { role: 'x' }, Object.create(null), new Map([['role', 'admin']]), () => 1,
];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Hostile {
  id = 'Patient/1';
  get role(): string {
    throw new Error('a getter that throws');
  }
}

function nullProto(o: Record<string, unknown>): object {
  return Object.assign(Object.create(null) as object, o);
}

/** A generated input: realistic members, each sometimes absent, of the wrong type, or replaced by an odd object. */
function generate(r: () => number): Record<string, unknown> {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  // from well-formed to hostile: the share of odd members varies per input
  const odd = r() * r() * 0.6;
  const maybe = (good: unknown[]): unknown => (r() < odd ? pick(junk()) : r() < 0.5 ? good[0] : pick(good));
  const obj = (o: Record<string, unknown>): unknown => {
    const x = r() * (0.3 + odd * 2);
    if (x < 0.3) return o;
    if (x < 0.82) return nullProto(o);
    if (x < 0.86) return new Map(Object.entries(o));
    if (x < 0.88) return new Hostile();
    return pick(junk());
  };
  const user = obj({
    id: maybe(['Patient/1', 'Patient/2', 'Practitioner/1', 5, 5n, 5.5, null]),
    role: maybe(['authorized_medical_staff', 'patient', 'admin', 'staff', 'nurse', 'doctor']),
    roles: maybe([['clinician'], ['admin', 'x'], [], ['clinician', 'admin'], { a: 'admin' }, ['x', 'admin']]),
    tier: maybe([0, 1, 2, 3, 6, '6', null]),
    dept: maybe(['cardio', 'onco']),
  });
  const patient = obj({ id: maybe(['Patient/1', 'Patient/2', 5, 5n, null]), consent: maybe([true, false]), locked: maybe([true, false]), dept: maybe(['cardio', 'onco']) });
  const input: Record<string, unknown> = {
    action: maybe(['video_call', 'data_transfer', 'read_record', 'write_record', 'share_document', 'stream_vitals', 'run_function', 'join_waiting_room', 'a', 'j']),
    user,
    patient: r() < 0.15 ? undefined : patient,
    data_stays_local: maybe([true, false]),
    destination: maybe(['local', 'hub']),
    resource: obj({ type: maybe(['AuditEvent', 'Observation']), operation: maybe(['call', 'list', 'delete']), classification: maybe(['phi', 'deidentified']) }),
    amount: maybe([0, 0.5, 0.4, 99.9, 100, 5n]),
    currency: maybe(['EUR', 'USD', 'GBP', null, 1, true]),
    allowed_roles: maybe([['admin', 'staff'], { x: 'patient', y: undefined }, ['patient', null], [undefined, 'admin'], [[], {}]]),
    flags: maybe([{ override: true }, { override: false, other: true }, [true], { override: undefined }]),
    n: maybe([0, 1, 2, 3, 4, -1, NaN, 5n]),
    s: maybe(['a', 'n', 'zz', 'm']),
    t: maybe(['a', 'n', 'zz']),
    x: maybe([5, 5.0, '5', 5n]),
    obj: maybe([{ a: 1 }, { a: 2 }, { a: 1, b: 2 }]),
    arr: maybe([['x'], ['y'], []]),
    blocked: maybe([false, true]),
    nothing: maybe([null, false, () => 1, Symbol('s')]),
    code: maybe([8, 7]),
    list: maybe([[null], [undefined], ['a', undefined], []]),
    nullreason: maybe([false, true]),
    weird: maybe([2, 1]),
    one: maybe([false, true]),
    two: maybe([false, true]),
    three: maybe([true, false]),
    r: maybe([false, true]),
  };
  for (const k of Object.keys(input)) if (r() < odd / 3) delete input[k];
  const x = r();
  if (x < 0.03) return JSON.parse('{"__proto__": {"role": "admin"}, "toString": "x", "constructor": 1}') as Record<string, unknown>;
  if (x < 0.06) return pick(junk()) as Record<string, unknown>;
  return input;
}

type Outcome = { allow: boolean; reason: string } | { error: string };

function outcome(f: () => { allow: boolean; reason: string }): Outcome {
  try {
    const d = f();
    return { allow: d.allow, reason: d.reason };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

function differential(name: string, files: { path: string; text: string }[], n: number, seed: number, minCompiled = 0.6): Map<string, number> {
  const p = new RegoPolicy(bundleFromFiles(files));
  assert.ok(p.fastSource, `${name}: the decision compiles to the fast path`);
  const r = rng(seed);
  const seen = new Map<string, number>();
  let compiledCount = 0;
  for (let i = 0; i < n; i++) {
    const input = generate(r);
    const fast = outcome(() => p.decide(input));
    const slow = outcome(() => p.decideRaw(fromJS(input)));
    assert.deepEqual(fast, slow, `${name}: input #${i} ${describe(input)}`);
    const compiled = p.decideCompiled(input);
    if (compiled !== undefined) {
      compiledCount++;
      assert.deepEqual({ allow: compiled.allow, reason: compiled.reason }, slow, `${name}: compiled, input #${i} ${describe(input)}`);
    }
    const key = 'error' in fast ? 'error' : `${fast.allow}/${fast.reason}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  if (process.env.FASTPATH_DEBUG) console.log(name, compiledCount, [...seen]);
  // most inputs are decided by the generated code itself (the rest are handed over: Maps, hostile getters, deep comparisons, conflicts)
  assert.ok(compiledCount >= n * minCompiled, `${name}: ${compiledCount} of ${n} inputs decided by the compiled code`);
  return seen;
}

function describe(x: unknown): string {
  return JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Map ? { Map: [...v] } : typeof v === 'function' ? 'fn' : Number.isNaN(v) ? 'NaN' : v));
}

test('the seed policy: the fast path decides exactly like the evaluator', () => {
  const seen = differential('seed', [{ path: 'seed.rego', text: SEED }], 3000, 1);
  assert.ok((seen.get('true/policy_allow') ?? 0) > 0 && (seen.get('false/policy_deny') ?? 0) > 0, `both allows and denies occur: ${[...seen]}`);
});

test('the shipped bundle (helpers, in, not, else chain of reasons) compiles and decides exactly like the evaluator', () => {
  const seen = differential('shipped', SHIPPED, 6000, 2);
  assert.ok(seen.size >= 5, `several outcomes occur: ${[...seen]}`);
});

test('every compiled construct (comparisons, in, some, locals, rule values, else) decides exactly like the evaluator', () => {
  const seen = differential('operators', [{ path: 'ops.rego', text: OPERATORS }], 8000, 3);
  assert.ok(seen.size >= 4, `several outcomes occur: ${[...seen]}`);
});

test('each construct alone (no other rule to mask a wrong answer) decides exactly like the evaluator', () => {
  const helpers = OPERATORS.slice(OPERATORS.indexOf('level :='), OPERATORS.indexOf('allow if'));
  CONSTRUCTS.forEach((body, i) => {
    const text = `package healthcare.telemedicine\nimport rego.v1\n${helpers}\nallow if ${body}\n`;
    // comparisons of two collections are handed to the evaluator by design
    const deep = /== \{|!= \[|in \[\{/.test(body);
    const seen = differential(`construct ${body}`, [{ path: 'c.rego', text }], 700, 100 + i, deep ? 0 : 0.6);
    assert.ok(seen.size >= 2 || body === 'input', `${body}: both outcomes occur: ${[...seen]}`);
  });
});

test('conflicting rule values give the same error on both paths; non-boolean allow and reasons agree', () => {
  const seen = differential('conflicts', [{ path: 'c.rego', text: CONFLICTS }], 3000, 4);
  assert.ok((seen.get('error') ?? 0) > 0, `conflicts occur: ${[...seen]}`);
});

test('a policy beyond the fast path (a builtin call) is decided by the evaluator', () => {
  const p = new RegoPolicy(bundleFromFiles([{ path: 'p.rego', text: 'package healthcare.telemedicine\nimport rego.v1\nallow if startswith(input.user.id, "Practitioner/")\n' }]));
  assert.equal(p.fastSource, undefined);
  assert.equal(p.decide({ user: { id: 'Practitioner/1' } }).allow, true);
  assert.equal(p.decide({ user: { id: 'Patient/1' } }).allow, false);
});

test('inputs that are not plain data take the general path', () => {
  const p = new RegoPolicy(bundleFromFiles([{ path: 'seed.rego', text: SEED }]));
  const user = new Map([['role', 'authorized_medical_staff']]);
  const input = { action: 'video_call', user, patient: { consent: true }, data_stays_local: true };
  assert.equal(p.decide(input).allow, true);
});

test('a fast decision is a shared, frozen object', () => {
  const p = new RegoPolicy(bundleFromFiles(SHIPPED));
  const input = { action: 'video_call', user: { id: 'P/1', role: 'authorized_medical_staff' }, patient: { id: 'Patient/1', consent: true }, data_stays_local: true, destination: 'local' };
  const a = p.decide(input);
  assert.deepEqual(a, { allow: true, reason: 'allowed' });
  assert.ok(Object.isFrozen(a));
  assert.equal(p.decide({ ...input }), a);
});
