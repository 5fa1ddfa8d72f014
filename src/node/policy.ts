/**
 * The node's policy in force: the Rego bundle from TELEMED_POLICY_DIR (or the
 * shipped `policies/`), compiled and self-tested before it is used, swapped
 * in atomically when the folder changes, and refused (old one kept, reason
 * logged, metric counted) when the new one fails to load, compile or pass
 * its own tests. A bundle rolled out by the hub (`install`, after the sync
 * agent checked its Ed25519 signature and that it is newer than the one in
 * force) goes through the same checks, is kept in the data folder
 * (`policy-bundle.json`, with its signed `issuedAt` and signature, so a replay
 * of an older one is refused after a restart too) and stays in force across
 * restarts, taking precedence over the folder. Every decision is timed and
 * logged without PHI.
 */
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Counter, Histogram, Gauge } from 'prom-client';
import type { Logger, Metrics } from '../observability/index.ts';
import { isIssuedAt, type SignedStamp } from '../sync/index.ts';
import {
  bundleFromFiles, createRegoPolicy, describeError, loadBundle, runBundleTests, withDecisionLog,
  type Bundle, type BundleFile, type PolicyEngine, type RegoPolicyEngine,
} from '../policy/index.ts';

export const SHIPPED_POLICY_DIR = fileURLToPath(new URL('../../policies', import.meta.url));

export interface NodePolicy {
  /** The engine in force (wrapped with the decision log). */
  current(): PolicyEngine;
  /** OPA's data API over the bundle in force. */
  data(pathParts: string[], input: unknown): unknown;
  readonly revision: string;
  /** Where the bundle in force came from: the folder (TELEMED_POLICY_DIR or the shipped one) or a rollout from the hub. */
  readonly source: 'folder' | 'hub';
  /**
   * The last bundle from the hub kept in the data folder (revision, signed
   * issuedAt, signature), read at start even when it no longer loads: the
   * sync agent takes only a newer one. Undefined when none is kept;
   * `issuedAt`/`sig` null for one kept before bundles carried them.
   */
  readonly signed: SignedStamp | undefined;
  /** Loads the folder again now; resolves to true when the new bundle is in force. */
  reload(): boolean;
  /**
   * Puts a bundle from the hub in force: compiles it, runs its own tests, keeps
   * it in the data folder, then swaps it in. Throws {@link PolicyLoadError}
   * (the bundle in force stays, the refusal is logged and counted) when it does
   * not compile, fails its tests or cannot be kept. `revision` (the signed one)
   * is the revision reported, whatever the bundle's manifest says; `signed`
   * (its issuedAt and signature) is kept with it.
   */
  install(files: readonly BundleFile[], revision: string, signed?: { issuedAt: string; sig: string }): void;
  close(): void;
}

/** The file in the data folder that keeps the bundle the hub rolled out. */
export const INSTALLED_BUNDLE_FILE = 'policy-bundle.json';

/** Why a bundle was refused: load, compile or self-test errors, with file:line:col. */
export class PolicyLoadError extends Error {
  override readonly name = 'PolicyLoadError';
}

function compileChecked(dir: string): RegoPolicyEngine {
  let bundle;
  try {
    bundle = loadBundle(dir);
  } catch (e) {
    throw new PolicyLoadError(`cannot read the policy bundle ${dir}: ${(e as Error).message}`);
  }
  return compileBundle(bundle, dir);
}

function compileBundle(bundle: Bundle, dir: string): RegoPolicyEngine {
  let engine: RegoPolicyEngine;
  try {
    engine = createRegoPolicy(bundle);
  } catch (e) {
    throw new PolicyLoadError(`the policy bundle ${dir} does not compile:\n${describeError(e)}`);
  }
  let report;
  try {
    report = runBundleTests(bundle);
  } catch (e) {
    throw new PolicyLoadError(`the tests of policy bundle ${dir} do not compile:\n${describeError(e)}`);
  }
  if (report.failed > 0 || report.errored > 0) {
    const bad = report.results.filter((r) => r.status !== 'PASS').slice(0, 5).map((r) => `${r.name}: ${r.status}`);
    throw new PolicyLoadError(`the policy bundle ${dir} fails its own tests (${report.failed} failed, ${report.errored} errors): ${bad.join('; ')}`);
  }
  return engine;
}

