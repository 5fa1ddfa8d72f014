/**
 * The code of a sandbox worker thread. The pool starts each worker from the
 * source text of {@link workerMain} and {@link createWasiHost} (an `eval`
 * worker with no loader flags), so a worker loads nothing of the project and
 * starts fast; both functions must stay self-contained.
 *
 * One call: instantiate the cached module with a fresh WASI host (a fresh
 * instance per call, so nothing of one patient's input survives into the next
 * call), run `_start`, parse stdout as JSON, reply.
 */
import type { MessagePort } from 'node:worker_threads';
import type { MemoryPlan } from './module.ts';
import type { WasiHost, WasiHostOptions, WasiStop } from './wasi.ts';

/** Pool → worker. `module` is sent the first time a worker sees `key`. */
export type ToWorker =
  | { op: 'call'; seq: number; key: string; module?: WebAssembly.Module; memory: MemoryPlan; input: Uint8Array; stdoutLimit: number; stderrLimit: number }
  | { op: 'forget'; key: string };

export type FailureKind = 'trap' | 'exit' | 'output' | 'memory' | 'bad_output' | 'instantiate' | 'unknown_module';

/** Worker → pool. */
export type FromWorker =
  | { seq: number; ok: true; output: unknown; stderr: string; stderrTruncated: boolean; instantiateMs: number; runMs: number }
  | { seq: number; ok: false; failure: FailureKind; message: string; exitCode?: number; stderr: string; stderrTruncated: boolean };

/** The worker's message loop. Self-contained: see the file comment. */
export function workerMain(createWasi: (o: WasiHostOptions) => WasiHost, port: MessagePort): void {
  const modules = new Map<string, WebAssembly.Module>();
  const decoder = new TextDecoder('utf-8', { fatal: false });
  const PAGE = 65536;

  const run = (m: Extract<ToWorker, { op: 'call' }>): FromWorker => {
    const module = m.module ?? modules.get(m.key);
    const base = { seq: m.seq, stderr: '', stderrTruncated: false };
    if (module === undefined) return { ...base, ok: false, failure: 'unknown_module', message: 'module not loaded in this worker' };
    if (m.module) modules.set(m.key, m.module);

    const wasi = createWasi({ stdin: m.input, stdoutLimit: m.stdoutLimit, stderrLimit: m.stderrLimit });
    const env: Record<string, WebAssembly.Memory> = {};
    let memory: WebAssembly.Memory | undefined;
    if (m.memory.imported) {
      memory = new WebAssembly.Memory({ initial: m.memory.imported.initial, maximum: m.memory.maxPages });
      env[m.memory.imported.name] = memory;
    }
    const t0 = performance.now();
    let instance: WebAssembly.Instance;
    try {
      instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: wasi.imports, env } as WebAssembly.Imports);
    } catch (err) {
      return { ...base, ok: false, failure: 'instantiate', message: String((err as Error).message ?? err) };
    }
    memory ??= instance.exports.memory as WebAssembly.Memory;
    wasi.bind(memory);
    const t1 = performance.now();
    let exitCode = 0;
    let thrown: unknown;
    try {
      (instance.exports._start as () => void)();
    } catch (err) {
      const stop = err as Partial<WasiStop> | null;
      if (stop !== null && typeof stop === 'object' && stop.wasiStop === 'exit') exitCode = stop.code ?? 1;
      else thrown = err;
    }
    const t2 = performance.now();
    const stderr = decoder.decode(wasi.stderr());
    const done = { ...base, stderr, stderrTruncated: wasi.stderrTruncated() };
    if (thrown !== undefined) {
      const stop = thrown as Partial<WasiStop> | null;
      if (stop !== null && typeof stop === 'object' && stop.wasiStop === 'output') {
        return { ...done, ok: false, failure: 'output', message: `wrote more than ${m.stdoutLimit} bytes to stdout` };
      }
      const pages = memory.buffer.byteLength / PAGE;
      const message = thrown instanceof Error ? thrown.message : String(thrown);
      if (pages >= m.memory.maxPages * 0.9) {
        return { ...done, ok: false, failure: 'memory', message: `trapped (${message}) with memory at ${pages} of ${m.memory.maxPages} pages` };
      }
      return { ...done, ok: false, failure: 'trap', message };
    }
    if (exitCode !== 0) return { ...done, ok: false, failure: 'exit', exitCode, message: `exited with code ${exitCode}` };
    let output: unknown;
    try {
      output = JSON.parse(decoder.decode(wasi.stdout()));
    } catch (err) {
      return { ...done, ok: false, failure: 'bad_output', message: `stdout is not one JSON document: ${(err as Error).message.slice(0, 120)}` };
    }
    return { ...done, ok: true, output, instantiateMs: t1 - t0, runMs: t2 - t1 };
  };

  port.on('message', (m: ToWorker) => {
    if (m.op === 'forget') {
      modules.delete(m.key);
      return;
    }
    let reply: FromWorker;
    try {
      reply = run(m);
    } catch (err) {
      reply = { seq: m.seq, ok: false, failure: 'trap', message: String((err as Error)?.message ?? err), stderr: '', stderrTruncated: false };
    }
    port.postMessage(reply);
  });
  port.postMessage({ ready: true });
}
