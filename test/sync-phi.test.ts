/**
 * Patient data never leaves the node (ARCHITECTURE.md, promise 1): a tap bound
 * to everything on the run's exchanges sees every message that reaches the
 * broker during a busy run fed with identifiable events, and none of them holds
 * a patient id, name, birth date, address, free text or exact event time.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createBuiltinPolicy } from '../src/policy/index.ts';
import { createSyncAgent, topology } from '../src/sync/index.ts';
import { brokerSkip, brokerUrl, deleteTopology, tapEverything, type Tapped, quietLogger, runPrefix, syncStore, until } from './sync-harness.ts';

const skip = await brokerSkip();

interface Encounter {
  patient: string; name: string; given: string; birthDate: string; address: string; note: string; at: number;
}
const FAMILIES = ['Quintessa', 'Marchetti-Oyelaran', 'Vasquez-Thornbury', 'Ilunga', 'Kowalczykowa'];
const encounters: Encounter[] = Array.from({ length: 250 }, (_, i) => ({
  patient: `Patient/phi-${(9_000_000 + i * 7).toString(36)}`,
  given: `Zephyrine${i}`,
  name: `Zephyrine${i} ${FAMILIES[i % FAMILIES.length]}`,
  birthDate: `19${40 + (i % 60)}-0${1 + (i % 9)}-${10 + (i % 18)}`,
  address: `${i + 3} Rue des Tilleuls, 6900${i % 10} Lyon`,
  note: `complains of intermittent chest pain since Tuesday, case ${i}`,
  // Yesterday-ish, with minutes, seconds and milliseconds that no hour bucket has.
  at: Date.UTC(2026, 10, 24, 6, 0, 0) + i * 61_337 + 17,
}));

describe('sync: no patient data reaches the broker', { skip }, () => {
  const prefix = runPrefix();
  const t = topology(prefix);
  const tap = `${prefix}.tap`;
  let tapped: Awaited<ReturnType<typeof tapEverything>> | undefined;
  const seen: Tapped[] = [];

  before(async () => {
    tapped = await tapEverything(t, tap, seen);
  });

  after(async () => {
    await tapped?.close();
    await deleteTopology(prefix, [`${prefix}-phi`]);
  });

  it('a busy run of consultations, call quality, alerts and vitals: every message is free of identifiers, free text and exact times', { timeout: 60_000 }, async () => {
    const store = syncStore();
    const agent = createSyncAgent({ store, policy: () => createBuiltinPolicy(), logger: quietLogger(), nodeId: `${prefix}-phi`, city: 'Lyon', amqpUrl: brokerUrl(), prefix, heartbeatMs: 50 });
    agent.start();
    try {
      let queued = 0;
      for (const [i, e] of encounters.entries()) {
        // The node's domain events carry everything; the agent must keep only the figures.
        const events = [
          { metric: 'consultations', at: e.at, count: 1, patient: e.patient, name: e.name, birthDate: e.birthDate, address: e.address, note: e.note },
          { metric: 'consultation_seconds', at: new Date(e.at).toISOString(), count: 1, sum: 300 + i, patientId: e.patient, text: e.note },
          { metric: 'call_quality', period: e.at, count: 1, buckets: { good: 1 }, subject: { reference: e.patient, display: e.name } },
          { metric: i % 5 === 0 ? 'alerts' : 'vitals_samples', at: e.at, count: 60, sum: 60, address: e.address, birthDate: e.birthDate },
        ];
        for (const ev of events) if ((await agent.enqueue('aggregate', ev)).queued) queued++;
      }
      await agent.drained();
      await until(() => seen.filter((m) => m.props.includes('"type":"aggregate"')).length === queued && seen.some((m) => m.props.includes('"type":"heartbeat"')), 'the tap saw every message and a heartbeat');
    } finally {
      await agent.close();
      store.close();
    }

    assert.ok(seen.length >= 1_000, 'the tap saw the run');
    const exactTimes = encounters.flatMap((e) => {
      const iso = new Date(e.at).toISOString();
      // To the minute too, unless that minute is the hour's first (then it is the honest hour bucket).
      return [String(e.at), String(Math.floor(e.at / 1000)), iso, iso.slice(0, 19), ...(iso.slice(14, 16) === '00' ? [] : [iso.slice(0, 16)])];
    });
    const forbidden = [
      ...encounters.flatMap((e) => [e.patient, e.patient.split('/')[1]!, e.name, e.given, e.birthDate, e.address, 'Tilleuls', e.note, 'chest pain']),
      ...FAMILIES,
      ...exactTimes,
    ];
    for (const m of seen) {
      const text = `${m.content}\n${m.props}`;
      for (const f of forbidden) assert.ok(!text.includes(f), `a message holds patient data (${f.length} chars matched)`);
      // Any time in an aggregate is the start of an hour.
      const body = JSON.parse(m.content) as { kind: string; body: Record<string, unknown> };
      if (body.kind === 'aggregate') {
        assert.match(String(body.body.period), /^\d{4}-\d\d-\d\dT\d\d:00Z$/);
        assert.deepEqual(Object.keys(body.body).filter((k) => !['metric', 'period', 'count', 'sum', 'buckets'].includes(k)), []);
      }
    }
  });
});
