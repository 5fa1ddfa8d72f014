// The live vitals panel of the clinician's call view: the vitals socket
// (src/vitals/PROTOCOL.md: hello, subscribe {appointmentId}, `vitals` and
// `alert` frames), the latest value of each vital with its unit, a moving
// trend per vital, a sweeping ECG trace from the waveform chunks, and alerts
// (threshold rules and NEWS2) with their time. Reconnects on its own.
import { token } from './api.ts';
import { ReconnectingSocket, type Frame } from './socket.ts';
import { h } from './ui.ts';

type Key = 'hr' | 'spo2' | 'bp' | 'rr' | 'temp';

interface Tile {
  key: Key;
  label: string;
  value: HTMLElement;
  unit: HTMLElement;
  when: HTMLElement;
  canvas: HTMLCanvasElement;
  /** [device time ms, value, second value (diastolic)] */
  points: Array<[number, number, number?]>;
}

const CODE_TO_KEY: Record<string, Key> = { '8867-4': 'hr', '2708-6': 'spo2', '85354-9': 'bp', '9279-1': 'rr', '8310-5': 'temp' };
const ECG = '131328';
const LABELS: Record<Key, string> = { hr: 'Heart rate', spo2: 'SpO2', bp: 'Blood pressure', rr: 'Respiratory rate', temp: 'Temperature' };
const DEFAULT_UNIT: Record<Key, string> = { hr: '/min', spo2: '%', bp: 'mmHg', rr: '/min', temp: '°C' };
/** UCUM codes as people read them. */
const UNIT_TEXT: Record<string, string> = { '/min': '/min', '{beats}/min': '/min', '{breaths}/min': '/min', '%': '%', 'mm[Hg]': 'mmHg', Cel: '°C', '[degF]': '°F', mV: 'mV', uV: 'µV' };
const unitText = (u: string | undefined) => (u ? UNIT_TEXT[u] ?? u : '');
const TREND_MS = 120_000;
const ECG_WINDOW_MS = 5_000;
const ECG_KEEP_MS = 12_000;
const MAX_ALERTS = 20;

const clockTime = (ms: number) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });

export class VitalsPanel {
  /** The panel's content (goes into the call view's vitals card). */
  readonly element: HTMLElement;
  /** The latest active alert, for the top of the call view (not a live region: the list below announces). */
  readonly banner: HTMLElement;
  readonly #appointmentId: string;
  readonly #path: string;
  readonly #status: HTMLElement;
  readonly #alerts: HTMLOListElement;
  readonly #tiles = new Map<Key, Tile>();
  readonly #ecgCanvas: HTMLCanvasElement;
  readonly #ecgRate: HTMLElement;
  /** ECG points [device time ms, mV]. */
  #ecg: Array<[number, number]> = [];
  #ecgNewest = -Infinity;
  /** Where the sweep is drawn up to (device time), advancing with the wall clock behind the newest chunk. */
  #ecgHead: number | undefined;
  #ecgWall = 0;
  /** Newest device time of any reading, and the wall time it came (for the trends' moving time axis). */
  #newest: { device: number; wall: number } | undefined;
  /** Highest sequence number shown per device (a resent sample comes again after a failed commit). */
  readonly #seen = new Map<string, number>();
  /** Active alerts by rule: their list items. */
  readonly #active = new Map<string, HTMLElement>();
  #socket: ReconnectingSocket | undefined;
  #running = false;
  #resubscribe: number | undefined;
  #raf: number | undefined;
  #trendTimer: number | undefined;
  /** Set when the call ended: nothing more to watch. */
  #over = false;

