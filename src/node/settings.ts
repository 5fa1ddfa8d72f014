/**
 * The node's settings in force that the hub may change live (a signed
 * configuration rollout, docs/SYNC.md). Precedence, lowest first:
 *
 *   defaults < TELEMED_CONFIG file < configuration from the hub < environment
 *
 * so the node's operator can pin a setting with its environment variable:
 * a configuration from the hub naming it is applied for the other keys and
 * reports the pinned ones. Each configuration from the hub is the complete hub
 * layer: a key it does not name takes the local value again.
 *
 * A configuration is checked whole before anything changes (the keys it may
 * carry and their values: src/config `checkRemoteSettings`; what the running
 * node can take live: the sandbox channel of the Wasm workers), kept with its
 * signature in the data folder (`node-config.json`, written atomically) and
 * only then put in force. At start the kept one is verified again with the
 * hub's public key and validated again: it survives restarts and works offline.
 * Its signed `issuedAt` is kept with it, so the sync agent refuses an older
 * configuration (a replay) after a restart too. A kept file written before
 * configurations carried `issuedAt` still verifies at start (it is the node's
 * own file, not a message from the broker); the next one from the hub is then
 * taken whatever its issuedAt.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { checkRemoteSettings, envNameOf, REMOTE_SETTINGS, type Config, type RemoteSettingKey, type RemoteSettings } from '../config/index.ts';
import { FunctionError, type FunctionRegistry, type LiveLimits } from '../functions/index.ts';
import type { Logger } from '../observability/index.ts';
import { ConfigRefusal, verifyConfig, type ConfigApplied, type SignedStamp } from '../sync/index.ts';
import type { KeyObject } from 'node:crypto';
import { keep } from './policy.ts';

/** The file in the data folder that keeps the configuration the hub rolled out (with its signature). */
export const KEPT_CONFIG_FILE = 'node-config.json';

export type EffectiveSettings = { [K in RemoteSettingKey]: Config[K] };

export interface NodeSettingsStatus {
  /** The revision of the configuration from the hub in force, or null (local settings only). */
  revision: string | null;
  /** When the hub signed it (ISO-8601 UTC), or null (none, or kept before configurations carried it). */
  issuedAt: string | null;
  source: 'local' | 'hub';
  /** Keys of that configuration in force. */
  applied: string[];
  /** Keys of that configuration not applied: set by an environment variable on this node (with the variable). */
  pinned: Array<{ key: string; env: string }>;
  /** Every remotely settable setting as in force now. */
  settings: EffectiveSettings;
}

export interface NodeSettings {
  /** The remotely settable settings in force. */
  current(): EffectiveSettings;
  /** The configuration revision from the hub in force ('' for none). */
  readonly revision: string;
  /** The last verified configuration from the hub (revision, issuedAt, signature): the one in force, or kept but no longer valid here; undefined for none. The sync agent takes only a newer one. */
  readonly signed: SignedStamp | undefined;
  /** Checks, keeps (with its signature and issuedAt) and puts in force a verified configuration from the hub; throws {@link ConfigRefusal} (nothing changed). */
  apply(revision: string, settings: Record<string, unknown>, sig: string, issuedAt: string): Promise<ConfigApplied>;
  /** Where group changes go (the sync agent, once made). */
  onGroups(f: (groups: string[]) => Promise<void>): void;
  status(): NodeSettingsStatus;
}

