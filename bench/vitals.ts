/**
 * `npm run bench -- vitals`: live vitals ingest, durable, with fan-out.
 *
 * A node runs in a child process (this file again, BENCH_VITALS_ROLE=server)
 * with the vitals service attached, DEVICES patients booked, each with one
 * clinician; this process opens one device socket and one clinician socket
 * per patient (the load generator shares the 2 cores with the node) and runs:
 *   1. saturation: every device keeps WINDOW frames of FRAME samples in flight
 *      (a frame is sent when an older one is acknowledged) → the sustained
 *      ingest rate with every sample committed before its ack;
 *   2. paced: the devices send at half that rate (or BENCH_RATE samples/s in
 *      all), evenly spread → ack latency (frame sent → its ack) and fan-out
 *      latency (frame sent → the clinician's socket has it), p50/p99;
 * and the node's memory (RSS, heap) at the end. The baseline is the same
 * store's group commit with the same Observations and no socket, validation
 * or fan-out (what the disk and SQLite allow on this machine), both ways:
 * one Observation per reading, and one per series.
 * Settings: BENCH_DEVICES (50), BENCH_FRAME (100 samples: one second of a
 * monitor), BENCH_INFLIGHT (4 frames), BENCH_SECONDS (8 per phase), BENCH_RATE,
 * BENCH_SYNC (normal | full | normal,full: each mode in its own node, both by
 * default; TELEMED_DB_SYNC picks one when BENCH_SYNC is unset), BENCH_SERIES (1: a regular series of a code in a
 * frame is one SampledData Observation; 0: one Observation per reading),
 * BENCH_FANOUT (received | committed: when clinicians get a sample).
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 50);
const FRAME = Number(process.env.BENCH_FRAME ?? 100);
const WINDOW = Number(process.env.BENCH_INFLIGHT ?? 4);
const SERIES = process.env.BENCH_SERIES !== '0';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
/** The modes to run, each in its own node: `normal`, `full` or both (default `normal,full`). */
const MODES = (process.env.BENCH_SYNC ?? process.env.TELEMED_DB_SYNC ?? 'normal,full').split(',').map((m) => (m.trim() === 'full' ? 'full' : 'normal'));
const SYNC = MODES[0]!;
const self = fileURLToPath(import.meta.url);

type Any = Record<string, any>;

const CODES: Array<[string, string, number]> = [['8867-4', '/min', 72], ['2708-6', '%', 97], ['9279-1', '/min', 14], ['8310-5', 'Cel', 36.8]];

/** One second of a monitor's readings: n samples, the 4 vitals in turn, each at a regular rate. */
function samples(seq0: number, n: number, now: number): Any[] {
  const out: Any[] = [];
  const perCode = Math.ceil(n / CODES.length);
  for (let i = 0; i < n; i++) {
    const [code, unit, base] = CODES[i % CODES.length]!;
    const k = Math.floor(i / CODES.length);
    out.push({ seq: seq0 + i, code, unit, value: Math.round((base + Math.sin(seq0 + i)) * 10) / 10, time: now - 1000 + Math.round((k * 1000) / perCode) });
  }
  return out;
}

