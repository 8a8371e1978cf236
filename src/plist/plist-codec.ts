// XML property-list codec. Decoding is plist-reader.ts, a strict bounded reader of our own: the
// `plist` library (plist@5 on @xmldom/xmldom) cost ≈ 300× JSON.parse on large bodies and was
// lenient in ways that matter for hostile input (it handed "bplist…" to its binary parser and
// "{…" to its OpenStep parser, read `<integer>12abc</integer>` as 12, `<date>junk</date>` as an
// Invalid Date, and let xmldom print recoverable errors to console.error and carry on). Encoding
// still uses the library's builder.
//
// What `decodePlist` returns, per element (as plist@5 did; test/unit/plist-reader.test.ts checks
// the reader against the library, test/unit/plist-codec.test.ts pins each case):
//   <dict>              plain object (keys in document order; "__proto__" refused)
//   <array>             array
//   <string>, <key>     string (entities, character references and, in <string>, CDATA decoded)
//   <integer>           number: only decimal, only within ±(2^53-1), else refused
//   <real>              number: `<real>30</real>` is 30, indistinguishable from
//                       `<integer>30</integer>` afterwards, so a re-encode writes `<integer>`
//   <true/>, <false/>   boolean
//   <date>              Date (Apple's `YYYY-MM-DDTHH:MM:SSZ`; anything else is refused)
//   <data>              Uint8Array, NOT a Buffer; wrap with
//                       Buffer.from(x.buffer, x.byteOffset, x.byteLength) if Buffer API is needed
//   <null/>             refused (not part of Apple's DTD, though the library accepts it)

import { build } from 'plist';
import type { PlistValue } from 'plist';
import { BINARY_PLIST_HINT, readPlist } from './plist-reader.ts';

/** Every refusal and every parse failure of this module, never another exception type. */
export class PlistError extends Error {
  override readonly name = 'PlistError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface DecodePlistOptions {
  /** Refuse larger input. Default 2 MiB: an MDM message or profile is a few KiB to a few 100 KiB. */
  maxBytes?: number;
  /** Refuse deeper element nesting (default 64; <plist> is level 1). */
  maxDepth?: number;
  /** Refuse documents with more elements (default 500,000), so a raised maxBytes stays bounded. */
  maxElements?: number;
}

export const DEFAULT_MAX_PLIST_BYTES = 2 * 1024 * 1024;

/**
 * Decode an XML property list (UTF-8, optional BOM). Throws PlistError, and only PlistError, for
 * input over maxBytes, empty input, binary or UTF-16 plists, any DOCTYPE but Apple's, any DTD
 * internal subset or entity declaration, anything that is not a single-valued <plist>, and
 * malformed XML or values (see plist-reader.ts for the exact rules).
 */
export function decodePlist(input: Buffer | string, opts?: DecodePlistOptions): unknown {
  const maxBytes = opts?.maxBytes ?? DEFAULT_MAX_PLIST_BYTES;
  const maxDepth = opts?.maxDepth;
  const maxElements = opts?.maxElements;
  // (Object literals, not spreads: a spread measured ≈ 1 µs, two thirds of an Idle decode.)
  if (typeof input === 'string') return readPlist(input, { maxBytes, maxDepth, maxElements });
  // The byte count was checked before decoding; the reader need not count again.
  return readPlist(bytesToText(input, maxBytes), { maxBytes: Number.POSITIVE_INFINITY, maxDepth, maxElements });
}

function bytesToText(input: Buffer, maxBytes: number): string {
  if (!(input instanceof Uint8Array)) throw new PlistError('expected a Buffer or a string');
  if (input.length > maxBytes) throw tooLarge(maxBytes);
  if (startsWithAscii(input, 'bplist')) throw new PlistError(BINARY_PLIST_HINT);
  if ((input[0] === 0xfe && input[1] === 0xff) || (input[0] === 0xff && input[1] === 0xfe)) {
    throw new PlistError('UTF-16 property lists are not accepted; convert with `plutil -convert xml1 FILE` (writes UTF-8)');
  }
  try {
    // fatal: a mis-encoded file must not silently become U+FFFD in a key or a passcode rule.
    // The decoder drops a UTF-8 BOM.
    return UTF8.decode(input);
  } catch (err) {
    throw new PlistError('the property list is not valid UTF-8', { cause: err });
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function tooLarge(maxBytes: number): PlistError {
  return new PlistError(`property list is larger than the ${maxBytes}-byte limit`);
}

function startsWithAscii(bytes: Uint8Array, prefix: string): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix.charCodeAt(i)) return false;
  return true;
}

