import { existsSync } from 'node:fs';
import path from 'node:path';
import { AuditChain } from '../audit/index.ts';
import { loadConfig } from '../config/index.ts';
import { FhirRepository } from '../fhir/index.ts';
import { openStore } from '../store/index.ts';
import type { Command } from './main.ts';

export const auditCommand: Command = {
  summary: 'audit trail tools',
  async run(args) {
    if (args[0] !== 'verify') {
      process.stderr.write('usage: telemed-edge audit verify\n\nChecks the hash chain of the audit trail in TELEMED_DATA_DIR (default ./data).\n');
      return args[0] === '--help' ? 0 : 2;
    }
    const config = loadConfig();
    if (!existsSync(path.join(config.dataDir, 'telemed.db'))) {
      process.stderr.write(`audit verify: no node database in ${config.dataDir} (set TELEMED_DATA_DIR)\n`);
      return 2;
    }
    const store = openStore({ dataDir: config.dataDir, ...(config.dataKey ? { dataKey: config.dataKey } : {}) });
    try {
      const repo = new FhirRepository(store.db, store.cipher);
      const result = AuditChain.verify(
        store.db,
        (ref) => {
          const [type, id, version] = ref.split('/') as [string, string, string];
          return repo.rawJson(type, id, Number(version));
        },
        (n) => process.stderr.write(`  ${n} links checked...\n`),
      );
      if (result.ok) {
        process.stdout.write(`audit verify: OK, ${result.links} links intact\n`);
        return 0;
      }
      process.stdout.write(`audit verify: BROKEN at link ${result.seq} (${result.ref}): ${result.reason}; ${result.links} links before it are intact\n`);
      return 1;
    } finally {
      store.close();
    }
  },
};
