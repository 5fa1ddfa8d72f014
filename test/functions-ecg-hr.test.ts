/**
 * The shipped `ecg-hr` function on synthetic lead-II traces of known rate
 * (P, QRS and T waves, baseline wander, noise), as a device would send them:
 * an Observation whose component holds a SampledData in microvolts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FunctionError } from '../src/functions/index.ts';
import { admin, ecgObservation as observation, ecgTrace as synthesize, runtime, shipped } from './functions-support.ts';

const rt = runtime();
before(async () => {
  await rt.register(admin, 'ecg-hr', await shipped('ecg-hr'));
});
after(() => rt.close());

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
