/**
 * The shipped `ecg-hr` function on synthetic lead-II traces of known rate
 * (P, QRS and T waves, baseline wander, noise), as a device would send them:
 * an Observation whose component holds a SampledData in microvolts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FunctionError } from '../src/functions/index.ts';
import { admin, runtime, shipped } from './functions-support.ts';

const rt = runtime();
before(async () => {
  await rt.register(admin, 'ecg-hr', await shipped('ecg-hr'));
});
after(() => rt.close());

interface Trace { bpm: number; seconds?: number; hz?: number; noise?: number; wander?: number; rrJitter?: number; seed?: number }

/** A deterministic synthetic ECG: the sum of Gaussian P, Q, R, S, T waves per beat (after McSharry et al. 2003), in µV. */
function synthesize(t: Trace): { data: string; beats: number[] } {
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

function observation(t: Trace): { resource: object; beats: number[] } {
  const { data, beats } = synthesize(t);
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

interface EcgHr { heartRate: number; rPeaks: number; rrMeanMs: number; rrSdMs: number; durationSeconds: number; samplingHz: number }
const run = async (input: object) => (await rt.call(admin, 'ecg-hr', input)).output as EcgHr;

describe('ecg-hr', () => {
  for (const hz of [250, 500]) {
    for (const bpm of [40, 60, 72, 100, 150, 180]) {
      it(`finds ${bpm}/min at ${hz} Hz and every R peak`, async () => {
        const { resource, beats } = observation({ bpm, hz });
        const r = await run(resource);
        assert.ok(Math.abs(r.heartRate - bpm) <= 1, `heart rate ${r.heartRate}, expected ${bpm}`);
        assert.equal(r.rPeaks, beats.length);
        assert.equal(r.samplingHz, hz);
        assert.equal(r.durationSeconds, 10);
      });
    }
  }

  it('measures an irregular rhythm by its mean RR interval and reports its spread', async () => {
    const { resource, beats } = observation({ bpm: 90, rrJitter: 0.2, seconds: 20 });
    const meanRr = ((beats.at(-1)! - beats[0]!) / (beats.length - 1)) * 1000;
    const r = await run(resource);
    assert.equal(r.rPeaks, beats.length);
    assert.ok(Math.abs(r.rrMeanMs - meanRr) <= 4, `${r.rrMeanMs} vs ${meanRr}`);
    assert.ok(r.rrSdMs > 20, 'an irregular rhythm has a spread of RR intervals');
    const regular = await run(observation({ bpm: 90, seconds: 20 }).resource);
    assert.ok(regular.rrSdMs <= 8, `regular rhythm spread ${regular.rrSdMs} ms`);
  });

  it('accepts a bare SampledData and treats E/L/U values as gaps', async () => {
    const { data } = synthesize({ bpm: 75 });
    const words = data.split(' ');
    for (const i of [100, 101, 900]) words[i] = 'E';
    words[1500] = 'U';
    const r = await run({ origin: { value: 0 }, period: 4, factor: 0.001, dimensions: 1, data: words.join(' ') });
    assert.ok(Math.abs(r.heartRate - 75) <= 1);
  });

  it('reads the first lead of an interleaved two-lead trace', async () => {
    const a = synthesize({ bpm: 66 }).data.split(' ');
    const b = synthesize({ bpm: 140, seed: 3 }).data.split(' ');
    const data = a.flatMap((x, i) => [x, b[i]!]).join(' ');
    const r = await run({ origin: { value: 0 }, period: 4, factor: 0.001, dimensions: 2, data });
    assert.ok(Math.abs(r.heartRate - 66) <= 1, String(r.heartRate));
  });

  it('finds R peaks in a lead whose QRS points down (aVR)', async () => {
    const { data, beats } = synthesize({ bpm: 84 });
    const inverted = data.split(' ').map((x) => String(-Number(x))).join(' ');
    const r = await run({ origin: { value: 0 }, period: 4, factor: 0.001, data: inverted });
    assert.ok(Math.abs(r.heartRate - 84) <= 1, String(r.heartRate));
    assert.equal(r.rPeaks, beats.length);
  });

  it('refuses a flat line, a short trace and a malformed one with a clear message', async () => {
    const flat = Array.from({ length: 2500 }, () => '0').join(' ');
    const cases: Array<[object, RegExp]> = [
      [{ period: 4, data: flat }, /no R peaks|fewer than two R peaks/],
      [{ period: 4, data: synthesize({ bpm: 60, seconds: 2 }).data }, /at least 3 seconds/],
      [{ period: 4, data: '1 2 x 4' }, /not a decimal|too short|at least 3 seconds/],
      [{ resourceType: 'Observation', status: 'final' }, /SampledData/],
      [{ period: -1, data: flat }, /period/],
    ];
    for (const [input, message] of cases) {
      await assert.rejects(run(input), (e: unknown) => e instanceof FunctionError && e.code === 'FN_ERR_EXIT' && message.test(e.message), JSON.stringify(input).slice(0, 60));
    }
  });
});
