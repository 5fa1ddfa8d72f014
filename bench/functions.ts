/**
 * `npm run bench -- functions` (or `node --import tsx bench/functions.ts`):
 * what a Wasm function call costs, for news2, and what the alternatives cost
 * on the same machine in the same run.
 *
 * Each configuration has its own one-worker registry, warmed up first (so a
 * "warm worker" has optimized its JavaScript); their cold calls take turns,
 * so each configuration sees the same neighbours' load.
 *
 *   inline      the default path: the call runs on the calling thread on a
 *               fuel-metered copy of the module (TELEMED_FN_INLINE_FUEL;
 *               registration is followed by waiting for that copy), with the
 *               instance made ahead and with instantiation on the call's path
 *   cold call   (on the worker, TELEMED_FN_INLINE_FUEL=0) first call of a registered module on a warm worker (each
 *               iteration registers the module under a new name, with a
 *               custom section of its own so that V8 reuses no code compiled
 *               for an earlier one; registration
 *               resolves once the worker holds the compiled module), measured
 *               with the instance made ahead (the default: the worker
 *               instantiates right after loading the module, and after each
 *               call once idle for 2 ms, off the call's path) and with
 *               instantiation on the call's path (`premake: false`); each with
 *               the caller polling for the reply (TELEMED_FN_SPIN_US, default
 *               budget) and without (0: `Atomics.waitAsync` only), and the
 *               cold call at other budgets
 *   breakdown   where a cold call's time goes, from the pool's and the
 *               worker's hrtime stamps (CallTrace): caller before the ring,
 *               worker wake-up, control messages, taking the instance, run,
 *               reply, caller seeing the reply, caller after it
 *   warm call   later calls: a fresh instance per call, module cached in the worker
 *   in-thread   instantiate + run on the main thread with the same WASI host
 *               (no worker hop): the sandbox's own cold-start floor
 *   steady      the event loop's delay (what HTTP and WebSocket feel) while
 *               news2 is called BENCH_RATE times a second (default 200) for
 *               BENCH_RATE_SECONDS (default 5): no calls, on the calling
 *               thread, on the worker with and without the reply poll
 *   worker      starting a fresh worker_thread until its first message
 *   process     spawning a child `node` that computes NEWS2 in JavaScript
 *
 * Settings: BENCH_INLINE_FUEL (default: TELEMED_FN_INLINE_FUEL's default), BENCH_COLD (default 400), BENCH_WARMUP (calls that warm each
 * worker up first, default 300), BENCH_WARM (default 2000),
 * BENCH_SPAWNS (default 20), BENCH_SPIN_US (default: the configuration's
 * default, TELEMED_FN_SPIN_US), BENCH_SPIN_SWEEP (other budgets for the cold
 * call, default 250,500). Figures, not assertions. On a shared machine the
 * tails measure the neighbours (say the load with every figure);
 * `chrt -f 10 node --import tsx bench/run.ts functions` (root) lets the
 * bench's threads preempt them, which approximates a quiet box.
 */
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { buildFunction, FUNCTIONS_DIR } from '../src/functions/build.ts';
import { FunctionRegistry, type CallTrace } from '../src/functions/index.ts';
import { loadConfig } from '../src/config/index.ts';
import { createWasiHost } from '../src/functions/wasi.ts';
import { createLogger } from '../src/observability/index.ts';

const COLD = Number(process.env.BENCH_COLD ?? 400);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 300);
const WARM = Number(process.env.BENCH_WARM ?? 2000);
const SPAWNS = Number(process.env.BENCH_SPAWNS ?? 20);
const SPIN = Number(process.env.BENCH_SPIN_US ?? loadConfig({}).fnSpinUs);
const RATE = Number(process.env.BENCH_RATE ?? 200);
const RATE_SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 5);
const INLINE_FUEL = Number(process.env.BENCH_INLINE_FUEL ?? loadConfig({}).fnInlineFuel);
const SWEEP = (process.env.BENCH_SPIN_SWEEP ?? '250,500').split(',').filter((v) => v.trim() !== '').map(Number).filter((v) => v !== SPIN && v > 0);
const INPUT = { respiratoryRate: 25, spo2: 91, onOxygen: false, systolicBP: 95, heartRate: 115, consciousness: 'A', temperature: 38.5 };
const who = { id: 'bench', role: 'admin' };

