/**
 * Shared ground of the functions tests: the shipped functions built once per
 * machine (cached by source hash), a runtime whose policy allows all, and a
 * WAT assembler for hostile modules.
 */
import { join } from 'node:path';
import wabt from 'wabt';
import { buildFunction, FUNCTIONS_DIR } from '../src/functions/build.ts';
import { FunctionRegistry, type Caller, type RuntimeLimits } from '../src/functions/index.ts';
import { createLogger } from '../src/observability/index.ts';

export const admin: Caller = { id: 'Practitioner/admin-1', role: 'admin' };

const built = new Map<string, Promise<Uint8Array>>();

/** The bytes of a shipped function (`functions/<name>/`), built from source. */
export function shipped(name: string): Promise<Uint8Array> {
  let p = built.get(name);
  if (!p) {
    p = buildFunction(join(FUNCTIONS_DIR, name));
    built.set(name, p);
  }
  return p;
}

/** A runtime whose policy allows everything, logging nowhere. */
export function runtime(limits: Partial<RuntimeLimits> = {}): FunctionRegistry {
  return new FunctionRegistry({
    logger: createLogger({ level: 'silent' }),
    limits: { workers: 1, ...limits },
    decide: () => ({ allow: true, reason: 'test' }),
  });
}

let wabtModule: Awaited<ReturnType<typeof wabt>> | undefined;

/** Assembles WebAssembly text (https://webassembly.github.io/spec/core/text/) into a binary; `features` as wabt names them (e.g. `threads`). */
export async function wat(text: string, features: Record<string, boolean> = {}): Promise<Uint8Array> {
  wabtModule ??= await wabt();
  const parsed = wabtModule.parseWat('test.wat', text, features);
  try {
    return parsed.toBinary({}).buffer;
  } finally {
    parsed.destroy();
  }
}

export interface Trace { bpm: number; seconds?: number; hz?: number; noise?: number; wander?: number; rrJitter?: number; seed?: number }

/** A deterministic synthetic lead-II ECG: the sum of Gaussian P, Q, R, S, T waves per beat (after McSharry et al. 2003), in µV. */
export function ecgTrace(t: Trace): { data: string; beats: number[] } {
  const hz = t.hz ?? 250;
  const seconds = t.seconds ?? 10;
  let s = t.seed ?? 7;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const beats: number[] = [];
  for (let at = 0.3; at < seconds; ) {
    beats.push(at);
    at += (60 / t.bpm) * (1 + (t.rrJitter ?? 0) * (rand() * 2 - 1));
  }
  const g = (x: number, w: number) => Math.exp(-(x * x) / (2 * w * w));
  const values: number[] = [];
  for (let i = 0; i < seconds * hz; i++) {
    const time = i / hz;
    let mv = (t.wander ?? 0.3) * Math.sin(2 * Math.PI * 0.25 * time) + (t.noise ?? 0.03) * (rand() * 2 - 1);
    for (const b of beats) {
      const dt = time - b;
      if (dt < -0.4 || dt > 0.6) continue;
      const rr = 60 / t.bpm;
      mv += 0.15 * g(dt + Math.min(0.16, 0.25 * rr), 0.025) - 0.12 * g(dt + 0.03, 0.01) + 1.3 * g(dt, 0.012)
        - 0.3 * g(dt - 0.03, 0.012) + 0.35 * g(dt - Math.min(0.3, 0.4 * rr), 0.05);
    }
    values.push(Math.round(mv * 1000));
  }
  return { data: values.join(' '), beats };
}

/** The trace as a device sends it: an Observation whose component holds a SampledData in microvolts. */
export function ecgObservation(t: Trace): { resource: object; beats: number[] } {
  const { data, beats } = ecgTrace(t);
  const resource = {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'urn:oid:2.16.840.1.113883.6.24', code: '131328', display: 'MDC_ECG_ELEC_POTL' }] },
    subject: { reference: 'Patient/example' },
    component: [{
      code: { coding: [{ system: 'urn:oid:2.16.840.1.113883.6.24', code: '131330', display: 'MDC_ECG_ELEC_POTL_II' }] },
      valueSampledData: { origin: { value: 0, unit: 'mV' }, period: 1000 / (t.hz ?? 250), factor: 0.001, dimensions: 1, data },
    }],
  };
  return { resource, beats };
}
