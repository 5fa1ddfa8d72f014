/**
 * `sprintf`: Go's fmt verbs applied to Rego values (opa `topdown/strings.go`).
 */
import { formatNumber, toRegoString, type Value } from '../value.ts';

export function sprintf(format: string, args: Value[]): string {
  let out = '';
  let ai = 0;
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    let j = i + 1;
    let flags = '';
    while (j < format.length && '+-# 0'.includes(format[j]!)) flags += format[j++];
    let width = '';
    while (j < format.length && /[0-9]/.test(format[j]!)) width += format[j++];
    let prec: number | undefined;
    if (format[j] === '.') {
      j++;
      let p = '';
      while (j < format.length && /[0-9]/.test(format[j]!)) p += format[j++];
      prec = p === '' ? 0 : parseInt(p, 10);
    }
    const verb = format[j];
    i = j;
    if (verb === undefined) {
      out += '%!(NOVERB)';
      break;
    }
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (ai >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    const v = args[ai++]!;
    out += pad(formatOne(verb, v, flags, prec), flags, width === '' ? 0 : parseInt(width, 10));
  }
  if (ai < args.length) {
    out += '%!(EXTRA ' + args.slice(ai).map((a) => `${goType(a)}=${plain(a)}`).join(', ') + ')';
  }
  return out;
}

function goType(v: Value): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number' || typeof v === 'bigint') return 'json.Number';
  if (typeof v === 'boolean') return 'bool';
  return 'ast.Value';
}

function pad(s: string, flags: string, width: number): string {
  if (s.length >= width) return s;
  if (flags.includes('-')) return s + ' '.repeat(width - s.length);
  if (flags.includes('0') && /^[+-]?[0-9.]/.test(s)) {
    const sign = s[0] === '-' || s[0] === '+' ? s[0] : '';
    return sign + '0'.repeat(width - s.length) + s.slice(sign.length);
  }
  return ' '.repeat(width - s.length) + s;
}

function plain(v: Value): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'bigint') return v.toString();
  return toRegoString(v);
}

function formatOne(verb: string, v: Value, flags: string, prec: number | undefined): string {
  const isNum = typeof v === 'number' || typeof v === 'bigint';
  switch (verb) {
    case 'v':
    case 's':
      if (prec !== undefined && typeof v === 'string') return [...v].slice(0, prec).join('');
      return plain(v);
    case 'q':
      return typeof v === 'string' ? JSON.stringify(v) : `%!q(${goType(v)}=${plain(v)})`;
    case 'd':
      if (typeof v === 'bigint') return sign(flags, v >= 0n) + v.toString();
      if (typeof v === 'number' && Number.isInteger(v)) return sign(flags, v >= 0) + v.toFixed(0);
      return `%!d(${goType(v)}=${plain(v)})`;
    case 'f':
    case 'F':
      if (!isNum) return `%!f(${goType(v)}=${plain(v)})`;
      return sign(flags, Number(v) >= 0) + Number(v).toFixed(prec ?? 6);
    case 'e':
    case 'E': {
      if (!isNum) return `%!e(${goType(v)}=${plain(v)})`;
      const s = Number(v).toExponential(prec ?? 6).replace(/e([+-])(\d)$/, 'e$10$2');
      return sign(flags, Number(v) >= 0) + (verb === 'E' ? s.toUpperCase() : s);
    }
    case 'g':
    case 'G':
      if (!isNum) return `%!g(${goType(v)}=${plain(v)})`;
      return prec !== undefined ? String(Number(Number(v).toPrecision(prec))) : plain(v);
    case 'x':
    case 'X': {
      let s: string;
      if (typeof v === 'string') s = Buffer.from(v, 'utf8').toString('hex');
      else if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) s = BigInt(v).toString(16);
      else return `%!${verb}(${goType(v)}=${plain(v)})`;
      if (flags.includes('#')) s = '0x' + s;
      return verb === 'X' ? s.toUpperCase() : s;
    }
    case 'o':
      if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) return BigInt(v).toString(8);
      return `%!o(${goType(v)}=${plain(v)})`;
    case 'b':
      if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) return BigInt(v).toString(2);
      return `%!b(${goType(v)}=${plain(v)})`;
    case 't':
      return typeof v === 'boolean' ? String(v) : `%!t(${goType(v)}=${plain(v)})`;
    case 'c':
      if (typeof v === 'number' || typeof v === 'bigint') return String.fromCodePoint(Number(v));
      return `%!c(${goType(v)}=${plain(v)})`;
    default:
      return `%!${verb}(${goType(v)}=${plain(v)})`;
  }
}

function sign(flags: string, nonNeg: boolean): string {
  return flags.includes('+') && nonNeg ? '+' : flags.includes(' ') && nonNeg ? ' ' : '';
}
