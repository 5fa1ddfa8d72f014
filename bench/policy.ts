/**
 * Policy benchmark: the seed policy's `allow` and `deny` for a realistic
 * input, decided by the Rego engine (the seed module alone, and the whole
 * shipped bundle the node runs), against a hand-written TypeScript function
 * checking the same conditions, in the same run, on one core.
 *
 * Fairness, on both sides:
 * - 64 realistic inputs rotate, so no engine is measured on a constant the JIT
 *   folds away;
 * - the hand-written function returns what the engine returns (a shared, frozen
 *   decision with `allow` and `reason`), and the harness reads `.allow` of every
 *   result of every engine, so neither side's work is dead code;
 * - every engine runs in its own copy of the harness loop (compiled apart, so
 *   each call site sees one function, as a real caller does; one shared loop
 *   would go polymorphic and penalise whichever runs later);
 * - nothing caches on input identity; the harness's own cost per call is
 *   measured with a function that returns a constant decision.
 */
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { bundleFromFiles, createRegoPolicy, fromJS, loadBundle, type Decision, type PolicyInput } from '../src/policy/index.ts';
import { root } from './_support.ts';

const input: PolicyInput = {
  action: 'video_call',
  user: { id: 'Practitioner/123', role: 'authorized_medical_staff' },
  patient: { id: 'Patient/456', consent: true },
  data_stays_local: true,
  destination: 'local',
  resource: { type: 'Appointment', id: 'a-789', classification: 'phi' },
};

/** The decisions the seed policy yields (the engine returns these same shapes, shared and frozen). */
const DENY: Decision = Object.freeze({ allow: false, reason: 'policy_deny' });
const ALLOW: Decision = Object.freeze({ allow: true, reason: 'policy_allow' });
const NONE: Decision = Object.freeze({ allow: false, reason: 'policy_default_deny' });

/** The seed's rules, by hand: deny transfers off the node; allow a consented, local video call by staff. */
function handWritten(i: PolicyInput): Decision {
  if (i.action === 'data_transfer' && i.destination !== undefined && i.destination !== 'local') return DENY;
  if (i.action === 'video_call' && i.user?.role === 'authorized_medical_staff' && i.patient?.consent === true && i.data_stays_local === true) return ALLOW;
  return NONE;
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

type Decide = (i: PolicyInput) => Decision;
type Loop = (decide: Decide, inputs: PolicyInput[], iterations: number, samples: Float64Array, hrtime: () => bigint) => number;

/**
 * The harness loop, compiled once per engine (a fresh function each time), so
 * that its call site is monomorphic for the engine it measures. Each sample is
 * one pass over the 64 inputs, timed as a batch.
 */
function freshLoop(): Loop {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- a fixed source, compiled apart per engine on purpose (see above)
  return new Function(
    'decide',
    'inputs',
    'iterations',
    'samples',
    'hrtime',
    `let sink = 0;
     for (let n = 0; n < iterations; n++) {
       const t0 = hrtime();
       for (let k = 0; k < 64; k++) if (decide(inputs[k]).allow) sink++;
       samples[n] = Number(hrtime() - t0) / 64;
     }
     return sink;`,
  ) as Loop;
}

interface Figures {
  median: number;
  p99: number;
  perSec: number;
}

function measure(label: string, decide: Decide, iterations: number): Figures {
  const loop = freshLoop();
  const hr = process.hrtime.bigint;
  let sink = loop(decide, inputs, Math.max(300, iterations >> 4), new Float64Array(Math.max(300, iterations >> 4)), hr); // warm up
  const samples = new Float64Array(iterations);
  sink += loop(decide, inputs, iterations, samples, hr);
  samples.sort();
  const p = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  // decisions per second on one core: chunks of 16 passes (1,024 decisions) timed apart, the median chunk's rate
  // (one long timed run would mostly measure how much of the core a loaded machine left us)
  const chunks = new Float64Array(Math.max(50, iterations >> 6));
  for (let c = 0; c < chunks.length; c++) {
    const t0 = process.hrtime.bigint();
    sink += loop(decide, inputs, 16, new Float64Array(16), hr);
    chunks[c] = Number(process.hrtime.bigint() - t0);
  }
  chunks.sort();
  const perSec = 1024 / (chunks[chunks.length >> 1]! / 1e9);
  const f = { median: p(0.5), p99: p(0.99), perSec };
  process.stdout.write(
    `${label.padEnd(52)} median ${(f.median / 1000).toFixed(3).padStart(8)} µs   p99 ${(f.p99 / 1000).toFixed(3).padStart(8)} µs   ${Math.round(perSec).toLocaleString('en').padStart(12)} decisions/s${sink < 0 ? '!' : ''}\n`,
  );
  return f;
}

export async function run(): Promise<void> {
  const seedFile = path.join(root, 'policies', 'healthcare', 'telemedicine.rego');
  const seedOnly = createRegoPolicy(bundleFromFiles([{ path: 'telemedicine.rego', text: readFileSync(seedFile, 'utf8') }]));
  const shipped = createRegoPolicy(loadBundle(path.join(root, 'policies')));
  for (const i of inputs) {
    const a = seedOnly.decide(i);
    const b = handWritten(i);
    if (a.allow !== b.allow || a.reason !== b.reason) throw new Error(`the seed policy and the hand-written check disagree on ${JSON.stringify(i)}`);
    const c = shipped.decide(i);
    const d = shipped.rego.decideRaw(fromJS(i));
    if (c.allow !== d.allow || c.reason !== d.reason) throw new Error(`the shipped bundle's fast path and its evaluator disagree on ${JSON.stringify(i)}`);
  }
  const allowed = inputs.filter((i) => handWritten(i).allow).length;
  process.stdout.write(`inputs: 64 realistic decisions rotated (${allowed} allowed video calls, the rest refused for role, consent, locality or a transfer off the node); one decision = allow, deny (and reason) in one call\n`);
  process.stdout.write(
    `engines: seed ${seedOnly.rego.fastSource ? 'compiled (fast path)' : 'general evaluator'}, shipped bundle ${shipped.rego.fastSource ? 'compiled (fast path)' : 'general evaluator'}\n`,
  );
  const harness = measure('harness alone (returns a constant decision)', () => ALLOW, 40_000);
  const base = measure('hand-written TypeScript (baseline)', handWritten, 40_000);
  const seed = measure('Rego: seed policy (allow + deny)', (i) => seedOnly.decide(i), 40_000);
  const full = measure('Rego: shipped bundle (allow + deny + reason)', (i) => shipped.decide(i), 40_000);
  const general = measure('Rego: shipped bundle, general evaluator (reference)', (i) => shipped.rego.decideRaw(fromJS(i)), 1_000);
  const r = (x: Figures) => (x.median / base.median).toFixed(1);
  process.stdout.write(
    `ratio to hand-written (median): seed ${r(seed)}x, shipped bundle ${r(full)}x (general evaluator ${r(general)}x); harness overhead ${harness.median.toFixed(1)} ns per call is inside every figure\n`,
  );
}
