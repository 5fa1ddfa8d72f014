/**
 * Alerts from the latest vitals of a patient: threshold rules per vital
 * (raised when a reading crosses out of its band, cleared when it is back)
 * and NEWS2 (Royal College of Physicians, 2017), raised when the risk band
 * rises to low-medium, medium or high. NEWS2 runs as the `news2` Wasm
 * function when the node has one (functions/news2), else as {@link news2}
 * below, the same chart in TypeScript.
 */
import { VitalCodes } from './codes.ts';
import { tempC, type Sample } from './protocol.ts';

export interface ThresholdRule {
  id: string;
  /** Which reading: the code, with `systolic`/`diastolic` for blood pressure. */
  code: string;
  part?: 'systolic' | 'diastolic';
  low?: number;
  high?: number;
  display: string;
}

/** Defaults: outside these a reading warrants a look (roughly NEWS2's score-3 bands). */
export const DEFAULT_RULES: ThresholdRule[] = [
  { id: 'heart-rate-low', code: VitalCodes.heartRate, low: 40, display: 'Heart rate at or below 40/min' },
  { id: 'heart-rate-high', code: VitalCodes.heartRate, high: 130, display: 'Heart rate above 130/min' },
  { id: 'spo2-low', code: VitalCodes.spo2, low: 91, display: 'SpO2 at or below 91 %' },
  { id: 'systolic-low', code: VitalCodes.bloodPressure, part: 'systolic', low: 90, display: 'Systolic blood pressure at or below 90 mmHg' },
  { id: 'systolic-high', code: VitalCodes.bloodPressure, part: 'systolic', high: 219, display: 'Systolic blood pressure above 219 mmHg' },
  { id: 'respiratory-rate-low', code: VitalCodes.respiratoryRate, low: 8, display: 'Respiratory rate at or below 8/min' },
  { id: 'respiratory-rate-high', code: VitalCodes.respiratoryRate, high: 24, display: 'Respiratory rate above 24/min' },
  { id: 'temperature-low', code: VitalCodes.bodyTemperature, low: 35, display: 'Temperature at or below 35 °C' },
  { id: 'temperature-high', code: VitalCodes.bodyTemperature, high: 39, display: 'Temperature above 39 °C' },
];

/** The NEWS2 input of functions/news2 (functions/README.md). */
export interface News2Input {
  respiratoryRate: number;
  spo2: number;
  systolicBP: number;
  heartRate: number;
  temperature: number;
  consciousness: 'A';
  onOxygen: false;
}
export interface News2Output {
  score: number;
  risk: 'low' | 'low-medium' | 'medium' | 'high';
  redScore: boolean;
}

const band = (v: number, steps: Array<[number, number]>, last: number) => {
  for (const [upTo, points] of steps) if (v <= upTo) return points;
  return last;
};

/** NEWS2 on SpO2 scale 1, on air, alert: the TypeScript twin of functions/news2. */
export function news2(i: News2Input): News2Output {
  const rr = band(Math.round(i.respiratoryRate), [[8, 3], [11, 1], [20, 0], [24, 2]], 3);
  const ox = band(Math.round(i.spo2), [[91, 3], [93, 2], [95, 1]], 0);
  const bp = band(Math.round(i.systolicBP), [[90, 3], [100, 2], [110, 1], [219, 0]], 3);
  const hr = band(Math.round(i.heartRate), [[40, 3], [50, 1], [90, 0], [110, 1], [130, 2]], 3);
  const t = band(i.temperature, [[35, 3], [36, 1], [38, 0], [39, 1]], 2);
  const score = rr + ox + bp + hr + t;
  const redScore = [rr, ox, bp, hr, t].includes(3);
  const risk = score >= 7 ? 'high' : score >= 5 ? 'medium' : redScore ? 'low-medium' : 'low';
  return { score, risk, redScore };
}

const RISK_ORDER = { low: 0, 'low-medium': 1, medium: 2, high: 3 } as const;

export interface Alert {
  rule: string;
  severity: 'warning' | 'high';
  message: string;
  code?: string;
  value?: number;
  score?: number;
  risk?: string;
  /** The reading is back in range (NEWS2: back to low): the rule's Flag is made inactive. */
  cleared?: boolean;
}

/** One patient's latest readings and which alerts stand. */
export class PatientVitals {
  readonly latest: Partial<Record<'heartRate' | 'spo2' | 'systolicBP' | 'respiratoryRate' | 'temperature', number>> = {};
  readonly #active = new Set<string>();
  #risk: News2Output['risk'] = 'low';
  /** Set when the inputs changed since the last NEWS2. */
  dirty = false;

  /** Takes stored samples (in order); returns the threshold alerts they raise. */
  update(samples: Sample[], rules: readonly ThresholdRule[]): Alert[] {
    const out: Alert[] = [];
    for (const s of samples) {
      if (s.code === VitalCodes.ecg) continue;
      const read = (r: ThresholdRule) => (r.part === 'systolic' ? s.systolic : r.part === 'diastolic' ? s.diastolic : s.code === VitalCodes.bodyTemperature ? tempC(s) : s.value);
      if (s.code === VitalCodes.heartRate) this.latest.heartRate = s.value!;
      else if (s.code === VitalCodes.spo2) this.latest.spo2 = s.value!;
      else if (s.code === VitalCodes.bloodPressure) this.latest.systolicBP = s.systolic!;
      else if (s.code === VitalCodes.respiratoryRate) this.latest.respiratoryRate = s.value!;
      else if (s.code === VitalCodes.bodyTemperature) this.latest.temperature = tempC(s);
      this.dirty = true;
      for (const r of rules) {
        if (r.code !== s.code) continue;
        const v = read(r);
        if (v === undefined) continue;
        const out_ = (r.low !== undefined && v <= r.low) || (r.high !== undefined && v > r.high);
        if (out_ && !this.#active.has(r.id)) {
          this.#active.add(r.id);
          out.push({ rule: r.id, severity: 'warning', message: r.display, code: s.code, value: v });
        } else if (!out_ && this.#active.delete(r.id)) {
          out.push({ rule: r.id, severity: 'warning', message: `${r.display}: back in range`, code: s.code, value: v, cleared: true });
        }
      }
    }
    return out;
  }

  /** The NEWS2 input once every vital of the chart has a reading. */
  news2Input(): News2Input | undefined {
    const l = this.latest;
    if (l.heartRate === undefined || l.spo2 === undefined || l.systolicBP === undefined || l.respiratoryRate === undefined || l.temperature === undefined) return undefined;
    return { respiratoryRate: l.respiratoryRate, spo2: l.spo2, systolicBP: l.systolicBP, heartRate: l.heartRate, temperature: l.temperature, consciousness: 'A', onOxygen: false };
  }

  /** Takes a NEWS2 result; an alert when the risk band rose. */
  scored(r: News2Output): Alert | undefined {
    const was = this.#risk;
    const rose = RISK_ORDER[r.risk] > RISK_ORDER[was];
    this.#risk = r.risk;
    if (r.risk === 'low' && was !== 'low') return { rule: 'news2', severity: 'warning', message: `NEWS2 ${r.score} (low clinical risk)`, score: r.score, risk: r.risk, cleared: true };
    if (!rose) return undefined;
    return {
      rule: 'news2',
      severity: r.risk === 'high' || r.risk === 'medium' ? 'high' : 'warning',
      message: `NEWS2 ${r.score} (${r.risk} clinical risk)`,
      score: r.score,
      risk: r.risk,
    };
  }
}
