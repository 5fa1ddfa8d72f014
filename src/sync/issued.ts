/**
 * Replay protection of what the hub signs for the nodes (bundles and
 * configurations): each carries a signed `issuedAt`, the hub's clock at
 * signing as ISO-8601 UTC with milliseconds (`2026-11-26T06:00:00.000Z`),
 * strictly increasing per kind. A node takes a message only when its
 * `issuedAt` is strictly newer than the one in force for that kind, or when
 * it is the very one in force delivered again (same revision, issuedAt and
 * signature), so a signed message copied off the broker cannot roll a node back.
 */

/** What a node keeps of the signed message in force from the hub, per kind. `issuedAt`/`sig` are null for one kept before messages carried them. */
export interface SignedStamp {
  revision: string;
  issuedAt: string | null;
  sig: string | null;
}

const FORMAT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** True for an `issuedAt` in the one form the hub writes (so that text order is time order): `YYYY-MM-DDTHH:MM:SS.mmmZ`, a real instant. */
export function isIssuedAt(v: unknown): v is string {
  if (typeof v !== 'string' || !FORMAT.test(v)) return false;
  const t = Date.parse(v);
  return Number.isFinite(t) && new Date(t).toISOString() === v;
}

/** The next `issuedAt` after `last` (if any): `now`, or 1 ms past `last` when the clock stalled or went back. */
export function nextIssuedAt(now: Date, last?: string | null): string {
  const t = now.getTime();
  const floor = last && isIssuedAt(last) ? Date.parse(last) + 1 : -Infinity;
  return new Date(Math.max(t, floor)).toISOString();
}

const lastInProcess: Record<'bundle' | 'config', string | undefined> = { bundle: undefined, config: undefined };

/**
 * An `issuedAt` from this process's clock, strictly after the previous one it
 * gave for `kind` (what `signBundle`/`signConfig` use when given none, e.g. a
 * rollout from the shell). The running hub gives its own, kept in its ledger.
 */
export function issueNow(kind: 'bundle' | 'config', now = new Date()): string {
  const v = nextIssuedAt(now, lastInProcess[kind]);
  lastInProcess[kind] = v;
  return v;
}

/**
 * How a verified message stands against the one in force: `newer` (take it),
 * `same` (the one in force delivered again: handled as before, idempotently)
 * or `stale` (not strictly newer: refused).
 */
export function freshness(incoming: { revision: string; issuedAt: string; sig: string }, inForce: SignedStamp | undefined): 'newer' | 'same' | 'stale' {
  if (!inForce || inForce.issuedAt === null || !isIssuedAt(inForce.issuedAt)) return 'newer';
  if (incoming.issuedAt === inForce.issuedAt && incoming.revision === inForce.revision && incoming.sig === inForce.sig) return 'same';
  return Date.parse(incoming.issuedAt) > Date.parse(inForce.issuedAt) ? 'newer' : 'stale';
}
