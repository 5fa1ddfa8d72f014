/**
 * Hostile and broken modules, each contained with its own error while the
 * node (this test process) and other calls carry on: infinite loop, memory
 * bomb, forbidden imports, huge output, traps, invalid binaries, and a
 * module that tries every import it has to reach a file or the network.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { FunctionError, FunctionRegistry, GRANTED_IMPORTS } from '../src/functions/index.ts';
import { createLogger } from '../src/observability/index.ts';
import { admin, runtime, wat } from './functions-support.ts';

const WASI = 'wasi_snapshot_preview1';
const code = (c: string) => (e: unknown) => e instanceof FunctionError && e.code === c;

/** A WASI command whose `_start` runs `body`; the string `data` sits at offset 1024, `iov` helpers at 0. */
const command = (body: string, opts: { imports?: string; memory?: string; data?: string; extra?: string } = {}) => `(module
  (import "${WASI}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "${WASI}" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "${WASI}" "proc_exit" (func $proc_exit (param i32)))
  ${opts.imports ?? ''}
  ${opts.memory ?? '(memory (export "memory") 1 4)'}
  (data (i32.const 1024) "${(opts.data ?? '{"ok":true}').replace(/"/g, '\\"')}")
  ${opts.extra ?? ''}
  (func (export "_start") ${body}))`;

/** Writes `len` bytes at 1024 to `fd`, returning the errno. */
const write = (fd: number, len: number) => `(i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const ${len}))
  (call $fd_write (i32.const ${fd}) (i32.const 0) (i32.const 1) (i32.const 8))`;

const rt = runtime({ workers: 2, timeoutMs: 300, memoryPages: 16, outputBytes: 4096, logBytes: 64 });
after(() => rt.close());

/** Registers and waits until its metered copy is ready (or refused), so each call is first tried on this thread under fuel, then on a worker. */
const register = async (name: string, text: string) => {
  const info = await rt.register(admin, name, await wat(text));
  await rt.inlineSettled(name);
  return info;
};

