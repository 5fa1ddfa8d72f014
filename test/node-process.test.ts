/**
 * The node process as an operator sees it: health and readiness, Prometheus
 * metrics, a clean SIGTERM that drains in-flight requests and closes the
 * database, start-up refusal on a bad setting, no patient data in the logs,
 * and none readable in the database files.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openReadOnly } from './helpers/db.ts';
import { call, CLINICIAN, DEMO_PATIENT, observation, removeDir, runCli, startNode, tempDataDir, type RunningNode } from './helpers/node.ts';

/** The demo patient's name, and one of our own. */
const NAMES = ['Lindqvist', 'Quuxley', 'Zebedee'];
const NAME_RE = /Lindqvist|Quuxley|Zebedee|"Maren"|\bMaren\b/;

/** Every file of the data folder except the keys, as bytes. */
function databaseFiles(dataDir: string): Array<{ name: string; bytes: Buffer }> {
  return readdirSync(dataDir)
    .filter((f) => statSync(path.join(dataDir, f)).isFile())
    .map((f) => ({ name: f, bytes: readFileSync(path.join(dataDir, f)) }));
}

function assertNoNames(dataDir: string): void {
  const files = databaseFiles(dataDir);
  assert.ok(files.some((f) => f.name === 'telemed.db'), 'the database file is there');
  for (const { name, bytes } of files) {
    for (const n of NAMES) {
      assert.equal(bytes.indexOf(n, 0, 'utf8'), -1, `${name} holds '${n}' in plain text`);
      assert.equal(bytes.indexOf(n, 0, 'utf16le'), -1, `${name} holds '${n}' in UTF-16`);
    }
    assert.equal(bytes.indexOf('1980-01-01', 0, 'utf8'), -1, `${name} holds the demo patient's birth date`);
  }
}

