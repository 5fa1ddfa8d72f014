/**
 * Signed bundle rollout, hub → node (Ed25519): a bundle rolled out while the
 * node is offline is in force on it after its return and the hub sees the new
 * revision; an unsigned or tampered bundle is refused, the old one stays, and
 * the refusal reaches the hub (heartbeat and `bundle` report, no seq gap); a
 * group rollout reaches the nodes in the group only.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import amqp from 'amqplib';
import { createHub } from '../src/hub/index.ts';
import { bundleFromFiles, createRegoPolicy, loadVerifiedRegoPolicy, type PolicyEngine } from '../src/policy/index.ts';
import { sign } from 'node:crypto';
import { canonicalBundle, createSyncAgent, freshness, nextIssuedAt, signBundle, topology, verifyBundle } from '../src/sync/index.ts';
import { reportingBundle } from './hub-harness.ts';
import { brokerSkip, brokerUrl, deleteTopology, quietLogger, runPrefix, syncStore, TcpProxy, until } from './sync-harness.ts';

const skip = await brokerSkip();
const hubKeys = generateKeyPairSync('ed25519');
const otherKeys = generateKeyPairSync('ed25519');

/** A bundle whose data_transfer rules allow de-identified figures to the hub (a test bundle, not the shipped one). */
const bundle = reportingBundle;

describe('sync: signed bundles (unit)', () => {
  it('verifies the signer and the content', () => {
    const signed = signBundle('r1', bundle('r1'), hubKeys.privateKey);
    assert.equal(verifyBundle(Buffer.from(JSON.stringify(signed)), hubKeys.publicKey).ok, true);
    assert.deepEqual(verifyBundle(Buffer.from(JSON.stringify(signed)), otherKeys.publicKey), { ok: false, reason: 'bad_signature' });
    const tampered = { ...signed, files: signed.files.map((f) => ({ ...f, text: f.text.replace('deidentified', 'phi') })) };
    assert.deepEqual(verifyBundle(Buffer.from(JSON.stringify(tampered)), hubKeys.publicKey), { ok: false, reason: 'bad_signature' });
    const { sig: _sig, ...unsigned } = signed;
    assert.deepEqual(verifyBundle(Buffer.from(JSON.stringify(unsigned)), hubKeys.publicKey), { ok: false, reason: 'unsigned' });
    assert.deepEqual(verifyBundle(Buffer.from('{'), hubKeys.publicKey), { ok: false, reason: 'malformed' });
  });

  it('signs its issuedAt: a changed one does not verify; one without (the format before replay protection) or in another form is malformed', () => {
    const signed = signBundle('r1', bundle('r1'), hubKeys.privateKey, '2026-11-26T06:00:00.000Z');
    const check = verifyBundle(Buffer.from(JSON.stringify(signed)), hubKeys.publicKey);
    assert.deepEqual(check.ok && [check.revision, check.issuedAt, check.sig], ['r1', '2026-11-26T06:00:00.000Z', signed.sig]);
    const v = (b: unknown) => verifyBundle(Buffer.from(JSON.stringify(b)), hubKeys.publicKey);
    assert.deepEqual(v({ ...signed, issuedAt: '2026-11-26T07:00:00.000Z' }), { ok: false, reason: 'bad_signature' }, 'a replay cannot be made to look newer');
    // Signed by the hub over the old bytes (no issuedAt): every bundle ever sent before would be replayable, so it is refused.
    const { issuedAt: _i, ...old } = signed;
    const oldSig = sign(null, canonicalBundle('r1', bundle('r1')), hubKeys.privateKey).toString('base64');
    assert.deepEqual(v({ ...old, sig: oldSig }), { ok: false, reason: 'malformed' });
    for (const issuedAt of ['2026-11-26T06:00:00Z', '2026-11-26T06:00:00.000+00:00', '2026-02-30T06:00:00.000Z', 1764136800000, null]) {
      assert.deepEqual(v({ ...signed, issuedAt }), { ok: false, reason: 'malformed' }, String(issuedAt));
    }
    assert.throws(() => signBundle('r1', [], hubKeys.privateKey, 'yesterday'), /issuedAt/);
    // Without one given, this process's clock, strictly increasing.
    const a = signBundle('a', [], hubKeys.privateKey).issuedAt;
    const b = signBundle('b', [], hubKeys.privateKey).issuedAt;
    assert.ok(Date.parse(b) > Date.parse(a), `${b} after ${a}`);
  });

  it('newer, the same again, or stale: only strictly newer than the one in force is taken, or that very one delivered again', () => {
    const inForce = { revision: 'r2', issuedAt: '2026-11-26T06:00:00.005Z', sig: 'S2' };
    assert.equal(freshness({ revision: 'r3', issuedAt: '2026-11-26T06:00:00.006Z', sig: 'S3' }, inForce), 'newer');
    assert.equal(freshness({ revision: 'r2', issuedAt: '2026-11-26T06:00:00.005Z', sig: 'S2' }, inForce), 'same');
    assert.equal(freshness({ revision: 'r1', issuedAt: '2026-11-26T06:00:00.004Z', sig: 'S1' }, inForce), 'stale');
    assert.equal(freshness({ revision: 'r2b', issuedAt: '2026-11-26T06:00:00.005Z', sig: 'S2b' }, inForce), 'stale', 'the same time is not newer');
    assert.equal(freshness({ revision: 'r2', issuedAt: '2026-11-26T06:00:00.005Z', sig: 'other' }, inForce), 'stale', 'the same revision and time with another signature is not the one in force');
    assert.equal(freshness({ revision: 'r1', issuedAt: '2020-01-01T00:00:00.000Z', sig: 'S1' }, undefined), 'newer', 'nothing from the hub in force');
    assert.equal(freshness({ revision: 'r1', issuedAt: '2020-01-01T00:00:00.000Z', sig: 'S1' }, { revision: 'r0', issuedAt: null, sig: null }), 'newer', 'one kept before issuedAt existed');
    // The hub's next: its clock, or 1 ms past the last when the clock stalls or goes back.
    assert.equal(nextIssuedAt(new Date('2026-11-26T06:00:00.000Z'), '2026-11-26T06:00:00.000Z'), '2026-11-26T06:00:00.001Z');
    assert.equal(nextIssuedAt(new Date('2026-11-26T05:00:00.000Z'), '2026-11-26T06:00:00.000Z'), '2026-11-26T06:00:00.001Z');
    assert.equal(nextIssuedAt(new Date('2026-11-26T06:00:01.000Z'), '2026-11-26T06:00:00.000Z'), '2026-11-26T06:00:01.000Z');
    assert.equal(nextIssuedAt(new Date('2026-11-26T06:00:01.000Z'), null), '2026-11-26T06:00:01.000Z');
  });
});

