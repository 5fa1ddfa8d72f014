/**
 * Realistic vitals for the simulator, the tests and demos: per patient a
 * slow random walk around a personal baseline (physiological ranges), breath
 * and pulse jitter, an occasional deterioration (heart rate and breathing up,
 * SpO2 and systolic pressure down over a minute, then recovery), and an ECG
 * trace at 250 Hz. A {@link SimulatedDevice} streams them over the vitals
 * socket, keeps what is not acknowledged and resends it after a reconnect.
 */
import { VitalsClient, type Frame } from './client.ts';

/** Mulberry32: a small seeded generator, so a run can be repeated. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type SimSample = Record<string, unknown> & { seq: number };

export class PatientModel {
  readonly #rand: () => number;
  readonly #base: { hr: number; spo2: number; sys: number; dia: number; rr: number; temp: number };
  #drift = { hr: 0, spo2: 0, sys: 0, rr: 0, temp: 0 };
  /** 0..1: how far into a deterioration the patient is. */
  #event = 0;
  #eventDir = 0;
  #phase = 0;
  /** Chance per second that a deterioration starts. */
  readonly eventRate: number;

  constructor(seed: number, eventRate = 1 / 600) {
    this.#rand = seeded(seed);
    const r = this.#rand;
    this.#base = { hr: 62 + r() * 25, spo2: 95 + r() * 4, sys: 108 + r() * 30, dia: 66 + r() * 16, rr: 12 + r() * 6, temp: 36.3 + r() * 0.8 };
    this.eventRate = eventRate;
  }

  /** Advances the model `dt` seconds. */
  step(dt: number): void {
    const r = this.#rand;
    const walk = (x: number, sd: number, pull: number) => x * (1 - pull * dt) + (r() - 0.5) * sd * Math.sqrt(dt);
    this.#drift = { hr: walk(this.#drift.hr, 4, 0.05), spo2: walk(this.#drift.spo2, 0.6, 0.1), sys: walk(this.#drift.sys, 3, 0.05), rr: walk(this.#drift.rr, 1, 0.1), temp: walk(this.#drift.temp, 0.05, 0.01) };
    if (this.#eventDir === 0 && r() < this.eventRate * dt) this.#eventDir = 1;
    this.#event = Math.min(1, Math.max(0, this.#event + (this.#eventDir * dt) / 60));
    if (this.#event >= 1 && r() < dt / 60) this.#eventDir = -1;
    if (this.#event <= 0 && this.#eventDir < 0) this.#eventDir = 0;
    this.#phase += dt;
  }

  /** Current readings (rounded as a device shows them). */
  readings(): { hr: number; spo2: number; sys: number; dia: number; rr: number; temp: number } {
    const e = this.#event;
    const b = this.#base;
    const d = this.#drift;
    const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
    return {
      hr: Math.round(clamp(b.hr + d.hr + 55 * e, 35, 200)),
      spo2: Math.round(clamp(b.spo2 + d.spo2 - 10 * e, 70, 100)),
      sys: Math.round(clamp(b.sys + d.sys - 30 * e, 60, 220)),
      dia: Math.round(clamp(b.dia + d.sys / 2 - 15 * e, 35, 130)),
      rr: Math.round(clamp(b.rr + d.rr + 12 * e, 6, 40)),
      temp: Math.round(clamp(b.temp + d.temp + 1.5 * e, 34, 41.5) * 10) / 10,
    };
  }

  /** `n` ECG points (mV) at 250 Hz: a synthetic PQRST complex at the current heart rate. */
  ecg(n: number, hz = 250): number[] {
    const hr = this.readings().hr;
    const beat = 60 / hr;
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = ((this.#phase + i / hz) % beat) / beat;
      const g = (c: number, w: number, a: number) => a * Math.exp(-(((t - c) / w) ** 2));
      const v = g(0.2, 0.03, 0.12) - g(0.33, 0.01, 0.1) + g(0.35, 0.012, 1.1) - g(0.37, 0.01, 0.25) + g(0.6, 0.05, 0.3) + (this.#rand() - 0.5) * 0.02;
      out.push(Math.round(v * 1000) / 1000);
    }
    return out;
  }
}

export interface DeviceStats {
  sent: number;
  acked: number;
  rejected: number;
  reconnects: number;
}

/**
 * One device streaming one patient's model: vitals at `hz` (heart rate,
 * SpO2, respiratory rate every tick; blood pressure and temperature every
 * 30 s), ECG in 1 s chunks when `ecg` is on. Unacknowledged samples are
 * kept and resent after a reconnect (the node drops any it already has).
 */
export class SimulatedDevice {
  readonly stats: DeviceStats = { sent: 0, acked: 0, rejected: 0, reconnects: 0 };
  readonly #url: string;
  readonly #token: string;
  readonly #hello: { device: string; patient?: string };
  readonly #model: PatientModel;
  readonly #unacked: SimSample[] = [];
  #client: VitalsClient | undefined;
  #seq = 0;
  #lastAck = -1;
  #closed = false;
  #sinceSlow = 30;
  #ecgBuffered = 0;

  constructor(o: { url: string; token: string; device: string; patient?: string; seed: number; eventRate?: number }) {
    this.#url = o.url;
    this.#token = o.token;
    this.#hello = { device: o.device, ...(o.patient ? { patient: o.patient } : {}) };
    this.#model = new PatientModel(o.seed, o.eventRate);
  }

  /** Connects (or reconnects) and resends what the node has not acknowledged. */
  async connect(): Promise<void> {
    const { client, welcome } = await VitalsClient.connect(this.#url, this.#token, this.#hello, { keep: false, onFrame: (f) => this.#onFrame(f) });
    this.#client = client;
    client.ws.on('close', () => {
      if (!this.#closed) void this.#reconnect();
    });
    this.#acked(welcome.acked as number);
    if (this.#unacked.length > 0) this.#send(this.#unacked);
  }

  async #reconnect(): Promise<void> {
    this.#client = undefined;
    for (let attempt = 0; !this.#closed; attempt++) {
      await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
      try {
        this.stats.reconnects++;
        await this.connect();
        return;
      } catch {
        /* the node is not back yet */
      }
    }
  }

  #onFrame(f: Frame): void {
    if (f.type === 'ack') this.#acked(f.seq as number);
    else if (f.type === 'error' && typeof f.seq === 'number') {
      // a refused sample is not resent
      const i = this.#unacked.findIndex((s) => s.seq === f.seq);
      if (i >= 0) {
        this.#unacked.splice(i, 1);
        this.stats.rejected++;
      }
    } else if (f.type === 'error' && f.code === 'stream_refused') this.#closed = true;
  }

  #acked(seq: number): void {
    if (seq <= this.#lastAck) return;
    this.#lastAck = seq;
    let n = 0;
    while (n < this.#unacked.length && this.#unacked[n]!.seq <= seq) n++;
    this.#unacked.splice(0, n);
    this.stats.acked += n;
  }

  /**
   * Advances the model by `dt` seconds and records what the device measured,
   * stamped by the device's own sampling clock (regular, as a monitor's is);
   * sends once a second of readings has gathered (monitors send 1 s packets).
   */
  tick(dt: number): void {
    this.#clock ??= Date.now();
    this.#clock += dt * 1000;
    const now = Math.round(this.#clock);
    this.#model.step(dt);
    const r = this.#model.readings();
    const out: SimSample[] = [
      { seq: this.#seq++, code: '8867-4', value: r.hr, unit: '/min', time: now },
      { seq: this.#seq++, code: '2708-6', value: r.spo2, unit: '%', time: now },
      { seq: this.#seq++, code: '9279-1', value: r.rr, unit: '/min', time: now },
    ];
    this.#sinceSlow += dt;
    if (this.#sinceSlow >= 30) {
      this.#sinceSlow = 0;
      out.push({ seq: this.#seq++, code: '85354-9', systolic: r.sys, diastolic: r.dia, unit: 'mm[Hg]', time: now });
      out.push({ seq: this.#seq++, code: '8310-5', value: r.temp, unit: 'Cel', time: now });
    }
    this.#ecgBuffered += dt;
    if (this.#ecgOn && this.#ecgBuffered >= 1) {
      this.#ecgBuffered = 0;
      out.push({ seq: this.#seq++, code: '131328', unit: 'mV', time: now - 1000, period: 4, data: this.#model.ecg(250) });
    }
    this.#unacked.push(...out);
    this.stats.sent += out.length;
    this.#batch.push(...out);
    this.#batchAge += dt;
    if (this.#batchAge >= 0.999) this.flush();
  }

  /** Sends what was recorded and not sent yet. */
  flush(): void {
    this.#batchAge = 0;
    if (this.#batch.length > 0) this.#send(this.#batch.splice(0));
  }

  #clock: number | undefined;
  #batch: SimSample[] = [];
  #batchAge = 0;

  #ecgOn = true;
  /** Turns the ECG trace on or off (default on). */
  set ecg(on: boolean) {
    this.#ecgOn = on;
  }

  #send(samples: SimSample[]): void {
    const c = this.#client;
    if (!c || c.ws.readyState !== c.ws.OPEN) return; // kept; resent after the reconnect
    for (let i = 0; i < samples.length; i += 500) c.send({ type: 'samples', samples: samples.slice(i, i + 500) });
  }

  /** Samples sent and not acknowledged yet. */
  get pending(): number {
    return this.#unacked.length;
  }

  close(): void {
    this.#closed = true;
    this.#client?.close();
  }
}