// ---------------------------------------------------------------- server role
async function serve(): Promise<void> {
  const { loadConfig } = await import('../src/config/index.ts');
  const { startNode } = await import('../src/node/index.ts');
  const { createLogger } = await import('../src/observability/index.ts');
  const { createVitalsService, VITALS_MIGRATIONS } = await import('../src/vitals/index.ts');
  const dir = mkdtempSync(path.join(tmpdir(), 'telemed-bench-vitals-'));
  const logger = createLogger({ level: 'warn' });
  const node = await startNode(loadConfig({ ...process.env, PORT: '0', TELEMED_DATA_DIR: dir, TELEMED_DB_SYNC: SYNC, TELEMED_FUNCTIONS_SHIPPED: 'false' }), { port: 0, logger });
  node.store.migrate(VITALS_MIGRATIONS);
  const vitals = createVitalsService({ store: node.store, fhir: node.fhir, auth: node.auth, policy: () => node.policy.current(), logger, registry: new Registry(), path: '/ws/vitals-bench', window: SERIES, fanOut: process.env.BENCH_FANOUT === 'committed' ? 'committed' : 'received' });
  node.upgrades.add(vitals);
  const people: Array<{ appointment: string; patientToken: string; clinicianToken: string }> = [];
  for (let i = 0; i < DEVICES; i++) {
    await node.fhir.putAsSystem({ resourceType: 'Patient', id: `bench-p${i}`, active: true });
    await node.fhir.putAsSystem({ resourceType: 'Practitioner', id: `bench-dr${i}`, active: true });
    // the shipped policy lets vitals flow only with the patient's telehealth consent
    await node.fhir.putAsSystem({
      resourceType: 'Consent', id: `bench-c${i}`, status: 'active', category: [{ text: 'telehealth' }],
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      patient: { reference: `Patient/bench-p${i}` }, provision: { type: 'permit' },
    });
    await node.fhir.putAsSystem({
      resourceType: 'Appointment', id: `bench-a${i}`, status: 'booked', start: new Date().toISOString(),
      participant: [{ actor: { reference: `Practitioner/bench-dr${i}` }, status: 'accepted' }, { actor: { reference: `Patient/bench-p${i}` }, status: 'accepted' }],
    });
    people.push({ appointment: `bench-a${i}`, patientToken: await node.auth.mint(`Patient/bench-p${i}`, 'patient'), clinicianToken: await node.auth.mint(`Practitioner/bench-dr${i}`, 'authorized_medical_staff') });
  }
  // baseline: the same Observations through the same group commit, no socket/validation/fan-out
  const { toObservations, checkSample } = await import('../src/vitals/index.ts');
  const measure = async (series: boolean) => {
    const t0 = process.hrtime.bigint();
    let n = 0;
    const writes: Promise<unknown>[] = [];
    while (Number(process.hrtime.bigint() - t0) < 2e9) {
      const batch = toObservations(samples(n, FRAME, Date.now()).map((s) => checkSample(s, 's') as never), { patient: 'Patient/bench-p0', device: 'baseline' }, series);
      writes.push(node.store.write(() => { for (const o of batch) node.fhir.repo.create(o); }));
      n += FRAME;
      if (writes.length >= 64) await writes.splice(0).at(-1);
    }
    await Promise.all(writes);
    return n / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  const perReading = await measure(false);
  const perSeries = await measure(true);
  const baseline = SERIES ? perSeries : perReading;
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const eld = monitorEventLoopDelay({ resolution: 1 });
  eld.enable();
  process.send!({ type: 'ready', url: node.url.replace('http', 'ws') + '/ws/vitals-bench', people, baseline, perReading, perSeries });
  process.on('message', (m: Any) => {
    if (m.type === 'mark') {
          eld.reset();
    }
    if (m.type === 'memory') {
      global.gc?.();
      const mu = process.memoryUsage();
      // where the latency tail comes from: slow commits (a WAL checkpoint runs inside one) and GC pauses
      void node.metrics.registry.getMetricsAsJSON().then((all) => {
        const find = (name: string) => all.find((m) => m.name === name) as { values: Array<{ labels: Any; value: number; metricName?: string }> } | undefined;
        const commits = find('store_commit_duration_seconds')?.values ?? [];
        const count = commits.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
        const le = (x: number) => commits.find((v) => v.metricName?.endsWith('_bucket') && Number(v.labels.le) === x)?.value;
        const gc = find('nodejs_gc_duration_seconds')?.values.filter((v) => v.metricName?.endsWith('_sum')) ?? [];
        process.send!({ type: 'memory', rss: mu.rss, heap: mu.heapUsed, stats: vitals.stats(), loop: { p50: eld.percentile(50) / 1e6, p99: eld.percentile(99) / 1e6, max: eld.max / 1e6 }, commits: count, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25].map((x) => [x, le(x)]), gc: gc.map((v) => [v.labels.kind, v.value]) });
      });
    }
    if (m.type === 'stop') void vitals.close().then(() => node.close()).then(() => { rmSync(dir, { recursive: true, force: true }); process.exit(0); });
  });
}

// ---------------------------------------------------------------- load role
const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const ms = (x: number) => `${x.toFixed(2)} ms`;

export async function run(): Promise<void> {
  for (const sync of MODES) await runMode(sync);
}

