/**
 * `npm run bench -- signaling`: consultation signaling under load.
 *
 * A node runs in a child process (this file, started again with
 * BENCH_SIGNALING_ROLE=server) with the consultation service attached and
 * ROOMS booked appointments; this process opens 2 × ROOMS WebSocket clients
 * (clinician + patient per room) and measures:
 *   - join → admitted (patient joins, the clinician admits on the lobby frame),
 *   - offer → answer relay round trip (two relays) between the peers of each room,
 *   - relay latency and frames per second with every client sending RATE candidates/s,
 *   - memory per room (heap after GC, in the node process).
 * The baseline is a bare `ws` relay in its own process (JSON.parse and forward:
 * no auth, no validation, no rate limit), driven by the same clients.
 *   - call set-up in Chromium (Debian's /usr/bin/chromium via playwright-core, fake
 *     camera): from the patient's click on "Join the waiting room" to the first
 *     decoded remote video frame on each page (the clinician's page, open in the
 *     room, admits at once), BENCH_CHROMIUM_CALLS calls (default 10) one after the
 *     other, with the other rooms still connected.
 * Settings: BENCH_ROOMS (default 1000), BENCH_RATE (frames/s per client, default 2: a
 * browser sends a stats report every few seconds and candidates in short bursts),
 * BENCH_SECONDS (load phase, default 5). The server's CPU time per relayed frame is
 * the figure least disturbed by other work on a shared machine.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const ROOMS = Number(process.env.BENCH_ROOMS ?? 1000);
const RATE = Number(process.env.BENCH_RATE ?? 2);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const SDP = `v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n${'a=candidate:1 1 udp 2122260223 192.168.1.2 50000 typ host\r\n'.repeat(30)}`;
const self = fileURLToPath(import.meta.url);

type Frame = { type: string; [k: string]: any };

/** A lean client: callbacks by frame type (the test client keeps every frame, too heavy for thousands). */
class Peer {
  readonly ws: WebSocket;
  readonly #handlers = new Map<string, (f: Frame) => void>();
  constructor(url: string) {
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.ws.on('message', (d) => {
      const f = JSON.parse(d.toString()) as Frame;
      this.#handlers.get(f.type)?.(f);
    });
    this.ws.on('error', () => {});
  }
  /** Opens a client, retrying a refused or reset connection (a full accept queue on a loaded machine). */
  static async connect(url: string): Promise<Peer> {
    for (let attempt = 1; ; attempt++) {
      const p = new Peer(url);
      try {
        await p.open();
        return p;
      } catch (err) {
        p.ws.terminate();
        if (attempt === 5) throw err;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => { this.ws.once('open', () => resolve()); this.ws.once('error', reject); });
  }
  on(type: string, h: (f: Frame) => void): void { this.#handlers.set(type, h); }
  once(type: string): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${type} within 30 s`)), 30_000);
      this.on(type, (f) => { clearTimeout(t); this.#handlers.delete(type); resolve(f); });
    });
  }
  send(f: Record<string, unknown>): void { this.ws.send(JSON.stringify({ v: 1, ...f })); }
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
const ms = (x: number) => `${x.toFixed(2)} ms`;
const line = (label: string, xs: number[]) => `${label.padEnd(34)} p50 ${ms(pct(xs, 50)).padStart(10)}  p90 ${ms(pct(xs, 90)).padStart(10)}  p99 ${ms(pct(xs, 99)).padStart(10)}  (n=${xs.length})`;

async function pool<T>(n: number, limit: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, n) }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  }));
  return out;
}

interface Pair { doc: Peer; pat: Peer; appointmentId: string }

/** offer → answer round trips: every room sends `rounds` offers, each after a random pause of up to 1 s (no lockstep burst). */
async function offerAnswer(pairs: Pair[], rounds: number): Promise<number[]> {
  const times: number[] = [];
  await Promise.all(pairs.map(async (p) => {
    p.pat.on('offer', (f) => p.pat.send({ type: 'answer', appointmentId: p.appointmentId, sdp: f.sdp }));
    for (let r = 0; r < rounds; r++) {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 1000));
      const t0 = performance.now();
      const answered = p.doc.once('answer');
      p.doc.send({ type: 'offer', appointmentId: p.appointmentId, sdp: SDP });
      await answered;
      times.push(performance.now() - t0);
    }
  }));
  return times;
}

/** Every client sends RATE candidates per second for SECONDS; returns relay latencies and frames received. */
async function load(pairs: Pair[]): Promise<{ latencies: number[]; received: number; seconds: number }> {
  const latencies: number[] = [];
  let received = 0;
  const peers = pairs.flatMap((p) => [{ me: p.doc, id: p.appointmentId }, { me: p.pat, id: p.appointmentId }]);
  for (const { me } of peers) {
    me.on('candidate', (f) => {
      received += 1;
      latencies.push(performance.now() - Number(String(f.candidate.candidate).split(' ')[1]));
    });
  }
  const t0 = performance.now();
  const interval = 1000 / RATE;
  await Promise.all(peers.map(async ({ me, id }, i) => {
    await new Promise((r) => setTimeout(r, (i % 100) * (interval / 100)));
    const until = t0 + SECONDS * 1000;
    while (performance.now() < until) {
      me.send({ type: 'candidate', appointmentId: id, candidate: { candidate: `bench ${performance.now()} 1 udp 2122260223 10.0.0.1 5000 typ host`, sdpMid: '0', sdpMLineIndex: 0 } });
      await new Promise((r) => setTimeout(r, interval));
    }
  }));
  await new Promise((r) => setTimeout(r, 500));
  return { latencies, received, seconds: (performance.now() - t0) / 1000 };
}

/** The slice of libwebrtc (@roamhq/wrtc, a dev dependency) the call set-up needs. */
interface Rtc {
  RTCPeerConnection: new (c: object) => {
    onicecandidate: ((e: { candidate: { toJSON(): object } | null }) => void) | null;
    ondatachannel: ((e: { channel: { readyState: string; onopen: (() => void) | null } }) => void) | null;
    createDataChannel(label: string): unknown;
    createOffer(): Promise<{ type: 'offer'; sdp?: string }>;
    createAnswer(): Promise<{ type: 'answer'; sdp?: string }>;
    setLocalDescription(d: object): Promise<void>;
    setRemoteDescription(d: object): Promise<void>;
    addIceCandidate(c: object): Promise<void>;
    close(): void;
  };
}

/**
 * Call set-up with real WebRTC peers (headless libwebrtc on loopback, a data
 * channel standing in for media): from the patient's `join` to the channel
 * open, through waiting room, admit, offer/answer and candidates, while the
 * other rooms stay connected. One room at a time.
 */
async function callSetup(url: string, tokens: Array<{ appointmentId: string; doc: string; pat: string }>): Promise<number[] | undefined> {
  const rtc = await import('@roamhq/wrtc').then((m) => (m.default ?? m) as unknown as Rtc, () => undefined);
  if (!rtc) return undefined;
  const times: number[] = [];
  for (const t of tokens) {
    const id = t.appointmentId;
    const [doc, pat] = await Promise.all([Peer.connect(url), Peer.connect(url)]);
    for (const [peer, token] of [[doc, t.doc], [pat, t.pat]] as const) {
      const welcome = peer.once('welcome');
      peer.send({ type: 'hello', token });
      await welcome;
    }
    const docIn = doc.once('admitted');
    doc.send({ type: 'join', appointmentId: id });
    await docIn;
    const docPc = new rtc.RTCPeerConnection({ iceServers: [] });
    const patPc = new rtc.RTCPeerConnection({ iceServers: [] });
    for (const [peer, pc] of [[doc, docPc], [pat, patPc]] as const) {
      pc.onicecandidate = (e) => peer.send({ type: 'candidate', appointmentId: id, candidate: e.candidate ? e.candidate.toJSON() : null });
      peer.on('candidate', (f) => { if (f.candidate) pc.addIceCandidate(f.candidate).catch(() => {}); });
    }
    doc.on('lobby', (f) => { for (const w of f.waiting) doc.send({ type: 'admit', appointmentId: id, seat: w.seat }); });
    doc.on('peer-joined', async () => {
      docPc.createDataChannel('consult');
      const offer = await docPc.createOffer();
      await docPc.setLocalDescription(offer);
      doc.send({ type: 'offer', appointmentId: id, sdp: offer.sdp });
    });
    pat.on('offer', async (f) => {
      await patPc.setRemoteDescription({ type: 'offer', sdp: f.sdp });
      const answer = await patPc.createAnswer();
      await patPc.setLocalDescription(answer);
      pat.send({ type: 'answer', appointmentId: id, sdp: answer.sdp });
    });
    doc.on('answer', (f) => { docPc.setRemoteDescription({ type: 'answer', sdp: f.sdp }).catch(() => {}); });
    const open = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no data channel within 30 s')), 30_000);
      patPc.ondatachannel = (e) => {
        const done = () => { clearTimeout(timer); resolve(); };
        if (e.channel.readyState === 'open') done();
        else e.channel.onopen = done;
      };
    });
    const t0 = performance.now();
    pat.send({ type: 'join', appointmentId: id });
    await open;
    times.push(performance.now() - t0);
    docPc.close();
    patPc.close();
    doc.ws.terminate();
    pat.ws.terminate();
  }
  return times;
}

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_CALLS = Number(process.env.BENCH_CHROMIUM_CALLS ?? 10);

/**
 * Call set-up in Chromium, one call at a time: the clinician's page waits in
 * the room and admits as soon as the patient shows up (a MutationObserver
 * presses Admit: no human in the loop); the patient passes the device check and
 * clicks "Join the waiting room". Each page notes (Date.now(), one clock for
 * both) the click and its first decoded remote frame (getStats every 20 ms).
 */
async function chromiumSetup(httpUrl: string, tokens: Array<{ appointmentId: string; doc: string; pat: string }>): Promise<{ patient: number[]; clinician: number[] } | string> {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is not installed`;
  const pw = await import('playwright-core').catch(() => undefined);
  if (!pw) return 'playwright-core is not installed';
  const root = path.join(path.dirname(self), '..');
  if (!existsSync(path.join(root, 'dist/web/index.html'))) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
  const browser = await pw.chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const out = { patient: [] as number[], clinician: [] as number[] };
  // (Browser code: this tsconfig has no DOM types, so it goes through `globalThis as any`.)
  const probe = () => {
    const w = globalThis as any;
    w.__joinAt = 0;
    w.__firstFrameAt = 0;
    w.document.addEventListener('click', (e: any) => {
      if (e.target?.closest?.('button')?.textContent === 'Join the waiting room') w.__joinAt = Date.now();
    }, true);
    const timer = w.setInterval(async () => {
      const pc = w.__telemed?.pc;
      if (!pc) return;
      (await pc.getStats()).forEach((s: any) => {
        if (!w.__firstFrameAt && s.type === 'inbound-rtp' && s.kind === 'video' && s.framesDecoded > 0) {
          w.__firstFrameAt = Date.now();
          w.clearInterval(timer);
        }
      });
    }, 20);
  };
  const autoAdmit = () => {
    const w = globalThis as any;
    new w.MutationObserver(() => w.document.querySelector('[data-testid="admit"]')?.click()).observe(w.document, { childList: true, subtree: true });
  };
  try {
    for (const t of tokens) {
      const doc = await browser.newContext({ viewport: { width: 1280, height: 860 } });
      const pat = await browser.newContext({ viewport: { width: 390, height: 844 } });
      await doc.addInitScript(probe);
      await doc.addInitScript(autoAdmit);
      await pat.addInitScript(probe);
      const docPage = await doc.newPage();
      const patPage = await pat.newPage();
      for (const p of [docPage, patPage]) p.setDefaultTimeout(60_000);
      await docPage.goto(`${httpUrl}/call/${t.appointmentId}#token=${t.doc}`);
      await docPage.waitForFunction(() => (globalThis as any).__telemed?.phase === 'in-call');
      await patPage.goto(`${httpUrl}/join/${t.appointmentId}#token=${t.pat}`);
      await patPage.getByTestId('check-camera').filter({ hasText: '✓' }).waitFor();
      await patPage.getByRole('button', { name: 'Join the waiting room' }).click();
      const first = (p: typeof docPage) => p.waitForFunction(() => (globalThis as any).__firstFrameAt || 0).then((h) => h.jsonValue() as Promise<number>);
      const [joinAt, patFirst, docFirst] = await Promise.all([patPage.evaluate(() => (globalThis as any).__joinAt as number), first(patPage), first(docPage)]);
      out.patient.push(patFirst - joinAt);
      out.clinician.push(docFirst - joinAt);
      await Promise.all([doc.close(), pat.close()]);
    }
  } finally {
    await browser.close();
  }
  return out;
}

function closeAll(pairs: Pair[]): void {
  for (const p of pairs) { p.doc.ws.terminate(); p.pat.ws.terminate(); }
}

// ---- the node side (child process) ---------------------------------------------

async function server(): Promise<void> {
  const { loadConfig } = await import('../src/config/index.ts');
  const { startNode } = await import('../src/node/index.ts');
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-signaling-'));
  const node = await startNode(loadConfig({ ...process.env, PORT: '0', HOST: '127.0.0.1', TELEMED_DATA_DIR: dir, LOG_LEVEL: 'warn', TELEMED_DB_SYNC: 'normal', TELEMED_DEMO: 'false' }), { port: 0 });
  // The node's own consultation service as src/node wires it: /ws/consult, the policy in force, the default rate limit (30 frames/s a socket).
  const gc = (globalThis as { gc?: () => void }).gc;
  process.on('message', async (m: { cmd: string; rooms?: number }) => {
    if (m.cmd === 'seed') {
      const tokens = await pool(m.rooms!, 50, async (i) => {
        const id = `b${i}`;
        await node.fhir.putAsSystem({ resourceType: 'Consent', id: `c-${id}`, status: 'active', scope: { text: 'patient-privacy' }, category: [{ text: 'telehealth' }], patient: { reference: `Patient/p-${id}` } });
        await node.fhir.putAsSystem({ resourceType: 'Appointment', id: `a-${id}`, status: 'booked', participant: [{ actor: { reference: `Practitioner/d-${id}` }, status: 'accepted' }, { actor: { reference: `Patient/p-${id}` }, status: 'accepted' }] });
        return { appointmentId: `a-${id}`, doc: await node.auth.mint(`Practitioner/d-${id}`, 'authorized_medical_staff'), pat: await node.auth.mint(`Patient/p-${id}`, 'patient') };
      });
      process.send!({ tokens });
    } else if (m.cmd === 'cpu') {
      const u = process.cpuUsage();
      process.send!({ cpu: u.user + u.system });
    } else if (m.cmd === 'mem') {
      gc?.();
      gc?.();
      process.send!({ heap: process.memoryUsage().heapUsed, rss: process.memoryUsage().rss });
    } else if (m.cmd === 'stop') {
      await node.close();
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    }
  });
  process.send!({ url: `${node.url.replace('http', 'ws')}/ws/consult` });
}

const BASELINE = `
  const { WebSocketServer } = require(${JSON.stringify(require_ws())});
  const rooms = new Map();
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  wss.on('listening', () => process.send({ url: 'ws://127.0.0.1:' + wss.address().port }));
  process.on('message', () => { const u = process.cpuUsage(); process.send({ cpu: u.user + u.system }); });
  wss.on('connection', (ws) => {
    let room;
    ws.on('message', (d) => {
      const f = JSON.parse(d.toString());
      if (f.type === 'join') { room = rooms.get(f.appointmentId) ?? new Set(); rooms.set(f.appointmentId, room); room.add(ws); ws.send(JSON.stringify({ v: 1, type: 'admitted' })); return; }
      if (!room) return;
      const out = JSON.stringify({ ...f, from: 'x' });
      for (const o of room) if (o !== ws) o.send(out);
    });
  });`;
function require_ws(): string {
  return path.join(path.dirname(self), '..', 'node_modules', 'ws');
}

function ask<T>(child: ChildProcess, msg?: object): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    if (msg) child.send(msg);
  });
}

