/**
 * The node's one listener for HTTP upgrades: each WebSocket path goes to the
 * service that serves it (consult, vitals); an upgrade to any other path is
 * refused with 404 and its socket closed, one the service cannot take now
 * (closing, full) with 503. No upgrade is left hanging and none can throw out
 * of the server's `upgrade` event (which would end the process).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';

/** A service's side of an upgrade: its path and the handler that takes the socket. */
export interface UpgradeTarget {
  /** The pathname it serves, e.g. `/ws/consult` (matched exactly; the query string is the service's). */
  readonly path: string;
  /** Takes the upgrade for {@link path}; false (touching nothing) when it takes no more sockets now. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
}

const STATUS_TEXT = { 400: 'Bad Request', 404: 'Not Found', 500: 'Internal Server Error', 503: 'Service Unavailable' } as const;

/** Answers an upgrade request with a bare HTTP status and closes its socket once the answer is out. */
export function refuseUpgrade(socket: Duplex, status: keyof typeof STATUS_TEXT): void {
  socket.on('error', () => {});
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

export class UpgradeRouter {
  readonly #routes = new Map<string, UpgradeTarget>();
  readonly #server: Server;
  readonly #log: Logger;
  readonly #listener = (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#route(req, socket, head);

  /** Takes every `upgrade` event of `server` from now on. */
  constructor(server: Server, logger: Logger) {
    this.#server = server;
    this.#log = logger.child({ part: 'upgrade' });
    server.on('upgrade', this.#listener);
  }

  /** Serves `target.path` with `target` until the returned function is called. A path has one service: a second one throws. */
  add(target: UpgradeTarget): () => void {
    if (this.#routes.has(target.path)) throw new Error(`${target.path} is served already`);
    this.#routes.set(target.path, target);
    return () => {
      if (this.#routes.get(target.path) === target) this.#routes.delete(target.path);
    };
  }

  /** Stops taking upgrades (the server's own default applies again: it closes them). */
  close(): void {
    this.#server.off('upgrade', this.#listener);
    this.#routes.clear();
  }

  #route(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://node').pathname;
    } catch {
      return refuseUpgrade(socket, 400);
    }
    const target = this.#routes.get(pathname);
    if (!target) return refuseUpgrade(socket, 404);
    try {
      if (!target.handleUpgrade(req, socket, head)) refuseUpgrade(socket, 503);
    } catch (err) {
      this.#log.error({ err: { type: (err as Error).name, message: (err as Error).message }, path: pathname }, 'upgrade failed');
      refuseUpgrade(socket, 500);
    }
  }
}
