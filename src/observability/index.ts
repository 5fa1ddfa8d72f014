/**
 * Logs and metrics shared by every part: structured JSON logs (pino) that
 * never carry patient data, and one Prometheus registry per process.
 */
import { pino, type Logger, type LoggerOptions } from 'pino';
import { Registry, collectDefaultMetrics, Histogram, Counter, Gauge } from 'prom-client';

export type { Logger };

/**
 * Field names that must never reach a log line. Pino removes them wherever
 * they appear in the first two levels of a log object (request bodies,
 * resources, tokens).
 */
const REDACT = [
  'body', '*.body', 'resource', '*.resource', '*.name', 'birthDate', '*.birthDate',
  'address', '*.address', 'telecom', '*.telecom', 'authorization', '*.authorization',
  'headers.authorization', 'req.headers.authorization', 'token', '*.token', 'password', '*.password',
];

export function createLogger(options: { level?: string; name?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? 'info',
    base: { name: options.name ?? 'telemed-edge' },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return options.destination ? pino(opts, options.destination as pino.DestinationStream) : pino(opts);
}

/** The node's metrics: one registry, the process metrics and the shared instruments. */
export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly fhirOperations: Counter<'interaction' | 'type' | 'outcome'>;
  readonly policyDecisions: Counter<'action' | 'allow'>;
  readonly auditEvents: Counter<'action'>;
  readonly dbCommitDuration: Histogram<never>;
  readonly up: Gauge<never>;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration in seconds, by route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    this.fhirOperations = new Counter({
      name: 'fhir_operations_total',
      help: 'FHIR interactions by interaction, resource type and outcome (ok, client_error, denied, error)',
      labelNames: ['interaction', 'type', 'outcome'],
      registers: [this.registry],
    });
    this.policyDecisions = new Counter({
      name: 'policy_decisions_total',
      help: 'Policy decisions by action and result',
      labelNames: ['action', 'allow'],
      registers: [this.registry],
    });
    this.auditEvents = new Counter({
      name: 'audit_events_total',
      help: 'AuditEvents appended to the hash-chained trail, by FHIR action code (C R U D E)',
      labelNames: ['action'],
      registers: [this.registry],
    });
    this.dbCommitDuration = new Histogram({
      name: 'store_commit_duration_seconds',
      help: 'Duration of one group commit to SQLite, in seconds',
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers: [this.registry],
    });
    this.up = new Gauge({ name: 'telemed_up', help: '1 while the node serves', registers: [this.registry] });
  }
}
