/**
 * Node configuration: environment variables over an optional JSON file
 * (`TELEMED_CONFIG`), validated at start. A bad setting stops the start with a
 * message naming it (never a silent default).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);
const bool = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])])
  .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes');

export const ConfigSchema = z
  .object({
    /** HTTP port of the API, web app and signaling. */
    port: port.default(8080),
    /** Address to listen on. */
    host: z.string().min(1).default('0.0.0.0'),
    /** Folder of the node's SQLite file, keys and policy state. */
    dataDir: z.string().min(1).default('./data'),
    /** Public base URL printed in the banner and in links (default http://localhost:PORT). */
    publicUrl: z.url().optional(),
    /** Node identity in the fleet. */
    nodeId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, . _ - (1-64)').default('edge-local'),
    nodeCity: z.string().max(100).default('local'),
    /** Rollout groups of this node (comma-separated, or an array in the JSON file): the hub's group rollouts reach it. */
    nodeGroups: z
      .union([z.string(), z.array(z.string())])
      .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((g) => g.trim()).filter((g) => g !== ''))
      .pipe(z.array(z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'each group: letters, digits, . _ - (1-64), comma-separated')).max(32, 'at most 32 groups'))
      .default([]),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Base64 of 32 bytes: the data key for encryption at rest. Default: a key file made on first start. */
    dataKey: z
      .string()
      .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be base64 of exactly 32 bytes')
      .optional(),
    /** OIDC: JWKS URL of the identity provider. When set, demo mode is off. */
    jwksUrl: z.url().optional(),
    /** Expected `iss` of tokens from the identity provider. */
    oidcIssuer: z.string().min(1).optional(),
    /** Expected `aud` of tokens. */
    oidcAudience: z.string().min(1).optional(),
    /** Seed demo accounts and print sign-in links (default: on when no identity provider is set). */
    demo: bool.optional(),
    /** SQLite `synchronous`: FULL survives power loss; NORMAL survives a process crash (kill -9). */
    dbSync: z.enum(['full', 'normal']).default('full'),
    /** Largest request body accepted, in bytes. */
    bodyLimit: z.coerce.number().int().min(1024).max(64 * 1024 * 1024).default(4 * 1024 * 1024),
    /** TURN URLs handed to call participants (comma-separated, e.g. `turn:turn.clinic.example:3478?transport=udp`). */
    turnUrls: z.string().min(1).optional(),
    /** The coturn `static-auth-secret` used to mint time-limited TURN credentials (coturn REST scheme). */
    turnSecret: z.string().min(16, 'must be at least 16 characters').optional(),
    /** `relay`: browsers in calls use TURN relay candidates only (strict hospital firewalls; needs TURN); `all`: peer to peer when possible. */
    icePolicy: z.enum(['all', 'relay']).default('all'),
    /** RabbitMQ between this node and the hub (e.g. amqp://guest:guest@127.0.0.1:5672); without it the node runs standalone. */
    amqpUrl: z.string().regex(/^amqps?:\/\//, 'must be an amqp:// or amqps:// URL').optional(),
    /** The hub's Ed25519 public key (a PEM file, as `telemed-edge hub keygen` writes it, or the PEM text): bundles rolled out by the hub are checked with it. Without it, the node takes no bundle from the hub. */
    hubPublicKey: z.string().min(1).optional(),
    /** Prefix of the fleet's exchanges and queues (docs/SYNC.md). */
    syncPrefix: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, _ - (1-32)').default('telemed'),
    /** Register the shipped Wasm functions (news2, ecg-hr, deidentify) at start when missing. */
    functionsShipped: bool.default(true),
    /** Wasm functions: node-wide limits, each the default and the most a function may ask for at registration. */
    fnMaxMemoryPages: z.coerce.number().int().min(1).max(65536, 'at most 65536 (4 GiB, all of wasm32)').default(256),
    fnTimeoutMs: z.coerce.number().int().min(1).max(600_000).default(1000),
    fnMaxOutputBytes: z.coerce.number().int().min(2).max(64 * 1024 * 1024).default(256 * 1024),
    fnMaxStderrBytes: z.coerce.number().int().min(0).max(1024 * 1024).default(4096),
    /**
     * Small-count suppression of the hourly figures sent to the hub: a figure
     * (metric, hour) counted fewer times is held back until it reaches this
     * count, and dropped if its hour ends first. 1: none.
     */
    fleetMinCount: z.coerce.number().int().min(1).max(1000).default(1),
    /** Sandbox worker threads kept started for Wasm functions. */
    fnWorkers: z.coerce.number().int().min(1).max(64).default(2),
    /**
     * Microseconds a Wasm function call may hold the event loop waiting for its
     * worker's reply (polling, or blocked while the worker has no core) before it
     * waits asynchronously; only a call alone in flight does. 0: never.
     */
    fnSpinUs: z.coerce.number().int().min(0).max(1000, 'at most 1000 (1 ms of event loop per call)').default(1000),
    /**
     * Fuel of a Wasm function call run on the node's own thread (a metered
     * copy of the module; about one unit per Wasm expression, ~0.15-0.7 ns
     * each here): a call that needs more, or traps, runs again on a worker.
     * The most one call can hold the event loop. 0: every call on a worker.
     */
    fnInlineFuel: z.coerce.number().int().min(0).max(100_000_000, 'at most 100000000 (~70 ms of event loop per call)').default(1_000_000),
    /** Folder or .tar.gz of the Rego policy bundle (default: the shipped `policies/`); watched for changes. */
    policyDir: z.string().min(1).optional(),
    /** Grace period for in-flight requests on SIGTERM, in ms. */
    shutdownTimeoutMs: z.coerce.number().int().min(0).max(120_000).default(10_000),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema> & {
  demo: boolean;
  publicUrl: string;
  /** Remotely settable keys set by an environment variable on this node: a configuration from the hub does not change them. */
  pinned?: RemoteSettingKey[];
};

/**
 * The settings the hub may roll out to nodes (docs/SYNC.md, "Configuration
 * rollouts"): each is applied live, without a restart.
 *   logLevel           the level of every log line from then on
 *   nodeGroups         the node's queue is bound to the new groups' routing keys, unbound from the old
 *   fnTimeoutMs        Wasm functions: the node-wide deadline, for registrations and for every call from then on
 *   fnMaxMemoryPages   Wasm functions: the node-wide memory cap for later registrations
 *   fnMaxOutputBytes   Wasm functions: the stdout cap for later registrations (up to what the running sandbox channel holds)
 *   fnMaxStderrBytes   Wasm functions: the stderr cap for later registrations (idem)
 *   shutdownTimeoutMs  the grace period of the next SIGTERM
 */
export const REMOTE_SETTINGS = ['logLevel', 'nodeGroups', 'fleetMinCount', 'fnTimeoutMs', 'fnMaxMemoryPages', 'fnMaxOutputBytes', 'fnMaxStderrBytes', 'shutdownTimeoutMs'] as const;
export type RemoteSettingKey = (typeof REMOTE_SETTINGS)[number];

/** Settings never sent over the fleet: secrets and trust anchors stay with the node's operator. */
export const SECRET_SETTINGS: ReadonlySet<string> = new Set(['dataKey', 'turnSecret', 'amqpUrl', 'hubPublicKey', 'jwksUrl', 'oidcIssuer', 'oidcAudience']);

const unwrapDefault = (t: z.ZodType): z.ZodType => (t instanceof z.ZodDefault ? (t.unwrap() as z.ZodType) : t);

/** The settings a configuration from the hub may carry: the same field definitions as {@link ConfigSchema}, each optional, nothing else. */
export const RemoteSettingsSchema = z
  .object(Object.fromEntries(REMOTE_SETTINGS.map((k) => [k, unwrapDefault(ConfigSchema.shape[k] as z.ZodType).optional()])) as {
    [K in RemoteSettingKey]: z.ZodOptional<z.ZodType<z.output<typeof ConfigSchema>[K], z.input<typeof ConfigSchema>[K]>>;
  })
  .strict();

export type RemoteSettings = Partial<Pick<z.output<typeof ConfigSchema>, RemoteSettingKey>>;

/** Why a configuration from the hub is refused, whole: a closed code and the setting it is about. */
export type RemoteSettingsProblem = { reason: 'malformed' | 'unknown_setting' | 'not_remote' | 'secret' | 'invalid_value'; key?: string; message: string };

const SETTING_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/**
 * Checks a configuration the hub rolls out (at the hub before signing, and on
 * the node after the signature): every key must be remotely settable and every
 * value valid; the first problem refuses it whole, naming the key.
 */
export function checkRemoteSettings(raw: unknown): { ok: true; settings: RemoteSettings } | ({ ok: false } & RemoteSettingsProblem) {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, reason: 'malformed', message: 'settings must be a JSON object' };
  const remote = new Set<string>(REMOTE_SETTINGS);
  const known = new Set(Object.keys(ConfigSchema.shape));
  for (const key of Object.keys(raw).sort()) {
    if (remote.has(key)) continue;
    const k = SETTING_NAME.test(key) ? key : '?';
    if (SECRET_SETTINGS.has(key)) return { ok: false, reason: 'secret', key, message: `${key}: a secret or trust anchor, set only on the node itself, never rolled out` };
    if (known.has(key)) return { ok: false, reason: 'not_remote', key, message: `${key}: not remotely settable (it takes effect only at start); settable: ${REMOTE_SETTINGS.join(', ')}` };
    return { ok: false, reason: 'unknown_setting', key: k, message: `${k}: unknown setting; settable: ${REMOTE_SETTINGS.join(', ')}` };
  }
  const r = RemoteSettingsSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    return { ok: false, reason: 'invalid_value', key, message: `${key}: ${issue.message}` };
  }
  return { ok: true, settings: r.data as RemoteSettings };
}

