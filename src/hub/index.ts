/**
 * The hub door: the central service of the fleet (`telemed-edge hub`).
 *
 * Consumes the hub inbox with manual acks: each message is recorded by id in
 * the hub's own store and acknowledged only after that commit, so a
 * redelivered message changes nothing (exactly-once effect). Serves the fleet
 * registry as `GET /api/nodes` and a fleet page at `/`.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { ConsumeMessage } from 'amqplib';
import { randomBytes, type KeyObject } from 'node:crypto';
import type { Logger } from '../observability/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { AmqpLink, assertFleet, ed25519Key, topology, type BundleFileText } from '../sync/index.ts';
import { publishBundle, rolloutOnce, type RolloutTarget } from './rollout.ts';
import { HUB_MIGRATIONS, Ledger, parseIncoming } from './ledger.ts';
import { FLEET_PAGE } from './page.ts';

export { HUB_MIGRATIONS, Ledger, publishBundle, rolloutOnce, type RolloutTarget };

export interface HubOptions {
  logger: Logger;
  /** Without it the hub serves its page and API over what it already holds, and says it is standalone. */
  amqpUrl?: string;
  /** The hub's store; default: opened under `dataDir` (or in memory when `memory`). */
  store?: Store;
  dataDir?: string;
  memory?: boolean;
  prefix?: string;
  port?: number;
  host?: string;
  /** A node with no message for this long is offline (default 30 s = three missed heartbeats). */
  offlineAfterMs?: number;
  prefetch?: number;
  /** Ed25519 private key that signs bundle rollouts (nodes hold the public key). */
  signingKey?: KeyObject | string;
}



/** One row of `GET /api/nodes`. */
export interface FleetNode {
  id: string;
  city: string;
  version: string;
  status: 'online' | 'offline';
  lastHeartbeat: string | null;
  lastSeen: string;
  backlog: number;
  bundle: string;
  /** The last bundle the node refused (`revision: reason`), or null. */
  bundleRefused: string | null;
  callsToday: number;
  /** The node's p99 request latency in ms from its last heartbeat, when it reports one. */
  p99LatencyMs: number | null;
  messages: number;
}

export interface Hub {
  readonly store: Store;
  readonly ledger: Ledger;
  readonly app: FastifyInstance;
  /** Where the HTTP server listens (after start). */
  url: string;
  start(): Promise<void>;
  nodes(): FleetNode[];
  /**
   * Signs a policy bundle and publishes it to the target's durable queue(s);
   * resolves after the broker confirmed it. A node that is offline gets it on
   * return. Throws when the hub has no signing key or no broker link.
   */
  rollout(target: RolloutTarget, revision: string, files: BundleFileText[]): Promise<void>;
  /** True while the consumer's link to the broker is up. */
  readonly online: boolean;
  close(): Promise<void>;
}

export function createHub(o: HubOptions): Hub {
  const log = o.logger.child({ part: 'hub' });
  const ownStore = o.store === undefined;
  // In memory nothing outlives the process, so an ephemeral data key (no key file written).
  const store = o.store ?? (o.memory
    ? openStore({ dataDir: o.dataDir ?? 'data-hub', memory: true, dataKey: randomBytes(32).toString('base64') })
    : openStore({ dataDir: o.dataDir ?? 'data-hub' }));
  store.migrate(HUB_MIGRATIONS);
  const ledger = new Ledger(store);
  const t = topology(o.prefix);
  const offlineAfter = o.offlineAfterMs ?? 30_000;
  const signingKey = o.signingKey ? ed25519Key(o.signingKey, 'private') : undefined;

  const nodes = (): FleetNode[] => {
    const now = Date.now();
    return ledger.nodes().map((n) => ({
      id: n.id, city: n.city, version: n.version,
      status: now - Date.parse(n.last_seen) <= offlineAfter ? 'online' : 'offline',
      lastHeartbeat: n.last_heartbeat, lastSeen: n.last_seen, backlog: n.backlog, bundle: n.bundle, bundleRefused: n.bundle_refused,
      callsToday: n.calls_today, p99LatencyMs: n.p99_ms, messages: n.messages,
    }));
  };

  let refused = 0;
  const link = o.amqpUrl
    ? new AmqpLink({
        url: o.amqpUrl,
        logger: o.logger,
        name: 'telemed-edge hub',
        setup: async (ch) => {
          await assertFleet(ch, t);
          await ch.assertExchange(t.control, 'topic', { durable: true });
          await ch.prefetch(o.prefetch ?? 500);
          await ch.consume(t.hubInbox, (msg: ConsumeMessage | null) => {
            if (msg === null) return; // consumer cancelled (queue deleted): the link resets on channel close
            const m = parseIncoming(msg.content);
            if (m === undefined) {
              refused++;
              log.warn({ refused }, 'unreadable message dropped');
              try {
                ch.nack(msg, false, false);
              } catch {
                // channel gone: it comes back and is dropped then.
              }
              return;
            }
            ledger.record(m).then(
              () => {
                try {
                  ch.ack(msg);
                } catch {
                  // The channel died after the commit: the broker redelivers and the ledger ignores the copy.
                }
              },
              (err: Error) => log.error({ err: { message: err.message } }, 'message not recorded; left for redelivery'),
            );
          }, { noAck: false });
        },
      })
    : undefined;

  const app = Fastify({ logger: false });
  app.get('/api/nodes', async () => ({ nodes: nodes(), broker: link ? (link.up ? 'connected' : 'disconnected') : 'none' }));
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(FLEET_PAGE));

  let closing: Promise<void> | undefined;
  const hub: Hub = {
    store, ledger, app, url: '',
    get online() {
      return link?.up ?? false;
    },
    async start() {
      if (link) link.start();
      else log.info('no AMQP_URL: the hub runs standalone over what it holds');
      const address = await app.listen({ port: o.port ?? 8090, host: o.host ?? '127.0.0.1' });
      hub.url = `http://127.0.0.1:${new URL(address).port}`;
    },
    nodes,
    async rollout(target, revision, files) {
      if (!signingKey) throw new Error('the hub has no bundle signing key');
      const ch = link?.channel;
      if (!ch) throw new Error('the hub is not connected to the broker');
      const key = await publishBundle(ch, t, target, revision, files, signingKey);
      log.info({ target: key, revision }, 'bundle rolled out');
    },
    close() {
      closing ??= (async () => {
        await link?.close();
        await app.close();
        if (ownStore) store.close();
      })();
      return closing;
    },
  };
  return hub;
}
