import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkRemoteSettings, ConfigError, loadConfig, REMOTE_SETTINGS } from './index.ts';

test('defaults: port 8080, ./data, demo mode without an identity provider', () => {
  const c = loadConfig({});
  assert.equal(c.port, 8080);
  assert.equal(c.dataDir, path.resolve('./data'));
  assert.equal(c.demo, true);
  assert.equal(c.publicUrl, 'http://localhost:8080');
  assert.equal(c.dbSync, 'full');
});

test('an identity provider turns demo mode off', () => {
  const c = loadConfig({ TELEMED_JWKS_URL: 'https://idp.example/jwks' });
  assert.equal(c.demo, false);
  assert.throws(() => loadConfig({ TELEMED_JWKS_URL: 'https://idp.example/jwks', TELEMED_DEMO: 'true' }), /TELEMED_DEMO/);
});

test('a bad setting is refused with its name', () => {
  for (const [env, name] of [
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ TELEMED_DATA_KEY: 'c2hvcnQ=' }, 'TELEMED_DATA_KEY'],
    [{ TELEMED_DB_SYNC: 'sometimes' }, 'TELEMED_DB_SYNC'],
    [{ TELEMED_NODE_ID: 'no spaces please' }, 'TELEMED_NODE_ID'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ TELEMED_FN_MAX_MEMORY_PAGES: '0' }, 'TELEMED_FN_MAX_MEMORY_PAGES'],
    [{ TELEMED_FN_MAX_MEMORY_PAGES: '70000' }, 'TELEMED_FN_MAX_MEMORY_PAGES'],
    [{ TELEMED_FN_TIMEOUT_MS: '1.5' }, 'TELEMED_FN_TIMEOUT_MS'],
    [{ TELEMED_FN_MAX_OUTPUT_BYTES: 'lots' }, 'TELEMED_FN_MAX_OUTPUT_BYTES'],
    [{ TELEMED_FN_MAX_STDERR_BYTES: '-1' }, 'TELEMED_FN_MAX_STDERR_BYTES'],
    [{ TELEMED_FN_WORKERS: '0' }, 'TELEMED_FN_WORKERS'],
  ] as const) {
    assert.throws(() => loadConfig(env), (e: unknown) => e instanceof ConfigError && e.message.includes(name), `${JSON.stringify(env)} should name ${name}`);
  }
});

test('a config file is read, the environment wins, unknown keys are refused', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'telemed-config-'));
  const file = path.join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ port: 9000, nodeCity: 'Lyon' }));
  const c = loadConfig({ TELEMED_CONFIG: file, PORT: '9100' });
  assert.equal(c.port, 9100);
  assert.equal(c.nodeCity, 'Lyon');
  writeFileSync(file, JSON.stringify({ prot: 9000 }));
  assert.throws(() => loadConfig({ TELEMED_CONFIG: file }), /prot/);
  writeFileSync(file, '{not json');
  assert.throws(() => loadConfig({ TELEMED_CONFIG: file }), /TELEMED_CONFIG/);
});

test('relay-only calls (TELEMED_ICE_POLICY=relay) need a TURN server; a wrong policy is named', () => {
  assert.throws(() => loadConfig({ TELEMED_ICE_POLICY: 'relay' }), (e: unknown) => e instanceof ConfigError && /TELEMED_ICE_POLICY: relay needs a TURN server/.test(e.message));
  assert.throws(() => loadConfig({ TELEMED_ICE_POLICY: 'stun' }), (e: unknown) => e instanceof ConfigError && /TELEMED_ICE_POLICY/.test(e.message));
  const c = loadConfig({ TELEMED_ICE_POLICY: 'relay', TELEMED_TURN_URLS: 'turn:127.0.0.1:3478', TELEMED_TURN_SECRET: 'a-secret-of-enough-length' });
  assert.equal(c.icePolicy, 'relay');
  assert.equal(loadConfig({}).icePolicy, 'all');
});

test('Wasm function limits: defaults, and from the environment', () => {
  const d = loadConfig({});
  assert.deepEqual([d.fnMaxMemoryPages, d.fnTimeoutMs, d.fnMaxOutputBytes, d.fnMaxStderrBytes, d.fnWorkers], [256, 1000, 262144, 4096, 2]);
  const c = loadConfig({ TELEMED_FN_MAX_MEMORY_PAGES: '512', TELEMED_FN_TIMEOUT_MS: '250', TELEMED_FN_MAX_OUTPUT_BYTES: '1024', TELEMED_FN_MAX_STDERR_BYTES: '0', TELEMED_FN_WORKERS: '4' });
  assert.deepEqual([c.fnMaxMemoryPages, c.fnTimeoutMs, c.fnMaxOutputBytes, c.fnMaxStderrBytes, c.fnWorkers], [512, 250, 1024, 0, 4]);
});

test('TELEMED_FN_SPIN_US: the reply poll budget, 0 to 1000 µs, 0 turns it off', () => {
  assert.equal(loadConfig({}).fnSpinUs, 1000);
  assert.equal(loadConfig({ TELEMED_FN_SPIN_US: '0' }).fnSpinUs, 0);
  assert.equal(loadConfig({ TELEMED_FN_SPIN_US: '250' }).fnSpinUs, 250);
  assert.throws(() => loadConfig({ TELEMED_FN_SPIN_US: '5000' }), /TELEMED_FN_SPIN_US.*at most 1000/s);
  assert.throws(() => loadConfig({ TELEMED_FN_SPIN_US: '-1' }), /TELEMED_FN_SPIN_US/);
});

