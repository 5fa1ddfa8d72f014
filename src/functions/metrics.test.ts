import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Registry } from 'prom-client';
import { functionMetrics } from './metrics.ts';

it('counts calls by function and outcome, and worker replacements', async () => {
  const registry = new Registry();
  const m = functionMetrics(registry);
  m.onCall!('news2', 'ok', 0.0002);
  m.onCall!('news2', 'FN_ERR_TIMEOUT', 1);
  m.onWorkerReplaced!('deadline');
  const text = await registry.metrics();
  assert.match(text, /function_calls_total\{function="news2",outcome="ok"\} 1/);
  assert.match(text, /function_calls_total\{function="news2",outcome="FN_ERR_TIMEOUT"\} 1/);
  assert.match(text, /function_call_duration_seconds_bucket\{le="0.00025",function="news2",outcome="ok"\} 1/);
  assert.match(text, /function_workers_replaced_total\{reason="deadline"\} 1/);
});

it('measures the event loop held by reply polls, answered or past the budget', async () => {
  const registry = new Registry();
  const m = functionMetrics(registry);
  m.onSpin!(0.0002, true);
  m.onSpin!(0.001, false);
  const text = await registry.metrics();
  assert.match(text, /function_call_spin_seconds_bucket\{le="0.00025",outcome="answered"\} 1/);
  assert.match(text, /function_call_spin_seconds_count\{outcome="budget"\} 1/);
  assert.match(text, /function_call_spin_seconds_sum\{outcome="budget"\} 0.001/);
});

it('counts calls offered to the calling thread by how they went', async () => {
  const registry = new Registry();
  const m = functionMetrics(registry);
  m.onInline!('answered');
  m.onInline!('answered');
  m.onInline!('fuel');
  const text = await registry.metrics();
  assert.match(text, /function_inline_calls_total\{result="answered"\} 2/);
  assert.match(text, /function_inline_calls_total\{result="fuel"\} 1/);
});
