/**
 * Publishing a signed bundle or a signed configuration of node settings to a
 * node, a group or the whole fleet: shared by the running hub and
 * `telemed-edge hub rollout`.
 */
import amqp, { type ConfirmChannel } from 'amqplib';
import type { KeyObject } from 'node:crypto';
import { bundleFromFiles, loadBundle, toJS } from '../policy/index.ts';
import { checkRemoteSettings } from '../config/index.ts';
import { assertNodeQueue, signBundle, signConfig, topology, type BundleFileText, type Topology } from '../sync/index.ts';
import type { RolloutTarget } from './ledger.ts';

export type { RolloutTarget };

const LABEL = /^[A-Za-z0-9._-]{1,64}$/;

/** Checks a target's labels; throws a TypeError naming the bad one. */
export function checkTarget(target: RolloutTarget): void {
  if ('node' in target && !LABEL.test(target.node)) throw new TypeError('node id: letters, digits, . _ - (1-64)');
  if ('group' in target && !LABEL.test(target.group)) throw new TypeError('group: letters, digits, . _ - (1-64)');
}

/**
 * Reads a policy bundle (a directory or a .tar.gz, or files, read by the policy loader
 * the node uses) into the files a rollout carries: the Rego modules, the data
 * document (the policy's configuration) merged with `data` when given, and a
 * `.manifest` whose revision is the rollout's (`revision`, else the bundle's own).
 * Throws with the loader's message when the bundle cannot be read or has no revision.
 */
export function bundleFiles(source: string | BundleFileText[], o: { revision?: string; data?: Record<string, unknown> } = {}): { revision: string; files: BundleFileText[] } {
  const b = typeof source === 'string' ? loadBundle(source) : bundleFromFiles(source.map((f) => ({ path: f.path, text: f.text })), 'upload');
  const revision = o.revision ?? String(b.manifest.revision ?? '');
  if (revision === '') throw new TypeError('the bundle has no revision in its .manifest: give one');
  const files: BundleFileText[] = [...b.modules.map((m) => ({ path: m.path, text: m.text })), { path: '.manifest', text: JSON.stringify({ ...b.manifest, revision }) }];
  const data = { ...(toJS(b.data) as Record<string, unknown>), ...(o.data ?? {}) };
  if (Object.keys(data).length > 0) files.push({ path: 'data.json', text: JSON.stringify(data) });
  bundleFromFiles(files.map((f) => ({ ...f }))); // the same reading the node will do
  return { revision, files };
}

/** Publishes one signed message of `kind` to the target's routing key; resolves after the broker's confirm. Returns the routing key. */
async function publishSigned(ch: ConfirmChannel, t: Topology, target: RolloutTarget, kind: 'bundle' | 'config', body: unknown): Promise<string> {
  let key: string;
  await ch.assertExchange(t.control, 'topic', { durable: true });
  checkTarget(target);
  if ('node' in target) {
    // The node's queue exists from now on, so a node that never connected yet still gets it.
    await assertNodeQueue(ch, t, target.node);
    key = `node.${target.node}.${kind}`;
  } else if ('group' in target) {
    key = `group.${target.group}.${kind}`;
  } else key = `all.${kind}`;
  ch.publish(t.control, key, Buffer.from(JSON.stringify(body)), { persistent: true, contentType: 'application/json', type: kind });
  await ch.waitForConfirms();
  return key;
}

/**
 * Signs and publishes a bundle issued at `issuedAt` (the running hub's, from
 * its ledger; default this process's clock, as a rollout from the shell);
 * resolves after the broker's confirm. Returns the routing key used.
 */
export async function publishBundle(ch: ConfirmChannel, t: Topology, target: RolloutTarget, revision: string, files: BundleFileText[], signingKey: KeyObject | string, issuedAt?: string): Promise<string> {
  return publishSigned(ch, t, target, 'bundle', signBundle(revision, files, signingKey, issuedAt));
}

/**
 * Checks the settings (the node's remote-settable schema: a secret, a
 * start-only or unknown key, or a bad value throws a TypeError naming the key),
 * signs (issued at `issuedAt`, as for {@link publishBundle}) and publishes a
 * configuration; resolves after the broker's confirm. Returns the routing key
 * used (`node.<id>.config`, `group.<g>.config`, `all.config`).
 */
export async function publishConfig(ch: ConfirmChannel, t: Topology, target: RolloutTarget, revision: string, settings: Record<string, unknown>, signingKey: KeyObject | string, issuedAt?: string): Promise<string> {
  const check = checkRemoteSettings(settings);
  if (!check.ok) throw new TypeError(check.message);
  return publishSigned(ch, t, target, 'config', signConfig(revision, settings, signingKey, issuedAt));
}

/** A configuration revision made from the time when none is given: `cfg-YYYYMMDDTHHMMSSZ-xxxx`. */
export function configRevision(now = new Date()): string {
  return `cfg-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${Math.floor(Math.random() * 0x10000).toString(16).padStart(4, '0')}`;
}

/** One rollout over a connection of its own (the command line): a bundle (`files`) or a configuration (`settings`). */
export async function rolloutOnce(o: { amqpUrl: string; prefix?: string; signingKey: KeyObject | string; target: RolloutTarget; revision: string } & ({ files: BundleFileText[] } | { settings: Record<string, unknown> })): Promise<string> {
  const conn = await amqp.connect(o.amqpUrl, { clientProperties: { connection_name: 'telemed-edge hub rollout' } });
  try {
    const ch = await conn.createConfirmChannel();
    return 'settings' in o
      ? await publishConfig(ch, topology(o.prefix), o.target, o.revision, o.settings, o.signingKey)
      : await publishBundle(ch, topology(o.prefix), o.target, o.revision, o.files, o.signingKey);
  } finally {
    await conn.close().catch(() => undefined);
  }
}
