/**
 * Shared ground of the functions tests: the shipped functions built once per
 * machine (cached by source hash), a runtime whose policy allows all, and a
 * WAT assembler for hostile modules.
 */
import { join } from 'node:path';
import wabt from 'wabt';
import { buildFunction, FUNCTIONS_DIR } from '../src/functions/build.ts';
import { FunctionRegistry, type Caller, type RuntimeLimits } from '../src/functions/index.ts';
import { createLogger } from '../src/observability/index.ts';

export const admin: Caller = { id: 'Practitioner/admin-1', role: 'admin' };

const built = new Map<string, Promise<Uint8Array>>();

/** The bytes of a shipped function (`functions/<name>/`), built from source. */
export function shipped(name: string): Promise<Uint8Array> {
  let p = built.get(name);
  if (!p) {
    p = buildFunction(join(FUNCTIONS_DIR, name));
    built.set(name, p);
  }
  return p;
}

/** A runtime whose policy allows everything, logging nowhere. */
export function runtime(limits: Partial<RuntimeLimits> = {}): FunctionRegistry {
  return new FunctionRegistry({
    logger: createLogger({ level: 'silent' }),
    limits: { workers: 1, ...limits },
    decide: () => ({ allow: true, reason: 'test' }),
  });
}

let wabtModule: Awaited<ReturnType<typeof wabt>> | undefined;

/** Assembles WebAssembly text (https://webassembly.github.io/spec/core/text/) into a binary. */
export async function wat(text: string): Promise<Uint8Array> {
  wabtModule ??= await wabt();
  const parsed = wabtModule.parseWat('test.wat', text);
  try {
    return parsed.toBinary({}).buffer;
  } finally {
    parsed.destroy();
  }
}
