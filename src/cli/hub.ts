/**
 * `telemed-edge hub`: the central hub (fleet registry, aggregates, rollouts,
 * fleet page). Its settings (src/hub/config.ts) are validated at start; a bad
 * one stops it with a message naming the setting (exit 78).
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleFiles, configRevision, createHub, HubConfigError, loadHubConfig, rolloutOnce, type RolloutTarget } from '../hub/index.ts';
import { checkRemoteSettings, REMOTE_SETTINGS } from '../config/index.ts';
import { parseArgs } from './args.ts';
import { createLogger } from '../observability/index.ts';
import { redactUrl } from '../sync/index.ts';
import type { Command } from './main.ts';

const USAGE = `usage: telemed-edge hub                      run the hub
       telemed-edge hub keygen --out DIR       write an Ed25519 key pair (hub-signing.key, hub-signing.pub)
       telemed-edge hub rollout (--node ID | --group G | --all) --bundle DIR|FILE.tar.gz [--revision R] [--hub URL]
                                               with --hub: through the running hub's API (bearer token from
                                               TELEMED_HUB_TOKEN, a fleet admin's access token, else TELEMED_HUB_ADMIN_TOKEN),
                                               which checks, signs, sends and records it (status per node);
                                               without: sign with TELEMED_HUB_SIGNING_KEY (a PEM file) and send
                                               it straight to the nodes' durable queues (AMQP_URL)
       telemed-edge hub rollout (--node ID | --group G | --all) --settings JSON|@FILE.json [--revision R] [--hub URL]
                                               a configuration of node settings instead (the same two ways), e.g.
                                               --settings '{"logLevel":"debug","fnTimeoutMs":2000}'; settable:
                                               ${REMOTE_SETTINGS.join(', ')}
                                               (each configuration replaces the hub's previous one on those nodes;
                                               a setting the node's environment sets stays as the node has it)

Environment (or the same keys in a JSON file named by TELEMED_HUB_CONFIG):
  AMQP_URL                       broker, e.g. amqp://guest:guest@127.0.0.1:5672 (none: standalone)
  TELEMED_HUB_DATA_DIR           the hub's SQLite folder (default ./data-hub)
  TELEMED_HUB_DATABASE_URL       PostgreSQL instead of SQLite, e.g. postgres://hub@127.0.0.1:5432/telemed
  TELEMED_HUB_DATABASE_SCHEMA    the PostgreSQL schema of the hub's tables (default telemed_hub)
  TELEMED_HUB_PORT, HOST         where the fleet page and API listen (default 127.0.0.1:8090)
  TELEMED_HUB_OFFLINE_AFTER_MS   silence after which a node is offline (default 30000, at least 1000)
  TELEMED_SYNC_PREFIX            exchange and queue name prefix, same on nodes and hub (default telemed)
  TELEMED_HUB_SIGNING_KEY        PEM file of the hub's Ed25519 private key (rollouts)
  TELEMED_HUB_ADMIN_TOKEN        static bearer token of POST /api/rollouts (at least 32 characters; break-glass, automation)
  TELEMED_HUB_JWKS_URL           single sign-on: the identity provider's JWKS (https://; needs the two below)
  TELEMED_HUB_OIDC_ISSUER        the iss of the tokens, e.g. https://idp.example/realms/hospital
  TELEMED_HUB_OIDC_AUDIENCE      the aud of the tokens (the hub's client id)
  TELEMED_HUB_ADMIN_ROLE         role or group that may roll out (default fleet-admin; looked up in roles, role,
                                 groups, realm_access.roles, resource_access.<audience>.roles)
  TELEMED_HUB_ROLE_CLAIM         look the role up only in this claim instead
                                 (neither JWKS URL nor admin token: the API refuses rollouts)
  LOG_LEVEL                      fatal, error, warn, info (default), debug, trace, silent
`;

/** `hub keygen`: the hub keeps the private key; every node is given the public one. */
function keygen(args: string[]): number {
  const { flags } = parseArgs(args);
  if (typeof flags.out !== 'string') {
    process.stderr.write(`telemed-edge: hub keygen needs --out DIR\n\n${USAGE}`);
    return 2;
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  mkdirSync(flags.out, { recursive: true, mode: 0o700 });
  const keyFile = path.join(flags.out, 'hub-signing.key');
  const pubFile = path.join(flags.out, 'hub-signing.pub');
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  writeFileSync(pubFile, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644, flag: 'wx' });
  process.stdout.write(`private key: ${keyFile} (keep it on the hub)\npublic key:  ${pubFile} (give it to every node: TELEMED_HUB_PUBLIC_KEY)\n`);
  return 0;
}

