/**
 * The functions the node ships with (functions/<name>/): registered at start
 * so other parts can call them by name (the vitals part calls `news2`).
 * Each comes from a prebuilt `<name>.wasm` in {@link PREBUILT_DIR} when one
 * built from today's sources is there (the OCI image builds them with
 * `telemed-edge fn build-shipped` in its build stage, where AssemblyScript,
 * a dev dependency, is installed), else it is built from source, cached by
 * source hash.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildFunction, FUNCTIONS_DIR, sourcesDigest } from './build.ts';
import type { Caller, FunctionInfo, FunctionRegistry } from './registry.ts';

export const SHIPPED_FUNCTIONS = ['news2', 'ecg-hr', 'deidentify'] as const;
export type ShippedFunction = (typeof SHIPPED_FUNCTIONS)[number];

/** Where prebuilt shipped functions are looked for: `functions/dist/` (not in git). */
export const PREBUILT_DIR = join(FUNCTIONS_DIR, 'dist');

export interface ShippedOptions {
  /** A folder of prebuilt `<name>.wasm` (each with `<name>.sources`, the digest of its sources); default {@link PREBUILT_DIR}. */
  prebuiltDir?: string;
  /** The build cache (see BuildOptions.cacheDir). */
  cacheDir?: string | false;
  /** Only these (default: all shipped functions). */
  names?: readonly ShippedFunction[];
}

/** The prebuilt bytes of a shipped function, when they were built from today's sources. */
function prebuilt(name: ShippedFunction, dir: string): Uint8Array | undefined {
  const wasm = join(dir, `${name}.wasm`);
  const digest = join(dir, `${name}.sources`);
  if (!existsSync(wasm) || !existsSync(digest)) return undefined;
  if (readFileSync(digest, 'utf8').trim() !== sourcesDigest(join(FUNCTIONS_DIR, name))) return undefined;
  return new Uint8Array(readFileSync(wasm));
}

/** The bytes of a shipped function: prebuilt when present and current, else built from source. */
export async function shippedModule(name: ShippedFunction, o: Omit<ShippedOptions, 'names'> = {}): Promise<Uint8Array> {
  const ready = prebuilt(name, o.prebuiltDir ?? PREBUILT_DIR);
  if (ready) return ready;
  return buildFunction(join(FUNCTIONS_DIR, name), o.cacheDir === undefined ? {} : { cacheDir: o.cacheDir });
}

/** Builds every shipped function into `dir` (default {@link PREBUILT_DIR}) with its sources' digest; returns the files written. */
export async function buildShipped(dir = PREBUILT_DIR): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const name of SHIPPED_FUNCTIONS) {
    const wasm = await buildFunction(join(FUNCTIONS_DIR, name), { cacheDir: false });
    const file = join(dir, `${name}.wasm`);
    writeFileSync(`${file}.tmp`, wasm);
    renameSync(`${file}.tmp`, file);
    writeFileSync(join(dir, `${name}.sources`), `${sourcesDigest(join(FUNCTIONS_DIR, name))}\n`);
    written.push(file);
  }
  return written;
}

/**
 * Registers the shipped functions as `caller` (the node's own admin
 * principal; the policy is asked as for any registration). Functions build
 * one after another, so a first start without a cache takes seconds per
 * function: call it without awaiting readiness on it.
 */
export async function registerShipped(registry: FunctionRegistry, caller: Caller, o: ShippedOptions = {}): Promise<FunctionInfo[]> {
  const infos: FunctionInfo[] = [];
  for (const name of o.names ?? SHIPPED_FUNCTIONS) {
    infos.push(await registry.register(caller, name, await shippedModule(name, o)));
  }
  return infos;
}
