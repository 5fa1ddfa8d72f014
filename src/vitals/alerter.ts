/**
 * Runs the alert rules of ./alerts.ts on the stored samples of each patient:
 * threshold crossings at once, NEWS2 at most once per `intervalMs` per
 * patient (as the `news2` Wasm function when there is one, else in
 * TypeScript). Each alert is written as a FHIR Flag, then sent to the
 * clinicians watching the patient's call.
 */
import type { Logger } from 'pino';
import type { FhirService, Resource } from '../fhir/index.ts';
import { DEFAULT_RULES, news2, PatientVitals, type Alert, type News2Input, type News2Output, type ThresholdRule } from './alerts.ts';
import type { CallDirectory } from './calls.ts';
import type { Sample } from './protocol.ts';

type Any = Record<string, any>;

export interface AlerterOptions {
  fhir: FhirService;
  calls: CallDirectory;
  log: Logger;
  system: { id: string; role: string };
  rules: ThresholdRule[] | undefined;
  intervalMs: number;
  functions?: { call(caller: { id: string; role: string }, name: string, input: unknown): Promise<{ output: unknown }> };
  onAlert(rule: string): void;
  /** Sends a frame to the clinicians watching an appointment. */
  send(appointmentId: string, frame: Any): void;
}

type Tracked = PatientVitals & { scoring?: boolean; lastScore?: number; timer?: NodeJS.Timeout | undefined };

export class Alerter {
  readonly #o: AlerterOptions;
  readonly #patients = new Map<string, Tracked>();
  /** The active Flag of each (patient, rule), to make inactive when the rule clears. */
  readonly #flags = new Map<string, Resource>();
  readonly #chains = new Map<string, Promise<void>>();
  #closed = false;

  constructor(o: AlerterOptions) {
    this.#o = o;
  }

  /** The latest readings of a patient (what a new watcher is shown first). */
  latest(patient: string): PatientVitals['latest'] {
    return this.#patients.get(patient)?.latest ?? {};
  }

  /** Takes a patient's committed samples, in order. */
  take(patient: string, samples: Sample[]): void {
    let pv = this.#patients.get(patient);
    if (!pv) this.#patients.set(patient, (pv = new PatientVitals() as Tracked));
    for (const a of pv.update(samples, this.#o.rules ?? DEFAULT_RULES)) void this.#raise(patient, a);
    this.#scoreSoon(patient, pv);
  }

  close(): void {
    this.#closed = true;
    for (const p of this.#patients.values()) if (p.timer) clearTimeout(p.timer);
  }

  #scoreSoon(patient: string, pv: Tracked): void {
    if (!pv.dirty || pv.scoring || pv.timer || this.#closed) return;
    const wait = (pv.lastScore ?? -Infinity) + this.#o.intervalMs - Date.now();
    if (wait > 0) {
      pv.timer = setTimeout(() => {
        pv.timer = undefined;
        this.#scoreSoon(patient, pv);
      }, wait);
      pv.timer.unref();
      return;
    }
    const input = pv.news2Input();
    if (!input) return;
    pv.dirty = false;
    pv.scoring = true;
    pv.lastScore = Date.now();
    void this.#news2(input).then((r) => {
      const alert = pv.scored(r);
      if (alert) void this.#raise(patient, alert);
    }).finally(() => {
      pv.scoring = false;
      this.#scoreSoon(patient, pv);
    });
  }

  async #news2(input: News2Input): Promise<News2Output> {
    if (this.#o.functions) {
      try {
        const { output } = await this.#o.functions.call(this.#o.system, 'news2', input);
        const o = output as Any;
        if (typeof o?.score === 'number' && ['low', 'low-medium', 'medium', 'high'].includes(o.risk)) return { score: o.score, risk: o.risk as News2Output['risk'], redScore: o.redScore === true };
      } catch (err) {
        this.#o.log.debug({ err: { code: (err as Any).code } }, 'news2 function unavailable; scoring in TypeScript');
      }
    }
    return news2(input);
  }

  /** Raises (or clears) one alert, after the earlier ones of the same patient and rule (a clear waits for its Flag). */
  #raise(patient: string, a: Alert): Promise<void> {
    const key = `${patient}\u0000${a.rule}`;
    const next = (this.#chains.get(key) ?? Promise.resolve()).then(() => this.#raiseNow(key, patient, a));
    this.#chains.set(key, next);
    void next.finally(() => {
      if (this.#chains.get(key) === next) this.#chains.delete(key);
    });
    return next;
  }

  async #raiseNow(key: string, patient: string, a: Alert): Promise<void> {
    if (a.cleared) {
      const flag = this.#flags.get(key);
      if (!flag) return;
      this.#flags.delete(key);
      try {
        await this.#o.fhir.putAsSystem({ ...flag, status: 'inactive', period: { ...(flag.period as Any), end: new Date().toISOString() } });
      } catch (err) {
        this.#o.log.warn({ rule: a.rule, err: { message: (err as Error).message.slice(0, 200) } }, 'alert Flag not made inactive');
      }
      for (const call of this.#o.calls.callsOf(patient)) {
        this.#o.send(call.appointmentId, { type: 'alert', appointmentId: call.appointmentId, patient, ...a, flag: `Flag/${flag.id}`, raised: Date.now() });
      }
      return;
    }
    this.#o.onAlert(a.rule);
    const encounter = this.#o.calls.encounterOf(patient);
    const flag: Resource = {
      resourceType: 'Flag',
      status: 'active',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'clinical', display: 'Clinical' }] }],
      code: { coding: [{ system: 'urn:telemed-edge:vitals-alert', code: a.rule }], text: a.message },
      subject: { reference: patient },
      period: { start: new Date().toISOString() },
      ...(encounter ? { encounter: { reference: encounter } } : {}),
    };
    let ref: string | undefined;
    try {
      const stored = await this.#o.fhir.putAsSystem(flag);
      ref = `Flag/${stored.id}`;
      const { meta: _meta, ...kept } = stored;
      this.#flags.set(key, kept);
    } catch (err) {
      this.#o.log.warn({ rule: a.rule, err: { message: (err as Error).message.slice(0, 200) } }, 'alert Flag not stored');
    }
    this.#o.log.info({ rule: a.rule, severity: a.severity }, 'vitals alert');
    for (const call of this.#o.calls.callsOf(patient)) {
      this.#o.send(call.appointmentId, { type: 'alert', appointmentId: call.appointmentId, patient, ...a, ...(ref ? { flag: ref } : {}), raised: Date.now() });
    }
  }
}