export async function run(): Promise<void> {
  process.stdout.write(`rooms ${ROOMS} (${ROOMS * 2} WebSocket clients), load ${RATE} frames/s per client for ${SECONDS} s\n`);

  // ---- the node ----
  const node = fork(self, [], { execArgv: ['--import', 'tsx', '--expose-gc', ...(process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [])], env: { ...process.env, BENCH_SIGNALING_ROLE: 'server' }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const { url } = await ask<{ url: string }>(node);
  const SETUPS = 10;
  const { tokens: seeded } = await ask<{ tokens: Array<{ appointmentId: string; doc: string; pat: string }> }>(node, { cmd: 'seed', rooms: ROOMS + SETUPS + CHROMIUM_CALLS });
  const tokens = seeded.slice(0, ROOMS);
  const before = await ask<{ heap: number }>(node, { cmd: 'mem' });
  const joins: number[] = [];
  const SEQUENTIAL = Math.min(20, tokens.length);
  const enter = async (i: number): Promise<Pair> => {
    const t = tokens[i]!;
    const [doc, pat] = await Promise.all([Peer.connect(url), Peer.connect(url)]);
    doc.on('lobby', (f) => { for (const w of f.waiting) doc.send({ type: 'admit', appointmentId: t.appointmentId, seat: w.seat }); });
    for (const [peer, token] of [[doc, t.doc], [pat, t.pat]] as const) {
      const welcome = peer.once('welcome');
      peer.send({ type: 'hello', token });
      await welcome;
    }
    const docIn = doc.once('admitted');
    doc.send({ type: 'join', appointmentId: t.appointmentId });
    await docIn;
    const t0 = performance.now();
    const patIn = pat.once('admitted');
    pat.send({ type: 'join', appointmentId: t.appointmentId });
    await patIn;
    joins.push(performance.now() - t0);
    return { doc, pat, appointmentId: t.appointmentId };
  };
  // The first rooms one at a time (latency without contention), then the rest 100 at a time.
  const pairs: Pair[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) pairs.push(await enter(i));
  const seqJoins = joins.splice(0);
  pairs.push(...(await pool(tokens.length - SEQUENTIAL, 100, (i) => enter(i + SEQUENTIAL))));
  const afterMem = await ask<{ heap: number }>(node, { cmd: 'mem' });
  const oa = await offerAnswer(pairs, 5);
  const cpu0 = await ask<{ cpu: number }>(node, { cmd: 'cpu' });
  const loaded = await load(pairs);
  const cpu1 = await ask<{ cpu: number }>(node, { cmd: 'cpu' });
  const setups = await callSetup(url, seeded.slice(ROOMS, ROOMS + SETUPS));
  const browserSetups = CHROMIUM_CALLS > 0 ? await chromiumSetup(url.replace(/^ws/, 'http').replace(/\/ws\/consult$/, ''), seeded.slice(ROOMS + SETUPS)) : 'BENCH_CHROMIUM_CALLS=0';
  closeAll(pairs);
  await new Promise((resolve) => {
    node.once('exit', resolve);
    node.send({ cmd: 'stop' });
  });

  // ---- the baseline ----
  const base = spawn(process.execPath, ['-e', BASELINE], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const { url: baseUrl } = await ask<{ url: string }>(base);
  const basePairs = await pool(ROOMS, 100, async (i): Promise<Pair> => {
    const [doc, pat] = await Promise.all([Peer.connect(baseUrl), Peer.connect(baseUrl)]);
    for (const p of [doc, pat]) {
      const ok = p.once('admitted');
      p.send({ type: 'join', appointmentId: `a-b${i}` });
      await ok;
    }
    return { doc, pat, appointmentId: `a-b${i}` };
  });
  const baseOa = await offerAnswer(basePairs, 5);
  const baseCpu0 = await ask<{ cpu: number }>(base, { cmd: 'cpu' });
  const baseLoaded = await load(basePairs);
  const baseCpu1 = await ask<{ cpu: number }>(base, { cmd: 'cpu' });
  closeAll(basePairs);
  base.kill('SIGTERM');

  const fps = loaded.received / loaded.seconds;
  const baseFps = baseLoaded.received / baseLoaded.seconds;
  const offered = ROOMS * 2 * RATE;
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  process.stdout.write([
    line('join → admitted, one room at a time', seqJoins),
    line('join → admitted, 100 rooms at once', joins),
    line('offer → answer (node)', oa),
    line('offer → answer (bare ws baseline)', baseOa),
    `  ratio p50 ${ratio(pct(oa, 50), pct(baseOa, 50))}, p99 ${ratio(pct(oa, 99), pct(baseOa, 99))} of the baseline`,
    line('relay under load (node)', loaded.latencies),
    line('relay under load (baseline)', baseLoaded.latencies),
    `frames/s relayed: node ${fps.toFixed(0)}, baseline ${baseFps.toFixed(0)} (offered ${offered}/s); node p50 latency ${ratio(pct(loaded.latencies, 50), pct(baseLoaded.latencies, 50))} of the baseline`,
    `server CPU per relayed frame: node ${((cpu1.cpu - cpu0.cpu) / loaded.received).toFixed(1)} µs, baseline ${((baseCpu1.cpu - baseCpu0.cpu) / baseLoaded.received).toFixed(1)} µs (${ratio((cpu1.cpu - cpu0.cpu) / loaded.received, (baseCpu1.cpu - baseCpu0.cpu) / baseLoaded.received)})`,
    `memory per room (2 sockets, heap after GC): ${((afterMem.heap - before.heap) / ROOMS / 1024).toFixed(1)} KiB`,
    setups ? line(`call set-up, libwebrtc (${ROOMS} rooms open)`, setups) + '  join → data channel open' : 'call set-up: @roamhq/wrtc is not installed',
    ...(typeof browserSetups === 'string'
      ? [`call set-up in Chromium: skipped (${browserSetups})`]
      : [
          line('Chromium set-up, patient page', browserSetups.patient) + `  join click → first decoded remote frame (${ROOMS} rooms open)`,
          line('Chromium set-up, clinician page', browserSetups.clinician) + '  same join click (admitted at once) → first decoded remote frame',
        ]),
    '',
  ].join('\n'));
}

if (process.env.BENCH_SIGNALING_ROLE === 'server') await server();