  constructor(appointmentId: string, path = '/ws/vitals') {
    this.#appointmentId = appointmentId;
    this.#path = path;
    this.#status = h('p', { class: 'muted small vitals-status', 'data-testid': 'vitals-status' }, 'Live vitals appear here when a device in the call streams them.');
    this.#alerts = h('ol', { class: 'plain vitals-alerts', 'aria-live': 'assertive', 'aria-relevant': 'additions', 'aria-label': 'Vitals alerts', 'data-testid': 'vitals-alerts' });
    this.banner = h('p', { class: 'vitals-banner', hidden: true, 'data-testid': 'vitals-banner' });
    const grid = h('div', { class: 'vitals-grid' });
    for (const key of ['hr', 'spo2', 'bp', 'rr', 'temp'] as const) {
      const value = h('span', { class: 'vital-value', 'data-testid': `vital-${key}` }, '—');
      const unit = h('span', { class: 'vital-unit' }, DEFAULT_UNIT[key]);
      const when = h('span', { class: 'vital-when muted small' }, 'no reading yet');
      const canvas = h('canvas', { class: 'vital-trend', role: 'img', 'aria-label': `${LABELS[key]} over the last 2 minutes`, height: 40, width: 160 });
      grid.append(h('div', { class: 'vital-tile', role: 'group', 'aria-label': LABELS[key] }, h('span', { class: 'vital-label' }, LABELS[key]), h('span', { class: 'vital-reading' }, value, ' ', unit), when, canvas));
      this.#tiles.set(key, { key, label: LABELS[key], value, unit, when, canvas, points: [] });
    }
    this.#ecgCanvas = h('canvas', { class: 'ecg', role: 'img', 'aria-label': 'ECG trace, last 5 seconds', 'data-testid': 'ecg', height: 120, width: 600 });
    this.#ecgRate = h('span', { class: 'muted small' }, '(no trace yet)');
    const ecgTile = h('div', { class: 'vital-tile ecg-tile', role: 'group', 'aria-label': 'ECG' }, h('span', { class: 'vital-label' }, 'ECG ', this.#ecgRate), this.#ecgCanvas);
    this.element = h('div', { class: 'vitals-body' }, this.#status, this.#alerts, grid, ecgTile);
  }

  /** Connects and subscribes (idempotent). */
  start(): void {
    if (this.#running || this.#over) return;
    this.#running = true;
    this.#trendTimer = window.setInterval(() => this.#drawTrends(), 1000);
    this.#socket = new ReconnectingSocket({ path: this.#path, token, maxDelayMs: 5000 }, {
      // Each (re)connect subscribes again.
      ready: () => this.#subscribe(),
      frame: (f) => this.#frame(f),
      lost: () => {
        clearTimeout(this.#resubscribe);
        this.#setStatus('Vitals connection lost: reconnecting…');
      },
      authFailed: () => {
        this.#setStatus('Live vitals are not available: sign in again.');
        this.stop();
      },
    });
  }

  /** Closes the socket and stops drawing (the call is over). */
  stop(): void {
    this.#running = false;
    clearTimeout(this.#resubscribe);
    clearInterval(this.#trendTimer);
    if (this.#raf !== undefined) cancelAnimationFrame(this.#raf);
    this.#raf = undefined;
    this.#socket?.close();
    this.#socket = undefined;
  }

  #setStatus(text: string): void {
    if (this.#status.textContent !== text) this.#status.textContent = text;
  }

  #subscribe(): void {
    this.#socket?.send({ type: 'subscribe', appointmentId: this.#appointmentId });
  }

  #frame(f: Frame): void {
    switch (f.type) {
      case 'subscribed':
        this.#setStatus(this.#newest ? 'Live.' : 'Live: waiting for the patient’s devices.');
        this.#latest(f.latest ?? {});
        return;
      case 'unsubscribed':
        if (f.reason === 'call-ended') {
          this.#over = true;
          this.#setStatus('The call ended: live vitals stopped.');
          this.stop();
        } else {
          this.#setStatus('Live vitals paused.');
          this.#resubscribe = window.setTimeout(() => this.#subscribe(), 3000);
        }
        return;
      case 'vitals':
        if (f.appointmentId === this.#appointmentId && Array.isArray(f.samples)) this.#samples(f.samples);
        return;
      case 'alert':
        if (f.appointmentId === this.#appointmentId) this.#alert(f);
        return;
      case 'error':
        if (f.code === 'subscribe_refused') {
          // Not (yet) admitted as the vitals service sees it, or the policy refused: ask again shortly.
          this.#setStatus(`Live vitals are not available now (${String(f.reason ?? 'refused').replaceAll('_', ' ')}); trying again…`);
          clearTimeout(this.#resubscribe);
          this.#resubscribe = window.setTimeout(() => this.#subscribe(), 3000);
        }
        return;
    }
  }

  /** What the node knew before we subscribed (values only: no time, no unit beyond the default). */
  #latest(l: Record<string, number>): void {
    const set = (key: Key, text: string | undefined) => {
      const t = this.#tiles.get(key)!;
      if (text === undefined || t.points.length > 0) return;
      t.value.textContent = text;
      t.when.textContent = 'last reading';
    };
    set('hr', l.heartRate !== undefined ? String(Math.round(l.heartRate)) : undefined);
    set('spo2', l.spo2 !== undefined ? String(Math.round(l.spo2)) : undefined);
    set('bp', l.systolicBP !== undefined ? `${Math.round(l.systolicBP)}/–` : undefined);
    set('rr', l.respiratoryRate !== undefined ? String(Math.round(l.respiratoryRate)) : undefined);
    set('temp', l.temperature !== undefined ? l.temperature.toFixed(1) : undefined);
  }

  #samples(samples: Array<Record<string, any>>): void {
    let newestTime = -Infinity;
    const changed = new Set<Tile>();
    for (const s of samples) {
      const device = String(s.device ?? '');
      const last = this.#seen.get(device) ?? -1;
      if (typeof s.seq !== 'number' || s.seq <= last) continue;
      this.#seen.set(device, s.seq);
      const time = typeof s.time === 'number' ? s.time : Date.parse(s.time);
      if (!Number.isFinite(time)) continue;
      if (s.code === ECG && Array.isArray(s.data) && typeof s.period === 'number') {
        this.#addEcg(time, s.data as number[], s.period, s.unit === 'uV' ? 0.001 : 1);
        newestTime = Math.max(newestTime, time + s.data.length * s.period);
        continue;
      }
      const key = CODE_TO_KEY[s.code];
      if (!key) continue;
      const t = this.#tiles.get(key)!;
      let text: string;
      if (key === 'bp') {
        if (typeof s.systolic !== 'number' || typeof s.diastolic !== 'number') continue;
        t.points.push([time, s.systolic, s.diastolic]);
        text = `${Math.round(s.systolic)}/${Math.round(s.diastolic)}`;
      } else {
        if (typeof s.value !== 'number') continue;
        t.points.push([time, s.value]);
        text = key === 'temp' ? s.value.toFixed(1) : String(Math.round(s.value));
      }
      t.value.textContent = text;
      t.unit.textContent = unitText(s.unit) || DEFAULT_UNIT[key];
      t.when.textContent = `at ${clockTime(time)}`;
      changed.add(t);
      newestTime = Math.max(newestTime, time);
    }
    if (newestTime > -Infinity && (!this.#newest || newestTime >= this.#newest.device)) {
      this.#newest = { device: newestTime, wall: performance.now() };
      this.#setStatus('Live.');
    }
    for (const t of changed) {
      const cut = this.#now() - TREND_MS;
      while (t.points.length > 0 && t.points[0]![0] < cut) t.points.shift();
      this.#drawTrend(t);
    }
  }

  /** The right edge of the trends: the newest reading's device time, moving on with the wall clock for up to 10 s. */
  #now(): number {
    if (!this.#newest) return Date.now();
    return this.#newest.device + Math.min(10_000, performance.now() - this.#newest.wall);
  }

  #addEcg(start: number, data: number[], period: number, scale: number): void {
    for (let i = 0; i < data.length; i++) this.#ecg.push([start + i * period, data[i]! * scale]);
    const end = start + (data.length - 1) * period;
    if (end > this.#ecgNewest) this.#ecgNewest = end;
    // Out-of-order chunks (a resend) are rare: keep the trace sorted.
    const n = this.#ecg.length;
    if (n > data.length && this.#ecg[n - data.length - 1]![0] > start) this.#ecg.sort((a, b) => a[0] - b[0]);
    const cut = this.#ecgNewest - ECG_KEEP_MS;
    let drop = 0;
    while (drop < this.#ecg.length && this.#ecg[drop]![0] < cut) drop++;
    if (drop > 0) this.#ecg.splice(0, drop);
    // Heart rate from the trace is the device's business; here the chunk's rhythm is only drawn.
    this.#ecgRate.textContent = `(${Math.round(1000 / period)} Hz)`;
    if (this.#ecgHead === undefined) {
      this.#ecgHead = start;
      this.#ecgWall = performance.now();
    }
    if (this.#raf === undefined && this.#running) {
      // From idle: the sweep resumes where it stopped (no jump over the wait for this chunk).
      this.#ecgWall = performance.now();
      this.#raf = requestAnimationFrame(this.#frameEcg);
    }
  }

  #frameEcg = (wall: number): void => {
    this.#raf = undefined;
    if (!this.#running || this.#ecgHead === undefined) return;
    // The sweep follows the wall clock, a chunk behind the newest point, never more than 2 s behind it.
    const dt = Math.max(0, wall - this.#ecgWall);
    this.#ecgWall = wall;
    this.#ecgHead = Math.min(this.#ecgNewest, Math.max(this.#ecgHead + dt, this.#ecgNewest - 2000));
    this.#drawEcg();
    // Sweep while there is trace left to reveal; the next chunk starts it again.
    if (this.#ecgHead < this.#ecgNewest) this.#raf = requestAnimationFrame(this.#frameEcg);
  };

  #drawEcg(): void {
    const c = this.#ecgCanvas;
    const ctx = fit(c);
    if (!ctx || this.#ecgHead === undefined) return;
    const w = c.width;
    const hgt = c.height;
    ctx.fillStyle = '#0d1410';
    ctx.fillRect(0, 0, w, hgt);
    // Grid: a line every 200 ms and every 0.5 mV, as on ECG paper (coarsely).
    ctx.strokeStyle = '#1f3a2a';
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let ms = 0; ms < ECG_WINDOW_MS; ms += 200) {
      const x = Math.round((ms / ECG_WINDOW_MS) * w) + 0.5;
      ctx.moveTo(x, 0);
      ctx.lineTo(x, hgt);
    }
    ctx.stroke();
    const head = this.#ecgHead;
    const from = head - ECG_WINDOW_MS;
    let lo = Infinity;
    let hi = -Infinity;
    for (const [t, v] of this.#ecg) {
      if (t <= from || t > head) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (lo === Infinity) return;
    if (hi - lo < 1) {
      const mid = (hi + lo) / 2;
      lo = mid - 0.5;
      hi = mid + 0.5;
    }
    const pad = (hi - lo) * 0.1;
    const y = (v: number) => hgt - ((v - lo + pad) / (hi - lo + 2 * pad)) * hgt;
    // Sweep: time wraps across the width; a gap runs just ahead of the newest point.
    const xOf = (t: number) => ((((t % ECG_WINDOW_MS) + ECG_WINDOW_MS) % ECG_WINDOW_MS) / ECG_WINDOW_MS) * w;
    ctx.strokeStyle = '#3ddc84';
    ctx.lineWidth = Math.max(1.5, window.devicePixelRatio || 1);
    ctx.lineJoin = 'round';
    ctx.beginPath();
    let px = -1;
    let drawn = 0;
    for (const [t, v] of this.#ecg) {
      if (t <= from || t > head) continue;
      const x = xOf(t);
      if (px < 0 || x < px) ctx.moveTo(x, y(v));
      else ctx.lineTo(x, y(v));
      px = x;
      drawn++;
    }
    ctx.stroke();
    const gapX = xOf(head);
    ctx.fillStyle = '#0d1410';
    ctx.fillRect(gapX + 2, 0, Math.max(4, w * 0.02), hgt);
    c.dataset.points = String(drawn);
  }

  #drawTrends(): void {
    for (const t of this.#tiles.values()) if (t.points.length > 0) this.#drawTrend(t);
  }

  /** A small line of the last 2 minutes, the newest reading at the right edge of a moving time axis. */
  #drawTrend(t: Tile): void {
    const c = t.canvas;
    const ctx = fit(c);
    if (!ctx) return;
    const w = c.width;
    const hgt = c.height;
    ctx.clearRect(0, 0, w, hgt);
    const now = this.#now();
    const from = now - TREND_MS;
    const pts = t.points.filter((p) => p[0] >= from);
    if (pts.length === 0) return;
    let lo = Infinity;
    let hi = -Infinity;
    for (const p of pts) {
      lo = Math.min(lo, p[1], p[2] ?? p[1]);
      hi = Math.max(hi, p[1], p[2] ?? p[1]);
    }
    const span = Math.max(hi - lo, t.key === 'temp' ? 1 : 10);
    const mid = (hi + lo) / 2;
    const y = (v: number) => hgt - 3 - ((v - (mid - span / 2)) / span) * (hgt - 6);
    const x = (time: number) => ((time - from) / TREND_MS) * w;
    const style = getComputedStyle(c);
    const line = (which: 1 | 2, color: string) => {
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.lineWidth = Math.max(1.5, window.devicePixelRatio || 1);
      ctx.beginPath();
      pts.forEach((p, i) => {
        const v = which === 1 ? p[1] : p[2];
        if (v === undefined) return;
        if (i === 0) ctx.moveTo(x(p[0]), y(v));
        else ctx.lineTo(x(p[0]), y(v));
      });
      ctx.stroke();
      const lastP = pts[pts.length - 1]!;
      const lv = which === 1 ? lastP[1] : lastP[2];
      if (lv !== undefined) {
        ctx.beginPath();
        ctx.arc(x(lastP[0]), y(lv), 2.5 * (window.devicePixelRatio || 1), 0, Math.PI * 2);
        ctx.fill();
      }
    };
    line(1, style.color || '#0b5cad');
    if (t.key === 'bp') line(2, style.borderColor || '#888');
  }

  #alert(f: Frame): void {
    const raised = typeof f.raised === 'number' ? f.raised : Date.now();
    const rule = String(f.rule ?? 'alert');
    const message = String(f.message ?? 'Vitals alert');
    const unit = f.code ? unitText(f.code === '8310-5' ? 'Cel' : f.code === '85354-9' ? 'mm[Hg]' : f.code === '2708-6' ? '%' : '/min') : '';
    const value = typeof f.value === 'number' && !f.cleared ? ` (${Number.isInteger(f.value) ? f.value : f.value.toFixed(1)} ${unit})` : '';
    const text = `${message}${value}`;
    const when = h('time', { datetime: new Date(raised).toISOString() }, clockTime(raised));
    if (f.cleared) {
      this.#active.get(rule)?.classList.replace('active', 'resolved');
      this.#active.delete(rule);
      this.#alerts.prepend(h('li', { class: 'vitals-alert cleared' }, when, ' ', h('span', {}, text)));
    } else {
      this.#active.get(rule)?.classList.replace('active', 'resolved');
      const severity = f.severity === 'high' ? 'high' : 'warning';
      const li = h('li', { class: `vitals-alert active ${severity}`, 'data-rule': rule }, when, ' ', h('strong', {}, severity === 'high' ? 'Urgent: ' : 'Alert: '), h('span', {}, text));
      this.#active.set(rule, li);
      this.#alerts.prepend(li);
    }
    while (this.#alerts.children.length > MAX_ALERTS) this.#alerts.lastElementChild!.remove();
    // The banner over the video lists every alert that stands, newest first.
    const standing = [...this.#active.values()].reverse();
    this.banner.hidden = standing.length === 0;
    this.banner.textContent = standing.length ? `⚠ ${standing.map((li) => li.textContent ?? '').join(' · ')}` : '';
    this.banner.className = `vitals-banner ${standing.some((li) => li.classList.contains('high')) ? 'high' : 'warning'}`;
  }
}

/** The canvas sized to its box in device pixels; its 2D context (none while it is not laid out). */
function fit(c: HTMLCanvasElement): CanvasRenderingContext2D | null {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.round(c.clientWidth * dpr);
  const hgt = Math.round(c.clientHeight * dpr);
  if (w === 0 || hgt === 0) return null;
  if (c.width !== w) c.width = w;
  if (c.height !== hgt) c.height = hgt;
  return c.getContext('2d');
}
