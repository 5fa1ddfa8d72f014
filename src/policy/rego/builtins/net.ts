/**
 * CIDR builtins (opa `topdown/cidr.go`) over IPv4 and IPv6, with addresses
 * as bigint.
 */
import { BuiltinError } from '../errors.ts';
import { RObject, RSet, typeName, type Value } from '../value.ts';
import { builtinErr, decl, operandErr, str, type BuiltinImpl, type Family } from './types.ts';

export const decls = [
  decl('net.cidr_contains', 2), decl('net.cidr_intersects', 2), decl('net.cidr_expand', 1),
  decl('net.cidr_contains_matches', 2), decl('net.cidr_is_valid', 1), decl('net.cidr_merge', 1),
  decl('net.cidr_overlap', 2),
];

interface Net {
  v6: boolean;
  addr: bigint;
  bits: number;
}

export function parseIP(s: string): { v6: boolean; addr: bigint } | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(s)) {
    const p = s.split('.').map(Number);
    if (p.some((x) => x > 255) || s.split('.').some((x) => x.length > 1 && x.startsWith('0'))) return undefined;
    return { v6: false, addr: p.reduce((a, x) => (a << 8n) | BigInt(x), 0n) };
  }
  if (!s.includes(':')) return undefined;
  let str6 = s;
  let tail: bigint[] = [];
  const v4 = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(str6);
  if (v4) {
    const ip4 = parseIP(v4[1]!);
    if (!ip4) return undefined;
    tail = [ip4.addr >> 16n, ip4.addr & 0xffffn];
    str6 = str6.slice(0, -v4[1]!.length) + (str6.endsWith('::' + v4[1]) ? '' : '0');
    if (!str6.endsWith(':')) str6 = str6.slice(0, -1);
    else if (!str6.endsWith('::')) str6 = str6.slice(0, -1);
  }
  const halves = str6.split('::');
  if (halves.length > 2) return undefined;
  const parse = (x: string): bigint[] | undefined => {
    if (x === '') return [];
    const parts = x.split(':');
    if (parts.some((p) => !/^[0-9a-fA-F]{1,4}$/.test(p))) return undefined;
    return parts.map((p) => BigInt('0x' + p));
  };
  const a = parse(halves[0]!);
  const b = halves.length === 2 ? parse(halves[1]!) : [];
  if (!a || !b) return undefined;
  const total = 8 - tail.length;
  let groups: bigint[];
  if (halves.length === 2) {
    if (a.length + b.length >= total + 1 && !(a.length + b.length === total)) return undefined;
    groups = [...a, ...new Array<bigint>(total - a.length - b.length).fill(0n), ...b];
  } else {
    if (a.length !== total) return undefined;
    groups = a;
  }
  groups = [...groups, ...tail];
  if (groups.length !== 8) return undefined;
  return { v6: true, addr: groups.reduce((acc, g) => (acc << 16n) | g, 0n) };
}

function parseCIDR(fn: string, s: string): Net {
  const i = s.indexOf('/');
  if (i < 0) throw builtinErr(fn, `invalid CIDR address: ${s}`);
  const ip = parseIP(s.slice(0, i));
  const bitsS = s.slice(i + 1);
  const bits = /^\d+$/.test(bitsS) ? Number(bitsS) : NaN;
  if (!ip || !(bits >= 0 && bits <= (ip.v6 ? 128 : 32))) throw builtinErr(fn, `invalid CIDR address: ${s}`);
  const width = ip.v6 ? 128 : 32;
  const mask = ((1n << BigInt(bits)) - 1n) << BigInt(width - bits);
  return { v6: ip.v6, addr: ip.addr & mask, bits };
}

/** A CIDR or a bare IP (as a /32 or /128). */
function parseNetOrIP(fn: string, s: string): Net {
  if (s.includes('/')) return parseCIDR(fn, s);
  const ip = parseIP(s);
  if (!ip) throw builtinErr(fn, `invalid CIDR address: ${s}`);
  return { v6: ip.v6, addr: ip.addr, bits: ip.v6 ? 128 : 32 };
}

const width = (n: Net): number => (n.v6 ? 128 : 32);
const last = (n: Net): bigint => n.addr | ((1n << BigInt(width(n) - n.bits)) - 1n);

function contains(a: Net, b: Net): boolean {
  if (a.v6 !== b.v6) return false;
  return b.bits >= a.bits && b.addr >= a.addr && last(b) <= last(a);
}

function fmtIP(v6: boolean, addr: bigint): string {
  if (!v6) return [24n, 16n, 8n, 0n].map((s) => String((addr >> s) & 255n)).join('.');
  const g: string[] = [];
  for (let i = 7; i >= 0; i--) g.push(((addr >> BigInt(i * 16)) & 0xffffn).toString(16));
  // compress the longest run of zeros
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === '0') j++;
    if (j - i > bestLen) (best = i), (bestLen = j - i);
    i = j;
  }
  if (best < 0) return g.join(':');
  return g.slice(0, best).join(':') + '::' + g.slice(best + bestLen).join(':');
}

