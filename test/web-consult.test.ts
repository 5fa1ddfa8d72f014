/**
 * The browser app in a real browser: Debian's Chromium, headless, with a fake
 * camera and microphone, driven by playwright-core against a node started here
 * (demo mode). A patient goes through the device check into the waiting room,
 * the clinician admits them, video flows both ways (inbound-rtp framesDecoded
 * rises on both pages), chat and a shared document arrive on the other page,
 * and refused joins show their reason without ever starting media.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { loadConfig } from '../src/config/index.ts';
import { DEMO, startNode, type EdgeNode } from '../src/node/index.ts';
import { createLogger } from '../src/observability/index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const missing = !existsSync(CHROMIUM);
if (missing && process.env.CI === 'true') throw new Error(`${CHROMIUM} is required in CI for the browser tests (apt-get install chromium)`);
const skip = missing ? `${CHROMIUM} is not installed: browser tests skipped` : false;
const WAIT = 60_000;

let node: EdgeNode;
let dir: string;
let browser: Browser;
const contexts: BrowserContext[] = [];

/** Builds the app when dist/web is missing or older than its sources (npm install normally did it). */
function ensureBuilt(): void {
  const index = path.join(ROOT, 'dist/web/index.html');
  const newest = (d: string): number =>
    Math.max(0, ...readdirSync(d, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(path.join(d, e.name)) : statSync(path.join(d, e.name)).mtimeMs)));
  if (!existsSync(index) || statSync(index).mtimeMs < newest(path.join(ROOT, 'src/web'))) {
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
  }
}

before(async () => {
  if (skip) return;
  ensureBuilt();
  mkdirSync(ARTIFACTS, { recursive: true });
  dir = await mkdtemp(path.join(os.tmpdir(), 'web-consult-'));
  node = await startNode(loadConfig({ PORT: '0', HOST: '127.0.0.1', TELEMED_DATA_DIR: dir, TELEMED_DB_SYNC: 'normal', TELEMED_DEMO: 'true' }), {
    port: 0,
    logger: createLogger({ level: 'silent' }),
  });
  const { chromium } = await import('playwright-core');
  // Playwright gives the browser a fresh temporary --user-data-dir of its own and removes it at close.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--no-sandbox', '--disable-gpu', '--disable-quic',
      '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
});

after(async () => {
  if (skip) return;
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close().catch(() => {});
  await node?.close();
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
});

/** A page in its own context (its own sessionStorage), counting getUserMedia calls and RTCPeerConnections made. */
async function openPage(viewport = { width: 1280, height: 860 }): Promise<Page> {
  const context = await browser.newContext({ viewport });
  contexts.push(context);
  // (Browser code: the root tsconfig has no DOM types, so it goes through `globalThis as any`.)
  await context.addInitScript(() => {
    const w = globalThis as any;
    w.__gum = 0;
    w.__pcs = 0;
    const md = w.navigator.mediaDevices;
    if (md) {
      const gum = md.getUserMedia.bind(md);
      md.getUserMedia = (c: unknown) => { w.__gum++; return gum(c); };
    }
    const PC = w.RTCPeerConnection;
    w.RTCPeerConnection = class extends PC { constructor(cfg: unknown) { super(cfg); w.__pcs++; } };
  });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  return page;
}

/** Cumulative frames decoded of the remote video on the app's RTCPeerConnection (-1 before there is one). */
function framesDecoded(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const pc = (globalThis as any).__telemed?.pc;
    if (!pc) return -1;
    let n = -1;
    (await pc.getStats()).forEach((s: any) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') n = Math.max(n, s.framesDecoded ?? 0);
    });
    return n;
  });
}

async function until<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = WAIT): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(last)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
    last = await probe();
  }
  return last;
}

