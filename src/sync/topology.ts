/**
 * The RabbitMQ topology shared by nodes and the hub (docs/SYNC.md).
 * Both sides assert the same declarations with the same arguments, so either
 * may start first and no message is published to an exchange with no queue.
 */
import type { Channel } from 'amqplib';

/**
 * Queue arguments that keep long backlogs on disk on both 3.10 and 3.13:
 * `x-queue-mode: lazy` pages messages to disk on 3.10/3.11 (ignored from 3.12,
 * where classic queues behave that way already); `x-queue-version: 2` picks the
 * v2 classic index/store (available from 3.10, the default from 3.13).
 */
export const BACKLOG_QUEUE_ARGS = { 'x-queue-mode': 'lazy', 'x-queue-version': 2 } as const;

export interface Topology {
  /** Topic exchange, node → hub. Routing key `node.<nodeId>.<kind>`. */
  fleet: string;
  /** The hub's durable inbox, bound to `node.#`. */
  hubInbox: string;
  /** Topic exchange, hub → nodes. Routing keys `node.<id>.<kind>`, `group.<g>.<kind>`, `all.<kind>`. */
  control: string;
  /** A node's own durable queue for what the hub sends it (kept while it is offline). */
  nodeQueue(nodeId: string): string;
}

/** Names under `prefix` (default `telemed`; tests use a random one). */
export function topology(prefix = 'telemed'): Topology {
  return {
    fleet: `${prefix}.fleet`,
    hubInbox: `${prefix}.hub.inbox`,
    control: `${prefix}.control`,
    nodeQueue: (nodeId) => `${prefix}.node.${nodeId}`,
  };
}

export const routingKey = (nodeId: string, kind: string): string => `node.${nodeId}.${kind}`;

/** Declares the node → hub path: the fleet exchange and the hub inbox bound to it. */
export async function assertFleet(ch: Channel, t: Topology): Promise<void> {
  await ch.assertExchange(t.fleet, 'topic', { durable: true });
  await ch.assertQueue(t.hubInbox, { durable: true, arguments: { ...BACKLOG_QUEUE_ARGS } });
  await ch.bindQueue(t.hubInbox, t.fleet, 'node.#');
}

/** Declares the hub → node path for one node: the control exchange and the node's queue. */
export async function assertNodeQueue(ch: Channel, t: Topology, nodeId: string, groups: readonly string[] = []): Promise<string> {
  await ch.assertExchange(t.control, 'topic', { durable: true });
  const q = t.nodeQueue(nodeId);
  await ch.assertQueue(q, { durable: true, arguments: { ...BACKLOG_QUEUE_ARGS } });
  await ch.bindQueue(q, t.control, `node.${nodeId}.#`);
  await ch.bindQueue(q, t.control, 'all.#');
  for (const g of groups) await ch.bindQueue(q, t.control, `group.${g}.#`);
  return q;
}