/** The environment variable of a setting (for messages: "pinned by LOG_LEVEL"). */
export function envNameOf(key: string): string | undefined {
  return Object.entries(ENV).find(([, k]) => k === key)?.[0];
}

/** Environment variable → config key. */
const ENV: Record<string, keyof z.input<typeof ConfigSchema>> = {
  PORT: 'port',
  HOST: 'host',
  TELEMED_DATA_DIR: 'dataDir',
  TELEMED_PUBLIC_URL: 'publicUrl',
  TELEMED_NODE_ID: 'nodeId',
  TELEMED_NODE_CITY: 'nodeCity',
  TELEMED_NODE_GROUPS: 'nodeGroups',
  LOG_LEVEL: 'logLevel',
  TELEMED_DATA_KEY: 'dataKey',
  TELEMED_JWKS_URL: 'jwksUrl',
  TELEMED_OIDC_ISSUER: 'oidcIssuer',
  TELEMED_OIDC_AUDIENCE: 'oidcAudience',
  TELEMED_DEMO: 'demo',
  TELEMED_DB_SYNC: 'dbSync',
  TELEMED_BODY_LIMIT: 'bodyLimit',
  TELEMED_SHUTDOWN_TIMEOUT_MS: 'shutdownTimeoutMs',
  TELEMED_POLICY_DIR: 'policyDir',
  TELEMED_TURN_URLS: 'turnUrls',
  AMQP_URL: 'amqpUrl',
  TELEMED_SYNC_PREFIX: 'syncPrefix',
  TELEMED_FLEET_MIN_COUNT: 'fleetMinCount',
  TELEMED_HUB_PUBLIC_KEY: 'hubPublicKey',
  TELEMED_FUNCTIONS_SHIPPED: 'functionsShipped',
  TELEMED_FN_MAX_MEMORY_PAGES: 'fnMaxMemoryPages',
  TELEMED_FN_TIMEOUT_MS: 'fnTimeoutMs',
  TELEMED_FN_MAX_OUTPUT_BYTES: 'fnMaxOutputBytes',
  TELEMED_FN_MAX_STDERR_BYTES: 'fnMaxStderrBytes',
  TELEMED_FN_WORKERS: 'fnWorkers',
  TELEMED_FN_SPIN_US: 'fnSpinUs',
  TELEMED_FN_INLINE_FUEL: 'fnInlineFuel',
  TELEMED_TURN_SECRET: 'turnSecret',
  TELEMED_ICE_POLICY: 'icePolicy',
};

