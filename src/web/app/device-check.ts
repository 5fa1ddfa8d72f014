// The patient's device check before joining: camera preview, microphone level, network round trip.
import { h, show } from './ui.ts';

export interface DeviceCheckResult { stream: MediaStream | null }

/** Shows the check; resolves when the patient chooses to join (with the stream to use in the call, if any). */
export function deviceCheck(intro: HTMLElement): Promise<DeviceCheckResult> {
  return new Promise((resolve) => {
    const preview = h('video', { class: 'preview', autoplay: true, muted: true, playsInline: true, 'aria-label': 'Your camera preview' });
    const camera = h('span', { 'data-testid': 'check-camera' }, 'checking…');
    const meter = h('meter', { min: 0, max: 1, low: 0.05, optimum: 0.5, value: 0, id: 'mic-level' });
    const mic = h('span', { 'data-testid': 'check-mic' }, 'checking…');
    const net = h('span', { 'data-testid': 'check-network' }, 'checking…');
    const join = h('button', { type: 'button', class: 'primary', disabled: true, 'data-testid': 'join' }, 'Join the waiting room');
    const retry = h('button', { type: 'button', hidden: true }, 'Try the camera again');
    const camSelect = h('select', { id: 'cam-select' });
    const micSelect = h('select', { id: 'mic-select' });
    const pickers = h(
      'div',
      { class: 'pickers', hidden: true },
      h('label', { for: 'cam-select' }, 'Camera'), camSelect,
      h('label', { for: 'mic-select' }, 'Microphone'), micSelect,
    );
    let stream: MediaStream | null = null;
    let stopMeter = () => {};

    const mark = (el: HTMLElement, ok: boolean | null, text: string) => {
      el.textContent = `${ok === true ? '✓ ' : ok === false ? '✗ ' : ''}${text}`;
      el.className = ok === false ? 'bad' : ok ? 'good' : '';
    };

    /** Fills the camera and microphone choices (labels are known once permission is given). */
    async function listDevices() {
      const devices = (await navigator.mediaDevices?.enumerateDevices().catch(() => undefined)) ?? [];
      const fill = (sel: HTMLSelectElement, kind: MediaDeviceKind, current: string | undefined, word: string) => {
        const list = devices.filter((d) => d.kind === kind && d.deviceId);
        sel.replaceChildren(...list.map((d, i) => h('option', { value: d.deviceId, selected: d.deviceId === current }, d.label || `${word} ${i + 1}`)));
        sel.disabled = list.length < 2;
      };
      fill(camSelect, 'videoinput', stream?.getVideoTracks()[0]?.getSettings().deviceId, 'Camera');
      fill(micSelect, 'audioinput', stream?.getAudioTracks()[0]?.getSettings().deviceId, 'Microphone');
      pickers.hidden = camSelect.options.length + micSelect.options.length === 0;
    }
    const choose = () => {
      stopMeter();
      for (const t of stream?.getTracks() ?? []) t.stop();
      void startDevices({ video: camSelect.value || undefined, audio: micSelect.value || undefined });
    };
    camSelect.addEventListener('change', choose);
    micSelect.addEventListener('change', choose);

    async function startDevices(ids: { video?: string | undefined; audio?: string | undefined } = {}) {
      retry.hidden = true;
      mic.className = '';
      if (!navigator.mediaDevices?.getUserMedia) {
        // Browsers hide the camera from pages not served over HTTPS (localhost excepted).
        mark(camera, false, 'this page is not secure (not HTTPS), so the browser keeps the camera off; ask the clinic for the https:// link');
        mark(mic, false, 'unavailable for the same reason');
        join.textContent = 'Join without camera and microphone';
        join.disabled = false;
        return;
      }
      mark(camera, null, 'asking for your camera and microphone…');
      try {
        stream = await navigator.mediaDevices.getUserMedia({
          video: { width: { ideal: 1280 }, height: { ideal: 720 }, ...(ids.video ? { deviceId: { exact: ids.video } } : {}) },
          audio: ids.audio ? { deviceId: { exact: ids.audio } } : true,
        });
      } catch (err) {
        stream = await navigator.mediaDevices.getUserMedia({ audio: true }).catch(() => null);
        const name = (err as DOMException).name;
        mark(camera, false, name === 'NotAllowedError' ? 'blocked: allow the camera in your browser, then try again' : name === 'NotFoundError' ? 'no camera found' : 'the camera could not start');
        retry.hidden = false;
      }
      preview.srcObject = stream;
      const v = stream?.getVideoTracks()[0];
      if (v) mark(camera, true, `working (${v.label || 'camera'})`);
      const a = stream?.getAudioTracks()[0];
      if (a) {
        mark(mic, null, 'speak to see the level move');
        stopMeter = levelMeter(stream!, (level) => {
          meter.value = level;
          if (level > 0.25 && !mic.classList.contains('good')) mark(mic, true, `we hear you (${a.label || 'microphone'})`);
        });
      } else mark(mic, false, 'no microphone: the clinician will not hear you');
      join.textContent = stream ? 'Join the waiting room' : 'Join without camera and microphone';
      join.disabled = false;
      await listDevices();
    }

    async function checkNetwork() {
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        try {
          const r = await fetch('/healthz', { cache: 'no-store' });
          if (!r.ok) throw new Error(String(r.status));
          times.push(performance.now() - t0);
        } catch {
          mark(net, false, 'the clinic’s server cannot be reached; check your connection');
          return;
        }
      }
      const ms = Math.round(times.sort((x, y) => x - y)[1]!);
      mark(net, ms < 300, ms < 300 ? `good (${ms} ms to the clinic’s server)` : `slow (${ms} ms): video may stutter`);
    }

    retry.addEventListener('click', () => {
      stopMeter();
      for (const t of stream?.getTracks() ?? []) t.stop();
      void startDevices();
    });
    join.addEventListener('click', () => {
      stopMeter();
      resolve({ stream });
    });

    show(
      h('h2', {}, 'Before you join'),
      intro,
      h(
        'div',
        { class: 'check' },
        preview,
        h(
          'ul',
          { class: 'checks', 'aria-live': 'polite' },
          h('li', {}, h('strong', {}, 'Camera: '), camera),
          h('li', {}, h('label', { for: 'mic-level' }, h('strong', {}, 'Microphone: ')), mic, h('br'), meter),
          h('li', {}, h('strong', {}, 'Network: '), net),
          h('li', { class: 'pickers-item' }, pickers),
        ),
      ),
      h('p', { class: 'actions' }, join, ' ', retry),
    );
    void startDevices();
    void checkNetwork();
  });
}

