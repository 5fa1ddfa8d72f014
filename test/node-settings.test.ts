/**
 * Unit tests of configuration rollouts without a broker: the signature over
 * revision + settings (src/sync/configs.ts) and the node's settings in force
 * (src/node/settings.ts): precedence (the environment pins), refusal whole,
 * what the running node can take live, the kept file verified again at start.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/index.ts';
import { FunctionRegistry } from '../src/functions/index.ts';
import { KEPT_CONFIG_FILE } from '../src/node/index.ts';
import { createNodeSettings } from '../src/node/settings.ts';
import { createLogger } from '../src/observability/index.ts';
import { sign } from 'node:crypto';
import { canonicalConfig, ConfigRefusal, signBundle, signConfig, verifyConfig } from '../src/sync/index.ts';

const hub = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const verify = (body: unknown, key = hub.publicKey) => verifyConfig(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), key);

describe('signed configurations (Ed25519 over revision + settings)', () => {
  it('verifies what the hub signed, whatever the key order; refuses tampered, unsigned, wrongly signed and malformed ones', () => {
    const signed = signConfig('c1', { logLevel: 'debug', nodeGroups: ['a', 'b'], fnTimeoutMs: 50 }, hub.privateKey);
    assert.deepEqual(verify(signed), { ok: true, revision: 'c1', settings: { logLevel: 'debug', nodeGroups: ['a', 'b'], fnTimeoutMs: 50 }, sig: signed.sig, issuedAt: signed.issuedAt });
    assert.equal(verify({ ...signed, settings: { fnTimeoutMs: 50, nodeGroups: ['a', 'b'], logLevel: 'debug' } }).ok, true, 'canonical: keys sorted');
    assert.deepEqual(verify({ ...signed, settings: { ...signed.settings, fnTimeoutMs: 60000 } }), { ok: false, reason: 'bad_signature' });
    assert.deepEqual(verify({ ...signed, settings: { ...signed.settings, nodeGroups: ['b', 'a'] } }), { ok: false, reason: 'bad_signature' }, 'array order is signed');
    assert.deepEqual(verify({ ...signed, revision: 'c2' }), { ok: false, reason: 'bad_signature' }, 'the revision is signed');
    assert.deepEqual(verify({ ...signed, settings: { ...signed.settings, turnSecret: 'x' } }), { ok: false, reason: 'bad_signature' }, 'an added key breaks it');
    assert.deepEqual(verify(signed, other.publicKey), { ok: false, reason: 'bad_signature' });
    const { sig: _sig, ...unsigned } = signed;
    assert.deepEqual(verify(unsigned), { ok: false, reason: 'unsigned' });
    for (const bad of ['{not json', [], { ...signed, kind: 'bundle' }, { ...signed, settings: [] }, { ...signed, settings: null }, { ...signed, revision: 'two words' }, { ...signed, revision: 7 }]) {
      assert.deepEqual(verify(bad), { ok: false, reason: 'malformed' }, JSON.stringify(bad));
    }
    // A bundle's signature is over other bytes (the kind is signed): it never passes for a configuration.
    const b = signBundle('c1', [], hub.privateKey);
    assert.deepEqual(verify({ kind: 'config', revision: 'c1', issuedAt: b.issuedAt, settings: {}, sig: b.sig }), { ok: false, reason: 'bad_signature' });
    assert.throws(() => signConfig('no spaces', {}, hub.privateKey), /revision/);
  });

  it('signs its issuedAt; one without it verifies only as the node\'s own kept file (written before it existed), never from the broker', () => {
    const signed = signConfig('c1', { logLevel: 'debug' }, hub.privateKey, '2026-11-26T06:00:00.000Z');
    assert.equal(signed.issuedAt, '2026-11-26T06:00:00.000Z');
    assert.deepEqual(verify({ ...signed, issuedAt: '2026-11-26T06:00:00.001Z' }), { ok: false, reason: 'bad_signature' }, 'a replay cannot be made to look newer');
    for (const issuedAt of ['2026-11-26', '2026-11-26T06:00:00.000', 0]) assert.deepEqual(verify({ ...signed, issuedAt }), { ok: false, reason: 'malformed' }, String(issuedAt));
    const { issuedAt: _i, ...old } = signed;
    const legacy = { ...old, sig: sign(null, canonicalConfig('c1', { logLevel: 'debug' }), hub.privateKey).toString('base64') };
    assert.deepEqual(verify(legacy), { ok: false, reason: 'malformed' }, 'from the broker: refused');
    assert.deepEqual(verifyConfig(JSON.stringify(legacy), hub.publicKey, { kept: true }), { ok: true, revision: 'c1', settings: { logLevel: 'debug' }, sig: legacy.sig, issuedAt: null });
    assert.deepEqual(verifyConfig(JSON.stringify({ ...legacy, settings: { logLevel: 'trace' } }), hub.publicKey, { kept: true }), { ok: false, reason: 'bad_signature' });
  });
});

describe('the node\'s settings in force', () => {
  const dirs: string[] = [];
  const registries: FunctionRegistry[] = [];
  after(async () => {
    for (const r of registries) await r.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const setup = (env: Record<string, string> = {}, dataDir = mkdtempSync(path.join(tmpdir(), 'telemed-settings-')), withKey = true) => {
    dirs.push(dataDir);
    const config = loadConfig({ TELEMED_DATA_DIR: dataDir, ...env });
    const logger = createLogger({ level: config.logLevel, destination: { write: () => true } as unknown as NodeJS.WritableStream });
    const functions = new FunctionRegistry({ logger, limits: { workers: 1, timeoutMs: config.fnTimeoutMs, outputBytes: config.fnMaxOutputBytes, logBytes: config.fnMaxStderrBytes, memoryPages: config.fnMaxMemoryPages } });
    registries.push(functions);
    const groups: string[][] = [];
    const settings = createNodeSettings({ config, logger, functions, ...(withKey ? { hubKey: hub.publicKey } : {}) });
    settings.onGroups(async (g) => void groups.push(g));
    return { settings, logger, functions, groups, dataDir };
  };
  const apply = (s: ReturnType<typeof setup>['settings'], revision: string, settings: Record<string, unknown>) => {
    const signed = signConfig(revision, settings, hub.privateKey);
    return s.apply(revision, settings, signed.sig!, signed.issuedAt);
  };

  it('defaults < file < hub < environment: the hub changes the unpinned keys live, reports the pinned ones; a key it stops naming returns to the local value', async () => {
    const { settings, logger, functions, groups } = setup({ TELEMED_SHUTDOWN_TIMEOUT_MS: '7000' });
    assert.equal(settings.status().source, 'local');
    const done = await apply(settings, 'c1', { logLevel: 'debug', fnTimeoutMs: 50, shutdownTimeoutMs: 3000, nodeGroups: 'north,icu' });
    assert.deepEqual(done, { applied: ['fnTimeoutMs', 'logLevel', 'nodeGroups'], pinned: ['shutdownTimeoutMs'] });
    assert.equal(logger.level, 'debug');
    assert.equal(functions.limits.timeoutMs, 50);
    assert.deepEqual(groups, [['north', 'icu']]);
    assert.deepEqual([settings.current().shutdownTimeoutMs, settings.revision], [7000, 'c1']);
    assert.deepEqual(settings.status().pinned, [{ key: 'shutdownTimeoutMs', env: 'TELEMED_SHUTDOWN_TIMEOUT_MS' }]);
    await apply(settings, 'c2', { fnTimeoutMs: 80 });
    assert.deepEqual([logger.level, functions.limits.timeoutMs, settings.current().nodeGroups], ['info', 80, []], 'logLevel and groups back to the local values');
    assert.deepEqual(groups, [['north', 'icu'], []]);
  });

  it('refused whole, naming the key: nothing applied, nothing kept', async () => {
    const { settings, logger, functions, dataDir } = setup();
    await apply(settings, 'c1', { logLevel: 'warn' });
    const kept = readFileSync(path.join(dataDir, KEPT_CONFIG_FILE), 'utf8');
    const refused = async (s: Record<string, unknown>, reason: string, key: string) => {
      await assert.rejects(apply(settings, 'bad', s), (e: unknown) => e instanceof ConfigRefusal && e.reason === reason && e.key === key && e.message.startsWith(key), JSON.stringify(s));
    };
    await refused({ logLevel: 'debug', turnSecret: 'x'.repeat(20) }, 'secret', 'turnSecret');
    await refused({ logLevel: 'debug', port: 1 }, 'not_remote', 'port');
    await refused({ logLevel: 'debug', wibble: 1 }, 'unknown_setting', 'wibble');
    await refused({ logLevel: 'debug', fnTimeoutMs: 0 }, 'invalid_value', 'fnTimeoutMs');
    // The sandbox channel of the running workers holds 256 KiB + 4 KiB of stdout and stderr: more needs a restart.
    await refused({ logLevel: 'debug', fnMaxOutputBytes: 1024 * 1024 }, 'cannot_apply', 'fnMaxOutputBytes');
    assert.deepEqual([logger.level, functions.limits.outputBytes, settings.revision], ['warn', 256 * 1024, 'c1']);
    assert.equal(readFileSync(path.join(dataDir, KEPT_CONFIG_FILE), 'utf8'), kept, 'the kept configuration is unchanged');
  });

  it('kept across restarts, verified again at start: a tampered file or a missing hub key leaves the local settings', async () => {
    const first = setup();
    await apply(first.settings, 'c9', { logLevel: 'error', fnMaxMemoryPages: 32 });
    const again = setup({}, first.dataDir);
    assert.deepEqual([again.settings.revision, again.logger.level, again.functions.limits.memoryPages, again.settings.status().source], ['c9', 'error', 32, 'hub']);
    assert.deepEqual(again.settings.signed, first.settings.signed, 'its issuedAt and signature kept too (replays stay refused after a restart)');
    assert.equal(again.settings.status().issuedAt, first.settings.signed?.issuedAt);
    assert.ok(again.settings.status().issuedAt);
    const keyless = setup({}, first.dataDir, false);
    assert.deepEqual([keyless.settings.revision, keyless.logger.level], ['', 'info'], 'without the hub key nothing kept is trusted');
    const file = path.join(first.dataDir, KEPT_CONFIG_FILE);
    const k = JSON.parse(readFileSync(file, 'utf8')) as { settings: Record<string, unknown> };
    writeFileSync(file, JSON.stringify({ ...k, settings: { ...k.settings, fnMaxMemoryPages: 4096 } }));
    const tampered = setup({}, first.dataDir);
    assert.deepEqual([tampered.settings.revision, tampered.logger.level, tampered.functions.limits.memoryPages, tampered.settings.status().source], ['', 'info', 256, 'local']);
  });

  it('a configuration kept before issuedAt existed stays in force after the upgrade (issuedAt null); the next from the hub is taken and keeps its issuedAt', async () => {
    const first = setup();
    const settingsOld = { logLevel: 'warn', fnTimeoutMs: 70 };
    const sig = sign(null, canonicalConfig('c-old', settingsOld), hub.privateKey).toString('base64');
    writeFileSync(path.join(first.dataDir, KEPT_CONFIG_FILE), JSON.stringify({ kind: 'config', revision: 'c-old', settings: settingsOld, sig }));
    const upgraded = setup({}, first.dataDir);
    assert.deepEqual([upgraded.settings.revision, upgraded.settings.status().issuedAt, upgraded.logger.level, upgraded.functions.limits.timeoutMs], ['c-old', null, 'warn', 70]);
    assert.deepEqual(upgraded.settings.signed, { revision: 'c-old', issuedAt: null, sig });
    await apply(upgraded.settings, 'c-new', { fnTimeoutMs: 90 });
    const kept = JSON.parse(readFileSync(path.join(first.dataDir, KEPT_CONFIG_FILE), 'utf8')) as { issuedAt?: string };
    assert.equal(kept.issuedAt, upgraded.settings.status().issuedAt);
    assert.match(kept.issuedAt ?? '', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });
});