/** Items of a `cidr_contains_matches` operand with their keys. */
function matchItems(fn: string, v: Value | undefined, pos: number): [Value, string][] {
  const elem = (x: Value): string => {
    if (typeof x === 'string') return x;
    if (Array.isArray(x) && x.length > 0 && typeof x[0] === 'string') return x[0];
    throw new BuiltinError(`${fn}: operand ${pos}: element must be string or non-empty array`);
  };
  if (typeof v === 'string') return [[v, v]];
  if (Array.isArray(v)) return v.map((x, i) => [i, elem(x)]);
  if (v instanceof RSet) return [...v.values()].map((x) => [x, elem(x)]);
  if (v instanceof RObject) return [...v.entries()].map(([k, x]) => [k, elem(x)]);
  throw operandErr(fn, pos, 'one of {string, array, set, object}', v ?? null);
}

export const impls: Record<string, BuiltinImpl> = {
  'net.cidr_contains': ([a, b]) => contains(parseCIDR('net.cidr_contains', str('net.cidr_contains', a, 1)), parseNetOrIP('net.cidr_contains', str('net.cidr_contains', b, 2))),
  'net.cidr_intersects': ([a, b]) => {
    const x = parseCIDR('net.cidr_intersects', str('net.cidr_intersects', a, 1));
    const y = parseCIDR('net.cidr_intersects', str('net.cidr_intersects', b, 2));
    return x.v6 === y.v6 && x.addr <= last(y) && y.addr <= last(x);
  },
  'net.cidr_overlap': ([a, b]) => contains(parseCIDR('net.cidr_overlap', str('net.cidr_overlap', a, 1)), parseNetOrIP('net.cidr_overlap', str('net.cidr_overlap', b, 2))),
  'net.cidr_is_valid': ([a]) => {
    if (typeof a !== 'string') return false;
    try {
      parseCIDR('net.cidr_is_valid', a);
      return true;
    } catch {
      return false;
    }
  },
  'net.cidr_expand': ([a]) => {
    const n = parseCIDR('net.cidr_expand', str('net.cidr_expand', a, 1));
    const count = 1n << BigInt(width(n) - n.bits);
    if (count > 65536n) throw builtinErr('net.cidr_expand', 'CIDR too large to expand');
    const out = new RSet();
    for (let i = 0n; i < count; i++) out.add(fmtIP(n.v6, n.addr + i));
    return out;
  },
  'net.cidr_contains_matches': ([a, b]) => {
    const cidrs = matchItems('net.cidr_contains_matches', a, 1);
    const ips = matchItems('net.cidr_contains_matches', b, 2);
    const out = new RSet();
    for (const [ck, c] of cidrs) {
      const net = parseCIDR('net.cidr_contains_matches', c);
      for (const [ik, ip] of ips) {
        if (contains(net, parseNetOrIP('net.cidr_contains_matches', ip))) out.add([ck, ik]);
      }
    }
    return out;
  },
  'net.cidr_merge': ([a]) => {
    const items = Array.isArray(a) ? a : a instanceof RSet ? [...a.values()] : undefined;
    if (!items) throw operandErr('net.cidr_merge', 1, 'one of {array, set}', a ?? null);
    let nets = items.map((x) => {
      if (typeof x !== 'string') throw builtinErr('net.cidr_merge', `operand 1: element must be string but got ${typeName(x)}`);
      return parseNetOrIP('net.cidr_merge', x);
    });
    nets.sort((x, y) => (x.v6 !== y.v6 ? (x.v6 ? 1 : -1) : x.addr < y.addr ? -1 : x.addr > y.addr ? 1 : x.bits - y.bits));
    let changed = true;
    while (changed) {
      changed = false;
      const out: Net[] = [];
      for (const n of nets) {
        const prev = out[out.length - 1];
        if (prev && contains(prev, n)) {
          changed = true;
          continue;
        }
        if (prev && prev.v6 === n.v6 && prev.bits === n.bits && prev.bits > 0) {
          const parent = { v6: n.v6, bits: n.bits - 1, addr: prev.addr & ~(1n << BigInt(width(n) - n.bits)) };
          if (contains(parent, prev) && contains(parent, n) && prev.addr !== n.addr) {
            out[out.length - 1] = parent;
            changed = true;
            continue;
          }
        }
        out.push(n);
      }
      nets = out;
    }
    return new RSet(nets.map((n) => `${fmtIP(n.v6, n.addr)}/${n.bits}`));
  },
};

export const family: Family = { decls, impls };
