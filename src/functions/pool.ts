/**
 * Pre-started sandbox workers. A call goes to an idle worker (or waits in a
 * bounded queue); past its deadline the worker is terminated, which stops
 * even a Wasm infinite loop, and a fresh one takes its place while the other
 * workers carry on. Starting a worker costs tens of milliseconds, so workers
 * are started ahead of calls, never during one.
 *
 * A call travels over the worker's shared channel (worker.ts, {@link CHANNEL}):
 * input bytes in, reply bytes out, `Atomics.notify` one way; the other way,
 * the caller's thread polls for the reply for at most `spinUs` (when the call
 * is the only one in flight) and otherwise waits with `Atomics.waitAsync`,
 * whose resumption through the event loop costs ~85 µs here.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { FunctionError } from './errors.ts';
import { createWasiHost, runCommand } from './wasi.ts';
import { CHANNEL, PREMADE_MAX, PREMAKE_IDLE_MS, workerMain, type LoadSpec, type ReplyMeta, type ToWorker, type WorkerNotice } from './worker.ts';

export interface PoolOptions {
  /** Workers kept started. */
  size: number;
  /** Calls that may wait for a worker; one more is refused with `FN_ERR_BUSY`. */
  maxQueue: number;
  /** Payload bytes of each worker's channel: at least the largest input, and the largest stdout plus stderr plus 4 KiB. */
  channelBytes: number;
  /** Limits of each worker's JavaScript heap (Wasm memory is bounded by the module check). */
  resourceLimits?: ResourceLimits;
  /** Told when a worker is replaced and why ('deadline' or 'crash'). */
  onReplace?: (reason: 'deadline' | 'crash') => void;
  /**
   * Microseconds the calling thread may busy-poll the channel for a call's
   * reply before it waits with `Atomics.waitAsync` (default 0: never). Resuming
   * from `waitAsync` costs a wake-up of the event loop (~85 µs, tails of
   * 0.5 ms on a 2-core box); polling costs the event loop up to this long per
   * call. Only a call alone in the pool polls: one made while another runs or
   * waits goes straight to `waitAsync`, so calls in parallel never queue
   * behind a poll.
   */
  spinUs?: number;
  /** Told after each poll: how long it kept the event loop (seconds) and whether the reply came within the budget. */
  onSpin?: (seconds: number, answered: boolean) => void;
  /** Told after each answered call where its time went (the benchmark's breakdown); see {@link CallTrace}. */
  trace?: (t: CallTrace) => void;
}

/**
 * Instants of one call, in microseconds of `process.hrtime` (one clock for
 * every thread): the pool was about to ring the worker (`sent`), the worker
 * woke (`woke`), had read its control messages (`drained`), had its instance
 * (`ready`), ended the run (`ran`) and wrote the reply (`replied`), and the
 * pool saw it (`seen`). `ready` and `ran` are 0
 * for a call that failed before it ran. `spin`: how the pool waited.
 */
export interface CallTrace {
  sent: number;
  woke: number;
  drained: number;
  ready: number;
  ran: number;
  replied: number;
  seen: number;
  spin: 'answered' | 'budget' | 'skipped' | 'off';
}

export interface PoolCall {
  load: LoadSpec;
  input: Uint8Array;
  timeoutMs: number;
}

/** A call's reply: the worker's header, with stdout and stderr as bytes. */
export type PoolReply = ReplyMeta & { stdout: Uint8Array; stderr: Uint8Array };

interface Pending {
  call: PoolCall;
  resolve: (r: PoolReply) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  ctl: Int32Array;
  payload: Uint8Array;
  ready: boolean;
  /** Calls sent to this worker so far (the channel's `CALL`). */
  seq: number;
  /** Module ids this worker holds. */
  known: Set<number>;
  /** Loads sent and not yet acknowledged, by module id. */
  acks: Map<number, Array<() => void>>;
  current?: { seq: number; pending: Pending; timer: NodeJS.Timeout; sent: number; spin: CallTrace['spin'] };
  stamps: Float64Array;
}

