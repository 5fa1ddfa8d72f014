// The function SDK's I/O: WASI preview1 (https://github.com/WebAssembly/WASI/blob/main/legacy/preview1/docs.md)
// imports declared by hand, so a built function is a plain WASI command that
// runs unchanged in the edge node, wasmtime or WasmEdge. Only the calls the
// node's sandbox grants are used: fd_read (stdin), fd_write (stdout, stderr),
// clock_time_get, random_get, proc_exit.

@external("wasi_snapshot_preview1", "fd_read")
declare function fd_read(fd: u32, iovs: usize, iovsLen: u32, nread: usize): u16;
@external("wasi_snapshot_preview1", "fd_write")
declare function fd_write(fd: u32, iovs: usize, iovsLen: u32, nwritten: usize): u16;
@external("wasi_snapshot_preview1", "clock_time_get")
declare function clock_time_get(id: u32, precision: u64, time: usize): u16;
@external("wasi_snapshot_preview1", "random_get")
declare function random_get(buf: usize, len: usize): u16;
@external("wasi_snapshot_preview1", "proc_exit")
declare function proc_exit(code: u32): void;

const STDIN: u32 = 0;
const STDOUT: u32 = 1;
const STDERR: u32 = 2;
const CHUNK: i32 = 4096;

/** Reads stdin to its end and decodes it as UTF-8. */
export function readInput(): string {
  let buf = new ArrayBuffer(CHUNK);
  let len: i32 = 0;
  const iov = memory.data(8);
  const nread = memory.data(4);
  while (true) {
    if (len == buf.byteLength) {
      const bigger = new ArrayBuffer(buf.byteLength * 2);
      memory.copy(changetype<usize>(bigger), changetype<usize>(buf), len);
      buf = bigger;
    }
    store<u32>(iov, changetype<usize>(buf) + len);
    store<u32>(iov, buf.byteLength - len, 4);
    const err = fd_read(STDIN, iov, 1, nread);
    if (err != 0) fail("cannot read stdin (WASI errno " + err.toString() + ")");
    const n = load<u32>(nread);
    if (n == 0) break;
    len += n;
  }
  return String.UTF8.decodeUnsafe(changetype<usize>(buf), len);
}

function writeAll(fd: u32, text: string): void {
  const bytes = String.UTF8.encode(text);
  let ptr = changetype<usize>(bytes);
  let left = bytes.byteLength;
  const iov = memory.data(8);
  const nwritten = memory.data(4);
  while (left > 0) {
    store<u32>(iov, ptr);
    store<u32>(iov, left, 4);
    if (fd_write(fd, iov, 1, nwritten) != 0) proc_exit(71);
    const n = load<u32>(nwritten);
    ptr += n;
    left -= n;
  }
}

/** Writes the function's result (one JSON document) to stdout. */
export function writeOutput(json: string): void {
  writeAll(STDOUT, json);
}

/** Writes one log line to stderr (the node's log; size-capped there). Never log patient data. */
export function log(message: string): void {
  writeAll(STDERR, message + "\n");
}

/** Ends the function with exit code 1 after one line on stderr; the node reports that line to the caller. */
export function fail(message: string): void {
  writeAll(STDERR, message + "\n");
  proc_exit(1);
}

/** Ends the function with the given exit code. */
export function exit(code: u32): void {
  proc_exit(code);
}

/** Milliseconds since the Unix epoch (WASI realtime clock). */
export function nowMillis(): i64 {
  const out = memory.data(8);
  if (clock_time_get(0, 1000, out) != 0) return 0;
  return load<i64>(out) / 1_000_000;
}

/** A random 64-bit value from the host (WASI random_get); the seed of Math.random. */
export function seed(): f64 {
  const out = memory.data(8);
  random_get(out, 8);
  return reinterpret<f64>((load<u64>(out) >> 12) | 0x3ff0000000000000);
}

/** The AssemblyScript abort handler (`--use abort=...`): message to stderr, exit code 134. */
export function abort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let text = "abort: " + (message !== null ? message : "(no message)");
  if (fileName !== null) text += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  writeAll(STDERR, text + "\n");
  proc_exit(134);
}