/** Calls `onLevel` (0..1, RMS of the microphone) about ten times a second; returns the stop function. */
function levelMeter(stream: MediaStream, onLevel: (v: number) => void): () => void {
  const ctx = new AudioContext();
  // Browsers may hold an AudioContext suspended until the user interacts with the page.
  const wake = () => void ctx.resume().catch(() => {});
  wake();
  addEventListener('pointerdown', wake, { once: true });
  addEventListener('keydown', wake, { once: true });
  const src = ctx.createMediaStreamSource(stream);
  const an = ctx.createAnalyser();
  an.fftSize = 1024;
  src.connect(an);
  const buf = new Float32Array(an.fftSize);
  let shown = 0;
  const timer = window.setInterval(() => {
    an.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const x of buf) sum += x * x;
    // Decibels make quiet speech visible; the bar falls back slowly so short sounds can be seen.
    const db = 20 * Math.log10(Math.sqrt(sum / buf.length) || 1e-9);
    shown = Math.max(Math.min(1, Math.max(0, (db + 70) / 60)), shown * 0.85);
    onLevel(shown);
  }, 100);
  return () => {
    removeEventListener('pointerdown', wake);
    removeEventListener('keydown', wake);
    clearInterval(timer);
    src.disconnect();
    void ctx.close();
  };
}
