/**
 * `telemed-edge hub keygen` and `hub rollout` as an operator runs them: the
 * shipped bundle, signed with the generated key, reaches a node's queue and is
 * put in force there; signed with another key it is refused.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createHub } from '../src/hub/index.ts';
import { bundleFromFiles, createBuiltinPolicy, loadVerifiedRegoPolicy, type PolicyEngine } from '../src/policy/index.ts';
import { createSyncAgent } from '../src/sync/index.ts';
import { brokerSkip, brokerUrl, deleteTopology, quietLogger, runPrefix, syncStore, until } from './sync-harness.ts';

const skip = await brokerSkip();
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'telemed-edge.js');

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'hub', ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('hub command line', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'telemed-hubcli-'));
  const prefix = runPrefix();
  const nodeId = `${prefix}-cli`;
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    if (!skip) await deleteTopology(prefix, [nodeId, `${prefix}-api`]);
  });

  it('refuses a rollout without a target or key, with the usage', async () => {
    const r = await cli(['rollout', '--bundle', 'policies']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--node, --group or --all/);
    const u = await cli(['frobnicate']);
    assert.equal(u.code, 2);
    // A configuration naming a secret or an unknown setting: refused before anything is signed or sent, naming it.
    const secret = await cli(['rollout', '--all', '--settings', '{"logLevel":"debug","turnSecret":"a-secret-of-enough-length"}'], { AMQP_URL: 'amqp://127.0.0.1:1', TELEMED_HUB_SIGNING_KEY: '/nonexistent' });
    assert.equal(secret.code, 2);
    assert.match(secret.stderr, /--settings: turnSecret: a secret/);
    assert.doesNotMatch(secret.stderr, /a-secret-of-enough-length/);
    const unknown = await cli(['rollout', '--all', '--settings', '{"logLevl":"debug"}'], { AMQP_URL: 'amqp://127.0.0.1:1', TELEMED_HUB_SIGNING_KEY: '/nonexistent' });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /logLevl: unknown setting/);
    const both = await cli(['rollout', '--all', '--settings', '{}', '--bundle', 'policies']);
    assert.equal(both.code, 2, 'a bundle or a configuration, not both');
  });

  it('refuses bad settings at start with a message naming each one (exit 78), never echoing a password', async () => {
    const bad = await cli([], { TELEMED_HUB_PORT: 'abc', TELEMED_HUB_DATABASE_URL: 'mysql://db/x', TELEMED_HUB_ADMIN_TOKEN: 'short', TELEMED_HUB_OFFLINE_AFTER_MS: '5', AMQP_URL: '' });
    assert.equal(bad.code, 78);
    for (const name of ['TELEMED_HUB_PORT', 'TELEMED_HUB_DATABASE_URL', 'TELEMED_HUB_ADMIN_TOKEN', 'TELEMED_HUB_OFFLINE_AFTER_MS']) assert.match(bad.stderr, new RegExp(name));
    const key = await cli([], { TELEMED_HUB_SIGNING_KEY: path.join(dir, 'missing.key'), AMQP_URL: '' });
    assert.equal(key.code, 78);
    assert.match(key.stderr, /TELEMED_HUB_SIGNING_KEY: cannot read .*missing\.key/);
    const unreachable = await cli([], { TELEMED_HUB_DATABASE_URL: 'postgres://hub:s3cretpw@127.0.0.1:1/hub', TELEMED_HUB_PORT: '0', AMQP_URL: '' });
    assert.equal(unreachable.code, 78);
    assert.match(unreachable.stderr, /TELEMED_HUB_DATABASE_URL: cannot use PostgreSQL/);
    assert.doesNotMatch(unreachable.stderr + unreachable.stdout, /s3cretpw/);
  });

  it('keygen, then rollout of the shipped bundle to one node: in force there; the same bundle signed with another key is refused', { skip, timeout: 90_000 }, async () => {
    assert.equal((await cli(['keygen', '--out', path.join(dir, 'hub')])).code, 0);
    assert.equal((await cli(['keygen', '--out', path.join(dir, 'rogue')])).code, 0);
    assert.equal((await cli(['keygen', '--out', path.join(dir, 'hub')])).code !== 0, true, 'keygen never overwrites a key');
    const store = syncStore();
    let engine: PolicyEngine = createBuiltinPolicy();
    const agent = createSyncAgent({
      store, policy: () => engine, logger: quietLogger(), nodeId, city: 'x', amqpUrl: brokerUrl(), prefix, heartbeatMs: 200,
      bundles: { publicKey: readFileSync(path.join(dir, 'hub', 'hub-signing.pub'), 'utf8'), apply: (files) => { engine = loadVerifiedRegoPolicy(bundleFromFiles(files)); } },
    });
    agent.start();
    try {
      const env = { AMQP_URL: brokerUrl(), TELEMED_SYNC_PREFIX: prefix };
      const ok = await cli(['rollout', '--node', nodeId, '--bundle', path.join(ROOT, 'policies')], { ...env, TELEMED_HUB_SIGNING_KEY: path.join(dir, 'hub', 'hub-signing.key') });
      assert.equal(ok.code, 0, ok.stderr);
      await until(() => engine.revision === 'telemed-edge-policies-1', 'the shipped bundle in force on the node');
      const rogue = await cli(['rollout', '--all', '--bundle', path.join(ROOT, 'policies'), '--revision', 'rogue-1'], { ...env, TELEMED_HUB_SIGNING_KEY: path.join(dir, 'rogue', 'hub-signing.key') });
      assert.equal(rogue.code, 0, rogue.stderr);
      await until(() => agent.status().bundleRefused?.revision === 'rogue-1', 'the rogue bundle refused');
      assert.equal(agent.status().bundleRefused?.reason, 'bad_signature');
      assert.equal(engine.revision, 'telemed-edge-policies-1');
    } finally {
      await agent.close();
      store.close();
    }
  });

  it('rollout --hub goes through the running hub: checked, signed, sent and recorded with the node pending; a wrong token is refused', { skip, timeout: 90_000 }, async () => {
    const token = randomBytes(24).toString('hex');
    const hub = createHub({ logger: quietLogger(), amqpUrl: brokerUrl(), memory: true, prefix, port: 0, signingKey: generateKeyPairSync('ed25519').privateKey, adminToken: token });
    await hub.start();
    const src = path.join(dir, 'api-bundle');
    mkdirSync(src, { recursive: true });
    writeFileSync(path.join(src, 'p.rego'), 'package p\n\nimport rego.v1\n\nallow if input.x == 1\n');
    writeFileSync(path.join(src, 'data.json'), JSON.stringify({ fleet: { min_count: 5 } }));
    try {
      await until(() => hub.online, 'hub connected');
      const args = ['rollout', '--node', `${prefix}-api`, '--bundle', src, '--revision', 'api-1', '--hub', hub.url];
      const wrong = await cli(args, { TELEMED_HUB_ADMIN_TOKEN: 'x'.repeat(40) });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /refused the rollout \(401\)/);
      const ok = await cli(args, { TELEMED_HUB_ADMIN_TOKEN: token });
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /1 node\(s\) pending/);
      const [r] = await hub.ledger.rollouts();
      assert.equal(r?.revision, 'api-1');
      assert.deepEqual(r?.nodes.map((n) => [n.node, n.status]), [[`${prefix}-api`, 'pending']]);
      // A configuration the same way: recorded as a config rollout with its settings.
      const cfg = await cli(['rollout', '--node', `${prefix}-api`, '--settings', '{"fnTimeoutMs":2000}', '--revision', 'cfg-cli-1', '--hub', hub.url], { TELEMED_HUB_ADMIN_TOKEN: token });
      assert.equal(cfg.code, 0, cfg.stderr);
      assert.match(cfg.stdout, /configuration rollout .* of cfg-cli-1 \(fnTimeoutMs\) sent by the hub; 1 node\(s\) pending/);
      const [c] = await hub.ledger.rollouts();
      assert.deepEqual([c?.kind, c?.revision, c?.settings], ['config', 'cfg-cli-1', { fnTimeoutMs: 2000 }]);
    } finally {
      await hub.close();
    }
  });
});
