/**
 * One AMQP connection that keeps coming back: connects, runs `setup` on a
 * fresh confirm channel, and on any loss reconnects with exponential backoff
 * and full jitter (capped). Shared by the node's agent and the hub.
 */
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { Logger } from '../observability/index.ts';

export interface LinkOptions {
  url: string;
  logger: Logger;
  /** Runs on each new channel before the link counts as up (declare topology, consume). */
  setup: (ch: ConfirmChannel) => Promise<void>;
  onUp?: (ch: ConfirmChannel) => void;
  onDown?: () => void;
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Gives up a connect or topology setup that gets no answer for this long, and tries again (default 15 s). */
  connectTimeoutMs?: number;
  /** Connection name shown by `rabbitmqctl list_connections client_properties`. */
  name?: string;
}

/** Strips credentials from a URL before it is logged. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    u.username = '';
    return u.toString();
  } catch {
    return 'amqp://?';
  }
}

/** `p`, or a rejection when it takes longer than `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer from the broker within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

export class AmqpLink {
  readonly #o: LinkOptions;
  #conn: ChannelModel | undefined;
  #ch: ConfirmChannel | undefined;
  #closed = false;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #connecting = false;

  constructor(o: LinkOptions) {
    this.#o = o;
  }

  /** The confirm channel while the link is up. */
  get channel(): ConfirmChannel | undefined {
    return this.#ch;
  }

  get up(): boolean {
    return this.#ch !== undefined;
  }

  start(): void {
    void this.#connect();
  }

  /** Drops the current connection (e.g. after a publish error) and reconnects with backoff. */
  reset(): void {
    const conn = this.#conn;
    this.#down();
    if (conn) void conn.close().catch(() => undefined);
    this.#schedule();
  }

  async #connect(): Promise<void> {
    if (this.#closed || this.#connecting) return;
    this.#connecting = true;
    const log = this.#o.logger;
    // A connect or setup that hangs (a half-open link, a broker that stops answering mid-handshake) is
    // given up after connectTimeoutMs, so the link always tries again.
    const limit = this.#o.connectTimeoutMs ?? 15_000;
    try {
      const opened = amqp.connect(this.#o.url, { clientProperties: { connection_name: this.#o.name ?? 'telemed-edge' }, timeout: limit });
      const conn = await within(opened, limit, 'connect').catch((err: Error) => {
        // Opened after all, too late: close it, the next attempt is on its way.
        opened.then((late) => late.close(), () => undefined).catch(() => undefined);
        throw err;
      });
      if (this.#closed) {
        await conn.close().catch(() => undefined);
        return;
      }
      conn.on('error', (err: Error) => log.warn({ part: 'sync', err: { message: err.message } }, 'amqp connection error'));
      conn.on('close', () => {
        if (this.#conn === conn) {
          this.#down();
          this.#schedule();
        }
      });
      this.#conn = conn;
      const ch = await within(conn.createConfirmChannel(), limit, 'channel');
      ch.on('error', (err: Error) => log.warn({ part: 'sync', err: { message: err.message } }, 'amqp channel error'));
      ch.on('close', () => {
        // A channel closed by the broker (e.g. a precondition) takes the connection with it: start over.
        if (this.#ch === ch) this.reset();
      });
      await within(this.#o.setup(ch), limit, 'topology setup');
      this.#ch = ch;
      this.#attempt = 0;
      log.info({ part: 'sync', broker: redactUrl(this.#o.url) }, 'amqp link up');
      this.#o.onUp?.(ch);
    } catch (err) {
      log.warn({ part: 'sync', broker: redactUrl(this.#o.url), err: { message: (err as Error).message } }, 'amqp connect failed');
      const conn = this.#conn;
      this.#conn = undefined;
      this.#ch = undefined;
      if (conn) void conn.close().catch(() => undefined);
      this.#schedule();
    } finally {
      this.#connecting = false;
    }
  }

  #down(): void {
    const was = this.#ch !== undefined;
    this.#ch = undefined;
    this.#conn = undefined;
    if (was && !this.#closed) {
      this.#o.logger.warn({ part: 'sync' }, 'amqp link down');
      this.#o.onDown?.();
    }
  }

  #schedule(): void {
    if (this.#closed || this.#timer) return;
    const min = this.#o.minDelayMs ?? 250;
    const max = this.#o.maxDelayMs ?? 4_000;
    const cap = Math.min(max, min * 2 ** Math.min(this.#attempt, 16));
    this.#attempt++;
    const delay = min + Math.random() * (cap - min);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#connect();
    }, delay);
    this.#timer.unref();
  }

  /** Closes the connection and stops reconnecting. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    const conn = this.#conn;
    this.#down();
    // A broker that no longer answers would keep close() waiting for its close-ok: give it 5 s.
    if (conn) await within(conn.close(), 5_000, 'close').catch(() => undefined);
  }
}
