/**
 * A small client of the vitals socket (protocol v1, ./PROTOCOL.md), for the
 * simulator, the tests and the benchmark: hello, then samples (a device) or
 * subscribe (a clinician); frames can be awaited one by one.
 */
import WebSocket from 'ws';

export type Frame = Record<string, any> & { type: string };

export interface ClientOptions {
  /** Keep every frame for {@link VitalsClient.next} (default true; the simulator and bench turn it off). */
  keep?: boolean;
  onFrame?: (f: Frame) => void;
}

export class VitalsClient {
  readonly ws: WebSocket;
  readonly received: Frame[] = [];
  readonly opened: Promise<void>;
  closed: { code: number; reason: string } | undefined;
  #cursor = 0;
  #waiters: Array<() => void> = [];
  #keep: boolean;
  readonly #onFrame: ((f: Frame) => void) | undefined;

  constructor(url: string, o: ClientOptions = {}) {
    this.#keep = o.keep ?? true;
    this.#onFrame = o.onFrame;
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode} at the upgrade`)));
    });
    this.ws.on('message', (data) => {
      let f: Frame;
      try {
        f = JSON.parse(data.toString()) as Frame;
      } catch {
        f = { type: '(unparsable)' };
      }
      this.#onFrame?.(f);
      if (this.#keep) this.received.push(f);
      this.#wake();
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.#wake();
    });
    this.ws.on('error', () => {});
  }

  /** Opens, says hello (as a device when `device` is given) and resolves with the client and its `welcome`. */
  static async connect(url: string, token: string, hello: { device?: string; patient?: string } = {}, o: ClientOptions = {}): Promise<{ client: VitalsClient; welcome: Frame }> {
    const client = new VitalsClient(url, { ...o, keep: true });
    await client.opened;
    client.send({ type: 'hello', token, ...hello });
    const welcome = await client.next('welcome');
    if (o.keep === false) {
      client.#keep = false;
      client.received.length = 0;
      client.#cursor = 0;
    }
    return { client, welcome };
  }

  send(frame: Record<string, unknown>): void {
    this.ws.send(JSON.stringify({ v: 1, ...frame }));
  }

  /** The next frame of `type` (after those already taken) matching `pred`; rejects on close or timeout. An `error` frame is returned only when asked for. */
  async next(type: string, pred: (f: Frame) => boolean = () => true, timeoutMs = 30_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.#cursor < this.received.length) {
        const f = this.received[this.#cursor++]!;
        if (f.type === type && pred(f)) return f;
      }
      if (this.closed) throw new Error(`closed (${this.closed.code} ${this.closed.reason}) while waiting for ${type}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type} frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Every frame of `type` received so far. */
  all(type: string): Frame[] {
    return this.received.filter((f) => f.type === type);
  }

  close(): void {
    this.ws.close();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}
