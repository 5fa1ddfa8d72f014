/**
 * Calls run on the node's own thread, under fuel (meter.ts). A worker thread
 * that sleeps between calls takes 0.05–1 ms to wake on a small virtual
 * machine, more than a whole NEWS2 call; a metered module run right here has
 * no hand-off at all. The fuel bounds the event-loop time one call can take
 * ({@link InlineOptions.fuel}); a call that runs out of it, or ends in any
 * trap, is not answered here: the registry runs it again on a worker thread,
 * whose deadline and memory classification stay the authority. A function
 * that runs out of fuel is sent straight to the workers for its next calls
 * (16, doubling up to 1,024 while it keeps running out).
 *
 * The sandbox is the same: the WASI host of the workers (wasi.ts) with the
 * same grants and caps, a fresh instance per call (made ahead, off the
 * call's path, and used once), and a memory whose maximum is the function's
 * limit. Host calls are charged to the fuel by the work they do.
 */
import { FUEL_EXPORT } from './meter.ts';
import type { MemoryPlan } from './module.ts';
import type { PoolReply } from './pool.ts';
import { createWasiHost, runCommand, type WasiHost, type WasiHostOptions } from './wasi.ts';

export interface InlineOptions {
  /** The metered module (compiled). */
  module: WebAssembly.Module;
  memory: MemoryPlan;
  stdoutLimit: number;
  stderrLimit: number;
  /** Make the next call's instance ahead of it (off the call's path). */
  premake: boolean;
}

/** Why an inline call was not answered here; the registry then runs it on a worker. */
export type InlineMiss = 'fuel' | 'trap' | 'instantiate';

/** Fuel charged for any host call, plus its share by bytes or entries below. */
const HOST_CALL_FUEL = 100;
const SKIP_FIRST = 16;
/** Instances made ahead on this thread, over all functions: past this many, calls of other functions instantiate on their path. */
const PREMADE_MAX = 32;
let premadeHeld = 0;
const SKIP_MAX = 1024;
const PAGE = 65536;

interface Made {
  instance: WebAssembly.Instance;
  memory: WebAssembly.Memory;
  wasi: WasiHost;
  io: WasiHostOptions;
  fuel: WebAssembly.Global;
  ms: number;
}

class OutOfFuel {
  readonly outOfFuel = true;
}

export class InlineFunction {
  readonly #o: InlineOptions;
  #premade: Made | undefined;
  #making: NodeJS.Immediate | undefined;
  #skip = 0;
  #skipNext = SKIP_FIRST;
  #closed = false;

  constructor(o: InlineOptions) {
    this.#o = o;
    if (o.premake) this.#premake();
  }

