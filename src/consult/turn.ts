/**
 * ICE servers for one participant: STUN, and TURN with time-limited
 * credentials by coturn's REST scheme (`use-auth-secret`, see coturn's
 * turnserver.conf and draft-uberti-behave-turn-rest-00): the username is
 * `<expiry unix seconds>:<user tag>`, the password base64(HMAC-SHA1(secret, username)).
 */
import { createHmac } from 'node:crypto';
import type { IceServer } from './protocol.ts';

export interface TurnOptions {
  /** TURN URLs (`turn:host:3478?transport=udp`, `turns:host:5349`), as a list or comma-separated. */
  urls: string[] | string;
  /** The shared secret coturn is started with (`static-auth-secret`). */
  secret: string;
  /** Lifetime of a credential in seconds (default 1 hour; a call that outlives it keeps its allocation, a new join gets a new one). */
  ttlSeconds?: number;
  /** STUN URLs; default: the hosts of the TURN URLs with the `stun:` scheme (coturn answers STUN on its TURN port). */
  stunUrls?: string[] | string;
  /** Browsers use relay candidates only (`iceTransportPolicy: 'relay'` in `admitted`): media always through TURN. */
  relayOnly?: boolean;
}

const list = (v: string[] | string | undefined): string[] =>
  (Array.isArray(v) ? v : (v ?? '').split(',')).map((s) => s.trim()).filter((s) => s.length > 0);

/** The username and password coturn accepts until `expiry` (unix seconds). */
export function turnCredential(secret: string, userTag: string, expiry: number): { username: string; credential: string } {
  const username = `${Math.floor(expiry)}:${userTag}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential };
}

/** Derives `stun:host:port` from `turn:host:port?transport=...` (`turns:` has no STUN twin). */
function stunOf(turnUrl: string): string | undefined {
  const m = /^turn:([^?]+)/.exec(turnUrl);
  return m ? `stun:${m[1]}` : undefined;
}

/**
 * Mints ICE servers. Validates the options once (at construction), so a bad
 * TURN setting stops the node at start rather than at the first call.
 */
export class IceServerMinter {
  readonly #turn: string[];
  readonly #stun: string[];
  readonly #secret: string;
  readonly #ttl: number;
  /** The `iceTransportPolicy` participants are told to use ('relay' only with TURN URLs). */
  readonly transportPolicy: 'all' | 'relay';

  constructor(o: TurnOptions | undefined) {
    this.#turn = list(o?.urls);
    this.#secret = o?.secret ?? '';
    this.#ttl = o?.ttlSeconds ?? 3600;
    for (const u of this.#turn) {
      if (!/^turns?:[^\s]+$/.test(u)) throw new Error(`TURN URL '${u.slice(0, 80)}' must start with turn: or turns:`);
    }
    if (this.#turn.length > 0 && this.#secret.length < 16) throw new Error('the TURN secret must be at least 16 characters');
    if (!Number.isInteger(this.#ttl) || this.#ttl < 60 || this.#ttl > 86_400) throw new Error('the TURN credential lifetime must be 60-86400 seconds');
    const stun = o?.stunUrls === undefined ? this.#turn.map(stunOf).filter((u): u is string => u !== undefined) : list(o.stunUrls);
    for (const u of stun) {
      if (!/^stun:[^\s]+$/.test(u)) throw new Error(`STUN URL '${u.slice(0, 80)}' must start with stun:`);
    }
    this.#stun = [...new Set(stun)];
    if (o?.relayOnly && this.#turn.length === 0) throw new Error('relay-only calls need TURN URLs');
    this.transportPolicy = o?.relayOnly ? 'relay' : 'all';
  }

  /**
   * ICE servers for one participant. `userTag` lands in coturn's logs, so
   * callers pass an opaque seat id, never a patient reference.
   */
  mint(userTag: string, nowMs = Date.now()): IceServer[] {
    const out: IceServer[] = [];
    if (this.#stun.length > 0) out.push({ urls: [...this.#stun] });
    if (this.#turn.length > 0) out.push({ urls: [...this.#turn], ...turnCredential(this.#secret, userTag, nowMs / 1000 + this.#ttl) });
    return out;
  }
}
