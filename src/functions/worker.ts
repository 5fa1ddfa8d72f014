/**
 * The code of a sandbox worker thread. The pool starts each worker from the
 * source text of {@link workerMain} and {@link createWasiHost} (an `eval`
 * worker with no loader flags), so a worker loads nothing of the project and
 * starts fast; both functions must stay self-contained.
 *
 * Channel (see {@link CHANNEL}): each worker shares one SharedArrayBuffer
 * with the pool. The pool writes a call's input bytes into it, sets `CALL`
 * and rings `BELL` (`Atomics.notify`); the worker, blocked in `Atomics.wait`,
 * runs the call, writes the reply bytes, sets `DONE` and notifies it; the
 * pool polls `DONE` for a bounded time (`spinUs`) and otherwise awaits it
 * with `Atomics.waitAsync`. No structured clone and no event-loop turn on
 * the worker's side of a call. The worker marks a call `TAKEN` when it
 * starts it and stamps its phases (`STAMPS`) for the benchmark's breakdown. Control messages (a compiled module
 * to load, a module to forget) go by `postMessage`, followed by a ring: the
 * worker drains them with `receiveMessageOnPort` before it looks at `CALL`.
 *
 * One call: a fresh instance of the cached module with a fresh WASI host
 * (never one that ran before, so nothing of one patient's input survives into
 * the next call), `_start`, reply. An instance of a loaded module can be
 * made ahead of its call ("pre-made": right after the module is loaded, and
 * after each call of it once the worker has been idle for
 * {@link PREMAKE_IDLE_MS}, off the critical path); it is used by exactly one
 * call and dropped. Only modules without a start section are pre-made,
 * so no module code ever runs before its call's input is known. A pre-made
 * instance's memory pages are touched when it is made, so its call does not
 * take the page faults.
 */
import type { MemoryPlan } from './module.ts';
import type { CommandEnd, WasiHost, WasiHostOptions } from './wasi.ts';

/** Int32 slots at the start of a worker's SharedArrayBuffer; the payload starts at `HEADER_BYTES`. */
export const CHANNEL = {
  /** Rung (incremented) by the pool for each call and each control message. */
  BELL: 0,
  /** Sequence number of the requested call. */
  CALL: 1,
  /** Sequence number of the last call answered. */
  DONE: 2,
  /** Module id of the requested call. */
  FN: 3,
  /** Input bytes of the requested call. */
  INPUT: 4,
  /** Reply: bytes of its JSON header, of stdout, of stderr (in that order in the payload). */
  META: 5,
  OUT: 6,
  ERR: 7,
  /** Sequence number of the last call the worker has started (woken and taken it). */
  TAKEN: 8,
  /**
   * Where the worker stamps each call, as Float64 slots of the header from
   * this one on (microseconds of the monotonic clock `process.hrtime`, the
   * same in every thread): woken, control messages read, instance ready,
   * run ended, reply written.
   * Read by the pool's `trace` hook (the benchmark's breakdown of a call).
   */
  STAMPS: 5,
  HEADER_BYTES: 128,
} as const;
export type ChannelLayout = typeof CHANNEL;

/** A compiled module and what a call of it needs; sent once to each worker. */
export interface LoadSpec {
  id: number;
  module: WebAssembly.Module;
  memory: MemoryPlan;
  stdoutLimit: number;
  stderrLimit: number;
  /** Keep one instance made ahead of the next call. */
  premake: boolean;
}

/** Pool → worker, by `postMessage` and a ring. */
export type ToWorker = ({ op: 'load' } & LoadSpec) | { op: 'forget'; id: number };

/** Worker → pool, by `postMessage`. */
export type WorkerNotice = { ready: true } | { loaded: number };

export type FailureKind = 'trap' | 'exit' | 'output' | 'memory' | 'instantiate' | 'unknown_module' | 'channel';

/** The JSON header of a reply (stdout and stderr follow it as raw bytes). */
export type ReplyMeta =
  | { ok: true; stderrTruncated: boolean; instantiateMs: number; runMs: number; premade: boolean }
  | { ok: false; failure: FailureKind; message: string; exitCode?: number; stderrTruncated: boolean };

/** Most pre-made instances a worker keeps (one per module, least recently used dropped first). */
export const PREMADE_MAX = 16;
/**
 * After a call, a worker makes that module's next instance once no call has
 * come for this long: back-to-back calls instantiate on their path, and the
 * making never competes for a core with the pool reading the reply.
 */
