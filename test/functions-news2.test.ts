/**
 * The shipped `news2` function against the Royal College of Physicians NEWS2
 * chart (National Early Warning Score 2, 2017): every band edge of every
 * parameter, SpO2 scale 2, the aggregate risk bands, the single-parameter
 * "red score" rule, and the worked example.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FunctionError } from '../src/functions/index.ts';
import { admin, runtime, shipped } from './functions-support.ts';

const rt = runtime();
const NORMAL = { respiratoryRate: 16, spo2: 97, onOxygen: false, systolicBP: 120, heartRate: 70, consciousness: 'A', temperature: 37.0 };

interface News2 { score: number; risk: string; redScore: boolean; scale: number; components: Record<string, number> }
const news2 = async (vitals: object): Promise<News2> => (await rt.call(admin, 'news2', vitals)).output as News2;

before(async () => {
  await rt.register(admin, 'news2', await shipped('news2'));
});
after(() => rt.close());

describe('news2', () => {
  it('scores the issue example 11, high', async () => {
    const r = await news2({ respiratoryRate: 25, spo2: 91, onOxygen: false, systolicBP: 95, heartRate: 115, consciousness: 'A', temperature: 38.5 });
    assert.equal(r.score, 11);
    assert.equal(r.risk, 'high');
    assert.deepEqual(r.components, { respiratoryRate: 3, spo2: 3, airOrOxygen: 0, systolicBP: 2, heartRate: 2, consciousness: 0, temperature: 1 });
  });

  it('scores normal vitals 0, low', async () => {
    const r = await news2(NORMAL);
    assert.deepEqual([r.score, r.risk, r.redScore, r.scale], [0, 'low', false, 1]);
  });

  // [parameter, value, expected points] at every band edge of chart 1.
  const edges: Array<[string, unknown, number]> = [
    ['respiratoryRate', 8, 3], ['respiratoryRate', 9, 1], ['respiratoryRate', 11, 1], ['respiratoryRate', 12, 0],
    ['respiratoryRate', 20, 0], ['respiratoryRate', 21, 2], ['respiratoryRate', 24, 2], ['respiratoryRate', 25, 3],
    ['spo2', 91, 3], ['spo2', 92, 2], ['spo2', 93, 2], ['spo2', 94, 1], ['spo2', 95, 1], ['spo2', 96, 0], ['spo2', 100, 0],
    ['onOxygen', true, 2],
    ['systolicBP', 90, 3], ['systolicBP', 91, 2], ['systolicBP', 100, 2], ['systolicBP', 101, 1], ['systolicBP', 110, 1],
    ['systolicBP', 111, 0], ['systolicBP', 219, 0], ['systolicBP', 220, 3],
    ['heartRate', 40, 3], ['heartRate', 41, 1], ['heartRate', 50, 1], ['heartRate', 51, 0], ['heartRate', 90, 0],
    ['heartRate', 91, 1], ['heartRate', 110, 1], ['heartRate', 111, 2], ['heartRate', 130, 2], ['heartRate', 131, 3],
    ['consciousness', 'C', 3], ['consciousness', 'V', 3], ['consciousness', 'P', 3], ['consciousness', 'U', 3],
    ['consciousness', 'alert', 0], ['consciousness', 'unresponsive', 3],
    ['temperature', 35.0, 3], ['temperature', 35.1, 1], ['temperature', 36.0, 1], ['temperature', 36.1, 0],
    ['temperature', 38.0, 0], ['temperature', 38.1, 1], ['temperature', 39.0, 1], ['temperature', 39.1, 2],
  ];
  it('scores every band edge of chart 1', async () => {
    for (const [param, value, points] of edges) {
      const r = await news2({ ...NORMAL, [param]: value });
      assert.equal(r.score, points, `${param}=${String(value)} should score ${points}`);
    }
  });

  it('uses SpO2 scale 2 when told: 88-92 scores 0, and oxygen above 92 scores', async () => {
    // [spo2, onOxygen, expected total (SpO2 points + 2 for oxygen)]
    const cases: Array<[number, boolean, number]> = [
      [83, false, 3], [84, false, 2], [85, false, 2], [86, false, 1], [87, false, 1], [88, false, 0], [92, false, 0],
      [93, false, 0], [97, false, 0], [92, true, 2], [93, true, 3], [94, true, 3], [95, true, 4], [96, true, 4], [97, true, 5],
    ];
    for (const [spo2, onOxygen, total] of cases) {
      const r = await news2({ ...NORMAL, spo2, onOxygen, spo2Scale: 2 });
      assert.equal(r.score, total, `scale 2, spo2=${spo2}, oxygen=${onOxygen}`);
      assert.equal(r.scale, 2);
    }
  });

  it('rounds whole-number parameters before scoring', async () => {
    assert.equal((await news2({ ...NORMAL, heartRate: 90.4 })).score, 0);
    assert.equal((await news2({ ...NORMAL, heartRate: 90.6 })).score, 1);
  });

  it('grades risk: low-medium for a single 3 under 5, medium 5-6, high 7+', async () => {
    const cases: Array<[object, number, string]> = [
      [{ respiratoryRate: 8 }, 3, 'low-medium'],                       // a red score alone
      [{ consciousness: 'V', heartRate: 91 }, 4, 'low-medium'],         // red score, total 4
      [{ respiratoryRate: 21, heartRate: 111 }, 4, 'low'],              // 4 without a red score
      [{ respiratoryRate: 21, heartRate: 111, temperature: 38.5 }, 5, 'medium'],
      [{ respiratoryRate: 25, heartRate: 111 }, 5, 'medium'],           // red score but total 5: medium wins
      [{ onOxygen: true, systolicBP: 95, heartRate: 111 }, 6, 'medium'],
      [{ onOxygen: true, systolicBP: 95, heartRate: 111, temperature: 38.5 }, 7, 'high'],
      [{ respiratoryRate: 5, spo2: 85, onOxygen: true, systolicBP: 80, heartRate: 150, consciousness: 'U', temperature: 34 }, 20, 'high'],
    ];
    for (const [change, score, risk] of cases) {
      const r = await news2({ ...NORMAL, ...change });
      assert.deepEqual([r.score, r.risk], [score, risk], JSON.stringify(change));
    }
  });

  it('refuses incomplete or malformed vitals with a message naming the field', async () => {
    const { spo2: _omit, ...noSpo2 } = NORMAL;
    const cases: Array<[unknown, RegExp]> = [
      [noSpo2, /spo2 must be a number/],
      [{ ...NORMAL, consciousness: 'X' }, /consciousness must be one of/],
      [{ ...NORMAL, heartRate: '70' }, /heartRate must be a number/],
      [{ ...NORMAL, temperature: 60 }, /temperature is out of range/],
      [{ ...NORMAL, spo2Scale: 3 }, /spo2Scale must be 1 or 2/],
      [{ ...NORMAL, onOxygen: 'yes' }, /onOxygen must be true or false/],
      [[1, 2], /must be a JSON object/],
    ];
    for (const [input, message] of cases) {
      await assert.rejects(rt.call(admin, 'news2', input), (e: FunctionError) => e.code === 'FN_ERR_EXIT' && message.test(e.message));
    }
  });

  it('keeps serving after refused input', async () => {
    await assert.rejects(rt.call(admin, 'news2', { nope: 1 }));
    assert.equal((await news2(NORMAL)).score, 0);
  });
});
