// XML property-list codec. The `plist` library (plist@5 on @xmldom/xmldom) does the real
// parsing and building; this module decides what may reach it. Device messages and uploaded
// profiles are hostile input, and the library on its own is lenient in ways that matter here:
// it hands "bplist…" strings to its binary parser and "{…" to its OpenStep parser, turns
// `<plist>` with zero or two children into an array, gives `<dict><key>a</key></dict>` the
// value "", reads `<integer>12abc</integer>` as 12 and `<date>junk</date>` as an Invalid Date,
// and lets xmldom print recoverable errors (an undefined `&entity;`, text after `</plist>`) to
// console.error and carry on. So a structural check runs first and refuses all of that.
//
// What `decodePlist` returns, per element (plist@5, checked in test/unit/plist-codec.test.ts):
//   <dict>              plain object (keys in document order; the library refuses "__proto__")
//   <array>             array
//   <string>, <key>     string (entities and CDATA decoded by xmldom)
//   <integer>           number (parseInt): only decimal, only within ±(2^53-1), else refused
//   <real>              number (parseFloat): `<real>30</real>` is 30, indistinguishable from
//                       `<integer>30</integer>` afterwards, so a re-encode writes `<integer>`
//   <true/>, <false/>   boolean
//   <date>              Date (Apple's `YYYY-MM-DDTHH:MM:SSZ`; anything else is refused)
//   <data>              Uint8Array, NOT a Buffer (plist@5 decodes base64 with atob); wrap with
//                       Buffer.from(x.buffer, x.byteOffset, x.byteLength) if Buffer API is needed
//   <null/>             refused here (not part of Apple's DTD, though the library accepts it)

import { build, parse } from 'plist';
import type { PlistValue } from 'plist';

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
  /** Refuse deeper element nesting (default 64) before the library's recursive walk sees it. */
  maxDepth?: number;
}

export const DEFAULT_MAX_PLIST_BYTES = 2 * 1024 * 1024;
const DEFAULT_MAX_DEPTH = 64;

const BINARY_PLIST_HINT =
  'binary property lists ("bplist00") are not accepted; convert it to XML first with `plutil -convert xml1 FILE`';

/**
 * Decode an XML property list (UTF-8, optional BOM). Throws PlistError, and only PlistError, for
 * input over maxBytes, empty input, binary or UTF-16 plists, any DTD internal subset or entity
 * declaration, anything that is not a single-valued <plist>, and malformed XML or values.
 */
export function decodePlist(input: Buffer | string, opts?: DecodePlistOptions): unknown {
  const maxBytes = opts?.maxBytes ?? DEFAULT_MAX_PLIST_BYTES;
  const maxDepth = opts?.maxDepth ?? DEFAULT_MAX_DEPTH;
  let text = toText(input, maxBytes);
  if (!/\S/.test(text)) throw new PlistError('empty input: expected an XML property list');
  if (text.startsWith('bplist')) throw new PlistError(BINARY_PLIST_HINT);
  // Entities are never expanded (billion laughs, XXE). `<!ENTITY` can only occur raw inside a
  // DOCTYPE, a comment or CDATA; refusing the rare comment/CDATA false positive is the safe side.
  if (text.includes('<!ENTITY')) {
    throw new PlistError('entity declarations (<!ENTITY>) are refused: a property list never needs them');
  }
  // xmldom rejects anything before the XML declaration; plutil tolerates leading whitespace.
  text = text.trimStart();
  new StructureCheck(text, maxDepth).run();
  return parseWithLibrary(shieldFromXmldom(text));
}

// Characters xmldom would change or complain about, although they are legal text:
// - U+0085, U+2028, U+2029: normalized to "\n" as XML 1.1 line ends, even in an XML 1.0
//   document, so a display name or regex description holding one would come back changed;
// - U+FFFD: a warning ("source encoding issues?"), fatal here, yet the UTF-8 was already
//   checked strictly above, so a U+FFFD in the text is really in the data.
// As character references they pass through untouched (line ends are normalized, and the source
// inspected, before references are resolved). CDATA cannot hold a reference, so a CDATA section
// containing one becomes escaped text; the structure check has confined CDATA to <string>, where
// the two mean the same.
const SHIELDED = /[\u0085\u2028\u2029\uFFFD]/;
const SHIELDED_OR_CDATA = /<!\[CDATA\[([\s\S]*?)\]\]>|[\u0085\u2028\u2029\uFFFD]/g;

