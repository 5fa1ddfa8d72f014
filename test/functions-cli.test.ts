/**
 * `telemed-edge fn build | run`, and the built module's portability: the
 * same news2.wasm runs under Node's own WASI implementation (node:wasi, a
 * second, independent preview1 host) with the same output.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { WASI } from 'node:wasi';
import { shipped } from './functions-support.ts';

const dir = mkdtempSync(join(tmpdir(), 'telemed-fn-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const BIN = new URL('../bin/telemed-edge.js', import.meta.url).pathname;
const EXAMPLE = '{"respiratoryRate":25,"spo2":91,"onOxygen":false,"systolicBP":95,"heartRate":115,"consciousness":"A","temperature":38.5}';

const cli = (args: string[], input = '') => spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', timeout: 120_000 });

describe('telemed-edge fn', () => {
  it('builds news2 and runs it on stdin', () => {
    const out = join(dir, 'news2.wasm');
    const built = cli(['fn', 'build', 'functions/news2', '-o', out]);
    assert.equal(built.status, 0, built.stderr);
    const run = cli(['fn', 'run', out], EXAMPLE);
    assert.equal(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { score: number; risk: string };
    assert.deepEqual([result.score, result.risk], [11, 'high']);
  });

  it('exits 1 with the error code and the function message on bad input', async () => {
    const file = join(dir, 'news2-shipped.wasm');
    writeFileSync(file, await shipped('news2'));
    const run = cli(['fn', 'run', file], '{"spo2":91}');
    assert.equal(run.status, 1);
    assert.match(run.stderr, /FN_ERR_EXIT.*respiratoryRate must be a number/);
  });

  it('checks a module as the node would, naming a forbidden import', async () => {
    const { wat } = await import('./functions-support.ts');
    const file = join(dir, 'fetcher.wasm');
    writeFileSync(file, await wat('(module (import "env" "fetch" (func (param i32) (result i32))) (memory (export "memory") 1 1) (func (export "_start")))'));
    const r = cli(['fn', 'check', file]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /FN_ERR_FORBIDDEN_IMPORT.*env\.fetch/);
  });

  it('exits 2 with usage on a missing argument', () => {
    const r = cli(['fn', 'build', 'functions/news2']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /-o <file.wasm>/);
  });

  it('produces a module that runs unchanged under node:wasi', async () => {
    const inFile = join(dir, 'in.json');
    const outFile = join(dir, 'out.json');
    writeFileSync(inFile, EXAMPLE);
    const stdin = openSync(inFile, 'r');
    const stdout = openSync(outFile, 'w');
    try {
      const wasi = new WASI({ version: 'preview1', stdin, stdout, returnOnExit: true });
      const instance = await WebAssembly.instantiate(new WebAssembly.Module(await shipped('news2')), wasi.getImportObject() as WebAssembly.Imports);
      assert.equal(wasi.start(instance), 0);
    } finally {
      closeSync(stdin);
      closeSync(stdout);
    }
    const result = JSON.parse(readFileSync(outFile, 'utf8')) as { score: number; risk: string };
    assert.deepEqual([result.score, result.risk], [11, 'high']);
  });
});