describe('functions sandbox', () => {
  it('runs a hand-written WASI command and parses its stdout', async () => {
    await register('ok', command(`${write(1, 11)} drop`));
    assert.deepEqual((await rt.call(admin, 'ok', {})).output, { ok: true });
  });

  it('ends an infinite loop at the deadline, replaces the worker, and the next call works', async () => {
    await register('spin', command('(loop $l (br $l))'));
    const before = rt.workersReplaced;
    await assert.rejects(rt.call(admin, 'spin', {}), code('FN_ERR_TIMEOUT'));
    assert.equal(rt.workersReplaced, before + 1);
    assert.deepEqual((await rt.call(admin, 'ok', {})).output, { ok: true });
  });

  it('serves other calls while one spins', async () => {
    const spinning = assert.rejects(rt.call(admin, 'spin', {}), code('FN_ERR_TIMEOUT'));
    const others = await Promise.all([1, 2, 3].map(() => rt.call(admin, 'ok', {})));
    assert.deepEqual(others.map((o) => o.output), [{ ok: true }, { ok: true }, { ok: true }]);
    await spinning;
  });

  it('stops a memory bomb at the memory limit', async () => {
    await register('bomb', command(`(loop $l (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable)) (br $l))`, {
      memory: '(memory (export "memory") 1 16)',
    }));
    await assert.rejects(rt.call(admin, 'bomb', {}), code('FN_ERR_MEMORY_LIMIT'));
  });

  it('gives an imported memory the limit as its maximum', async () => {
    await register('bomb-imported', command(`(loop $l (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable)) (br $l))`, {
      memory: '(import "env" "memory" (memory 1))',
    }));
    await assert.rejects(rt.call(admin, 'bomb-imported', {}), (e: unknown) => code('FN_ERR_MEMORY_LIMIT')(e) && /16 of 16 pages/.test((e as Error).message));
  });

  it('refuses at registration a memory without a maximum or beyond the limit', async () => {
    await assert.rejects(register('m1', command('', { memory: '(memory (export "memory") 1)' })), (e: unknown) => code('FN_ERR_MODULE_SHAPE')(e) && /no maximum/.test((e as Error).message));
    await assert.rejects(register('m2', command('', { memory: '(memory (export "memory") 1 65536)' })), (e: unknown) => code('FN_ERR_MODULE_SHAPE')(e) && /65536 pages; the limit is 16/.test((e as Error).message));
    await assert.rejects(register('m3', command('', { extra: '(table 1 funcref)' })), code('FN_ERR_MODULE_SHAPE'));
  });

  it('refuses forbidden imports at registration, naming the import', async () => {
    const cases: Array<[string, string]> = [
      [`(import "${WASI}" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))`, `${WASI}.path_open`],
      ['(import "env" "fetch" (func (param i32) (result i32)))', 'env.fetch'],
      [`(import "${WASI}" "sock_accept" (func (param i32 i32 i32) (result i32)))`, `${WASI}.sock_accept`],
      [`(import "${WASI}" "fd_prestat_get" (func (param i32 i32) (result i32)))`, `${WASI}.fd_prestat_get`],
      ['(import "env" "g" (global i32))', 'global env.g'],
    ];
    for (const [imp, named] of cases) {
      await assert.rejects(register('forbidden', command('', { imports: imp })), (e: unknown) => {
        assert.ok(code('FN_ERR_FORBIDDEN_IMPORT')(e), String(e));
        assert.ok((e as Error).message.includes(named), (e as Error).message);
        return true;
      });
    }
    assert.equal(rt.get(admin, 'forbidden'), undefined);
  });

  it('ends a call that writes past the output limit', async () => {
    await register('flood', command(`(loop $l ${write(1, 1000)} drop (br $l))`));
    await assert.rejects(rt.call(admin, 'flood', {}), code('FN_ERR_OUTPUT_TOO_LARGE'));
  });

  it('truncates stderr to the log limit without failing the call', async () => {
    await register('chatty', command(`(loop $l ${write(2, 11)} drop (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (br_if $l (i32.lt_u (global.get $n) (i32.const 20)))) ${write(1, 11)} drop`, { extra: '(global $n (mut i32) (i32.const 0))' }));
    const r = await rt.call(admin, 'chatty', {});
    assert.deepEqual(r.output, { ok: true });
    assert.ok(r.log.length <= 64);
  });

  it('reports a trap, a stack overflow and non-JSON output as errors', async () => {
    await register('trap', command('unreachable'));
    await assert.rejects(rt.call(admin, 'trap', {}), code('FN_ERR_TRAP'));
    await register('recurse', command('(call $r)', { extra: '(func $r (call $r))' }));
    await assert.rejects(rt.call(admin, 'recurse', {}), code('FN_ERR_TRAP'));
    await register('garbage', command(`${write(1, 5)} drop`, { data: 'hello' }));
    await assert.rejects(rt.call(admin, 'garbage', {}), code('FN_ERR_BAD_OUTPUT'));
  });

  it('refuses invalid binaries with a clear load error', async () => {
    await assert.rejects(rt.register(admin, 'junk', new TextEncoder().encode('not wasm at all')), (e: unknown) =>
      code('FN_ERR_INVALID_MODULE')(e) && /not a valid WebAssembly module/.test((e as Error).message));
    const good = await wat(command(''));
    await assert.rejects(rt.register(admin, 'cut', good.subarray(0, good.length - 3)), code('FN_ERR_INVALID_MODULE'));
    await assert.rejects(rt.register(admin, 'nostart', await wat('(module (memory (export "memory") 1 1))')), code('FN_ERR_MODULE_SHAPE'));
  });

  it('grants no file, socket or environment through the imports it has', async () => {
    // Each probe exits with the errno (or count) the host answered.
    const probes: Array<[string, string, number]> = [
      ['write to fd 3 (a preopened dir elsewhere)', `(call $proc_exit ${write(3, 1)})`, 8],
      ['write to fd 100', `(call $proc_exit ${write(100, 1)})`, 8],
      ['read from fd 3', '(call $proc_exit (call $fd_read (i32.const 3) (i32.const 0) (i32.const 1) (i32.const 8)))', 8],
      ['read stdout', '(call $proc_exit (call $fd_read (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))', 8],
      ['an iovec past the memory', '(i32.store (i32.const 0) (i32.const 1000000)) (i32.store (i32.const 4) (i32.const 16)) (call $proc_exit (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))', 21],
    ];
    for (const [what, body, errno] of probes) {
      await register('probe', command(body));
      await assert.rejects(rt.call(admin, 'probe', {}), (e: unknown) => {
        assert.ok(code('FN_ERR_EXIT')(e), `${what}: ${String(e)}`);
        assert.match((e as Error).message, new RegExp(`exited with code ${errno}\\b`), what);
        return true;
      });
    }
    await register('environ', command(`(drop (call $env_sizes (i32.const 0) (i32.const 4))) (call $proc_exit (i32.add (i32.const 40) (i32.add (i32.load (i32.const 0)) (i32.load (i32.const 4)))))`, {
      imports: `(import "${WASI}" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))`,
    }));
    await assert.rejects(rt.call(admin, 'environ', {}), (e: unknown) => /exited with code 40\b/.test((e as Error).message));
  });

  it('refuses every other wasi_snapshot_preview1 function at registration, naming it', async () => {
    // The whole preview1 interface (WASI legacy/preview1 docs): what is not granted is refused, whatever its signature.
    const all = ['args_get', 'args_sizes_get', 'environ_get', 'environ_sizes_get', 'clock_res_get', 'clock_time_get',
      'fd_advise', 'fd_allocate', 'fd_close', 'fd_datasync', 'fd_fdstat_get', 'fd_fdstat_set_flags', 'fd_fdstat_set_rights',
      'fd_filestat_get', 'fd_filestat_set_size', 'fd_filestat_set_times', 'fd_pread', 'fd_prestat_get', 'fd_prestat_dir_name',
      'fd_pwrite', 'fd_read', 'fd_readdir', 'fd_renumber', 'fd_seek', 'fd_sync', 'fd_tell', 'fd_write',
      'path_create_directory', 'path_filestat_get', 'path_filestat_set_times', 'path_link', 'path_open', 'path_readlink',
      'path_remove_directory', 'path_rename', 'path_symlink', 'path_unlink_file', 'poll_oneoff', 'proc_exit', 'proc_raise',
      'sched_yield', 'random_get', 'sock_accept', 'sock_recv', 'sock_send', 'sock_shutdown'];
    const refused = all.filter((n) => !GRANTED_IMPORTS.includes(n));
    assert.equal(refused.length, all.length - GRANTED_IMPORTS.length, 'every granted import is a preview1 function');
    for (const name of refused) {
      await assert.rejects(register('forbidden', command('', { imports: `(import "${WASI}" "${name}" (func))` })), (e: unknown) =>
        code('FN_ERR_FORBIDDEN_IMPORT')(e) && (e as Error).message.includes(`${WASI}.${name},`), name);
    }
    // A granted name under another module or of another kind, and env.memory as a function, are refused too.
    for (const [imp, named] of [
      ['(import "wasi_unstable" "fd_write" (func (param i32 i32 i32 i32) (result i32)))', 'function wasi_unstable.fd_write'],
      [`(import "${WASI}" "fd_write" (global i32))`, `global ${WASI}.fd_write`],
      ['(import "env" "memory" (func))', 'function env.memory'],
      ['(import "env" "table" (table 1 1 funcref))', 'table env.table'],
    ] as const) {
      await assert.rejects(register('forbidden', command('', { imports: imp })), (e: unknown) =>
        code('FN_ERR_FORBIDDEN_IMPORT')(e) && (e as Error).message.includes(named), named);
    }
    await assert.rejects(register('forbidden', command('', { memory: `(import "${WASI}" "memory" (memory 1 4))` })), (e: unknown) =>
      code('FN_ERR_FORBIDDEN_IMPORT')(e) && (e as Error).message.includes(`memory ${WASI}.memory`));
    assert.equal(rt.get(admin, 'forbidden'), undefined);
  });

  it('answers every granted import without reaching a file, the network or the environment', async () => {
    // Each probe exits with what the host answered: an errno, or a value read back from memory.
    const imports = `(import "${WASI}" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
      (import "${WASI}" "random_get" (func $random (param i32 i32) (result i32)))
      (import "${WASI}" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
      (import "${WASI}" "args_get" (func $args (param i32 i32) (result i32)))
      (import "${WASI}" "environ_get" (func $environ (param i32 i32) (result i32)))`;
    const EBADF = 8, EFAULT = 21, EINVAL = 28;
    const fill = '(memory.fill (i32.const 2048) (i32.const 7) (i32.const 64))';
    const probes: Array<[string, string, number]> = [
      ['fd_write to stdin', `(call $proc_exit ${write(0, 1)})`, EBADF],
      ['fd_write to fd 3, the first preopened directory elsewhere', `(call $proc_exit ${write(3, 1)})`, EBADF],
      ['fd_write to fd -1', `(call $proc_exit ${write(-1, 1)})`, EBADF],
      ['fd_read from stderr', '(call $proc_exit (call $fd_read (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))', EBADF],
      ['fd_read from fd 4', '(call $proc_exit (call $fd_read (i32.const 4) (i32.const 0) (i32.const 1) (i32.const 8)))', EBADF],
      ['fd_read into memory it does not have', '(i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 1000000)) (call $proc_exit (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))', EFAULT],
      ['clock_time_get of an unknown clock', '(call $proc_exit (call $clock (i32.const 9) (i64.const 0) (i32.const 0)))', EINVAL],
      ['clock_time_get past the memory', '(call $proc_exit (call $clock (i32.const 0) (i64.const 0) (i32.const 262140)))', EFAULT],
      ['random_get past the memory', '(call $proc_exit (call $random (i32.const 0) (i32.const 1000000)))', EFAULT],
      ['args_sizes_get: no arguments', '(drop (call $args_sizes (i32.const 0) (i32.const 4))) (call $proc_exit (i32.add (i32.const 40) (i32.add (i32.load (i32.const 0)) (i32.load (i32.const 4)))))', 40],
      // args_get and environ_get write nothing: the bytes laid at 2048 are still there.
      ['args_get writes nothing', `${fill} (drop (call $args (i32.const 2048) (i32.const 2080))) (call $proc_exit (i32.load8_u (i32.const 2049)))`, 7],
      ['environ_get writes nothing', `${fill} (drop (call $environ (i32.const 2048) (i32.const 2080))) (call $proc_exit (i32.load8_u (i32.const 2090)))`, 7],
    ];
    for (const [what, body, answer] of probes) {
      await register('probe', command(body, { imports }));
      await assert.rejects(rt.call(admin, 'probe', {}), (e: unknown) => {
        assert.ok(code('FN_ERR_EXIT')(e), `${what}: ${String(e)}`);
        assert.match((e as Error).message, new RegExp(`exited with code ${answer}\\b`), what);
        return true;
      });
    }
  });

  it('answers a granted import called with another signature with an error or a trap', async () => {
    // fd_write imported again with 64-bit parameters: the host gets BigInts where it expects fd numbers, and refuses them.
    await register('bad-sig', command('(call $proc_exit (call $w (i64.const 1) (i64.const 0) (i64.const 1) (i64.const 8)))', {
      imports: `(import "${WASI}" "fd_write" (func $w (param i64 i64 i64 i64) (result i32)))`,
    }));
    await assert.rejects(rt.call(admin, 'bad-sig', {}), (e: unknown) => code('FN_ERR_EXIT')(e) && /exited with code 8\b/.test((e as Error).message));
    // random_get expecting a 64-bit result: the host's answer cannot be converted, the call traps.
    await register('bad-result', command('(drop (call $r (i32.const 0) (i32.const 4)))', {
      imports: `(import "${WASI}" "random_get" (func $r (param i32 i32) (result i64)))`,
    }));
    await assert.rejects(rt.call(admin, 'bad-result', {}), code('FN_ERR_TRAP'));
    assert.deepEqual((await rt.call(admin, 'ok', {})).output, { ok: true });
  });

  it('runs the start section of a module with one only within its call, with the input known', async () => {
    // The start section reads stdin (no instance of such a module is made ahead of its call); _start echoes what it read.
    // (It imports its memory: one it exported would not exist yet while the start section runs.)
    await register('start-section', command(`(i32.store (i32.const 4) (i32.load (i32.const 16)))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))`, {
      memory: '(import "env" "memory" (memory 1))',
      extra: `(func $init (i32.store (i32.const 0) (i32.const 4096)) (i32.store (i32.const 4) (i32.const 60000))
        (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))) (start $init)`,
    }));
    for (const input of [{ first: 1 }, { second: 2 }]) assert.deepEqual((await rt.call(admin, 'start-section', input)).output, input);
  });

  it('gives every call a fresh instance (no state survives between calls)', async () => {
    await register('counter', command('(global.set $n (i32.add (global.get $n) (i32.const 1))) (call $proc_exit (i32.add (i32.const 60) (global.get $n)))', {
      extra: '(global $n (mut i32) (i32.const 0))',
    }));
    for (let i = 0; i < 3; i++) {
      await assert.rejects(rt.call(admin, 'counter', {}), (e: unknown) => /exited with code 61\b/.test((e as Error).message));
    }
  });

  it('reads the whole input on stdin', async () => {
    // Copies stdin to stdout: the echo is the input document.
    await register('echo', command(`(i32.store (i32.const 0) (i32.const 4096)) (i32.store (i32.const 4) (i32.const 60000))
      (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (i32.store (i32.const 4) (i32.load (i32.const 8)))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))`));
    const input = { patient: 'Patient/1', values: [1, 2.5, 'é'] };
    assert.deepEqual((await rt.call(admin, 'echo', input)).output, input);
    // A shorter input next: nothing of the first call's input is left to read.
    assert.deepEqual((await rt.call(admin, 'echo', { p: 2 })).output, { p: 2 });
    await assert.rejects(rt.call(admin, 'echo', '{not json'), code('FN_ERR_BAD_INPUT'));
  });
});