/** framesDecoded rises on this page: some frames, then more. */
async function videoFlows(page: Page, who: string): Promise<void> {
  const first = await until(`${who}: first decoded remote frame`, () => framesDecoded(page), (n) => n > 0);
  await until(`${who}: frames keep being decoded`, () => framesDecoded(page), (n) => n > first);
  // And the person sees it: the remote video element plays with a picture.
  const playing = () => page.evaluate(() => {
    const v = (globalThis as any).document.querySelector('[data-testid="remote-video"]');
    return Boolean(v && !v.paused && v.videoWidth > 0);
  });
  await until(`${who}: the remote video plays`, playing, (p) => p);
}

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(ARTIFACTS, `web-consult-${name}.png`), fullPage: true });

test('patient waits, clinician admits: video both ways, chat and a document arrive, the clinician ends the call', { skip, timeout: 300_000 }, async (t) => {
  const appointment = node.demoAppointment!;
  const doctorToken = await node.auth.mint(DEMO.clinician, 'authorized_medical_staff');
  const patientToken = await node.auth.mint(DEMO.patient, 'patient');

  const patient = await openPage({ width: 390, height: 844 });
  await patient.goto(`${node.url}/join/${appointment}#token=${patientToken}`);
  await patient.getByRole('heading', { name: 'Before you join' }).waitFor();
  await patient.getByTestId('check-camera').filter({ hasText: '✓' }).waitFor();
  await patient.getByTestId('check-network').filter({ hasText: '✓' }).waitFor();
  assert.equal(new URL(patient.url()).hash, '', 'the token is taken out of the address bar');
  await shot(patient, 'patient-device-check-phone');
  await patient.getByRole('button', { name: 'Join the waiting room' }).click();
  await patient.getByTestId('waiting').waitFor();

  const doctor = await openPage();
  await doctor.goto(`${node.url}/#token=${doctorToken}`);
  await doctor.getByTestId('waiting-badge').filter({ hasText: '1 waiting' }).waitFor();
  const patientName = await doctor.evaluate(async () => {
    const r = await fetch('/fhir/Patient/demo-patient', { headers: { authorization: `Bearer ${(globalThis as any).sessionStorage.getItem('token')}` } });
    const n = ((await r.json()) as any).name[0];
    return [...(n.prefix ?? []), ...(n.given ?? []), n.family].join(' ');
  });
  await doctor.getByRole('link', { name: `Open the room: ${patientName}`, exact: false }).click();
  await doctor.waitForURL(`**/call/${appointment}`);
  const admit = doctor.getByRole('button', { name: `Admit ${patientName}` });
  await admit.waitFor();
  await shot(doctor, 'clinician-waiting-room');
  const admittedAt = Date.now();
  await admit.click();

  await Promise.all([videoFlows(doctor, 'clinician'), videoFlows(patient, 'patient')]);
  t.diagnostic(`admit to remote video playing on both pages: ${Date.now() - admittedAt} ms (reported, not asserted)`);
  assert.equal(await doctor.evaluate(() => (globalThis as any).__telemed.phase), 'in-call');
  assert.equal(await patient.evaluate(() => (globalThis as any).__telemed.phase), 'in-call');
  assert.match(new URL(patient.url()).pathname, new RegExp(`^/call/${appointment}$`), 'the patient page moves to the call address (a reload resumes)');

  await doctor.getByRole('textbox', { name: 'Message' }).fill('Good evening, can you hear me?');
  await doctor.getByRole('textbox', { name: 'Message' }).press('Enter');
  await patient.getByTestId('chat-log').filter({ hasText: 'Good evening, can you hear me?' }).waitFor();
  await patient.getByRole('textbox', { name: 'Message' }).fill('Yes, loud and clear.');
  await patient.getByRole('button', { name: 'Send' }).click();
  await doctor.getByTestId('chat-log').filter({ hasText: 'Yes, loud and clear.' }).waitFor();

  await patient.getByLabel('File to share').setInputFiles({ name: 'blood-pressure-diary.txt', mimeType: 'text/plain', buffer: Buffer.from('Mon 128/82\nTue 131/85\n') });
  await patient.getByRole('button', { name: 'Share in the call' }).click();
  await doctor.getByTestId('documents').getByRole('link', { name: 'blood-pressure-diary.txt' }).waitFor();
  const download = doctor.waitForEvent('download');
  await doctor.getByTestId('documents').getByRole('link', { name: 'blood-pressure-diary.txt' }).click();
  assert.equal((await download).suggestedFilename(), 'blood-pressure-diary.txt', 'the shared document opens over FHIR');

  await shot(doctor, 'clinician-call-desktop');
  await shot(patient, 'patient-call-phone');
  await doctor.setViewportSize({ width: 390, height: 844 });
  await patient.setViewportSize({ width: 1280, height: 860 });
  await shot(doctor, 'clinician-call-phone');
  await shot(patient, 'patient-call-desktop');

  await doctor.getByRole('button', { name: 'End consultation' }).click();
  await doctor.getByRole('button', { name: 'Confirm: end for everyone' }).click();
  await patient.getByRole('heading', { name: 'The consultation has ended.' }).waitFor();
  await doctor.getByRole('heading', { name: 'The consultation has ended.' }).waitFor();
  assert.equal(await patient.evaluate(() => (globalThis as any).__telemed.pc ?? null), null, 'no connection left after the end');
});