/** `hub rollout`: reads and checks the bundle with the policy loader, then signs and publishes it. */
async function rollout(args: string[]): Promise<number> {
  const { flags } = parseArgs(args, ['all']);
  const fail = (msg: string, code = 2) => {
    process.stderr.write(`telemed-edge: ${msg}\n`);
    return code;
  };
  const target: RolloutTarget | undefined = typeof flags.node === 'string' ? { node: flags.node }
    : typeof flags.group === 'string' ? { group: flags.group } : flags.all === true ? { all: true } : undefined;
  if (!target || (typeof flags.bundle !== 'string') === (typeof flags.settings !== 'string')) return fail(`hub rollout needs a target (--node, --group or --all) and either --bundle DIR or --settings JSON\n\n${USAGE}`);
  const hubUrl = typeof flags.hub === 'string' ? flags.hub : undefined;
  const amqpUrl = process.env.AMQP_URL;
  const keyFile = process.env.TELEMED_HUB_SIGNING_KEY;
  const token = process.env.TELEMED_HUB_TOKEN || process.env.TELEMED_HUB_ADMIN_TOKEN;
  if (hubUrl && !token) return fail('hub rollout --hub needs TELEMED_HUB_TOKEN (a fleet admin\'s access token) or TELEMED_HUB_ADMIN_TOKEN', 78);
  if (!hubUrl && (!amqpUrl || !keyFile)) return fail('hub rollout needs AMQP_URL and TELEMED_HUB_SIGNING_KEY (or --hub URL with TELEMED_HUB_TOKEN or TELEMED_HUB_ADMIN_TOKEN)', 78);
  if (typeof flags.settings === 'string') return rolloutSettings(flags.settings, target, typeof flags.revision === 'string' ? flags.revision : configRevision(), hubUrl, token, amqpUrl, keyFile, fail);
  if (typeof flags.bundle !== 'string') return fail('hub rollout needs --bundle DIR');
  let files: Array<{ path: string; text: string }>;
  let revision: string;
  try {
    ({ revision, files } = bundleFiles(flags.bundle, typeof flags.revision === 'string' ? { revision: flags.revision } : {}));
  } catch (err) {
    return fail(`cannot read the bundle ${flags.bundle}: ${(err as Error).message}`);
  }
  if (hubUrl) {
    try {
      const res = await fetch(new URL('/api/rollouts', hubUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ target, revision, files }),
      });
      const body = (await res.json().catch(() => ({}))) as { id?: string; message?: string; actor?: string | null; nodes?: Array<{ node: string; status: string }> };
      if (res.status !== 202) return fail(`the hub refused the rollout (${res.status}): ${body.message ?? ''}`, 1);
      process.stdout.write(`rollout ${body.id} of ${revision} (${files.length} files) sent by the hub for ${body.actor ?? '?'}; ${body.nodes?.length ?? 0} node(s) pending: ${new URL(`/api/rollouts/${body.id}`, hubUrl).toString()}\n`);
      return 0;
    } catch (err) {
      return fail(`cannot reach the hub at ${hubUrl}: ${(err as Error).message}`, 1);
    }
  }
  if (!amqpUrl || !keyFile) return fail('hub rollout needs AMQP_URL and TELEMED_HUB_SIGNING_KEY', 78);
  try {
    const key = await rolloutOnce({ amqpUrl, prefix: process.env.TELEMED_SYNC_PREFIX || 'telemed', signingKey: readFileSync(keyFile, 'utf8'), target, revision, files });
    process.stdout.write(`bundle ${revision} (${files.length} files) sent to ${key}, confirmed by the broker\n`);
    return 0;
  } catch (err) {
    return fail(`rollout failed: ${(err as Error).message}`, 1);
  }
}

