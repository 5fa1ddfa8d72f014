/**
 * Calls run on the node's own thread, under fuel (meter.ts). A worker thread
 * that sleeps between calls takes 0.05–1 ms to wake on a small virtual
 * machine, more than a whole NEWS2 call; a metered module run right here has
 * no hand-off at all. The fuel given to {@link InlineFunction.run} bounds the
 * event-loop time one call can take; a call that runs out of it, or ends in any
 * trap, is not answered here: the registry runs it again on a worker thread,
 * whose deadline and memory classification stay the authority. A function
 * that runs out of fuel is sent straight to the workers for its next calls
 * (16, doubling up to 1,024 while it keeps running out).
 *
 * The sandbox is the same: the WASI host of the workers (wasi.ts) with the
 * same grants and caps, a fresh instance per call (made ahead, off the
 * call's path, and used once), and a memory whose maximum is the function's
 * limit. Host calls are charged to the fuel by the work they do. The memory
 * of a call that left it at its initial size is zeroed and given to the next
 * instance: zeroed, and with the module's data written at instantiation, it
 * is what a fresh one would be, without the ~95 µs of mapping a new one.
 */
import { FUEL_EXPORT, type MeteredMemory } from './meter.ts';
import type { PoolReply } from './pool.ts';
import { createWasiHost, runCommand, type WasiHost, type WasiHostOptions } from './wasi.ts';

export interface InlineOptions {
  /** The metered module (compiled). */
  module: WebAssembly.Module;
  /** The memory it imports (meter.ts makes every metered module import its memory), with the maximum to give it: the function's limit at most. */
  memory: MeteredMemory & { maximum: number };
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
/**
 * Instances one memory serves before it is dropped: V8 lists the instances
 * of a memory (weakly) and a minor GC walks the list, so a memory given to
 * thousands of instances made those GCs slow (25-40 ms).
 */
const MEMORY_USES = 16;

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
  /** A memory from an earlier call, at its initial size, zeroed before it is used again. */
  #spare: WebAssembly.Memory | undefined;
  /** Instances each memory has served (one is dropped after {@link MEMORY_USES}). */
  #uses = new WeakMap<WebAssembly.Memory, number>();

  constructor(o: InlineOptions) {
    this.#o = o;
    if (o.premake) this.#premake();
  }

  /**
   * Whether this call should run here. False while the function is sent to
   * the workers after running out of fuel (each question counts down), and,
   * when instances are made ahead, while none is ready: a call that comes
   * before the next one is made (back to back) goes to a worker, so this
   * thread makes at most one instance per function per turn of the event
   * loop (each costs it ~30-50 µs of garbage collection).
   */
  take(): boolean {
    if (this.#closed) return false;
    if (this.#skip > 0) {
      this.#skip--;
      return false;
    }
    return !this.#o.premake || this.#premade !== undefined || premadeHeld >= PREMADE_MAX;
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
    const uses = (this.#uses.get(made.memory) ?? 0) + 1;
    this.#uses.set(made.memory, uses);
    if (uses < MEMORY_USES && made.memory.buffer.byteLength === this.#o.memory.initial * PAGE) this.#spare ??= made.memory;
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
    this.#spare = undefined;
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
    const burn = (units: number): void => {
      const left = (fuel!.value as bigint) - BigInt(Math.ceil(units));
      fuel!.value = left;
      if (left < 0n) throw new OutOfFuel();
    };
    // Each host call is charged before it runs, by what it may do: entries of its iovec list, bytes it may produce.
    const host = wasi.imports as Record<string, (...args: number[]) => number | void>;
    const charged: Record<string, (...args: never[]) => number | void> = {};
    for (const [name, f] of Object.entries(host)) {
      charged[name] = (...args: number[]) => {
        if (name === 'fd_read' || name === 'fd_write') burn(HOST_CALL_FUEL + (args[2]! >>> 0) * 20);
        else if (name === 'random_get') burn(HOST_CALL_FUEL + (args[1]! >>> 0) * 2);
        else burn(HOST_CALL_FUEL);
        return f(...args);
      };
    }
    const t0 = performance.now();
    let memory = this.#spare;
    this.#spare = undefined;
    if (memory !== undefined) new Uint8Array(memory.buffer).fill(0);
    else memory = new WebAssembly.Memory({ initial: o.memory.initial, maximum: o.memory.maximum });
    const imports = { wasi_snapshot_preview1: charged, [o.memory.module]: { [o.memory.name]: memory } };
    const instance = new WebAssembly.Instance(o.module, imports as WebAssembly.Imports);
    fuel = instance.exports[FUEL_EXPORT] as WebAssembly.Global;
    if (!(fuel instanceof WebAssembly.Global)) throw new Error('not a metered module');
    wasi.bind(memory);
    return { instance, memory, wasi, io, fuel, ms: performance.now() - t0 };
  }
}
