/**
 * Pre-started sandbox workers. A call goes to an idle worker (or waits in a
 * bounded queue); past its deadline the worker is terminated, which stops
 * even a Wasm infinite loop, and a fresh one takes its place while the other
 * workers carry on. Starting a worker costs tens of milliseconds, so workers
 * are started ahead of calls, never during one.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { FunctionError } from './errors.ts';
import type { MemoryPlan } from './module.ts';
import { createWasiHost } from './wasi.ts';
import { workerMain, type FromWorker, type ToWorker } from './worker.ts';

export interface PoolOptions {
  /** Workers kept started. */
  size: number;
  /** Calls that may wait for a worker; one more is refused with `FN_ERR_BUSY`. */
  maxQueue: number;
  /** Limits of each worker's JavaScript heap (Wasm memory is bounded by the module check). */
  resourceLimits?: ResourceLimits;
  /** Told when a worker is replaced and why ('deadline' or 'crash'). */
  onReplace?: (reason: 'deadline' | 'crash') => void;
}

export interface PoolCall {
  key: string;
  module: WebAssembly.Module;
  memory: MemoryPlan;
  input: Uint8Array;
  stdoutLimit: number;
  stderrLimit: number;
  timeoutMs: number;
}

export type PoolReply = FromWorker;

interface Pending {
  call: PoolCall;
  resolve: (r: PoolReply) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  /** Module keys this worker holds compiled. */
  known: Set<string>;
  current?: { seq: number; pending: Pending; timer: NodeJS.Timeout };
}

let workerSource: string | undefined;

/** The eval source of a worker: the two self-contained functions, and a shim for esbuild's keepNames helper. */
function source(): string {
  workerSource ??= [
    `'use strict';`,
    `const __name = (f) => f;`,
    `const createWasiHost = ${createWasiHost.toString()};`,
    `(${workerMain.toString()})(createWasiHost, require('node:worker_threads').parentPort);`,
  ].join('\n');
  return workerSource;
}

const MAX_START_FAILURES = 5;

export class WorkerPool {
  readonly #o: PoolOptions;
  readonly #slots: Slot[] = [];
  readonly #queue: Pending[] = [];
  #seq = 0;
  #closed: Promise<void> | undefined;
  #startFailures = 0;
  #replaced = 0;

  constructor(o: PoolOptions) {
    this.#o = o;
    for (let i = 0; i < o.size; i++) this.#slots.push(this.#start());
  }