let workerSource: string | undefined;

/** The eval source of a worker: its self-contained functions, and a shim for esbuild's keepNames helper. */
function source(): string {
  workerSource ??= [
    `'use strict';`,
    `const __name = (f) => f;`,
    `const createWasiHost = ${createWasiHost.toString()};`,
    `const runCommand = ${runCommand.toString()};`,
    `(${workerMain.toString()})(createWasiHost, runCommand, require('node:worker_threads'), ${JSON.stringify(CHANNEL)}, ${PREMADE_MAX}, ${PREMAKE_IDLE_MS});`,
  ].join('\n');
  return workerSource;
}

const MAX_START_FAILURES = 5;
/**
 * Microseconds a polling caller waits for the worker to take its call before
 * it blocks instead: a worker woken on an idle core takes a call in ~65 µs
 * here; one that has not by then is waiting for a core, and on a busy
 * 2-core box the core it waits for is often the polling caller's.
 */
export const HANDOFF_US = 100;
/**
 * Polls that block from their start after one had to hand its core over: on a
 * busy box, holding the core for {@link HANDOFF_US} first only delays the
 * worker. Then a poll tries busy-polling again.
 */
export const BLOCK_POLLS = 4;
const DECODER = new TextDecoder();

/** Microseconds of the monotonic clock shared by all threads (the worker stamps with the same). */
function clock(): number {
  const t = process.hrtime();
  return t[0] * 1e6 + t[1] / 1e3;
}

export class WorkerPool {
  readonly #o: PoolOptions;
  readonly #slots: Slot[] = [];
  readonly #queue: Pending[] = [];
  #closed: Promise<void> | undefined;
  #startFailures = 0;
  #replaced = 0;
  #spinning = false;
  /** Polls left that block from the start (see {@link BLOCK_POLLS}). */
  #blockPolls = 0;

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

