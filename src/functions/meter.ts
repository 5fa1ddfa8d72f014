/**
 * Fuel metering: a rewrite of a registered module that lets its calls run on
 * the node's own thread (see inline.ts) with a hard bound on the work one call
 * can do, so no thread hand-off is on the call's path and yet an infinite loop
 * cannot hold the node.
 *
 * The rewrite (made with Binaryen, the WebAssembly toolchain library) adds
 * one exported mutable i64 global, the fuel, and charges it:
 * - at each function's entry, the number of expressions of its body outside
 *   loops;
 * - at the top of each loop body (so on every iteration, as a branch back to
 *   a loop goes to its top), the number of expressions of that body outside
 *   nested loops;
 * - for `memory.fill`, `memory.copy` and `memory.init`, one unit per
 *   {@link BULK_BYTES_PER_FUEL} bytes, charged from the length operand before
 *   the operation runs;
 * - for `memory.grow`, {@link GROW_PAGE_FUEL} per page (the page faults of
 *   first touching 64 KiB).
 * When the fuel goes below zero the module executes `unreachable` (a trap).
 * A memory the module defines becomes an imported one (same limits), so the
 * host can reuse a memory, zeroed, instead of allocating one per call.
 * Every expression outside loops runs at most once per entry of its function
 * and every expression inside a loop at most once per iteration, so the work
 * of a call is bounded by the fuel it is given plus what the host imports do
 * (charged on the host's side, inline.ts).
 *
 * The rewrite is complete or refused: a module using anything the walk does
 * not know (atomics, exceptions, GC, tables that grow, memory64, several
 * memories…) is refused with the reason, and its calls simply always go to
 * the worker threads, as before. Binaryen is large (~1 s to load and ~100 MiB
 * of memory), so the rewrite runs in a short-lived child process that exits
 * when idle; the node itself never loads it.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** The export through which the host sets and reads a metered module's fuel (an i64 `WebAssembly.Global`). */
export const FUEL_EXPORT = '__telemed_fuel';
/** Bytes of `memory.fill` / `memory.copy` / `memory.init` per unit of fuel. */
export const BULK_BYTES_PER_FUEL = 8;
/** Fuel per 64 KiB page of `memory.grow` (its 16 first-touch page faults, ~4 µs each here). */
export const GROW_PAGE_FUEL = 64_000;
/** The process of the rewrite exits after this long without work. */
const IDLE_EXIT_MS = 5_000;
/**
 * With jobs waiting, the process of the rewrite is killed when none has been
 * answered for this long (a module that makes Binaryen work without end):
 * the waiting jobs resolve with the reason, and the next job starts a new one.
 */
export const STALL_MS = 60_000;

/** The memory a metered module imports (it always imports its memory, so the host can give it a zeroed one again). */
export interface MeteredMemory { module: string; name: string; initial: number; maximum?: number }

export type MeterResult = { ok: true; bytes: Uint8Array; sites: number; memory: MeteredMemory } | { ok: false; reason: string };

interface MeterConsts { fuelExport: string; bulkBytesPerFuel: number; growPageFuel: number }

