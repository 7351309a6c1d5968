// Whether bytes are one JSON text (RFC 8259): a value with optional whitespace around it, in
// UTF-8. Ingest uses it to store a record's value as the JSON bytes it arrived as: parsing the value
// only to serialise it again cost more than the rest of the mapping, and made objects that lived
// until the commit, which the garbage collector then had to promote. The store writes bytes marked
// `isJson` without looking at them, and readers (projections splice stored bodies into one text)
// rely on those bytes being valid JSON, so this check is exactly JSON.parse's grammar: no trailing
// commas, no leading zeros, no control characters in strings, no BOM.
import { isUtf8 } from 'node:buffer';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
const IN_OBJECT = 1;
const IN_ARRAY = 2;

/** After `\`: the characters an escape may name (`u` is checked separately). */
const SIMPLE_ESCAPES = new Uint8Array(128);
for (const c of '"\\/bfnrt') SIMPLE_ESCAPES[c.charCodeAt(0)] = 1;
const HEX = new Uint8Array(128);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;

/** The open containers, reused between calls (the check is synchronous); grows for deep nesting. */
let stack = new Uint8Array(64);
/** Set by `stringEnd` when a string holds a byte ≥ 0x80, so UTF-8 is checked once at the end. */
let sawHighByte = false;

function isWhitespace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipWhitespace(b: Uint8Array, i: number): number {
  const n = b.length;
  while (i < n && isWhitespace(b[i])) i++;
  return i;
}

/** What a byte is inside a string: 0 plain, 1 the closing quote, 2 a backslash, 3 not allowed (a control character), 4 ≥ 0x80. */
const IN_STRING = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) IN_STRING[c] = 3;
IN_STRING[QUOTE] = 1;
IN_STRING[BACKSLASH] = 2;
for (let c = 0x80; c < 256; c++) IN_STRING[c] = 4;

/** `i` is at the opening quote; the index after the closing one, or -1. */
function stringEnd(b: Uint8Array, i: number): number {
  const n = b.length;
  for (let j = i + 1; j < n; j++) {
    const kind = IN_STRING[b[j]!]!;
    if (kind === 0) continue;
    if (kind === 1) return j + 1;
    if (kind === 4) sawHighByte = true;
    else if (kind === 3 || ++j === n) return -1;
    else {
      const e = b[j]!;
      if (e === 0x75 /* u */) {
        if (j + 4 >= n || !HEX[b[j + 1]!] || !HEX[b[j + 2]!] || !HEX[b[j + 3]!] || !HEX[b[j + 4]!]) return -1;
        j += 4;
      } else if (e >= 128 || !SIMPLE_ESCAPES[e]) return -1;
    }
  }
  return -1;
}

function digitsEnd(b: Uint8Array, i: number): number {
  const start = i;
  const n = b.length;
  while (i < n && b[i]! >= ZERO && b[i]! <= NINE) i++;
  return i > start ? i : -1;
}

/** `i` is at `-` or a digit; the index after the number, or -1. */
function numberEnd(b: Uint8Array, i: number): number {
  if (b[i] === MINUS) i++;
  if (b[i] === ZERO) i++;
  else if ((i = digitsEnd(b, i)) < 0) return -1;
  if (b[i] === 0x2e /* . */ && (i = digitsEnd(b, i + 1)) < 0) return -1;
  const e = b[i];
  if (e === 0x65 || e === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === MINUS) i++;
    if ((i = digitsEnd(b, i)) < 0) return -1;
  }
  return i;
}

function literalEnd(b: Uint8Array, i: number, word: readonly number[]): number {
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word[k]) return -1;
  return i + word.length;
}
const TRUE = [...'true'].map((c) => c.charCodeAt(0));
const FALSE = [...'false'].map((c) => c.charCodeAt(0));
const NULL = [...'null'].map((c) => c.charCodeAt(0));

/** `i` is at a key's opening quote (after `{` or `,`); the index of its value, or -1. */
function afterKey(b: Uint8Array, i: number): number {
  if (b[i] !== QUOTE || (i = stringEnd(b, i)) < 0) return -1;
  i = skipWhitespace(b, i);
  return b[i] === COLON ? skipWhitespace(b, i + 1) : -1;
}

/** Whether `bytes` are exactly one JSON value, optionally surrounded by whitespace, in valid UTF-8. */
export function isJsonText(bytes: Uint8Array): boolean {
  const b = bytes;
  const n = b.length;
  let depth = 0;
  sawHighByte = false;
  let i = skipWhitespace(b, 0);
  for (;;) {
    // A value starts at i.
    const c = b[i];
    if (c === QUOTE) i = stringEnd(b, i);
    else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      const close = c === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY;
      i = skipWhitespace(b, i + 1);
      if (b[i] === close) i++;
      else {
        if (depth === stack.length) {
          const grown = new Uint8Array(stack.length * 2);
          grown.set(stack);
          stack = grown;
        }
        stack[depth++] = c === OPEN_OBJECT ? IN_OBJECT : IN_ARRAY;
        if (c === OPEN_OBJECT && (i = afterKey(b, i)) < 0) return false;
        continue;
      }
    } else if (c === MINUS || (c !== undefined && c >= ZERO && c <= NINE)) i = numberEnd(b, i);
    else if (c === 0x74) i = literalEnd(b, i, TRUE);
    else if (c === 0x66) i = literalEnd(b, i, FALSE);
    else if (c === 0x6e) i = literalEnd(b, i, NULL);
    else return false;
    if (i < 0) return false;
    // A value ended at i: close what it ends, or go on to the next element or member.
    for (;;) {
      i = skipWhitespace(b, i);
      if (depth === 0) return i === n && (!sawHighByte || isUtf8(b));
      const inObject = stack[depth - 1] === IN_OBJECT;
      const d = b[i];
      if (d === COMMA) {
        i = skipWhitespace(b, i + 1);
        if (inObject && (i = afterKey(b, i)) < 0) return false;
        break;
      }
      if (d !== (inObject ? CLOSE_OBJECT : CLOSE_ARRAY)) return false;
      depth--;
      i++;
    }
  }
}
