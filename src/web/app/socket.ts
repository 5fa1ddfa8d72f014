// The node's WebSockets in the browser (the consultation's /ws/consult and the
// vitals panel's /ws/vitals share this shape, not their protocol): hello with
// the token in the first frame, JSON frames both ways, a ping watchdog, and
// reconnects with backoff that hand the caller a fresh `ready` (the caller
// then resumes, rejoins or subscribes again as its protocol says).

export type Frame = { v: number; type: string; [k: string]: any };

export interface SocketEvents {
  /** Every frame after `welcome` (`welcome` and `pong` are the socket's own). */
  frame(f: Frame): void;
  /** Authenticated (first time and after each reconnect; `reconnected` tells which). */
  ready(reconnected: boolean): void;
  /** The socket dropped; it tries again by itself until {@link ReconnectingSocket.close}. */
  lost(): void;
  /** The token was refused: the socket is closed for good, no retry. */
  authFailed(): void;
}

export interface SocketOptions {
  /** The WebSocket path on this origin, e.g. `/ws/consult`. */
  path: string;
  /** The bearer token, read at each (re)connect. */
  token: () => string;
  /** Longest wait between two attempts, ms: the backoff starts at 500 ms and doubles up to this. */
  maxDelayMs: number;
}

export class ReconnectingSocket {
  #ws: WebSocket | undefined;
  #closed = false;
  #attempt = 0;
  #everReady = false;
  #pingTimer: number | undefined;
  #retryTimer: number | undefined;
  #lastPong = 0;
  readonly #url: string;

  /** Opens at once. */
  constructor(private readonly o: SocketOptions, private readonly on: SocketEvents) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.#url = `${scheme}//${location.host}${o.path}`;
    addEventListener('online', this.#onOnline);
    addEventListener('offline', this.#onOffline);
    this.#open();
  }

  get connected(): boolean {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  /** Sends a frame (protocol v1) if the socket is open; false when it is not. */
  send(frame: Record<string, unknown>): boolean {
    if (!this.connected) return false;
    this.#ws!.send(JSON.stringify({ v: 1, ...frame }));
    return true;
  }

  /** Closes for good (no reconnect, no more events). Idempotent. */
  close(): void {
    this.#closed = true;
    removeEventListener('online', this.#onOnline);
    removeEventListener('offline', this.#onOffline);
    clearTimeout(this.#retryTimer);
    this.#detach(1000);
  }

  /** The browser says the network is gone: the socket is dead (or soon will be), so reconnect when it returns. */
  #onOffline = () => {
    if (this.#ws) this.#drop(this.#ws);
  };

  /** The network came back: try now instead of waiting for the backoff (an attempt still in flight is given up). */
  #onOnline = () => {
    if (this.#closed || this.connected) return;
    clearTimeout(this.#retryTimer);
    this.#attempt = 0;
    this.#detach(4000, 'dropped');
    this.#open();
  };

  #authFailed(): void {
    this.close();
    this.on.authFailed();
  }

  #open(): void {
    if (this.#closed) return;
    const ws = new WebSocket(this.#url);
    this.#ws = ws;
    let welcomed = false;
    ws.onopen = () => ws.send(JSON.stringify({ v: 1, type: 'hello', token: this.o.token() }));
    ws.onmessage = (ev) => {
      let f: Frame;
      try {
        f = JSON.parse(String(ev.data)) as Frame;
      } catch {
        return;
      }
      if (f.type === 'pong') {
        this.#lastPong = Date.now();
        return;
      }
      if (f.type === 'welcome') {
        welcomed = true;
        this.#attempt = 0;
        this.#lastPong = Date.now();
        this.#watch(ws, Math.max(5000, Math.min(Number(f.heartbeatMs) || 15000, 15000)));
        const again = this.#everReady;
        this.#everReady = true;
        this.on.ready(again);
        return;
      }
      if (f.type === 'error' && f.code === 'auth_failed') return this.#authFailed();
      if (welcomed) this.on.frame(f);
    };
    ws.onclose = (ev) => {
      if (ev.code === 4401) return this.#authFailed();
      this.#drop(ws);
    };
  }

  /** Forgets a dead socket and schedules the next attempt (with backoff, at most `maxDelayMs` apart). */
  #drop(ws: WebSocket): void {
    if (this.#ws !== ws) return;
    this.#detach(4000, 'dropped');
    if (this.#closed) return;
    this.on.lost();
    const delay = Math.min(this.o.maxDelayMs, 500 * 2 ** this.#attempt++);
    this.#retryTimer = window.setTimeout(() => this.#open(), delay);
  }

  /** Lets go of the current socket: no more events from it, no pings; closes it. */
  #detach(code: number, reason?: string): void {
    const ws = this.#ws;
    this.#ws = undefined;
    clearInterval(this.#pingTimer);
    if (!ws) return;
    ws.onclose = ws.onmessage = ws.onopen = null;
    try {
      ws.close(code, reason);
    } catch {
      /* already closed */
    }
  }

  /** Sends `ping` and drops a socket that has not answered for two periods (a silent network loss). */
  #watch(ws: WebSocket, periodMs: number): void {
    clearInterval(this.#pingTimer);
    this.#pingTimer = window.setInterval(() => {
      if (this.#ws !== ws || ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() - this.#lastPong > 2 * periodMs + 1000) {
        this.#drop(ws);
        return;
      }
      ws.send(JSON.stringify({ v: 1, type: 'ping', t: Date.now() }));
    }, periodMs);
  }
}
