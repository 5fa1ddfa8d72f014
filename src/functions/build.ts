/**
 * Builds a function from its AssemblyScript sources (`functions/<name>/index.ts`
 * beside the SDK in `functions/sdk/`) into a WASI preview1 command: `_start`
 * exported, memory exported with a declared maximum, aborts routed to stderr
 * and exit code 134, no `env` import. Uses the AssemblyScript compiler's API
 * in-process; builds are cached by the hash of their sources and options.
 */
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BuildOptions {
  /** The most 64 KiB pages the module's memory may grow to (declared in the binary). Default 256 (16 MiB). */
  maxMemoryPages?: number;
  /** AssemblyScript runtime: `stub` (bump allocator, never frees: smallest, fastest start) or `incremental` (GC). */
  runtime?: 'stub' | 'incremental' | 'minimal';
  /** Where builds are cached; `false` turns the cache off. Default: `<tmpdir>/telemed-edge-fn-cache`. */
  cacheDir?: string | false;
}

export class BuildError extends Error {
  override readonly name = 'BuildError';
}

/** The shipped functions' folder (`functions/` at the repository root). */
export const FUNCTIONS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../functions');

function sourcesOf(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.ts')).sort().map((f) => join(dir, f));
}

/**
 * The SHA-256 of a function's sources and the SDK's (names and contents): what
 * a prebuilt module was built from, so a stale one is told apart.
 */
export function sourcesDigest(dir: string): string {
  const fnDir = resolve(dir);
  const base = dirname(fnDir);
  const hash = createHash('sha256');
  for (const file of [...sourcesOf(fnDir), ...sourcesOf(join(base, 'sdk'))]) hash.update(file.slice(base.length)).update('\0').update(readFileSync(file));
  return hash.digest('hex');
}

/** Compiles the function in `dir` and returns the module's bytes. Throws {@link BuildError} with the compiler's diagnostics. */
export async function buildFunction(dir: string, o: BuildOptions = {}): Promise<Uint8Array> {
  const fnDir = resolve(dir);
  const base = dirname(fnDir);
  const name = basename(fnDir);
  const sdkDir = join(base, 'sdk');
  if (!existsSync(join(fnDir, 'index.ts'))) throw new BuildError(`${fnDir}/index.ts not found: a function's entry is index.ts`);
  if (!existsSync(join(sdkDir, 'wasi.ts'))) throw new BuildError(`no SDK at ${sdkDir}: a function lives beside the SDK and imports it as "../sdk"`);
  const pages = o.maxMemoryPages ?? 256;
  let wasm: Uint8Array;
  const args = [
    `${name}/index.ts`, '--baseDir', base,
    '--runtime', o.runtime ?? 'stub',
    '--exportStart', '_start',
    '--use', 'abort=sdk/wasi/abort',
    '--use', 'seed=sdk/wasi/seed',
    '--initialMemory', '1', '--maximumMemory', String(pages),
    '--optimizeLevel', '3', '--shrinkLevel', '1', '--noAssert',
    '-o', `${name}.wasm`,
  ];

  let ascUrl: string;
  try {
    ascUrl = import.meta.resolve('assemblyscript/asc');
  } catch {
    throw new BuildError('the AssemblyScript compiler is not installed: npm install -D assemblyscript');
  }
  const ascVersion = (JSON.parse(readFileSync(new URL('../package.json', ascUrl), 'utf8')) as { version: string }).version;
  const hash = createHash('sha256').update(JSON.stringify(args)).update(ascVersion);
  for (const file of [...sourcesOf(fnDir), ...sourcesOf(sdkDir)]) hash.update(file.slice(base.length)).update(readFileSync(file));
  const key = hash.digest('hex').slice(0, 32);
  const cacheDir = o.cacheDir === false ? undefined : (o.cacheDir ?? join(tmpdir(), 'telemed-edge-fn-cache'));
  const cached = cacheDir ? join(cacheDir, `${name}-${key}.wasm`) : undefined;
  if (cached && existsSync(cached)) return new Uint8Array(readFileSync(cached));

  // The compiler runs in a plain child process: loaded through a TypeScript
  // loader its 10 MB of JavaScript take seconds longer to import.
  const outDir = mkdtempSync(join(tmpdir(), 'telemed-fn-build-'));
  try {
    const outFile = join(outDir, `${name}.wasm`);
    const argv = [...args.slice(0, -1), outFile];
    const { code, stderr } = await runCompiler(ascUrl, argv);
    if (code !== 0 || !existsSync(outFile)) throw new BuildError(`asc failed for ${name}:\n${stderr.trim()}`);
    wasm = new Uint8Array(readFileSync(outFile));
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
  if (cached && cacheDir) {
    mkdirSync(cacheDir, { recursive: true });
    const tmp = `${cached}.${process.pid}.tmp`;
    writeFileSync(tmp, wasm);
    renameSync(tmp, cached);
  }
  return wasm;
}

const COMPILER = `const { default: asc } = await import(process.env.ASC_URL);
const r = await asc.main(JSON.parse(process.env.ASC_ARGS), { stdout: process.stderr, stderr: process.stderr });
process.exitCode = r.error ? 1 : 0;`;

function runCompiler(ascUrl: string, argv: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', COMPILER], {
      env: { ...process.env, ASC_URL: ascUrl, ASC_ARGS: JSON.stringify(argv), NODE_OPTIONS: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? 1, stderr }));
  });
}