function shieldFromXmldom(xml: string): string {
  if (!SHIELDED.test(xml)) return xml;
  return xml.replace(SHIELDED_OR_CDATA, (match: string, cdata: string | undefined) => {
    if (cdata === undefined) return characterReference(match);
    if (!SHIELDED.test(cdata)) return match;
    return cdata.replace(/[&<>\u0085\u2028\u2029\uFFFD]/g, characterReference);
  });
}

function characterReference(char: string): string {
  return `&#x${(char.codePointAt(0) ?? 0).toString(16)};`;
}

function toText(input: Buffer | string, maxBytes: number): string {
  if (typeof input === 'string') {
    if (Buffer.byteLength(input, 'utf8') > maxBytes) throw tooLarge(maxBytes);
    return input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  }
  if (!(input instanceof Uint8Array)) throw new PlistError('expected a Buffer or a string');
  if (input.length > maxBytes) throw tooLarge(maxBytes);
  if (startsWithAscii(input, 'bplist')) throw new PlistError(BINARY_PLIST_HINT);
  if ((input[0] === 0xfe && input[1] === 0xff) || (input[0] === 0xff && input[1] === 0xfe)) {
    throw new PlistError('UTF-16 property lists are not accepted; convert with `plutil -convert xml1 FILE` (writes UTF-8)');
  }
  try {
    // fatal: a mis-encoded file must not silently become U+FFFD in a key or a passcode rule.
    return new TextDecoder('utf-8', { fatal: true }).decode(input);
  } catch (err) {
    throw new PlistError('the property list is not valid UTF-8', { cause: err });
  }
}

function tooLarge(maxBytes: number): PlistError {
  return new PlistError(`property list is larger than the ${maxBytes}-byte limit`);
}

function startsWithAscii(bytes: Uint8Array, prefix: string): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix.charCodeAt(i)) return false;
  return true;
}

function parseWithLibrary(text: string): unknown {
  // plist.parse builds its DOMParser without an onError, so xmldom reports recoverable errors
  // through console.error and keeps going. parse() is synchronous, so borrowing console.error
  // for its duration cannot capture anyone else's output; every xmldom report becomes a refusal
  // (and hostile input never reaches the logs).
  const reports: string[] = [];
  const consoleError = console.error;
  console.error = (...args: unknown[]): void => {
    const first = args[0];
    if (typeof first === 'string' && first.startsWith('[xmldom')) reports.push(first);
    else consoleError.apply(console, args);
  };
  let value: PlistValue;
  try {
    value = parse(text);
  } catch (err) {
    throw new PlistError(`malformed property list: ${describe(err)}`, { cause: err });
  } finally {
    console.error = consoleError;
  }
  const report = reports[0];
  if (report !== undefined) {
    throw new PlistError(`malformed property list: ${report.replace(/^\[xmldom \w+\]\s*/, '').replace(/\s+/g, ' ').trim()}`);
  }
  return value;
}

function describe(err: unknown): string {
  // atob's DOMException is the library's only report of a bad <data> payload.
  if (err instanceof Error && err.name === 'InvalidCharacterError') return '<data> does not hold valid base64';
  if (err instanceof Error) return err.message.replace(/\s+/g, ' ').trim();
  return typeof err === 'string' ? err : 'unknown parser error';
}

// Elements of Apple's PropertyList-1.0 DTD that are values (everything but <plist> and <key>).
const VALUE_ELEMENTS = new Set(['dict', 'array', 'string', 'integer', 'real', 'true', 'false', 'date', 'data']);
// Leaves whose text this check validates because the library would misread it.
const CHECKED_TEXT = new Set(['integer', 'real', 'date', 'true', 'false']);
const INTEGER = /^[+-]?\d+$/;
const REAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const APPLE_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;
const NAME = /^[A-Za-z_][\w.:-]*/;
const CLOSE_TAG = /^\/([A-Za-z_][\w.:-]*)\s*$/;

interface Frame {
  name: string;
  /** Offset of its start tag, for the line number of "is not closed". */
  at: number;
  children: number;
  text: string;
}

/**
 * One linear pass over the markup (indexOf-driven, so hostile input cannot make it quadratic)
 * that enforces the shape of Apple's DTD: a single <plist> root holding exactly one value,
 * <dict> alternating <key> and value, known elements only, bounded depth, and numeric/date text
 * the library reads faithfully. Well-formedness details (entities, attribute syntax) are left
 * to xmldom, whose every complaint is fatal in parseWithLibrary.
 */