describe('sync: bundle rollout over RabbitMQ', { skip }, () => {
  const prefix = runPrefix();
  const nodeId = `${prefix}-b`;
  const inGroup = `${prefix}-g`;
  const outside = `${prefix}-o`;
  after(async () => {
    await deleteTopology(prefix, [nodeId, inGroup, outside]);
  });

  it('a group rollout reaches the node in the group (its heartbeats name the group) and not the node outside it', { timeout: 60_000 }, async () => {
    const hub = createHub({ logger: quietLogger(), amqpUrl: brokerUrl(), memory: true, prefix, port: 0, signingKey: hubKeys.privateKey });
    await hub.start();
    const stores = [syncStore(), syncStore()];
    const engines: Record<string, PolicyEngine> = {};
    const applied: Record<string, string[]> = { [inGroup]: [], [outside]: [] };
    // The node in the group applies nothing until the test has read the rollout record: the broker may deliver
    // g1 (and the node report it to the hub) before it confirms g1 to the hub, so without this hold the record
    // returned by hub.rollout() can already say `active`, and could not show the node was listed in advance.
    let release = () => {};
    const held = new Promise<void>((resolve) => { release = resolve; });
    const agent = (id: string, store: ReturnType<typeof syncStore>, groups?: string[]) => {
      engines[id] = createRegoPolicy(bundleFromFiles(bundle('r0')));
      return createSyncAgent({
        store, policy: () => engines[id]!, logger: quietLogger(), nodeId: id, city: 'x', amqpUrl: brokerUrl(), prefix, heartbeatMs: 100,
        ...(groups ? { groups } : {}),
        bundles: {
          publicKey: hubKeys.publicKey,
          apply: async (files, revision) => {
            if (id === inGroup) await held;
            engines[id] = loadVerifiedRegoPolicy(bundleFromFiles(files));
            applied[id]!.push(revision);
          },
        },
      });
    };
    const G = agent(inGroup, stores[0]!, ['north', 'pilot.1']);
    const O = agent(outside, stores[1]!);
    try {
      assert.throws(() => agent(`${prefix}-bad`, stores[1]!, ['two words']), /bad group/);
      G.start();
      O.start();
      await until(async () => (await hub.ledger.nodeRows()).find((n) => n.id === inGroup)?.groups === 'north,pilot.1', 'the hub knows the groups from the heartbeat');
      await until(() => hub.nodes().some((n) => n.id === outside) && hub.online, 'both nodes known, hub connected');
      const groupsOf = new Map(hub.nodes().map((n) => [n.id, n.groups]));
      assert.deepEqual([groupsOf.get(inGroup), groupsOf.get(outside)], [['north', 'pilot.1'], []], 'GET /api/nodes shows the groups');
      const r = await hub.rollout({ group: 'north' }, 'g1', bundle('g1'));
      assert.deepEqual(r.nodes.map((n) => [n.node, n.status]), [[inGroup, 'pending']], 'the group lists its node in advance');
      release();
      // Then one to the outside node alone: its queue is in order, so once it has o1 a group bundle would have come before.
      await hub.rollout({ node: outside }, 'o1', bundle('o1'));
      await until(() => engines[inGroup]!.revision === 'g1', 'g1 in force on the node in the group');
      await until(() => engines[outside]!.revision === 'o1', 'o1 in force on the node outside');
      assert.deepEqual(applied[outside], ['o1'], 'the group rollout did not reach the node outside the group');
      assert.deepEqual(applied[inGroup], ['g1']);
      await until(async () => (await hub.ledger.rollout(r.id))?.nodes[0]?.status === 'active', 'g1 active at the hub');
    } finally {
      release();
      await G.close();
      await O.close();
      for (const s of stores) s.close();
      await hub.close();
    }
  });

  it('a bundle rolled out while the node is offline is in force after its return; unsigned and tampered ones are refused and reported', { timeout: 60_000 }, async () => {
    const hub = createHub({ logger: quietLogger(), amqpUrl: brokerUrl(), memory: true, prefix, port: 0, signingKey: hubKeys.privateKey });
    await hub.start();
    const proxy = await new TcpProxy().listen();
    const store = syncStore();
    let engine: PolicyEngine = createRegoPolicy(bundleFromFiles(bundle('r0')));
    const agent = createSyncAgent({
      store, policy: () => engine, logger: quietLogger(), nodeId, city: 'x', amqpUrl: proxy.url, prefix, heartbeatMs: 100,
      reconnect: { minDelayMs: 20, maxDelayMs: 200 },
      bundles: { publicKey: hubKeys.publicKey, apply: (files) => { engine = loadVerifiedRegoPolicy(bundleFromFiles(files)); } },
    });
    const atHub = () => hub.nodes().find((n) => n.id === nodeId);
    try {
      agent.start();
      await until(() => atHub()?.bundle === 'r0', 'the hub sees r0');
      proxy.cut();
      await until(() => agent.status().state === 'offline', 'offline');
      await until(() => hub.online, 'hub connected');
      await hub.rollout({ node: nodeId }, 'r1', bundle('r1'));
      assert.equal(engine.revision, 'r0', 'not applied while offline');
      proxy.restore();
      await until(() => engine.revision === 'r1' && atHub()?.bundle === 'r1', 'r1 in force on the node and seen at the hub');

      // Tampered (signed by the hub, then changed) and unsigned: refused, r1 stays, the hub is told.
      const conn = await amqp.connect(brokerUrl());
      const ch = await conn.createConfirmChannel();
      const t = topology(prefix);
      const signed = signBundle('r2', bundle('r2'), hubKeys.privateKey);
      const tampered = { ...signed, files: signed.files.map((f) => ({ ...f, text: f.text.replace('"deidentified"', '"phi"') })) };
      ch.publish(t.control, `node.${nodeId}.bundle`, Buffer.from(JSON.stringify(tampered)), { persistent: true });
      await ch.waitForConfirms();
      await until(() => agent.status().bundleRefused?.revision === 'r2', 'the tampered bundle refused');
      assert.equal(agent.status().bundleRefused?.reason, 'bad_signature');
      const { sig: _sig, ...unsigned } = signBundle('r3', bundle('r3'), hubKeys.privateKey);
      ch.publish(t.control, 'all.bundle', Buffer.from(JSON.stringify(unsigned)), { persistent: true });
      await ch.waitForConfirms();
      await until(() => agent.status().bundleRefused?.revision === 'r3', 'the unsigned bundle refused');
      assert.equal(agent.status().bundleRefused?.reason, 'unsigned');
      assert.equal(engine.revision, 'r1');
      await conn.close();
      // A signed bundle that does not compile is refused too, the old one stays.
      await hub.rollout({ node: nodeId }, 'r4', [{ path: 'x.rego', text: 'package x\n\nallow if {' }]);
      await until(() => agent.status().bundleRefused?.revision === 'r4', 'the broken bundle refused');
      assert.equal(agent.status().bundleRefused?.reason, 'bundle_rejected');
      assert.equal(engine.revision, 'r1');
      await until(() => atHub()?.bundleRefused === 'r4: bundle_rejected', 'the hub knows of the refusal');
      // Each outcome also went through the outbox as a `bundle` report: the hub holds all four (r1 applied; r2, r3, r4 refused), no seq gap.
      await until(async () => (await hub.ledger.messageCount(nodeId)) === 4, 'the four bundle reports at the hub');
      assert.deepEqual(await hub.ledger.messageSeqs(nodeId), [1, 2, 3, 4]);
      const r4 = (await hub.ledger.rollouts()).find((r) => r.revision === 'r4')!;
      assert.deepEqual(r4.nodes.map((n) => [n.node, n.status, n.reason]), [[nodeId, 'refused', 'bundle_rejected']]);
    } finally {
      await agent.close();
      store.close();
      await proxy.close();
      await hub.close();
    }
  });
});
