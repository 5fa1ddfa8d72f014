/**
 * `telemed-edge fn`: build a function from AssemblyScript, check a module the
 * way the node would at registration, or run one locally on stdin, in the
 * same sandbox the node uses.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { buildFunction, BuildError } from '../functions/build.ts';
import { buildShipped, checkModule, DEFAULT_LIMITS, FunctionError, FunctionRegistry, PREBUILT_DIR } from '../functions/index.ts';
import { createLogger } from '../observability/index.ts';
import { parseArgs } from './args.ts';
import type { Command } from './main.ts';

const HELP = `usage:
  telemed-edge fn build <dir> -o <file.wasm> [--max-memory-pages N] [--runtime stub|incremental]
      compile functions/<name>/index.ts (AssemblyScript, beside functions/sdk) to a WASI command
  telemed-edge fn build-shipped [-o <dir>]
      build the shipped functions (news2, ecg-hr, deidentify) into <dir> (default functions/dist/),
      where the node takes them instead of building at start (the OCI image does this)
  telemed-edge fn check <file.wasm> [--memory-pages N]
      check a module as the node does at registration (imports, memory, shape)
  telemed-edge fn run <file.wasm> [--timeout ms] [--memory-pages N] < input.json
      run a function on the JSON document on stdin; its output goes to stdout, its log to stderr

The same .wasm runs unchanged under wasmtime or WasmEdge: wasmtime fn.wasm < input.json
`;

const LOCAL = { id: 'local-cli', role: 'admin' };

function positiveInt(v: string | true | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive whole number`);
  return n;
}

class UsageError extends Error {}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function build(positionals: string[], flags: Record<string, string | true>): Promise<number> {
  const dir = positionals[0];
  const out = flags.o ?? flags.out;
  if (dir === undefined || typeof out !== 'string') throw new UsageError('fn build needs <dir> and -o <file.wasm>');
  const runtime = flags.runtime;
  if (runtime !== undefined && runtime !== 'stub' && runtime !== 'incremental') throw new UsageError('--runtime is stub or incremental');
  const pages = positiveInt(flags['max-memory-pages'], 'max-memory-pages');
  const wasm = await buildFunction(dir, { ...(pages ? { maxMemoryPages: pages } : {}), ...(runtime ? { runtime } : {}), cacheDir: false });
  writeFileSync(out, wasm);
  process.stderr.write(`built ${out} (${wasm.length} bytes)\n`);
  return 0;
}

async function buildAll(flags: Record<string, string | true>): Promise<number> {
  const out = flags.o ?? flags.out;
  if (out === true) throw new UsageError('-o needs a folder');
  for (const file of await buildShipped(out ?? PREBUILT_DIR)) process.stderr.write(`built ${file}\n`);
  return 0;
}

async function check(positionals: string[], flags: Record<string, string | true>): Promise<number> {
  const file = positionals[0];
  if (file === undefined) throw new UsageError('fn check needs <file.wasm>');
  const pages = positiveInt(flags['memory-pages'], 'memory-pages') ?? DEFAULT_LIMITS.memoryPages;
  const bytes = readFileSync(file);
  const checked = await checkModule(bytes, { memoryPages: pages, tableEntries: DEFAULT_LIMITS.tableEntries, moduleBytes: DEFAULT_LIMITS.moduleBytes });
  const imports = WebAssembly.Module.imports(checked.module).map((i) => `${i.module}.${i.name}`);
  process.stdout.write(JSON.stringify({ ok: true, bytes: checked.bytes, memoryPages: checked.memory.maxPages, imports }, null, 2) + '\n');
  return 0;
}

async function run(positionals: string[], flags: Record<string, string | true>): Promise<number> {
  const file = positionals[0];
  if (file === undefined) throw new UsageError('fn run needs <file.wasm>');
  const timeoutMs = positiveInt(flags.timeout, 'timeout');
  const memoryPages = positiveInt(flags['memory-pages'], 'memory-pages');
  const bytes = readFileSync(file);
  const input = await readStdin();
  // Local tooling run by the operator on their own machine: no policy to ask.
  const runtime = new FunctionRegistry({
    logger: createLogger({ level: 'silent' }),
    limits: { workers: 1, ...(timeoutMs ? { timeoutMs } : {}), ...(memoryPages ? { memoryPages } : {}) },
    decide: () => ({ allow: true, reason: 'local_cli' }),
  });
  try {
    const name = basename(file).replace(/\.wasm$/, '').toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+/, '') || 'fn';
    await runtime.register(LOCAL, name.slice(0, 63), bytes);
    const result = await runtime.call(LOCAL, name.slice(0, 63), input.trim() === '' ? 'null' : input);
    if (result.log) process.stderr.write(result.log.endsWith('\n') ? result.log : `${result.log}\n`);
    process.stdout.write(JSON.stringify(result.output) + '\n');
    return 0;
  } finally {
    await runtime.close();
  }
}

export const fnCommand: Command = {
  summary: 'Wasm functions: build, check, run locally',
  async run(args) {
    const { flags, positionals } = parseArgs(args, ['help']);
    const [sub, ...rest] = positionals;
    if (flags.help || sub === undefined) {
      process.stdout.write(HELP);
      return sub === undefined && !flags.help ? 2 : 0;
    }
    try {
      if (sub === 'build') return await build(rest, flags);
      if (sub === 'build-shipped') return await buildAll(flags);
      if (sub === 'check') return await check(rest, flags);
      if (sub === 'run') return await run(rest, flags);
      throw new UsageError(`unknown subcommand '${sub}'`);
    } catch (err) {
      if (err instanceof UsageError) {
        process.stderr.write(`telemed-edge fn: ${err.message}\n\n${HELP}`);
        return 2;
      }
      if (err instanceof FunctionError) {
        process.stderr.write(`telemed-edge fn: ${err.code}: ${err.message}\n`);
        return 1;
      }
      if (err instanceof BuildError || (err as NodeJS.ErrnoException).code === 'ENOENT') {
        process.stderr.write(`telemed-edge fn: ${(err as Error).message}\n`);
        return 1;
      }
      throw err;
    }
  },
};
