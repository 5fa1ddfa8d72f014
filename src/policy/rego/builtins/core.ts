/**
 * Comparison, arithmetic, sets, membership and aggregates
 * (opa `topdown/compare.go`, `arithmetic.go`, `sets.go`, `aggregates.go`).
 */
import { BuiltinError, ErrorCodes } from '../errors.ts';
import { compare, equal, isNumber, num, RObject, RSet, type Value } from '../value.ts';
import { collection, decl, int, numArg, operandErr, type BuiltinImpl, type Family } from './types.ts';

export const decls = [
  decl('equal', 2), decl('neq', 2), decl('lt', 2), decl('lte', 2), decl('gt', 2), decl('gte', 2),
  decl('plus', 2), decl('minus', 2), decl('mul', 2), decl('div', 2), decl('rem', 2),
  decl('abs', 1), decl('round', 1), decl('ceil', 1), decl('floor', 1),
  decl('numbers.range', 2), decl('numbers.range_step', 3),
  decl('and', 2), decl('or', 2), decl('intersection', 1), decl('union', 1),
  decl('internal.member_2', 2), decl('internal.member_3', 3),
  decl('count', 1), decl('sum', 1), decl('product', 1), decl('max', 1), decl('min', 1), decl('sort', 1),
  decl('any', 1), decl('all', 1),
  decl('bits.or', 2), decl('bits.and', 2), decl('bits.negate', 1), decl('bits.xor', 2),
  decl('bits.lsh', 2), decl('bits.rsh', 2),
];

/** Exact arithmetic: integers in bigint when needed, floats as doubles. */
export function arith(op: string, a: number | bigint, b: number | bigint): number | bigint {
  if (typeof a === 'bigint' || typeof b === 'bigint') {
    const intA = typeof a === 'bigint' || Number.isInteger(a);
    const intB = typeof b === 'bigint' || Number.isInteger(b);
    if (intA && intB && op !== '/') {
      const x = BigInt(a);
      const y = BigInt(b);
      return num(op === '+' ? x + y : op === '-' ? x - y : x * y);
    }
    return arith(op, Number(a), Number(b));
  }
  let r: number;
  switch (op) {
    case '+': r = a + b; break;
    case '-': r = a - b; break;
    case '*': r = a * b; break;
    default: r = a / b;
  }
  if (Number.isInteger(a) && Number.isInteger(b) && Number.isInteger(r) && !Number.isSafeInteger(r) && op !== '/') {
    const x = BigInt(a);
    const y = BigInt(b);
    return num(op === '+' ? x + y : op === '-' ? x - y : x * y);
  }
  return num(fixFloat(r));
}

/** OPA computes with big decimals; round away binary noise like 0.1+0.2. */
function fixFloat(r: number): number {
  if (Number.isInteger(r) || !Number.isFinite(r)) return r;
  const s = r.toPrecision(15);
  const f = parseFloat(s);
  return f;
}

const setOp = (fn: string, pos: number, v: Value | undefined): RSet => {
  if (!(v instanceof RSet)) throw operandErr(fn, pos, 'set', v ?? null);
  return v;
};

function arithFn(name: string, op: string): BuiltinImpl {
  return ([a, b]) => {
    if (name === 'minus' && a instanceof RSet && b instanceof RSet) {
      return new RSet([...a.values()].filter((x) => !b.has(x)));
    }
    if (name === 'minus' && (a instanceof RSet || b instanceof RSet)) {
      throw operandErr(name, a instanceof RSet ? 2 : 2, a instanceof RSet ? 'set' : 'number', b!);
    }
    const x = numArg(name, a, 1);
    const y = numArg(name, b, 2);
    if (op === '/' && Number(y) === 0) throw new BuiltinError('div: divide by zero');
    return arith(op, x, y);
  };
}

function numbersRange(fn: string, a: Value | undefined, b: Value | undefined, step: bigint): Value {
  const x = int(fn, a, 1);
  const y = int(fn, b, 2);
  const out: Value[] = [];
  if (x <= y) for (let i = x; i <= y; i += step) out.push(num(i));
  else for (let i = x; i >= y; i -= step) out.push(num(i));
  return out;
}

const cmp = (f: (c: number) => boolean): BuiltinImpl => ([a, b]) => f(compare(a!, b!));

function aggNums(fn: string, v: Value | undefined): (number | bigint)[] {
  const items = collection(fn, v, 1);
  return items.map((x) => {
    if (!isNumber(x)) throw operandErr(fn, 1, 'one of {array, set}', v!);
    return x;
  });
}

