/**
 * Rego tokens (opa `v1/ast/internal/scanner`). Keywords are scanned as idents;
 * the parser decides by context, because Rego allows keywords in refs.
 */
import type { Loc } from './ast.ts';
import { ErrorCodes, RegoError } from './errors.ts';

export type TokKind = 'ident' | 'string' | 'number' | 'punct' | 'eof';

export interface Token {
  kind: TokKind;
  /** Ident name, punctuation text, number text, or the decoded string. */
  text: string;
  raw: boolean;
  /** A newline separates this token from the previous one. */
  nl: boolean;
  loc: Loc;
  /** Where the token ends: the row and the column just after its last character. */
  endRow: number;
  endCol: number;
}

const PUNCT3: string[] = [];
const PUNCT2 = [':=', '==', '!=', '<=', '>='];
const PUNCT1 = '{}[]().,;:=<>+-*/%&|';

/** Tokenises Rego source; comments (`# …`) go to `comments` when given, with their row. */
export function lex(src: string, file: string, comments?: { row: number; text: string }[]): Token[] {
  const out: Token[] = [];
  let i = src.charCodeAt(0) === 0xfeff ? 1 : 0; // a UTF-8 byte order mark is not code
  let row = 1;
  let lineStart = 0;
  let nl = true;
  const n = src.length;
  const err = (msg: string): never => {
    throw new RegoError(ErrorCodes.parse, msg, { file, row, col: i - lineStart + 1 });
  };
  while (i < n) {
    const c = src.charCodeAt(i);
    if (c === 10) {
      i++;
      row++;
      lineStart = i;
      nl = true;
      continue;
    }
    if (c === 32 || c === 9 || c === 13) {
      i++;
      continue;
    }
    if (c === 35) {
      const start = i + 1;
      while (i < n && src.charCodeAt(i) !== 10) i++;
      comments?.push({ row, text: src.slice(start, i) });
      continue;
    }
    const loc: Loc = { file, row, col: i - lineStart + 1 };
    const start = i;
    if (isIdentStart(c)) {
      while (i < n && isIdentPart(src.charCodeAt(i))) i++;
      out.push({ kind: 'ident', text: src.slice(start, i), raw: false, nl, loc, endRow: 0, endCol: 0 });
    } else if (c >= 48 && c <= 57) {
      while (i < n && isDigit(src.charCodeAt(i))) i++;
      if (src[i] === '.' && isDigit(src.charCodeAt(i + 1))) {
        i++;
        while (i < n && isDigit(src.charCodeAt(i))) i++;
      }
      if (src[i] === 'e' || src[i] === 'E') {
        let j = i + 1;
        if (src[j] === '+' || src[j] === '-') j++;
        if (isDigit(src.charCodeAt(j))) {
          i = j;
          while (i < n && isDigit(src.charCodeAt(i))) i++;
        }
      }
      out.push({ kind: 'number', text: src.slice(start, i), raw: false, nl, loc, endRow: 0, endCol: 0 });
    } else if (c === 34) {
      i++;
      let s = '';
      for (;;) {
        if (i >= n || src.charCodeAt(i) === 10) err('non-terminated string');
        const d = src[i]!;
        if (d === '"') {
          i++;
          break;
        }
        if (d === '\\') {
          const e = src[i + 1];
          i += 2;
          switch (e) {
            case '"': s += '"'; break;
            case '\\': s += '\\'; break;
            case '/': s += '/'; break;
            case 'b': s += '\b'; break;
            case 'f': s += '\f'; break;
            case 'n': s += '\n'; break;
            case 'r': s += '\r'; break;
            case 't': s += '\t'; break;
            case 'u': {
              const h = src.slice(i, i + 4);
              if (!/^[0-9a-fA-F]{4}$/.test(h)) err('illegal escape sequence');
              s += String.fromCharCode(parseInt(h, 16));
              i += 4;
              break;
            }
            default:
              err('illegal escape sequence');
          }
          continue;
        }
        s += d;
        i++;
      }
      out.push({ kind: 'string', text: s, raw: false, nl, loc, endRow: 0, endCol: 0 });
    } else if (c === 96) {
      const end = src.indexOf('`', i + 1);
      if (end < 0) err('non-terminated raw string');
      const s = src.slice(i + 1, end);
      for (const ch of s) if (ch === '\n') row++;
      if (s.includes('\n')) lineStart = start + 1 + s.lastIndexOf('\n') + 1;
      i = end + 1;
      out.push({ kind: 'string', text: s, raw: true, nl, loc, endRow: 0, endCol: 0 });
    } else {
      const two = src.slice(i, i + 2);
      if (PUNCT3.includes(src.slice(i, i + 3))) {
        i += 3;
      } else if (PUNCT2.includes(two)) {
        i += 2;
      } else if (PUNCT1.includes(src[i]!)) {
        i += 1;
      } else {
        err(`unexpected character '${src[i]}'`);
      }
      out.push({ kind: 'punct', text: src.slice(start, i), raw: false, nl, loc, endRow: 0, endCol: 0 });
    }
    const last = out[out.length - 1]!;
    last.endRow = row;
    last.endCol = i - lineStart + 1;
    nl = false;
  }
  out.push({ kind: 'eof', text: '', raw: false, nl: true, loc: { file, row, col: i - lineStart + 1 }, endRow: row, endCol: i - lineStart + 1 });
  return out;
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isIdentStart = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isIdentPart = (c: number): boolean => isIdentStart(c) || isDigit(c);