/** A booking of the demo clinician with a new patient (with a telehealth Consent unless `consent: false`). */
async function book(tag: string, opts: { consent?: boolean } = {}): Promise<{ id: string; patient: string }> {
  const patient = `Patient/${tag}`;
  await node.fhir.putAsSystem({ resourceType: 'Patient', id: tag, active: true, name: [{ given: ['Sam'], family: `Test-${tag}` }] });
  if (opts.consent !== false) {
    await node.fhir.putAsSystem({
      resourceType: 'Consent', id: `consent-${tag}`, status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ text: 'telehealth' }], patient: { reference: patient },
    });
  }
  const id = `appt-${tag}`;
  await node.fhir.putAsSystem({
    resourceType: 'Appointment', id, status: 'booked', start: new Date().toISOString(),
    participant: [{ actor: { reference: DEMO.clinician }, status: 'accepted' }, { actor: { reference: patient }, status: 'accepted' }],
  });
  return { id, patient };
}

/** The patient (phone width) waits after the device check; the clinician's page shows them with an Admit button. */
async function enterWaitingRoom(a: { id: string; patient: string }): Promise<{ doctor: Page; patient: Page }> {
  const patient = await openPage({ width: 390, height: 844 });
  await patient.goto(`${node.url}/join/${a.id}#token=${await node.auth.mint(a.patient, 'patient')}`);
  await patient.getByRole('button', { name: 'Join the waiting room' }).click();
  await patient.getByTestId('waiting').waitFor();
  const doctor = await openPage();
  await doctor.goto(`${node.url}/call/${a.id}#token=${await node.auth.mint(DEMO.clinician, 'authorized_medical_staff')}`);
  await doctor.getByTestId('admit').waitFor();
  return { doctor, patient };
}

/** Both pages in the call with video flowing (the patient through the device check, the clinician admits). */
async function enterCall(a: { id: string; patient: string }): Promise<{ doctor: Page; patient: Page }> {
  const { doctor, patient } = await enterWaitingRoom(a);
  await doctor.getByTestId('admit').click();
  await Promise.all([videoFlows(doctor, 'clinician'), videoFlows(patient, 'patient')]);
  return { doctor, patient };
}

const phaseOf = (page: Page) => page.evaluate(() => (globalThis as any).__telemed?.phase as string | undefined);

