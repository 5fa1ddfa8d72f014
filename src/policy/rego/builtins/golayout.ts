/**
 * Go's reference-time layouts ("2006-01-02T15:04:05Z07:00"), for
 * `time.parse_ns` and `time.format`. Times are {ns since epoch, offset s}.
 */

export const NAMED_LAYOUTS: Record<string, string> = {
  ANSIC: 'Mon Jan _2 15:04:05 2006',
  UnixDate: 'Mon Jan _2 15:04:05 MST 2006',
  RubyDate: 'Mon Jan 02 15:04:05 -0700 2006',
  RFC822: '02 Jan 06 15:04 MST',
  RFC822Z: '02 Jan 06 15:04 -0700',
  RFC850: 'Monday, 02-Jan-06 15:04:05 MST',
  RFC1123: 'Mon, 02 Jan 2006 15:04:05 MST',
  RFC1123Z: 'Mon, 02 Jan 2006 15:04:05 -0700',
  RFC3339: '2006-01-02T15:04:05Z07:00',
  RFC3339Nano: '2006-01-02T15:04:05.999999999Z07:00',
  Kitchen: '3:04PM',
  Stamp: 'Jan _2 15:04:05',
  StampMilli: 'Jan _2 15:04:05.000',
  StampMicro: 'Jan _2 15:04:05.000000',
  StampNano: 'Jan _2 15:04:05.000000000',
  DateTime: '2006-01-02 15:04:05',
  DateOnly: '2006-01-02',
  TimeOnly: '15:04:05',
};

const TOKENS = [
  'January', 'Jan', 'Monday', 'Mon', 'MST',
  'Z07:00:00', 'Z070000', 'Z07:00', 'Z0700', 'Z07',
  '-07:00:00', '-070000', '-07:00', '-0700', '-07',
  '2006', '002', '01', '02', '03', '04', '05', '06', '_2', '15', '1', '2', '3', '4', '5', 'PM', 'pm',
];

export const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
export const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

type Tok = { lit: string } | { std: string } | { frac: string };

export function tokenize(layout: string): Tok[] {
  const out: Tok[] = [];
  let lit = '';
  let i = 0;
  outer: while (i < layout.length) {
    if ((layout[i] === '.' || layout[i] === ',') && (layout[i + 1] === '0' || layout[i + 1] === '9')) {
      const d = layout[i + 1]!;
      let j = i + 1;
      while (layout[j] === d) j++;
      if (!/[0-9]/.test(layout[j] ?? '')) {
        if (lit) out.push({ lit }), (lit = '');
        out.push({ frac: layout.slice(i, j) });
        i = j;
        continue;
      }
    }
    for (const t of TOKENS) {
      if (layout.startsWith(t, i)) {
        if (t === 'Jan' && layout.startsWith('January', i)) continue;
        if (t === 'Mon' && layout.startsWith('Monday', i)) continue;
        if (lit) out.push({ lit }), (lit = '');
        out.push({ std: t });
        i += t.length;
        continue outer;
      }
    }
    lit += layout[i];
    i++;
  }
  if (lit) out.push({ lit });
  return out;
}

export interface Civil {
  year: number;
  month: number;
  day: number;
  hour: number;
  min: number;
  sec: number;
  nsec: number;
  weekday: number;
  yday: number;
  offset: number;
  zone: string;
}

const p2 = (n: number): string => String(n).padStart(2, '0');

function fmtOffset(off: number, t: string): string {
  if (t.startsWith('Z') && off === 0) return 'Z';
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  const h = p2(Math.floor(a / 3600));
  const m = p2(Math.floor((a % 3600) / 60));
  const s = p2(a % 60);
  const base = t.replace(/^Z/, '-');
  switch (base) {
    case '-07':
      return sign + h;
    case '-0700':
      return sign + h + m;
    case '-07:00':
      return sign + h + ':' + m;
    case '-070000':
      return sign + h + m + s;
    default:
      return sign + h + ':' + m + ':' + s;
  }
}

export function format(c: Civil, layout: string): string {
  let out = '';
  for (const t of tokenize(layout)) {
    if ('lit' in t) out += t.lit;
    else if ('frac' in t) {
      const digits = t.frac.length - 1;
      let f = String(c.nsec).padStart(9, '0').slice(0, digits);
      if (t.frac[1] === '9') {
        f = f.replace(/0+$/, '');
        if (f) out += t.frac[0] + f;
      } else out += t.frac[0] + f;
    } else {
      switch (t.std) {
        case 'January': out += MONTHS[c.month - 1]; break;
        case 'Jan': out += MONTHS[c.month - 1]!.slice(0, 3); break;
        case 'Monday': out += DAYS[c.weekday]; break;
        case 'Mon': out += DAYS[c.weekday]!.slice(0, 3); break;
        case 'MST': out += c.zone; break;
        case '2006': out += String(c.year).padStart(4, '0'); break;
        case '06': out += p2(c.year % 100); break;
        case '01': out += p2(c.month); break;
        case '1': out += c.month; break;
        case '02': out += p2(c.day); break;
        case '2': out += c.day; break;
        case '_2': out += String(c.day).padStart(2, ' '); break;
        case '002': out += String(c.yday).padStart(3, '0'); break;
        case '15': out += p2(c.hour); break;
        case '03': out += p2(c.hour % 12 === 0 ? 12 : c.hour % 12); break;
        case '3': out += c.hour % 12 === 0 ? 12 : c.hour % 12; break;
        case '04': out += p2(c.min); break;
        case '4': out += c.min; break;
        case '05': out += p2(c.sec); break;
        case '5': out += c.sec; break;
        case 'PM': out += c.hour >= 12 ? 'PM' : 'AM'; break;
        case 'pm': out += c.hour >= 12 ? 'pm' : 'am'; break;
        default: out += fmtOffset(c.offset, t.std);
      }
    }
  }
  return out;
}

