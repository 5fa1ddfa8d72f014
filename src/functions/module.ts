/**
 * Checking a module at registration: it compiles, imports only what the
 * sandbox grants, is a WASI command (`_start`, `memory`), and its memory and
 * tables are bounded within the limits. A worker's `resourceLimits` does not
 * cap Wasm memory, so the bound comes from the module itself: a module that
 * defines its memory must declare a maximum no larger than the limit; a module
 * that imports `env.memory` (AssemblyScript `--importMemory`) is given one
 * whose maximum is the limit.
 *
 * Binary format: https://webassembly.github.io/spec/core/binary/modules.html
 */
import { FunctionError } from './errors.ts';
import { GRANTED_IMPORTS } from './wasi.ts';

export const WASI_MODULE = 'wasi_snapshot_preview1';
export const PAGE_BYTES = 65536;

export interface Limits {
  min: number;
  max?: number;
}

/** What the host needs to know about a module's memory to instantiate it. */
export interface MemoryPlan {
  /** Set when the module imports its memory: the host creates it. */
  imported?: { module: string; name: string; initial: number };
  /** The most pages the memory can reach. */
  maxPages: number;
  /** Pages the memory has when the module is instantiated. */
  initialPages: number;
}

export interface CheckedModule {
  module: WebAssembly.Module;
  memory: MemoryPlan;
  bytes: number;
  /** The module has a start section: code that runs during instantiation, before the call's input is known. */
  startSection: boolean;
}

export interface ModuleLimits {
  /** Most 64 KiB pages of linear memory. */
  memoryPages: number;
  /** Most table entries, summed over all tables. */
  tableEntries: number;
  /** Most bytes of the module binary. */
  moduleBytes: number;
}

interface Sections {
  imports: Array<{ module: string; name: string; kind: number; limits?: Limits }>;
  memories: Limits[];
  tables: Limits[];
  start: boolean;
}

class Reader {
  pos = 0;
  constructor(readonly b: Uint8Array) {}
  byte(): number {
    if (this.pos >= this.b.length) throw new RangeError('unexpected end of module');
    return this.b[this.pos++]!;
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = this.byte();
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new RangeError('LEB128 too long');
    }
  }
  name(): string {
    const len = this.u32();
    const s = new TextDecoder().decode(this.b.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }
  limits(): Limits {
    const flags = this.byte();
    const min = this.u32();
    return (flags & 1) === 1 ? { min, max: this.u32() } : { min };
  }
}

/** Reads the import, table and memory sections (the module has already compiled, so the binary is well formed). */
function readSections(bytes: Uint8Array): Sections {
  const r = new Reader(bytes);
  r.pos = 8;
  const s: Sections = { imports: [], memories: [], tables: [], start: false };
  while (r.pos < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    if (id === 2) {
      for (let n = r.u32(); n > 0; n--) {
        const module = r.name();
        const name = r.name();
        const kind = r.byte();
        if (kind === 0) { r.u32(); s.imports.push({ module, name, kind }); }
        else if (kind === 1) { r.byte(); const limits = r.limits(); s.imports.push({ module, name, kind, limits }); s.tables.push(limits); }
        else if (kind === 2) { const limits = r.limits(); s.imports.push({ module, name, kind, limits }); }
        else if (kind === 3) { r.byte(); r.byte(); s.imports.push({ module, name, kind }); }
        else { r.byte(); r.u32(); s.imports.push({ module, name, kind }); }
      }
    } else if (id === 4) {
      for (let n = r.u32(); n > 0; n--) { r.byte(); s.tables.push(r.limits()); }
    } else if (id === 5) {
      for (let n = r.u32(); n > 0; n--) s.memories.push(r.limits());
    } else if (id === 8) {
      s.start = true;
    }
    r.pos = end;
  }
  return s;
}

/**
 * Compiles and checks a module. Throws a {@link FunctionError} naming what is
 * wrong: `FN_ERR_INVALID_MODULE` with V8's compile message,
 * `FN_ERR_FORBIDDEN_IMPORT` naming the first import the sandbox does not
 * grant, `FN_ERR_MODULE_SHAPE` for a module that is not a bounded WASI command.
 */
export async function checkModule(bytes: Uint8Array, limits: ModuleLimits): Promise<CheckedModule> {
  if (bytes.length > limits.moduleBytes) {
    throw new FunctionError('moduleTooLarge', `the module is ${bytes.length} bytes; the limit is ${limits.moduleBytes}`);
  }
  let module: WebAssembly.Module;
  // An asynchronous compile holds no libuv handle: keep the process alive until it settles.
  const keepAlive = setInterval(() => {}, 60_000);
  try {
    module = await WebAssembly.compile(bytes);
  } catch (err) {
    throw new FunctionError('invalidModule', `not a valid WebAssembly module: ${(err as Error).message.replace(/^WebAssembly\.compile\(\): /, '')}`);
  } finally {
    clearInterval(keepAlive);
  }
  const s = readSections(bytes);

  let memory: MemoryPlan | undefined;
  for (const imp of s.imports) {
    const where = `${imp.module}.${imp.name}`;
    if (imp.kind === 2 && imp.module === 'env' && imp.name === 'memory') {
      if (imp.limits!.min > limits.memoryPages) {
        throw new FunctionError('badShape', `the imported memory needs ${imp.limits!.min} pages at start; the limit is ${limits.memoryPages}`);
      }
      memory = {
        imported: { module: imp.module, name: imp.name, initial: imp.limits!.min },
        maxPages: Math.min(imp.limits!.max ?? Infinity, limits.memoryPages),
        initialPages: imp.limits!.min,
      };
      continue;
    }
    if (imp.kind === 0 && imp.module === WASI_MODULE && GRANTED_IMPORTS.includes(imp.name)) continue;
    const what = ['function', 'table', 'memory', 'global', 'tag'][imp.kind] ?? 'import';
    throw new FunctionError('forbiddenImport', `the module imports ${what} ${where}, which the sandbox does not grant (granted: ${WASI_MODULE}.{${GRANTED_IMPORTS.join(',')}}, env.memory)`);
  }

  const exports = WebAssembly.Module.exports(module);
  if (!exports.some((e) => e.name === '_start' && e.kind === 'function')) {
    throw new FunctionError('badShape', 'the module exports no _start function: build it as a WASI command');
  }
  if (memory === undefined) {
    const own = s.memories[0];
    if (own === undefined || !exports.some((e) => e.name === 'memory' && e.kind === 'memory')) {
      throw new FunctionError('badShape', 'the module neither exports its memory as "memory" nor imports env.memory');
    }
    if (own.max === undefined) {
      throw new FunctionError('badShape', `the module's memory declares no maximum; declare one of at most ${limits.memoryPages} pages (asc --maximumMemory)`);
    }
    if (own.max > limits.memoryPages) {
      throw new FunctionError('badShape', `the module's memory may grow to ${own.max} pages; the limit is ${limits.memoryPages} pages`);
    }
    memory = { maxPages: own.max, initialPages: own.min };
  }
  let entries = 0;
  for (const t of s.tables) {
    if (t.max === undefined) throw new FunctionError('badShape', 'a table of the module declares no maximum size');
    entries += t.max;
  }
  if (entries > limits.tableEntries) {
    throw new FunctionError('badShape', `the module's tables may grow to ${entries} entries; the limit is ${limits.tableEntries}`);
  }
  return { module, memory, bytes: bytes.length, startSection: s.start };
}
