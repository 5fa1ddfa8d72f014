/**
 * `telemed-edge simulate vitals`: realistic vitals streams against a running
 * node (src/vitals/simulator.ts), with a progress line (rate, acks) and the
 * totals at exit. It makes (or reuses) its patients `Patient/sim-<n>` and
 * their telehealth Consent through /fhir, and authenticates with `--token`
 * (a clinician's: it then streams on the patients' behalf) or with tokens it
 * mints from the node's key when TELEMED_DATA_DIR points at the node's data.
 */
import { loadSigningKey, mintToken } from '../auth/index.ts';
import { loadConfig } from '../config/index.ts';
import { SimulatedDevice } from '../vitals/index.ts';
import { parseArgs } from './args.ts';
import type { Command } from './main.ts';

const HELP = `usage: telemed-edge simulate vitals [--patients N] [--hz H] [--seconds S] [--node URL] [--token T] [--no-ecg] [--seed N]

Streams realistic vitals (heart rate, SpO2, respiratory rate at H Hz; blood
pressure and temperature every 30 s; ECG at 250 Hz in 1 s chunks) for N
patients to the node's /ws/vitals, and prints a progress line and the totals.
  --patients N   patients (one device each), default 1
  --hz H         vitals per second per patient, default 1
  --seconds S    how long, default 30
  --node URL     the node, default http://127.0.0.1:8080
  --path P       the vitals socket's path, default /ws/vitals
  --token T      a clinician token (streams for Patient/sim-<n>); without it, tokens
                 are minted with the node key under TELEMED_DATA_DIR
Exit code 0 when every sample sent was acknowledged (or refused with a reason).
`;

async function ensurePatient(base: string, token: string, i: number): Promise<void> {
  const put = (type: string, id: string, body: Record<string, unknown>) =>
    fetch(`${base}/fhir/${type}/${id}`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: type, id, ...body }) });
  const p = await put('Patient', `sim-${i}`, { active: true, name: [{ family: 'Simulated', given: [`Patient ${i}`] }] });
  if (p.status >= 300) throw new Error(`PUT Patient/sim-${i}: HTTP ${p.status}`);
  const c = await put('Consent', `sim-${i}-telehealth`, {
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }], text: 'telehealth' }],
    patient: { reference: `Patient/sim-${i}` },
  });
  if (c.status >= 300) throw new Error(`PUT Consent/sim-${i}-telehealth: HTTP ${c.status}`);
}

export const simulateCommand: Command = {
  summary: 'stream simulated vitals to a node',
  async run(args) {
    const { flags, positionals } = parseArgs(args, ['help', 'no-ecg']);
    if (flags.help || positionals[0] !== 'vitals') {
      (flags.help ? process.stdout : process.stderr).write(HELP);
      return flags.help ? 0 : 2;
    }
    const num = (name: string, dflt: number) => {
      const v = flags[name] === undefined ? dflt : Number(flags[name]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
      return v;
    };
    let patients: number, hz: number, seconds: number, seed: number;
    try {
      patients = Math.floor(num('patients', 1));
      hz = num('hz', 1);
      seconds = num('seconds', 30);
      seed = Math.floor(num('seed', 1));
    } catch (err) {
      process.stderr.write(`telemed-edge simulate: ${(err as Error).message}\n`);
      return 2;
    }
    const base = (typeof flags.node === 'string' ? flags.node : 'http://127.0.0.1:8080').replace(/\/$/, '');
    const wsUrl = `${base.replace(/^http/, 'ws')}${typeof flags.path === 'string' ? flags.path : '/ws/vitals'}`;

    // tokens: a clinician's (given) streams on behalf of every patient; minted ones are the patients' own
    let writer: string;
    let tokenFor: (i: number) => Promise<{ token: string; patient?: string }>;
    if (typeof flags.token === 'string') {
      writer = flags.token;
      tokenFor = async (i) => ({ token: writer, patient: `Patient/sim-${i}` });
    } else {
      try {
        const config = loadConfig();
        const { privateKey } = loadSigningKey(config.dataDir, false);
        const issuer = `telemed-edge:${config.nodeId}`;
        const ttl = seconds + 3600;
        writer = await mintToken(privateKey, issuer, 'Practitioner/simulator', 'authorized_medical_staff', ttl);
        tokenFor = async (i) => ({ token: await mintToken(privateKey, issuer, `Patient/sim-${i}`, 'patient', ttl) });
      } catch (err) {
        process.stderr.write(`telemed-edge simulate: no --token and no node key to mint one (${(err as Error).message})\n`);
        return 2;
      }
    }

    const devices: SimulatedDevice[] = [];
    try {
      for (let i = 1; i <= patients; i++) {
        await ensurePatient(base, writer, i);
        const t = await tokenFor(i);
        const d = new SimulatedDevice({ url: wsUrl, token: t.token, device: `sim-monitor-${i}`, seed: seed * 7919 + i, ...(t.patient ? { patient: t.patient } : {}) });
        if (flags['no-ecg']) d.ecg = false;
        await d.connect();
        devices.push(d);
      }
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const why = e.message === 'fetch failed' ? `cannot reach the node at ${base}${e.cause?.code ? ` (${e.cause.code})` : ''}` : e.message;
      process.stderr.write(`telemed-edge simulate: ${why}\n`);
      for (const d of devices) d.close();
      return 1;
    }

    const total = () => devices.reduce((a, d) => ({ sent: a.sent + d.stats.sent, acked: a.acked + d.stats.acked, rejected: a.rejected + d.stats.rejected, reconnects: a.reconnects + d.stats.reconnects }), { sent: 0, acked: 0, rejected: 0, reconnects: 0 });
    const tty = process.stderr.isTTY;
    const start = Date.now();
    let last = { t: start, acked: 0 };
    const progress = setInterval(() => {
      const s = total();
      const now = Date.now();
      const rate = ((s.acked - last.acked) * 1000) / Math.max(1, now - last.t);
      last = { t: now, acked: s.acked };
      const line = `${((now - start) / 1000).toFixed(0)}s  sent ${s.sent}  acked ${s.acked}  (${rate.toFixed(0)}/s)  pending ${s.sent - s.acked - s.rejected}  refused ${s.rejected}  reconnects ${s.reconnects}`;
      process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
    }, 1000);
    const dt = 1 / hz;
    let ticks = 0;
    const tickAll = setInterval(() => {
      ticks++;
      for (const d of devices) d.tick(dt);
      if (ticks * dt >= seconds) clearInterval(tickAll);
    }, 1000 * dt);
    await new Promise((r) => setTimeout(r, seconds * 1000 + 50));
    clearInterval(tickAll);
    for (const d of devices) d.flush();
    // wait (up to 10 s) for the last acks
    const until = Date.now() + 10_000;
    while (devices.some((d) => d.pending > 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    clearInterval(progress);
    for (const d of devices) d.close();
    const s = total();
    process.stderr.write(tty ? '\n' : '');
    process.stdout.write(`patients ${patients}  seconds ${((Date.now() - start) / 1000).toFixed(1)}  sent ${s.sent}  acknowledged ${s.acked}  refused ${s.rejected}  unacknowledged ${s.sent - s.acked - s.rejected}  reconnects ${s.reconnects}\n`);
    return s.sent === s.acked + s.rejected ? 0 : 1;
  },
};
