// A small JSON (RFC 8259) reader and writer for functions. Hand-written on
// purpose: the AssemblyScript JSON libraries need a compiler transform and
// SIMD and add tens of KB to every module, while a function's input is one
// small document and module size is instantiation time (cold start).

import { fail } from "./wasi";

export const enum Kind { Null, Bool, Number, String, Array, Object }

/** One parsed JSON value. Objects keep their keys in document order. */
export class JSONValue {
  kind: Kind = Kind.Null;
  bool: bool = false;
  num: f64 = 0;
  str: string = "";
  items: JSONValue[] = [];
  keys: string[] = [];

  isNull(): bool { return this.kind == Kind.Null; }
  isNumber(): bool { return this.kind == Kind.Number; }
  isString(): bool { return this.kind == Kind.String; }
  isBool(): bool { return this.kind == Kind.Bool; }
  isArray(): bool { return this.kind == Kind.Array; }
  isObject(): bool { return this.kind == Kind.Object; }

  /** The member `key` of an object, or null when absent or when this is not an object. */
  get(key: string): JSONValue | null {
    if (this.kind != Kind.Object) return null;
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] == key) return this.items[i];
    return null;
  }

  /** True when `key` is present and not null. */
  has(key: string): bool {
    const v = this.get(key);
    return v !== null && v.kind != Kind.Null;
  }

  /** The number at `key`; ends the function with a clear message when it is missing or not a number. */
  number(key: string): f64 {
    const v = this.get(key);
    if (v === null || v.kind != Kind.Number) fail(key + " must be a number");
    return v!.num;
  }

  /** The string at `key`; ends the function with a clear message when it is missing or not a string. */
  string(key: string): string {
    const v = this.get(key);
    if (v === null || v.kind != Kind.String) fail(key + " must be a string");
    return v!.str;
  }

  /** The boolean at `key`, or `otherwise` when absent; ends the function when present but not a boolean. */
  boolOr(key: string, otherwise: bool): bool {
    const v = this.get(key);
    if (v === null || v.kind == Kind.Null) return otherwise;
    if (v.kind != Kind.Bool) fail(key + " must be true or false");
    return v.bool;
  }

  /** Serialises this value back to JSON. */
  toJSON(): string {
    const w = new JSONWriter();
    w.value(this);
    return w.toString();
  }
}

class Parser {
  pos: i32 = 0;
  constructor(public text: string) {}

  error(what: string): void {
    fail("input is not valid JSON: " + what + " at offset " + this.pos.toString());
  }

  peek(): i32 { return this.pos < this.text.length ? this.text.charCodeAt(this.pos) : -1; }

  skipSpace(): void {
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) break;
      this.pos++;
    }
  }

  expect(word: string): void {
    if (this.text.substr(this.pos, word.length) != word) this.error("unexpected token");
    this.pos += word.length;
  }

  value(depth: i32): JSONValue {
    if (depth > 64) this.error("nesting deeper than 64");
    this.skipSpace();
    const v = new JSONValue();
    const c = this.peek();
    if (c == 0x7b) { // {
      v.kind = Kind.Object;
      this.pos++;
      this.skipSpace();
      if (this.peek() == 0x7d) { this.pos++; return v; }
      while (true) {
        this.skipSpace();
        if (this.peek() != 0x22) this.error("expected a string key");
        v.keys.push(this.string());
        this.skipSpace();
        if (this.peek() != 0x3a) this.error("expected ':'");
        this.pos++;
        v.items.push(this.value(depth + 1));
        this.skipSpace();
        const d = this.peek();
        this.pos++;
        if (d == 0x7d) return v;
        if (d != 0x2c) { this.pos--; this.error("expected ',' or '}'"); }
      }
    } else if (c == 0x5b) { // [
      v.kind = Kind.Array;
      this.pos++;
      this.skipSpace();
      if (this.peek() == 0x5d) { this.pos++; return v; }
      while (true) {
        v.items.push(this.value(depth + 1));
        this.skipSpace();
        const d = this.peek();
        this.pos++;
        if (d == 0x5d) return v;
        if (d != 0x2c) { this.pos--; this.error("expected ',' or ']'"); }
      }
    } else if (c == 0x22) {
      v.kind = Kind.String;
      v.str = this.string();
    } else if (c == 0x74) {
      this.expect("true"); v.kind = Kind.Bool; v.bool = true;
    } else if (c == 0x66) {
      this.expect("false"); v.kind = Kind.Bool;
    } else if (c == 0x6e) {
      this.expect("null");
    } else if (c == 0x2d || (c >= 0x30 && c <= 0x39)) {
      v.kind = Kind.Number;
      v.num = this.number();
    } else {
      this.error(c < 0 ? "unexpected end" : "unexpected character");
    }
    return v;
  }

  number(): f64 {
    const start = this.pos;
    if (this.peek() == 0x2d) this.pos++;
    let digits = 0;
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      if (c >= 0x30 && c <= 0x39) digits++;
      else if (c != 0x2e && c != 0x65 && c != 0x45 && c != 0x2b && c != 0x2d) break;
      this.pos++;
    }
    if (digits == 0) this.error("bad number");
    const n = parseFloat(this.text.substring(start, this.pos));
    if (isNaN(n)) this.error("bad number");
    return n;
  }

  string(): string {
    this.pos++; // opening quote
    let out = "";
    let run = this.pos;
    while (true) {
      if (this.pos >= this.text.length) this.error("unterminated string");
      const c = this.text.charCodeAt(this.pos);
      if (c == 0x22) {
        out += this.text.substring(run, this.pos);
        this.pos++;
        return out;
      }
      if (c < 0x20) this.error("control character in string");
      if (c == 0x5c) {
        out += this.text.substring(run, this.pos);
        this.pos++;
        const e = this.peek();
        this.pos++;
        if (e == 0x22) out += "\"";
        else if (e == 0x5c) out += "\\";
        else if (e == 0x2f) out += "/";
        else if (e == 0x62) out += "\b";
        else if (e == 0x66) out += "\f";
        else if (e == 0x6e) out += "\n";
        else if (e == 0x72) out += "\r";
        else if (e == 0x74) out += "\t";
        else if (e == 0x75) {
          if (this.pos + 4 > this.text.length) this.error("bad \\u escape");
          const code = I32.parseInt(this.text.substr(this.pos, 4), 16);
          if (isNaN(<f64>code) || code < 0) this.error("bad \\u escape");
          out += String.fromCharCode(code);
          this.pos += 4;
        } else this.error("bad escape");
        run = this.pos;
      } else {
        this.pos++;
      }
    }
  }
}

