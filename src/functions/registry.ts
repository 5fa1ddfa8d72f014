/**
 * The function registry: `FunctionRegistry → WasmFunction → call`. A module
 * is checked and compiled once at registration (the compiled
 * `WebAssembly.Module` is what workers cache), so a call costs an
 * instantiation and the run, never a compilation. Every registration and
 * every call asks the policy for `run_function`; without a policy, all is
 * denied.
 */
import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import type { Logger } from '../observability/index.ts';
import { Actions, type Decision, type PolicyInput } from '../policy/index.ts';
import { FunctionError } from './errors.ts';
import { InlineFunction, type InlineMiss } from './inline.ts';
import { meter } from './meter.ts';
import { checkModule, type CheckedModule, type ModuleLimits } from './module.ts';
import { MemoryFunctionStore, type FunctionStore } from './persist.ts';
import { WorkerPool, type CallTrace, type PoolReply } from './pool.ts';
import type { LoadSpec } from './worker.ts';
import { matches, outputResource, parseTrigger, type Trigger, type TriggerResource } from './triggers.ts';

/** Per-function limits; unset fields take the runtime's defaults. */
export interface FunctionLimits {
  /** Most 64 KiB pages of linear memory the module may declare or reach. */
  memoryPages: number;
  /** Wall time of one call, in milliseconds, before its worker is terminated. */
  timeoutMs: number;
  /** Most bytes written to stdout. */
  outputBytes: number;
  /** Bytes of stderr kept for the log; the rest is dropped. */
  logBytes: number;
  /** Most bytes of input. */
  inputBytes: number;
}

export interface RuntimeLimits extends FunctionLimits {
  /** Most bytes of a module binary. */
  moduleBytes: number;
  /** Most table entries a module may declare. */
  tableEntries: number;
  /** Sandbox workers kept started. */
  workers: number;
  /** Calls that may wait for a worker. */
  maxQueue: number;
}

export const DEFAULT_LIMITS: RuntimeLimits = {
  memoryPages: 256,
  timeoutMs: 1000,
  outputBytes: 256 * 1024,
  logBytes: 4096,
  inputBytes: 1024 * 1024,
  moduleBytes: 8 * 1024 * 1024,
  tableEntries: 65536,
  workers: 2,
  maxQueue: 256,
};

/** Who asks: the authenticated principal (auth/), reduced to what the policy input needs. */
export interface Caller {
  id: string;
  role: string;
}

/** One policy question about a function; the node answers it with `PolicyEngine.decide`. */
export type Decide = (input: PolicyInput) => Decision;

export type FunctionOperation = 'register' | 'unregister' | 'enable' | 'disable' | 'call' | 'list';

export interface FunctionRuntimeOptions {
  logger: Logger;
  limits?: Partial<RuntimeLimits>;
  /** The policy. Absent: every operation is denied (default deny). */
  decide?: Decide;
  /** Told after each call, for metrics. `outcome` is `ok` or an error code. */
  onCall?: (name: string, outcome: string, seconds: number) => void;
  /** Where registrations are kept across restarts (default: in memory only). */
  store?: FunctionStore;
  /** Told when a sandbox worker is terminated and replaced, for metrics. */
  onWorkerReplaced?: (reason: 'deadline' | 'crash') => void;
  /**
   * Keep one instance of each function made ahead in every worker, so a call
   * runs without instantiating on its path (default true). Each instance
   * still serves one call only.
   */
  premake?: boolean;
  /**
   * Microseconds a call may busy-poll for its worker's reply on the calling
   * thread before waiting asynchronously (default 0: never); only a call alone
   * in the runtime polls. Blocks the event loop up to this long per call.
   */
  spinUs?: number;
  /** Told after each poll, for metrics: seconds the event loop was held, and whether the reply came within the budget. */
  onSpin?: (seconds: number, answered: boolean) => void;
  /** Told where each answered call's time went (benchmark breakdown). */
  trace?: (t: CallTrace) => void;
  /**
   * Fuel of a call run on the calling thread (inline.ts, meter.ts), in units
   * of about one Wasm expression: a call that needs more, or traps, runs
   * again on a worker. 0 runs every call on a worker. Default
   * {@link DEFAULT_INLINE_FUEL}.
   */
  inlineFuel?: number;
  /** Told how each call offered to the calling thread went: answered there, or sent on to a worker and why. */
  onInline?: (result: 'answered' | InlineMiss) => void;
}

