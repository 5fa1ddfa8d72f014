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
import type { Page } from 'playwright-core';
import { DEMO, type EdgeNode } from '../src/node/index.ts';
import { BrowserSession, startBrowserNode, type BrowserNode, browserSkip as skip, phaseOf, shot as shotAs, until, videoFlows } from './helpers/browser.ts';

let node: EdgeNode;
let fixture: BrowserNode | undefined;
let session: BrowserSession;

before(async () => {
  if (skip) return;
  fixture = await startBrowserNode('web-consult');
  ({ node, session } = fixture);
});

after(async () => {
  if (skip) return;
  await fixture?.close();
});

const openPage = (viewport?: { width: number; height: number }) => session.openPage(viewport);
const book = (tag: string, opts?: { consent?: boolean }) => session.book(tag, opts);
const enterWaitingRoom = (a: { id: string; patient: string }) => session.enterWaitingRoom(a);
const enterCall = (a: { id: string; patient: string }) => session.enterCall(a);
const shot = (page: Page, name: string) => shotAs(page, 'web-consult', name);

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
