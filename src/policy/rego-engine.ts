/**
 * The Rego-backed {@link PolicyEngine}: bundles in OPA's layout, compiled once,
 * decided by Rego; plus hot-reload verification.
 */
import { loadBundle, type Bundle } from './bundle.ts';
import type { Decision, PolicyEngine, PolicyInput } from './index.ts';
import { describeError, RegoPolicy, type RegoPolicyOptions } from './rego-policy.ts';
import { runBundleTests } from './testing.ts';

/** A {@link PolicyEngine} that also answers OPA's data API. */
export interface RegoPolicyEngine extends PolicyEngine {
  /** `POST /v1/data/{path}`: the value at `data.<path>` for this input, or undefined. Throws on evaluation errors. */
  data(path: string[], input: unknown): unknown;
  readonly rego: RegoPolicy;
}

/**
 * Compiles a bundle (a directory, a `.tar.gz`, or a loaded {@link Bundle}) into a
 * {@link PolicyEngine}. Throws {@link RegoErrors} with file:line:col when the
 * bundle does not parse or compile; `decide` itself never throws (an
 * evaluation error is a deny with reason `policy_error`).
 */
export function createRegoPolicy(bundle: Bundle | string, opts: RegoPolicyOptions = {}): RegoPolicyEngine {
  const b = typeof bundle === 'string' ? loadBundle(bundle) : bundle;
  const rego = new RegoPolicy(b, opts);
  return {
    revision: rego.revision,
    rego,
    decide(input: PolicyInput): Decision {
      try {
        return rego.decide(input);
      } catch {
        return { allow: false, reason: 'policy_error' };
      }
    },
    data: (path, input) => rego.dataValue(path, input),
  };
}

/** A bundle refused at load: it does not compile, or its own tests fail. `reasons` are PHI-free lines for the log. */
export class BundleRejected extends Error {
  readonly reasons: string[];
  constructor(source: string, reasons: string[]) {
    super(`policy bundle ${source} refused: ${reasons.join('; ')}`);
    this.reasons = reasons;
  }
}

/**
 * Loads, compiles and tests a bundle, as hot reload needs: returns the engine
 * only when the bundle compiles and every `test_*` rule passes, otherwise
 * throws {@link BundleRejected} (the caller keeps the engine in force).
 */
export function loadVerifiedRegoPolicy(source: Bundle | string, opts: RegoPolicyOptions = {}): RegoPolicyEngine {
  let bundle: Bundle;
  let engine: RegoPolicyEngine;
  const label = typeof source === 'string' ? source : source.source;
  try {
    bundle = typeof source === 'string' ? loadBundle(source) : source;
    engine = createRegoPolicy(bundle, opts);
  } catch (e) {
    throw new BundleRejected(label, [describeError(e)]);
  }
  const report = runBundleTests(bundle);
  const bad = report.results.filter((r) => r.status !== 'PASS').map((r) => `${r.name}: ${r.status}${r.detail ? ` (${r.detail})` : ''}`);
  if (bad.length > 0) throw new BundleRejected(label, bad);
  return engine;
}
