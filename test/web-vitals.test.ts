/**
 * Live vitals in the clinician's call view, in a real browser (Debian's
 * Chromium via playwright-core, against a node started here): with the call
 * up, the demo patient's device streams over /ws/vitals; the clinician's page
 * shows each value with its unit as it changes, draws the ECG trace, shows an
 * out-of-range reading as an alert with its time, and picks the stream up
 * again after its own network dropped.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { DEMO, type EdgeNode } from '../src/node/index.ts';
import { PatientModel, VitalsClient } from '../src/vitals/index.ts';
import { BrowserSession, startBrowserNode, type BrowserNode, browserSkip as skip, shot, until } from './helpers/browser.ts';

let node: EdgeNode;
let fixture: BrowserNode | undefined;
let session: BrowserSession;
let device: VitalsClient | undefined;

before(async () => {
  if (skip) return;
  fixture = await startBrowserNode('web-vitals');
  ({ node, session } = fixture);
});

after(async () => {
  if (skip) return;
  device?.close();
  await fixture?.close();
});

/** Lit pixels of the ECG trace (its green line on the dark background). */
function tracePixels(page: Page): Promise<number> {
  return page.evaluate(() => {
    const c = (globalThis as any).document.querySelector('[data-testid="ecg"]');
    if (!c || c.width === 0) return 0;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data as Uint8ClampedArray;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 1]! > 150 && d[i]! < 150) n++;
    return n;
  });
}

test('a device streams during the call: the clinician sees the values change, the ECG trace, and an alert for an out-of-range reading', { skip, timeout: 300_000 }, async (t) => {
  const appointment = { id: node.demoAppointment!, patient: DEMO.patient };
  const { doctor } = await session.enterCall(appointment);
  const panel = doctor.getByTestId('vitals');
  await panel.getByTestId('vitals-status').filter({ hasText: 'Live' }).waitFor();

  // The patient's own device (the patient app on their behalf): a patient token streams for that patient.
  const wsUrl = `${node.url.replace('http', 'ws')}/ws/vitals`;
  ({ client: device } = await VitalsClient.connect(wsUrl, await node.auth.mint(DEMO.patient, 'patient'), { device: 'monitor-1' }));
  const model = new PatientModel(7);
  let seq = 0;
  const send = async (samples: Array<Record<string, unknown>>) => {
    const stamped = samples.map((s) => ({ seq: seq++, time: Date.now(), ...s }));
    device!.send({ type: 'samples', samples: stamped });
    const last = stamped[stamped.length - 1]!.seq;
    await device!.next('ack', (f) => f.seq >= last);
  };
  // ECG in 1 s chunks of 250 points, one after the other on the device's clock (as a monitor sends them).
  let ecgClock = Date.now() - 5000;
  const ecg = () => {
    model.step(1);
    const chunk = { code: '131328', unit: 'mV', time: ecgClock, period: 4, data: model.ecg(250) };
    ecgClock += 1000;
    return chunk;
  };

  const hr = panel.getByTestId('vital-hr');
  await send([
    { code: '8867-4', unit: '/min', value: 72 },
    { code: '2708-6', unit: '%', value: 97 },
    { code: '9279-1', unit: '/min', value: 14 },
    { code: '85354-9', unit: 'mm[Hg]', systolic: 122, diastolic: 78 },
    { code: '8310-5', unit: 'Cel', value: 36.8 },
    ecg(),
  ]);
  await hr.filter({ hasText: /^72$/ }).waitFor();
  assert.equal(await panel.getByTestId('vital-spo2').innerText(), '97');
  assert.equal(await panel.getByTestId('vital-bp').innerText(), '122/78');
  assert.equal(await panel.getByTestId('vital-temp').innerText(), '36.8');
  assert.match(await panel.getByRole('group', { name: 'Heart rate' }).innerText(), /72\s*\/min/, 'the value is read with its unit');

  for (const value of [76, 88]) {
    await send([{ code: '8867-4', unit: '/min', value }, ecg()]);
    await hr.filter({ hasText: new RegExp(`^${value}$`) }).waitFor();
  }
  const lit = await until('the ECG trace is drawn', () => tracePixels(doctor), (n) => n > 200);
  t.diagnostic(`ECG canvas: ${lit} lit pixels`);
  const before = Number(await doctor.getByTestId('ecg').getAttribute('data-points'));
  await send([ecg()]);
  await until('the ECG sweep moves on with new points', async () => Number(await doctor.getByTestId('ecg').getAttribute('data-points')), (n) => n !== before);

  // Out of range: heart rate above 130 raises the threshold alert, in the list (a live region) and on the banner over the video.
  await send([{ code: '8867-4', unit: '/min', value: 150 }]);
  const alerts = panel.getByTestId('vitals-alerts');
  const raised = alerts.locator('li.active').filter({ hasText: 'Heart rate above 130/min' });
  await raised.waitFor();
  assert.match(await raised.innerText(), /^\d{1,2}:\d{2}:\d{2}(\s?[AP]M)?\s+Alert: Heart rate above 130\/min \(150 \/min\)$/, 'time, words and the value');
  assert.equal(await alerts.getAttribute('aria-live'), 'assertive');
  await doctor.getByTestId('vitals-banner').filter({ hasText: 'Heart rate above 130/min' }).waitFor();
  await hr.filter({ hasText: /^150$/ }).waitFor();
  await shot(doctor, 'web-vitals', 'clinician-alert-desktop');
  await doctor.setViewportSize({ width: 390, height: 844 });
  assert.ok(await doctor.evaluate(() => (globalThis as any).document.documentElement.scrollWidth <= 390), 'no sideways scrolling at phone width');
  await until('the ECG trace is drawn at phone width', () => tracePixels(doctor), (n) => n > 100);
  await shot(doctor, 'web-vitals', 'clinician-alert-phone');

  // Back in range: the alert is resolved, the banner goes.
  await send([{ code: '8867-4', unit: '/min', value: 84 }]);
  await alerts.locator('li.cleared').filter({ hasText: 'back in range' }).waitFor();
  await doctor.getByTestId('vitals-banner').waitFor({ state: 'hidden' });

  // The clinician's network drops and returns: the panel reconnects and resubscribes by itself.
  await doctor.context().setOffline(true);
  await panel.getByTestId('vitals-status').filter({ hasText: 'reconnecting' }).waitFor();
  await doctor.context().setOffline(false);
  await panel.getByTestId('vitals-status').filter({ hasText: 'Live' }).waitFor();
  await send([{ code: '8867-4', unit: '/min', value: 66 }]);
  await hr.filter({ hasText: /^66$/ }).waitFor();
});