describe('a running node', () => {
  let node: RunningNode;
  let token: string;

  before(async () => {
    // The most verbose logs, so that the PHI check below has the most to look at.
    // A long shutdown grace period: the drain test below holds a request open across SIGTERM.
    node = await startNode({ env: { LOG_LEVEL: 'trace', TELEMED_SHUTDOWN_TIMEOUT_MS: '60000' } });
    token = await node.token('authorized_medical_staff', CLINICIAN);
  });

  after(async () => {
    await node?.stop('SIGKILL');
    if (node) await removeDir(node.dataDir);
  });

  test('/healthz and /readyz answer', async () => {
    const h = await call(`${node.url}/healthz`);
    assert.equal(h.status, 200);
    assert.deepEqual(h.body, { status: 'ok' });
    const r = await call(`${node.url}/readyz`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { status: 'ready' });
  });

  test('keys are made on first start, readable by the owner only', () => {
    for (const f of ['signing.pem', 'data.key']) {
      const mode = statSync(path.join(node.dataDir, 'keys', f)).mode & 0o777;
      assert.equal(mode, 0o600, `keys/${f} has mode ${mode.toString(8)}`);
    }
  });

  test('patient data flows through the node (reads, writes, searches, errors) without reaching the logs', async () => {
    const put = await call(`${node.fhirBase}/Patient/pat-logs`, {
      method: 'PUT',
      token,
      body: { resourceType: 'Patient', id: 'pat-logs', name: [{ family: 'Quuxley', given: ['Zebedee'] }], telecom: [{ system: 'phone', value: '+1 555 0100' }] },
    });
    assert.equal(put.status, 201);
    assert.equal((await call(`${node.fhirBase}/Patient/demo-patient`, { token })).status, 200);
    assert.equal((await call(`${node.fhirBase}/Patient/pat-logs`, { token })).status, 200);
    assert.equal((await call(`${node.fhirBase}/Observation`, { token, body: observation('Patient/pat-logs', { note: [{ text: 'Quuxley said hello' }] }) })).status, 201);
    // Names in places where a careless node would log them: bad bodies, URLs, a wrong token.
    assert.equal((await call(`${node.fhirBase}/Patient`, { token, rawBody: '{"resourceType":"Patient","name":[{"family":"Lindqvist"' })).status, 400);
    assert.equal((await call(`${node.fhirBase}/Patient`, { token, body: { resourceType: 'Patient', name: [{ family: 'Lindqvist', given: ['Maren'] }], nickname: 'Zebedee' } })).status, 400);
    assert.equal((await call(`${node.fhirBase}/Patient?name=Lindqvist`, { token })).status, 400);
    assert.equal((await call(`${node.fhirBase}/Patient/Quuxley`, {})).status, 401);
    assert.equal((await call(`${node.fhirBase}/Patient`, { token, rawBody: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Lindqvist', text: 'x'.repeat(5 * 1024 * 1024) }] }) })).status, 413);
    assert.equal((await call(`${node.url}/api/me`, { headers: { authorization: 'Bearer Lindqvist.Quuxley.Zebedee' } })).status, 401);
  });

  test('/metrics has the request duration histogram by route and status, and process metrics', async () => {
    await call(`${node.fhirBase}/Observation/no-such-1`, { token });
    await call(`${node.fhirBase}/Observation/no-such-2`, { token });
    const m = await fetch(`${node.url}/metrics`);
    assert.equal(m.status, 200);
    assert.match(String(m.headers.get('content-type')), /^text\/plain/);
    const text = await m.text();
    assert.match(text, /^# TYPE http_request_duration_seconds histogram$/m);
    const buckets = text.split('\n').filter((l) => l.startsWith('http_request_duration_seconds_bucket{'));
    assert.ok(buckets.length > 0);
    for (const l of buckets) {
      assert.match(l, /route="[^"]+"/);
      assert.match(l, /status_code="\d{3}"/);
    }
    assert.ok(buckets.some((l) => /route="\/fhir\/Observation\/:id"/.test(l) && /status_code="404"/.test(l)), 'reads are labelled by route pattern and status');
    assert.ok(buckets.some((l) => /route="\/fhir\/Patient\/:id"/.test(l) && /status_code="200"/.test(l)));
    assert.ok(buckets.some((l) => /route="\/fhir\/Observation"/.test(l) && /status_code="201"/.test(l)));
    assert.doesNotMatch(text, /no-such-1|pat-logs|demo-patient/, 'ids never become label values (bounded cardinality, no identifiers)');
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
      assert.match(text, new RegExp(`^${name}`, 'm'), `process metric ${name}`);
    }
  });

  test('the database files hold no patient name or birth date, while the node runs', () => {
    assertNoNames(node.dataDir);
  });

  test('SIGTERM drains the request in flight, closes the database and exits 0', async () => {
    // A create whose headers the node has (it answered 100 Continue) but whose body is not sent yet.
    const body = JSON.stringify(observation(DEMO_PATIENT, { valueQuantity: { value: 4242, unit: 'count' } }));
    const inFlight = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(`${node.fhirBase}/Observation`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', 'content-length': Buffer.byteLength(body), expect: '100-continue' },
      });
      req.on('error', reject);
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('continue', () => {
        node.child.kill('SIGTERM');
        // Send the body once the node has started to shut down.
        const waitForShutdown = () => {
          if (node.stdout().includes('shutting down')) req.end(body);
          else node.child.stdout!.once('data', waitForShutdown);
        };
        waitForShutdown();
      });
      req.flushHeaders();
    });
    const res = await inFlight;
    assert.equal(res.status, 201, `the request in flight completes: ${res.text.slice(0, 200)}`);
    const id = JSON.parse(res.text).id as string;

    const exit = await node.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, node.stderr());
    const wal = path.join(node.dataDir, 'telemed.db-wal');
    assert.ok(!existsSync(wal) || statSync(wal).size === 0, 'the WAL was checkpointed and the database closed');
    // The drained create was committed.
    const db = openReadOnly(node.dataDir);
    try {
      assert.equal(db.prepare("SELECT count(*) FROM resource WHERE type = 'Observation' AND id = ?").pluck().get(id), 1);
    } finally {
      db.close();
    }
  });

  test('the database files hold no patient name after shutdown either', () => {
    assertNoNames(node.dataDir);
  });

  test('the logs are structured JSON and hold no patient data', () => {
    const lines = (node.stdout() + '\n' + node.stderr()).split('\n').filter((l) => l.trim().startsWith('{'));
    assert.ok(lines.length >= 3, `the node did log (start, shutdown): ${lines.length} lines`);
    for (const l of lines) {
      const entry = JSON.parse(l) as Record<string, unknown>;
      assert.equal(typeof entry.level, 'string');
      assert.equal(typeof entry.time, 'string');
      assert.doesNotMatch(l, NAME_RE, `a log line holds a patient name: ${l.slice(0, 300)}`);
      assert.doesNotMatch(l, /1980-01-01|555 0100|eyJ[A-Za-z0-9_-]{10,}/, `a log line holds PHI or a token: ${l.slice(0, 300)}`);
    }
    // The banner (not a log line) names no patient either.
    assert.doesNotMatch(node.stdout(), /Lindqvist|Quuxley|Zebedee/);
  });
});