class StructureCheck {
  private readonly stack: Frame[] = [];
  private rootSeen = false;
  private pos = 0;

  constructor(
    private readonly xml: string,
    private readonly maxDepth: number,
  ) {}

  run(): void {
    const { xml } = this;
    let i = 0;
    while (i < xml.length) {
      const lt = xml.indexOf('<', i);
      const textEnd = lt === -1 ? xml.length : lt;
      if (textEnd > i) this.text(i, textEnd);
      if (lt === -1) break;
      this.pos = lt;
      if (xml.startsWith('<!--', lt)) {
        this.markupInside('comments');
        i = this.endOf('-->', lt + 4, 'comment');
      } else if (xml.startsWith('<![CDATA[', lt)) {
        const top = this.stack.at(-1);
        if (top?.name !== 'string') this.fail('CDATA sections are only accepted inside <string>');
        i = this.endOf(']]>', lt + 9, 'CDATA section');
      } else if (xml.startsWith('<?', lt)) {
        if (this.stack.length > 0) this.fail('processing instructions are not accepted inside <plist>');
        i = this.endOf('?>', lt + 2, 'processing instruction');
      } else if (xml.startsWith('<!DOCTYPE', lt)) {
        if (this.rootSeen) this.fail('DOCTYPE after the root element');
        i = this.endOfDoctype(lt + 9);
      } else if (xml.startsWith('<!', lt)) {
        this.fail('unsupported markup declaration');
      } else {
        const gt = this.endOfTag(lt + 1);
        this.tag(xml.slice(lt + 1, gt));
        i = gt + 1;
      }
    }
    const open = this.stack.at(-1);
    if (open) {
      this.pos = open.at;
      this.fail(`unexpected end of input: <${open.name}> is not closed`);
    }
    this.pos = xml.length;
    if (!this.rootSeen) this.fail('not an XML property list: no <plist> element');
  }

  private text(from: number, to: number): void {
    const top = this.stack.at(-1);
    if (top === undefined || top.name === 'plist' || top.name === 'dict' || top.name === 'array') {
      if (isBlank(this.xml, from, to)) return;
      this.pos = from;
      if (top) this.fail(`unexpected text inside <${top.name}>`);
      this.fail(this.rootSeen ? 'unexpected content after </plist>' : 'not an XML property list');
    }
    if (CHECKED_TEXT.has(top.name)) top.text += this.xml.slice(from, to);
  }

  private markupInside(what: string): void {
    const top = this.stack.at(-1);
    // The library reads <key>, <integer> and <date> from their first child node only, so a
    // comment there would silently change the value; containers and <string> are safe.
    if (top && !['plist', 'dict', 'array', 'string'].includes(top.name)) {
      this.fail(`${what} are not accepted inside <${top.name}>`);
    }
  }

  private tag(body: string): void {
    if (body.startsWith('/')) {
      const close = CLOSE_TAG.exec(body);
      if (!close?.[1]) this.fail('malformed closing tag');
      this.close(close[1]);
      return;
    }
    const selfClosing = body.endsWith('/');
    const inner = selfClosing ? body.slice(0, -1) : body;
    const name = NAME.exec(inner)?.[0];
    if (!name) this.fail('malformed tag');
    const rest = inner.slice(name.length);
    if (rest.length > 0 && !/^\s/.test(rest)) this.fail('malformed tag');
    // Apple's DTD gives attributes to <plist version> only; xmldom checks their syntax.
    if (name !== 'plist' && rest.trim() !== '') this.fail(`<${name}> does not take attributes`);
    this.open(name, selfClosing);
  }

  private open(name: string, selfClosing: boolean): void {
    const parent = this.stack.at(-1);
    if (!parent) {
      if (this.rootSeen) this.fail('unexpected content after </plist>');
      if (name !== 'plist') this.fail(`not a property list: the root element is <${name}>, not <plist>`);
      this.rootSeen = true;
    } else {
      if (parent.name === 'plist') {
        if (parent.children > 0) this.fail('<plist> must hold exactly one value, found a second element');
        this.requireValue(name, 'as the root value');
      } else if (parent.name === 'dict') {
        if (parent.children % 2 === 0) {
          if (name !== 'key') this.fail(`<dict> expects a <key>, found <${name}>`);
        } else {
          this.requireValue(name, 'after a <key>');
        }
      } else if (parent.name === 'array') {
        this.requireValue(name, 'inside <array>');
      } else {
        this.fail(`<${parent.name}> cannot contain elements (found <${name}>)`);
      }
      parent.children += 1;
    }
    if (this.stack.length >= this.maxDepth) this.fail(`elements nested deeper than ${this.maxDepth} levels`);
    const frame: Frame = { name, at: this.pos, children: 0, text: '' };
    if (selfClosing) this.finish(frame);
    else this.stack.push(frame);
  }

