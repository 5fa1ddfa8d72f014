/**
 * `units.parse` and `units.parse_bytes` (opa `topdown/parse_units.go`,
 * `parse_bytes.go`), computed in exact decimal arithmetic.
 */
import { num, type Value } from '../value.ts';
import { builtinErr, decl, str, type BuiltinImpl, type Family } from './types.ts';

export const decls = [decl('units.parse', 1), decl('units.parse_bytes', 1)];

const K = 1000n;
const KI = 1024n;
const DEC: Record<string, bigint> = { k: K, m: K ** 2n, g: K ** 3n, t: K ** 4n, p: K ** 5n, e: K ** 6n };
const BIN: Record<string, bigint> = { ki: KI, mi: KI ** 2n, gi: KI ** 3n, ti: KI ** 4n, pi: KI ** 5n, ei: KI ** 6n };

interface Dec {
  m: bigint;
  e: number;
}

function split(s: string): [string, string] {
  const m = /^[+-]?(?:[0-9.]|[eE][+-]?(?=[0-9]))*/.exec(s)!;
  let n = m[0];
  // an exponent marker must be followed by digits, and the sign only after it
  n = n.replace(/([eE])$/, '');
  return [n, s.slice(n.length)];
}

function parseDec(s: string): Dec | undefined {
  const m = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/.exec(s);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return undefined;
  const frac = m[3] ?? '';
  const exp = m[4] === undefined ? 0 : Number(m[4]);
  let mant = BigInt((m[2] || '0') + frac);
  if (m[1] === '-') mant = -mant;
  return { m: mant, e: exp - frac.length };
}

function toValue(fn: string, d: Dec, mult: bigint, milli: boolean, floorInt: boolean): Value {
  let e = d.e + (milli ? -3 : 0);
  let m = d.m * mult;
  if (Math.abs(e) > 1000) throw builtinErr(fn, 'exponent too large');
  if (e >= 0) return num(m * 10n ** BigInt(e));
  const div = 10n ** BigInt(-e);
  if (m % div === 0n) return num(m / div);
  if (floorInt) return num(m / div);
  while (e < 0 && m % 10n === 0n) {
    m /= 10n;
    e++;
  }
  return parseFloat(`${m}e${e}`);
}

export const impls: Record<string, BuiltinImpl> = {
  'units.parse': ([a]) => {
    const raw = str('units.parse', a, 1).replace(/"/g, '');
    if (raw.includes(' ')) throw builtinErr('units.parse', 'spaces not allowed in resource strings');
    const [n, unitRaw] = split(raw);
    if (n === '') throw builtinErr('units.parse', 'no amount provided');
    const d = parseDec(n);
    if (!d) throw builtinErr('units.parse', 'could not parse amount to a number');
    const unit = unitRaw.length > 1 ? unitRaw[0] + unitRaw.slice(1).toLowerCase() : unitRaw;
    if (unit === 'm') return toValue('units.parse', d, 1n, true, false);
    if (unit === '') return toValue('units.parse', d, 1n, false, false);
    const lower = unit.toLowerCase();
    if (unit === 'M') return toValue('units.parse', d, DEC.m!, false, false);
    const mult = BIN[lower] ?? (lower.length === 1 && lower !== 'm' ? DEC[lower] : undefined);
    if (mult === undefined) throw builtinErr('units.parse', 'unknown unit');
    return toValue('units.parse', d, mult, false, false);
  },
  'units.parse_bytes': ([a]) => {
    const raw = str('units.parse_bytes', a, 1).replace(/"/g, '');
    if (raw.includes(' ')) throw builtinErr('units.parse_bytes', 'spaces not allowed in resource strings');
    const [n, unitRaw] = split(raw);
    if (n === '') throw builtinErr('units.parse_bytes', 'no byte amount provided');
    const d = parseDec(n);
    if (!d) throw builtinErr('units.parse_bytes', 'could not parse byte amount to a number');
    const u = unitRaw.toLowerCase();
    let mult: bigint | undefined;
    if (u === '' || u === 'b') mult = 1n;
    else if (u.length === 1 || (u.length === 2 && u[1] === 'b')) mult = DEC[u[0]!];
    else if (u.length === 2 && u[1] === 'i') mult = BIN[u];
    else if (u.length === 3 && u.endsWith('ib')) mult = BIN[u.slice(0, 2)];
    if (mult === undefined) throw builtinErr('units.parse_bytes', 'unknown unit');
    return toValue('units.parse_bytes', d, mult, false, true);
  },
};

export const family: Family = { decls, impls };
