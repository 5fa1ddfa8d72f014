import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createWasiHost, type WasiStop } from './wasi.ts';

const enc = new TextEncoder();

function host(stdin = '', stdoutLimit = 1024, stderrLimit = 1024) {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1 });
  const wasi = createWasiHost({ stdin: enc.encode(stdin), stdoutLimit, stderrLimit });
  wasi.bind(memory);
  const dv = new DataView(memory.buffer);
  const call = (name: string, ...args: Array<number | bigint>) => (wasi.imports[name] as unknown as (...a: Array<number | bigint>) => number)(...args);
  /** Lays out iovecs at 0 for the given [ptr, len] pairs. */
  const iov = (...pairs: Array<[number, number]>) => pairs.forEach(([p, l], i) => { dv.setUint32(i * 8, p, true); dv.setUint32(i * 8 + 4, l, true); });
  return { wasi, memory, dv, call, iov };
}

describe('wasi host', () => {
  it('serves stdin across iovecs and then end of file', () => {
    const h = host('{"a":1}');
    h.iov([100, 3], [200, 10]);
    assert.equal(h.call('fd_read', 0, 0, 2, 500), 0);
    assert.equal(h.dv.getUint32(500, true), 7);
    assert.equal(new TextDecoder().decode(new Uint8Array(h.memory.buffer, 100, 3)), '{"a');
    assert.equal(new TextDecoder().decode(new Uint8Array(h.memory.buffer, 200, 4)), '":1}');
    assert.equal(h.call('fd_read', 0, 0, 2, 500), 0);
    assert.equal(h.dv.getUint32(500, true), 0);
  });

  it('collects stdout and ends the call past its limit', () => {
    const h = host('', 8);
    new Uint8Array(h.memory.buffer).set(enc.encode('12345'), 100);
    h.iov([100, 5]);
    assert.equal(h.call('fd_write', 1, 0, 1, 500), 0);
    assert.equal(new TextDecoder().decode(h.wasi.stdout()), '12345');
    assert.throws(() => h.call('fd_write', 1, 0, 1, 500), (e: WasiStop) => e.wasiStop === 'output');
  });

  it('truncates stderr without failing', () => {
    const h = host('', 8, 3);
    new Uint8Array(h.memory.buffer).set(enc.encode('hello'), 100);
    h.iov([100, 5]);
    assert.equal(h.call('fd_write', 2, 0, 1, 500), 0);
    assert.equal(new TextDecoder().decode(h.wasi.stderr()), 'hel');
    assert.equal(h.wasi.stderrTruncated(), true);
  });

  it('answers EBADF for other descriptors and EFAULT for pointers outside memory', () => {
    const h = host('x');
    h.iov([100, 1]);
    assert.equal(h.call('fd_write', 3, 0, 1, 500), 8);
    assert.equal(h.call('fd_read', 1, 0, 1, 500), 8);
    assert.equal(h.call('fd_write', 1, 65535, 1, 500), 21);
    h.iov([65530, 100]);
    assert.equal(h.call('fd_read', 0, 0, 1, 500), 21);
    assert.equal(h.call('random_get', 65530, 100), 21);
    assert.equal(h.call('clock_time_get', 9, 0n, 0), 28);
  });

  it('gives a clock, random bytes, and empty args and environment', () => {
    const h = host();
    assert.equal(h.call('clock_time_get', 0, 1000n, 16), 0);
    const ms = Number(h.dv.getBigUint64(16, true) / 1_000_000n);
    assert.ok(Math.abs(ms - Date.now()) < 60_000);
    assert.equal(h.call('random_get', 100, 64), 0);
    assert.ok(new Uint8Array(h.memory.buffer, 100, 64).some((b) => b !== 0));
    h.dv.setUint32(200, 99, true);
    h.dv.setUint32(204, 99, true);
    assert.equal(h.call('environ_sizes_get', 200, 204), 0);
    assert.deepEqual([h.dv.getUint32(200, true), h.dv.getUint32(204, true)], [0, 0]);
    assert.equal(h.call('args_sizes_get', 200, 204), 0);
    assert.deepEqual([h.dv.getUint32(200, true), h.dv.getUint32(204, true)], [0, 0]);
    assert.throws(() => h.call('proc_exit', 3), (e: WasiStop) => e.wasiStop === 'exit' && e.code === 3);
  });
});
