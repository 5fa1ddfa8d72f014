/**
 * The hub's configuration: environment variables over an optional JSON file
 * (`TELEMED_HUB_CONFIG`), validated with zod at start. A bad setting stops the
 * start with a message naming it and where it came from; secrets (database
 * password, admin token) never appear in a message. Single sign-on for the
 * write API needs the JWKS URL, issuer and audience together.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ed25519Key } from '../sync/index.ts';
import { SCHEMA_NAME } from './ledger-pg.ts';

/** An https:// URL, or http:// to a loopback address (a test or a local provider): keys fetched in the clear could be swapped. */
function jwksUrlOk(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'https:' || (u.protocol === 'http:' && /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(u.hostname));
  } catch {
    return false;
  }
}

export const HubConfigSchema = z
  .object({
    /** HTTP port of the fleet page and API (0: any free port). */
    port: z.coerce.number({ error: 'must be a port number (0-65535)' }).int('must be a port number (0-65535)').min(0, 'must be a port number (0-65535)').max(65535, 'must be a port number (0-65535)').default(8090),
    /** Address to listen on. */
    host: z.string().min(1).default('127.0.0.1'),
    /** Folder of the hub's SQLite file (the default store) and its key. */
    dataDir: z.string().min(1).default('./data-hub'),
    /** PostgreSQL instead of SQLite, e.g. postgres://hub@db.example:5432/telemed. */
    databaseUrl: z.string().regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// or postgresql:// URL').optional(),
    /** The PostgreSQL schema of the hub's tables (created when missing). */
    databaseSchema: z.string().regex(SCHEMA_NAME, 'lower-case letters, digits and _ (1-63), starting with a letter or _').default('telemed_hub'),
    /** RabbitMQ; without it the hub serves what it holds and says it is standalone. */
    amqpUrl: z.string().regex(/^amqps?:\/\/\S+$/, 'must be an amqp:// or amqps:// URL').optional(),
    /** Prefix of the fleet's exchanges and queues (same on nodes and hub). */
    syncPrefix: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, _ - (1-32)').default('telemed'),
    /** Silence after which a node counts as offline, in ms. */
    offlineAfterMs: z.coerce.number({ error: 'must be a whole number of ms' }).int('must be a whole number of ms').min(1000, 'must be at least 1000 (ms)').max(7 * 24 * 3600 * 1000, 'must be at most a week (ms)').default(30_000),
    /** PEM file of the hub's Ed25519 private key (bundle signing); without it rollouts are refused. */
    signingKeyPath: z.string().min(1).optional(),
    /** Static bearer token of the rollout API (`POST /api/rollouts`): break-glass and automation. */
    adminToken: z.string().min(32, 'must be at least 32 characters (e.g. openssl rand -hex 32)').max(512).optional(),
    /** Single sign-on: the identity provider's JSON Web Key Set; with it, issuer and audience are required. */
    jwksUrl: z.string().refine(jwksUrlOk, 'must be an https:// URL (http:// only on localhost)').optional(),
    /** Expected `iss` of the tokens, exactly as the provider writes it. */
    oidcIssuer: z.string().min(1).max(500).optional(),
    /** Expected `aud` of the tokens (the hub's client id at the provider). */
    oidcAudience: z.string().min(1).max(500).optional(),
    /** The role or group value that makes a fleet admin. */
    adminRole: z.string().regex(/^\S{1,200}$/, '1-200 characters without spaces').default('fleet-admin'),
    /** Look the admin role up only in this top-level claim (default: roles, role, groups, realm_access.roles, resource_access.<audience>.roles). */
    roleClaim: z.string().regex(/^\S{1,200}$/, '1-200 characters without spaces').optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.jwksUrl !== undefined) {
      if (c.oidcIssuer === undefined) ctx.addIssue({ code: 'custom', path: ['oidcIssuer'], message: 'required with TELEMED_HUB_JWKS_URL (the iss of the tokens)' });
      if (c.oidcAudience === undefined) ctx.addIssue({ code: 'custom', path: ['oidcAudience'], message: 'required with TELEMED_HUB_JWKS_URL (the aud of the tokens)' });
    } else {
      for (const k of ['oidcIssuer', 'oidcAudience', 'roleClaim'] as const) {
        if (c[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'has no effect without TELEMED_HUB_JWKS_URL (set it too, or unset this)' });
      }
    }
  });