/**
 * The rewrite itself; runs in the metering process with Binaryen's module object.
 * Self-contained (its source text is that process's code): it refers to nothing
 * outside its own body but JavaScript globals and its arguments.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function meterModule(b: any, wasm: Uint8Array, c: MeterConsts): MeterResult {
  const F = b.Features;
  const features = F.MVP | F.MutableGlobals | F.NontrappingFPToInt | F.SignExt | F.BulkMemory | F.BulkMemoryOpt | F.SIMD128 | F.Multivalue | F.TailCall | F.ReferenceTypes | F.ExtendedConst | F.CallIndirectOverlong;
  let m;
  try {
    m = b.readBinaryWithFeatures(wasm, features);
  } catch (err) {
    return { ok: false, reason: `not readable with the features the meter knows: ${String((err as Error)?.message ?? err).slice(0, 200)}` };
  }
  try {
    for (let i = 0; i < m.getNumExports(); i++) {
      if (b.getExportInfo(m.getExportByIndex(i)).name === c.fuelExport) return { ok: false, reason: `the module already exports ${c.fuelExport}` };
    }
    let suffix = 0;
    const free = (base: string, taken: (n: string) => boolean): string => {
      let n = base;
      while (taken(n)) n = `${base}${++suffix}`;
      return n;
    };
    const globals = new Set<string>();
    for (let i = 0; i < m.getNumGlobals(); i++) globals.add(b.getGlobalInfo(m.getGlobalByIndex(i)).name);
    const functions = new Set<string>();
    for (let i = 0; i < m.getNumFunctions(); i++) functions.add(b.getFunctionInfo(m.getFunctionByIndex(i)).name);
    const fuel = free('telemed$fuel', (n) => globals.has(n));
    const i64 = b.i64;
    const i32 = b.i32;
    let sites = 0;
    /** `fuel -= cost; if (fuel < 0) unreachable` */
    const charge = (cost: number): number[] => {
      sites++;
      return [
        m.global.set(fuel, m.i64.sub(m.global.get(fuel, i64), m.i64.const(BigInt(cost)))),
        m.if(m.i64.lt_s(m.global.get(fuel, i64), m.i64.const(BigInt(0))), m.unreachable()),
      ];
    };
    /** A function `(n: i32) -> i32` that charges `n * mul / div` (at least 1) and gives back `n`. */
    const chargeFn = (name: string, mul: number, div: number): string => {
      const fn = free(name, (n) => functions.has(n));
      functions.add(fn);
      const n = m.local.get(0, i32);
      let units = m.i64.extend_u(n);
      if (mul !== 1) units = m.i64.mul(units, m.i64.const(BigInt(mul)));
      if (div !== 1) units = m.i64.div_u(units, m.i64.const(BigInt(div)));
      m.addFunction(fn, b.createType([i32]), i32, [], m.block(null, [
        m.global.set(fuel, m.i64.sub(m.i64.sub(m.global.get(fuel, i64), units), m.i64.const(BigInt(1)))),
        m.if(m.i64.lt_s(m.global.get(fuel, i64), m.i64.const(BigInt(0))), m.unreachable()),
        m.local.get(0, i32),
      ], i32));
      return fn;
    };
    const bulk = chargeFn('telemed$fuel_bytes', 1, c.bulkBytesPerFuel);
    const grow = chargeFn('telemed$fuel_pages', c.growPageFuel, 1);
    const E = b;
    // The children of each kind of expression the meter knows; any other kind refuses the module.
    const leaf = (): number[] => [];
    const atomic = (): never => {
      throw new Error('an atomic memory access');
    };
    const kids: Record<number, (e: number) => number[]> = {
      [E.BlockId]: (e) => E.Block.getChildren(e),
      [E.IfId]: (e) => [E.If.getCondition(e), E.If.getIfTrue(e), E.If.getIfFalse(e)],
      [E.BreakId]: (e) => [E.Break.getCondition(e), E.Break.getValue(e)],
      [E.SwitchId]: (e) => [E.Switch.getCondition(e), E.Switch.getValue(e)],
      [E.CallId]: (e) => E.Call.getOperands(e),
      [E.CallIndirectId]: (e) => [...E.CallIndirect.getOperands(e), E.CallIndirect.getTarget(e)],
      [E.LocalGetId]: leaf,
      [E.LocalSetId]: (e) => [E.LocalSet.getValue(e)],
      [E.GlobalGetId]: leaf,
      [E.GlobalSetId]: (e) => [E.GlobalSet.getValue(e)],
      [E.LoadId]: (e) => (E.Load.isAtomic(e) ? atomic() : [E.Load.getPtr(e)]),
      [E.StoreId]: (e) => (E.Store.isAtomic(e) ? atomic() : [E.Store.getPtr(e), E.Store.getValue(e)]),
      [E.ConstId]: leaf,
      [E.UnaryId]: (e) => [E.Unary.getValue(e)],
      [E.BinaryId]: (e) => [E.Binary.getLeft(e), E.Binary.getRight(e)],
      [E.SelectId]: (e) => [E.Select.getIfTrue(e), E.Select.getIfFalse(e), E.Select.getCondition(e)],
      [E.DropId]: (e) => [E.Drop.getValue(e)],
      [E.ReturnId]: (e) => [E.Return.getValue(e)],
      [E.MemorySizeId]: leaf,
      [E.NopId]: leaf,
      [E.UnreachableId]: leaf,
      [E.SIMDExtractId]: (e) => [E.SIMDExtract.getVec(e)],
      [E.SIMDReplaceId]: (e) => [E.SIMDReplace.getVec(e), E.SIMDReplace.getValue(e)],
      [E.SIMDShuffleId]: (e) => [E.SIMDShuffle.getLeft(e), E.SIMDShuffle.getRight(e)],
      [E.SIMDTernaryId]: (e) => [E.SIMDTernary.getA(e), E.SIMDTernary.getB(e), E.SIMDTernary.getC(e)],
      [E.SIMDShiftId]: (e) => [E.SIMDShift.getVec(e), E.SIMDShift.getShift(e)],
      [E.SIMDLoadId]: (e) => [E.SIMDLoad.getPtr(e)],
      [E.SIMDLoadStoreLaneId]: (e) => [E.SIMDLoadStoreLane.getPtr(e), E.SIMDLoadStoreLane.getVec(e)],
      [E.DataDropId]: leaf,
      [E.RefNullId]: leaf,
      [E.RefIsNullId]: (e) => [E.RefIsNull.getValue(e)],
      [E.RefFuncId]: leaf,
      [E.TableGetId]: (e) => [E.TableGet.getIndex(e)],
      [E.TableSetId]: (e) => [E.TableSet.getIndex(e), E.TableSet.getValue(e)],
      [E.TableSizeId]: leaf,
      [E.TupleMakeId]: (e) => E.TupleMake.getOperands(e),
      [E.TupleExtractId]: (e) => [E.TupleExtract.getTuple(e)],
    };
    /** Walks `e`, metering the loops and bulk operations in it; returns its expressions outside loops. */
    const walk = (e: number): number => {
      if (!e) return 0;
      const id = b.getExpressionId(e);
      if (id === E.LoopId) {
        const body = E.Loop.getBody(e);
        const cost = walk(body);
        E.Loop.setBody(e, m.block(null, [...charge(Math.max(1, cost)), body], b.getExpressionType(body)));
        return 1;
      }
      if (id === E.MemoryFillId || id === E.MemoryCopyId || id === E.MemoryInitId) {
        const cls = id === E.MemoryFillId ? E.MemoryFill : id === E.MemoryCopyId ? E.MemoryCopy : E.MemoryInit;
        const others = id === E.MemoryFillId ? [cls.getDest(e), cls.getValue(e)] : id === E.MemoryCopyId ? [cls.getDest(e), cls.getSource(e)] : [cls.getDest(e), cls.getOffset(e)];
        let n = 1;
        for (const k of others) n += walk(k);
        const size = cls.getSize(e);
        if (b.getExpressionType(size) !== i32) throw new Error('a bulk memory operation with a 64-bit length');
        n += walk(size);
        cls.setSize(e, m.call(bulk, [size], i32));
        return n;
      }
      if (id === E.MemoryGrowId) {
        const delta = E.MemoryGrow.getDelta(e);
        if (b.getExpressionType(delta) !== i32) throw new Error('a 64-bit memory.grow');
        const n = 1 + walk(delta);
        E.MemoryGrow.setDelta(e, m.call(grow, [delta], i32));
        return n;
      }
      const children = kids[id];
      if (children === undefined) throw new Error(`an expression the meter does not know (${b.getExpressionInfo(e).id})`);
      let n = 1;
      for (const k of children(e)) n += walk(k);
      return n;
    };
    const count = m.getNumFunctions();
    for (let i = 0; i < count; i++) {
      const f = m.getFunctionByIndex(i);
      const info = b.getFunctionInfo(f);
      if (info.module || !info.body) continue; // an import
      if (info.name === bulk || info.name === grow) continue;
      const cost = walk(info.body);
      E.Function.setBody(f, m.block(null, [...charge(Math.max(1, cost)), info.body], b.getExpressionType(info.body)));
    }
    m.addGlobal(fuel, i64, true, m.i64.const(BigInt(0)));
    m.addGlobalExport(fuel, c.fuelExport);
    // A memory the module defines becomes one it imports (as \`env.memory\`, with the same limits), so the host can
    // give it a memory of its own: a fresh one, or one zeroed after an earlier call (fresh ones cost the node's thread GCs).
    if (!m.hasMemory()) return { ok: false, reason: 'the module has no memory' };
    if (!m.getMemoryInfo().module) {
      let internal = '0';
      for (let i = 0; i < m.getNumExports(); i++) {
        const e = b.getExportInfo(m.getExportByIndex(i));
        if (e.kind === b.ExternalMemory) internal = e.value;
      }
      m.addMemoryImport(internal, 'env', 'memory', false);
    }
    const info = m.getMemoryInfo();
    if (!m.validate()) return { ok: false, reason: 'the metered module does not validate' };
    return { ok: true, bytes: m.emitBinary(), sites, memory: { module: info.module, name: info.base, initial: info.initial, ...(info.max === undefined ? {} : { maximum: info.max }) } };
  } catch (err) {
    return { ok: false, reason: String((err as Error)?.message ?? err).slice(0, 200) };
  } finally {
    m.dispose();
  }
}

