/**
 * With an identity provider configured (TELEMED_JWKS_URL), the node verifies
 * tokens against the provider's JWKS, seeds nothing and mints nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { call, removeDir, startNode } from './helpers/node.ts';

test('tokens from an OIDC provider are verified against its JWKS; demo mode is off', async (t) => {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const other = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const idp = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
  t.after(() => idp.close());
  const issuer = 'https://idp.hospital.example/realms/clinic';
  const jwks = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/jwks`;

  const node = await startNode({ env: { TELEMED_JWKS_URL: jwks, TELEMED_OIDC_ISSUER: issuer, TELEMED_OIDC_AUDIENCE: 'telemed' } });
  t.after(async () => {
    await node.stop();
    await removeDir(node.dataDir);
  });
  assert.doesNotMatch(node.stdout(), /#token=/, 'no sign-in links without demo mode');

  const sign = (key: Parameters<SignJWT['sign']>[0], claims: Record<string, unknown>, iss = issuer) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer(iss).setAudience('telemed').setSubject('Practitioner/dr-idp').setIssuedAt().setExpirationTime('5m').sign(key);

  const good = await sign(privateKey, { roles: ['offline_access', 'authorized_medical_staff'] });
  const me = await call(`${node.url}/api/me`, { token: good });
  assert.equal(me.status, 200);
  assert.deepEqual(me.body, { id: 'Practitioner/dr-idp', role: 'authorized_medical_staff' });

  // Nothing was seeded: the demo patient does not exist.
  const search = await call(`${node.fhirBase}/Patient?_id=demo-patient`, { token: good });
  assert.equal(search.status, 200);
  assert.equal(search.body.entry.length, 0);

  for (const [why, token] of [
    ['signed by another key', await sign(other.privateKey, { role: 'authorized_medical_staff' })],
    ['another issuer', await sign(privateKey, { role: 'authorized_medical_staff' }, 'https://evil.example')],
    ['no known role', await sign(privateKey, { role: 'superuser' })],
  ] as const) {
    const r = await call(`${node.fhirBase}/Patient`, { token });
    assert.equal(r.status, 401, why);
    assert.equal(r.body.resourceType, 'OperationOutcome', why);
  }

  // The node does not mint tokens for an identity provider's realm.
  const cli = await import('./helpers/node.ts').then((m) => m.runCli(['token', '--role', 'patient', '--sub', 'Patient/x'], { TELEMED_DATA_DIR: node.dataDir }));
  assert.notEqual(cli.code, 0);
  assert.match(cli.stderr, /no node signing key/);
});
