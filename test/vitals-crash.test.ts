/**
 * Nothing acknowledged is lost (ARCHITECTURE.md, promise 3): the real node
 * (`telemed-edge node`, a child process, its shipped /ws/vitals and demo
 * patient with consent) is SIGKILLed while a device streams; restarted on the
 * same data folder, it tells the device a committed mark at or past every ack
 * the device saw; the device resends the rest (and some it had acked); the
 * stored samples are exactly the sent ones, each once. Run with the node's
 * default durability (TELEMED_DB_SYNC=full: the WAL's fdatasync before an ack)
 * and with normal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SAMPLE_IDENTIFIER_SYSTEM, VitalsClient } from '../src/vitals/index.ts';
import { CLINICIAN, DEMO_PATIENT, removeDir, startNode, tempDataDir, type RunningNode } from './helpers/node.ts';

const T = 60_000;
const DEVICE = 'crash-dev';

function frame(seq0: number, now: number): Record<string, unknown>[] {
  return [
    { seq: seq0, code: '8867-4', value: 70 + (seq0 % 9), unit: '/min', time: now },
    { seq: seq0 + 1, code: '2708-6', value: 97, unit: '%', time: now },
    { seq: seq0 + 2, code: '85354-9', systolic: 120, diastolic: 80, unit: 'mm[Hg]', time: now },
    { seq: seq0 + 3, code: '9279-1', value: 15, unit: '/min', time: now },
    { seq: seq0 + 4, code: '8310-5', value: 36.9, unit: 'Cel', time: now },
    { seq: seq0 + 5, code: '131328', unit: 'mV', time: now, period: 4, data: Array.from({ length: 250 }, (_, i) => Math.round(Math.sin(i / 7) * 1000) / 1000) },
  ];
}

const wsOf = (n: RunningNode) => `${n.url.replace('http', 'ws')}/ws/vitals`;

/** The identifiers of this device's Observations, through /fhir, every page. */
async function storedIds(n: RunningNode): Promise<string[]> {
  const token = await n.token('authorized_medical_staff', CLINICIAN);
  const ids: string[] = [];
  let url: string | undefined = `${n.fhirBase}/Observation?subject=${DEMO_PATIENT}&_count=500`;
  while (url) {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const bundle = (await res.json()) as { entry?: Array<{ resource: { identifier?: Array<{ system: string; value: string }> } }>; link?: Array<{ relation: string; url: string }> };
    for (const e of bundle.entry ?? []) {
      const id = e.resource.identifier?.find((i) => i.system === SAMPLE_IDENTIFIER_SYSTEM)?.value;
      if (id?.startsWith(`${DEVICE}/`)) ids.push(id);
    }
    url = bundle.link?.find((l) => l.relation === 'next')?.url;
  }
  return ids;
}

for (const sync of ['full', 'normal'] as const) {
  test(`SIGKILL of the node process mid-stream, restart, resend: every sample stored once, nothing acknowledged lost (TELEMED_DB_SYNC=${sync})`, { timeout: 5 * T }, async (t) => {
    const dataDir = await tempDataDir();
    const env = { TELEMED_DB_SYNC: sync, TELEMED_FUNCTIONS_SHIPPED: 'false' };
    let current: RunningNode | undefined;
    t.after(async () => {
      await current?.stop('SIGKILL');
      await removeDir(dataDir);
    });

    const FRAMES = 150;
    const sent = FRAMES * 6;
    const first = await startNode({ dataDir, env });
    current = first;
    let seenAck = -1;
    const { client: dev1 } = await VitalsClient.connect(wsOf(first), await first.token('patient', DEMO_PATIENT), { device: DEVICE }, {
      keep: false,
      onFrame: (f) => {
        if (f.type === 'ack' && f.seq > seenAck) seenAck = f.seq;
      },
    });
    const now = Date.now();
    // stream without waiting; kill once some are acknowledged and more are in flight
    let k = 0;
    const pump = setInterval(() => {
      for (let i = 0; i < 5 && k < FRAMES; i++, k++) dev1.send({ type: 'samples', samples: frame(k * 6, now + k) });
    }, 5);
    for (let i = 0; i < 600 && seenAck < sent / 3; i++) await new Promise((r) => setTimeout(r, 50));
    const exit = await first.stop('SIGKILL');
    clearInterval(pump);
    assert.equal(exit.signal, 'SIGKILL', 'the node process itself was killed');
    const ackedBeforeKill = seenAck;
    assert.ok(ackedBeforeKill >= 0, 'some samples were acknowledged before the kill');
    assert.ok(k * 6 > ackedBeforeKill + 1, 'more was sent than acknowledged when the node died');

    const second = await startNode({ dataDir, env });
    current = second;
    const { client: dev2, welcome } = await VitalsClient.connect(wsOf(second), await second.token('patient', DEMO_PATIENT), { device: DEVICE });
    assert.ok(welcome.acked >= ackedBeforeKill, `the node remembers at least every ack the device saw (${welcome.acked} ≥ ${ackedBeforeKill})`);
    // the device resends everything after the node's mark (and, carelessly, the frame before it too)
    const from = Math.max(0, Math.floor(welcome.acked / 6) - 1);
    for (let j = from; j < FRAMES; j++) dev2.send({ type: 'samples', samples: frame(j * 6, now + j) });
    await dev2.next('ack', (f) => f.seq === sent - 1, T);
    assert.equal(dev2.all('error').length, 0);
    dev2.close();

    const ids = await storedIds(second);
    assert.equal(ids.length, sent, 'as many Observations as samples sent');
    assert.equal(new Set(ids).size, sent, 'no duplicate');
  });
}