interface Job { resolve: (r: MeterResult) => void }

let child: ChildProcess | undefined;
let idle: NodeJS.Timeout | undefined;
let stall: NodeJS.Timeout | undefined;
const jobs = new Map<number, Job>();
let nextJob = 0;

function childSource(binaryenUrl: string): string {
  const consts: MeterConsts = { fuelExport: FUEL_EXPORT, bulkBytesPerFuel: BULK_BYTES_PER_FUEL, growPageFuel: GROW_PAGE_FUEL };
  return [
    `'use strict';`,
    `const __name = (f) => f;`,
    `const meterModule = ${meterModule.toString()};`,
    `const ready = import(${JSON.stringify(binaryenUrl)}).then((m) => m.default);`,
    `process.on('disconnect', () => process.exit(0));`,
    `process.on('message', async ({ id, wasm }) => {`,
    `  let result;`,
    `  try { result = meterModule(await ready, wasm, ${JSON.stringify(consts)}); }`,
    `  catch (err) { result = { ok: false, reason: String(err && err.message || err).slice(0, 200) }; }`,
    `  process.send({ id, result });`,
    `});`,
  ].join('\n');
}

function settleAll(reason: string): void {
  for (const [id, job] of jobs) {
    jobs.delete(id);
    job.resolve({ ok: false, reason });
  }
}

