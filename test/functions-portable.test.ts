/**
 * A function is a plain WASI preview1 command: the same shipped `.wasm` gives
 * the same output in the node's own sandbox host and under two independent
 * WASI hosts, Node's `node:wasi` (libuv's uvwasi, in C) and Wasmer's
 * (`@wasmer/wasi`, Wasmer's Rust WASI compiled to Wasm). wasmtime and
 * WasmEdge cannot be installed on our build machines; these two stand in for
 * "any standard host".
 */
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WASI as NodeWasi } from 'node:wasi';
import { init as wasmerInit, WASI as WasmerWasi } from '@wasmer/wasi';
import { admin, ecgObservation, runtime, shipped } from './functions-support.ts';

const dir = mkdtempSync(join(tmpdir(), 'telemed-fn-portable-'));
const rt = runtime();
after(async () => {
  await rt.close();
  rmSync(dir, { recursive: true, force: true });
});

const CASES: { name: string; input: object; check: (out: Record<string, unknown>) => void }[] = [
  {
    name: 'news2',
    input: { respiratoryRate: 25, spo2: 91, onOxygen: false, systolicBP: 95, heartRate: 115, consciousness: 'A', temperature: 38.5 },
    check: (out) => assert.deepEqual([out.score, out.risk], [11, 'high']),
  },
  {
    name: 'ecg-hr',
    input: ecgObservation({ bpm: 75 }).resource,
    check: (out) => assert.ok(Math.abs((out.heartRate as number) - 75) <= 1, `heart rate ${String(out.heartRate)}, expected 75`),
  },
  {
    name: 'deidentify',
    input: {
      resourceType: 'Observation', id: 'hr-1', status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }], text: 'HR of Maria Garcia' },
      subject: { reference: 'Patient/ES-4471-2209', display: 'Maria Garcia' },
      effectiveDateTime: '2026-11-25T10:41:07+01:00',
      valueQuantity: { value: 88, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    },
    check: (out) => {
      const text = JSON.stringify(out);
      for (const s of ['Maria', 'ES-4471-2209', '10:41:07']) assert.ok(!text.includes(s), `${s} survived: ${text}`);
      assert.match(text, /8867-4/);
    },
  },
];

/** Runs a command module under node:wasi with stdin and stdout as files. */
async function underNodeWasi(bytes: Uint8Array, input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const [inFile, outFile, errFile] = ['in.json', 'out.json', 'err.txt'].map((f) => join(dir, f)) as [string, string, string];
  writeFileSync(inFile, input);
  const stdin = openSync(inFile, 'r');
  const stdout = openSync(outFile, 'w');
  const stderr = openSync(errFile, 'w');
  try {
    const wasi = new NodeWasi({ version: 'preview1', stdin, stdout, stderr, returnOnExit: true });
    const instance = await WebAssembly.instantiate(new WebAssembly.Module(bytes), wasi.getImportObject() as WebAssembly.Imports);
    return { code: wasi.start(instance), stdout: readFileSync(outFile, 'utf8'), stderr: readFileSync(errFile, 'utf8') };
  } finally {
    for (const fd of [stdin, stdout, stderr]) closeSync(fd);
  }
}

/** Runs a command module under Wasmer's WASI, stdin and stdout in memory. */
function underWasmer(bytes: Uint8Array, input: string): { code: number; stdout: string; stderr: string } {
  const wasi = new WasmerWasi({ args: [], env: {} });
  try {
    wasi.setStdinString(input);
    const instance = wasi.instantiate(new WebAssembly.Module(bytes), {});
    return { code: wasi.start(instance), stdout: wasi.getStdoutString(), stderr: wasi.getStderrString() };
  } finally {
    wasi.free();
  }
}

describe('shipped functions run unchanged under other WASI hosts', () => {
  before(async () => {
    await wasmerInit();
    for (const c of CASES) await rt.register(admin, c.name, await shipped(c.name));
  });

  for (const c of CASES) {
    it(`${c.name}: the node, node:wasi and Wasmer give the same output`, async () => {
      const bytes = await shipped(c.name);
      const input = JSON.stringify(c.input);
      const inNode = (await rt.call(admin, c.name, c.input)).output as Record<string, unknown>;
      c.check(inNode);
      const node = await underNodeWasi(bytes, input);
      assert.equal(node.code, 0);
      assert.deepEqual(JSON.parse(node.stdout), inNode);
      const wasmer = underWasmer(bytes, input);
      assert.equal(wasmer.code, 0);
      assert.deepEqual(JSON.parse(wasmer.stdout), inNode);
    });
  }

  it('a function that fails fails the same way everywhere: exit code 1, its message on stderr, nothing on stdout', async () => {
    const bytes = await shipped('news2');
    for (const run of [await underNodeWasi(bytes, '{"spo2":91}'), underWasmer(bytes, '{"spo2":91}')]) {
      assert.deepEqual([run.code, run.stdout], [1, '']);
      assert.match(run.stderr, /respiratoryRate must be a number/);
    }
  });
});