/** The error a bad setting raises; its message names the setting and where it came from. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Reads the configuration: defaults < the JSON file named by `TELEMED_CONFIG` < environment.
 * Throws {@link ConfigError} naming every bad setting.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, unknown> = {};
  const origin: Record<string, string> = {};
  const file = env.TELEMED_CONFIG;
  if (file !== undefined && file !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`TELEMED_CONFIG: cannot read ${file}: ${(err as Error).message}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ConfigError(`TELEMED_CONFIG: ${file} must hold a JSON object`);
    }
    for (const [k, v] of Object.entries(parsed)) {
      raw[k] = v;
      origin[k] = `${k} in ${file}`;
    }
  }
  for (const [name, key] of Object.entries(ENV)) {
    const v = env[name];
    if (v !== undefined && v !== '') {
      raw[key] = v;
      origin[key] = name;
    }
  }
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      const where = origin[key] ?? (key === '' ? 'configuration' : key);
      if (issue.code === 'unrecognized_keys') return `${origin[issue.keys[0] ?? ''] ?? 'config file'}: unknown setting(s) ${issue.keys.join(', ')}`;
      return `${where}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const c = result.data;
  if ((c.turnUrls === undefined) !== (c.turnSecret === undefined)) {
    throw new ConfigError(`${c.turnUrls === undefined ? 'TELEMED_TURN_URLS' : 'TELEMED_TURN_SECRET'}: TURN needs both TELEMED_TURN_URLS and TELEMED_TURN_SECRET`);
  }
  if (c.icePolicy === 'relay' && c.turnUrls === undefined) {
    throw new ConfigError(`${origin.icePolicy ?? 'icePolicy'}: relay needs a TURN server (TELEMED_TURN_URLS and TELEMED_TURN_SECRET)`);
  }
  const demo = c.demo ?? c.jwksUrl === undefined;
  if (demo && c.jwksUrl !== undefined) {
    throw new ConfigError('TELEMED_DEMO: demo accounts cannot be used with an identity provider (TELEMED_JWKS_URL)');
  }
  const remote = new Set<string>(REMOTE_SETTINGS);
  const pinned = REMOTE_SETTINGS.filter((k) => origin[k] !== undefined && origin[k] in ENV && remote.has(k));
  return {
    ...c,
    pinned,
    dataDir: path.resolve(c.dataDir),
    demo,
    publicUrl: (c.publicUrl ?? `http://localhost:${c.port}`).replace(/\/$/, ''),
  };
}
