/**
 * The node's policy in force: the Rego bundle from TELEMED_POLICY_DIR (or the
 * shipped `policies/`), compiled and self-tested before it is used, swapped
 * in atomically when the folder changes, and refused (old one kept, reason
 * logged, metric counted) when the new one fails to load, compile or pass
 * its own tests. Every decision is timed and logged without PHI.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Counter, Histogram, Gauge } from 'prom-client';
import type { Logger, Metrics } from '../observability/index.ts';
import {
  createRegoPolicy, describeError, loadBundle, runBundleTests, withDecisionLog,
  type PolicyEngine, type RegoPolicyEngine,
} from '../policy/index.ts';

export const SHIPPED_POLICY_DIR = fileURLToPath(new URL('../../policies', import.meta.url));

export interface NodePolicy {
  /** The engine in force (wrapped with the decision log). */
  current(): PolicyEngine;
  /** OPA's data API over the bundle in force. */
  data(pathParts: string[], input: unknown): unknown;
  readonly revision: string;
  /** Loads the folder again now; resolves to true when the new bundle is in force. */
  reload(): boolean;
  close(): void;
}

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

export function createNodePolicy(o: { dir?: string; logger: Logger; metrics: Metrics; pollMs?: number }): NodePolicy {
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

  let rego = compileChecked(dir); // a bad bundle at start stops the start
  let engine = wrap(rego);
  let sig = signature(dir);
  loads.inc({ result: 'loaded' });
  info.set({ revision: rego.revision }, 1);
  log.info({ bundle: dir, revision: rego.revision }, 'policy bundle in force');

  const reload = (): boolean => {
    sig = signature(dir);
    try {
      const next = compileChecked(dir);
      info.remove({ revision: rego.revision });
      rego = next;
      engine = wrap(next);
      info.set({ revision: rego.revision }, 1);
      loads.inc({ result: 'loaded' });
      log.info({ bundle: dir, revision: rego.revision }, 'policy bundle reloaded');
      return true;
    } catch (e) {
      loads.inc({ result: 'refused' });
      log.error({ bundle: dir, reason: (e as Error).message, keeping: rego.revision }, 'policy bundle refused; the previous one stays in force');
      return false;
    }
  };
  const timer = setInterval(() => {
    if (signature(dir) !== sig) reload();
  }, o.pollMs ?? 2000);
  timer.unref();

  return {
    current: () => engine,
    data: (p, input) => rego.data(p, input),
    get revision() {
      return rego.revision;
    },
    reload,
    close: () => clearInterval(timer),
  };
}
