/**
 * Publishing a signed bundle to a node, a group or the whole fleet: shared by
 * the running hub and `telemed-edge hub rollout`.
 */
import amqp, { type ConfirmChannel } from 'amqplib';
import type { KeyObject } from 'node:crypto';
import { assertNodeQueue, signBundle, topology, type BundleFileText, type Topology } from '../sync/index.ts';

/** Who a rollout is for. */
export type RolloutTarget = { node: string } | { group: string } | { all: true };

const LABEL = /^[A-Za-z0-9._-]{1,64}$/;

/** Signs and publishes; resolves after the broker's confirm. Returns the routing key used. */
export async function publishBundle(ch: ConfirmChannel, t: Topology, target: RolloutTarget, revision: string, files: BundleFileText[], signingKey: KeyObject | string): Promise<string> {
  const signed = signBundle(revision, files, signingKey);
  let key: string;
  await ch.assertExchange(t.control, 'topic', { durable: true });
  if ('node' in target) {
    if (!LABEL.test(target.node)) throw new TypeError('node id: letters, digits, . _ - (1-64)');
    // The node's queue exists from now on, so a node that never connected yet still gets the bundle.
    await assertNodeQueue(ch, t, target.node);
    key = `node.${target.node}.bundle`;
  } else if ('group' in target) {
    if (!LABEL.test(target.group)) throw new TypeError('group: letters, digits, . _ - (1-64)');
    key = `group.${target.group}.bundle`;
  } else key = 'all.bundle';
  ch.publish(t.control, key, Buffer.from(JSON.stringify(signed)), { persistent: true, contentType: 'application/json', type: 'bundle' });
  await ch.waitForConfirms();
  return key;
}

/** One rollout over a connection of its own (the command line). */
export async function rolloutOnce(o: { amqpUrl: string; prefix?: string; signingKey: KeyObject | string; target: RolloutTarget; revision: string; files: BundleFileText[] }): Promise<string> {
  const conn = await amqp.connect(o.amqpUrl, { clientProperties: { connection_name: 'telemed-edge hub rollout' } });
  try {
    const ch = await conn.createConfirmChannel();
    return await publishBundle(ch, topology(o.prefix), o.target, o.revision, o.files, o.signingKey);
  } finally {
    await conn.close().catch(() => undefined);
  }
}
