/**
 * The hub's write API under single sign-on (src/hub/auth.ts): a fleet admin's
 * token from the identity provider rolls out and is recorded as the actor (on
 * SQLite and PostgreSQL), the static admin token still works (actor
 * `admin-token`), every other token is refused with 401 / 403 and a reason
 * (an ID token issued to the hub's client among them: only access tokens),
 * an unreachable provider gives 503 while the hub goes on; the settings that
 * turn it on are checked at start; stores made before the actor column keep
 * working; the fleet page shows who rolled out.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import pg from 'pg';
import { createHub, HubConfigError, HUB_MIGRATIONS, loadHubConfig, PgLedger, SqliteLedger, type RolloutRecord } from '../src/hub/index.ts';
import { createLogger } from '../src/observability/index.ts';
import { openStore } from '../src/store/index.ts';
import type { BundleFileText } from '../src/sync/index.ts';
import { CHROMIUM, CHROMIUM_ARGS, browserSkip } from './helpers/browser.ts';
import { brokerSkip, brokerUrl, deleteTopology, quietLogger, runPrefix, until } from './sync-harness.ts';
import { PG_URL, dropSchema, hubStores, pgSkip, runSchema, startTestIdp, type TestIdp } from './hub-harness.ts';

const brokerReason = await brokerSkip();
const pgReason = brokerReason ?? (await pgSkip());
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const bundle = (revision: string): BundleFileText[] => [
  { path: '.manifest', text: JSON.stringify({ revision, roots: ['p'] }) },
  { path: 'p/p.rego', text: 'package p\n\nimport rego.v1\n\ndefault allow := false\n' },
];

type Answer = { status: number; body: { error?: string; message?: string } & Partial<RolloutRecord>; challenge: string | null };

/** POST /api/rollouts of a small bundle to one node, with `token` as bearer (or `header` as the whole Authorization). */
async function post(url: string, o: { token?: string; header?: string; node: string; revision: string }): Promise<Answer> {
  const authorization = o.header ?? (o.token !== undefined ? `Bearer ${o.token}` : undefined);
  const res = await fetch(`${url}/api/rollouts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization !== undefined ? { authorization } : {}) },
    body: JSON.stringify({ target: { node: o.node }, revision: o.revision, files: bundle('x') }),
  });
  return { status: res.status, body: (await res.json()) as Answer['body'], challenge: res.headers.get('www-authenticate') };
}

const rollouts = async (url: string): Promise<RolloutRecord[]> => ((await (await fetch(`${url}/api/rollouts`)).json()) as { rollouts: RolloutRecord[] }).rollouts;

describe('hub write API: who may roll out (no broker needed)', () => {
  let idp: TestIdp;
  before(async () => {
    idp = await startTestIdp();
  });
  after(async () => {
    await idp.close();
  });

  it('refuses a token that is missing, malformed, expired, from another issuer, for another audience or signed by another key (401 with WWW-Authenticate and the reason, never the token); a valid token without the role gets 403 naming the role; nothing is recorded', async () => {
    const adminToken = randomBytes(24).toString('hex');
    let logged = '';
    const logger = createLogger({ level: 'info', destination: new Writable({ write(chunk, _enc, done) { logged += String(chunk); done(); } }) });
    const hub = createHub({ logger, memory: true, port: 0, adminToken, oidc: { jwksUrl: idp.jwksUrl, issuer: idp.issuer, audience: idp.audience } });
    await hub.start();
    const sent: string[] = [];
    try {
      const at = (o: { token?: string; header?: string }) => post(hub.url, { ...o, node: 'n1', revision: 'r1' });
      const missing = await at({});
      assert.equal(missing.status, 401);
      assert.match(missing.challenge ?? '', /^Bearer realm="telemed-edge hub"/);
      assert.match(missing.body.message ?? '', /bearer token is required.*fleet-admin.*admin token/);
      assert.equal((await at({ header: 'Basic dXNlcjpwYXNz' })).status, 401);

      const cases: Array<[string, string, RegExp]> = [
        ['expired', await idp.sign({ roles: ['fleet-admin'] }, { expSecondsFromNow: -120 }), /token expired/],
        ['another issuer', await idp.sign({ roles: ['fleet-admin'] }, { iss: 'https://evil.example/realms/fleet' }), new RegExp(`another issuer \\(expected ${idp.issuer.replace(/[./]/g, '\\$&')}\\)`)],
        ['another audience', await idp.sign({ roles: ['fleet-admin'] }, { aud: 'some-other-app' }), /another audience \(expected telemed-hub\)/],
        ['another key', await idp.sign({ roles: ['fleet-admin'] }, { key: 'other' }), /signature does not verify/],
        ['no subject', await idp.sign({ roles: ['fleet-admin'], preferred_username: undefined }, { sub: null }), /no subject/],
        ['not a JWT, not the admin token', `${adminToken}x`, /not a JWT and not the admin token/],
      ];
      for (const [why, token, reason] of cases) {
        sent.push(token);
        const r = await at({ token });
        assert.equal(r.status, 401, why);
        assert.equal(r.body.error, 'unauthorized', why);
        assert.match(r.body.message ?? '', reason, why);
        assert.match(r.challenge ?? '', /error="invalid_token"/, why);
        assert.ok(!JSON.stringify(r.body).includes(token.slice(-20)) && !(r.challenge ?? '').includes(token.slice(-20)), `${why}: the token is not echoed`);
      }

      for (const claims of [{}, { roles: ['clinician'], groups: ['fleet-admins'] }, { realm_access: { roles: ['fleet-viewer'] } }, { resource_access: { 'other-app': { roles: ['fleet-admin'] } } }]) {
        const token = await idp.sign(claims);
        sent.push(token);
        const r = await at({ token });
        assert.equal(r.status, 403, JSON.stringify(claims));
        assert.equal(r.body.error, 'forbidden');
        assert.match(r.body.message ?? '', /'alice' lacks the role 'fleet-admin'/);
        assert.match(r.challenge ?? '', /error="insufficient_scope"/);
      }
      assert.deepEqual(await rollouts(hub.url), [], 'nothing recorded for any of them');

      // Past the door (Keycloak realm role, Keycloak client role, groups, the admin token): the next check is the signing key.
      for (const token of [
        await idp.sign({ realm_access: { roles: ['offline_access', 'fleet-admin'] } }),
        await idp.sign({ resource_access: { 'telemed-hub': { roles: ['fleet-admin'] } } }),
        await idp.sign({ groups: ['fleet-admin'] }),
        adminToken,
      ]) {
        sent.push(token);
        const r = await at({ token });
        assert.equal(r.status, 503);
        assert.equal(r.body.error, 'no_signing_key');
      }
      // The log says who and why, never a token (nor a piece of one).
      assert.match(logged, /"reason":"token expired","msg":"write refused: not authenticated"/);
      assert.match(logged, /"actor":"alice".*write refused: no admin role/);
      assert.match(logged, /"actor":"admin-token".*write authorized/);
      for (const token of sent) for (const part of token.split('.')) assert.ok(!logged.includes(part.slice(0, 24)), 'no token in the log');
    } finally {
      await hub.close();
    }
  });

  it('takes access tokens only: an ID token (Keycloak typ ID) or a token whose header typ is not at+jwt or JWT gets 401 naming why, even with the issuer, the audience and the role right', async () => {
    const hub = createHub({ logger: quietLogger(), memory: true, port: 0, oidc: { jwksUrl: idp.jwksUrl, issuer: idp.issuer, audience: idp.audience } });
    await hub.start();
    try {
      const at = (token: string) => post(hub.url, { token, node: 'n1', revision: 'r1' });
      const admin = { realm_access: { roles: ['fleet-admin'] } };
      // What Keycloak issues to the hub's client at sign-in: the ID token has the same issuer, audience and roles as the access token.
      const keycloakId = await idp.sign({ ...admin, typ: 'ID', azp: 'telemed-hub', nonce: 'n-0S6', at_hash: 'x1', auth_time: 1764136800 }, { typ: 'JWT' });
      const refused: Array<[string, string, RegExp]> = [
        ['a Keycloak ID token', keycloakId, /an ID token, not an access token \(typ ID\)/],
        ['a Keycloak refresh-type token', await idp.sign({ ...admin, typ: 'Refresh' }, { typ: 'JWT' }), /not an access token: its typ is 'Refresh' \(Bearer expected\)/],
        ['header typ id+jwt', await idp.sign(admin, { typ: 'id+jwt' }), /not an access token: its header typ is 'id\+jwt' \(at\+jwt or JWT expected\)/],
        ['header typ logout+jwt', await idp.sign(admin, { typ: 'logout+jwt' }), /header typ is 'logout\+jwt'/],
        ['header typ dpop+jwt', await idp.sign(admin, { typ: 'dpop+jwt' }), /header typ is 'dpop\+jwt'/],
      ];
      for (const [why, token, reason] of refused) {
        const r = await at(token);
        assert.equal(r.status, 401, why);
        assert.equal(r.body.error, 'unauthorized', why);
        assert.match(r.body.message ?? '', reason, why);
        assert.match(r.challenge ?? '', /error="invalid_token"/, why);
      }
      assert.deepEqual(await rollouts(hub.url), [], 'nothing recorded');
      // Access tokens pass the door (the next check, the signing key, answers): RFC 9068's at+jwt (either spelling), JWT, none, Keycloak's Bearer.
      for (const [why, token] of [
        ['at+jwt', await idp.sign(admin, { typ: 'at+jwt' })],
        ['application/at+jwt', await idp.sign(admin, { typ: 'application/at+jwt' })],
        ['JWT', await idp.sign(admin, { typ: 'JWT' })],
        ['no header typ', await idp.sign(admin)],
        ['a Keycloak access token (typ Bearer, with the nonce Keycloak copies into it)', await idp.sign({ ...admin, typ: 'Bearer', azp: 'telemed-hub', nonce: 'n-0S6', scope: 'openid profile' }, { typ: 'JWT' })],
      ] as const) {
        const r = await at(token);
        assert.equal(r.body.error, 'no_signing_key', `${why}: ${JSON.stringify(r.body)}`);
      }
    } finally {
      await hub.close();
    }
  });

  it('TELEMED_HUB_ADMIN_ROLE and TELEMED_HUB_ROLE_CLAIM choose the role and the one claim it is read from', async () => {
    const hub = createHub({ logger: quietLogger(), memory: true, port: 0, oidc: { jwksUrl: idp.jwksUrl, issuer: idp.issuer, audience: idp.audience, adminRole: 'ops', roleClaim: 'https://hospital.example/roles' } });
    await hub.start();
    try {
      const at = async (claims: Record<string, unknown>) => post(hub.url, { token: await idp.sign(claims), node: 'n1', revision: 'r1' });
      assert.equal((await at({ 'https://hospital.example/roles': ['ops'] })).body.error, 'no_signing_key');
      const other = await at({ roles: ['ops'], 'https://hospital.example/roles': ['fleet-admin'] });
      assert.equal(other.status, 403, 'the role in another claim does not count');
      assert.match(other.body.message ?? '', /role 'ops'/);
      const token = randomBytes(24).toString('hex');
      assert.equal((await post(hub.url, { token, node: 'n1', revision: 'r1' })).status, 401, 'no admin token configured: a random one is refused');
    } finally {
      await hub.close();
    }
  });

  it('with the identity provider unreachable or failing: 503 saying so, the hub goes on, and single sign-on works again when it is back', async () => {
    const closed = await startTestIdp();
    const deadUrl = closed.jwksUrl;
    await closed.close();
    const dead = createHub({ logger: quietLogger(), memory: true, port: 0, oidc: { jwksUrl: deadUrl, issuer: idp.issuer, audience: idp.audience } });
    await dead.start();
    try {
      const r = await post(dead.url, { token: await idp.sign({ roles: ['fleet-admin'] }), node: 'n1', revision: 'r1' });
      assert.equal(r.status, 503);
      assert.equal(r.body.error, 'idp_unavailable');
      assert.match(r.body.message ?? '', /identity provider/);
      assert.equal((await fetch(`${dead.url}/api/nodes`)).status, 200, 'the hub still answers');
    } finally {
      await dead.close();
    }

    const flaky = await startTestIdp();
    const hub = createHub({ logger: quietLogger(), memory: true, port: 0, oidc: { jwksUrl: flaky.jwksUrl, issuer: flaky.issuer, audience: flaky.audience } });
    await hub.start();
    try {
      flaky.failing = true;
      const token = await flaky.sign({ roles: ['fleet-admin'] });
      const down = await post(hub.url, { token, node: 'n1', revision: 'r1' });
      assert.equal(down.status, 503);
      assert.equal(down.body.error, 'idp_unavailable');
      flaky.failing = false;
      const back = await post(hub.url, { token, node: 'n1', revision: 'r1' });
      assert.equal(back.body.error, 'no_signing_key', 'past the door once the keys can be fetched');
    } finally {
      await hub.close();
      await flaky.close();
    }
  });

  it('with neither single sign-on nor an admin token, rollouts are off (403) and the message names both settings', async () => {
    const hub = createHub({ logger: quietLogger(), memory: true, port: 0 });
    await hub.start();
    try {
      const r = await post(hub.url, { token: await idp.sign({ roles: ['fleet-admin'] }), node: 'n1', revision: 'r1' });
      assert.equal(r.status, 403);
      assert.equal(r.body.error, 'rollouts_disabled');
      assert.match(r.body.message ?? '', /TELEMED_HUB_JWKS_URL.*TELEMED_HUB_ADMIN_TOKEN/);
    } finally {
      await hub.close();
    }
  });
});

describe('hub settings for single sign-on', () => {
  const fails = (env: Record<string, string>): string => {
    try {
      loadHubConfig(env);
    } catch (err) {
      assert.ok(err instanceof HubConfigError);
      return err.message;
    }
    assert.fail(`accepted ${JSON.stringify(env)}`);
  };

  it('issuer and audience are required with the JWKS URL; they mean nothing without it; the JWKS is fetched over https (http only on localhost)', () => {
    const m = fails({ TELEMED_HUB_JWKS_URL: 'https://idp.example/certs' });
    assert.match(m, /TELEMED_HUB_OIDC_ISSUER: required with TELEMED_HUB_JWKS_URL/);
    assert.match(m, /TELEMED_HUB_OIDC_AUDIENCE: required with TELEMED_HUB_JWKS_URL/);
    assert.match(fails({ TELEMED_HUB_OIDC_ISSUER: 'https://idp.example' }), /TELEMED_HUB_OIDC_ISSUER: has no effect without TELEMED_HUB_JWKS_URL/);
    const full = { TELEMED_HUB_OIDC_ISSUER: 'https://idp.example', TELEMED_HUB_OIDC_AUDIENCE: 'telemed-hub' };
    assert.match(fails({ ...full, TELEMED_HUB_JWKS_URL: 'http://idp.example/certs' }), /TELEMED_HUB_JWKS_URL: must be an https:\/\/ URL/);
    assert.match(fails({ ...full, TELEMED_HUB_JWKS_URL: 'not a url' }), /TELEMED_HUB_JWKS_URL: must be an https:\/\/ URL/);
    assert.match(fails({ ...full, TELEMED_HUB_JWKS_URL: 'https://idp.example/certs', TELEMED_HUB_ADMIN_ROLE: 'fleet admin' }), /TELEMED_HUB_ADMIN_ROLE: 1-200 characters without spaces/);
    const ok = loadHubConfig({ ...full, TELEMED_HUB_JWKS_URL: 'http://127.0.0.1:8080/certs' });
    assert.equal(ok.jwksUrl, 'http://127.0.0.1:8080/certs');
    assert.equal(ok.adminRole, 'fleet-admin');
    assert.equal(loadHubConfig({ ...full, TELEMED_HUB_JWKS_URL: 'https://idp.example/certs', TELEMED_HUB_ADMIN_ROLE: 'ops' }).adminRole, 'ops');
  });

  it('telemed-edge hub refuses a half-configured single sign-on at start (exit 78)', async () => {
    const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, [path.join(ROOT, 'bin', 'telemed-edge.js'), 'hub'], { env: { ...process.env, AMQP_URL: '', TELEMED_HUB_PORT: '0', TELEMED_HUB_JWKS_URL: 'https://idp.example/certs' }, timeout: 60_000 },
        (err, _stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr }));
    });
    assert.equal(r.code, 78);
    assert.match(r.stderr, /TELEMED_HUB_OIDC_ISSUER: required/);
  });
});

describe('hub stores made before rollouts recorded their actor', () => {
  it('SQLite: the actor column is added to an existing store; old rollouts read with actor null, new ones keep theirs', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'telemed-hub-old-'));
    try {
      let store = openStore({ dataDir: dir });
      store.migrate(HUB_MIGRATIONS.slice(0, HUB_MIGRATIONS.findIndex((m) => m.name === 'hub-4-rollouts') + 1));
      store.db.prepare(`INSERT INTO hub_rollout (id, revision, target_kind, target, files, sha256, state, created_at) VALUES ('old', 'r-old', 'all', '', 1, 'x', 'published', '2026-01-01T00:00:00.000Z')`).run();
      assert.ok(!(store.db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('hub_rollout') as string[]).includes('actor'), 'the old store has no actor column');
      store.close();
      store = openStore({ dataDir: dir });
      try {
        const ledger = new SqliteLedger(store);
        assert.equal((await ledger.rollout('old'))?.actor, null);
        await ledger.createRollout({ id: 'new', revision: 'r-new', target: { all: true }, files: 1, sha256: 'y', nodes: [], actor: 'alice' });
        assert.deepEqual((await ledger.rollouts()).map((r) => [r.id, r.actor]), [['new', 'alice'], ['old', null]]);
      } finally {
        store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('PostgreSQL: the actor column is added to an existing schema at start; old rollouts read with actor null, new ones keep theirs', { skip: pgReason }, async () => {
    const schema = runSchema();
    const sql = new pg.Client({ connectionString: PG_URL });
    await sql.connect();
    try {
      let ledger = new PgLedger({ url: PG_URL, schema, logger: quietLogger() });
      await ledger.init();
      // Back to the schema as the previous version left it.
      await sql.query(`ALTER TABLE ${schema}.hub_rollout DROP COLUMN actor`);
      await sql.query(`DELETE FROM ${schema}.hub_migration WHERE name = 'hub-pg-2-rollout-actor'`);
      await sql.query(`INSERT INTO ${schema}.hub_rollout (id, revision, target_kind, target, files, sha256, state, created_at) VALUES ('old', 'r-old', 'all', '', 1, 'x', 'published', '2026-01-01T00:00:00Z')`);
      await ledger.close();
      ledger = new PgLedger({ url: PG_URL, schema, logger: quietLogger() });
      try {
        await ledger.init();
        assert.equal((await ledger.rollout('old'))?.actor, null);
        await ledger.createRollout({ id: 'new', revision: 'r-new', target: { all: true }, files: 1, sha256: 'y', nodes: [], actor: 'alice' });
        assert.deepEqual((await ledger.rollouts()).map((r) => [r.id, r.actor]), [['new', 'alice'], ['old', null]]);
      } finally {
        await ledger.close();
      }
    } finally {
      await sql.end();
      await dropSchema(schema);
    }
  });
});

const STORES = hubStores(brokerReason, pgReason);

for (const S of STORES) {
  describe(`hub on ${S.name}: rollouts by single sign-on`, { skip: S.skip }, () => {
    const prefix = runPrefix();
    const schema = runSchema();
    const dir = mkdtempSync(path.join(tmpdir(), 'telemed-hub-sso-'));
    const node = `${prefix}-sso`;
    let idp: TestIdp;
    before(async () => {
      idp = await startTestIdp();
    });
    after(async () => {
      await idp.close();
      await deleteTopology(prefix, [node]);
      rmSync(dir, { recursive: true, force: true });
      if (S.name === 'PostgreSQL') await dropSchema(schema);
    });

    it('a fleet admin signed in at the provider rolls out and is recorded as the actor (GET /api/rollouts, GET /api/rollouts/:id); the admin token still works, recorded as admin-token; both survive a restart', { timeout: 60_000 }, async () => {
      const adminToken = randomBytes(24).toString('hex');
      const open = async () => {
        const hub = createHub({
          logger: quietLogger(), amqpUrl: brokerUrl(), prefix, port: 0, signingKey: generateKeyPairSync('ed25519').privateKey, adminToken,
          oidc: { jwksUrl: idp.jwksUrl, issuer: idp.issuer, audience: idp.audience }, ...S.options(dir, schema),
        });
        await hub.start();
        await until(() => hub.online, 'hub connected');
        return hub;
      };
      let hub = await open();
      try {
        const sso = await post(hub.url, { token: await idp.sign({ realm_access: { roles: ['fleet-admin'] } }), node, revision: 'sso-1' });
        assert.equal(sso.status, 202, JSON.stringify(sso.body));
        assert.equal(sso.body.actor, 'alice');
        const bySub = await post(hub.url, { token: await idp.sign({ roles: ['fleet-admin'], preferred_username: undefined }, { sub: 'f3a9c2d1-bob' }), node, revision: 'sso-2' });
        assert.equal(bySub.status, 202, JSON.stringify(bySub.body));
        const glass = await post(hub.url, { token: adminToken, node, revision: 'glass-1' });
        assert.equal(glass.status, 202, JSON.stringify(glass.body));
        const denied = await post(hub.url, { token: await idp.sign({ roles: ['clinician'] }), node, revision: 'denied-1' });
        assert.equal(denied.status, 403);
        const expect = [['glass-1', 'admin-token'], ['sso-2', 'f3a9c2d1-bob'], ['sso-1', 'alice']];
        assert.deepEqual((await rollouts(hub.url)).map((r) => [r.revision, r.actor]), expect);
        const one = (await (await fetch(`${hub.url}/api/rollouts/${sso.body.id}`)).json()) as RolloutRecord;
        assert.equal(one.actor, 'alice');
        await hub.close();
        hub = await open();
        assert.deepEqual((await rollouts(hub.url)).map((r) => [r.revision, r.actor]), expect, 'after a restart');
      } finally {
        await hub.close();
      }
    });

    // The command line is the same whatever the store: once, on SQLite.
    if (S.name === 'SQLite') it('telemed-edge hub rollout --hub sends a fleet admin\'s access token from TELEMED_HUB_TOKEN; the hub records them', { timeout: 90_000 }, async () => {
      const hub = createHub({
        logger: quietLogger(), amqpUrl: brokerUrl(), prefix, port: 0, signingKey: generateKeyPairSync('ed25519').privateKey,
        oidc: { jwksUrl: idp.jwksUrl, issuer: idp.issuer, audience: idp.audience }, ...S.options(dir, schema),
      });
      await hub.start();
      try {
        await until(() => hub.online, 'hub connected');
        const args = ['rollout', '--node', node, '--bundle', path.join(ROOT, 'policies'), '--revision', 'cli-sso-1', '--hub', hub.url];
        const cli = (env: Record<string, string>) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
          execFile(process.execPath, [path.join(ROOT, 'bin', 'telemed-edge.js'), 'hub', ...args], { env: { ...process.env, TELEMED_HUB_ADMIN_TOKEN: '', ...env }, timeout: 60_000 },
            (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
        });
        const viewer = await cli({ TELEMED_HUB_TOKEN: await idp.sign({ roles: ['fleet-viewer'] }) });
        assert.equal(viewer.code, 1);
        assert.match(viewer.stderr, /refused the rollout \(403\).*fleet-admin/);
        const ok = await cli({ TELEMED_HUB_TOKEN: await idp.sign({ roles: ['fleet-admin'] }) });
        assert.equal(ok.code, 0, ok.stderr);
        assert.match(ok.stdout, /sent by the hub for alice/);
        assert.deepEqual((await rollouts(hub.url)).filter((r) => r.revision === 'cli-sso-1').map((r) => r.actor), ['alice']);
      } finally {
        await hub.close();
      }
    });
  });
}

describe('the fleet page shows who rolled out', { skip: browserSkip }, () => {
  it('the rollouts table has a "by" column with the actor, and a dash for a rollout without one', { timeout: 60_000 }, async () => {
    const hub = createHub({ logger: quietLogger(), memory: true, port: 0 });
    await hub.start();
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    try {
      await hub.ledger.createRollout({ id: 'r-a', revision: 'page-1', target: { all: true }, files: 1, sha256: 'x', nodes: [], actor: 'alice' });
      await hub.ledger.createRollout({ id: 'r-b', revision: 'page-0', target: { group: 'north' }, files: 1, sha256: 'x', nodes: [] });
      const page = await browser.newPage();
      await page.goto(hub.url);
      const by = page.locator('thead tr').nth(1).locator('th');
      const headers = await by.allTextContents();
      const col = headers.indexOf('by');
      assert.ok(col >= 0, `a "by" column: ${headers.join(', ')}`);
      await page.locator('#rollouts tr').nth(1).waitFor();
      const cells = async (i: number) => page.locator('#rollouts tr').nth(i).locator('td').allTextContents();
      const rows = [await cells(0), await cells(1)];
      const rev = headers.indexOf('revision');
      const byRevision = Object.fromEntries(rows.map((r) => [r[rev], r[col]]));
      assert.deepEqual(byRevision, { 'page-1': 'alice', 'page-0': '–' });
    } finally {
      await browser.close();
      await hub.close();
    }
  });
});