test('the start banner says whether the node reports to a hub, and that the shipped policy keeps even heartbeats home', async () => {
  const alone = await startNode();
  try {
    assert.match(alone.stdout(), /hub: none, running standalone \(set AMQP_URL/);
  } finally {
    await alone.stop('SIGKILL');
    await removeDir(alone.dataDir);
  }
  // A broker that is not there: the node starts all the same (offline is normal), with a password that never shows.
  const linked = await startNode({ env: { AMQP_URL: 'amqp://ops:s3cret-pw@127.0.0.1:9' } });
  try {
    assert.match(linked.stdout(), /hub: amqp:\/\/127\.0\.0\.1:9; the policy in force refuses data_transfer to the hub/);
    assert.doesNotMatch(linked.stdout() + linked.stderr(), /s3cret-pw/);
  } finally {
    await linked.stop('SIGKILL');
    await removeDir(linked.dataDir);
  }
});

test('a data key that is not the one the database was written with stops the start, naming TELEMED_DATA_KEY', async () => {
  const right = randomBytes(32).toString('base64');
  const first = await startNode({ env: { TELEMED_DATA_KEY: right } });
  try {
    const token = await first.token('authorized_medical_staff', CLINICIAN);
    const created = await call(`${first.fhirBase}/Observation`, { token, body: observation(DEMO_PATIENT) });
    assert.equal(created.status, 201);
    assert.equal((await first.stop()).code, 0);

    const wrong = await runCli(['node'], { TELEMED_DATA_DIR: first.dataDir, TELEMED_DATA_KEY: randomBytes(32).toString('base64'), PORT: '0' });
    assert.notEqual(wrong.code, 0, `a wrong key must not start the node: ${wrong.stdout}`);
    assert.match(wrong.stderr, /TELEMED_DATA_KEY/);
    const none = await runCli(['node'], { TELEMED_DATA_DIR: first.dataDir, PORT: '0' });
    assert.notEqual(none.code, 0, `a missing key must not start the node: ${none.stdout}`);
    assert.match(none.stderr, /TELEMED_DATA_KEY/);
    assert.ok(!existsSync(path.join(first.dataDir, 'keys', 'data.key')), 'no new key was made for a database written with another');

    const again = await startNode({ dataDir: first.dataDir, env: { TELEMED_DATA_KEY: right } });
    try {
      const read = await call(`${again.fhirBase}/Observation/${created.body.id}`, { token: await again.token('authorized_medical_staff', CLINICIAN) });
      assert.equal(read.status, 200, 'with the right key the data is all there');
    } finally {
      await again.stop();
    }
  } finally {
    await first.stop();
    await removeDir(first.dataDir);
  }
});

describe('a bad setting stops the start with a message naming it', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await tempDataDir();
  });
  after(async () => {
    await removeDir(dataDir);
  });

  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['PORT=abc', { PORT: 'abc' }, /PORT/],
    ['PORT=70000', { PORT: '70000' }, /PORT/],
    ['TELEMED_DATA_KEY=short', { TELEMED_DATA_KEY: 'short' }, /TELEMED_DATA_KEY/],
    ['LOG_LEVEL=loud', { LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    ['TELEMED_DB_SYNC=sometimes', { TELEMED_DB_SYNC: 'sometimes' }, /TELEMED_DB_SYNC/],
    ['TELEMED_JWKS_URL=not a url', { TELEMED_JWKS_URL: 'not a url' }, /TELEMED_JWKS_URL/],
    ['TELEMED_CONFIG pointing at a missing file', { TELEMED_CONFIG: '/nonexistent/telemed.json' }, /TELEMED_CONFIG/],
  ];
  for (const [name, env, names] of cases) {
    test(name, async () => {
      const r = await runCli(['node'], { TELEMED_DATA_DIR: dataDir, ...env });
      assert.notEqual(r.code, 0, `the node must not start: ${r.stdout}`);
      assert.match(r.stderr, names, `the message names the setting: ${r.stderr}`);
      assert.doesNotMatch(r.stdout, /is up/);
    });
  }
});