async function runMode(SYNC: 'full' | 'normal'): Promise<void> {
  const { VitalsClient } = await import('../src/vitals/index.ts');
  const child = fork(self, [], { env: { ...process.env, BENCH_VITALS_ROLE: 'server', BENCH_SYNC: SYNC }, execArgv: ['--import', 'tsx', '--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  // the node goes with this process whatever happens here (a refused subscribe, an error)
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  const ready = await new Promise<Any>((resolve, reject) => {
    child.on('message', (m: Any) => m.type === 'ready' && resolve(m));
    child.once('exit', (code) => reject(new Error(`the bench node exited (${code}) before it was ready`)));
  });
  const ask = (type: string) => new Promise<Any>((resolve) => { child.once('message', resolve); child.send({ type }); });
  process.stdout.write(`\n--- TELEMED_DB_SYNC=${SYNC} (load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})\n`);
  process.stdout.write(`${DEVICES} devices × 1 clinician, frames of ${FRAME} samples, window ${WINDOW}, sync=${SYNC}\n`);
  process.stdout.write(`storage baseline (group commit, no socket, in the node process): one Observation per reading ${Math.round(ready.perReading)} samples/s, one per series ${Math.round(ready.perSeries)} samples/s\n`);
  process.stdout.write(`service stores ${SERIES ? 'one Observation per series' : 'one Observation per reading'}, fans out when ${process.env.BENCH_FANOUT === 'committed' ? 'committed' : 'received'}\n`);

  interface Dev { client: InstanceType<typeof VitalsClient>; seq: number; sentAt: Map<number, number>; inFlight: number; onAck?: () => void }
  const ackLat: number[] = [];
  const fanLat: number[] = [];
  let acked = 0;
  let measuring = false;
  const devs: Dev[] = [];
  for (const p of ready.people as Any[]) {
    const { client: doc } = await VitalsClient.connect(ready.url, p.clinicianToken, {}, { keep: true });
    doc.send({ type: 'subscribe', appointmentId: p.appointment });
    await doc.next('subscribed');
    const dev: Dev = { client: undefined as never, seq: 0, sentAt: new Map(), inFlight: 0 };
    const { client } = await VitalsClient.connect(ready.url, p.patientToken, { device: 'bench' }, {
      keep: false,
      onFrame: (f) => {
        if (f.type !== 'ack') return;
        const at = dev.sentAt.get(f.seq);
        if (at !== undefined) {
          if (measuring) ackLat.push(performance.now() - at);
          acked += FRAME;
          dev.inFlight--;
        }
        dev.onAck?.();
      },
    });
    dev.client = client;
    // the clinician: latency from the frame's send to its arrival here
    doc.ws.removeAllListeners('message');
    doc.ws.on('message', (d) => {
      if (!measuring) return;
      const f = JSON.parse(d.toString()) as Any;
      if (f.type !== 'vitals') return;
      const at = dev.sentAt.get(f.samples.at(-1).seq);
      if (at !== undefined) fanLat.push(performance.now() - at);
    });
    devs.push(dev);
  }
  const send = (d: Dev) => {
    const s = samples(d.seq, FRAME, Date.now());
    d.seq += FRAME;
    d.sentAt.set(d.seq - 1, performance.now());
    if (d.sentAt.size > 10_000) d.sentAt.delete(d.sentAt.keys().next().value!);
    d.inFlight++;
    d.client.send({ type: 'samples', samples: s });
  };

  // 1. saturation
  let running = true;
  for (const d of devs) {
    d.onAck = () => { while (running && d.inFlight < WINDOW) send(d); };
    d.onAck();
  }
  await new Promise((r) => setTimeout(r, 1000)); // warm-up
  let a0 = acked;
  let t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const sat = ((acked - a0) / (performance.now() - t0)) * 1000;
  running = false;
  // drain: the paced phase starts with nothing in flight (at most 30 s)
  for (let i = 0; i < 300 && devs.some((d) => d.inFlight > 0); i++) await new Promise((r) => setTimeout(r, 100));
  process.stdout.write(`sustained ingest, every sample committed before its ack: ${Math.round(sat)} samples/s (${(sat / ready.baseline).toFixed(2)}× baseline; target 50 000)\n`);

  // 2. paced at half the saturation rate (or BENCH_RATE)
  const rate = Number(process.env.BENCH_RATE ?? Math.max(FRAME, sat / 2));
  const framesPerSecPerDev = rate / FRAME / DEVICES;
  for (const d of devs) d.onAck = undefined;
  measuring = true;
  child.send({ type: 'mark' });
  a0 = acked;
  t0 = performance.now();
  const timers = devs.map((d, i) => {
    const every = 1000 / framesPerSecPerDev;
    let next = performance.now() + (every * i) / DEVICES;
    const tick = (): void => {
      if (!measuring) return;
      send(d);
      next += every;
      setTimeout(tick, Math.max(0, next - performance.now()));
    };
    return setTimeout(tick, Math.max(0, next - performance.now()));
  });
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  measuring = false;
  for (const t of timers) clearTimeout(t);
  const paced = ((acked - a0) / (performance.now() - t0)) * 1000;
  await new Promise((r) => setTimeout(r, 1000));
  process.stdout.write(`paced at ${Math.round(rate)} samples/s offered (${Math.round(paced)} acknowledged/s, ${FRAME} samples a frame):\n`);
  process.stdout.write(`  ack latency      p50 ${ms(pct(ackLat, 50))}  p99 ${ms(pct(ackLat, 99))}  (${ackLat.length} frames; target p99 < 50 ms)\n`);
  process.stdout.write(`  fan-out latency  p50 ${ms(pct(fanLat, 50))}  p99 ${ms(pct(fanLat, 99))}  (${fanLat.length} frames; target p99 < 20 ms)\n`);
  const mem = await ask('memory');
  process.stdout.write(`node commits: ${mem.commits}; at most (s → commits): ${mem.buckets.map(([x, n]: [number, number]) => `${x}→${n}`).join(' ')}; GC seconds by kind: ${mem.gc.map(([k, v]: [string, number]) => `${k} ${v.toFixed(2)}`).join(', ')}\n`);
  process.stdout.write(`node event loop delay while paced: p50 ${ms(mem.loop.p50)}  p99 ${ms(mem.loop.p99)}  max ${ms(mem.loop.max)}\n`);
  process.stdout.write(`load average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
  process.stdout.write(`node memory: rss ${(mem.rss / 2 ** 20).toFixed(0)} MiB, heap ${(mem.heap / 2 ** 20).toFixed(0)} MiB (${JSON.stringify(mem.stats)})\n`);
  for (const d of devs) d.client.close();
  child.send({ type: 'stop' });
  await new Promise((r) => child.once('exit', r));
  process.off('exit', reap);
}

if (process.env.BENCH_VITALS_ROLE === 'server') void serve();