function characterReference(char: string): string {
  return `&#x${(char.codePointAt(0) ?? 0).toString(16)};`;
}

function describe(err: unknown): string {
  // atob's DOMException is the library's only report of a bad <data> payload.
  if (err instanceof Error && err.name === 'InvalidCharacterError') return '<data> does not hold valid base64';
  if (err instanceof Error) return err.message.replace(/\s+/g, ' ').trim();
  return typeof err === 'string' ? err : 'unknown parser error';
}

// XML 1.0 `Char`: what a string may hold at all. Lone surrogates and most C0 controls cannot
// be written to XML, and the builder's own error for them names neither the key nor the path.
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/**
 * XML plist with Apple's declaration and DOCTYPE, tab-indented like plutil's output.
 * Integers → <integer>, other finite numbers → <real>, Uint8Array/Buffer → <data>,
 * Date → <date> (whole seconds: Apple's format has no fraction), `undefined` object values
 * dropped. Everything else a plist cannot say (null, NaN, bigint, functions, cycles, class
 * instances, undefined array items) is a PlistError naming where it is, not a silent drop.
 */
export function encodePlist(value: unknown): string {
  assertEncodable(value, '$', new Set());
  try {
    // Markup is ASCII, so these can only be text. decodePlist reads them raw, but XML 1.1-minded
    // readers (xmldom among them) would turn them into "\n".
    const xml = build(value as PlistValue, { indent: '\t' }).replace(/[\u0085\u2028\u2029]/g, characterReference);
    return `${xml}\n`;
  } catch (err) {
    throw new PlistError(`cannot encode property list: ${describe(err)}`, { cause: err });
  }
}

function assertEncodable(value: unknown, path: string, ancestors: Set<object>): void {
  switch (typeof value) {
    case 'string':
      if (NOT_XML_CHAR.test(value)) throw new PlistError(`${path} contains a character XML cannot carry`);
      return;
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new PlistError(`${path} is ${value}; property lists need finite numbers`);
      if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
        throw new PlistError(`${path} is ${value}, an integer beyond ±(2^53-1) that cannot be written exactly`);
      }
      return;
    case 'object':
      assertEncodableObject(value, path, ancestors);
      return;
    default:
      throw new PlistError(`${path} is ${typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`}, which a property list cannot hold`);
  }
}

function assertEncodableObject(value: object | null, path: string, ancestors: Set<object>): void {
  if (value === null) throw new PlistError(`${path} is null; property lists have no null`);
  if (value instanceof Date) {
    const year = value.getUTCFullYear();
    if (Number.isNaN(value.getTime()) || year < 0 || year > 9999) {
      throw new PlistError(`${path} is a Date that cannot be written as YYYY-MM-DDTHH:MM:SSZ`);
    }
    return;
  }
  if (value instanceof Uint8Array) return;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    throw new PlistError(`${path}: only Uint8Array or Buffer become <data>`);
  }
  if (ancestors.has(value)) throw new PlistError(`${path} refers back to itself`);
  ancestors.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      // Dropping an array item would shift every index after it.
      if (item === undefined) throw new PlistError(`${path}[${i}] is undefined`);
      assertEncodable(item, `${path}[${i}]`, ancestors);
    }
  } else {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      const kind = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      throw new PlistError(`${path} is a ${kind}, not a plain object`);
    }
    for (const [key, item] of Object.entries(value)) {
      if (item === undefined) continue;
      const itemPath = `${path}.${key}`;
      // decodePlist (the library) refuses this key, so writing it would make an unreadable file.
      if (key === '__proto__') throw new PlistError(`${itemPath}: "__proto__" is not accepted as a key`);
      if (NOT_XML_CHAR.test(key)) throw new PlistError(`${itemPath}: the key contains a character XML cannot carry`);
      assertEncodable(item, itemPath, ancestors);
    }
  }
  ancestors.delete(value);
}
