/**
 * The hub's fleet page in Chromium: the rollout form posts a configuration or
 * a policy bundle (files) to `POST /api/rollouts` and shows the API's answer,
 * errors as they come (a secret setting named, a wrong token); the admin token
 * stays in the tab (sessionStorage: no cookie, no localStorage); the fleet
 * table shows the node's config revision once it is in force; the rollouts
 * table shows each rollout's signed issuedAt.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { checkRemoteSettings } from '../src/config/index.ts';
import { createHub } from '../src/hub/index.ts';
import { bundleFromFiles, createRegoPolicy, loadVerifiedRegoPolicy, type PolicyEngine } from '../src/policy/index.ts';
import { ConfigRefusal, createSyncAgent } from '../src/sync/index.ts';
import { browserSkip, launchChromium } from './helpers/browser.ts';
import { brokerSkip, brokerUrl, deleteTopology, quietLogger, runPrefix, syncStore, until } from './sync-harness.ts';

const skip = browserSkip || (await brokerSkip());
const rego = (revision: string) => [
  { path: '.manifest', text: JSON.stringify({ revision }) },
  { path: 'p.rego', text: 'package healthcare.telemedicine\n\nimport rego.v1\n\ndefault allow := false\n\nallow if {\n\tinput.action == "data_transfer"\n\tinput.resource.classification == "deidentified"\n}\n' },
];

describe('hub fleet page: rollout form', { skip }, () => {
  const prefix = runPrefix();
  const nodeId = `${prefix}-page`;
  after(async () => {
    await deleteTopology(prefix, [nodeId]);
  });

  it('posts a configuration and a bundle, shows the API\'s errors, keeps the token in the tab, shows the config revision', { timeout: 120_000 }, async () => {
    const keys = generateKeyPairSync('ed25519');
    const token = randomBytes(24).toString('hex');
    // The hub's clock stamps each rollout's issuedAt: a known one per rollout (the configuration, then the bundle), so the page's text can be checked.
    const stamps = ['2026-11-26T06:00:00.000Z', '2026-11-26T14:30:15.250Z'];
    let stamped = 0;
    const clock = () => new Date(stamps[Math.min(stamped++, stamps.length - 1)]!);
    const hub = createHub({ logger: quietLogger(), amqpUrl: brokerUrl(), memory: true, prefix, port: 0, signingKey: keys.privateKey, adminToken: token, offlineAfterMs: 60_000, clock });
    await hub.start();
    const store = syncStore();
    let engine: PolicyEngine = createRegoPolicy(bundleFromFiles(rego('r0')));
    let config = '';
    const agent = createSyncAgent({
      store, policy: () => engine, logger: quietLogger(), nodeId, city: 'Page', amqpUrl: brokerUrl(), prefix, heartbeatMs: 200,
      bundles: { publicKey: keys.publicKey, apply: (files) => { engine = loadVerifiedRegoPolicy(bundleFromFiles(files)); } },
      config: {
        publicKey: keys.publicKey,
        inForce: () => config,
        apply: (revision, settings) => {
          const v = checkRemoteSettings(settings);
          if (!v.ok) throw new ConfigRefusal(v.reason, v.key, v.message);
          config = revision;
          return { applied: Object.keys(settings), pinned: [] };
        },
      },
    });
    agent.start();
    const browser = await launchChromium();
    try {
      await until(() => hub.online && hub.nodes().some((n) => n.id === nodeId), 'the hub knows the node');
      const page = await (await browser.newContext()).newPage();
      await page.goto(hub.url);
      const message = async () => ({ text: (await page.textContent('#rmsg')) ?? '', cls: (await page.getAttribute('#rmsg', 'class')) ?? '' });
      const settled = async () => {
        await page.waitForFunction(() => !['sending…', ''].includes((globalThis as any).document.querySelector('#rmsg')?.textContent));
        return message();
      };

      // A configuration naming a secret, to the node: the API's 400 message, naming the key.
      await page.fill('#token', token);
      await page.check('input[name=tk][value=node]');
      await page.fill('#tv', nodeId);
      await page.check('input[name=kind][value=config]');
      assert.equal(await page.isVisible('#settings'), true);
      assert.equal(await page.isVisible('#files'), false, 'the bundle inputs are hidden for a configuration');
      await page.fill('#settings', '{"logLevel":"warn","turnSecret":"a-secret-of-enough-length"}');
      await page.click('#send');
      let m = await settled();
      assert.match(m.text, /settings\.turnSecret: a secret or trust anchor/);
      assert.match(m.text, /\[bad_settings\]/);
      assert.equal(m.cls, 'err');

      // Not JSON: said before anything is sent.
      await page.fill('#settings', '{logLevel: warn}');
      await page.evaluate(() => { (globalThis as any).document.querySelector('#rmsg').textContent = ''; });
      await page.click('#send');
      assert.match((await settled()).text, /settings: not valid JSON/);

      // A wrong token: the API's 401 message.
      await page.fill('#token', `${token}x`);
      await page.fill('#settings', '{"logLevel":"warn"}');
      await page.evaluate(() => { (globalThis as any).document.querySelector('#rmsg').textContent = ''; });
      await page.click('#send');
      m = await settled();
      assert.match(m.text, /the admin token does not match/);
      assert.equal((await hub.ledger.rollouts()).length, 0, 'nothing rolled out so far');

      // The right token and settings: rolled out, pending, then the fleet table shows the revision.
      await page.fill('#token', token);
      await page.fill('#rev', 'cfg-page-1');
      await page.evaluate(() => { (globalThis as any).document.querySelector('#rmsg').textContent = ''; });
      await page.click('#send');
      m = await settled();
      assert.equal(m.cls, 'ok', m.text);
      assert.match(m.text, /config cfg-page-1 rolled out: 1 node\(s\) pending/);
      await until(() => config === 'cfg-page-1', 'in force on the node');
      await page.waitForFunction((rev) => [...(globalThis as any).document.querySelectorAll('#rows td')].some((td: any) => td.textContent === rev), 'cfg-page-1', { timeout: 30_000 });
      await page.waitForFunction(() => [...(globalThis as any).document.querySelectorAll('#rollouts td')].some((td: any) => td.textContent === 'config'), undefined, { timeout: 30_000 });

      // A bundle as files, to all.
      await page.check('input[name=tk][value=all]');
      await page.check('input[name=kind][value=bundle]');
      await page.fill('#rev', '');
      await page.setInputFiles('#files', rego('page-b1').map((f) => ({ name: f.path, mimeType: 'text/plain', buffer: Buffer.from(f.text) })));
      await page.evaluate(() => { (globalThis as any).document.querySelector('#rmsg').textContent = ''; });
      await page.click('#send');
      m = await settled();
      assert.match(m.text, /bundle page-b1 rolled out/);
      await until(() => engine.revision === 'page-b1', 'the bundle in force on the node');

      // The token lives in this tab only.
      const kept = await page.evaluate(() => { const g = globalThis as any; return { session: g.sessionStorage.getItem('hubToken'), local: g.localStorage.length, cookie: g.document.cookie }; });
      assert.deepEqual(kept, { session: token, local: 0, cookie: '' });
      const rollouts = await hub.ledger.rollouts();
      assert.deepEqual(rollouts.map((r) => `${r.kind}:${r.revision}`).sort(), ['bundle:page-b1', 'config:cfg-page-1']);

      // The rollouts table shows each rollout's signed issuedAt: readable (UTC, to the second), the exact value in the cell's title.
      assert.deepEqual(rollouts.map((r) => [r.revision, r.issuedAt]).sort(), [['cfg-page-1', stamps[0]], ['page-b1', stamps[1]]]);
      await page.waitForFunction(() => [...(globalThis as any).document.querySelectorAll('#rollouts tr')].length === 2, undefined, { timeout: 30_000 });
      const issuedCells = await page.evaluate(() => {
        const d = (globalThis as any).document;
        const col = [...d.querySelector('#rollouts').closest('table').querySelectorAll('thead th')].findIndex((th: any) => th.textContent === 'issued');
        return [...d.querySelectorAll('#rollouts tr')].map((tr: any) => [tr.cells[1].textContent, tr.cells[col]?.textContent, tr.cells[col]?.title]);
      });
      assert.deepEqual(issuedCells.sort(), [
        ['cfg-page-1', '2026-11-26 06:00:00 UTC', '2026-11-26T06:00:00.000Z'],
        ['page-b1', '2026-11-26 14:30:15 UTC', '2026-11-26T14:30:15.250Z'],
      ]);
    } finally {
      await browser.close();
      await agent.close();
      store.close();
      await hub.close();
    }
  });
});
