/**
 * Time builtins (opa `topdown/time.go`). Instants are int64 nanoseconds since
 * the Unix epoch, held as bigint; time zones come from the ICU database.
 */
import { num, type Value } from '../value.ts';
import { format, NAMED_LAYOUTS, parse, type Civil, DAYS } from './golayout.ts';
import { builtinErr, decl, int, numArg, operandErr, str, type BuiltinImpl, type Family } from './types.ts';

export const decls = [
  decl('time.now_ns', 0), decl('time.parse_ns', 2), decl('time.parse_rfc3339_ns', 1), decl('time.parse_duration_ns', 1),
  decl('time.date', 1), decl('time.clock', 1), decl('time.weekday', 1), decl('time.add_date', 4),
  decl('time.diff', 2), decl('time.format', 1),
];

const MIN_NS = -9223372036854775808n;
const MAX_NS = 9223372036854775807n;
const NS_MS = 1000000n;

function checkRange(fn: string, ns: bigint): bigint {
  if (ns < MIN_NS || ns > MAX_NS) throw builtinErr(fn, 'time outside of valid range');
  return ns;
}

const dtfCache = new Map<string, Intl.DateTimeFormat>();

/** Offset (seconds east of UTC) of a zone at an instant. */
function zoneOffset(fn: string, tz: string, ms: number): number {
  if (tz === '' || tz === 'UTC' || tz === 'Local') return 0;
  let f = dtfCache.get(tz);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', era: 'short',
      });
    } catch {
      throw builtinErr(fn, `unknown time zone ${tz}`);
    }
    dtfCache.set(tz, f);
  }
  const parts: Record<string, string> = {};
  for (const p of f.formatToParts(new Date(ms))) parts[p.type] = p.value;
  let year = parseInt(parts.year!, 10);
  if (parts.era === 'BC' || parts.era === 'B') year = 1 - year;
  const local = Date.UTC(year, parseInt(parts.month!, 10) - 1, parseInt(parts.day!, 10), parseInt(parts.hour!, 10), parseInt(parts.minute!, 10), parseInt(parts.second!, 10));
  const floorMs = ms - (((ms % 1000) + 1000) % 1000);
  return Math.round((local - floorMs) / 1000);
}

function zoneName(tz: string, offset: number): string {
  if (tz === '' || tz === 'UTC' || tz === 'Local') return 'UTC';
  const sign = offset < 0 ? '-' : '+';
  const a = Math.abs(offset);
  return sign + String(Math.floor(a / 3600)).padStart(2, '0') + (a % 3600 ? String(Math.floor((a % 3600) / 60)).padStart(2, '0') : '');
}

export function civil(fn: string, ns: bigint, tz: string): Civil {
  const msB = ns >= 0n ? ns / NS_MS : -((-ns + NS_MS - 1n) / NS_MS);
  const nsec = Number(((ns % 1000000000n) + 1000000000n) % 1000000000n);
  const ms = Number(msB);
  const offset = zoneOffset(fn, tz, ms);
  const d = new Date(ms + offset * 1000);
  const start = Date.UTC(d.getUTCFullYear(), 0, 1);
  const yday = Math.floor((Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - start) / 86400000) + 1;
  return {
    year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), min: d.getUTCMinutes(),
    sec: d.getUTCSeconds(), nsec, weekday: d.getUTCDay(), yday, offset, zone: zoneName(tz, offset),
  };
}

/** Operand `ns` or `[ns, tz]` or `[ns, tz, layout]`. */
function instant(fn: string, v: Value | undefined): { ns: bigint; tz: string; layout: string | undefined } {
  if (Array.isArray(v)) {
    if (v.length < 2 || v.length > 3) throw builtinErr(fn, 'array must have 2 or 3 elements');
    const ns = toNs(fn, v[0]);
    const tz = str(fn, v[1], 1);
    const layout = v.length === 3 ? str(fn, v[2], 1) : undefined;
    return { ns, tz, layout };
  }
  if (typeof v === 'number' || typeof v === 'bigint') return { ns: toNs(fn, v), tz: 'UTC', layout: undefined };
  throw operandErr(fn, 1, 'one of {array, number}', v ?? null);
}

function toNs(fn: string, v: Value | undefined): bigint {
  const n = numArg(fn, v, 1);
  if (typeof n === 'bigint') {
    if (n > MAX_NS || n < MIN_NS) throw builtinErr(fn, 'timestamp too big');
    return n;
  }
  if (!Number.isFinite(n)) throw builtinErr(fn, 'timestamp too big');
  const b = BigInt(Math.trunc(n));
  if (b > MAX_NS || b < MIN_NS) throw builtinErr(fn, 'timestamp too big');
  return b;
}

function fromCivil(fn: string, y: number, mo: number, d: number, h: number, mi: number, s: number, nsec: number, offset: number): bigint {
  const t = new Date(0);
  t.setUTCFullYear(y, mo - 1, d);
  t.setUTCHours(h, mi, s, 0);
  const ns = BigInt(t.getTime()) * NS_MS + BigInt(nsec) - BigInt(offset) * 1000000000n;
  return checkRange(fn, ns);
}

