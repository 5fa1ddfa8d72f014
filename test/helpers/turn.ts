/**
 * Test helper: coturn from Debian (`apt-get install coturn`) on 127.0.0.1 with
 * the REST-scheme secret the node mints TURN credentials from.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';

/** coturn from Debian (`apt-get install coturn`). */
export const TURNSERVER = ['/usr/bin/turnserver', '/usr/sbin/turnserver'].find((f) => existsSync(f));

/** A port nobody listens on right now (TCP; coturn takes the same number for UDP). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Waits until something accepts TCP connections on the port (coturn listens on TCP and UDP). */
export async function waitTcp(port: number): Promise<void> {
  let ready = false;
  for (let i = 0; i < 250 && !ready; i++) {
    ready = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (!ready) await new Promise((r) => setTimeout(r, 20));
  }
  if (!ready) throw new Error(`coturn did not listen on port ${port}`);
}

/** Starts coturn on 127.0.0.1:`port` with the REST-scheme secret (loopback peers allowed: tests only). */
export async function startTurn(o: { port: number; secret: string; logFile: string }): Promise<ChildProcess> {
  const turn = spawn(TURNSERVER!, [
    '-n', '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', `--listening-port=${o.port}`,
    '--use-auth-secret', `--static-auth-secret=${o.secret}`, '--realm=telemed.test',
    '--allow-loopback-peers', '--no-cli', '--no-tls', '--no-dtls', '--fingerprint',
    '--min-port=49152', '--max-port=65535', `--log-file=${o.logFile}`, '--simple-log',
  ], { stdio: 'ignore' });
  await waitTcp(o.port);
  return turn;
}