test('TELEMED_FN_INLINE_FUEL: the fuel of a call on the node thread, 0 turns it off', () => {
  assert.equal(loadConfig({}).fnInlineFuel, 1_000_000);
  assert.equal(loadConfig({ TELEMED_FN_INLINE_FUEL: '0' }).fnInlineFuel, 0);
  assert.equal(loadConfig({ TELEMED_FN_INLINE_FUEL: '5000000' }).fnInlineFuel, 5_000_000);
  assert.throws(() => loadConfig({ TELEMED_FN_INLINE_FUEL: '1000000000' }), /TELEMED_FN_INLINE_FUEL.*at most 100000000/s);
  assert.throws(() => loadConfig({ TELEMED_FN_INLINE_FUEL: 'lots' }), /TELEMED_FN_INLINE_FUEL/);
});

test('TELEMED_NODE_GROUPS: comma-separated rollout groups; a bad label is refused with its name', () => {
  assert.deepEqual(loadConfig({}).nodeGroups, []);
  assert.deepEqual(loadConfig({ TELEMED_NODE_GROUPS: 'north, icu-2,pilot.a' }).nodeGroups, ['north', 'icu-2', 'pilot.a']);
  for (const bad of ['north,two words', 'a/b', 'x'.repeat(65)]) {
    assert.throws(() => loadConfig({ TELEMED_NODE_GROUPS: bad }), (e: unknown) => e instanceof ConfigError && /TELEMED_NODE_GROUPS: each group/.test(e.message), bad);
  }
});

test('remote settings (hub configuration rollouts): the declared keys, validated by the same field definitions; secrets, start-only and unknown keys and bad values refused, naming the key', () => {
  const ok = checkRemoteSettings({ logLevel: 'debug', fnTimeoutMs: 250, nodeGroups: 'north, icu-2', shutdownTimeoutMs: 5000 });
  assert.deepEqual(ok, { ok: true, settings: { logLevel: 'debug', fnTimeoutMs: 250, nodeGroups: ['north', 'icu-2'], shutdownTimeoutMs: 5000 } });
  assert.deepEqual(checkRemoteSettings({}), { ok: true, settings: {} }, 'an empty configuration: every key back to the local value');
  assert.deepEqual([...REMOTE_SETTINGS].sort(), ['fleetMinCount', 'fnMaxMemoryPages', 'fnMaxOutputBytes', 'fnMaxStderrBytes', 'fnTimeoutMs', 'logLevel', 'nodeGroups', 'shutdownTimeoutMs']);
  const refused = (v: unknown) => {
    const r = checkRemoteSettings(v);
    assert.equal(r.ok, false, JSON.stringify(v));
    return r as { reason: string; key?: string; message: string };
  };
  for (const secret of ['turnSecret', 'dataKey', 'amqpUrl', 'hubPublicKey', 'jwksUrl']) {
    const r = refused({ logLevel: 'warn', [secret]: 'x'.repeat(32) });
    assert.equal(r.reason, 'secret');
    assert.equal(r.key, secret);
    assert.match(r.message, new RegExp(`^${secret}: a secret`));
  }
  const start = refused({ port: 9000 });
  assert.deepEqual([start.reason, start.key], ['not_remote', 'port']);
  const unknown = refused({ logLevl: 'debug' });
  assert.deepEqual([unknown.reason, unknown.key], ['unknown_setting', 'logLevl']);
  assert.match(unknown.message, /logLevl: unknown setting; settable: logLevel/);
  // The same limits as the local configuration (a copy of them could drift).
  const bad = refused({ logLevel: 'debug', fnTimeoutMs: 600_001 });
  assert.deepEqual([bad.reason, bad.key], ['invalid_value', 'fnTimeoutMs']);
  assert.throws(() => loadConfig({ TELEMED_FN_TIMEOUT_MS: '600001' }), /TELEMED_FN_TIMEOUT_MS/);
  assert.equal(refused({ logLevel: 'loud' }).key, 'logLevel');
  assert.equal(refused({ nodeGroups: ['two words'] }).key, 'nodeGroups');
  assert.equal(refused(['logLevel']).reason, 'malformed');
  assert.equal(refused(null).reason, 'malformed');
});

test('settings set by an environment variable are pinned: a configuration from the hub does not change them', () => {
  assert.deepEqual(loadConfig({}).pinned, []);
  const dir = mkdtempSync(path.join(tmpdir(), 'telemed-config-'));
  const file = path.join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ fnTimeoutMs: 300, logLevel: 'warn' }));
  const c = loadConfig({ TELEMED_CONFIG: file, LOG_LEVEL: 'error', TELEMED_NODE_GROUPS: 'north', PORT: '9100' });
  assert.deepEqual(c.pinned, ['logLevel', 'nodeGroups'], 'the file does not pin (the hub outranks it); the environment does; PORT is not remote');
  assert.equal(c.logLevel, 'error');
  assert.equal(c.fnTimeoutMs, 300);
});
