/**
 * Test harness of the consultation tests: a node started in-process on a temp
 * folder, a consultation service attached to its HTTP server (on its own
 * path, so it works whether or not the node wires one itself), booking
 * helpers that write FHIR resources as the node, and signaling clients.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { createConsultService, SignalingClient, type ConsultService, type ConsultServiceOptions, type Received } from '../src/consult/index.ts';
import { loadConfig } from '../src/config/index.ts';
import type { FhirRepository } from '../src/fhir/index.ts';
import { startNode, type EdgeNode } from '../src/node/index.ts';
import { createLogger } from '../src/observability/index.ts';
import { createBuiltinPolicy } from '../src/policy/index.ts';

export type Any = Record<string, any>;
export interface Booking { id: string; clinician: string; patient: string }
type Extra = Partial<ConsultServiceOptions>;

export class ConsultHarness {
  readonly node: EdgeNode;
  readonly consult: ConsultService;
  readonly registry: Registry;
  readonly wsUrl: string;
  /** Every log line of the node and the service (to check that no PHI reaches them). */
  readonly logLines: string[];
  readonly #dir: string;
  readonly #clients: SignalingClient[] = [];
  readonly #extras: ConsultService[] = [];

  private constructor(node: EdgeNode, consult: ConsultService, registry: Registry, wsUrl: string, logLines: string[], dir: string) {
    this.node = node;
    this.consult = consult;
    this.registry = registry;
    this.wsUrl = wsUrl;
    this.logLines = logLines;
    this.#dir = dir;
  }

  /** Starts a node and a service on `/ws/<name>` with the given options. */
  static async start(name: string, opts: Extra = {}): Promise<ConsultHarness> {
    const dir = await mkdtemp(path.join(os.tmpdir(), `${name}-`));
    const logLines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, cb) { logLines.push(...String(chunk).split('\n').filter(Boolean)); cb(); } });
    const logger = createLogger({ level: 'info', destination: sink });
    const node = await startNode(loadConfig({ ...process.env, PORT: '0', TELEMED_DATA_DIR: dir, TELEMED_DB_SYNC: 'normal' }), { port: 0, logger });
    const registry = new Registry();
    const policy = createBuiltinPolicy();
    const consult = createConsultService({ fhir: node.fhir, auth: node.auth, policy: () => policy, logger, registry, path: `/ws/${name}`, ...opts });
    node.upgrades.add(consult);
    return new ConsultHarness(node, consult, registry, `${node.url.replace('http', 'ws')}/ws/${name}`, logLines, dir);
  }

  /** Another service on the same node, on its own path, with its own settings (closed with the harness). */
  extraService(name: string, opts: Extra): { service: ConsultService; url: string } {
    const policy = createBuiltinPolicy();
    const service = createConsultService({ fhir: this.node.fhir, auth: this.node.auth, policy: () => policy, logger: createLogger({ level: 'silent' }), registry: new Registry(), path: `/ws/${name}`, ...opts });
    this.node.upgrades.add(service);
    this.#extras.push(service);
    return { service, url: `${this.node.url.replace('http', 'ws')}/ws/${name}` };
  }

  /** A fresh practitioner, patient (with a telehealth Consent unless `consent: false`) and Appointment. */
  async book(opts: { consent?: boolean; status?: string } = {}): Promise<Booking> {
    const tag = randomUUID().slice(0, 8);
    const a = { id: `appt-${tag}`, clinician: `Practitioner/dr-${tag}`, patient: `Patient/p-${tag}` };
    await this.node.fhir.putAsSystem({ resourceType: 'Practitioner', id: `dr-${tag}`, active: true });
    await this.node.fhir.putAsSystem({ resourceType: 'Patient', id: `p-${tag}`, active: true });
    if (opts.consent !== false) await this.consentFor(a.patient, 'active');
    await this.node.fhir.putAsSystem({
      resourceType: 'Appointment',
      id: a.id,
      status: opts.status ?? 'booked',
      start: new Date().toISOString(),
      participant: [
        { actor: { reference: a.clinician }, status: 'accepted' },
        { actor: { reference: a.patient }, status: 'accepted' },
      ],
    });
    return a;
  }

  /** Writes (or rewrites) the patient's telehealth Consent with `status`. */
  async consentFor(patient: string, status: string): Promise<void> {
    await this.node.fhir.putAsSystem({
      resourceType: 'Consent',
      id: `consent-${patient.split('/')[1]}`,
      status,
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }], text: 'telehealth' }],
      patient: { reference: patient },
    });
  }

  /** How many current resources of `type` have `param` = `value` (a reference search; counts up to 50). */
  count(type: string, param: string, value: string): number {
    const req: Parameters<FhirRepository['search']>[1] = { criteria: [{ kind: 'reference', param, values: [value] }], count: 50, offset: 0, sort: [], summaryCount: false };
    return this.node.fhir.repo.search(type, req).entries.length;
  }

  /** An authenticated socket for `sub` (role from the reference; anything else is an admin). */
  async connect(sub: string, url = this.wsUrl): Promise<SignalingClient> {
    const role = sub.startsWith('Patient/') ? 'patient' : sub.startsWith('Practitioner/') ? 'authorized_medical_staff' : 'admin';
    const c = await SignalingClient.connect(url, await this.node.auth.mint(sub, role));
    this.#clients.push(c);
    return c;
  }

  /** A socket that has not said hello (closed with the harness). */
  async anonymous(url = this.wsUrl, options: { autoPong?: boolean } = {}): Promise<SignalingClient> {
    const c = new SignalingClient(url, options);
    this.#clients.push(c);
    await c.opened;
    return c;
  }

  /** Clinician in (admitted), patient in the waiting room. */
  async openWaitingRoom(a: Booking, url = this.wsUrl) {
    const doc = await this.connect(a.clinician, url);
    doc.send({ type: 'join', appointmentId: a.id });
    const docAdmitted = await doc.next('admitted');
    const pat = await this.connect(a.patient, url);
    pat.send({ type: 'join', appointmentId: a.id });
    const waiting = await pat.next('waiting');
    return { doc, pat, docAdmitted, waiting, seat: waiting.seat as string };
  }

  /** Clinician in, patient waits, the clinician sees it and admits: both admitted. */
  async enterCall(a: Booking, url = this.wsUrl) {
    const { doc, pat, docAdmitted, waiting } = await this.openWaitingRoom(a, url);
    await doc.next('lobby', (f) => f.waiting.some((w: Any) => w.seat === waiting.seat));
    doc.send({ type: 'admit', appointmentId: a.id, seat: waiting.seat });
    const patAdmitted = await pat.next('admitted');
    await doc.next('peer-joined');
    return { doc, pat, docSeat: docAdmitted.seat as string, patSeat: patAdmitted.seat as string, patAdmitted, docAdmitted };
  }

  /** Sends a join that must be refused; returns the `join_refused` error frame. */
  async refusal(c: SignalingClient, appointmentId: string): Promise<Received> {
    c.send({ type: 'join', appointmentId });
    return c.next('error', (f) => f.code === 'join_refused');
  }

  async close(): Promise<void> {
    for (const c of this.#clients) c.drop();
    for (const s of this.#extras) await s.close();
    await this.consult.close();
    await this.node.close();
    await rm(this.#dir, { recursive: true, force: true });
  }
}