export interface Parsed {
  year: number;
  month: number;
  day: number;
  hour: number;
  min: number;
  sec: number;
  nsec: number;
  /** Seconds east of UTC; undefined = UTC. */
  offset: number | undefined;
}

/** Parses `value` with a Go layout; throws a message on mismatch. */
export function parse(layout: string, value: string): Parsed {
  const r: Parsed = { year: 1, month: 1, day: 1, hour: 0, min: 0, sec: 0, nsec: 0, offset: undefined };
  let pm: boolean | undefined;
  let s = value;
  const bad = (): never => {
    throw new Error(`parsing time ${JSON.stringify(value)} as ${JSON.stringify(layout)}: cannot parse ${JSON.stringify(s)}`);
  };
  const num = (min: number, max: number): number => {
    const m = new RegExp(`^[0-9]{${min},${max}}`).exec(s);
    if (!m) bad();
    s = s.slice(m![0].length);
    return parseInt(m![0], 10);
  };
  const toks = tokenize(layout);
  for (let ti = 0; ti < toks.length; ti++) {
    const t = toks[ti]!;
    if ('lit' in t) {
      if (!s.startsWith(t.lit)) bad();
      s = s.slice(t.lit.length);
      continue;
    }
    if ('frac' in t) {
      const m = /^[.,]([0-9]+)/.exec(s);
      if (!m) {
        if (t.frac[1] === '9') continue;
        bad();
      }
      s = s.slice(m![0].length);
      r.nsec = parseInt(m![1]!.slice(0, 9).padEnd(9, '0'), 10);
      continue;
    }
    switch (t.std) {
      case 'January':
      case 'Jan': {
        const i = MONTHS.findIndex((mo) => (t.std === 'Jan' ? s.startsWith(mo.slice(0, 3)) : s.startsWith(mo)));
        if (i < 0) bad();
        s = s.slice(t.std === 'Jan' ? 3 : MONTHS[i]!.length);
        r.month = i + 1;
        break;
      }
      case 'Monday':
      case 'Mon': {
        const i = DAYS.findIndex((d) => (t.std === 'Mon' ? s.startsWith(d.slice(0, 3)) : s.startsWith(d)));
        if (i < 0) bad();
        s = s.slice(t.std === 'Mon' ? 3 : DAYS[i]!.length);
        break;
      }
      case 'MST': {
        const m = /^[A-Z]{3,5}|^[+-][0-9]{2}/.exec(s);
        if (!m) bad();
        s = s.slice(m![0].length);
        if (m![0] === 'UTC' || m![0] === 'GMT') r.offset = 0;
        break;
      }
      case '2006': r.year = num(4, 4); break;
      case '06': { const y = num(2, 2); r.year = y >= 69 ? 1900 + y : 2000 + y; break; }
      case '01': r.month = num(2, 2); break;
      case '1': r.month = num(1, 2); break;
      case '02': r.day = num(2, 2); break;
      case '2': r.day = num(1, 2); break;
      case '_2': if (s[0] === ' ') s = s.slice(1); r.day = num(1, 2); break;
      case '002': num(3, 3); break;
      case '15': r.hour = num(1, 2); break;
      case '03': case '3': r.hour = num(t.std === '03' ? 2 : 1, 2); break;
      case '04': case '4': r.min = num(t.std === '04' ? 2 : 1, 2); break;
      case '05': case '5': {
        r.sec = num(t.std === '05' ? 2 : 1, 2);
        const next = toks[ti + 1];
        if (s[0] === '.' && !(next && 'frac' in next)) {
          const m = /^\.([0-9]+)/.exec(s);
          if (m) {
            s = s.slice(m[0].length);
            r.nsec = parseInt(m[1]!.slice(0, 9).padEnd(9, '0'), 10);
          }
        }
        break;
      }
      case 'PM': case 'pm': {
        const m = /^(AM|PM|am|pm)/.exec(s);
        if (!m) bad();
        pm = m![0].toUpperCase() === 'PM';
        s = s.slice(2);
        break;
      }
      default: {
        if (t.std.startsWith('Z') && s[0] === 'Z') {
          s = s.slice(1);
          r.offset = 0;
          break;
        }
        const m = /^([+-])([0-9]{2})(?::?([0-9]{2}))?(?::?([0-9]{2}))?/.exec(s);
        if (!m) bad();
        s = s.slice(m![0].length);
        const off = parseInt(m![2]!, 10) * 3600 + parseInt(m![3] ?? '0', 10) * 60 + parseInt(m![4] ?? '0', 10);
        r.offset = m![1] === '-' ? -off : off;
      }
    }
  }
  if (s.length > 0) throw new Error(`parsing time ${JSON.stringify(value)}: extra text: ${JSON.stringify(s)}`);
  if (pm !== undefined) {
    if (pm && r.hour < 12) r.hour += 12;
    if (!pm && r.hour === 12) r.hour = 0;
  }
  if (r.month < 1 || r.month > 12) throw new Error(`parsing time ${JSON.stringify(value)}: month out of range`);
  if (r.day < 1 || r.day > 31 || r.hour > 23 || r.min > 59 || r.sec > 59) throw new Error(`parsing time ${JSON.stringify(value)}: day out of range`);
  return r;
}
