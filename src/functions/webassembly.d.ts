/**
 * The part of the WebAssembly JavaScript API (https://webassembly.github.io/spec/js-api/)
 * the functions part uses. Node provides the global at run time, but neither
 * lib ES2023 nor @types/node 20 declare it (TypeScript has it only in lib.dom).
 * If another part needs it, move this file to a shared place rather than copy it.
 */
declare namespace WebAssembly {
  type ImportExportKind = 'function' | 'table' | 'memory' | 'global' | 'tag';
  interface ModuleImportDescriptor { module: string; name: string; kind: ImportExportKind }
  interface ModuleExportDescriptor { name: string; kind: ImportExportKind }
  type ImportValue = unknown;
  type Imports = Record<string, Record<string, ImportValue>>;
  type Exports = Record<string, unknown>;
  type BufferSource = ArrayBufferView | ArrayBuffer;

  class Module {
    constructor(bytes: BufferSource);
    static imports(module: Module): ModuleImportDescriptor[];
    static exports(module: Module): ModuleExportDescriptor[];
    static customSections(module: Module, name: string): ArrayBuffer[];
  }
  class Instance {
    constructor(module: Module, imports?: Imports);
    readonly exports: Exports;
  }
  interface MemoryDescriptor { initial: number; maximum?: number; shared?: boolean }
  class Memory {
    constructor(descriptor: MemoryDescriptor);
    readonly buffer: ArrayBuffer;
    grow(delta: number): number;
  }
  type ValueType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'externref' | 'anyfunc';
  interface GlobalDescriptor { value: ValueType; mutable?: boolean }
  class Global {
    constructor(descriptor: GlobalDescriptor, value?: unknown);
    /** A BigInt for an i64 global. */
    value: unknown;
  }
  class CompileError extends Error {}
  class LinkError extends Error {}
  class RuntimeError extends Error {}
  function compile(bytes: BufferSource): Promise<Module>;
  function validate(bytes: BufferSource): boolean;
  function instantiate(module: Module, imports?: Imports): Promise<Instance>;
}

/** `Atomics.waitAsync` (ES2024; in Node since 16), which lib ES2023 does not declare. */
interface Atomics {
  waitAsync(typedArray: Int32Array, index: number, value: number, timeout?: number):
    | { async: false; value: 'not-equal' | 'timed-out' }
    | { async: true; value: Promise<'ok' | 'timed-out'> };
}