/**
 * Fuel of an inline call by default: NEWS2 takes ~143,000 units (~30 µs), the
 * de-identification of an Observation ~246,000; a tight infinite loop burns
 * this much in ~0.7 ms here, the most one call can hold the event loop.
 */
export const DEFAULT_INLINE_FUEL = 1_000_000;

/** Whether a function's calls can run on the calling thread: being prepared, ready, or not (with the reason). */
export type InlineState = { state: 'pending' } | { state: 'ready' } | { state: 'off'; reason: string };

/** What a caller sees of a registered function. */
export interface FunctionInfo {
  name: string;
  enabled: boolean;
  bytes: number;
  sha256: string;
  registeredAt: string;
  limits: FunctionLimits;
  memoryPages: number;
  trigger?: Trigger;
  /** Whether its calls can run on the calling thread under fuel (else every call goes to a worker). */
  inline: InlineState;
}

/** What one triggered function made of a created resource. */
export interface TriggerResult {
  function: string;
  /** The resource to write, when the trigger's output is a resource type. */
  resource?: Record<string, unknown>;
  output?: unknown;
  error?: FunctionError;
}

export interface CallResult {
  output: unknown;
  /** The function's stderr (capped), for the log; not returned to API callers. */
  log: string;
  /** Instantiation and run time inside the worker, in milliseconds. */
  instantiateMs: number;
  runMs: number;
  /** The instance was made ahead of the call (its instantiation was off the call's path). */
  premade: boolean;
  /** The call ran on the calling thread under fuel, not on a worker. */
  inline: boolean;
}

export const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** A function whose memory starts larger than this many pages gets no instance made ahead. */
const PREMAKE_MAX_PAGES = 64;
const ENCODER = new TextEncoder();
const DECODER = new TextDecoder('utf-8', { fatal: false });

/** A registered function: its checked module and limits. */
class WasmFunction {
  enabled = true;
  inline: InlineFunction | undefined;
  inlineState: InlineState = { state: 'pending' };
  /** Settles once {@link inlineState} is no longer pending. */
  metered: Promise<void> = Promise.resolve();
  constructor(
    readonly name: string,
    readonly load: LoadSpec,
    readonly checked: CheckedModule,
    readonly sha256: string,
    readonly limits: FunctionLimits,
    readonly registeredAt: Date,
    readonly trigger: Trigger | undefined,
    /** The limits the registration asked for (the rest follow the node-wide ones). */
    readonly requested: Partial<FunctionLimits> = {},
  ) {}

  info(): FunctionInfo {
    return {
      name: this.name, enabled: this.enabled, bytes: this.checked.bytes, sha256: this.sha256,
      registeredAt: this.registeredAt.toISOString(), limits: this.limits, memoryPages: this.checked.memory.maxPages,
      ...(this.trigger ? { trigger: this.trigger } : {}), inline: { ...this.inlineState },
    };
  }
}

/** The node-wide limits that may change while the runtime runs (a configuration from the hub). */
export type LiveLimits = Partial<Pick<FunctionLimits, 'memoryPages' | 'timeoutMs' | 'outputBytes' | 'logBytes'>>;

let eager = false;
/**
 * V8 compiles a Wasm function lazily, at its first call, by default: the first
 * call of a freshly registered news2 then took ~700 µs (p50) instead of
 * ~90 µs. Compiling every function at registration (in V8's background
 * threads, `WebAssembly.compile`) keeps compilation off the calls' path, as
 * the sandbox promises. The flag is process-wide and read at each compile.
 */
function compileEagerly(): void {
  if (eager) return;
  eager = true;
  setFlagsFromString('--no-wasm-lazy-compilation');
}

export class FunctionRegistry {
  #limits: RuntimeLimits;
  readonly #channelBytes: number;
  readonly #o: FunctionRuntimeOptions;
  readonly #log: Logger;
  readonly #fns = new Map<string, WasmFunction>();
  readonly #pool: WorkerPool;
  readonly #store: FunctionStore;
  #generation = 0;
  #closed: Promise<void> | undefined;
  readonly #inlineFuel: number;

