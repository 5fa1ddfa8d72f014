import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadSigningKey, mintToken, AuthError } from '../auth/index.ts';
import { loadConfig } from '../config/index.ts';
import { FhirRepository } from '../fhir/index.ts';
import { openStore } from '../store/index.ts';
import { parseArgs } from './args.ts';
import type { Command } from './main.ts';

const HELP = `usage: telemed-edge links <appointment-id> [--ttl seconds]

Prints the join links of a booked consultation: one for its patient
(/join/<id>) and one for each clinician (/call/<id>), each carrying a token
signed with the node's key (TELEMED_DATA_DIR, default ./data) for that
participant. Send each person only their own link. Default ttl: until 2 h
after the appointment's end, or 12 h when it has none. Links start with
TELEMED_PUBLIC_URL.
`;

/** One participant's link: who it is for and the URL with its token. */
export interface JoinLink {
  role: 'patient' | 'authorized_medical_staff';
  sub: string;
  url: string;
}

export const linksCommand: Command = {
  summary: 'print the join links of an appointment',
  async run(args) {
    const { flags, positionals } = parseArgs(args, ['help']);
    if (flags.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const id = positionals[0]?.replace(/^Appointment\//, '');
    if (!id || !/^[A-Za-z0-9\-.]{1,64}$/.test(id)) {
      process.stderr.write(`telemed-edge links: give the Appointment id\n\n${HELP}`);
      return 2;
    }
    const ttlFlag = flags.ttl === undefined ? undefined : Number(flags.ttl);
    if (ttlFlag !== undefined && (!Number.isFinite(ttlFlag) || ttlFlag <= 0)) {
      process.stderr.write('telemed-edge links: --ttl must be a positive number of seconds\n');
      return 2;
    }
    try {
      const config = loadConfig();
      if (!existsSync(path.join(config.dataDir, 'telemed.db'))) {
        process.stderr.write(`telemed-edge links: no node database in ${config.dataDir} (set TELEMED_DATA_DIR)\n`);
        return 2;
      }
      const store = openStore({ dataDir: config.dataDir, ...(config.dataKey ? { dataKey: config.dataKey } : {}) });
      let appointment: Record<string, unknown> | undefined;
      try {
        const found = new FhirRepository(store.db, store.cipher).current('Appointment', id);
        appointment = found && !found.deleted ? (found.resource as Record<string, unknown>) : undefined;
      } finally {
        store.close();
      }
      if (!appointment) {
        process.stderr.write(`telemed-edge links: Appointment/${id} is not on this node\n`);
        return 1;
      }
      if (appointment.status === 'cancelled' || appointment.status === 'fulfilled' || appointment.status === 'noshow') {
        process.stderr.write(`telemed-edge links: Appointment/${id} is ${String(appointment.status)}; no links for it\n`);
        return 1;
      }
      const actors = (Array.isArray(appointment.participant) ? appointment.participant : [])
        .map((p: { actor?: { reference?: unknown } }) => p?.actor?.reference)
        .filter((r): r is string => typeof r === 'string');
      const patients = actors.filter((r) => r.startsWith('Patient/'));
      const clinicians = actors.filter((r) => r.startsWith('Practitioner/'));
      if (patients.length === 0 || clinicians.length === 0) {
        process.stderr.write(`telemed-edge links: Appointment/${id} needs a Patient and a Practitioner participant\n`);
        return 1;
      }
      const end = typeof appointment.end === 'string' ? Date.parse(appointment.end) : NaN;
      const ttl = ttlFlag ?? (Number.isFinite(end) ? Math.max(600, Math.round((end - Date.now()) / 1000) + 2 * 3600) : 12 * 3600);
      const { privateKey } = loadSigningKey(config.dataDir, false);
      const issuer = `telemed-edge:${config.nodeId}`;
      const base = config.publicUrl.replace(/\/$/, '');
      const links: JoinLink[] = [];
      for (const sub of patients) links.push({ role: 'patient', sub, url: `${base}/join/${id}#token=${await mintToken(privateKey, issuer, sub, 'patient', ttl)}` });
      for (const sub of clinicians) links.push({ role: 'authorized_medical_staff', sub, url: `${base}/call/${id}#token=${await mintToken(privateKey, issuer, sub, 'authorized_medical_staff', ttl)}` });
      process.stdout.write(`Join links for Appointment/${id}, valid ${Math.round(ttl / 60)} min (send each person only their own):\n`);
      for (const l of links) process.stdout.write(`  ${l.role === 'patient' ? 'patient  ' : 'clinician'} ${l.sub}: ${l.url}\n`);
      return 0;
    } catch (err) {
      if (err instanceof AuthError || (err as Error).name === 'ConfigError') {
        process.stderr.write(`telemed-edge links: ${(err as Error).message}\n`);
        return 2;
      }
      throw err;
    }
  },
};
