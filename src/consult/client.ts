/**
 * A small signaling client for Node (tests, the benchmark, command-line
 * probes): sends protocol-v1 frames and waits for the node's frames by type.
 * The browser app speaks the same protocol with the browser's WebSocket.
 */
import WebSocket from 'ws';
import { PROTOCOL_VERSION } from './protocol.ts';

/** A frame as received (loosely typed: the client is also used to test the node's answers to bad input). */
export type Received = { v: number; type: string; [k: string]: any };

export class SignalingClient {
  readonly ws: WebSocket;
  /** Every frame received, in order. */
  readonly received: Received[] = [];
  #cursor = 0;
  #waiters: Array<() => void> = [];
  #closed: { code: number; reason: string } | undefined;
  readonly opened: Promise<void>;

  constructor(url: string, options: { autoPong?: boolean } = {}) {
    this.ws = new WebSocket(url, { perMessageDeflate: false, ...options });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode} at the upgrade`)));
    });
    this.ws.on('message', (data) => {
      try {
        this.received.push(JSON.parse(data.toString()) as Received);
      } catch {
        this.received.push({ v: 0, type: '(unparsable)' });
      }
      this.#wake();
    });
    this.ws.on('close', (code, reason) => {
      this.#closed = { code, reason: reason.toString() };
      this.#wake();
    });
    this.ws.on('error', () => {});
  }

  /** Opens a socket and authenticates with `token` (resolves after `welcome`). */
  static async connect(url: string, token?: string): Promise<SignalingClient> {
    const c = new SignalingClient(url);
    await c.opened;
    if (token !== undefined) {
      c.send({ type: 'hello', token });
      await c.next('welcome');
    }
    return c;
  }

  get closed(): { code: number; reason: string } | undefined {
    return this.#closed;
  }

  /** Sends a frame (adds `v: 1` unless given). */
  send(frame: Record<string, unknown>): void {
    this.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, ...frame }));
  }

  /** Sends raw text or bytes, as is. */
  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /**
   * The next not-yet-consumed frame of `type` (or of one of several types),
   * matching `where`, waiting up to `timeoutMs`. Frames of other types are
   * skipped but kept in {@link received}.
   */
  async next(type: string | string[], where: (f: Received) => boolean = () => true, timeoutMs = 5000): Promise<Received> {
    const types = Array.isArray(type) ? type : [type];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = this.#cursor; i < this.received.length; i++) {
        const f = this.received[i]!;
        if (types.includes(f.type) && where(f)) {
          this.received.splice(i, 1);
          this.received.splice(this.#cursor, 0, f);
          this.#cursor += 1;
          return f;
        }
      }
      if (this.#closed) throw new Error(`socket closed (${this.#closed.code}) while waiting for '${type}'`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no '${type}' frame within ${timeoutMs} ms; got: ${this.received.slice(this.#cursor).map((f) => f.type).join(', ') || 'nothing'}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Frames not consumed by {@link next} so far, optionally of one type. */
  pending(type?: string): Received[] {
    return this.received.slice(this.#cursor).filter((f) => type === undefined || f.type === type);
  }

  /** Marks every frame received so far as consumed; returns them. */
  drain(): Received[] {
    const out = this.received.slice(this.#cursor);
    this.#cursor = this.received.length;
    return out;
  }

  /** Sends `ping` and waits for its `pong`: proves the socket still answers, and that earlier frames were handled. */
  async roundTrip(): Promise<void> {
    const ref = `rt-${Math.random().toString(36).slice(2)}`;
    this.send({ type: 'ping', ref });
    await this.next('pong', (f) => f.ref === ref);
  }

  /** Resolves when the socket is closed; returns the close code. */
  async waitClosed(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('the socket did not close');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.#closed;
  }

  close(): void {
    this.ws.close();
  }

  /** Drops the TCP connection without a close handshake (a network failure). */
  drop(): void {
    this.ws.terminate();
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}
