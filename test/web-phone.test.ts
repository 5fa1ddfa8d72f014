/**
 * The browser app at phone size (390x844), as a clinician and a patient use it:
 * the clinician's start page lists today's appointments of that clinician (and
 * no other day's, no other clinician's); in every state (device check, waiting,
 * call, ended, refused) every control is reached with Tab and the page never
 * scrolls sideways, with a screenshot of each state in test-artifacts/; the
 * patient's device check marks camera, microphone and network; admit, the
 * toggles and end call work from the keyboard; mute and camera off really stop
 * what the other side receives; ending finishes the Encounter with its period
 * (read back over FHIR).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Page } from 'playwright-core';
import type { EdgeNode } from '../src/node/index.ts';
import { ARTIFACTS, BrowserSession, startBrowserNode, type BrowserNode, browserSkip as skip, phaseOf, shot as shotAs, until, videoFlows } from './helpers/browser.ts';

const PHONE = { width: 390, height: 844 };
const DOCTOR = 'Practitioner/phone-doc';

let node: EdgeNode;
let fixture: BrowserNode | undefined;
let session: BrowserSession;

before(async () => {
  if (skip) return;
  fixture = await startBrowserNode('web-phone');
  ({ node, session } = fixture);
  await writeFile(path.join(ARTIFACTS, 'web-phone-controls.txt'), '');
  await node.fhir.putAsSystem({ resourceType: 'Practitioner', id: 'phone-doc', active: true, name: [{ prefix: ['Dr'], given: ['Ines'], family: 'Okafor' }] });
  await node.fhir.putAsSystem({ resourceType: 'Practitioner', id: 'other-doc', active: true, name: [{ prefix: ['Dr'], given: ['Tom'], family: 'Elsewhere' }] });
});

after(async () => {
  if (skip) return;
  await fixture?.close();
});

const shot = (page: Page, name: string) => shotAs(page, 'web-phone', name);

/** Every request a page makes that does not go to the node (no CDN, no font or script from elsewhere). */
const foreign: string[] = [];
function servedByTheNodeOnly(page: Page): Page {
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.protocol !== 'data:' && u.protocol !== 'blob:' && u.origin !== node.url) foreign.push(r.url());
  });
  return page;
}

/** A patient with a telehealth Consent and an Appointment of `doctor` with them at `start`. */
function book(tag: string, given: string, start: Date, doctor = DOCTOR): Promise<{ id: string; patient: string }> {
  return session.book(tag, { given, family: 'Phone', start, end: new Date(start.getTime() + 20 * 60_000), clinician: doctor });
}

/** A time later today (local day of this machine, which is the browser's too), never across midnight. */
function laterToday(minutes: number): Date {
  const now = new Date();
  const end = new Date(now);
  end.setHours(23, 59, 0, 0);
  return new Date(Math.min(now.getTime() + minutes * 60_000, end.getTime()));
}

/** The page is no wider than the screen: nothing to scroll sideways. */
async function noSidewaysScroll(page: Page, state: string): Promise<void> {
  const [scroll, client] = await page.evaluate(() => {
    const d = (globalThis as any).document.documentElement;
    return [d.scrollWidth, d.clientWidth] as [number, number];
  });
  assert.ok(scroll <= client, `${state}: the page scrolls sideways (${scroll} px content in ${client} px)`);
}

/**
 * Every visible, enabled control of the page gets the focus by pressing Tab
 * (from the top of the page); returns their names.
 */
async function tabReachesEveryControl(page: Page, state: string): Promise<string[]> {
  const controls = await page.evaluate(() => {
    const d = (globalThis as any).document;
    const all = [...d.querySelectorAll('a[href], button, input, select, textarea, [tabindex]')] as any[];
    const visible = all.filter((el) => !el.disabled && el.tabIndex >= 0 && el.getClientRects().length > 0 && (globalThis as any).getComputedStyle(el).visibility !== 'hidden');
    return visible.map((el, i) => {
      el.dataset.tabProbe = String(i);
      return (el.getAttribute('aria-label') || el.textContent || el.id || el.type || el.tagName).trim().slice(0, 60);
    });
  });
  assert.ok(controls.length > 0, `${state}: no control at all`);
  await page.evaluate(() => {
    const d = (globalThis as any).document;
    d.activeElement?.blur?.();
    (globalThis as any).scrollTo(0, 0);
  });
  const seen = new Set<string>();
  for (let i = 0; i < controls.length + 6 && seen.size < controls.length; i++) {
    await page.keyboard.press('Tab');
    const probe = await page.evaluate(() => ((globalThis as any).document.activeElement?.dataset?.tabProbe as string | undefined) ?? null);
    if (probe !== null) seen.add(probe);
  }
  const missed = controls.filter((_, i) => !seen.has(String(i)));
  assert.deepEqual(missed, [], `${state}: not reached with Tab`);
  return controls;
}