test("the patient's network drops and returns, then the page reloads: the same call resumes each time", { skip, timeout: 300_000 }, async (t) => {
  const a = await book('reconnects');
  const { doctor, patient } = await enterCall(a);

  await patient.context().setOffline(true);
  const phases = () => patient.evaluate(() => (globalThis as any).__telemed.phases as string[]);
  await until('patient sees it is reconnecting', phases, (p) => p.includes('reconnecting'));
  const onlineAt = Date.now();
  await patient.context().setOffline(false);
  await until('patient back in the call', () => phaseOf(patient), (p) => p === 'in-call');
  await Promise.all([videoFlows(doctor, 'clinician after the drop'), videoFlows(patient, 'patient after the drop')]);
  t.diagnostic(`network back to the call resumed with video: ${Date.now() - onlineAt} ms (reported, not asserted)`);

  await doctor.getByRole('textbox', { name: 'Message' }).fill('Before the reload');
  await doctor.getByRole('textbox', { name: 'Message' }).press('Enter');
  await patient.getByTestId('chat-log').filter({ hasText: 'Before the reload' }).waitFor();
  await doctor.getByLabel('File to share').setInputFiles({ name: 'care-plan.txt', mimeType: 'text/plain', buffer: Buffer.from('Rest, fluids, call if worse.\n') });
  await doctor.getByRole('button', { name: 'Share in the call' }).click();
  await patient.getByTestId('documents').getByRole('link', { name: 'care-plan.txt' }).waitFor();

  const reloadAt = Date.now();
  await patient.reload();
  await until('patient back in the call after a reload', () => phaseOf(patient), (p) => p === 'in-call');
  await patient.getByTestId('chat-log').filter({ hasText: 'Before the reload' }).waitFor();
  await patient.getByTestId('documents').getByRole('link', { name: 'care-plan.txt' }).waitFor();
  await Promise.all([videoFlows(doctor, 'clinician after the reload'), videoFlows(patient, 'patient after the reload')]);
  t.diagnostic(`patient reload to the call resumed with video: ${Date.now() - reloadAt} ms (reported, not asserted)`);
  assert.equal(await patient.getByTestId('waiting').isVisible(), false, 'no second trip through the waiting room');

  await patient.getByRole('textbox', { name: 'Message' }).fill('Back again');
  await patient.getByRole('textbox', { name: 'Message' }).press('Enter');
  await doctor.getByTestId('chat-log').filter({ hasText: 'Back again' }).waitFor();

  await doctor.reload();
  await until('clinician back in the call after a reload', () => phaseOf(doctor), (p) => p === 'in-call');
  await doctor.getByTestId('chat-log').filter({ hasText: 'Back again' }).waitFor();
  await Promise.all([videoFlows(doctor, 'clinician after its reload'), videoFlows(patient, 'patient after the clinician reload')]);

  // Each browser reports a getStats summary every 5 s; the node counts the frames they decoded.
  const decodedAtNode = async () => Number(/^consult_frames_decoded_total (\d+)/m.exec(await node.metrics.registry.getSingleMetricAsString('consult_frames_decoded_total'))?.[1] ?? 0);
  await until('stats frames reach the node', decodedAtNode, (n) => n > 0);

  await patient.getByRole('button', { name: 'Leave' }).click();
  await patient.getByRole('heading', { name: 'You left the consultation.' }).waitFor();
  await doctor.locator('#main').getByText('The other person left the call.').waitFor();
  assert.equal(await phaseOf(doctor), 'in-call', 'the clinician stays in the room');
});

test('the clinician closes the room before admitting: the patient is told the appointment stays booked, and can join again', { skip, timeout: 180_000 }, async () => {
  const a = await book('closed-early');
  const { doctor, patient } = await enterWaitingRoom(a);
  await doctor.getByRole('button', { name: 'End consultation' }).click();
  await doctor.getByRole('button', { name: 'Confirm: end for everyone' }).click();
  await patient.getByRole('heading', { name: 'The waiting room was closed' }).waitFor();
  assert.equal(await patient.evaluate(() => (globalThis as any).__telemed.localStream), null, 'the camera was released');
  await patient.getByRole('link', { name: 'Join again' }).click();
  await patient.getByRole('button', { name: 'Join the waiting room' }).waitFor();
});