/** `hub rollout --settings`: checks the settings as the nodes will, then sends them through the hub's API or straight to the broker. */
async function rolloutSettings(
  source: string, target: RolloutTarget, revision: string, hubUrl: string | undefined, token: string | undefined,
  amqpUrl: string | undefined, keyFile: string | undefined, fail: (msg: string, code?: number) => number,
): Promise<number> {
  let settings: unknown;
  try {
    settings = JSON.parse(source.startsWith('@') ? readFileSync(source.slice(1), 'utf8') : source);
  } catch (err) {
    return fail(`--settings: not a JSON object${source.startsWith('@') ? ` in ${source.slice(1)}` : ''}: ${(err as Error).message}`);
  }
  const check = checkRemoteSettings(settings);
  if (!check.ok) return fail(`--settings: ${check.message}`);
  const body = settings as Record<string, unknown>;
  if (hubUrl) {
    try {
      const res = await fetch(new URL('/api/rollouts', hubUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ kind: 'config', target, revision, settings: body }),
      });
      const r = (await res.json().catch(() => ({}))) as { id?: string; message?: string; nodes?: Array<{ node: string; status: string }> };
      if (res.status !== 202) return fail(`the hub refused the rollout (${res.status}): ${r.message ?? ''}`, 1);
      process.stdout.write(`configuration rollout ${r.id} of ${revision} (${Object.keys(body).join(', ') || 'no settings: local values'}) sent by the hub; ${r.nodes?.length ?? 0} node(s) pending: ${new URL(`/api/rollouts/${r.id}`, hubUrl).toString()}\n`);
      return 0;
    } catch (err) {
      return fail(`cannot reach the hub at ${hubUrl}: ${(err as Error).message}`, 1);
    }
  }
  if (!amqpUrl || !keyFile) return fail('hub rollout needs AMQP_URL and TELEMED_HUB_SIGNING_KEY', 78);
  try {
    const key = await rolloutOnce({ amqpUrl, prefix: process.env.TELEMED_SYNC_PREFIX || 'telemed', signingKey: readFileSync(keyFile, 'utf8'), target, revision, settings: body });
    process.stdout.write(`configuration ${revision} (${Object.keys(body).join(', ') || 'no settings: local values'}) sent to ${key}, confirmed by the broker\n`);
    return 0;
  } catch (err) {
    return fail(`rollout failed: ${(err as Error).message}`, 1);
  }
}

export const hubCommand: Command = {
  summary: 'run the central hub (fleet registry, aggregates)',
  async run(args) {
    if (args.includes('--help') || args.includes('-h')) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (args[0] === 'keygen') return keygen(args.slice(1));
    if (args[0] === 'rollout') return rollout(args.slice(1));
    if (args[0] !== undefined) {
      process.stderr.write(`telemed-edge: unknown hub command '${args[0]}'\n\n${USAGE}`);
      return 2;
    }
    let c: ReturnType<typeof loadHubConfig>;
    try {
      c = loadHubConfig();
    } catch (err) {
      if (!(err instanceof HubConfigError)) throw err;
      process.stderr.write(`telemed-edge: ${err.message}\n`);
      return 78; // EX_CONFIG
    }
    const logger = createLogger({ level: c.logLevel, name: 'telemed-edge-hub' });
    const hub = createHub({
      logger, prefix: c.syncPrefix, dataDir: c.dataDir, port: c.port, host: c.host, offlineAfterMs: c.offlineAfterMs,
      ...(c.amqpUrl ? { amqpUrl: c.amqpUrl } : {}),
      ...(c.databaseUrl ? { databaseUrl: c.databaseUrl, databaseSchema: c.databaseSchema } : {}),
      ...(c.signingKey ? { signingKey: c.signingKey } : {}),
      ...(c.adminToken ? { adminToken: c.adminToken } : {}),
      ...(c.jwksUrl && c.oidcIssuer && c.oidcAudience
        ? { oidc: { jwksUrl: c.jwksUrl, issuer: c.oidcIssuer, audience: c.oidcAudience, adminRole: c.adminRole, ...(c.roleClaim ? { roleClaim: c.roleClaim } : {}) } }
        : {}),
    });
    try {
      await hub.start();
    } catch (err) {
      await hub.close().catch(() => undefined);
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        process.stderr.write(`telemed-edge: port ${c.port} is already in use (set TELEMED_HUB_PORT)\n`);
        return 78;
      }
      if (c.databaseUrl) {
        process.stderr.write(`telemed-edge: TELEMED_HUB_DATABASE_URL: cannot use PostgreSQL at ${redactUrl(c.databaseUrl)}: ${(err as Error).message}\n`);
        return 78;
      }
      throw err;
    }
    const storeText = c.databaseUrl ? `postgresql ${redactUrl(c.databaseUrl)} schema ${c.databaseSchema}` : `sqlite ${c.dataDir}`;
    const who = [c.jwksUrl ? `single sign-on: ${c.oidcIssuer}, role ${c.adminRole}` : '', c.adminToken ? 'admin token' : ''].filter(Boolean).join('; ');
    const rollouts = who && c.signingKey ? `POST /api/rollouts (${who})` : 'off (set TELEMED_HUB_SIGNING_KEY and TELEMED_HUB_JWKS_URL or TELEMED_HUB_ADMIN_TOKEN)';
    process.stdout.write(`\n  telemed-edge hub is up: ${hub.url}   fleet API: ${hub.url}/api/nodes\n  store: ${storeText}   broker: ${c.amqpUrl ? redactUrl(c.amqpUrl) : 'none (standalone: set AMQP_URL)'}\n  rollouts: ${rollouts}\n\n`);
    return new Promise<number>((resolve) => {
      const stop = () => {
        hub.close().then(() => resolve(0), () => resolve(1));
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
  },
};
