// Canonical JSON, byte for byte what sealroom.crypto.canonical.canonical_json writes: UTF-8, keys
// sorted by code point, separators "," and ":", no whitespace, non-ASCII written as itself.
//
// Only what the browser itself builds is encoded here (action calls, manifests): integers,
// strings, booleans, null, arrays and plain objects. Floats, non-finite numbers, lone surrogates
// and keys outside the Basic Multilingual Plane are refused (JavaScript sorts keys by UTF-16 code
// unit, Python by code point: they agree only inside the BMP). What the server sends to be hashed
// (a room definition) is hashed as the exact text received, never re-encoded here.

import { utf8 } from "./bytes";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const MAX_DEPTH = 64;

export function canonicalJson(value: Json): Uint8Array {
  return utf8(encode(value, 0));
}

function encode(value: Json, depth: number): string {
  if (depth > MAX_DEPTH) throw new Error(`canonical JSON: nesting deeper than ${MAX_DEPTH} levels`);
  if (value === null || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new Error("canonical JSON: only safe integers");
    return String(value);
  }
  if (typeof value === "string") return encodeString(value);
  if (Array.isArray(value)) return `[${value.map((item) => encode(item, depth + 1)).join(",")}]`;
  const keys = Object.keys(value);
  for (const key of keys) {
    if (/[\uD800-\uDFFF]/.test(key)) throw new Error("canonical JSON: key outside the BMP");
  }
  keys.sort();
  const fields = keys.map((key) => `${encodeString(key)}:${encode(value[key]!, depth + 1)}`);
  return `{${fields.join(",")}}`;
}

function encodeString(text: string): string {
  if (!text.isWellFormed()) throw new Error("canonical JSON: a lone surrogate");
  // JSON.stringify escapes exactly what Python's json.dumps(ensure_ascii=False) escapes: the
  // quote, the backslash and control characters below U+0020 (\b \f \n \r \t short, others \u00XX).
  return JSON.stringify(text);
}
