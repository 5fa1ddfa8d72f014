import { loadSigningKey, mintToken, AuthError } from '../auth/index.ts';
import { loadConfig } from '../config/index.ts';
import { parseArgs } from './args.ts';
import type { Command } from './main.ts';

const HELP = `usage: telemed-edge token --role <role> --sub <Practitioner/id|Patient/id> [--ttl seconds]

Prints a JWT signed with the node's key (TELEMED_DATA_DIR, default ./data).
Roles: authorized_medical_staff, patient, admin. Default ttl: 3600.
`;

export const tokenCommand: Command = {
  summary: 'print a token signed with the node key',
  async run(args) {
    const { flags } = parseArgs(args, ['help']);
    if (flags.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const role = flags.role;
    const sub = flags.sub;
    if (typeof role !== 'string' || typeof sub !== 'string') {
      process.stderr.write(`telemed-edge token: --role and --sub are required\n\n${HELP}`);
      return 2;
    }
    const ttl = flags.ttl === undefined ? 3600 : Number(flags.ttl);
    if (!Number.isFinite(ttl) || ttl <= 0) {
      process.stderr.write('telemed-edge token: --ttl must be a positive number of seconds\n');
      return 2;
    }
    try {
      const config = loadConfig();
      const { privateKey } = loadSigningKey(config.dataDir, false);
      process.stdout.write((await mintToken(privateKey, `telemed-edge:${config.nodeId}`, sub, role, ttl)) + '\n');
      return 0;
    } catch (err) {
      if (err instanceof AuthError || (err as Error).name === 'ConfigError') {
        process.stderr.write(`telemed-edge token: ${(err as Error).message}\n`);
        return 2;
      }
      throw err;
    }
  },
};
