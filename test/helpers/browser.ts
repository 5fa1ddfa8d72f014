/**
 * Test helper for the real-browser tests: Debian's Chromium (headless, fake
 * camera and microphone) driven by playwright-core against an edge node the
 * test started; pages in their own contexts, bookings, the waiting room and
 * admit steps, and getStats probes. Skipped without Chromium unless CI=true.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { loadConfig } from '../../src/config/index.ts';
import { DEMO, startNode, type EdgeNode } from '../../src/node/index.ts';
import { createLogger } from '../../src/observability/index.ts';
import { ROOT } from './node.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const missing = !existsSync(CHROMIUM);
if (missing && process.env.CI === 'true') throw new Error(`${CHROMIUM} is required in CI for the browser tests (apt-get install chromium)`);
/** The `skip` option of a browser test: false, or the one-line reason. */
export const browserSkip: string | false = missing ? `${CHROMIUM} is not installed: browser tests skipped` : false;
export const WAIT = 60_000;
export const CHROMIUM_ARGS = [
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Builds the app when dist/web is missing or older than its sources (npm install normally did it). */
export function ensureBuilt(): void {
  const index = path.join(ROOT, 'dist/web/index.html');
  const newest = (d: string): number =>
    Math.max(0, ...readdirSync(d, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(path.join(d, e.name)) : statSync(path.join(d, e.name)).mtimeMs)));
  if (!existsSync(index) || statSync(index).mtimeMs < newest(path.join(ROOT, 'src/web'))) {
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
  }
}

/** Chromium, headless; Playwright gives it a fresh temporary --user-data-dir of its own and removes it at close. */
export async function launchChromium(): Promise<Browser> {
  ensureBuilt();
  mkdirSync(ARTIFACTS, { recursive: true });
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** One browser against one node: pages in their own contexts, closed together. */
/** What a browser test file runs against: an in-process demo node, Chromium, and a session on both. */
export interface BrowserNode {
  node: EdgeNode;
  browser: Browser;
  session: BrowserSession;
  /** The node's data folder (a new temp folder unless given). */
  dir: string;
  /** Closes the session, the browser and the node, and removes the data folder. */
  close(): Promise<void>;
}

/** Starts a demo node (sync=normal, silent log, `env` on top) in `dir` or a new temp folder named after `tag`, and Chromium. */
export async function startBrowserNode(tag: string, env: Record<string, string> = {}, dir?: string): Promise<BrowserNode> {
  const data = dir ?? (await mkdtemp(path.join(os.tmpdir(), `${tag}-`)));
  const node = await startNode(loadConfig({ PORT: '0', HOST: '127.0.0.1', TELEMED_DATA_DIR: data, TELEMED_DB_SYNC: 'normal', TELEMED_DEMO: 'true', ...env }), {
    port: 0,
    logger: createLogger({ level: 'silent' }),
  });
  const browser = await launchChromium();
  const session = new BrowserSession(browser, node);
  return {
    node, browser, session, dir: data,
    async close() {
      await session.close();
      await browser.close().catch(() => {});
      await node.close();
      await rm(data, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

export class BrowserSession {
  readonly contexts: BrowserContext[] = [];
  constructor(readonly browser: Browser, readonly node: EdgeNode) {}

  /** A page in its own context (its own sessionStorage), counting getUserMedia calls and RTCPeerConnections made. */
  async openPage(viewport = { width: 1280, height: 860 }): Promise<Page> {
    const context = await this.browser.newContext({ viewport });
    this.contexts.push(context);
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

  /**
   * A booking of a clinician (default: the demo clinician) with a new patient
   * (with a telehealth Consent unless `consent: false`), starting now unless `start` is given.
   */
  async book(
    tag: string,
    opts: { consent?: boolean; given?: string; family?: string; start?: Date; end?: Date; clinician?: string } = {},
  ): Promise<{ id: string; patient: string }> {
    const node = this.node;
    const patient = `Patient/${tag}`;
    await node.fhir.putAsSystem({ resourceType: 'Patient', id: tag, active: true, name: [{ given: [opts.given ?? 'Sam'], family: opts.family ?? `Test-${tag}` }] });
    if (opts.consent !== false) {
      await node.fhir.putAsSystem({
        resourceType: 'Consent', id: `consent-${tag}`, status: 'active',
        scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
        category: [{ text: 'telehealth' }], patient: { reference: patient },
      });
    }
    const id = `appt-${tag}`;
    await node.fhir.putAsSystem({
      resourceType: 'Appointment', id, status: 'booked', start: (opts.start ?? new Date()).toISOString(), ...(opts.end ? { end: opts.end.toISOString() } : {}),
      participant: [{ actor: { reference: opts.clinician ?? DEMO.clinician }, status: 'accepted' }, { actor: { reference: patient }, status: 'accepted' }],
    });
    return { id, patient };
  }

  /** The patient (phone width) waits after the device check; the clinician's page shows them with an Admit button. */
  async enterWaitingRoom(a: { id: string; patient: string }): Promise<{ doctor: Page; patient: Page }> {
    const patient = await this.openPage({ width: 390, height: 844 });
    await patient.goto(`${this.node.url}/join/${a.id}#token=${await this.node.auth.mint(a.patient, 'patient')}`);
    await patient.getByRole('button', { name: 'Join the waiting room' }).click();
    await patient.getByTestId('waiting').waitFor();
    const doctor = await this.openPage();
    await doctor.goto(`${this.node.url}/call/${a.id}#token=${await this.node.auth.mint(DEMO.clinician, 'authorized_medical_staff')}`);
    await doctor.getByTestId('admit').waitFor();
    return { doctor, patient };
  }

  /** Both pages in the call with video flowing (the patient through the device check, the clinician admits). */
  async enterCall(a: { id: string; patient: string }): Promise<{ doctor: Page; patient: Page }> {
    const { doctor, patient } = await this.enterWaitingRoom(a);
    await doctor.getByTestId('admit').click();
    await Promise.all([videoFlows(doctor, 'clinician'), videoFlows(patient, 'patient')]);
    return { doctor, patient };
  }

  async close(): Promise<void> {
    for (const c of this.contexts) await c.close().catch(() => {});
  }
}

/** Cumulative frames decoded of the remote video on the app's RTCPeerConnection (-1 before there is one). */
export function framesDecoded(page: Page): Promise<number> {
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

/** Probes every 250 ms until `ok`; throws naming what it waited for and the last value. */
export async function until<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = WAIT): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(last)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
    last = await probe();
  }
  return last;
}

/** framesDecoded rises on this page: some frames, then more; and the remote video element plays with a picture. */
export async function videoFlows(page: Page, who: string, timeoutMs = WAIT): Promise<void> {
  const first = await until(`${who}: first decoded remote frame`, () => framesDecoded(page), (n) => n > 0, timeoutMs);
  await until(`${who}: frames keep being decoded`, () => framesDecoded(page), (n) => n > first, timeoutMs);
  const playing = () => page.evaluate(() => {
    const v = (globalThis as any).document.querySelector('[data-testid="remote-video"]');
    return Boolean(v && !v.paused && v.videoWidth > 0);
  });
  await until(`${who}: the remote video plays`, playing, (p) => p, timeoutMs);
}

export const phaseOf = (page: Page) => page.evaluate(() => (globalThis as any).__telemed?.phase as string | undefined);

/** A full-page screenshot in test-artifacts/ (`<prefix>-<name>.png`). */
export const shot = (page: Page, prefix: string, name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${prefix}-${name}.png`), fullPage: true });