export const impls: Record<string, BuiltinImpl> = {
  equal: ([a, b]) => equal(a!, b!),
  neq: ([a, b]) => !equal(a!, b!),
  lt: cmp((c) => c < 0),
  lte: cmp((c) => c <= 0),
  gt: cmp((c) => c > 0),
  gte: cmp((c) => c >= 0),
  plus: arithFn('plus', '+'),
  minus: arithFn('minus', '-'),
  mul: arithFn('mul', '*'),
  div: arithFn('div', '/'),
  rem: ([a, b]) => {
    const x = numArg('rem', a, 1);
    const y = numArg('rem', b, 2);
    if (!Number.isInteger(Number(x)) || !Number.isInteger(Number(y))) throw new BuiltinError('rem: modulo on floating-point number');
    if (Number(y) === 0) throw new BuiltinError('rem: modulo by zero');
    return num(BigInt(x) % BigInt(y));
  },
  abs: ([a]) => {
    const x = numArg('abs', a, 1);
    return typeof x === 'bigint' ? num(x < 0n ? -x : x) : Math.abs(x);
  },
  round: ([a]) => {
    const x = numArg('round', a, 1);
    if (typeof x === 'bigint') return x;
    return num(x < 0 ? -Math.round(-x) : Math.round(x));
  },
  ceil: ([a]) => {
    const x = numArg('ceil', a, 1);
    return typeof x === 'bigint' ? x : num(Math.ceil(x));
  },
  floor: ([a]) => {
    const x = numArg('floor', a, 1);
    return typeof x === 'bigint' ? x : num(Math.floor(x));
  },
  'numbers.range': ([a, b]) => numbersRange('numbers.range', a, b, 1n),
  'numbers.range_step': ([a, b, c]) => {
    const s = numArg('numbers.range_step', c, 3);
    if (!Number.isInteger(Number(s))) throw new BuiltinError('numbers.range_step: step must be a whole number');
    if (Number(s) <= 0) throw new BuiltinError('numbers.range_step: step must be a positive integer');
    return numbersRange('numbers.range_step', a, b, BigInt(s));
  },
  and: ([a, b]) => {
    const x = setOp('and', 1, a);
    const y = setOp('and', 2, b);
    return new RSet([...x.values()].filter((v) => y.has(v)));
  },
  or: ([a, b]) => {
    const x = setOp('or', 1, a);
    const y = setOp('or', 2, b);
    return new RSet([...x.values(), ...y.values()]);
  },
  intersection: ([a]) => {
    const sets = setOp('intersection', 1, a);
    let out: RSet | undefined;
    for (const s of sets.values()) {
      if (!(s instanceof RSet)) throw operandErr('intersection', 1, 'set of sets', a!);
      out = out === undefined ? s : new RSet([...out.values()].filter((v) => s.has(v)));
    }
    return out ?? new RSet();
  },
  union: ([a]) => {
    const sets = setOp('union', 1, a);
    const out = new RSet();
    for (const s of sets.values()) {
      if (!(s instanceof RSet)) throw operandErr('union', 1, 'set of sets', a!);
      for (const v of s.values()) out.add(v);
    }
    return out;
  },
  'internal.member_2': ([x, c]) => {
    if (Array.isArray(c)) return c.some((e) => equal(e, x!));
    if (c instanceof RSet) return c.has(x!);
    if (c instanceof RObject) {
      for (const [, v] of c.entries()) if (equal(v, x!)) return true;
      return false;
    }
    return false;
  },
  'internal.member_3': ([k, x, c]) => {
    if (Array.isArray(c)) return typeof k === 'number' && c[k] !== undefined && equal(c[k]!, x!);
    if (c instanceof RObject) {
      const v = c.get(k!);
      return v !== undefined && equal(v, x!);
    }
    if (c instanceof RSet) return equal(k!, x!) && c.has(x!);
    return false;
  },
  count: ([a]) => {
    if (typeof a === 'string') return [...a].length;
    if (Array.isArray(a)) return a.length;
    if (a instanceof RSet || a instanceof RObject) return a.size;
    throw operandErr('count', 1, 'one of {array, object, set, string}', a ?? null);
  },
  sum: ([a]) => aggNums('sum', a).reduce<number | bigint>((s, x) => arith('+', s, x), 0),
  product: ([a]) => aggNums('product', a).reduce<number | bigint>((s, x) => arith('*', s, x), 1),
  max: ([a]) => {
    const items = collection('max', a, 1);
    if (items.length === 0) return undefined;
    return items.reduce((m, x) => (compare(x, m) > 0 ? x : m));
  },
  min: ([a]) => {
    const items = collection('min', a, 1);
    if (items.length === 0) return undefined;
    return items.reduce((m, x) => (compare(x, m) < 0 ? x : m));
  },
  sort: ([a]) => [...collection('sort', a, 1)].sort(compare),
  any: ([a]) => collection('any', a, 1).some((x) => x === true),
  all: ([a]) => collection('all', a, 1).every((x) => x === true),
  'bits.or': ([a, b]) => num(int('bits.or', a, 1) | int('bits.or', b, 2)),
  'bits.and': ([a, b]) => num(int('bits.and', a, 1) & int('bits.and', b, 2)),
  'bits.xor': ([a, b]) => num(int('bits.xor', a, 1) ^ int('bits.xor', b, 2)),
  'bits.negate': ([a]) => num(~int('bits.negate', a, 1)),
  'bits.lsh': ([a, b]) => {
    const s = int('bits.lsh', b, 2);
    if (s < 0n) throw new BuiltinError('bits.lsh: operand 2 must be an unsigned integer number but got a negative integer', ErrorCodes.evalType);
    return num(int('bits.lsh', a, 1) << s);
  },
  'bits.rsh': ([a, b]) => {
    const s = int('bits.rsh', b, 2);
    if (s < 0n) throw new BuiltinError('bits.rsh: operand 2 must be an unsigned integer number but got a negative integer', ErrorCodes.evalType);
    return num(int('bits.rsh', a, 1) >> s);
  },
};

export const family: Family = { decls, impls };
