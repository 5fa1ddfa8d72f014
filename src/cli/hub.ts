/**
 * `telemed-edge hub`: the central hub (fleet registry, aggregates, fleet page).
 * Configured by environment until the config part carries the hub's keys:
 * AMQP_URL, TELEMED_HUB_DATA_DIR (default ./data-hub), TELEMED_HUB_PORT
 * (default 8090), HOST (default 127.0.0.1), TELEMED_HUB_OFFLINE_AFTER_MS
 * (default 30000), TELEMED_SYNC_PREFIX (default telemed), LOG_LEVEL.
 */
import path from 'node:path';
import { createHub } from '../hub/index.ts';
import { createLogger } from '../observability/index.ts';
import { redactUrl } from '../sync/index.ts';
import type { Command } from './main.ts';

const USAGE = `usage: telemed-edge hub

Environment:
  AMQP_URL                       broker, e.g. amqp://guest:guest@127.0.0.1:5672 (none: standalone)
  TELEMED_HUB_DATA_DIR           the hub's SQLite folder (default ./data-hub)
  TELEMED_HUB_PORT, HOST         where the fleet page and /api/nodes listen (default 127.0.0.1:8090)
  TELEMED_HUB_OFFLINE_AFTER_MS   silence after which a node is offline (default 30000)
  TELEMED_SYNC_PREFIX            exchange and queue name prefix, same on nodes and hub (default telemed)
`;

function int(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got '${raw}'`);
  return n;
}

export const hubCommand: Command = {
  summary: 'run the central hub (fleet registry, aggregates)',
  async run(args) {
    if (args.includes('--help') || args.includes('-h')) {
      process.stdout.write(USAGE);
      return 0;
    }
    let port: number;
    let offlineAfterMs: number;
    try {
      port = int('TELEMED_HUB_PORT', 8090);
      offlineAfterMs = int('TELEMED_HUB_OFFLINE_AFTER_MS', 30_000);
    } catch (err) {
      process.stderr.write(`telemed-edge: ${(err as Error).message}\n`);
      return 78; // EX_CONFIG
    }
    const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'info', name: 'telemed-edge-hub' });
    const amqpUrl = process.env.AMQP_URL || undefined;
    const dataDir = path.resolve(process.env.TELEMED_HUB_DATA_DIR ?? './data-hub');
    const prefix = process.env.TELEMED_SYNC_PREFIX || 'telemed';
    const hub = createHub({ logger, ...(amqpUrl ? { amqpUrl } : {}), prefix, dataDir, port, host: process.env.HOST ?? '127.0.0.1', offlineAfterMs });
    try {
      await hub.start();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        process.stderr.write(`telemed-edge: port ${port} is already in use (set TELEMED_HUB_PORT)\n`);
        await hub.close();
        return 78;
      }
      throw err;
    }
    process.stdout.write(`\n  telemed-edge hub is up: ${hub.url}   fleet API: ${hub.url}/api/nodes\n  data: ${dataDir}   broker: ${amqpUrl ? redactUrl(amqpUrl) : 'none (standalone: set AMQP_URL)'}\n\n`);
    return new Promise<number>((resolve) => {
      const stop = () => {
        hub.close().then(() => resolve(0), () => resolve(1));
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
  },
};