  private requireValue(name: string, where: string): void {
    if (VALUE_ELEMENTS.has(name)) return;
    this.fail(name === 'key' ? `unexpected <key> ${where}` : `<${name}> is not a property-list value (${where})`);
  }

  private close(name: string): void {
    const top = this.stack.pop();
    if (!top) this.fail(`unexpected </${name}>`);
    if (top.name !== name) this.fail(`</${name}> does not close <${top.name}>`);
    this.finish(top);
  }

  private finish(frame: Frame): void {
    const text = frame.text;
    switch (frame.name) {
      case 'plist':
        if (frame.children !== 1) this.fail('<plist> must hold exactly one value, and it is empty');
        return;
      case 'dict':
        if (frame.children % 2 === 1) this.fail('<dict> ends with a <key> that has no value');
        return;
      case 'integer': {
        const t = text.trim();
        if (!INTEGER.test(t)) this.fail(`<integer> holds ${quote(t)}, not a decimal integer`);
        if (!Number.isSafeInteger(Number(t))) {
          this.fail(`<integer> ${quote(t)} is outside ±(2^53-1) and would lose precision`);
        }
        return;
      }
      case 'real': {
        const t = text.trim();
        if (!REAL.test(t) || !Number.isFinite(Number(t))) this.fail(`<real> holds ${quote(t)}, not a finite number`);
        return;
      }
      case 'date':
        if (!APPLE_DATE.test(text) || Number.isNaN(Date.parse(text))) {
          this.fail(`<date> holds ${quote(text)}, not a date like 2024-01-31T12:00:00Z`);
        }
        return;
      case 'true':
      case 'false':
        if (text.trim() !== '') this.fail(`<${frame.name}/> must be empty`);
        return;
      default:
        return;
    }
  }

  private endOf(terminator: string, from: number, what: string): number {
    const at = this.xml.indexOf(terminator, from);
    if (at === -1) this.fail(`unterminated ${what}`);
    return at + terminator.length;
  }

  /** Index of the `>` closing a tag, skipping `>` inside quoted attribute values. */
  private endOfTag(from: number): number {
    const { xml } = this;
    const gt = xml.indexOf('>', from);
    if (gt === -1) this.fail('unterminated tag');
    if (!/["']/.test(xml.slice(from, gt))) return gt;
    let quoteChar = '';
    for (let j = from; j < xml.length; j++) {
      const c = xml[j];
      if (quoteChar) {
        if (c === quoteChar) quoteChar = '';
      } else if (c === '"' || c === "'") {
        quoteChar = c;
      } else if (c === '>') {
        return j;
      } else if (c === '<') {
        break;
      }
    }
    return this.fail('unterminated tag');
  }

  private endOfDoctype(from: number): number {
    const { xml } = this;
    let quoteChar = '';
    for (let j = from; j < xml.length; j++) {
      const c = xml[j];
      if (quoteChar) {
        if (c === quoteChar) quoteChar = '';
      } else if (c === '"' || c === "'") {
        quoteChar = c;
      } else if (c === '[') {
        this.fail('DOCTYPE internal subsets are refused: entity and attribute declarations are never processed');
      } else if (c === '>') {
        return j + 1;
      }
    }
    return this.fail('unterminated DOCTYPE');
  }

  private fail(message: string): never {
    let line = 1;
    for (let j = this.xml.indexOf('\n'); j !== -1 && j < this.pos; j = this.xml.indexOf('\n', j + 1)) line += 1;
    throw new PlistError(`${message} (line ${line})`);
  }
}

function isBlank(s: string, from: number, to: number): boolean {
  for (let j = from; j < to; j++) {
    const c = s.charCodeAt(j);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
  }
  return true;
}

/** Shown in messages: bounded and JSON-quoted, so hostile text cannot forge log lines. */
function quote(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
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
    // Markup is ASCII, so these can only be text. decodePlist copes with them raw (shieldFromXmldom),
    // but other XML 1.1-minded readers would turn them into "\n" too.
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