describe('functions registry', () => {
  it('denies everything without a policy', async () => {
    const bare = new FunctionRegistry({ logger: createLogger({ level: 'silent' }), limits: { workers: 1 } });
    try {
      await assert.rejects(bare.register(admin, 'ok', await wat(command(''))), code('FN_ERR_DENIED'));
      assert.throws(() => bare.list(admin), code('FN_ERR_DENIED'));
    } finally {
      await bare.close();
    }
  });

  it('asks the policy run_function with the caller and operation', async () => {
    const asked: unknown[] = [];
    const reg = new FunctionRegistry({
      logger: createLogger({ level: 'silent' }),
      limits: { workers: 1 },
      decide: (input) => {
        asked.push({ action: input.action, role: input.user.role, op: input.resource?.operation });
        return input.user.role === 'admin' || input.resource?.operation === 'call' ? { allow: true, reason: 'ok' } : { allow: false, reason: 'role_not_allowed' };
      },
    });
    try {
      await reg.register(admin, 'ok', await wat(command(`${write(1, 11)} drop`)));
      const patient = { id: 'Patient/1', role: 'patient' };
      await assert.rejects(reg.register(patient, 'ok', await wat(command(''))), (e: unknown) => code('FN_ERR_DENIED')(e) && /role_not_allowed/.test((e as Error).message));
      assert.deepEqual((await reg.call(patient, 'ok', {})).output, { ok: true });
      assert.deepEqual(asked, [
        { action: 'run_function', role: 'admin', op: 'register' },
        { action: 'run_function', role: 'patient', op: 'register' },
        { action: 'run_function', role: 'patient', op: 'call' },
      ]);
    } finally {
      await reg.close();
    }
  });

  it('disables, enables and unregisters', async () => {
    const reg = runtime();
    try {
      await reg.register(admin, 'ok', await wat(command(`${write(1, 11)} drop`)));
      await reg.disable(admin, 'ok');
      await assert.rejects(reg.call(admin, 'ok', {}), code('FN_ERR_DISABLED'));
      await reg.enable(admin, 'ok');
      assert.deepEqual((await reg.call(admin, 'ok', {})).output, { ok: true });
      await reg.unregister(admin, 'ok');
      await assert.rejects(reg.call(admin, 'ok', {}), code('FN_ERR_NOT_FOUND'));
      await assert.rejects(reg.register(admin, 'Bad Name', await wat(command(''))), code('FN_ERR_BAD_NAME'));
    } finally {
      await reg.close();
    }
  });

  it('refuses a call when every worker is busy and the queue is full', async () => {
    const reg = runtime({ timeoutMs: 200, maxQueue: 1 });
    try {
      await reg.register(admin, 'spin', await wat(command('(loop $l (br $l))')));
      await reg.ready();
      const running = assert.rejects(reg.call(admin, 'spin', {}), code('FN_ERR_TIMEOUT'));
      const queued = assert.rejects(reg.call(admin, 'spin', {}), code('FN_ERR_TIMEOUT'));
      await assert.rejects(reg.call(admin, 'spin', {}), code('FN_ERR_BUSY'));
      await running;
      await queued;
    } finally {
      await reg.close();
    }
  });

  it('closes idempotently, failing waiting calls and later operations', async () => {
    const reg = runtime({ timeoutMs: 5000 });
    await reg.register(admin, 'spin', await wat(command('(loop $l (br $l))')));
    const running = assert.rejects(reg.call(admin, 'spin', {}), code('FN_ERR_CLOSED'));
    const waiting = assert.rejects(reg.call(admin, 'spin', {}), code('FN_ERR_CLOSED'));
    await new Promise((r) => setTimeout(r, 20));
    await Promise.all([reg.close(), reg.close()]);
    await running;
    await waiting;
    await assert.rejects(reg.call(admin, 'spin', {}), code('FN_ERR_CLOSED'));
  });
});