/** (Re)starts the stall watch of `c` while it has jobs; stops it when it has none. */
function watch(c: ChildProcess, ms: number): void {
  if (stall) clearTimeout(stall);
  stall = undefined;
  if (jobs.size === 0) return;
  stall = setTimeout(() => {
    stall = undefined;
    if (child !== c) return;
    child = undefined;
    settleAll(`the rewrite took longer than ${ms / 1000} s; stopped`);
    c.kill('SIGKILL');
  }, ms);
  stall.unref();
}

/** Lets the node exit while the child idles (it still ends itself when the node goes: its channel closes). */
function hold(c: ChildProcess, on: boolean): void {
  const channel = c.channel as { ref(): void; unref(): void } | undefined;
  if (on) {
    c.ref();
    channel?.ref();
  } else {
    c.unref();
    channel?.unref();
  }
}

/**
 * Rewrites `wasm` with fuel metering, in a child process (started on demand,
 * shared by the jobs queued, ended {@link IDLE_EXIT_MS} after the last, so
 * Binaryen's memory goes back to the system: a worker thread's stayed with the
 * node, ~90 MiB). Never rejects: a module that cannot be metered, or a
 * failure of the rewrite itself (or its stall past {@link STALL_MS}),
 * resolves `{ ok: false, reason }`.
 */
export function meter(wasm: Uint8Array, o: { stallMs?: number } = {}): Promise<MeterResult> {
  const stallMs = o.stallMs ?? STALL_MS;
  return new Promise((resolve) => {
    let url: string;
    try {
      url = import.meta.resolve('binaryen');
    } catch {
      return resolve({ ok: false, reason: 'binaryen is not installed' });
    }
    if (idle) clearTimeout(idle);
    idle = undefined;
    if (child === undefined) {
      // No environment: the rewrite needs none, and the node's secrets stay out of it.
      const c = spawn(process.execPath, ['-e', childSource(url)], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], serialization: 'advanced', env: {} });
      child = c;
      c.on('message', ({ id, result }: { id: number; result: MeterResult }) => {
        const job = jobs.get(id);
        jobs.delete(id);
        job?.resolve(result);
        if (child === c) watch(c, stallMs);
        if (jobs.size === 0 && child === c) {
          hold(c, false);
          idle = setTimeout(() => {
            if (jobs.size === 0 && child === c) {
              child = undefined;
              c.disconnect();
            }
          }, IDLE_EXIT_MS).unref();
        }
      });
      c.on('error', () => {}); // the 'exit' (or a failed spawn's 'close') settles the jobs
      c.on('close', () => {
        if (child !== c) return; // ended idle (it had no jobs) or stalled (already settled)
        child = undefined;
        settleAll('the metering process stopped');
        watch(c, stallMs); // no jobs left: stops the watch
      });
    }
    hold(child, true);
    const id = ++nextJob;
    jobs.set(id, { resolve });
    if (stall === undefined) watch(child, stallMs);
    child.send({ id, wasm });
  });
}
