/**
 * Shared ground of the hub tests: the stores a hub runs on. PostgreSQL
 * (127.0.0.1:5432, trust, database `test`) is skipped with a reason when
 * unreachable and required when CI=true; each run uses a schema of its own,
 * dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
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