  constructor(o: FunctionRuntimeOptions) {
    compileEagerly();
    this.#o = o;
    this.#limits = { ...DEFAULT_LIMITS, ...o.limits };
    this.#channelBytes = Math.max(this.limits.inputBytes, this.limits.outputBytes + this.limits.logBytes + 4096);
    this.#log = o.logger.child({ part: 'functions' });
    this.#store = o.store ?? new MemoryFunctionStore();
    this.#inlineFuel = o.inlineFuel ?? DEFAULT_INLINE_FUEL;
    this.#pool = new WorkerPool({
      size: this.limits.workers,
      maxQueue: this.limits.maxQueue,
      channelBytes: this.#channelBytes,
      resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 },
      onReplace: (reason) => {
        this.#log.warn({ reason }, 'sandbox worker replaced');
        o.onWorkerReplaced?.(reason);
      },
      ...(o.spinUs ? { spinUs: o.spinUs } : {}),
      ...(o.onSpin ? { onSpin: o.onSpin } : {}),
      ...(o.trace ? { trace: o.trace } : {}),
    });
  }

  /** The node-wide limits in force: the default and the most a function may ask for. */
  get limits(): Readonly<RuntimeLimits> {
    return this.#limits;
  }

  /**
   * Throws a {@link FunctionError} naming the limit when `l` cannot be put in
   * force live: stdout plus stderr must fit the sandbox channel the workers
   * were started with (a larger one needs a restart with the local setting).
   */
  checkLimits(l: LiveLimits): void {
    for (const [k, v] of Object.entries(l)) {
      if (v !== undefined && (!Number.isInteger(v) || v < (k === 'logBytes' ? 0 : 1))) throw new FunctionError('badInput', `${k} must be a whole number`);
    }
    const out = l.outputBytes ?? this.#limits.outputBytes;
    const err = l.logBytes ?? this.#limits.logBytes;
    if (out + err + 4096 > this.#channelBytes) {
      throw new FunctionError('badInput', `${l.outputBytes !== undefined ? 'outputBytes' : 'logBytes'}: stdout ${out} + stderr ${err} bytes do not fit the running sandbox channel (${this.#channelBytes - 4096} bytes); raise it locally and restart`);
    }
  }

  /**
   * New node-wide limits, at once: later registrations are checked against
   * them; the deadline of every registered function follows (its own when it
   * asked for a lower one, else the node's), from its next call. Memory,
   * stdout and stderr of registered functions stay as checked at their
   * registration until they are registered again or the node restarts.
   */
  setLimits(l: LiveLimits): void {
    this.checkLimits(l);
    this.#limits = { ...this.#limits, ...Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined)) };
    for (const fn of this.#fns.values()) {
      const asked = fn.requested.timeoutMs;
      fn.limits.timeoutMs = asked !== undefined && Number.isInteger(asked) && asked > 0 ? Math.min(asked, this.#limits.timeoutMs) : this.#limits.timeoutMs;
    }
    this.#log.info({ limits: { memoryPages: this.#limits.memoryPages, timeoutMs: this.#limits.timeoutMs, outputBytes: this.#limits.outputBytes, logBytes: this.#limits.logBytes } }, 'node-wide function limits changed');
  }

  /** Resolves once the sandbox workers have started. */
  ready(): Promise<void> {
    return this.#pool.ready();
  }

  /** Sandbox workers replaced so far (after a deadline or a crash). */
  get workersReplaced(): number {
    return this.#pool.replaced;
  }

  /**
   * Checks, compiles and registers a module under `name` (replacing any
   * function of that name), enabled. Refused with a {@link FunctionError}
   * that names the reason, e.g. the import the sandbox does not grant.
   */
  async register(caller: Caller, name: string, wasm: Uint8Array, limits: Partial<FunctionLimits> = {}, trigger?: Trigger): Promise<FunctionInfo> {
    this.#open();
    if (!NAME_PATTERN.test(name)) throw new FunctionError('badName', 'a function name is 1-63 of a-z, 0-9 and -, starting with a letter or digit');
    this.#authorize(caller, name, 'register');
    if (trigger !== undefined) trigger = parseTrigger(trigger);
    const fn = await this.#load(name, wasm, limits, true, new Date(), false, trigger);
    await this.#store.save({ name, wasm, limits, enabled: true, registeredAt: fn.registeredAt.toISOString(), ...(trigger ? { trigger } : {}) });
    await this.#install(fn, wasm);
    this.#log.info({ function: name, bytes: wasm.length, sha256: fn.sha256 }, 'function registered');
    return fn.info();
  }

  /**
   * Registers again what the store kept (at start, before serving). These
   * were authorized when registered, so the policy is not asked; each module
   * is checked again against today's limits, and one that fails is skipped
   * (and reported) rather than stopping the others.
   */
  async restore(): Promise<{ restored: FunctionInfo[]; failed: Array<{ name: string; code: string; message: string }> }> {
    this.#open();
    const restored: FunctionInfo[] = [];
    const failed: Array<{ name: string; code: string; message: string }> = [];
    for (const kept of this.#store.load()) {
      try {
        const fn = await this.#load(kept.name, kept.wasm, kept.limits, kept.enabled, new Date(kept.registeredAt), true, kept.trigger);
        await this.#install(fn, kept.wasm);
        restored.push(fn.info());
      } catch (err) {
        const e = err instanceof FunctionError ? err : new FunctionError('internal', 'internal error');
        failed.push({ name: kept.name, code: e.code, message: e.message });
        this.#log.warn({ function: kept.name, code: e.code }, 'kept function not restored');
      }
    }
    return { restored, failed };
  }

  async #load(name: string, wasm: Uint8Array, limits: Partial<FunctionLimits>, enabled: boolean, at: Date, restoring: boolean, trigger?: Trigger): Promise<WasmFunction> {
    const fnLimits = this.#fnLimits(limits, restoring);
    const checked = await checkModule(wasm, { memoryPages: fnLimits.memoryPages, tableEntries: this.limits.tableEntries, moduleBytes: this.limits.moduleBytes });
    const sha256 = createHash('sha256').update(wasm).digest('hex');
    this.#open();
    const load: LoadSpec = {
      id: ++this.#generation, module: checked.module, memory: checked.memory,
      stdoutLimit: fnLimits.outputBytes, stderrLimit: fnLimits.logBytes,
      // No instance is made ahead for a module with a start section (its code would run before the input is known),
      // nor for one whose memory starts large (a made-ahead instance holds its memory while it waits).
      premake: this.#o.premake !== false && !checked.startSection && checked.memory.initialPages <= PREMAKE_MAX_PAGES,
    };
    const fn = new WasmFunction(name, load, checked, sha256, fnLimits, at, trigger, { ...limits });
    fn.enabled = enabled;
    return fn;
  }

  /**
   * Makes the fuel-metered copy of `fn`'s module in the background (meter.ts);
   * until it is ready, or when it cannot be made, calls go to the workers.
   */
  #prepareInline(fn: WasmFunction, wasm: Uint8Array): void {
    const off = (reason: string): void => {
      fn.inlineState = { state: 'off', reason };
    };
    if (this.#inlineFuel <= 0) return off('inline calls are turned off (TELEMED_FN_INLINE_FUEL=0)');
    if (fn.checked.startSection) return off('the module has a start section (its code would run before the call)');
    if (fn.checked.memory.initialPages > PREMAKE_MAX_PAGES) return off(`its memory starts at ${fn.checked.memory.initialPages} pages (more than ${PREMAKE_MAX_PAGES})`);
    fn.metered = (async () => {
      const metered = await meter(wasm);
      if (!metered.ok) return off(`it cannot be metered: ${metered.reason}`);
      const module = await WebAssembly.compile(metered.bytes);
      if (this.#closed || this.#fns.get(fn.name) !== fn) return off('replaced or unregistered');
      const maximum = Math.min(metered.memory.maximum ?? Infinity, fn.checked.memory.maxPages);
      fn.inline = new InlineFunction({
        module, memory: { ...metered.memory, maximum }, stdoutLimit: fn.load.stdoutLimit, stderrLimit: fn.load.stderrLimit, premake: this.#o.premake !== false,
      });
      fn.inlineState = { state: 'ready' };
      this.#log.debug({ function: fn.name, sites: metered.sites }, 'function runs inline under fuel');
    })().catch((err: unknown) => off(`it cannot be metered: ${String((err as Error)?.message ?? err).slice(0, 200)}`));
  }

  /** Resolves once it is known whether `name`'s calls can run on the calling thread (its {@link FunctionInfo.inline} is not pending). */
  async inlineSettled(name: string): Promise<InlineState> {
    const fn = this.#fns.get(name);
    if (fn === undefined) throw new FunctionError('notFound', `no function named ${name}`);
    await fn.metered;
    return { ...fn.inlineState };
  }

  /** Makes `fn` the function of its name, gives its module to the workers (resolves once they have it) and starts its metered copy. */
  #install(fn: WasmFunction, wasm: Uint8Array): Promise<void> {
    const old = this.#fns.get(fn.name);
    this.#fns.set(fn.name, fn);
    this.#prepareInline(fn, wasm);
    if (old) {
      this.#pool.forget(old.load.id);
      old.inline?.close();
    }
    return this.#pool.load(fn.load);
  }

  /** Removes a function (at once; resolves once the store forgot it); calls already running finish. */
  async unregister(caller: Caller, name: string): Promise<void> {
    this.#open();
    const fn = this.#get(caller, name, 'unregister');
    this.#fns.delete(name);
    this.#pool.forget(fn.load.id);
    fn.inline?.close();
    await this.#store.delete(name);
    this.#log.info({ function: name }, 'function unregistered');
  }

  /** Enables or disables a function (at once; resolves once kept); a disabled function's calls fail with `FN_ERR_DISABLED`. */
  async setEnabled(caller: Caller, name: string, enabled: boolean): Promise<FunctionInfo> {
    this.#open();
    const fn = this.#get(caller, name, enabled ? 'enable' : 'disable');
    fn.enabled = enabled;
    await this.#store.setEnabled(name, enabled);
    this.#log.info({ function: name, enabled }, 'function enabled changed');
    return fn.info();
  }

  enable(caller: Caller, name: string): Promise<FunctionInfo> {
    return this.setEnabled(caller, name, true);
  }

  disable(caller: Caller, name: string): Promise<FunctionInfo> {
    return this.setEnabled(caller, name, false);
  }

  /** The registered functions. */
  list(caller: Caller): FunctionInfo[] {
    this.#open();
    this.#authorize(caller, '*', 'list');
    return [...this.#fns.values()].map((f) => f.info());
  }

  /** One function's description, or undefined. */
  get(caller: Caller, name: string): FunctionInfo | undefined {
    this.#open();
    this.#authorize(caller, name, 'list');
    return this.#fns.get(name)?.info();
  }

  /**
   * Runs a function on `input` (a JSON value, or a string holding JSON) in a
   * sandbox worker and returns its output document. Fails with a
   * {@link FunctionError}: the deadline, memory, output and trap errors leave
   * the node and other calls untouched.
   */
  async call(caller: Caller, name: string, input: unknown): Promise<CallResult> {
    this.#open();
    const fn = this.#get(caller, name, 'call');
    if (!fn.enabled) throw new FunctionError('disabled', `function ${name} is disabled`);
    const text = typeof input === 'string' ? input : JSON.stringify(input);
    if (text === undefined) throw new FunctionError('badInput', 'the input is not a JSON value');
    if (typeof input === 'string') {
      try {
        JSON.parse(input);
      } catch {
        throw new FunctionError('badInput', 'the input is not valid JSON');
      }
    }
    const bytes = ENCODER.encode(text);
    if (bytes.length > fn.limits.inputBytes) throw new FunctionError('badInput', `the input is ${bytes.length} bytes; the limit is ${fn.limits.inputBytes}`);
    const started = performance.now();
    let outcome = 'ok';
    try {
      let reply: PoolReply | undefined;
      const inline = fn.inline;
      if (inline !== undefined && inline.take()) { // never set with TELEMED_FN_INLINE_FUEL=0
        const r = inline.run(bytes, this.#inlineFuel);
        if (typeof r === 'string') this.#o.onInline?.(r);
        else {
          this.#o.onInline?.('answered');
          reply = r;
        }
      }
      const ranInline = reply !== undefined;
      reply ??= await this.#pool.run({ load: fn.load, input: bytes, timeoutMs: fn.limits.timeoutMs });
      const log = reply.stderr.length > 0 ? DECODER.decode(reply.stderr) : '';
      if (log) this.#log.info({ function: name, stderr: log, truncated: reply.stderrTruncated || undefined }, 'function log');
      if (!reply.ok) throw toError(name, reply, log);
      let output: unknown;
      try {
        output = JSON.parse(DECODER.decode(reply.stdout));
      } catch (err) {
        throw new FunctionError('badOutput', `function ${name}: stdout is not one JSON document: ${(err as Error).message.slice(0, 120)}`);
      }
      return { output, log, instantiateMs: reply.instantiateMs, runMs: reply.runMs, premade: reply.premade, inline: ranInline };
    } catch (err) {
      outcome = err instanceof FunctionError ? err.code : 'error';
      if (err instanceof FunctionError && err.status >= 500) this.#log.warn({ function: name, code: err.code }, 'function call failed');
      throw err;
    } finally {
      this.#o.onCall?.(name, outcome, (performance.now() - started) / 1000);
    }
  }

  /**
   * Runs every enabled function whose trigger matches a created `resource`
   * (its input is the resource) and returns what each made: the resource to
   * write, or the error that function ended with. One function's failure
   * does not stop the others. `caller` is the node's own principal; the
   * policy is asked for each call as for any other.
   */
  async runTriggers(caller: Caller, resource: TriggerResource): Promise<TriggerResult[]> {
    this.#open();
    const due = [...this.#fns.values()].filter((f) => f.enabled && f.trigger !== undefined && matches(f.trigger, resource));
    return Promise.all(due.map(async (f): Promise<TriggerResult> => {
      try {
        const { output } = await this.call(caller, f.name, resource);
        const made = outputResource(f.name, f.trigger!, output, resource);
        return { function: f.name, output, ...(made ? { resource: made } : {}) };
      } catch (err) {
        const error = err instanceof FunctionError ? err : new FunctionError('internal', 'internal error');
        this.#log.warn({ function: f.name, code: error.code, trigger: resource.resourceType }, 'triggered function failed');
        return { function: f.name, error };
      }
    }));
  }

  /** Stops the workers and forgets every function; later operations fail with `FN_ERR_CLOSED`. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      for (const fn of this.#fns.values()) fn.inline?.close();
      this.#fns.clear();
      await this.#pool.close();
    })();
    return this.#closed;
  }

  #open(): void {
    if (this.#closed) throw new FunctionError('closed', 'the function runtime is closed');
  }

  /**
   * A function's limits: each one it asks for, or the runtime's. At
   * registration, asking for more than the runtime's (the node-wide maximum)
   * or for something that is not a positive whole number is refused; a kept
   * registration restored under lower node-wide limits is brought down to them.
   */
  #fnLimits(l: Partial<FunctionLimits>, restoring: boolean): FunctionLimits {
    const d = this.limits;
    const pick = (key: keyof FunctionLimits): number => {
      const v = l[key];
      const max = d[key];
      if (v === undefined) return max;
      if (!Number.isInteger(v) || v <= 0) {
        if (restoring) return max;
        throw new FunctionError('badInput', `${key} must be a positive whole number`);
      }
      if (v > max) {
        if (restoring) return max;
        throw new FunctionError('badInput', `${key} ${v} is above this node's maximum of ${max}`);
      }
      return v;
    };
    return {
      memoryPages: pick('memoryPages'), timeoutMs: pick('timeoutMs'), outputBytes: pick('outputBytes'),
      logBytes: pick('logBytes'), inputBytes: pick('inputBytes'),
    };
  }

  #get(caller: Caller, name: string, op: FunctionOperation): WasmFunction {
    this.#authorize(caller, name, op);
    const fn = this.#fns.get(name);
    if (fn === undefined) throw new FunctionError('notFound', `no function named ${name}`);
    return fn;
  }

  #authorize(caller: Caller, name: string, operation: FunctionOperation): void {
    const input: PolicyInput = {
      action: Actions.runFunction,
      user: { id: caller.id, role: caller.role },
      data_stays_local: true,
      destination: 'local',
      resource: { type: 'Function', id: name, operation },
    };
    let decision: Decision = { allow: false, reason: 'no_policy' };
    try {
      if (this.#o.decide) decision = this.#o.decide(input);
    } catch {
      decision = { allow: false, reason: 'policy_error' };
    }
    if (decision.allow !== true) throw new FunctionError('denied', `run_function ${operation} denied (${decision.reason})`);
  }
}

function toError(name: string, r: Extract<PoolReply, { ok: false }>, stderr: string): FunctionError {
  switch (r.failure) {
    case 'exit': {
      const first = stderr.split('\n').find((l) => l.trim() !== '')?.slice(0, 300);
      return new FunctionError('exit', `function ${name} ${r.message}${first ? `: ${first}` : ''}`);
    }
    case 'output': return new FunctionError('outputTooLarge', `function ${name} ${r.message}`);
    case 'memory': return new FunctionError('memoryLimit', `function ${name} reached its memory limit: ${r.message}`);
    case 'instantiate': return new FunctionError('trap', `function ${name} could not be instantiated: ${r.message}`);
    case 'unknown_module':
    case 'channel': return new FunctionError('worker', `function ${name}: ${r.message}`);
    default: return new FunctionError('trap', `function ${name} trapped: ${r.message}`);
  }
}