export function createNodeSettings(o: { config: Config; logger: Logger; functions: FunctionRegistry; hubKey?: KeyObject }): NodeSettings {
  const log = o.logger.child({ part: 'config' });
  const file = path.join(o.config.dataDir, KEPT_CONFIG_FILE);
  const pinned = new Set<string>(o.config.pinned ?? []);
  const local = Object.fromEntries(REMOTE_SETTINGS.map((k) => [k, o.config[k]])) as EffectiveSettings;
  let hub: { revision: string; settings: RemoteSettings; issuedAt: string | null } | undefined;
  /** The last verified configuration from the hub: in force, or kept but no longer valid here (it still bounds what may come next). */
  let stamp: SignedStamp | undefined;
  let effective: EffectiveSettings = { ...local };
  let groupsTo: ((groups: string[]) => Promise<void>) | undefined;

  const compute = (s: RemoteSettings): EffectiveSettings => {
    const out = { ...local } as Record<string, unknown>;
    for (const [k, v] of Object.entries(s)) if (!pinned.has(k) && v !== undefined) out[k] = v;
    return out as EffectiveSettings;
  };
  const limitsOf = (e: EffectiveSettings): LiveLimits => ({ timeoutMs: e.fnTimeoutMs, memoryPages: e.fnMaxMemoryPages, outputBytes: e.fnMaxOutputBytes, logBytes: e.fnMaxStderrBytes });
  const limitKey: Record<string, RemoteSettingKey> = { timeoutMs: 'fnTimeoutMs', memoryPages: 'fnMaxMemoryPages', outputBytes: 'fnMaxOutputBytes', logBytes: 'fnMaxStderrBytes' };

  /** Throws ConfigRefusal when the running node cannot take `next` live. */
  const checkLive = (next: EffectiveSettings): void => {
    try {
      o.functions.checkLimits(limitsOf(next));
    } catch (err) {
      if (!(err instanceof FunctionError)) throw err;
      const key = limitKey[/^(\w+)/.exec(err.message)?.[1] ?? ''] ?? 'fnMaxOutputBytes';
      throw new ConfigRefusal('cannot_apply', key, `${key}: ${err.message.replace(/^\w+: /, '')}`);
    }
  };

  /** Puts `next` in force: the log level, the function limits, the groups (the shutdown grace is read when it is needed). */
  const enforce = async (next: EffectiveSettings): Promise<void> => {
    const before = effective;
    effective = next;
    if (o.logger.level !== next.logLevel) o.logger.level = next.logLevel;
    o.functions.setLimits(limitsOf(next));
    if (groupsTo && before.nodeGroups.join(',') !== next.nodeGroups.join(',')) await groupsTo([...next.nodeGroups]);
  };

  const describe = (s: RemoteSettings) => {
    const keys = Object.keys(s).sort();
    return { applied: keys.filter((k) => !pinned.has(k)), pinned: keys.filter((k) => pinned.has(k)) };
  };

  // The configuration kept from an earlier run: verified and validated again, else the local settings.
  let kept: string | undefined;
  try {
    kept = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.error({ file, reason: (err as Error).message }, 'the kept configuration from the hub is unreadable; local settings in force');
  }
  if (kept !== undefined) {
    if (!o.hubKey) {
      log.warn({ file }, 'a configuration from the hub is kept but TELEMED_HUB_PUBLIC_KEY is not set: not used, local settings in force');
    } else {
      const check = verifyConfig(kept, o.hubKey, { kept: true });
      const valid = check.ok ? checkRemoteSettings(check.settings) : undefined;
      if (check.ok) stamp = { revision: check.revision, issuedAt: check.issuedAt, sig: check.sig };
      if (!check.ok) log.error({ file, reason: check.reason }, 'the kept configuration from the hub does not verify; local settings in force');
      else if (!valid?.ok) log.error({ file, reason: valid?.reason, key: valid?.key }, 'the kept configuration from the hub is no longer valid; local settings in force');
      else {
        try {
          const next = compute(valid.settings);
          checkLive(next);
          hub = { revision: check.revision, settings: valid.settings, issuedAt: check.issuedAt };
          effective = next;
          if (o.logger.level !== next.logLevel) o.logger.level = next.logLevel;
          o.functions.setLimits(limitsOf(next));
          log.info({ revision: check.revision, issuedAt: check.issuedAt, ...describe(valid.settings) }, 'configuration from the hub in force (kept)');
        } catch (err) {
          log.error({ file, reason: (err as Error).message }, 'the kept configuration from the hub cannot be put in force; local settings in force');
        }
      }
    }
  }

  return {
    current: () => effective,
    get revision() {
      return hub?.revision ?? '';
    },
    get signed() {
      return stamp;
    },
    async apply(revision, settings, sig, issuedAt) {
      const valid = checkRemoteSettings(settings);
      if (!valid.ok) throw new ConfigRefusal(valid.reason, valid.key, valid.message);
      const next = compute(valid.settings);
      checkLive(next);
      try {
        keep(file, JSON.stringify({ kind: 'config', revision, issuedAt, settings, sig }));
      } catch (err) {
        throw new ConfigRefusal('cannot_apply', undefined, `the configuration cannot be kept in ${KEPT_CONFIG_FILE}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      hub = { revision, settings: valid.settings, issuedAt };
      stamp = { revision, issuedAt, sig };
      await enforce(next);
      const d = describe(valid.settings);
      if (d.pinned.length > 0) log.info({ revision, pinned: d.pinned }, 'settings pinned by this node\'s environment: not changed by the hub');
      return d;
    },
    onGroups(f) {
      groupsTo = f;
    },
    status() {
      const d = hub ? describe(hub.settings) : { applied: [], pinned: [] };
      return {
        revision: hub?.revision ?? null,
        issuedAt: hub?.issuedAt ?? null,
        source: hub ? 'hub' : 'local',
        applied: d.applied,
        pinned: d.pinned.map((key) => ({ key, env: envNameOf(key) ?? key })),
        settings: { ...effective, nodeGroups: [...effective.nodeGroups] },
      };
    },
  };
}