test('a patient signed in as someone else sees why and never starts media', { skip, timeout: 120_000 }, async () => {
  const page = await openPage({ width: 390, height: 844 });
  const stranger = await node.auth.mint('Patient/someone-else', 'patient');
  await page.goto(`${node.url}/join/${node.demoAppointment}#token=${stranger}`);
  const box = page.getByTestId('refusal');
  await box.waitFor();
  assert.match(await box.innerText(), /not available to you/);
  assert.deepEqual(await page.evaluate(() => [(globalThis as any).__gum, (globalThis as any).__pcs]), [0, 0], 'no camera, no peer connection');
  await shot(page, 'refused-not-a-participant-phone');
});

test("the booked clinician's id with a token without the clinician role sees why and never starts media", { skip, timeout: 120_000 }, async () => {
  const page = await openPage();
  await page.goto(`${node.url}/call/${node.demoAppointment}#token=${await node.auth.mint(DEMO.clinician, 'admin')}`);
  const box = page.getByTestId('refusal');
  await box.waitFor();
  assert.match(await box.innerText(), /cannot join video consultations/);
  assert.deepEqual(await page.evaluate(() => [(globalThis as any).__gum, (globalThis as any).__pcs]), [0, 0], 'no camera, no peer connection');
});

test('a patient without a telehealth consent sees why and never starts media', { skip, timeout: 120_000 }, async () => {
  await node.fhir.putAsSystem({ resourceType: 'Patient', id: 'no-consent', active: true, name: [{ given: ['Noor'], family: 'Consentless' }] });
  await node.fhir.putAsSystem({
    resourceType: 'Appointment', id: 'appt-no-consent', status: 'booked', start: new Date().toISOString(),
    participant: [{ actor: { reference: DEMO.clinician }, status: 'accepted' }, { actor: { reference: 'Patient/no-consent' }, status: 'accepted' }],
  });
  const page = await openPage();
  await page.goto(`${node.url}/join/appt-no-consent#token=${await node.auth.mint('Patient/no-consent', 'patient')}`);
  const box = page.getByTestId('refusal');
  await box.waitFor();
  assert.match(await box.innerText(), /Consent for video consultations is missing/);
  assert.deepEqual(await page.evaluate(() => [(globalThis as any).__gum, (globalThis as any).__pcs]), [0, 0], 'no camera, no peer connection');
  await shot(page, 'refused-no-consent-desktop');
});

test('consent withdrawn between the device check and the join: the node refuses, the camera stops, no call', { skip, timeout: 120_000 }, async () => {
  await node.fhir.putAsSystem({ resourceType: 'Patient', id: 'withdraws', active: true });
  const consent = (status: string) => node.fhir.putAsSystem({
    resourceType: 'Consent', id: 'consent-withdraws', status,
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ text: 'telehealth' }], patient: { reference: 'Patient/withdraws' },
  });
  await consent('active');
  await node.fhir.putAsSystem({
    resourceType: 'Appointment', id: 'appt-withdraws', status: 'booked', start: new Date().toISOString(),
    participant: [{ actor: { reference: DEMO.clinician }, status: 'accepted' }, { actor: { reference: 'Patient/withdraws' }, status: 'accepted' }],
  });
  const page = await openPage();
  await page.goto(`${node.url}/join/appt-withdraws#token=${await node.auth.mint('Patient/withdraws', 'patient')}`);
  await page.getByTestId('check-camera').filter({ hasText: '✓' }).waitFor();
  await consent('inactive');
  await page.getByRole('button', { name: 'Join the waiting room' }).click();
  const box = page.getByTestId('refusal');
  await box.waitFor();
  assert.match(await box.innerText(), /Consent for video consultations is missing/);
  assert.equal(await page.evaluate(() => (globalThis as any).__pcs), 0, 'no peer connection');
  assert.equal(await page.evaluate(() => (globalThis as any).__telemed.localStream), null, 'the camera was released');
});
