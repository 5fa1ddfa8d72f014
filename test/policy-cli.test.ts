/** `telemed-edge policy eval / check` as a user sees them. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { policyCommand } from '../src/cli/policy.ts';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const w = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  let out = '';
  let err = '';
  process.stdout.write = ((c: string) => ((out += c), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string) => ((err += c), true)) as typeof process.stderr.write;
  try {
    return { code: await policyCommand.run(args), out, err };
  } finally {
    process.stdout.write = w;
    process.stderr.write = e;
  }
}

const dir = mkdtempSync(path.join(tmpdir(), 'policy-cli-'));
writeFileSync(path.join(dir, 'p.rego'), 'package app\nimport rego.v1\nallow if input.user == "alice"\nusers contains u if some u in data.users\n');
writeFileSync(path.join(dir, 'data.json'), '{"users": ["alice", "bob"]}');
writeFileSync(path.join(dir, 'input.json'), '{"user": "alice"}');

test('policy eval prints opa eval --format json results with expressions and bindings', async () => {
  const r = await run(['eval', '-d', dir, '-i', path.join(dir, 'input.json'), 'x := data.app.users; data.app.allow']);
  assert.equal(r.code, 0, r.err);
  const json = JSON.parse(r.out) as { result: { expressions: { value: unknown; text: string }[]; bindings: Record<string, unknown> }[] };
  assert.deepEqual(json.result[0]!.bindings, { x: ['alice', 'bob'] });
  assert.deepEqual(json.result[0]!.expressions.map((x) => [x.text, x.value]), [['x := data.app.users', true], ['data.app.allow', true]]);
});

test('policy eval prints {} when the query is undefined', async () => {
  const r = await run(['eval', '-d', dir, 'data.app.allow']);
  assert.equal(r.code, 0);
  assert.equal(r.out.trim(), '{}');
});

test('policy check reports each error with file:line:col and its code, and fails', async () => {
  const bad = mkdtempSync(path.join(tmpdir(), 'policy-bad-'));
  writeFileSync(path.join(bad, 'a.rego'), 'package a\nimport rego.v1\np if nope(1)\nq if { count(x) > 1 }\n');
  const r = await run(['check', bad]);
  assert.equal(r.code, 1);
  assert.match(r.err, /a\.rego:3:\d+: rego_type_error: undefined function nope/);
  assert.match(r.err, /a\.rego:4:\d+: rego_unsafe_var_error: var x is unsafe/);
});