/** Parses one JSON document; ends the function with a clear message when the text is not JSON. */
export function parseJSON(text: string): JSONValue {
  const p = new Parser(text);
  const v = p.value(0);
  p.skipSpace();
  if (p.pos != text.length) p.error("trailing characters");
  return v;
}

/** Builds a JSON document left to right: `w.beginObject().key("a").num(1).endObject()`. */
export class JSONWriter {
  private out: string[] = [];
  private needComma: bool[] = [false];

  private sep(): void {
    const top = this.needComma.length - 1;
    if (this.needComma[top]) this.out.push(",");
    this.needComma[top] = true;
  }

  beginObject(): JSONWriter { this.sep(); this.out.push("{"); this.needComma.push(false); return this; }
  endObject(): JSONWriter { this.needComma.pop(); this.out.push("}"); return this; }
  beginArray(): JSONWriter { this.sep(); this.out.push("["); this.needComma.push(false); return this; }
  endArray(): JSONWriter { this.needComma.pop(); this.out.push("]"); return this; }

  /** An object key; the next value call writes its value. */
  key(name: string): JSONWriter {
    this.sep();
    this.out.push(quote(name));
    this.out.push(":");
    this.needComma[this.needComma.length - 1] = false;
    return this;
  }

  str(s: string): JSONWriter { this.sep(); this.out.push(quote(s)); return this; }
  bool(b: bool): JSONWriter { this.sep(); this.out.push(b ? "true" : "false"); return this; }
  null(): JSONWriter { this.sep(); this.out.push("null"); return this; }
  int(n: i64): JSONWriter { this.sep(); this.out.push(n.toString()); return this; }

  /** A number; integers print without a fraction, NaN and infinities as null. */
  num(n: f64): JSONWriter {
    this.sep();
    if (!isFinite(n)) this.out.push("null");
    else if (n == Math.floor(n) && Math.abs(n) < 9007199254740992) this.out.push((<i64>n).toString());
    else this.out.push(n.toString());
    return this;
  }

  /** A parsed value, written back as it was read. */
  value(v: JSONValue): JSONWriter {
    if (v.kind == Kind.Null) return this.null();
    if (v.kind == Kind.Bool) return this.bool(v.bool);
    if (v.kind == Kind.Number) return this.num(v.num);
    if (v.kind == Kind.String) return this.str(v.str);
    if (v.kind == Kind.Array) {
      this.beginArray();
      for (let i = 0; i < v.items.length; i++) this.value(v.items[i]);
      return this.endArray();
    }
    this.beginObject();
    for (let i = 0; i < v.keys.length; i++) this.key(v.keys[i]).value(v.items[i]);
    return this.endObject();
  }

  toString(): string { return this.out.join(""); }
}

const HEX = "0123456789abcdef";

/** A JSON string literal for `s`, escaping quotes, backslashes and control characters. */
export function quote(s: string): string {
  let out = "\"";
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
    out += s.substring(run, i);
    if (c == 0x22) out += "\\\"";
    else if (c == 0x5c) out += "\\\\";
    else if (c == 0x0a) out += "\\n";
    else if (c == 0x0d) out += "\\r";
    else if (c == 0x09) out += "\\t";
    else out += "\\u00" + HEX.charAt(c >> 4) + HEX.charAt(c & 15);
    run = i + 1;
  }
  return out + s.substring(run) + "\"";
}