function parseDuration(s: string): bigint {
  const orig = s;
  if (s === '0') return 0n;
  let neg = false;
  if (s[0] === '-' || s[0] === '+') {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '') throw builtinErr('time.parse_duration_ns', `time: invalid duration ${JSON.stringify(orig)}`);
  const units: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  const re = /^([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)/;
  while (s.length > 0) {
    const m = re.exec(s);
    if (!m || m[1] === '' || m[1] === '.') throw builtinErr('time.parse_duration_ns', `time: invalid duration ${JSON.stringify(orig)}`);
    total += parseFloat(m[1]!) * units[m[2]!]!;
    s = s.slice(m[0].length);
  }
  const r = BigInt(Math.round(total));
  return neg ? -r : r;
}

function rfc3339(fn: string, s: string): bigint {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/.exec(s);
  if (!m) throw builtinErr(fn, `parsing time ${JSON.stringify(s)} as "2006-01-02T15:04:05Z07:00": cannot parse ${JSON.stringify(s)} as "2006"`);
  const offset = m[8] ? 0 : (m[9] === '-' ? -1 : 1) * (parseInt(m[10]!, 10) * 3600 + parseInt(m[11]!, 10) * 60);
  const nsec = m[7] ? parseInt(m[7].slice(0, 9).padEnd(9, '0'), 10) : 0;
  return fromCivil(fn, +m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!, nsec, offset);
}

function daysIn(y: number, m: number): number {
  return new Date(Date.UTC(y, m, 0)).getUTCDate();
}

export const impls: Record<string, BuiltinImpl> = {
  'time.now_ns': (_a, ctx) => num(ctx.now()),
  'time.parse_rfc3339_ns': ([a]) => num(rfc3339('time.parse_rfc3339_ns', str('time.parse_rfc3339_ns', a, 1))),
  'time.parse_ns': ([l, v]) => {
    let layout = str('time.parse_ns', l, 1);
    layout = NAMED_LAYOUTS[layout] ?? layout;
    let p;
    try {
      p = parse(layout, str('time.parse_ns', v, 2));
    } catch (e) {
      throw builtinErr('time.parse_ns', (e as Error).message);
    }
    return num(fromCivil('time.parse_ns', p.year, p.month, p.day, p.hour, p.min, p.sec, p.nsec, p.offset ?? 0));
  },
  'time.parse_duration_ns': ([a]) => num(parseDuration(str('time.parse_duration_ns', a, 1))),
  'time.date': ([a]) => {
    const { ns, tz } = instant('time.date', a);
    const c = civil('time.date', ns, tz);
    return [c.year, c.month, c.day];
  },
  'time.clock': ([a]) => {
    const { ns, tz } = instant('time.clock', a);
    const c = civil('time.clock', ns, tz);
    return [c.hour, c.min, c.sec];
  },
  'time.weekday': ([a]) => {
    const { ns, tz } = instant('time.weekday', a);
    return DAYS[civil('time.weekday', ns, tz).weekday]!;
  },
  'time.add_date': ([a, y, m, d]) => {
    const ns = toNs('time.add_date', a);
    const c = civil('time.add_date', ns, 'UTC');
    const t = new Date(0);
    t.setUTCFullYear(c.year + Number(int('time.add_date', y, 2)), c.month - 1 + Number(int('time.add_date', m, 3)), c.day + Number(int('time.add_date', d, 4)));
    t.setUTCHours(c.hour, c.min, c.sec, 0);
    return num(checkRange('time.add_date', BigInt(t.getTime()) * NS_MS + BigInt(c.nsec)));
  },
  'time.diff': ([a, b]) => {
    const x = instant('time.diff', a);
    const y = instant('time.diff', b);
    const c1 = civil('time.diff', x.ns > y.ns ? y.ns : x.ns, x.tz);
    const c2 = civil('time.diff', x.ns > y.ns ? x.ns : y.ns, x.tz);
    let year = c2.year - c1.year;
    let month = c2.month - c1.month;
    let day = c2.day - c1.day;
    let hour = c2.hour - c1.hour;
    let min = c2.min - c1.min;
    let sec = c2.sec - c1.sec;
    if (sec < 0) (sec += 60), min--;
    if (min < 0) (min += 60), hour--;
    if (hour < 0) (hour += 24), day--;
    if (day < 0) {
      day += daysIn(c1.year, c1.month);
      month--;
    }
    if (month < 0) (month += 12), year--;
    return [year, month, day, hour, min, sec];
  },
  'time.format': ([a]) => {
    const { ns, tz, layout } = instant('time.format', a);
    const c = civil('time.format', ns, tz);
    const l = layout === undefined ? NAMED_LAYOUTS.RFC3339Nano! : NAMED_LAYOUTS[layout] ?? layout;
    return format(c, l);
  },
};

export const family: Family = { decls, impls };
