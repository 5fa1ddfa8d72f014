/**
 * The sandbox's own `wasi_snapshot_preview1`
 * (https://github.com/WebAssembly/WASI/blob/main/legacy/preview1/docs.md).
 *
 * `node:wasi` is experimental and documented as unfit for untrusted code, so
 * the node grants exactly this much and nothing else: stdin (the input
 * document), stdout (capped; past the cap the call ends), stderr (capped,
 * truncated), a clock, random bytes, empty argv and environment, and exit.
 * No file, no socket, no environment variable. Any other import is refused
 * when the module is registered ({@link GRANTED_IMPORTS}).
 *
 * {@link createWasiHost} and {@link runCommand} run inside the worker thread, whose code is built
 * from the functions' source text: they must stay self-contained (no reference
 * to anything outside its own body but JavaScript globals).
 */

/** The `wasi_snapshot_preview1` functions the sandbox implements; any other import is refused. */
export const GRANTED_IMPORTS: readonly string[] = [
  'fd_read', 'fd_write', 'clock_time_get', 'random_get',
  'args_sizes_get', 'args_get', 'environ_sizes_get', 'environ_get', 'proc_exit',
];

/** Read at each import call, so a host made before its input is known (a pre-made instance) is given it by setting `stdin`. */
export interface WasiHostOptions {
  /** The bytes served on fd 0. */
  stdin: Uint8Array;
  /** Bytes fd 1 accepts; one byte more ends the call with an `output` failure. */
  stdoutLimit: number;
  /** Bytes of fd 2 kept; the rest is dropped and `stderrTruncated` set. */
  stderrLimit: number;
}

/** Thrown through the module's frames to end a call: `proc_exit`, or output past its limit. */
export interface WasiStop {
  wasiStop: 'exit' | 'output';
  code: number;
}

export interface WasiHost {
  /** The `wasi_snapshot_preview1` import object. */
  imports: Record<string, (...args: never[]) => number | void>;
  /** Gives the host the instance's memory (exported or imported) before `_start` runs. */
  bind(memory: WebAssembly.Memory): void;
  stdout(): Uint8Array;
  stderr(): Uint8Array;
  stderrTruncated(): boolean;
}

