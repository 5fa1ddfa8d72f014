/**
 * The TypeScript NEWS2 of src/vitals (the fallback when the node has no
 * `news2` function) scores as the shipped Wasm function does, on the band
 * edges and on random vitals; and the sample checks name the field at fault.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { checkSample, isSampleError, news2, type News2Input } from '../src/vitals/index.ts';
import { admin, runtime, shipped } from './functions-support.ts';

const rt = runtime();
before(async () => {
  await rt.register(admin, 'news2', await shipped('news2'));
});
after(() => rt.close());

test('the TypeScript NEWS2 agrees with the shipped news2 function', { timeout: 300_000 }, async () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const inputs: News2Input[] = [];
  const edges = { respiratoryRate: [8, 9, 11, 12, 20, 21, 24, 25], spo2: [91, 92, 93, 94, 95, 96], systolicBP: [90, 91, 100, 101, 110, 111, 219, 220], heartRate: [40, 41, 50, 51, 90, 91, 110, 111, 130, 131], temperature: [35, 35.1, 36, 36.1, 38, 38.1, 39, 39.1] };
  const base: News2Input = { respiratoryRate: 16, spo2: 97, systolicBP: 120, heartRate: 70, temperature: 37, consciousness: 'A', onOxygen: false };
  for (const [k, vs] of Object.entries(edges)) for (const v of vs) inputs.push({ ...base, [k]: v });
  for (let i = 0; i < 60; i++) {
    inputs.push({ respiratoryRate: 5 + Math.round(rand() * 30), spo2: 80 + Math.round(rand() * 20), systolicBP: 70 + Math.round(rand() * 170), heartRate: 30 + Math.round(rand() * 130), temperature: Math.round((33.5 + rand() * 7) * 10) / 10, consciousness: 'A', onOxygen: false });
  }
  for (const input of inputs) {
    const wasm = (await rt.call(admin, 'news2', input)).output as { score: number; risk: string; redScore: boolean };
    assert.deepEqual(news2(input), { score: wasm.score, risk: wasm.risk, redScore: wasm.redScore }, JSON.stringify(input));
  }
});

test('sample checks name the field: unit per code, ranges, NaN, infinities, time window, waveform', () => {
  const now = Date.parse('2026-11-25T12:00:00Z');
  const field = (raw: unknown) => {
    const r = checkSample(raw, 's', now);
    return isSampleError(r) ? r.field : 'ok';
  };
  const t = '2026-11-25T11:59:00Z';
  assert.equal(field({ seq: 1, code: '8867-4', value: 60, unit: '/min', time: t }), 'ok');
  assert.equal(field({ seq: 1, code: '8867-4', value: 60, unit: '{beats}/min', time: now }), 'ok');
  assert.equal(field({ seq: 1, code: '8310-5', value: 98.6, unit: '[degF]', time: t }), 'ok');
  assert.equal(field({ seq: 1, code: '8310-5', value: 98.6, unit: 'Cel', time: t }), 's.value', '98.6 °C is out of range');
  assert.equal(field({ seq: 1, code: '2708-6', value: 97, unit: '/min', time: t }), 's.unit');
  assert.equal(field({ seq: 1, code: '8867-4', value: Infinity, unit: '/min', time: t }), 's.value');
  assert.equal(field({ seq: 1, code: '8867-4', value: Number.NaN, unit: '/min', time: t }), 's.value');
  assert.equal(field({ seq: -1, code: '8867-4', value: 60, unit: '/min', time: t }), 's.seq');
  assert.equal(field({ seq: 1.5, code: '8867-4', value: 60, unit: '/min', time: t }), 's.seq');
  assert.equal(field({ seq: 1, code: '8867-4', value: 60, unit: '/min', time: 'yesterday' }), 's.time');
  assert.equal(field({ seq: 1, code: '8867-4', value: 60, unit: '/min', time: '2026-11-25T13:30:00Z' }), 's.time');
  assert.equal(field({ seq: 1, code: '8867-4', value: 60, unit: '/min', time: '2026-09-01T00:00:00Z' }), 's.time');
  assert.equal(field({ seq: 1, code: '85354-9', systolic: 120, unit: 'mm[Hg]', time: t }), 's.diastolic');
  assert.equal(field({ seq: 1, code: '131328', unit: 'mV', time: t, data: [0.1, 0.2] }), 's.period');
  assert.equal(field({ seq: 1, code: '131328', unit: 'mV', time: t, period: 4, data: [0.1, 99] }), 's.data[1]');
  assert.equal(field({ seq: 1, code: '131328', unit: 'mV', time: t, period: 4, data: [] }), 's.data');
  assert.equal(field('not an object'), 's');
});
