// The consultation signaling socket (protocol v1, src/consult/PROTOCOL.md) in the browser:
// hello with the token in the first frame, JSON frames both ways, a ping watchdog,
// and reconnects that hand the room back to the caller (which sends `resume`).

export type Frame = { v: number; type: string; [k: string]: any };

export interface SignalEvents {
  /** Every frame after `welcome`. */
  frame(f: Frame): void;
  /** Authenticated (first time and after each reconnect; `reconnected` tells which). */
  ready(reconnected: boolean): void;
  /** The socket dropped; the client tries again by itself until {@link Signal.close}. */
  lost(): void;
  /** The token was refused: no retry. */
  authFailed(): void;
}

export class Signal {
  #ws: WebSocket | undefined;
  #closed = false;
  #attempt = 0;
  #everReady = false;
  #pingTimer: number | undefined;
  #retryTimer: number | undefined;
  #lastPong = 0;
  #url: string;

  constructor(path: string, private readonly token: () => string, private readonly on: SignalEvents) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.#url = `${scheme}//${location.host}${path}`;
    addEventListener('online', this.#onOnline);
    addEventListener('offline', this.#onOffline);
    this.#open();
  }

  get connected(): boolean {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  send(frame: Record<string, unknown>): boolean {
    if (!this.connected) return false;
    this.#ws!.send(JSON.stringify({ v: 1, ...frame }));
    return true;
  }

  /** Closes for good (no reconnect). */
  close(): void {
    this.#closed = true;
    removeEventListener('online', this.#onOnline);
    removeEventListener('offline', this.#onOffline);
    clearInterval(this.#pingTimer);
    clearTimeout(this.#retryTimer);
    this.#ws?.close(1000);
  }

  /** The browser says the network is gone: the socket is dead (or soon will be), so reconnect when it returns. */
  #onOffline = () => {
    if (this.#ws) this.#drop(this.#ws);
  };

  #onOnline = () => {
    // The network came back: try now instead of waiting for the backoff.
    if (!this.#closed && !this.connected) {
      clearTimeout(this.#retryTimer);
      this.#attempt = 0;
      if (this.#ws) this.#drop(this.#ws);
      clearTimeout(this.#retryTimer);
      this.#open();
    }
  };

  #open(): void {
    if (this.#closed) return;
    const ws = new WebSocket(this.#url);
    this.#ws = ws;
    let welcomed = false;
    ws.onopen = () => ws.send(JSON.stringify({ v: 1, type: 'hello', token: this.token() }));
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
      if (f.type === 'error' && f.code === 'auth_failed') {
        this.#closed = true;
        this.on.authFailed();
        return;
      }
      if (welcomed) this.on.frame(f);
    };
    ws.onclose = (ev) => {
      if (ev.code === 4401 && this.#ws === ws && !this.#closed) {
        this.#closed = true;
        this.on.authFailed();
        return;
      }
      this.#drop(ws);
    };
  }

  /** Forgets a dead socket and schedules the next attempt (with backoff, at most 4 s apart). */
  #drop(ws: WebSocket): void {
    if (this.#ws !== ws) return;
    this.#ws = undefined;
    clearInterval(this.#pingTimer);
    ws.onclose = ws.onmessage = ws.onopen = null;
    try {
      ws.close(4000, 'dropped');
    } catch {
      /* already closed */
    }
    if (this.#closed) return;
    this.on.lost();
    const delay = Math.min(4000, 500 * 2 ** this.#attempt++);
    this.#retryTimer = window.setTimeout(() => this.#open(), delay);
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
