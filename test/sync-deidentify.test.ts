/** The de-identifier on its own (no broker): allow-list, hour buckets, refusals with stable codes. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deidentifyAggregate, DeidentifyError, hourOf } from '../src/sync/index.ts';

describe('sync: de-identifier', () => {
  it('keeps only the figures: identifiers, text and the exact time are not carried', () => {
    const out = deidentifyAggregate({
      metric: 'consultations', at: '2026-11-24T13:47:23.517Z', count: 2, sum: 12.34567,
      patient: 'Patient/123', name: 'Ada Lovelace', birthDate: '1815-12-10', address: '12 St James Sq', note: 'felt dizzy', practitioner: 'Practitioner/9',
    });
    assert.deepEqual(out, { metric: 'consultations', period: '2026-11-24T13:00Z', count: 2, sum: 12.346 });
  });

  it('coarsens any time to the start of its UTC hour (ms, Date, ISO with offset)', () => {
    assert.equal(hourOf(Date.UTC(2026, 0, 2, 3, 59, 59, 999)), '2026-01-02T03:00Z');
    assert.equal(hourOf(new Date('2026-01-02T03:00:00Z')), '2026-01-02T03:00Z');
    assert.equal(hourOf('2026-01-02T05:30:00+02:00'), '2026-01-02T03:00Z');
  });

  it('refuses what it cannot clean, with a stable code and no value in the message', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ metric: 'patients', at: 0 }, 'unknown_metric'],
      [{ metric: 'alerts' }, 'bad_period'],
      [{ metric: 'alerts', at: 'yesterday at noon' }, 'bad_period'],
      [{ metric: 'alerts', at: 0, count: -1 }, 'bad_number'],
      [{ metric: 'alerts', at: 0, count: Number.NaN }, 'bad_number'],
      [{ metric: 'alerts', at: 0, count: '3' }, 'bad_number'],
      [{ metric: 'call_quality', at: 0, buckets: { 'Jane Doe': 1 } }, 'bad_bucket'],
      [{ metric: 'call_quality', at: 0, buckets: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`le_${i}`, 1])) }, 'too_many_buckets'],
    ];
    for (const [payload, code] of cases) {
      assert.throws(() => deidentifyAggregate(payload), (e: unknown) => e instanceof DeidentifyError && e.code === code && !e.message.includes('Jane'));
    }
  });

  it('keeps closed bucket labels', () => {
    const out = deidentifyAggregate({ metric: 'call_quality', period: 0, count: 3, buckets: { good: 2, poor: 1, le_150: 3, inf: 3 } });
    assert.deepEqual(out.buckets, { good: 2, poor: 1, le_150: 3, inf: 3 });
  });
});

describe('sync: aggregator', () => {
  it('sums events per metric and hour; one aggregate per cell on flush, nothing about single events', async () => {
    const { Aggregator } = await import('../src/sync/index.ts');
    const { createLogger } = await import('../src/observability/index.ts');
    const sent: Array<Record<string, unknown>> = [];
    const agg = new Aggregator({ sink: async (p) => void sent.push(deidentifyAggregate(p) as unknown as Record<string, unknown>), logger: createLogger({ level: 'silent' }) });
    const h9 = Date.UTC(2026, 10, 24, 9, 0, 0);
    agg.observe('consultations', h9 + 61_000, { value: 300 });
    agg.observe('consultations', h9 + 3_599_000, { value: 420 });
    agg.observe('consultations', h9 + 3_600_000, { value: 60 });
    agg.observe('call_quality', h9 + 5_000, { bucket: 'good' });
    agg.observe('call_quality', h9 + 6_000, { bucket: 'poor' });
    await agg.close();
    assert.deepEqual(sent.sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1), [
      { metric: 'call_quality', period: '2026-11-24T09:00Z', count: 2, buckets: { good: 1, poor: 1 } },
      { metric: 'consultations', period: '2026-11-24T09:00Z', count: 2, sum: 720 },
      { metric: 'consultations', period: '2026-11-24T10:00Z', count: 1, sum: 60 },
    ]);
    agg.observe('alerts', h9);
    await agg.flush();
    assert.equal(sent.length, 3, 'closed: nothing more');
  });
});

describe('sync: aggregator small-count suppression', () => {
  it('holds a cell below the threshold while its hour runs, sends it once it reaches it, drops it when the hour ends short', async () => {
    const { Aggregator } = await import('../src/sync/index.ts');
    const { createLogger } = await import('../src/observability/index.ts');
    const h9 = Date.UTC(2026, 10, 24, 9, 0, 0);
    let now = h9 + 10 * 60_000;
    const sent: Array<Record<string, unknown>> = [];
    const agg = new Aggregator({ sink: async (p) => void sent.push(p), logger: createLogger({ level: 'silent' }), minCount: 3, now: () => now });
    agg.observe('alerts', h9 + 1_000);
    agg.observe('consultations', h9 + 2_000);
    agg.observe('consultations', h9 + 3_000);
    await agg.flush();
    assert.deepEqual(sent, [], 'below the threshold: held');
    agg.observe('consultations', h9 + 4_000);
    await agg.flush();
    assert.deepEqual(sent, [{ metric: 'consultations', period: '2026-11-24T09:00Z', count: 3 }]);
    now = h9 + 61 * 60_000; // the hour is over: the lone alert is dropped, not sent
    await agg.flush();
    assert.equal(sent.length, 1);
    assert.equal(agg.suppressed, 1);
    await agg.close();
  });

  it('reads a live threshold at each flush (the node setting fleetMinCount, which a configuration from the hub may change)', async () => {
    const { Aggregator } = await import('../src/sync/index.ts');
    const { createLogger } = await import('../src/observability/index.ts');
    const { checkRemoteSettings } = await import('../src/config/index.ts');
    const h9 = Date.UTC(2026, 10, 24, 9, 0, 0);
    let k = 5;
    const sent: Array<Record<string, unknown>> = [];
    const agg = new Aggregator({ sink: async (p) => void sent.push(p), logger: createLogger({ level: 'silent' }), minCount: () => k, now: () => h9 + 30 * 60_000 });
    for (let i = 0; i < 2; i++) agg.observe('consultations', h9 + i * 1_000);
    await agg.flush();
    assert.deepEqual(sent, [], 'two of five: held');
    k = 2;
    await agg.flush();
    assert.deepEqual(sent, [{ metric: 'consultations', period: '2026-11-24T09:00Z', count: 2 }]);
    await agg.close();
    // The hub may set it; the same bounds as on the node.
    assert.deepEqual(checkRemoteSettings({ fleetMinCount: 5 }), { ok: true, settings: { fleetMinCount: 5 } });
    const bad = checkRemoteSettings({ fleetMinCount: 0 });
    assert.equal(bad.ok, false);
    assert.match(bad.ok ? '' : bad.message, /^fleetMinCount: /);
  });
});