  /**
   * Gives a compiled module to every worker (which pre-makes an instance when
   * `spec.premake`). Resolves once each has it, or has stopped; a worker
   * started later is given it with its first call of it.
   */
  load(spec: LoadSpec): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return Promise.all(this.#slots.map((s) => new Promise<void>((resolve) => {
      this.#send(s, { op: 'load', ...spec });
      s.known.add(spec.id);
      const waiting = s.acks.get(spec.id);
      if (waiting) waiting.push(resolve);
      else s.acks.set(spec.id, [resolve]);
      this.#hold(s);
    }))).then(() => undefined);
  }

  /** Runs one call on a worker; rejects with `FN_ERR_TIMEOUT`, `FN_ERR_BUSY`, `FN_ERR_WORKER` or `FN_ERR_CLOSED`. */
  run(call: PoolCall): Promise<PoolReply> {
    if (this.#closed) return Promise.reject(new FunctionError('closed', 'the function runtime is closed'));
    if (this.#startFailures >= MAX_START_FAILURES) return Promise.reject(new FunctionError('worker', 'sandbox workers fail to start'));
    if (call.input.length > this.#o.channelBytes) {
      return Promise.reject(new FunctionError('badInput', `the input is ${call.input.length} bytes; the channel holds ${this.#o.channelBytes}`));
    }
    return new Promise((resolve, reject) => {
      const idle = this.#slots.find((s) => s.ready && s.current === undefined);
      if (idle) return this.#dispatch(idle, { call, resolve, reject });
      if (this.#queue.length >= this.#o.maxQueue) {
        return reject(new FunctionError('busy', `all ${this.#o.size} sandbox workers are busy and ${this.#o.maxQueue} calls wait`));
      }
      this.#queue.push({ call, resolve, reject });
    });
  }

  /** Drops a module (and any instance made ahead) from every worker (after unregister or replace). */
  forget(id: number): void {
    for (const s of this.#slots) {
      if (s.known.delete(id)) this.#send(s, { op: 'forget', id });
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
        this.#settleAcks(s);
        await s.worker.terminate();
        Atomics.notify(s.ctl, CHANNEL.DONE); // releases a pending waitAsync
      }));
    })();
    return this.#closed;
  }

  #start(): Slot {
    const sab = new SharedArrayBuffer(CHANNEL.HEADER_BYTES + this.#o.channelBytes);
    const worker = new Worker(source(), {
      eval: true,
      execArgv: [],
      env: {},
      workerData: sab,
      ...(this.#o.resourceLimits ? { resourceLimits: this.#o.resourceLimits } : {}),
    });
    const slot: Slot = {
      worker, ctl: new Int32Array(sab, 0, CHANNEL.HEADER_BYTES / 4), payload: new Uint8Array(sab, CHANNEL.HEADER_BYTES),
      stamps: new Float64Array(sab, 0, CHANNEL.HEADER_BYTES / 8), ready: false, seq: 0, known: new Set(), acks: new Map(),
    };
    worker.on('message', (m: WorkerNotice) => {
      if ('ready' in m) {
        slot.ready = true;
        this.#startFailures = 0;
        this.#pump(slot);
      } else if ('loaded' in m) {
        const waiting = slot.acks.get(m.loaded);
        if (waiting) {
          slot.acks.delete(m.loaded);
          for (const r of waiting) r();
        }
      }
      this.#hold(slot);
    });
    worker.on('error', () => {}); // the 'exit' that follows does the work
    worker.on('exit', () => {
      this.#settleAcks(slot);
      Atomics.notify(slot.ctl, CHANNEL.DONE); // releases a pending waitAsync
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

  #settleAcks(slot: Slot): void {
    for (const waiting of slot.acks.values()) for (const r of waiting) r();
    slot.acks.clear();
  }

  /** Posts a control message and rings, so a worker waiting on its channel drains it. */
  #send(slot: Slot, m: ToWorker): void {
    slot.worker.postMessage(m);
    Atomics.add(slot.ctl, CHANNEL.BELL, 1);
    Atomics.notify(slot.ctl, CHANNEL.BELL);
  }

  /**
   * A worker keeps the process alive only while it starts, loads or runs a
   * call, so an idle runtime never holds the process open (and a pending call
   * always does).
   */
  #hold(slot: Slot): void {
    if (!slot.ready || slot.current !== undefined || slot.acks.size > 0) slot.worker.ref();
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
    const seq = ++slot.seq;
    const timer = setTimeout(() => {
      if (slot.current?.seq !== seq) return;
      // The reply came but its wake-up was not handled yet (the timer phase runs first): it is an answer, not a timeout.
      if (Atomics.load(slot.ctl, CHANNEL.DONE) === seq) return this.#finish(slot, seq);
      slot.current = undefined;
      pending.reject(new FunctionError('timeout', `the call ran past its deadline of ${call.timeoutMs} ms; its worker was replaced`));
      this.#replace(slot, 'deadline');
      void slot.worker.terminate();
    }, call.timeoutMs);
    slot.current = { seq, pending, timer, sent: 0, spin: 'off' };
    this.#hold(slot);
    if (!slot.known.has(call.load.id)) {
      slot.known.add(call.load.id);
      slot.worker.postMessage({ op: 'load', ...call.load } satisfies ToWorker);
    }
    const { ctl } = slot;
    slot.payload.set(call.input, 0);
    ctl[CHANNEL.FN] = call.load.id;
    ctl[CHANNEL.INPUT] = call.input.length;
    if (this.#o.trace) slot.current.sent = clock();
    Atomics.store(ctl, CHANNEL.CALL, seq);
    Atomics.add(ctl, CHANNEL.BELL, 1);
    Atomics.notify(ctl, CHANNEL.BELL);
    // The poll waits for the caller's synchronous code to end, so calls made together (a burst) are seen as concurrent.
    if ((this.#o.spinUs ?? 0) > 0) queueMicrotask(() => this.#spin(slot, seq));
    else this.#wait(slot, seq);
  }

  /**
   * Waits on the calling thread, up to `spinUs`, for the reply of the only
   * call in flight: busy-polling the channel while the worker runs the call,
   * and blocking in `Atomics.wait` (which gives up the core) when the worker
   * has not taken the call within {@link HANDOFF_US}, i.e. when it has no
   * core to run on, typically because this thread holds the one it needs
   * (and for the next {@link BLOCK_POLLS} polls, from their start).
   * Either way the reply is read without a turn of the event loop. Past the
   * budget, or when other calls are in flight, it waits asynchronously.
   */
  #spin(slot: Slot, seq: number): void {
    const cur = slot.current;
    if (cur === undefined || cur.seq !== seq) return; // ended meanwhile (closed)
    if (this.#spinning || this.#queue.length > 0 || this.#slots.some((s) => s !== slot && s.current !== undefined)) {
      cur.spin = 'skipped';
      return this.#wait(slot, seq);
    }
    this.#spinning = true;
    const { ctl } = slot;
    const t0 = performance.now();
    const until = t0 + this.#o.spinUs! / 1000;
    // After a handoff the box is busy: the next few polls block from the start rather than hold the core first.
    const handoff = this.#blockPolls > 0 ? t0 : t0 + HANDOFF_US / 1000;
    if (this.#blockPolls > 0) this.#blockPolls--;
    let answered = false;
    let t = t0;
    for (;;) {
      if (Atomics.load(ctl, CHANNEL.DONE) === seq) {
        answered = true;
        break;
      }
      t = performance.now();
      if (t >= until) break;
      if (t >= handoff && Atomics.load(ctl, CHANNEL.TAKEN) !== seq) {
        if (handoff > t0) this.#blockPolls = BLOCK_POLLS;
        Atomics.wait(ctl, CHANNEL.DONE, seq - 1, until - t);
        answered = Atomics.load(ctl, CHANNEL.DONE) === seq;
        t = performance.now();
        break;
      }
    }
    this.#spinning = false;
    cur.spin = answered ? 'answered' : 'budget';
    this.#o.onSpin?.((t - t0) / 1000, answered);
    if (answered) this.#finish(slot, seq);
    else this.#wait(slot, seq);
  }

  #wait(slot: Slot, seq: number): void {
    const wait = Atomics.waitAsync(slot.ctl, CHANNEL.DONE, seq - 1);
    if (wait.async) void wait.value.then(() => this.#finish(slot, seq));
    else queueMicrotask(() => this.#finish(slot, seq));
  }

  #finish(slot: Slot, seq: number): void {
    const cur = slot.current;
    if (cur === undefined || cur.seq !== seq || Atomics.load(slot.ctl, CHANNEL.DONE) !== seq) return;
    if (this.#o.trace) {
      const st = slot.stamps;
      const at = CHANNEL.STAMPS;
      this.#o.trace({ sent: cur.sent, woke: st[at]!, drained: st[at + 1]!, ready: st[at + 2]!, ran: st[at + 3]!, replied: st[at + 4]!, seen: clock(), spin: cur.spin });
    }
    clearTimeout(cur.timer);
    slot.current = undefined;
    const { ctl, payload } = slot;
    const metaLen = ctl[CHANNEL.META]!;
    const outLen = ctl[CHANNEL.OUT]!;
    const errLen = ctl[CHANNEL.ERR]!;
    let reply: PoolReply;
    try {
      const meta = JSON.parse(DECODER.decode(payload.slice(0, metaLen))) as ReplyMeta;
      reply = { ...meta, stdout: payload.slice(metaLen, metaLen + outLen), stderr: payload.slice(metaLen + outLen, metaLen + outLen + errLen) };
    } catch {
      reply = { ok: false, failure: 'channel', message: 'unreadable reply', stderrTruncated: false, stdout: new Uint8Array(0), stderr: new Uint8Array(0) };
    }
    payload.fill(0, 0, Math.max(metaLen + outLen + errLen, cur.pending.call.input.length));
    cur.pending.resolve(reply);
    this.#pump(slot);
    this.#hold(slot);
  }
}