export type HubConfig = z.infer<typeof HubConfigSchema>;

/** Environment variable → setting. */
export const HUB_ENV: Record<string, keyof z.input<typeof HubConfigSchema>> = {
  TELEMED_HUB_PORT: 'port',
  HOST: 'host',
  TELEMED_HUB_DATA_DIR: 'dataDir',
  TELEMED_HUB_DATABASE_URL: 'databaseUrl',
  TELEMED_HUB_DATABASE_SCHEMA: 'databaseSchema',
  AMQP_URL: 'amqpUrl',
  TELEMED_SYNC_PREFIX: 'syncPrefix',
  TELEMED_HUB_OFFLINE_AFTER_MS: 'offlineAfterMs',
  TELEMED_HUB_SIGNING_KEY: 'signingKeyPath',
  TELEMED_HUB_ADMIN_TOKEN: 'adminToken',
  TELEMED_HUB_JWKS_URL: 'jwksUrl',
  TELEMED_HUB_OIDC_ISSUER: 'oidcIssuer',
  TELEMED_HUB_OIDC_AUDIENCE: 'oidcAudience',
  TELEMED_HUB_ADMIN_ROLE: 'adminRole',
  TELEMED_HUB_ROLE_CLAIM: 'roleClaim',
  LOG_LEVEL: 'logLevel',
};

/** The environment variable of a setting (for a message about one that was not given). */
const envName = (key: string): string => Object.entries(HUB_ENV).find(([, k]) => k === key)?.[0] ?? key;

export class HubConfigError extends Error {
  override readonly name = 'HubConfigError';
}

/** Reads defaults < `TELEMED_HUB_CONFIG` (JSON) < environment; throws {@link HubConfigError} naming every bad setting. */
export function loadHubConfig(env: NodeJS.ProcessEnv = process.env): HubConfig & { signingKey?: string } {
  const raw: Record<string, unknown> = {};
  const origin: Record<string, string> = {};
  const file = env.TELEMED_HUB_CONFIG;
  if (file !== undefined && file !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new HubConfigError(`TELEMED_HUB_CONFIG: cannot read ${file}: ${(err as Error).message}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new HubConfigError(`TELEMED_HUB_CONFIG: ${file} must hold a JSON object`);
    for (const [k, v] of Object.entries(parsed)) {
      raw[k] = v;
      origin[k] = `${k} in ${file}`;
    }
  }
  for (const [name, key] of Object.entries(HUB_ENV)) {
    const v = env[name];
    if (v !== undefined && v !== '') {
      raw[key] = v;
      origin[key] = name;
    }
  }
  const result = HubConfigSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      if (issue.code === 'unrecognized_keys') return `${file ?? 'config file'}: unknown setting(s) ${issue.keys.join(', ')}`;
      const key = String(issue.path[0] ?? '');
      return `${origin[key] ?? envName(key)}: ${issue.message}`;
    });
    throw new HubConfigError(`invalid hub configuration:\n  ${lines.join('\n  ')}`);
  }
  const c = result.data;
  let signingKey: string | undefined;
  if (c.signingKeyPath !== undefined) {
    const where = origin.signingKeyPath ?? 'signingKeyPath';
    try {
      signingKey = readFileSync(c.signingKeyPath, 'utf8');
    } catch (err) {
      throw new HubConfigError(`${where}: cannot read ${c.signingKeyPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    try {
      ed25519Key(signingKey, 'private');
    } catch {
      throw new HubConfigError(`${where}: ${c.signingKeyPath} is not an Ed25519 private key in PEM (make one with telemed-edge hub keygen)`);
    }
  }
  return { ...c, dataDir: path.resolve(c.dataDir), ...(signingKey ? { signingKey } : {}) };
}
