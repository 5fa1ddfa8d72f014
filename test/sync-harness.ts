/**
 * Shared ground of the sync and hub tests: the real broker (skipped with a
 * reason when unreachable, failed when CI=true), a TCP proxy the test owns
 * between node and broker (cut and restored), unique names per run and their
 * deletion afterwards.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import amqp, { type ChannelModel, type ConsumeMessage } from 'amqplib';
import { createLogger } from '../src/observability/index.ts';
import { openStore, type Store } from '../src/store/index.ts';
import { SYNC_MIGRATIONS, topology, type Topology } from '../src/sync/index.ts';

export const BROKER = { host: process.env.AMQP_TEST_HOST ?? '127.0.0.1', port: Number(process.env.AMQP_TEST_PORT ?? 5672) };
export const brokerUrl = (port = BROKER.port, host = BROKER.host) => `amqp://guest:guest@${host}:${port}?heartbeat=5`;
export const quietLogger = () => createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** undefined when `host:port` accepts a connection; otherwise the reason to skip, naming `service` (throws under CI=true, where it is required). */
export async function serviceSkip(service: string, host: string, port: number): Promise<string | undefined> {
  const ok = await new Promise<boolean>((resolve) => {
    const s = net.connect(port, host);
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(1500, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
  if (ok) return undefined;
  const reason = `${service} not reachable at ${host}:${port}`;
  if (process.env.CI === 'true') throw new Error(`${reason} (CI=true: ${service} is required)`);
  return reason;
}

/** undefined when the broker answers; otherwise the reason to skip (throws under CI=true). */
export const brokerSkip = (): Promise<string | undefined> => serviceSkip('RabbitMQ', BROKER.host, BROKER.port);

export const runPrefix = () => `t${randomBytes(4).toString('hex')}`;

/** A node-side store with the outbox table (in memory unless a folder is given). */
export function syncStore(dataDir?: string): Store {
  const store = dataDir ? openStore({ dataDir, sync: 'normal' }) : openStore({ dataDir: '/nonexistent', memory: true, dataKey: randomBytes(32).toString('base64') });
  store.migrate(SYNC_MIGRATIONS);
  return store;
}

/** Deletes every exchange and queue a run declared under `prefix`. */
export async function deleteTopology(prefix: string, nodeIds: string[], extraQueues: string[] = []): Promise<void> {
  const t = topology(prefix);
  const conn = await amqp.connect(brokerUrl());
  try {
    const ch = await conn.createChannel();
    for (const q of [t.hubInbox, ...nodeIds.map((n) => t.nodeQueue(n)), ...extraQueues]) await ch.deleteQueue(q);
    await ch.deleteExchange(t.fleet);
    await ch.deleteExchange(t.control);
    await ch.close();
  } finally {
    await conn.close();
  }
}

/** A TCP proxy in front of the broker: `cut()` drops every connection and refuses new ones until `restore()`. */
export class TcpProxy {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #open = true;
  port = 0;

  /** In front of `upstream` (default: the test broker). */
  constructor(upstream: { host: string; port: number } = BROKER) {
    this.#server = net.createServer((client) => {
      if (!this.#open) {
        client.destroy();
        return;
      }
      const upstreamSocket = net.connect(upstream.port, upstream.host);
      this.#sockets.add(client).add(upstreamSocket);
      const drop = () => {
        client.destroy();
        upstreamSocket.destroy();
        this.#sockets.delete(client);
        this.#sockets.delete(upstreamSocket);
      };
      client.on('error', drop).on('close', drop);
      upstreamSocket.on('error', drop).on('close', drop);
      client.pipe(upstreamSocket);
      upstreamSocket.pipe(client);
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as net.AddressInfo).port;
    return this;
  }

  get url(): string {
    return brokerUrl(this.port, '127.0.0.1');
  }

  cut(): void {
    this.#open = false;
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }

  restore(): void {
    this.#open = true;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** Polls `cond` every 20 ms until true; fails with `what` after `ms` (a bound on the test, never a timing claim). */
export async function until(cond: () => boolean | Promise<boolean>, what: string | (() => string), ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`gave up waiting: ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs rabbitmqctl; undefined when it is not available or fails. */
async function rabbitmqctl(args: string[]): Promise<string | undefined> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => {
    execFile('rabbitmqctl', args, { timeout: 30_000 }, (err, stdout) => resolve(err ? undefined : stdout));
  });
}

/**
 * The broker's ids of the connections whose name contains `match` (this run's
 * own: node links are named `telemed-edge node <nodeId>`); undefined when
 * rabbitmqctl is not available here.
 */
export async function ownConnections(match: string): Promise<string[] | undefined> {
  const listing = await rabbitmqctl(['list_connections', 'pid', 'client_properties', '-q', '--formatter', 'json']);
  if (listing === undefined) return undefined;
  const rows = JSON.parse(listing) as Array<{ pid: string; client_properties: Array<[string, string, unknown]> }>;
  return rows.filter((r) => r.client_properties.some(([k, , v]) => k === 'connection_name' && typeof v === 'string' && v.includes(match))).map((r) => r.pid);
}

/** Closes one connection broker side (`rabbitmqctl close_connection`). */
export async function closeConnection(pid: string): Promise<boolean> {
  return (await rabbitmqctl(['close_connection', pid, 'sync test: broker-side close'])) !== undefined;
}

/** A message the tap saw: its body and its AMQP properties and fields, as text to search. */
export interface Tapped {
  content: string;
  props: string;
}

/** Binds an exclusive queue with `#` to the fleet's two exchanges and keeps everything that passes (the PHI checks read it). */
export async function tapEverything(t: Topology, queue: string, seen: Tapped[] = []): Promise<{ seen: Tapped[]; close(): Promise<void> }> {
  const conn: ChannelModel = await amqp.connect(brokerUrl());
  const ch = await conn.createChannel();
  await ch.assertExchange(t.fleet, 'topic', { durable: true });
  await ch.assertExchange(t.control, 'topic', { durable: true });
  await ch.assertQueue(queue, { exclusive: true, autoDelete: true });
  await ch.bindQueue(queue, t.fleet, '#');
  await ch.bindQueue(queue, t.control, '#');
  await ch.consume(queue, (m: ConsumeMessage | null) => {
    if (m) seen.push({ content: m.content.toString('utf8'), props: JSON.stringify({ ...m.properties, fields: m.fields }) });
  }, { noAck: true });
  return { seen, close: () => conn.close() };
}
