/**
 * Shared ground of the hub tests: the stores a hub runs on. PostgreSQL
 * (127.0.0.1:5432, trust, database `test`) is skipped with a reason when
 * unreachable and required when CI=true; each run uses a schema of its own,
 * dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import pg from 'pg';
import type { HubOptions } from '../src/hub/index.ts';
import type { BundleFileText } from '../src/sync/index.ts';
import { serviceSkip, TcpProxy } from './sync-harness.ts';

export const PG_URL = process.env.PG_TEST_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** undefined when PostgreSQL answers; otherwise the reason to skip (throws under CI=true). */
export function pgSkip(): Promise<string | undefined> {
  const u = new URL(PG_URL);
  return serviceSkip('PostgreSQL', u.hostname, Number(u.port || 5432));
}

/** A schema name unique to this run. */
export const runSchema = () => `hub_t${randomBytes(5).toString('hex')}`;

/** Drops a run's schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  if (!/^hub_t[0-9a-f]+$/.test(schema)) throw new Error(`not a test schema: ${schema}`);
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await c.end();
  }
}

/** Whether a schema exists (the tests check their own clean-up). */
export async function schemaExists(schema: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    return (await c.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [schema])).rowCount === 1;
  } finally {
    await c.end();
  }
}

/** A TCP proxy in front of PostgreSQL that the test owns: `cut()` drops every connection and refuses new ones until `restore()`. */
export class PgProxy extends TcpProxy {
  constructor() {
    const u = new URL(PG_URL);
    super({ host: u.hostname, port: Number(u.port || 5432) });
  }

  /** The database URL through the proxy. */
  override get url(): string {
    const u = new URL(PG_URL);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }
}

/** An identity provider for the hub's single sign-on tests: serves a JWKS (or an error while `failing`) and signs tokens. */
export interface TestIdp {
  issuer: string;
  audience: string;
  jwksUrl: string;
  /** While true the JWKS endpoint answers 503 (a provider down). */
  failing: boolean;
  /** A token signed with the published key: `sub` alice-sub, `preferred_username` alice, 5 min; claims and fields overridable; `typ`: the JOSE header's (none by default). */
  sign(claims?: Record<string, unknown>, o?: { iss?: string; aud?: string; sub?: string | null; expSecondsFromNow?: number; key?: 'published' | 'other'; typ?: string }): Promise<string>;
  close(): Promise<void>;
}

export async function startTestIdp(): Promise<TestIdp> {
  const published = await generateKeyPair('RS256');
  const other = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(published.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const idp: TestIdp & { server?: http.Server } = {} as TestIdp;
  const server = http.createServer((_req, res) => {
    if (idp.failing) {
      res.writeHead(503).end('down for maintenance');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = 'https://idp.hospital.example/realms/fleet';
  const audience = 'telemed-hub';
  return Object.assign(idp, {
    issuer, audience, failing: false,
    jwksUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/realms/fleet/protocol/openid-connect/certs`,
    async sign(claims: Record<string, unknown> = {}, o: { iss?: string; aud?: string; sub?: string | null; expSecondsFromNow?: number; key?: 'published' | 'other'; typ?: string } = {}) {
      const now = Math.floor(Date.now() / 1000);
      const jwt = new SignJWT({ preferred_username: 'alice', ...claims }).setProtectedHeader({ alg: 'RS256', kid: 'k1', ...(o.typ !== undefined ? { typ: o.typ } : {}) })
        .setIssuer(o.iss ?? issuer).setAudience(o.aud ?? audience).setIssuedAt(now - 300).setExpirationTime(now + (o.expSecondsFromNow ?? 300));
      if (o.sub !== null) jwt.setSubject(o.sub ?? 'alice-sub');
      const key: CryptoKey = (o.key === 'other' ? other : published).privateKey;
      return jwt.sign(key);
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  });
}

/** A test bundle that lets de-identified figures go to the hub (so a node keeps sending heartbeats once it is in force). */
export const reportingBundle = (revision: string): BundleFileText[] => [
  { path: '.manifest', text: JSON.stringify({ revision, roots: ['healthcare'] }) },
  { path: 'healthcare/p.rego', text: 'package healthcare.telemedicine\n\nimport rego.v1\n\ndefault allow := false\n\nallow if {\n\tinput.action == "data_transfer"\n\tinput.resource.classification == "deidentified"\n}\n' },
];

export interface HubStore {
  name: string;
  /** Why this store's tests skip (no broker, no PostgreSQL), or undefined. */
  skip: string | undefined;
  options: (dir: string, schema: string) => Partial<HubOptions>;
}

/** The hub's two ledgers, each test run on both: SQLite in `dir`, PostgreSQL in `schema`. */
export const hubStores = (brokerReason: string | undefined, pgReason: string | undefined): HubStore[] => [
  { name: 'SQLite', skip: brokerReason, options: (dir) => ({ dataDir: dir }) },
  { name: 'PostgreSQL', skip: pgReason, options: (_dir, schema) => ({ databaseUrl: PG_URL, databaseSchema: schema }) },
];
