/**
 * Prometheus instruments of the functions part, registered on the node's
 * registry: call durations and outcomes by function, worker replacements,
 * and the event-loop time calls spent waiting for their reply on the calling
 * thread (`TELEMED_FN_SPIN_US`), and how calls offered to the calling thread
 * under fuel went (`TELEMED_FN_INLINE_FUEL`). Labels are bounded: function names are set by
 * admins, outcomes are `ok` or an `FN_ERR_*` code.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { FunctionRuntimeOptions } from './registry.ts';

export function functionMetrics(registry: Registry): Pick<FunctionRuntimeOptions, 'onCall' | 'onWorkerReplaced' | 'onSpin' | 'onInline'> {
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
  const spin = new Histogram({
    name: 'function_call_spin_seconds',
    help: 'Event-loop time a Wasm function call held waiting for its reply on the calling thread (TELEMED_FN_SPIN_US), by whether the reply came within the budget (answered) or the call went on to wait asynchronously (budget)',
    labelNames: ['outcome'],
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001],
    registers: [registry],
  });
  const inline = new Counter({
    name: 'function_inline_calls_total',
    help: 'Wasm function calls offered to the calling thread under fuel (TELEMED_FN_INLINE_FUEL), by result: answered there, or sent on to a worker because the fuel ran out (fuel), the call trapped (trap) or its instance could not be made (instantiate)',
    labelNames: ['result'],
    registers: [registry],
  });
  return {
    onInline(result) {
      inline.inc({ result });
    },
    onSpin(seconds, answered) {
      spin.observe({ outcome: answered ? 'answered' : 'budget' }, seconds);
    },
    onCall(name, outcome, seconds) {
      duration.observe({ function: name, outcome }, seconds);
      calls.inc({ function: name, outcome });
    },
    onWorkerReplaced(reason) {
      replaced.inc({ reason });
    },
  };
}