/** Builds one call's WASI host. Self-contained: see the file comment. */
export function createWasiHost(o: WasiHostOptions): WasiHost {
  const SUCCESS = 0, EBADF = 8, EFAULT = 21, EINVAL = 28;
  let mem: WebAssembly.Memory | undefined;
  let inPos = 0;
  const out: Uint8Array[] = [];
  let outLen = 0;
  const err: Uint8Array[] = [];
  let errLen = 0;
  let errTruncated = false;

  const view = (): DataView => new DataView(mem!.buffer);
  // Without a memory yet (a start section of a module that exports its memory), every pointer is out of bounds.
  const inBounds = (ptr: number, len: number): boolean => mem !== undefined && ptr >= 0 && len >= 0 && ptr + len <= mem.buffer.byteLength;
  const stop = (wasiStop: WasiStop['wasiStop'], code: number): never => {
    throw { wasiStop, code } satisfies WasiStop;
  };

  /** Reads the iovec array at `iovs`, or undefined when any part of it is out of bounds. */
  const iovecs = (iovs: number, count: number): Array<[number, number]> | undefined => {
    if (count < 0 || !inBounds(iovs, count * 8)) return undefined;
    const dv = view();
    const list: Array<[number, number]> = [];
    for (let i = 0; i < count; i++) {
      const ptr = dv.getUint32(iovs + i * 8, true);
      const len = dv.getUint32(iovs + i * 8 + 4, true);
      if (!inBounds(ptr, len)) return undefined;
      list.push([ptr, len]);
    }
    return list;
  };

  const writeU32 = (ptr: number, value: number): number => {
    if (!inBounds(ptr, 4)) return EFAULT;
    view().setUint32(ptr, value, true);
    return SUCCESS;
  };

  const imports = {
    fd_read(fd: number, iovs: number, count: number, nread: number): number {
      if (fd !== 0) return EBADF;
      const list = iovecs(iovs, count);
      if (list === undefined || !inBounds(nread, 4)) return EFAULT;
      const bytes = new Uint8Array(mem!.buffer);
      let total = 0;
      for (const [ptr, len] of list) {
        const n = Math.min(len, o.stdin.length - inPos);
        bytes.set(o.stdin.subarray(inPos, inPos + n), ptr);
        inPos += n;
        total += n;
        if (n < len) break;
      }
      return writeU32(nread, total);
    },
    fd_write(fd: number, iovs: number, count: number, nwritten: number): number {
      if (fd !== 1 && fd !== 2) return EBADF;
      const list = iovecs(iovs, count);
      if (list === undefined || !inBounds(nwritten, 4)) return EFAULT;
      let total = 0;
      for (const [ptr, len] of list) {
        total += len;
        if (fd === 1) {
          if (outLen + len > o.stdoutLimit) stop('output', 0);
          out.push(new Uint8Array(mem!.buffer, ptr, len).slice());
          outLen += len;
        } else {
          const keep = Math.max(0, Math.min(len, o.stderrLimit - errLen));
          if (keep < len) errTruncated = true;
          if (keep > 0) err.push(new Uint8Array(mem!.buffer, ptr, keep).slice());
          errLen += keep;
        }
      }
      return writeU32(nwritten, total);
    },
    clock_time_get(id: number, _precision: bigint, time: number): number {
      let ns: bigint;
      if (id === 0) ns = BigInt(Date.now()) * 1_000_000n;
      else if (id >= 1 && id <= 3) ns = process.hrtime.bigint();
      else return EINVAL;
      if (!inBounds(time, 8)) return EFAULT;
      view().setBigUint64(time, ns, true);
      return SUCCESS;
    },
    random_get(buf: number, len: number): number {
      if (!inBounds(buf, len)) return EFAULT;
      for (let at = 0; at < len; at += 65536) {
        crypto.getRandomValues(new Uint8Array(mem!.buffer, buf + at, Math.min(65536, len - at)));
      }
      return SUCCESS;
    },
    args_sizes_get(argc: number, bufSize: number): number {
      return writeU32(argc, 0) || writeU32(bufSize, 0);
    },
    args_get(): number {
      return SUCCESS;
    },
    environ_sizes_get(count: number, bufSize: number): number {
      return writeU32(count, 0) || writeU32(bufSize, 0);
    },
    environ_get(): number {
      return SUCCESS;
    },
    proc_exit(code: number): void {
      stop('exit', code >>> 0);
    },
  };

  const concat = (parts: Uint8Array[], len: number): Uint8Array => {
    const all = new Uint8Array(len);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return all;
  };

  return {
    imports: imports as unknown as WasiHost['imports'],
    bind(memory) {
      mem = memory;
    },
    stdout: () => concat(out, outLen),
    stderr: () => concat(err, errLen),
    stderrTruncated: () => errTruncated,
  };
}

/** How a WASI command's `_start` ended: exited (0 when it returned), wrote past its stdout limit, or threw something else (a trap). */
export type CommandEnd = { end: 'exit'; code: number } | { end: 'output' } | { end: 'threw'; error: unknown };

/** Runs a command's `_start` and says how it ended. Self-contained, like {@link createWasiHost} (the workers run its source text). */
export function runCommand(start: () => void): CommandEnd {
  try {
    start();
    return { end: 'exit', code: 0 };
  } catch (err) {
    const stop = err as Partial<WasiStop> | null;
    if (stop !== null && typeof stop === 'object' && stop.wasiStop === 'exit') return { end: 'exit', code: stop.code ?? 1 };
    if (stop !== null && typeof stop === 'object' && stop.wasiStop === 'output') return { end: 'output' };
    return { end: 'threw', error: err };
  }
}
