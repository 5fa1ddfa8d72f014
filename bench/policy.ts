/**
 * Policy benchmark: the seed policy's `allow` and `deny` for a realistic
 * input, decided by the Rego engine (the seed module alone, and the whole
 * shipped bundle the node runs), against a hand-written TypeScript function
 * checking the same conditions, in the same run, on one core.
 */
import path from 'node:path';
import { bundleFromFiles, createRegoPolicy, loadBundle, type PolicyInput } from '../src/policy/index.ts';
import { root } from './_support.ts';
import { readFileSync } from 'node:fs';

const input: PolicyInput = {
  action: 'video_call',
  user: { id: 'Practitioner/123', role: 'authorized_medical_staff' },
  patient: { id: 'Patient/456', consent: true },
  data_stays_local: true,
  destination: 'local',
  resource: { type: 'Appointment', id: 'a-789', classification: 'phi' },
};

/** The seed's rules, by hand: allow a consented, local video call by staff; deny transfers off the node. */
function handWritten(i: PolicyInput): { allow: boolean } {
  const deny = i.action === 'data_transfer' && i.destination !== 'local';
  const allow = i.action === 'video_call' && i.user.role === 'authorized_medical_staff' && i.patient?.consent === true && i.data_stays_local === true;
  return { allow: allow && !deny };
}

/**
 * A rotating set of realistic inputs (roles, consent, locality and actions
 * vary; most are allowed video calls), so that no engine, the hand-written
 * function included, is measured on one constant the JIT can fold away.
 */
const inputs: PolicyInput[] = Array.from({ length: 64 }, (_, i) => ({
  ...input,
  user: { id: `Practitioner/${i}`, role: i % 16 === 3 ? 'patient' : 'authorized_medical_staff' },
  patient: { id: `Patient/${i}`, consent: i % 8 !== 5 },
  data_stays_local: i % 32 !== 7,
  ...(i % 21 === 4 ? { action: 'data_transfer' as const, destination: 'hub' } : {}),
}));

function measure(label: string, decide: (i: PolicyInput) => unknown, iterations: number): number {
  for (let i = 0; i < 20_000; i++) decide(inputs[i & 63]!); // warm up
  const samples = new Float64Array(iterations);
  const batch = 64;
  let sink = 0;
  for (let n = 0; n < iterations; n++) {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < batch; k++) sink += decide(inputs[k]!) ? 1 : 0;
    samples[n] = Number(process.hrtime.bigint() - t0) / batch;
  }
  samples.sort();
  const p = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  const t0 = process.hrtime.bigint();
  const N = 200_000;
  for (let i = 0; i < N; i++) sink += decide(inputs[i & 63]!) ? 1 : 0;
  const perSec = N / (Number(process.hrtime.bigint() - t0) / 1e9);
  process.stdout.write(`${label.padEnd(44)} median ${(p(0.5) / 1000).toFixed(3).padStart(8)} µs   p99 ${(p(0.99) / 1000).toFixed(3).padStart(8)} µs   ${Math.round(perSec).toLocaleString('en').padStart(12)} decisions/s${sink < 0 ? '!' : ''}\n`);
  return p(0.5);
}

export async function run(): Promise<void> {
  const seedFile = path.join(root, 'policies', 'healthcare', 'telemedicine.rego');
  const seedOnly = createRegoPolicy(bundleFromFiles([{ path: 'telemedicine.rego', text: readFileSync(seedFile, 'utf8') }]));
  const shipped = createRegoPolicy(loadBundle(path.join(root, 'policies')));
  for (const i of inputs) {
    if (seedOnly.decide(i).allow !== handWritten(i).allow) throw new Error(`the seed policy and the hand-written check disagree on ${JSON.stringify(i)}`);
  }
  const allowed = inputs.filter((i) => handWritten(i).allow).length;
  process.stdout.write(`inputs: 64 realistic decisions rotated (${allowed} allowed video calls, the rest refused for role, consent, locality or a transfer off the node); one decision = allow and not deny\n`);
  const base = measure('hand-written TypeScript (baseline)', handWritten, 20_000);
  const seed = measure('Rego: seed policy (allow + deny)', (i) => seedOnly.decide(i).allow, 20_000);
  const full = measure('Rego: shipped bundle (allow + deny + reason)', (i) => shipped.decide(i).allow, 20_000);
  process.stdout.write(`ratio to hand-written (median): seed ${(seed / base).toFixed(1)}x, shipped bundle ${(full / base).toFixed(1)}x\n`);
}