export const PREMAKE_IDLE_MS = 2;

/** The worker's loop. Self-contained: see the file comment. */
export function workerMain(
  createWasi: (o: WasiHostOptions) => WasiHost,
  runCommand: (start: () => void) => CommandEnd,
  threads: typeof import('node:worker_threads'),
  L: ChannelLayout,
  premadeMax: number,
  idleMs: number,
): void {
  const sab = threads.workerData as SharedArrayBuffer;
  const ctl = new Int32Array(sab, 0, L.HEADER_BYTES / 4);
  const payload = new Uint8Array(sab, L.HEADER_BYTES);
  const stamps = new Float64Array(sab, 0, L.HEADER_BYTES / 8);
  const clock = (): number => {
    const t = process.hrtime();
    return t[0] * 1e6 + t[1] / 1e3;
  };
  const port = threads.parentPort!;
  const loaded = new Map<number, LoadSpec>();
  interface Made { instance: WebAssembly.Instance; memory: WebAssembly.Memory; wasi: WasiHost; io: WasiHostOptions; ms: number }
  /** Pre-made instances by module id, in order of last use. */
  const premade = new Map<number, Made>();
  const encoder = new TextEncoder();
  const EMPTY = new Uint8Array(0);
  const PAGE = 65536;

  const make = (l: LoadSpec, stdin: Uint8Array): Made => {
    // The host reads its options at each import call: a pre-made instance is given its call's input on `io` when the call starts.
    const io: WasiHostOptions = { stdin, stdoutLimit: l.stdoutLimit, stderrLimit: l.stderrLimit };
    const wasi = createWasi(io);
    const env: Record<string, WebAssembly.Memory> = {};
    let memory: WebAssembly.Memory | undefined;
    const t0 = performance.now();
    if (l.memory.imported) {
      memory = new WebAssembly.Memory({ initial: l.memory.imported.initial, maximum: l.memory.maxPages });
      env[l.memory.imported.name] = memory;
      wasi.bind(memory); // before instantiation: a start section may call the host
    }
    const instance = new WebAssembly.Instance(l.module, { wasi_snapshot_preview1: wasi.imports, env } as WebAssembly.Imports);
    memory ??= instance.exports.memory as WebAssembly.Memory;
    wasi.bind(memory);
    return { instance, memory, wasi, io, ms: performance.now() - t0 };
  };

  const premake = (l: LoadSpec): void => {
    if (!l.premake || premade.has(l.id) || !loaded.has(l.id)) return;
    let made: Made;
    try {
      made = make(l, EMPTY);
    } catch {
      return; // the call instantiates and reports the error
    }
    // Touch each 4 KiB page of the fresh memory now, writing back what is there (the first MiB at most): a page's first
    // touch is a page fault, which costs ~4 µs on this VM; news2's 16 pages were ~60 µs of its 75 µs run.
    const bytes = new Uint8Array(made.memory.buffer, 0, Math.min(made.memory.buffer.byteLength, 1 << 20));
    for (let at = 0; at < bytes.length; at += 4096) bytes[at] = bytes[at]!;
    premade.set(l.id, made);
    if (premade.size > premadeMax) premade.delete(premade.keys().next().value!);
  };

  const reply = (seq: number, meta: ReplyMeta, out: Uint8Array, err: Uint8Array): void => {
    let head = encoder.encode(JSON.stringify(meta));
    if (head.length + out.length + err.length > payload.length) {
      out = EMPTY;
      err = EMPTY;
      head = encoder.encode(JSON.stringify({ ok: false, failure: 'channel', message: 'the reply is larger than the channel', stderrTruncated: false } satisfies ReplyMeta));
    }
    payload.set(head, 0);
    payload.set(out, head.length);
    payload.set(err, head.length + out.length);
    ctl[L.META] = head.length;
    ctl[L.OUT] = out.length;
    ctl[L.ERR] = err.length;
    stamps[L.STAMPS + 4] = clock();
    Atomics.store(ctl, L.DONE, seq);
    Atomics.notify(ctl, L.DONE);
  };

  const call = (seq: number, l: LoadSpec | undefined, input: Uint8Array): void => {
    if (l === undefined) return reply(seq, { ok: false, failure: 'unknown_module', message: 'module not loaded in this worker', stderrTruncated: false }, EMPTY, EMPTY);
    let made = premade.get(l.id);
    premade.delete(l.id); // an instance serves one call only
    const wasPremade = made !== undefined;
    if (made === undefined) {
      try {
        made = make(l, input);
      } catch (err) {
        return reply(seq, { ok: false, failure: 'instantiate', message: String((err as Error)?.message ?? err).slice(0, 500), stderrTruncated: false }, EMPTY, EMPTY);
      }
    }
    const { instance, memory, wasi, io } = made;
    io.stdin = input;
    stamps[L.STAMPS + 2] = clock();
    const t1 = performance.now();
    const ended = runCommand(instance.exports._start as () => void);
    const runMs = performance.now() - t1;
    stamps[L.STAMPS + 3] = clock();
    const stderr = wasi.stderr();
    const stderrTruncated = wasi.stderrTruncated();
    if (ended.end === 'output') {
      return reply(seq, { ok: false, failure: 'output', message: `wrote more than ${l.stdoutLimit} bytes to stdout`, stderrTruncated }, EMPTY, stderr);
    }
    if (ended.end === 'threw') {
      const thrown = ended.error;
      const pages = memory.buffer.byteLength / PAGE;
      const message = (thrown instanceof Error ? thrown.message : String(thrown)).slice(0, 500);
      if (pages >= l.memory.maxPages * 0.9) {
        return reply(seq, { ok: false, failure: 'memory', message: `trapped (${message}) with memory at ${pages} of ${l.memory.maxPages} pages`, stderrTruncated }, EMPTY, stderr);
      }
      return reply(seq, { ok: false, failure: 'trap', message, stderrTruncated }, EMPTY, stderr);
    }
    if (ended.code !== 0) return reply(seq, { ok: false, failure: 'exit', exitCode: ended.code, message: `exited with code ${ended.code}`, stderrTruncated }, EMPTY, stderr);
    reply(seq, { ok: true, stderrTruncated, instantiateMs: made.ms, runMs, premade: wasPremade }, wasi.stdout(), stderr);
  };

  const control = (m: ToWorker): void => {
    if (m.op === 'forget') {
      loaded.delete(m.id);
      premade.delete(m.id);
      return;
    }
    const spec: LoadSpec = { id: m.id, module: m.module, memory: m.memory, stdoutLimit: m.stdoutLimit, stderrLimit: m.stderrLimit, premake: m.premake };
    loaded.set(m.id, spec);
    premake(spec);
    port.postMessage({ loaded: m.id } satisfies WorkerNotice);
  };

  port.postMessage({ ready: true } satisfies WorkerNotice);
  let bell = 0;
  let last = 0;
  /** Modules whose next instance is made once the worker has been idle for `idleMs` (so never while the pool reads a reply). */
  const due: number[] = [];
  for (;;) {
    if (due.length > 0 && Atomics.wait(ctl, L.BELL, bell, idleMs) === 'timed-out') {
      while (due.length > 0 && Atomics.load(ctl, L.BELL) === bell) {
        const l = loaded.get(due.shift()!);
        if (l) premake(l);
      }
      continue;
    }
    Atomics.wait(ctl, L.BELL, bell);
    const woke = clock();
    bell = Atomics.load(ctl, L.BELL);
    for (let m = threads.receiveMessageOnPort(port); m !== undefined; m = threads.receiveMessageOnPort(port)) control(m.message as ToWorker);
    const seq = Atomics.load(ctl, L.CALL);
    if (seq === last) continue;
    last = seq;
    Atomics.store(ctl, L.TAKEN, seq);
    stamps[L.STAMPS] = woke;
    stamps[L.STAMPS + 1] = clock();
    stamps[L.STAMPS + 2] = stamps[L.STAMPS + 3] = 0;
    const l = loaded.get(ctl[L.FN]!);
    try {
      call(seq, l, payload.slice(0, ctl[L.INPUT]));
    } catch (err) {
      reply(seq, { ok: false, failure: 'trap', message: String((err as Error)?.message ?? err).slice(0, 500), stderrTruncated: false }, EMPTY, EMPTY);
    }
    if (l?.premake && !due.includes(l.id)) due.push(l.id); // the next call's instance, made when idle
  }
}
