/**
 * A node SIGKILLed in the middle of a drain loses nothing and duplicates
 * nothing at the hub: its outbox is in SQLite, a row goes only after the
 * broker's confirm, and what was sent but not yet deleted is sent again and
 * ignored by the hub's ledger.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHub } from '../src/hub/index.ts';
import { brokerSkip, brokerUrl, deleteTopology, quietLogger, runPrefix, TcpProxy, until } from './sync-harness.ts';

const skip = await brokerSkip();
const CHILD = fileURLToPath(new URL('./sync-kill-child.ts', import.meta.url));

function startChild(env: Record<string, string>): { child: ChildProcess; out: () => string } {
  let out = '';
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, out: () => out };
}

describe('sync: SIGKILL during a drain', { skip }, () => {
  const prefix = runPrefix();
  const nodeId = `${prefix}-k`;
  const dir = mkdtempSync(path.join(tmpdir(), 'telemed-kill-'));
  after(async () => {
    await deleteTopology(prefix, [nodeId]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('3,000 events, the node killed mid-drain and restarted on its file: the hub holds exactly 3,000, no duplicate, no gap', { timeout: 120_000 }, async () => {
    const N = 3_000;
    const hub = createHub({ logger: quietLogger(), amqpUrl: brokerUrl(), memory: true, prefix, port: 0 });
    await hub.start();
    const proxy = await new TcpProxy().listen();
    proxy.cut();
    const env = { TELEMED_DATA_DIR: dir, TELEMED_NODE_ID: nodeId, AMQP_URL: proxy.url, SYNC_PREFIX: prefix };
    let first: ChildProcess | undefined;
    let second: ChildProcess | undefined;
    try {
      const a = startChild({ ...env, ENQUEUE: String(N) });
      first = a.child;
      await until(() => a.out().includes('queued'), 'the first process queued everything', 60_000);
      proxy.restore();
      await until(() => hub.ledger.messages(nodeId) >= 500, 'the drain is under way');
      first.kill('SIGKILL');
      await new Promise((r) => first!.once('exit', r));
      const atKill = hub.ledger.messages(nodeId);
      assert.ok(atKill < N, 'killed before the end of the drain');

      const b = startChild({ ...env, ENQUEUE: '0' });
      second = b.child;
      await until(() => hub.ledger.messages(nodeId) === N && /backlog 0\n/.test(b.out()), 'the restarted node drains the rest', 60_000);
      assert.deepEqual(hub.ledger.seqs(nodeId), Array.from({ length: N }, (_, i) => i + 1));
    } finally {
      first?.kill('SIGKILL');
      second?.kill('SIGKILL');
      await proxy.close();
      await hub.close();
    }
  });
});
