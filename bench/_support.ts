/** Shared pieces of the benchmarks: child processes, free ports, autocannon summaries. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type autocannon from 'autocannon';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export async function waitReady(url: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not become ready in ${timeoutMs} ms`);
}

export interface Child {
  proc: ChildProcess;
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** Starts an edge node as a child process on a fresh data folder. */
export async function startNodeChild(env: Record<string, string> = {}): Promise<Child> {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'telemed-bench-'));
  const proc = spawn(process.execPath, [path.join(root, 'bin/telemed-edge.js'), 'node'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', TELEMED_DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/readyz`);
  return {
    proc,
    url,
    dataDir,
    stop: () =>
      new Promise<void>((resolve) => {
        proc.once('exit', () => {
          rmSync(dataDir, { recursive: true, force: true });
          resolve();
        });
        proc.kill('SIGTERM');
      }),
  };
}

/** Starts a bare node:http server answering a fixed JSON document, as a child process (the baseline). */
export async function startBaselineChild(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const code = `
    const http = require('node:http');
    const body = JSON.stringify({ resourceType: 'Observation', id: 'x', status: 'final', code: { text: 'baseline' } });
    http.createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(body); }); })
      .listen(${port}, '127.0.0.1');`;
  const proc = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url);
  return { url, stop: () => new Promise((r) => { proc.once('exit', () => r()); proc.kill('SIGTERM'); }) };
}

export function fmtMs(v: number): string {
  return `${v.toFixed(v < 10 ? 2 : 1)} ms`;
}

export function summary(label: string, r: autocannon.Result): { rps: number; p50: number; p99: number; p999: number } {
  const l = r.latency as unknown as Record<string, number>;
  const out = { rps: r.requests.average, p50: l.p50!, p99: l.p99!, p999: l.p99_9 ?? l.p999 ?? NaN };
  process.stdout.write(
    `${label.padEnd(34)} ${out.rps.toFixed(0).padStart(7)} req/s   p50 ${fmtMs(out.p50).padStart(9)}   p99 ${fmtMs(out.p99).padStart(9)}   p999 ${fmtMs(out.p999).padStart(9)}   non-2xx ${r.non2xx}   errors ${r.errors}\n`,
  );
  return out;
}
