/**
 * The functions the node ships with (functions/<name>/): registered at start
 * so other parts can call them by name (the vitals part calls `news2`).
 * Each comes from a prebuilt `<name>.wasm` when one is given (an OCI image
 * builds them with `telemed-edge fn build` at image build time), else it is
 * built from source with the AssemblyScript compiler, cached by source hash.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildFunction, FUNCTIONS_DIR } from './build.ts';
import type { Caller, FunctionInfo, FunctionRegistry } from './registry.ts';

export const SHIPPED_FUNCTIONS = ['news2', 'ecg-hr', 'deidentify'] as const;
export type ShippedFunction = (typeof SHIPPED_FUNCTIONS)[number];

export interface ShippedOptions {
  /** A folder holding prebuilt `<name>.wasm` files, used before building from source. */
  prebuiltDir?: string;
  /** The build cache (see BuildOptions.cacheDir). */
  cacheDir?: string | false;
  /** Only these (default: all shipped functions). */
  names?: readonly ShippedFunction[];
}

/** The bytes of a shipped function: prebuilt when present, else built from source. */
export async function shippedModule(name: ShippedFunction, o: Omit<ShippedOptions, 'names'> = {}): Promise<Uint8Array> {
  const prebuilt = o.prebuiltDir ? join(o.prebuiltDir, `${name}.wasm`) : undefined;
  if (prebuilt && existsSync(prebuilt)) return new Uint8Array(readFileSync(prebuilt));
  return buildFunction(join(FUNCTIONS_DIR, name), o.cacheDir === undefined ? {} : { cacheDir: o.cacheDir });
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
