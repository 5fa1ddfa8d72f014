/**
 * Prometheus instruments of the functions part, registered on the node's
 * registry: call durations and outcomes by function, and worker replacements.
 * Labels are bounded: function names are set by admins, outcomes are `ok` or
 * an `FN_ERR_*` code.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { FunctionRuntimeOptions } from './registry.ts';

export function functionMetrics(registry: Registry): Pick<FunctionRuntimeOptions, 'onCall' | 'onWorkerReplaced'> {
  const duration = new Histogram({
    name: 'function_call_duration_seconds',
    help: 'Wasm function calls, end to end (queue, worker hop, instantiation, run), by function and outcome',
    labelNames: ['function', 'outcome'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5],
    registers: [registry],
  });
  const calls = new Counter({
    name: 'function_calls_total',
    help: 'Wasm function calls by function and outcome (ok or an FN_ERR_* code)',
    labelNames: ['function', 'outcome'],
    registers: [registry],
  });
  const replaced = new Counter({
    name: 'function_workers_replaced_total',
    help: 'Sandbox workers terminated and replaced, by reason (deadline, crash)',
    labelNames: ['reason'],
    registers: [registry],
  });
  return {
    onCall(name, outcome, seconds) {
      duration.observe({ function: name, outcome }, seconds);
      calls.inc({ function: name, outcome });
    },
    onWorkerReplaced(reason) {
      replaced.inc({ reason });
    },
  };
}
