/**
 * Sums the node's domain events per metric and UTC hour in memory and hands
 * one aggregate per (metric, hour) to the outbox on each flush, so the hub
 * never sees a single event. What was observed but not flushed yet is lost
 * with the process: figures, not acknowledged writes.
 */
import type { Logger } from '../observability/index.ts';
import { hourOf, type Metric } from './deidentify.ts';

export interface AggregatorOptions {
  /** Where a finished figure goes: the sync agent's `enqueue('aggregate', …)`. */
  sink: (payload: Record<string, unknown>) => Promise<unknown>;
  logger: Logger;
  /** Flush period (default 15 minutes; an hour is then sent in parts that the hub adds up). */
  flushMs?: number;
  /**
   * Small-count suppression: a cell counted fewer than this many times is held
   * back (it keeps counting) until it reaches the threshold; a cell of an hour
   * already over that never reached it is dropped and counted in `suppressed`.
   * Default 1 (no suppression). A function is read at each flush (a setting
   * the hub may change live).
   */
  minCount?: number | (() => number);
  /** Clock (tests). */
  now?: () => number;
}

interface Cell {
  metric: Metric;
  period: string;
  count: number;
  sum: number;
  buckets: Map<string, number>;
}

export class Aggregator {
  readonly #o: AggregatorOptions;
  #cells = new Map<string, Cell>();
  readonly #timer: NodeJS.Timeout;
  #closed = false;
  #closing = false;
  /** Cells dropped by small-count suppression so far. */
  suppressed = 0;

  constructor(o: AggregatorOptions) {
    this.#o = o;
    this.#timer = setInterval(() => void this.flush(), o.flushMs ?? 15 * 60_000);
    this.#timer.unref();
  }

  /** Counts one event of `metric` at time `at` (ms), with an optional value (summed) and bucket label. */
  observe(metric: Metric, at: number, opts: { value?: number; bucket?: string } = {}): void {
    if (this.#closed) return;
    const period = hourOf(at);
    const key = `${metric}|${period}`;
    let c = this.#cells.get(key);
    if (!c) this.#cells.set(key, (c = { metric, period, count: 0, sum: 0, buckets: new Map() }));
    c.count++;
    if (opts.value !== undefined && Number.isFinite(opts.value) && opts.value >= 0) c.sum += opts.value;
    if (opts.bucket !== undefined) c.buckets.set(opts.bucket, (c.buckets.get(opts.bucket) ?? 0) + 1);
  }

  /** Sends what was summed so far, one aggregate per (metric, hour). */
  async flush(): Promise<void> {
    const m = this.#o.minCount;
    const k = typeof m === 'function' ? m() : (m ?? 1);
    const current = hourOf((this.#o.now ?? Date.now)());
    const cells: Cell[] = [];
    const held = new Map<string, Cell>();
    for (const [key, c] of this.#cells) {
      if (c.count >= k) cells.push(c);
      else if (c.period >= current && !this.#closing) held.set(key, c);
      else this.suppressed++;
    }
    this.#cells = held;
    for (const c of cells) {
      const payload: Record<string, unknown> = { metric: c.metric, period: c.period, count: c.count };
      if (c.sum > 0) payload.sum = c.sum;
      if (c.buckets.size > 0) payload.buckets = Object.fromEntries(c.buckets);
      try {
        await this.#o.sink(payload);
      } catch (err) {
        this.#o.logger.warn({ part: 'sync', metric: c.metric, err: { type: (err as Error).name, message: (err as Error).message } }, 'aggregate not queued');
      }
    }
  }

  /** Flushes once more and stops. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#timer);
    this.#closing = true;
    await this.flush();
    this.#closed = true;
  }
}