/** A cheap signature of a folder's files (names, sizes, mtimes), to notice changes. */
function signature(dir: string): string {
  const parts: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const s = statSync(p);
        parts.push(`${p}:${s.size}:${s.mtimeMs}`);
      }
    }
  };
  try {
    if (statSync(dir).isDirectory()) walk(dir);
    else parts.push(`${dir}:${statSync(dir).size}:${statSync(dir).mtimeMs}`);
  } catch {
    return 'missing';
  }
  return parts.sort().join('|');
}

export function createNodePolicy(o: { dir?: string; dataDir?: string; logger: Logger; metrics: Metrics; pollMs?: number }): NodePolicy {
  const dir = path.resolve(o.dir ?? SHIPPED_POLICY_DIR);
  const log = o.logger.child({ part: 'policy' });
  const registry = o.metrics.registry;
  const latency = new Histogram({
    name: 'policy_decision_seconds',
    help: 'Time to decide one clinical action, in seconds',
    buckets: [0.000002, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.001, 0.01],
    registers: [registry],
  });
  const loads = new Counter({ name: 'policy_bundle_loads_total', help: 'Policy bundle loads by result (loaded, refused)', labelNames: ['result'], registers: [registry] });
  const info = new Gauge({ name: 'policy_bundle_info', help: 'The policy bundle in force (value 1), by revision', labelNames: ['revision'], registers: [registry] });

  // The decision log entry (with its input hash) is only built when debug
  // logging is on: hashing the canonical input costs more than the decision.
  const wrap = (engine: RegoPolicyEngine): PolicyEngine => {
    const logged = withDecisionLog(engine, (e) => {
      latency.observe(e.latency_seconds);
      log.debug({ decision: { ...e } }, 'decision');
    });
    return {
      get revision() {
        return engine.revision;
      },
      decide(input) {
        if (log.isLevelEnabled('debug')) return logged.decide(input);
        const start = process.hrtime.bigint();
        const d = engine.decide(input);
        latency.observe(Number(process.hrtime.bigint() - start) / 1e9);
        return d;
      },
    };
  };

  const installedFile = o.dataDir ? path.join(path.resolve(o.dataDir), INSTALLED_BUNDLE_FILE) : undefined;
  const fromHub = (files: readonly BundleFile[], revision: string): RegoPolicyEngine => {
    const label = `from the hub (revision ${revision})`;
    let bundle: Bundle;
    try {
      bundle = bundleFromFiles(files.map((f) => ({ path: f.path, text: f.text })), label);
    } catch (e) {
      throw new PolicyLoadError(`cannot read the policy bundle ${label}: ${(e as Error).message}`);
    }
    // The signed revision is the one the hub and the fleet table know.
    bundle.manifest = { ...bundle.manifest, revision };
    return compileBundle(bundle, label);
  };

  // A bundle the hub rolled out earlier stays in force across restarts. Should it no
  // longer load (e.g. the engine changed with an upgrade), the folder's bundle is used.
  let rego: RegoPolicyEngine | undefined;
  let source: 'folder' | 'hub' = 'folder';
  let signed: SignedStamp | undefined;
  if (installedFile) {
    let kept: { revision?: unknown; files?: unknown; issuedAt?: unknown; sig?: unknown } | undefined;
    try {
      kept = JSON.parse(readFileSync(installedFile, 'utf8')) as typeof kept;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.error({ file: installedFile, reason: (e as Error).message }, 'the kept hub bundle is unreadable; using the folder');
    }
    if (kept) {
      // Its stamp bounds what the hub may send next even if it no longer loads here (the folder is then in force).
      if (typeof kept.revision === 'string') {
        signed = { revision: kept.revision, issuedAt: isIssuedAt(kept.issuedAt) ? kept.issuedAt : null, sig: typeof kept.sig === 'string' ? kept.sig : null };
        if (kept.issuedAt !== undefined && signed.issuedAt === null) log.error({ file: installedFile }, 'the kept hub bundle has an unreadable issuedAt; the next bundle from the hub is taken whatever its issuedAt');
      }
      try {
        if (typeof kept.revision !== 'string' || !Array.isArray(kept.files)) throw new PolicyLoadError('not a kept bundle');
        rego = fromHub(kept.files as BundleFile[], kept.revision);
        source = 'hub';
      } catch (e) {
        loads.inc({ result: 'refused' });
        log.error({ file: installedFile, reason: (e as Error).message }, 'the kept hub bundle does not load; using the folder');
      }
    }
  }
  rego ??= compileChecked(dir); // a bad folder bundle at start stops the start
  let engine = wrap(rego);
  let sig = signature(dir);
  loads.inc({ result: 'loaded' });
  info.set({ revision: rego.revision }, 1);
  log.info({ bundle: source === 'hub' ? 'hub' : dir, revision: rego.revision }, 'policy bundle in force');

  const swap = (next: RegoPolicyEngine) => {
    info.remove({ revision: rego!.revision });
    rego = next;
    engine = wrap(next);
    info.set({ revision: next.revision }, 1);
    loads.inc({ result: 'loaded' });
  };

  const reload = (): boolean => {
    sig = signature(dir);
    try {
      swap(compileChecked(dir));
      source = 'folder';
      log.info({ bundle: dir, revision: rego!.revision }, 'policy bundle reloaded');
      return true;
    } catch (e) {
      loads.inc({ result: 'refused' });
      log.error({ bundle: dir, reason: (e as Error).message, keeping: rego!.revision }, 'policy bundle refused; the previous one stays in force');
      return false;
    }
  };

  const install = (files: readonly BundleFile[], revision: string, stamp?: { issuedAt: string; sig: string }): void => {
    let next: RegoPolicyEngine;
    try {
      next = fromHub(files, revision);
      if (installedFile) keep(installedFile, JSON.stringify({ revision, ...(stamp ? { issuedAt: stamp.issuedAt, sig: stamp.sig } : {}), files: files.map((f) => ({ path: f.path, text: f.text })) }));
    } catch (e) {
      loads.inc({ result: 'refused' });
      log.error({ bundle: 'hub', revision, reason: (e as Error).message, keeping: rego!.revision }, 'policy bundle from the hub refused; the previous one stays in force');
      throw e instanceof PolicyLoadError ? e : new PolicyLoadError(`the policy bundle from the hub (revision ${revision}) cannot be kept: ${(e as Error).message}`);
    }
    swap(next);
    source = 'hub';
    signed = { revision, issuedAt: stamp?.issuedAt ?? null, sig: stamp?.sig ?? null };
    log.info({ bundle: 'hub', revision, issuedAt: stamp?.issuedAt }, 'policy bundle from the hub in force');
  };

  // The folder is watched while it is the source; a bundle from the hub outranks it until the kept file is removed.
  const timer = setInterval(() => {
    if (source === 'folder' && signature(dir) !== sig) reload();
  }, o.pollMs ?? 2000);
  timer.unref();

  return {
    current: () => engine,
    data: (p, input) => rego!.data(p, input),
    get revision() {
      return rego!.revision;
    },
    get source() {
      return source;
    },
    get signed() {
      return signed;
    },
    reload,
    install,
    close: () => clearInterval(timer),
  };
}

/** Writes `text` to `file` atomically and durably: a temp file, fsync, rename, fsync of the folder. */
export function keep(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeFileSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  try {
    const dfd = openSync(path.dirname(file), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some file systems refuse fsync on a folder; the rename is still atomic.
  }
}