/** Presses Tab until the focused element matches `selector` (the way a keyboard user gets to it), then `key`. */
async function tabTo(page: Page, selector: string, key = 'Enter'): Promise<void> {
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => Boolean((globalThis as any).document.activeElement?.matches?.(s)), selector)) {
      await page.keyboard.press(key);
      return;
    }
  }
  throw new Error(`Tab never reached ${selector}`);
}

/** Phone-size checks of one state; the controls reached are listed in test-artifacts/web-phone-controls.txt. */
async function checkState(page: Page, state: string): Promise<void> {
  await noSidewaysScroll(page, state);
  const controls = await tabReachesEveryControl(page, state);
  await appendFile(path.join(ARTIFACTS, 'web-phone-controls.txt'), `${state}: ${controls.join(' | ')}\n`);
  await shot(page, state);
}

/** Average brightness (0-255) of the remote video's current picture. */
const remoteBrightness = (page: Page) => page.evaluate(() => {
  const v = (globalThis as any).document.querySelector('[data-testid="remote-video"]');
  if (!v || !v.videoWidth) return -1;
  const c = (globalThis as any).document.createElement('canvas');
  c.width = 64;
  c.height = 36;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0, c.width, c.height);
  const px = g.getImageData(0, 0, c.width, c.height).data;
  let sum = 0;
  for (let i = 0; i < px.length; i += 4) sum += (px[i] + px[i + 1] + px[i + 2]) / 3;
  return sum / (px.length / 4);
});

/** Audio energy the other side received over about 1.5 s (inbound-rtp audio totalAudioEnergy delta). */
const receivedAudioEnergy = (page: Page) => page.evaluate(async () => {
  // (No named inner functions: the test's transpiler would wrap them in a helper the page lacks.)
  const pc = (globalThis as any).__telemed?.pc;
  const samples: number[] = [];
  for (let i = 0; i < 2; i++) {
    if (i) await new Promise((r) => setTimeout(r, 1500));
    let e = 0;
    (await pc.getStats()).forEach((s: any) => { if (s.type === 'inbound-rtp' && s.kind === 'audio') e += s.totalAudioEnergy ?? 0; });
    samples.push(e);
  }
  return samples[1]! - samples[0]!;
});

/** The enabled flag of the tracks this page sends (what the toggles set), by kind. */
const sentTracksEnabled = (page: Page, kind: 'audio' | 'video') => page.evaluate((k) => {
  const pc = (globalThis as any).__telemed?.pc;
  return (pc?.getSenders() ?? []).filter((s: any) => s.track?.kind === k).map((s: any) => s.track.enabled as boolean);
}, kind);

test("the clinician's start page lists today's appointments of that clinician, and no other day's or clinician's", { skip, timeout: 180_000 }, async () => {
  const now = new Date();
  await book('ph-today-1', 'Aino', laterToday(1));
  await book('ph-today-2', 'Bruno', laterToday(2));
  await book('ph-yesterday', 'Carla', new Date(now.getTime() - 26 * 3600_000));
  await book('ph-tomorrow', 'Dario', new Date(now.getTime() + 26 * 3600_000));
  await book('ph-other-doc', 'Emil', laterToday(3), 'Practitioner/other-doc');

  const doctor = await session.openPage(PHONE);
  await doctor.goto(`${node.url}/#token=${await node.auth.mint(DOCTOR, 'authorized_medical_staff')}`);
  await doctor.getByRole('heading', { name: "Today's consultations" }).waitFor();
  const rows = doctor.locator('#today li');
  await until('two appointments listed', () => rows.count(), (n) => n === 2);
  const text = await doctor.locator('#today').innerText();
  assert.match(text, /Aino Phone/);
  assert.match(text, /Bruno Phone/);
  assert.doesNotMatch(text, /Carla|Dario|Emil/, "another day's or another clinician's appointment is listed");
  assert.ok(text.indexOf('Aino') < text.indexOf('Bruno'), 'in order of time');
  await doctor.getByRole('link', { name: /Open the room: Aino Phone/ }).waitFor();
  await checkState(doctor, 'clinician-today');
});

