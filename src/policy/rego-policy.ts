/**
 * A {@link PolicyEngine} backed by the Rego engine: the bundle is compiled
 * once, the decision queries are prepared once, and each decision only
 * evaluates them against the input.
 */
import type { Bundle } from './bundle.ts';
import { compile, type CompiledPolicy, type PreparedQuery } from './rego/index.ts';
import { RegoError, RegoErrors } from './rego/errors.ts';
import { compileDecision } from './rego/fastpath.ts';
import { fromJS, RObject, toJS, type Value } from './rego/value.ts';

export interface RegoDecision {
  allow: boolean;
  reason: string;
}

export interface RegoPolicyOptions {
  /** The package that decides clinical actions (default `healthcare.telemedicine`). */
  package?: string;
  /** Reported as the engine's revision (default: the bundle manifest's revision, or `rego`). */
  revision?: string;
  /** Where `print` output goes (default: dropped). */
  print?: (msg: string) => void;
  /** Wall-clock budget of one decision in ms (default 250); past it the decision errors, i.e. denies. */
  timeoutMs?: number;
}

/** The decision engine over a compiled bundle. */
export class RegoPolicy {
  readonly revision: string;
  readonly policy: CompiledPolicy;
  readonly data: Value;
  readonly #allow: PreparedQuery;
  readonly #deny: PreparedQuery;
  readonly #reason: PreparedQuery | undefined;
  readonly #print: (msg: string) => void;
  readonly #queries: PreparedQuery[];
  readonly #timeoutMs: number;
  /** The whole decision compiled into one function of the plain input (see rego/fastpath.ts), when the rules allow it. */
  readonly #fast: ((input: unknown) => RegoDecision) | undefined;
  /** The generated source of the fast path, or undefined when the decision runs on the general evaluator. */
  readonly fastSource: string | undefined;

  constructor(bundle: Bundle, opts: RegoPolicyOptions = {}) {
    const pkg = opts.package ?? 'healthcare.telemedicine';
    const sources = bundle.modules.filter((m) => !m.path.endsWith('_test.rego')).map((m) => ({ file: m.path, text: m.text }));
    this.policy = compile(sources);
    this.data = bundle.data;
    this.revision = opts.revision ?? bundle.manifest.revision ?? 'rego';
    this.#allow = this.policy.prepare(`__result__ = data.${pkg}.allow`);
    this.#deny = this.policy.prepare(`__result__ = data.${pkg}.deny`);
    const pkgNode = pkg.split('.').reduce((n, s) => n?.children.get(s), this.policy.program.root as typeof this.policy.program.root | undefined);
    this.#reason = pkgNode?.children.has('reason') ? this.policy.prepare(`__result__ = data.${pkg}.reason`) : undefined;
    const dataFree = !(this.data instanceof RObject) || this.data.size === 0;
    const fast = dataFree ? compileDecision(this.policy.program.root, pkgNode, DECISIONS) : null;
    this.#fast = fast?.decide;
    this.fastSource = fast?.source;
    this.#print = opts.print ?? (() => {});
    this.#timeoutMs = opts.timeoutMs ?? 250;
    this.#queries = this.#reason ? [this.#allow, this.#deny, this.#reason] : [this.#allow, this.#deny];
  }

  /** Evaluates `data.<path>` (OPA's data API) and returns its JSON value, or undefined. */
  dataValue(path: string[], input: unknown): unknown {
    const rows = this.policy.evaluate(`__result__ = ${pathRef(path)}`, { input: fromJS(input), data: this.data, print: this.#print });
    const v = rows[0]?.get('__result__');
    return v === undefined ? undefined : toJS(v);
  }

  /**
   * Decides one action for plain JSON-like input. When the package's decision
   * compiles (rego/fastpath.ts: the seed, the shipped bundle), one generated
   * function answers; an input it does not decide exactly, or a decision that
   * does not compile, goes through the evaluator, with the same result.
   */
  decide(input: unknown): RegoDecision {
    const fast = this.#fast;
    if (fast !== undefined) {
      try {
        return fast(input);
      } catch {
        // UNSUPPORTED (input the generated code does not decide exactly), or anything the input threw: the evaluator decides
      }
    }
    return this.decideRaw(fromJS(input));
  }

  /** The compiled fast path alone: its decision, or undefined when it hands the input over (or the decision does not compile). */
  decideCompiled(input: unknown): RegoDecision | undefined {
    try {
      return this.#fast?.(input);
    } catch {
      return undefined;
    }
  }

  /** Decides one action: allow only when `allow` is true and `deny` is not. Throws on evaluation errors. */
  decideRaw(input: Value): RegoDecision {
    const [allow, deny, r] = this.policy.evaluateFirst(this.#queries, '__result__', { input, data: this.data, print: this.#print, timeoutMs: this.#timeoutMs });
    return verdict(allow, deny, r);
  }
}

/** The three decisions without a reason rule, shared (and frozen) so a fast decision allocates nothing. */
const PLAIN = {
  deny: Object.freeze({ allow: false, reason: 'policy_deny' }),
  allow: Object.freeze({ allow: true, reason: 'policy_allow' }),
  none: Object.freeze({ allow: false, reason: 'policy_default_deny' }),
} as const;

/** The decisions of the compiled fast path: shared and frozen, one per (allow, reason) pair. */
const DECISIONS = {
  ...PLAIN,
  make: (allow: boolean, reason: string): RegoDecision => Object.freeze({ allow, reason }),
};

function verdict(allow: Value | undefined, deny: Value | undefined, r: Value | undefined): RegoDecision {
  if (typeof r !== 'string') return deny === true ? PLAIN.deny : allow === true ? PLAIN.allow : PLAIN.none;
  if (deny === true) return { allow: false, reason: r };
  return { allow: allow === true, reason: r };
}

function pathRef(path: string[]): string {
  return 'data' + path.map((p) => `[${JSON.stringify(p)}]`).join('');
}

/** Describes a compile failure with OPA's codes and locations. */
export function describeError(e: unknown): string {
  if (e instanceof RegoErrors) return e.errors.map((x) => x.format()).join('\n');
  if (e instanceof RegoError) return e.format();
  return e instanceof Error ? e.message : String(e);
}