  /** False while the function is sent to the workers after running out of fuel (each question counts down). */
  take(): boolean {
    if (this.#closed) return false;
    if (this.#skip > 0) {
      this.#skip--;
      return false;
    }
    return true;
  }

  /**
   * Runs one call here with `fuel` units; returns the reply, or why it was
   * not answered (the caller then runs it on a worker).
   */
  run(input: Uint8Array, fuel: number): PoolReply | InlineMiss {
    let made = this.#premade;
    this.#drop();
    const wasPremade = made !== undefined;
    if (made === undefined) {
      try {
        made = this.#make(input);
      } catch {
        return 'instantiate';
      }
    }
    const { instance, wasi, io } = made;
    io.stdin = input;
    made.fuel.value = BigInt(fuel);
    const t1 = performance.now();
    const ended = runCommand(instance.exports._start as () => void);
    const runMs = performance.now() - t1;
    if (this.#o.premake) this.#premakeSoon();
    const stderrTruncated = wasi.stderrTruncated();
    if (ended.end === 'output') {
      return { ok: false, failure: 'output', message: `wrote more than ${this.#o.stdoutLimit} bytes to stdout`, stderrTruncated, stdout: new Uint8Array(0), stderr: wasi.stderr() };
    }
    if (ended.end === 'threw') {
      if (ended.error instanceof OutOfFuel || (made.fuel.value as bigint) < 0n) {
        this.#skip = this.#skipNext;
        this.#skipNext = Math.min(SKIP_MAX, this.#skipNext * 2);
        return 'fuel';
      }
      return 'trap';
    }
    this.#skipNext = SKIP_FIRST;
    if (ended.code !== 0) return { ok: false, failure: 'exit', exitCode: ended.code, message: `exited with code ${ended.code}`, stderrTruncated, stdout: new Uint8Array(0), stderr: wasi.stderr() };
    return { ok: true, stderrTruncated, instantiateMs: made.ms, runMs, premade: wasPremade, stdout: wasi.stdout(), stderr: wasi.stderr() };
  }

  /** Drops the instance made ahead; later {@link take} answers false. */
  close(): void {
    this.#closed = true;
    this.#drop();
    if (this.#making) clearImmediate(this.#making);
  }

  #drop(): void {
    if (this.#premade === undefined) return;
    this.#premade = undefined;
    premadeHeld--;
  }

  #premakeSoon(): void {
    if (this.#making || this.#closed) return;
    this.#making = setImmediate(() => {
      this.#making = undefined;
      this.#premake();
    });
    this.#making.unref();
  }

  /** Makes the next call's instance now (once ready, and from then on after each call, off the calls' path). */
  #premake(): void {
    if (this.#closed || this.#premade || premadeHeld >= PREMADE_MAX) return;
    try {
      const made = this.#make(new Uint8Array(0));
      // Touch each 4 KiB page now (the first MiB at most), so the call does not take the page faults.
      const bytes = new Uint8Array(made.memory.buffer, 0, Math.min(made.memory.buffer.byteLength, 1 << 20));
      for (let at = 0; at < bytes.length; at += 4096) bytes[at] = bytes[at]!;
      this.#premade = made;
      premadeHeld++;
    } catch {
      // the call instantiates on its path; if that fails too, a worker reports the error
    }
  }

  #make(stdin: Uint8Array): Made {
    const o = this.#o;
    const io: WasiHostOptions = { stdin, stdoutLimit: o.stdoutLimit, stderrLimit: o.stderrLimit };
    const wasi = createWasiHost(io);
    let fuel: WebAssembly.Global | undefined;
    const take = (units: number): void => {
      const left = (fuel!.value as bigint) - BigInt(Math.ceil(units));
      fuel!.value = left;
      if (left < 0n) throw new OutOfFuel();
    };
    // Each host call is charged before it runs, by what it may do: entries of its iovec list, bytes it may produce.
    const host = wasi.imports as Record<string, (...args: number[]) => number | void>;
    const charged: Record<string, (...args: never[]) => number | void> = {};
    for (const [name, f] of Object.entries(host)) {
      charged[name] = (...args: number[]) => {
        if (name === 'fd_read' || name === 'fd_write') take(HOST_CALL_FUEL + (args[2]! >>> 0) * 20);
        else if (name === 'random_get') take(HOST_CALL_FUEL + (args[1]! >>> 0) * 2);
        else take(HOST_CALL_FUEL);
        return f(...args);
      };
    }
    const env: Record<string, WebAssembly.Memory> = {};
    let memory: WebAssembly.Memory | undefined;
    const t0 = performance.now();
    if (o.memory.imported) {
      memory = new WebAssembly.Memory({ initial: o.memory.imported.initial, maximum: o.memory.maxPages });
      env[o.memory.imported.name] = memory;
    }
    const instance = new WebAssembly.Instance(o.module, { wasi_snapshot_preview1: charged, env } as WebAssembly.Imports);
    memory ??= instance.exports.memory as WebAssembly.Memory;
    fuel = instance.exports[FUEL_EXPORT] as WebAssembly.Global;
    if (!(fuel instanceof WebAssembly.Global) || !(memory instanceof WebAssembly.Memory) || memory.buffer.byteLength > o.memory.maxPages * PAGE) {
      throw new Error('not a metered module');
    }
    wasi.bind(memory);
    return { instance, memory, wasi, io, fuel, ms: performance.now() - t0 };
  }
}
