/**
 * UUIDs, semantic versions and runtime builtins (opa `topdown/uuid.go`,
 * `semver.go`, `runtime.go`, `trace.go`, `http.go`).
 */
import { randomUUID } from 'node:crypto';
import { num, RObject, type Value } from '../value.ts';
import { builtinErr, decl, str, type BuiltinImpl, type Family } from './types.ts';

export const decls = [
  decl('uuid.rfc4122', 1), decl('uuid.parse', 1), decl('semver.compare', 2), decl('semver.is_valid', 1),
  decl('opa.runtime', 0), decl('trace', 1), decl('http.send', 1), decl('net.lookup_ip_addr', 1),
  decl('rand.intn', 2), decl('test.sleep', 1), decl('rego.metadata.rule', 0), decl('rego.metadata.chain', 0),
];

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

function semver(fn: string, v: Value | undefined, pos: number): RegExpExecArray {
  const s = str(fn, v, pos);
  const m = SEMVER.exec(s);
  if (!m) throw builtinErr(fn, `operand ${pos}: string ${JSON.stringify(s)} is not a valid SemVer`);
  return m;
}

function cmpBig(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function comparePre(a: string | undefined, b: string | undefined): number {
  if (a === undefined && b === undefined) return 0;
  if (a === undefined) return 1;
  if (b === undefined) return -1;
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const p = x[i]!;
    const q = y[i]!;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    let c: number;
    if (pn && qn) c = cmpBig(p, q);
    else if (pn) c = -1;
    else if (qn) c = 1;
    else c = p < q ? -1 : p > q ? 1 : 0;
    if (c !== 0) return c;
  }
  return Math.sign(x.length - y.length);
}

const VARIANTS = ['Reserved', 'RFC4122', 'Microsoft', 'Future'];

function parseUUID(s: string): Value | undefined {
  let hex: string;
  if (s.length === 36) hex = s;
  else if (s.length === 38 && ((s[0] === '{' && s[37] === '}') || (s[0] === '(' && s[37] === ')'))) hex = s.slice(1, 37);
  else if (s.length === 45 && s.slice(0, 9).toLowerCase() === 'urn:uuid:') hex = s.slice(9);
  else if (s.length === 32) hex = s.slice(0, 8) + '-' + s.slice(8, 12) + '-' + s.slice(12, 16) + '-' + s.slice(16, 20) + '-' + s.slice(20);
  else return undefined;
  if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(hex)) return undefined;
  const b = Buffer.from(hex.replace(/-/g, ''), 'hex');
  const version = b[6]! >> 4;
  const v8 = b[8]!;
  const variant = (v8 & 0xc0) === 0x80 ? 1 : (v8 & 0xe0) === 0xc0 ? 2 : (v8 & 0xe0) === 0xe0 ? 3 : 0;
  const out = new RObject();
  out.set('version', version);
  out.set('variant', VARIANTS[variant]!);
  if (version === 1 || version === 2) {
    const low = BigInt(b.readUInt32BE(0));
    const mid = BigInt(b.readUInt16BE(4));
    const hi = BigInt(b.readUInt16BE(6) & 0x0fff);
    const t = (hi << 48n) | (mid << 32n) | low;
    out.set('time', num((t - 122192928000000000n) * 100n));
    out.set('clocksequence', b.readUInt16BE(8) & 0x3fff);
    out.set('nodeid', [...b.subarray(10)].map((x) => x.toString(16).padStart(2, '0')).join('-'));
    out.set('macvariables', `${b[10]! & 2 ? 'local' : 'global'}:${b[10]! & 1 ? 'multicast' : 'unicast'}`);
    if (version === 2) {
      const d = b[9]!;
      out.set('domain', d === 0 ? 'Person' : d === 1 ? 'Group' : d === 2 ? 'Org' : `Domain${d}`);
      out.set('id', b.readUInt32BE(0));
    }
  }
  return out;
}

export const impls: Record<string, BuiltinImpl> = {
  'uuid.rfc4122': ([k], ctx) => {
    const key = 'uuid.rfc4122:' + str('uuid.rfc4122', k, 1);
    let v = ctx.cache.get(key) as string | undefined;
    if (v === undefined) ctx.cache.set(key, (v = randomUUID()));
    return v;
  },
  'uuid.parse': ([s]) => (typeof s === 'string' ? parseUUID(s) : undefined),
  'semver.is_valid': ([v]) => typeof v === 'string' && SEMVER.test(v),
  'semver.compare': ([a, b]) => {
    const x = semver('semver.compare', a, 1);
    const y = semver('semver.compare', b, 2);
    for (let i = 1; i <= 3; i++) {
      const c = cmpBig(x[i]!, y[i]!);
      if (c !== 0) return c;
    }
    return comparePre(x[4], y[4]);
  },
  'opa.runtime': () => new RObject(),
  trace: () => true,
  'test.sleep': () => null,
  // outside a rule (queries) there are no annotations; inside rules the compiler substitutes them
  'rego.metadata.rule': () => new RObject(),
  'rego.metadata.chain': () => [],
  'http.send': () => {
    throw builtinErr('http.send', 'network access is disabled in this engine');
  },
  'net.lookup_ip_addr': () => {
    throw builtinErr('net.lookup_ip_addr', 'network access is disabled in this engine');
  },
  'rand.intn': ([s, n], ctx) => {
    const key = `rand.intn:${str('rand.intn', s, 1)}:${String(n)}`;
    let v = ctx.cache.get(key) as number | undefined;
    if (v === undefined) ctx.cache.set(key, (v = Math.floor(Math.random() * Math.abs(Number(n)))));
    return v;
  },
};

export const family: Family = { decls, impls };