test('at phone size, from the keyboard: device check, waiting, admit, toggles, call, end; the Encounter is finished with its period', { skip, timeout: 300_000 }, async (t) => {
  const a = await book('ph-call', 'Frida', laterToday(5));
  const doctorToken = await node.auth.mint(DOCTOR, 'authorized_medical_staff');
  const patient = servedByTheNodeOnly(await session.openPage(PHONE));
  await patient.goto(`${node.url}/join/${a.id}#token=${await node.auth.mint(a.patient, 'patient')}`);
  await patient.getByRole('heading', { name: 'Before you join' }).waitFor();
  // The device check: camera, microphone (the fake one's beep moves the level) and network, each marked.
  await patient.getByTestId('check-camera').filter({ hasText: '✓' }).waitFor();
  await patient.getByTestId('check-mic').filter({ hasText: '✓' }).waitFor();
  await patient.getByTestId('check-network').filter({ hasText: '✓' }).waitFor();
  assert.equal(await patient.evaluate(() => (globalThis as any).__pcs), 0, 'no peer connection before joining');
  await checkState(patient, 'patient-device-check');
  await tabTo(patient, '[data-testid="join"]');
  await patient.getByTestId('waiting').waitFor();
  await checkState(patient, 'patient-waiting');

  const doctor = servedByTheNodeOnly(await session.openPage(PHONE));
  await doctor.goto(`${node.url}/call/${a.id}#token=${doctorToken}`);
  await doctor.getByRole('button', { name: 'Admit Frida Phone' }).waitFor();
  await checkState(doctor, 'clinician-waiting-room');
  await tabTo(doctor, '[data-testid="admit"]');
  await Promise.all([videoFlows(doctor, 'clinician'), videoFlows(patient, 'patient')]);
  await doctor.getByRole('textbox', { name: 'Message' }).fill('Hello from the phone');
  await doctor.getByRole('textbox', { name: 'Message' }).press('Enter');
  await patient.getByTestId('chat-log').filter({ hasText: 'Hello from the phone' }).waitFor();
  await checkState(patient, 'patient-call');
  await checkState(doctor, 'clinician-call');

  // Mute: the patient's sent audio track is disabled and the clinician receives silence; unmute brings it back.
  await until('the clinician hears the patient', () => receivedAudioEnergy(doctor), (e) => e > 0);
  await patient.getByRole('button', { name: 'Mute microphone' }).focus();
  await patient.keyboard.press('Enter');
  await patient.getByRole('button', { name: 'Unmute microphone' }).waitFor();
  assert.deepEqual(await sentTracksEnabled(patient, 'audio'), [false]);
  const silent = await until('the clinician hears nothing', () => receivedAudioEnergy(doctor), (e) => e < 1e-6);
  t.diagnostic(`audio energy received while muted: ${silent}`);
  await doctor.getByTestId('remote-media').filter({ hasText: 'The patient muted the microphone.' }).waitFor();
  await patient.keyboard.press('Enter');
  await patient.getByRole('button', { name: 'Mute microphone' }).waitFor();
  assert.deepEqual(await sentTracksEnabled(patient, 'audio'), [true]);
  await until('the clinician hears the patient again', () => receivedAudioEnergy(doctor), (e) => e > 0);
  await doctor.getByTestId('remote-media').waitFor({ state: 'hidden' });

  // Camera off: the sent video track is disabled and the clinician's picture goes black; on again, it returns.
  const lit = await until('the clinician sees a picture', () => remoteBrightness(doctor), (b) => b > 20);
  await patient.getByRole('button', { name: 'Turn camera off' }).focus();
  await patient.keyboard.press(' ');
  await patient.getByRole('button', { name: 'Turn camera on' }).waitFor();
  assert.deepEqual(await sentTracksEnabled(patient, 'video'), [false]);
  const dark = await until('the clinician sees a black picture', () => remoteBrightness(doctor), (b) => b >= 0 && b < 3);
  // ...and is told why, rather than left with a black picture.
  await doctor.getByTestId('remote-media').filter({ hasText: 'The patient turned the camera off.' }).waitFor();
  await shot(doctor, 'clinician-call-patient-camera-off');
  t.diagnostic(`remote picture brightness: ${lit.toFixed(1)} with the camera on, ${dark.toFixed(1)} off`);
  await patient.keyboard.press(' ');
  await patient.getByRole('button', { name: 'Turn camera off' }).waitFor();
  assert.deepEqual(await sentTracksEnabled(patient, 'video'), [true]);
  await until('the clinician sees the picture again', () => remoteBrightness(doctor), (b) => b > 20);
  await doctor.getByTestId('remote-media').waitFor({ state: 'hidden' });

  // Both browsers' getStats summaries reached the node's Prometheus histograms; /metrics names nobody.
  const metricsText = () => fetch(`${node.url}/metrics`).then((r) => r.text());
  const count = (text: string, name: string) => Number(new RegExp(`^${name}_count (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  const metrics = await until('stats reports in the histograms', metricsText, (m) => ['consult_rtt_seconds', 'consult_jitter_seconds', 'consult_packet_loss_ratio', 'consult_receive_bitrate_bytes_per_second'].every((n) => count(m, n) >= 2));
  assert.match(metrics, /^consult_rtt_seconds_bucket\{le="0\.05"\} \d+/m);
  assert.match(metrics, /^consult_frames_decoded_total [1-9]\d*/m);
  assert.doesNotMatch(metrics, /Frida|ph-call|Patient\/ph-|phone-doc/, 'no name or identifier in the metrics');

  // End from the keyboard: press, then confirm on the same (now armed) button.
  await tabTo(doctor, 'button.danger');
  await doctor.getByRole('button', { name: 'Confirm: end for everyone' }).waitFor();
  assert.equal(await doctor.evaluate(() => (globalThis as any).document.activeElement?.textContent), 'Confirm: end for everyone');
  await doctor.keyboard.press('Enter');
  await patient.getByRole('heading', { name: 'The consultation has ended.' }).waitFor();
  await doctor.getByRole('heading', { name: 'The consultation has ended.' }).waitFor();
  assert.equal(await phaseOf(patient), 'ended');
  assert.deepEqual(await patient.evaluate(() => ((globalThis as any).__telemed.localStream?.getTracks() ?? []).map((t: any) => t.readyState)), [], 'the camera was released');
  await checkState(patient, 'patient-ended');
  await checkState(doctor, 'clinician-ended');

  // Over FHIR, as the clinician: the call's Encounter is virtual, finished, with its period start and end.
  const headers = { authorization: `Bearer ${doctorToken}`, accept: 'application/fhir+json' };
  const found = (await (await fetch(`${node.url}/fhir/Encounter?appointment=Appointment/${a.id}`, { headers })).json()) as any;
  assert.equal(found.entry?.length, 1, 'one Encounter for the appointment');
  const res = await fetch(`${node.url}/fhir/Encounter/${found.entry[0].resource.id}`, { headers });
  assert.equal(res.status, 200);
  const enc = (await res.json()) as any;
  assert.equal(enc.status, 'finished');
  assert.equal(enc.class.code, 'VR');
  assert.equal(enc.subject.reference, a.patient);
  assert.ok(Date.parse(enc.period.start) > 0 && Date.parse(enc.period.end) >= Date.parse(enc.period.start), `period ${JSON.stringify(enc.period)}`);
  const appt = (await (await fetch(`${node.url}/fhir/Appointment/${a.id}`, { headers })).json()) as any;
  assert.equal(appt.status, 'fulfilled');
  assert.deepEqual(foreign, [], 'every file and call of the app is served by the node (no CDN)');
});

test('a refused join at phone size: the reason in plain words, reachable controls, no sideways scroll, no camera and no peer connection', { skip, timeout: 120_000 }, async () => {
  const a = await book('ph-refused', 'Gerd', laterToday(6));
  const page = await session.openPage(PHONE);
  await page.goto(`${node.url}/join/${a.id}#token=${await node.auth.mint('Patient/ph-stranger', 'patient')}`);
  const box = page.getByTestId('refusal');
  await box.waitFor();
  assert.match(await box.innerText(), /not available to you/);
  assert.equal(await page.evaluate(() => (globalThis as any).document.body.dataset.phase), 'refused');
  await checkState(page, 'refused');
  assert.deepEqual(await page.evaluate(() => [(globalThis as any).__gum, (globalThis as any).__pcs]), [0, 0], 'no camera, no peer connection');
});
