/**
 * Test helper: runs a real edge node as a child process (the way a user runs
 * it: `node bin/telemed-edge.js node`) on its own temp data folder and a free
 * port, mints tokens with the node's key, and stops it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSigningKey, mintToken } from '../../src/auth/index.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = path.join(ROOT, 'bin', 'telemed-edge.js');

export const CLINICIAN = 'Practitioner/demo-clinician';
export const DEMO_PATIENT = 'Patient/demo-patient';

/** A port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A fresh, empty data folder under the OS temp folder. */
export function tempDataDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'telemed-test-'));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningNode {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `<url>/fhir` */
  fhirBase: string;
  port: number;
  dataDir: string;
  child: ChildProcess;
  /** Everything the child wrote so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when the child has exited. */
  exited: Promise<ExitResult>;
  /** A bearer token signed with this node's key. */
  token(role: string, sub: string, ttlSeconds?: number): Promise<string>;
  /** Sends the signal (default SIGTERM) and waits for the exit. Idempotent once exited. */
  stop(signal?: NodeJS.Signals): Promise<ExitResult>;
}

export interface StartOptions {
  /** Reuse this data folder (e.g. to restart after a crash); default: a new temp folder. */
  dataDir?: string;
  /** Extra environment for the child. */
  env?: Record<string, string>;
  /** How long to wait for /readyz (ms). */
  readyTimeoutMs?: number;
}

/** The environment every child gets: quiet logs, no inherited TELEMED_* settings. */
export function childEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('TELEMED_') || k === 'PORT' || k === 'LOG_LEVEL' || k.startsWith('NODE_TEST')) continue;
    env[k] = v;
  }
  // A child of `node --test` must not think it is a test runner itself.
  delete env.NODE_OPTIONS;
  return { ...env, LOG_LEVEL: 'warn', ...extra };
}

/** Spawns `telemed-edge node` on a free port and waits until /readyz answers 200. */
export async function startNode(opts: StartOptions = {}): Promise<RunningNode> {
  const dataDir = opts.dataDir ?? (await tempDataDir());
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    try {
      return await spawnNode(dataDir, port, opts);
    } catch (err) {
      // Another process may have taken the port between our probe and the child's listen.
      if (attempt < 3 && /EADDRINUSE/.test(String((err as Error).message))) continue;
      throw err;
    }
  }
}

async function spawnNode(dataDir: string, port: number, opts: StartOptions): Promise<RunningNode> {
  const child = spawn(process.execPath, [BIN, 'node'], {
    cwd: ROOT,
    env: childEnv({ TELEMED_DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', ...opts.env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  // Should the test process end without stopping the node (a crash, an uncaught error), take the node with it.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  const exited = new Promise<ExitResult>((resolve) =>
    child.once('exit', (code, signal) => {
      process.off('exit', reap);
      resolve({ code, signal });
    }),
  );
  let exitedNow: ExitResult | undefined;
  void exited.then((r) => (exitedNow = r));

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 90_000);
  for (;;) {
    if (exitedNow) throw new Error(`the node exited before it was ready (code ${exitedNow.code}, signal ${exitedNow.signal}):\n${err}\n${out}`);
    try {
      const res = await fetch(`${url}/readyz`);
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`the node did not become ready within the timeout:\n${err}\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  // The banner follows readiness by a moment: wait for it, so a test reads the whole start output.
  while (!/ is up: /.test(out) && !exitedNow && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

  let signingKey: ReturnType<typeof loadSigningKey>['privateKey'] | undefined;
  return {
    url,
    fhirBase: `${url}/fhir`,
    port,
    dataDir,
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async token(role, sub, ttlSeconds = 3600) {
      signingKey ??= loadSigningKey(dataDir, false).privateKey;
      return mintToken(signingKey, `telemed-edge:${opts.env?.TELEMED_NODE_ID ?? 'edge-local'}`, sub, role, ttlSeconds);
    },
    async stop(signal = 'SIGTERM') {
      if (!exitedNow) child.kill(signal);
      return exited;
    },
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `telemed-edge <args>` to completion with the given environment. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 90_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`telemed-edge ${args.join(' ')} did not finish in ${timeoutMs} ms:\n${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** fetch against a node with an optional bearer token and a JSON body; returns status, headers and parsed body. */
export async function call(
  url: string,
  init: { method?: string; token?: string; body?: unknown; rawBody?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: any; text: string }> {
  const headers: Record<string, string> = { accept: 'application/fhir+json', ...init.headers };
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  let body: string | Buffer | undefined;
  if (init.rawBody !== undefined) body = init.rawBody;
  else if (init.body !== undefined) body = JSON.stringify(init.body);
  if (body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/fhir+json';
  const res = await fetch(url, { method: init.method ?? (body !== undefined ? 'POST' : 'GET'), headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** True when `body` has the shape every /fhir error must have: an OperationOutcome whose first issue explains itself. */
export function isOperationOutcome(body: any): boolean {
  return (
    body !== null &&
    typeof body === 'object' &&
    body.resourceType === 'OperationOutcome' &&
    Array.isArray(body.issue) &&
    body.issue.length > 0 &&
    typeof body.issue[0].diagnostics === 'string' &&
    body.issue[0].diagnostics.length > 0
  );
}

/** A minimal valid Observation for a patient. */
export function observation(patientRef: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: patientRef },
    effectiveDateTime: '2026-01-15T10:00:00Z',
    valueQuantity: { value: 72, unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
    ...extra,
  };
}
