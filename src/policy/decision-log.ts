/**
 * Decision log entries (OPA's decision log, https://www.openpolicyagent.org/docs/management-decision-logs/),
 * reduced to what may leave the policy part without PHI: an id, the path, the
 * result, the latency and a hash of the input — never the input itself.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Decision, PolicyEngine, PolicyInput } from './index.ts';
import { fromJS, toJSON } from './rego/value.ts';

export interface DecisionLogEntry {
  decision_id: string;
  /** The decided path, e.g. `healthcare/telemedicine/allow`. */
  path: string;
  revision: string;
  result: Decision;
  /** Evaluation time in seconds (for a `policy_decision_seconds` histogram). */
  latency_seconds: number;
  /** SHA-256 of the input's canonical JSON (sorted keys), so equal inputs hash equal. */
  input_sha256: string;
  timestamp: string;
}

/** SHA-256 of a document's canonical JSON. */
export function inputHash(input: unknown): string {
  return createHash('sha256').update(toJSON(fromJS(input))).digest('hex');
}

/**
 * Wraps an engine so that every decision is reported to `sink` after it is
 * made. A throwing sink is ignored: logging never changes a decision.
 */
export function withDecisionLog(engine: PolicyEngine, sink: (e: DecisionLogEntry) => void, path = 'healthcare/telemedicine/allow'): PolicyEngine {
  return {
    get revision() {
      return engine.revision;
    },
    decide(input: PolicyInput): Decision {
      const start = process.hrtime.bigint();
      const result = engine.decide(input);
      const latency = Number(process.hrtime.bigint() - start) / 1e9;
      try {
        sink({
          decision_id: randomUUID(),
          path,
          revision: engine.revision,
          result,
          latency_seconds: latency,
          input_sha256: inputHash(input),
          timestamp: new Date().toISOString(),
        });
      } catch {
        // a failing sink must not turn into a denial or a crash
      }
      return result;
    },
  };
}