  /** Resolves once every worker has started (calls made earlier wait in the queue). */
  async ready(): Promise<void> {
    while (!this.#slots.every((s) => s.ready)) {
      if (this.#closed) return;
      if (this.#startFailures >= MAX_START_FAILURES) throw new FunctionError('worker', 'sandbox workers fail to start');
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** Workers replaced so far (deadline or crash). */
  get replaced(): number {
    return this.#replaced;
  }

  /** Runs one call on a worker; rejects with `FN_ERR_TIMEOUT`, `FN_ERR_BUSY`, `FN_ERR_WORKER` or `FN_ERR_CLOSED`. */
  run(call: PoolCall): Promise<PoolReply> {
    if (this.#closed) return Promise.reject(new FunctionError('closed', 'the function runtime is closed'));
    if (this.#startFailures >= MAX_START_FAILURES) return Promise.reject(new FunctionError('worker', 'sandbox workers fail to start'));
    return new Promise((resolve, reject) => {
      const idle = this.#slots.find((s) => s.ready && s.current === undefined);
      if (idle) return this.#dispatch(idle, { call, resolve, reject });
      if (this.#queue.length >= this.#o.maxQueue) {
        return reject(new FunctionError('busy', `all ${this.#o.size} sandbox workers are busy and ${this.#o.maxQueue} calls wait`));
      }
      this.#queue.push({ call, resolve, reject });
    });
  }

  /** Drops a module from every worker's cache (after unregister or replace). */
  forget(key: string): void {
    for (const s of this.#slots) {
      if (s.known.delete(key)) s.worker.postMessage({ op: 'forget', key } satisfies ToWorker);
    }
  }

  /** Terminates every worker; waiting and running calls fail with `FN_ERR_CLOSED`. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      const err = new FunctionError('closed', 'the function runtime is closed');
      for (const p of this.#queue.splice(0)) p.reject(err);
      await Promise.all(this.#slots.map(async (s) => {
        if (s.current) {
          clearTimeout(s.current.timer);
          s.current.pending.reject(err);
          s.current = undefined;
        }
        await s.worker.terminate();
      }));
    })();
    return this.#closed;
  }

  #start(): Slot {
    const worker = new Worker(source(), {
      eval: true,
      execArgv: [],
      env: {},
      ...(this.#o.resourceLimits ? { resourceLimits: this.#o.resourceLimits } : {}),
    });
    const slot: Slot = { worker, ready: false, known: new Set() };
    worker.on('message', (m: FromWorker | { ready: true }) => {
      if ('ready' in m) {
        slot.ready = true;
        this.#startFailures = 0;
        this.#pump(slot);
        this.#hold(slot);
        return;
      }
      const cur = slot.current;
      if (cur === undefined || cur.seq !== m.seq) return;
      clearTimeout(cur.timer);
      slot.current = undefined;
      cur.pending.resolve(m);
      this.#pump(slot);
      this.#hold(slot);
    });
    worker.on('error', () => {}); // the 'exit' that follows does the work
    worker.on('exit', () => {
      if (this.#closed || !this.#slots.includes(slot)) return;
      if (!slot.ready) this.#startFailures++;
      const cur = slot.current;
      slot.current = undefined;
      if (cur) {
        clearTimeout(cur.timer);
        cur.pending.reject(new FunctionError('worker', 'the sandbox worker running the call stopped'));
      }
      this.#replace(slot, 'crash');
    });
    return slot;
  }

  /**
   * A worker keeps the process alive only while it starts or runs a call, so
   * an idle runtime never holds the process open (and a pending call always does).
   */
  #hold(slot: Slot): void {
    if (!slot.ready || slot.current !== undefined) slot.worker.ref();
    else slot.worker.unref();
  }

  #replace(old: Slot, reason: 'deadline' | 'crash'): void {
    const i = this.#slots.indexOf(old);
    if (i < 0 || this.#closed) return;
    this.#replaced++;
    this.#o.onReplace?.(reason);
    if (this.#startFailures >= MAX_START_FAILURES) {
      this.#slots.splice(i, 1);
      for (const p of this.#queue.splice(0)) p.reject(new FunctionError('worker', 'sandbox workers fail to start'));
      return;
    }
    this.#slots[i] = this.#start();
  }

  #pump(slot: Slot): void {
    if (this.#closed || !slot.ready || slot.current !== undefined) return;
    const next = this.#queue.shift();
    if (next) this.#dispatch(slot, next);
  }

  #dispatch(slot: Slot, pending: Pending): void {
    const { call } = pending;
    const seq = ++this.#seq;
    const timer = setTimeout(() => {
      if (slot.current?.seq !== seq) return;
      slot.current = undefined;
      pending.reject(new FunctionError('timeout', `the call ran past its deadline of ${call.timeoutMs} ms; its worker was replaced`));
      this.#replace(slot, 'deadline');
      void slot.worker.terminate();
    }, call.timeoutMs);
    slot.current = { seq, pending, timer };
    this.#hold(slot);
    const first = !slot.known.has(call.key);
    slot.known.add(call.key);
    const message: ToWorker = {
      op: 'call', seq, key: call.key, memory: call.memory, input: call.input,
      stdoutLimit: call.stdoutLimit, stderrLimit: call.stderrLimit,
      ...(first ? { module: call.module } : {}),
    };
    slot.worker.postMessage(message, [call.input.buffer as ArrayBuffer]);
  }
}
