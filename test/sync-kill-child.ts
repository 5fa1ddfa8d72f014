/**
 * A node's sync agent alone in a process, for the SIGKILL test: opens the
 * outbox in TELEMED_DATA_DIR, enqueues ENQUEUE events (in batches), prints
 * `queued`, and drains to AMQP_URL until it is killed.
 */
import { createBuiltinPolicy } from '../src/policy/index.ts';
import { createSyncAgent } from '../src/sync/index.ts';
import { quietLogger, syncStore } from './sync-harness.ts';

const env = (k: string): string => {
  const v = process.env[k];
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const store = syncStore(env('TELEMED_DATA_DIR'));
const policy = createBuiltinPolicy();
const agent = createSyncAgent({
  store, policy: () => policy, logger: quietLogger(), nodeId: env('TELEMED_NODE_ID'), city: 'kill', amqpUrl: env('AMQP_URL'),
  prefix: env('SYNC_PREFIX'), batch: 50, reconnect: { minDelayMs: 20, maxDelayMs: 200 },
});
agent.start();
const n = Number(process.env.ENQUEUE ?? 0);
for (let i = 0; i < n; i += 100) {
  await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, k) =>
    agent.enqueue('aggregate', { metric: 'vitals_samples', at: Date.UTC(2026, 10, 24, 9) + (i + k) * 1000, count: 1 })));
}
process.stdout.write('queued\n');
setInterval(() => process.stdout.write(`backlog ${agent.status().backlog}\n`), 50);