/** `wasm` with a custom section named `tag` appended: the same code, bytes of its own. */
function unique(wasm: Uint8Array, tag: string): Uint8Array {
  const name = new TextEncoder().encode(tag);
  const body = [name.length, ...name]; // tags are short: one-byte LEB128 lengths
  return new Uint8Array([...wasm, 0, body.length, ...body]);
}

function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function fmt(ms: number): string {
  return ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`;
}

function line(label: string, values: number[]): { p50: number; p99: number } {
  const p50 = pct(values, 50);
  const p99 = pct(values, 99);
  process.stdout.write(`  ${label.padEnd(44)} p50 ${fmt(p50).padStart(9)}   p99 ${fmt(p99).padStart(9)}   (n=${values.length})\n`);
  return { p50, p99 };
}

/** NEWS2 in plain JavaScript, for the child-process baseline. */
const NEWS2_JS = `
let t='';process.stdin.on('data',d=>t+=d).on('end',()=>{const v=JSON.parse(t);
const b=(x,e)=>{for(const [lim,p] of e){if(x<=lim)return p}return e.at(-1)[1]};
const s=b(v.respiratoryRate,[[8,3],[11,1],[20,0],[24,2],[1e9,3]])+b(v.spo2,[[91,3],[93,2],[95,1],[1e9,0]])+(v.onOxygen?2:0)
+b(v.systolicBP,[[90,3],[100,2],[110,1],[219,0],[1e9,3]])+b(v.heartRate,[[40,3],[50,1],[90,0],[110,1],[130,2],[1e9,3]])
+(v.consciousness==='A'?0:3)+b(v.temperature,[[35,3],[36,1],[38,0],[39,1],[1e9,2]]);
process.stdout.write(JSON.stringify({score:s,risk:s>=7?'high':s>=5?'medium':'low'}))});`;

function spawnOnce(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['-e', NEWS2_JS], { stdio: ['pipe', 'pipe', 'inherit'], env: { PATH: process.env.PATH ?? '' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', reject);
    child.on('close', () => {
      if (!out.includes('"score":11')) reject(new Error(`child baseline answered ${out}`));
      else resolve(performance.now() - t0);
    });
    child.stdin.end(JSON.stringify(INPUT));
  });
}

function workerOnce(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const w = new Worker(`require('node:worker_threads').parentPort.postMessage(1)`, { eval: true, execArgv: [], env: {} });
    w.once('message', () => {
      const ms = performance.now() - t0;
      void w.terminate().then(() => resolve(ms));
    });
    w.once('error', reject);
  });
}

export async function run(): Promise<void> {
  const wasm = await buildFunction(join(FUNCTIONS_DIR, 'news2'));
  const os = await import('node:os');
  // p99 figures on a shared machine measure the neighbours too: the load average says how busy it was.
  process.stdout.write(`news2.wasm: ${wasm.length} bytes; machine: ${os.availableParallelism()} cores, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  process.stdout.write(`reply poll budget (TELEMED_FN_SPIN_US): ${SPIN} µs${process.env.BENCH_SPIN_US ? ' (BENCH_SPIN_US)' : ' (the default)'}\n`);

  // In-thread floor: instantiate + run with the sandbox's WASI host, no worker hop.
  const module = new WebAssembly.Module(wasm);
  const input = new TextEncoder().encode(JSON.stringify(INPUT));
  const inThread: number[] = [];
  for (let i = 0; i < WARM; i++) {
    const t0 = performance.now();
    const wasi = createWasiHost({ stdin: input, stdoutLimit: 65536, stderrLimit: 4096 });
    const inst = new WebAssembly.Instance(module, { wasi_snapshot_preview1: wasi.imports } as WebAssembly.Imports);
    wasi.bind(inst.exports.memory as WebAssembly.Memory);
    (inst.exports._start as () => void)();
    JSON.parse(new TextDecoder().decode(wasi.stdout()));
    inThread.push(performance.now() - t0);
  }

  /** One call's phases in µs, from the caller's clock and the pool's and worker's stamps (all process.hrtime). */
  type Phases = Record<'caller before ring' | 'worker wake-up' | 'control messages' | 'take instance' | 'run' | 'reply' | 'caller sees reply' | 'caller after', number>;
  interface Figures {
    cold: number[]; coldInWorker: number[]; phases: Phases[]; coldPolled: number;
    warm: number[]; warmInWorker: number[]; premade: number; warmPremade: number; perSecond: number;
    spins: number; spinAnswered: number; spinSeconds: number; mainGcMs: number;
  }
  const hr = (): number => {
    const t = process.hrtime();
    return t[0] * 1e6 + t[1] / 1e3;
  };
  /** One configuration under test: a one-worker registry and its figures. */
  interface Setup { premake: boolean; spinUs: number; warmToo: boolean; inline: boolean; registry: FunctionRegistry; f: Figures; last?: CallTrace }
  /** `inline`: calls on the calling thread under the default fuel (the node's default); else every call on the worker. */
  const setup = (premake: boolean, spinUs: number, warmToo: boolean, inline = false): Setup => {
    const f: Figures = {
      cold: [], coldInWorker: [], phases: [], coldPolled: 0, warm: [], warmInWorker: [], premade: 0, warmPremade: 0, perSecond: 0,
      spins: 0, spinAnswered: 0, spinSeconds: 0, mainGcMs: 0,
    };
    const s = { premake, spinUs, warmToo, inline, f } as Setup;
    s.registry = new FunctionRegistry({
      logger: createLogger({ level: 'silent' }),
      limits: { workers: 1, maxQueue: 4096 },
      decide: () => ({ allow: true, reason: 'bench' }),
      premake,
      spinUs,
      inlineFuel: inline ? INLINE_FUEL : 0,
      onSpin: (seconds, answered) => {
        f.spins++;
        f.spinSeconds += seconds;
        if (answered) f.spinAnswered++;
      },
      trace: (t) => { s.last = t; },
    });
    return s;
  };
  const setups = {
    inline: setup(true, SPIN, true, true),
    inlineOnPath: setup(false, SPIN, false, true),
    ahead: setup(true, SPIN, true),
    aheadOff: setup(true, 0, true),
    onPath: setup(false, SPIN, true),
    onPathOff: setup(false, 0, false),
    sweep: SWEEP.map((b) => setup(true, b, false)),
  };
  interface Paced { label: string; delayP50: number; delayP99: number; delayMax: number; calls: number[]; inline: number }
  const paced: Paced[] = [];
  /** RATE calls a second of news2 for RATE_SECONDS (none for the baseline), with the event loop's delay sampled every 1 ms. */
  const steady = async (label: string, s: Setup | undefined): Promise<Paced> => {
    const { monitorEventLoopDelay } = await import('node:perf_hooks');
    const h = monitorEventLoopDelay({ resolution: 1 });
    const calls: number[] = [];
    let inline = 0;
    const pending: Array<Promise<void>> = [];
    h.enable();
    const timer = setInterval(() => {
      if (!s) return;
      const t0 = performance.now();
      pending.push(s.registry.call(who, 'news2', INPUT).then((r) => {
        calls.push(performance.now() - t0);
        if (r.inline) inline++;
      }));
    }, 1000 / RATE);
    await new Promise((r) => setTimeout(r, RATE_SECONDS * 1000));
    clearInterval(timer);
    await Promise.all(pending);
    h.disable();
    return { label, delayP50: h.percentile(50) / 1e6, delayP99: h.percentile(99) / 1e6, delayMax: h.max / 1e6, calls, inline };
  };
  const all = [setups.inline, setups.inlineOnPath, setups.ahead, setups.aheadOff, setups.onPath, setups.onPathOff, ...setups.sweep];
  // Main-thread GC pauses overlapping cold calls (the worker's own GCs are not observable from here).
  const { PerformanceObserver } = await import('node:perf_hooks');
  const gcs: Array<[number, number]> = [];
  const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) gcs.push([e.startTime, e.duration]); });
  obs.observe({ entryTypes: ['gc'] });
  try {
    for (const s of all) await s.registry.ready();
    // "A warm worker": its JavaScript (channel, WASI host) has run often enough to be optimized, as in a node that has been serving.
    for (const s of all) {
      await s.registry.register(who, 'warmup', wasm);
      await s.registry.inlineSettled('warmup');
      for (let i = 0; i < WARMUP; i++) await s.registry.call(who, 'warmup', INPUT);
      await s.registry.unregister(who, 'warmup');
    }
    // Cold calls, the configurations taking turns, so each sees the same neighbours' load.
    const windows = new Map<Setup, Array<[number, number]>>(all.map((s) => [s, []]));
    for (let i = 0; i < COLD; i++) {
      for (const s of all) {
        const { registry, f } = s;
        const name = `news2-${i}`;
        // Registration resolves once the worker holds the compiled module (and, with premake, an instance made ahead).
        // Bytes of its own (a custom section naming it), so no code V8 compiled for an earlier registration is reused.
        await registry.register(who, name, unique(wasm, name));
        // With inline calls: and once its metered copy is ready (and, with premake, an instance made ahead on this thread).
        if ((await registry.inlineSettled(name)).state !== (s.inline ? 'ready' : 'off')) throw new Error(`${name}: inline state not as configured`);
        const p0 = performance.now();
        const t0 = hr();
        const r = await registry.call(who, name, INPUT);
        const t1 = hr();
        windows.get(s)!.push([p0, performance.now()]);
        f.cold.push((t1 - t0) / 1000);
        f.coldInWorker.push((r.premade ? 0 : r.instantiateMs) + r.runMs);
        if (r.premade) f.premade++;
        if (r.inline !== s.inline) throw new Error(`${name}: ran ${r.inline ? '' : 'not '}inline`);
        await registry.unregister(who, name);
        if (s.inline) continue;
        const t = s.last!;
        if (t.spin === 'answered' || t.spin === 'budget') f.coldPolled++;
        f.phases.push({
          'caller before ring': t.sent - t0, 'worker wake-up': t.woke - t.sent, 'control messages': t.drained - t.woke,
          'take instance': t.ready - t.drained, run: t.ran - t.ready, reply: t.replied - t.ran,
          'caller sees reply': t.seen - t.replied, 'caller after': t1 - t.seen,
        });
      }
    }
    await new Promise((r) => setImmediate(r));
    for (const [s, w] of windows) for (const [ws, we] of w) for (const [gs, gd] of gcs) s.f.mainGcMs += Math.max(0, Math.min(we, gs + gd) - Math.max(ws, gs));
    for (const s of all.filter((x) => x.warmToo)) {
      const { registry, f } = s;
      await registry.register(who, 'news2', wasm);
      await registry.inlineSettled('news2');
      await registry.call(who, 'news2', INPUT);
      for (let i = 0; i < WARM; i++) {
        const t0 = performance.now();
        const r = await registry.call(who, 'news2', INPUT);
        f.warm.push(performance.now() - t0);
        f.warmInWorker.push((r.premade ? 0 : r.instantiateMs) + r.runMs);
        if (r.premade) f.warmPremade++;
      }
      const burst = Math.min(WARM, 2000);
      const t0 = performance.now();
      await Promise.all(Array.from({ length: burst }, () => registry.call(who, 'news2', INPUT)));
      f.perSecond = burst / ((performance.now() - t0) / 1000);
    }
    // What the rest of the node feels: the event loop's delay while calls come at a steady rate, as vitals would bring them.
    paced.push(await steady('no calls (baseline)', undefined));
    paced.push(await steady('on the calling thread (default)', setups.inline));
    paced.push(await steady('on the worker, reply poll (TELEMED_FN_INLINE_FUEL=0)', setups.ahead));
    paced.push(await steady('on the worker, no reply poll (and TELEMED_FN_SPIN_US=0)', setups.aheadOff));
  } finally {
    obs.disconnect();
    await Promise.all(all.map((s) => s.registry.close()));
  }
  const inl = setups.inline.f;
  const inlOnPath = setups.inlineOnPath.f;
  const ahead = setups.ahead.f;
  const aheadOff = setups.aheadOff.f;
  const onPath = setups.onPath.f;
  const onPathOff = setups.onPathOff.f;
  const sweep: Array<[number, Figures]> = setups.sweep.map((s) => [s.spinUs, s.f]);
  const workers: number[] = [];
  for (let i = 0; i < SPAWNS; i++) workers.push(await workerOnce());
  const procs: number[] = [];
  for (let i = 0; i < SPAWNS; i++) procs.push(await spawnOnce());

  const polled = (x: Figures): string => `${x.coldPolled} of ${COLD} cold calls polled; ${x.spinAnswered} of ${x.spins} polls answered within the budget; `
    + `event loop held ${(x.spins ? (x.spinSeconds / x.spins) * 1e6 : 0).toFixed(0)} µs per poll on average`;
  process.stdout.write('\nnews2, end to end from the caller (registry.call → parsed output):\n');
  process.stdout.write(`on the calling thread under fuel (the default; TELEMED_FN_INLINE_FUEL ${INLINE_FUEL}), instance made ahead (${inl.premade} of ${COLD} cold calls found one):\n`);
  const c = line('cold call (first call of a registered module)', inl.cold);
  line(`warm call (back to back: ${inl.warmPremade} of ${WARM} found one made ahead)`, inl.warm);
  process.stdout.write('on the calling thread under fuel, instantiation on the call\'s path (premake: false):\n');
  const cip = line('cold call (first call: instantiate + run)', inlOnPath.cold);
  process.stdout.write(`on the worker (TELEMED_FN_INLINE_FUEL=0), one worker, instance made ahead (${ahead.premade} of ${COLD} cold calls found one), reply poll ${SPIN} µs (default):\n`);
  const cw = line('cold call (first call of a registered module)', ahead.cold);
  line(`warm call (back to back: ${ahead.warmPremade} of ${WARM} found one made ahead)`, ahead.warm);
  process.stdout.write(`  (${polled(ahead)})\n`);
  process.stdout.write('on the worker, instance made ahead, no reply poll (TELEMED_FN_SPIN_US=0: Atomics.waitAsync only):\n');
  const cOff = line('cold call', aheadOff.cold);
  line('warm call', aheadOff.warm);
  for (const [budget, x] of sweep) {
    process.stdout.write(`on the worker, instance made ahead, reply poll ${budget} µs:\n`);
    line('cold call', x.cold);
  }
  process.stdout.write(`on the worker, instantiation on the call's path (premake: false), reply poll ${SPIN} µs:\n`);
  const cp = line('cold call (first call: instantiate + run)', onPath.cold);
  line('warm call (instantiate + run)', onPath.warm);
  process.stdout.write('on the worker, instantiation on the call\'s path, no reply poll:\n');
  line('cold call (first call: instantiate + run)', onPathOff.cold);
  process.stdout.write('inside the call (instantiate when not made ahead, + run):\n');
  line('cold, on the calling thread, instance made ahead (run)', inl.coldInWorker);
  line('cold, on the calling thread, instantiate + run', inlOnPath.coldInWorker);
  const ci = line('cold, instance made ahead (run)', ahead.coldInWorker);
  line('warm, back to back (mostly instantiate + run)', ahead.warmInWorker);
  const cpi = line('cold, instantiate + run', onPath.coldInWorker);
  line('warm, instantiate + run', onPath.warmInWorker);
  for (const [label, x] of [[`reply poll ${SPIN} µs`, ahead], ['no reply poll', aheadOff]] as const) {
    process.stdout.write(`where a cold call's time goes (instance made ahead, ${label}; µs; main-thread GC overlapping the ${COLD} calls: ${x.mainGcMs.toFixed(1)} ms in all):\n`);
    for (const k of Object.keys(x.phases[0]!) as Array<keyof Phases>) {
      const v = x.phases.map((p) => p[k] / 1000);
      line(`  ${k}`, v);
    }
  }
  process.stdout.write('without the worker hop, unmetered, no registry:\n');
  const it = line('instantiate + run on the main thread', inThread);
  process.stdout.write('alternatives, same machine, same run:\n');
  const w = line('fresh worker_thread to first message', workers);
  const p = line('child process computing NEWS2 in JavaScript', procs);
  process.stdout.write(`\nthroughput, ${Math.min(WARM, 2000)} calls in flight: ${inl.perSecond.toFixed(0)} calls/s on the calling thread; 1 worker: ${ahead.perSecond.toFixed(0)} calls/s (made ahead, poll), `
    + `${aheadOff.perSecond.toFixed(0)} (made ahead, no poll), ${onPath.perSecond.toFixed(0)} calls/s (instantiate on path)\n`);
  process.stdout.write(`event loop under ${RATE} calls/s for ${RATE_SECONDS} s (monitorEventLoopDelay, 1 ms resolution, so ~1 ms is its floor):\n`);
  for (const x of paced) {
    process.stdout.write(`  ${x.label.padEnd(55)} delay p50 ${fmt(x.delayP50)} p99 ${fmt(x.delayP99)} max ${fmt(x.delayMax)}`
      + (x.calls.length ? `; calls p50 ${fmt(pct(x.calls, 50))} p99 ${fmt(pct(x.calls, 99))}, ${x.inline} of ${x.calls.length} on the calling thread` : '') + '\n');
  }
  process.stdout.write('ratios (p50):\n');
  process.stdout.write(`  fresh worker_thread / cold call      ${(w.p50 / c.p50).toFixed(0)}× (on the worker: ${(w.p50 / cw.p50).toFixed(0)}×; no poll: ${(w.p50 / cOff.p50).toFixed(0)}×)\n`);
  process.stdout.write(`  child process / cold call            ${(p.p50 / c.p50).toFixed(0)}× (on the worker: ${(p.p50 / cw.p50).toFixed(0)}×; no poll: ${(p.p50 / cOff.p50).toFixed(0)}×)\n`);
  process.stdout.write(`  cold call on the worker / inline     p50 ${(cw.p50 / c.p50).toFixed(2)}×, p99 ${(cw.p99 / c.p99).toFixed(2)}×\n`);
  process.stdout.write(`  cold call no poll / with poll (worker) p50 ${(cOff.p50 / cw.p50).toFixed(2)}×, p99 ${(cOff.p99 / cw.p99).toFixed(2)}×\n`);
  process.stdout.write(`  seed's WasmEdge cold start (10 ms) / cold call p99   ${(10 / c.p99).toFixed(1)}× (instantiate on path: ${(10 / cip.p99).toFixed(1)}×; on the worker: ${(10 / cw.p99).toFixed(1)}×)\n`);
  process.stdout.write(`target: cold start p99 under 1 ms — end to end ${fmt(c.p99)} on the calling thread, instance made ahead (${c.p99 < 1 ? 'met' : 'NOT met'}); `
    + `${fmt(cip.p99)} instantiating on the path (${cip.p99 < 1 ? 'met' : 'NOT met'}); on the worker ${fmt(cw.p99)} with a ${SPIN} µs poll, ${fmt(cOff.p99)} without, ${fmt(cp.p99)} instantiating on the path; `
    + `in the worker ${fmt(ci.p99)} / ${fmt(cpi.p99)}; unmetered in-thread ${fmt(it.p99)}\n`);
  process.stdout.write(`load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
