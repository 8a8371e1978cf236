// A strict, bounded reader for Apple's XML property lists, written for the check-in hot path.
// `plist.parse` (plist@5 over @xmldom/xmldom) cost ≈ 80 µs per Idle and ≈ 400 ms per 1 MB
// response (≈ 300× JSON.parse), so on a server taking 2 MB bodies it was a CPU lever for anyone
// who can reach the check-in URL. DESIGN.md "Performance notes" makes this the one justified
// exception to "use the library"; bench/plist-bench.ts keeps measuring it.
//
// Shape of the reader: one forward pass over the string with indexOf/charCodeAt and an explicit
// stack (no recursion), every loop advancing the position, so the work is linear in the input
// whatever it holds. It reads the subset of XML 1.0 that a property list needs and refuses the
// rest instead of guessing:
//   - no DTD processing: a DOCTYPE is accepted only in Apple's form (name `plist`, public id
//     "-//Apple//DTD PLIST 1.0//EN" or the older "-//Apple Computer//DTD PLIST 1.0//EN", the
//     system literal is never fetched); an internal subset, and so any entity declaration, is
//     refused. References are the five predefined entities and character references only.
//   - limits: UTF-8 size (maxBytes), element nesting (maxDepth, <plist> counts as level 1) and
//     element count (maxElements), checked as the document is read.
//   - values exactly as decodePlist returned them with the library (test/unit/plist-reader.test.ts
//     checks it differentially against `plist.parse`), except where the library was lenient; every
//     such strictness is listed in STRICTER_THAN_THE_LIBRARY below and exercised by the tests.
//
// CDATA is accepted inside <string> (XML allows it there, other writers than Apple use it, and
// the previous decode path accepted it) and refused everywhere else, where the library would have
// dropped it silently. Comments are accepted where they cannot change a value: around the
// document, between elements, and inside <string>.

import { DEFAULT_MAX_PLIST_BYTES, PlistError } from './plist-codec.ts';

export interface PlistReaderOptions {
  /** Refuse a document whose UTF-8 encoding is larger (default 2 MiB, as decodePlist). */
  maxBytes?: number;
  /** Refuse deeper element nesting; <plist> is level 1 (default 64). */
  maxDepth?: number;
  /** Refuse documents with more elements, <plist> and <key> included (default 500,000). */
  maxElements?: number;
}

export const DEFAULT_MAX_PLIST_DEPTH = 64;
// A 2 MiB body holds at most ≈ 300,000 of the shortest elements (`<true/>`); a real 2 MiB
// InstalledApplicationList holds ≈ 100,000. The bound matters when maxBytes is raised.
export const DEFAULT_MAX_PLIST_ELEMENTS = 500_000;

export const BINARY_PLIST_HINT =
  'binary property lists ("bplist00") are not accepted; convert it to XML first with `plutil -convert xml1 FILE`';

/**
 * Where this reader refuses what `plist.parse` would have accepted (the differential tests
 * accept a refusal of a document the library reads only if its message matches one of these):
 * - malformed XML that xmldom repairs silently: a bare `&`, `]]>` in text, `--` in a comment,
 *   attributes without whitespace between them,
 *   characters XML 1.0 forbids (raw or as references: U+0000–U+001F but tab/LF/CR, lone
 *   surrogates, U+FFFE/U+FFFF, references beyond U+10FFFF);
 * - a DOCTYPE that is not Apple's, an XML declaration for another version than 1.0 or another
 *   encoding than UTF-8;
 * - markup inside values the library would misread: comments in <key>/<integer>/<real>/<date>/
 *   <data>/<true>/<false>, CDATA outside <string>, references in <integer>/<real>/<date>/<data>;
 * - values the library misreads (`12abc` → 12, Invalid Date, `<dict>` ending on a <key>, a
 *   second root value, <null/>, unknown elements, attributes on anything but <plist>);
 * - whitespace other than XML's (space, tab, LF, CR), e.g. U+00A0 around an <integer> or in <data>;
 * - names outside ASCII (processing-instruction targets, attribute names), which XML allows;
 * - the limits above.
 */
export const STRICTER_THAN_THE_LIBRARY: readonly RegExp[] = [
  /"&" must start an entity or character reference|"\]\]>" is not allowed in text|"--" is not allowed inside a comment|attributes must be separated by whitespace/,
  /not a character XML 1\.0 allows/,
  /DOCTYPE|XML declaration|only UTF-8/,
  /are not accepted inside <|only accepted inside <string>|cannot contain elements/,
  /not a decimal integer|would lose precision|not a finite number|not a date like|does not hold valid base64|must be empty/,
  /<dict> ends with a <key>|must hold exactly one value|is not a property-list value|<dict> expects a <key>|unexpected <key>|does not take attributes/,
  /larger than the|nested deeper than|more than [\d,]+ elements/,
  /not an XML property list|unexpected text inside|unexpected content after/,
  /malformed processing instruction|malformed tag/,
];

/**
 * Decode an XML property list held in a string (a leading U+FEFF is skipped). Returns what
 * decodePlist documents: plain objects, arrays, strings, numbers, booleans, Uint8Array, Date.
 * Throws PlistError, and only PlistError, naming what is wrong and where (line and column).
 */
export function readPlist(xml: string, options?: PlistReaderOptions): unknown {
  const maxBytes = options?.maxBytes ?? DEFAULT_MAX_PLIST_BYTES;
  // A UTF-16 code unit is 1 to 3 UTF-8 bytes, so most strings need no byte count at all.
  if (xml.length > maxBytes || (xml.length * 3 > maxBytes && Buffer.byteLength(xml, 'utf8') > maxBytes)) {
    throw new PlistError(`property list is larger than the ${maxBytes}-byte limit`);
  }
  const reader = new Reader(xml, options?.maxDepth ?? DEFAULT_MAX_PLIST_DEPTH, options?.maxElements ?? DEFAULT_MAX_PLIST_ELEMENTS);
  return reader.document();
}

// Element kinds. Everything from DICT to DATA is a value.
const PLIST = 0;
const DICT = 1;
const ARRAY = 2;
const STRING = 3;
const INTEGER = 4;
const REAL = 5;
const TRUE = 6;
const FALSE = 7;
const DATE = 8;
const DATA = 9;
const KEY = 10;
const OTHER = 11;
const NAMES = ['plist', 'dict', 'array', 'string', 'integer', 'real', 'true', 'false', 'date', 'data', 'key'] as const;

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const BANG = 0x21;
const QUOTE = 0x22;
const HASH = 0x23;
const AMP = 0x26;
const APOS = 0x27;
const PLUS = 0x2b;
const MINUS = 0x2d;
const DOT = 0x2e;
const SLASH = 0x2f;
const ZERO = 0x30;
const NINE = 0x39;
const COLON = 0x3a;
const SEMICOLON = 0x3b;
const LT = 0x3c;
const EQUALS = 0x3d;
const GT = 0x3e;
const QUESTION = 0x3f;
const UPPER_E = 0x45;
const UPPER_T = 0x54;
const UPPER_Z = 0x5a;
const RIGHT_BRACKET = 0x5d;
const LOWER_E = 0x65;
const LOWER_X = 0x78;

const APPLE_PUBLIC_IDS = new Set(['-//Apple//DTD PLIST 1.0//EN', '-//Apple Computer//DTD PLIST 1.0//EN']);
const APPLE_PLIST_TAG = '<plist version="1.0">';
const APPLE_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';
const APPLE_DOCTYPE = '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">';

// XML 1.0 `Char` excludes these; the surrogate range is then checked for proper pairs by hand.
// A single character class cannot backtrack, and /u is avoided because it is 4× slower here.
// eslint-disable-next-line no-control-regex -- finding the control characters XML forbids is the point
const SUSPECT_CHAR = /[\0-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/g;

const XML_SPACE_RUNS = /[ \t\n\r]+/g;
const BASE64_TEXT = /^[A-Za-z0-9+/]*={0,2}$/;

function isXmlSpace(c: number): boolean {
  return c === SPACE || c === LF || c === TAB || c === CR;
}

function isNameStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === COLON;
}

function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= ZERO && c <= NINE) || c === MINUS || c === DOT;
}

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

function isXmlChar(cp: number): boolean {
  return cp >= 0x20 ? cp <= 0xd7ff || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff) : cp === TAB || cp === LF || cp === CR;
}

/** Shown in messages: bounded and JSON-quoted, so hostile text cannot forge log lines. */
function quote(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}

/** An open container: the value being filled and, in a <dict>, the key waiting for its value. */
class Frame {
  key: string | undefined = undefined;
  /** The root value, for the <plist> frame. */
  value: unknown = undefined;
  filled = false;

  constructor(
    readonly kind: number,
    /** Offset of the start tag, for "is not closed". */
    readonly at: number,
    readonly container: Record<string, unknown> | unknown[] | undefined,
  ) {}
}

class Reader {
  private pos = 0;
  private elements = 0;
  // Where the last scanned name lies (elementName, attributes).
  private nameFrom = 0;
  private nameTo = 0;
  // Where reference() stopped.
  private refEnd = 0;
  // Next '&', CR and "]]>" at or after the last position asked about (xml.length: none left).
  // Text runs are compared against these instead of searched, so the searches stay linear.
  private nextAmp = -1;
  private nextCr = -1;
  private nextCdataEnd = -1;
  private readonly attributeNames: string[] = [];
  private readonly attributeValues: string[] = [];

  constructor(
    private readonly xml: string,
    private readonly maxDepth: number,
    private readonly maxElements: number,
  ) {}

  document(): unknown {
    const { xml } = this;
    let pos = xml.charCodeAt(0) === 0xfeff ? 1 : 0;
    // XML wants the declaration first; plutil, and the previous decode path, tolerate whitespace.
    while (pos < xml.length && isXmlSpace(xml.charCodeAt(pos))) pos++;
    this.pos = pos;
    if (pos === xml.length) this.fail('empty input: expected an XML property list');
    if (xml.startsWith('bplist', pos)) this.fail(BINARY_PLIST_HINT);
    this.checkCharacters(pos);
    // Apple's own declaration and DOCTYPE (every device message) are compared, not parsed.
    // (slice and === is native; startsWith on 100 characters measured 6× slower.)
    if (xml.slice(pos, pos + APPLE_DECLARATION.length) === APPLE_DECLARATION) {
      this.pos += APPLE_DECLARATION.length;
    } else if (xml.startsWith('<?xml', pos) && (isXmlSpace(xml.charCodeAt(pos + 5)) || xml.charCodeAt(pos + 5) === QUESTION)) {
      this.xmlDeclaration();
    }
    let doctypeSeen = false;
    for (;;) {
      this.skipSpace();
      pos = this.pos;
      if (pos >= xml.length) this.fail('not an XML property list: no <plist> element');
      if (xml.charCodeAt(pos) !== LT) this.fail('not an XML property list');
      if (xml.startsWith('<!--', pos)) this.comment();
      else if (xml.charCodeAt(pos + 1) === QUESTION) this.processingInstruction();
      else if (xml.startsWith('<!DOCTYPE', pos)) {
        if (doctypeSeen) this.fail('a second DOCTYPE');
        doctypeSeen = true;
        if (xml.slice(pos, pos + APPLE_DOCTYPE.length) === APPLE_DOCTYPE) this.pos += APPLE_DOCTYPE.length;
        else this.doctype();
      } else if (xml.startsWith('<![CDATA[', pos)) this.fail('CDATA sections are only accepted inside <string>');
      else if (xml.charCodeAt(pos + 1) === BANG) this.fail('unsupported markup declaration');
      else break;
    }
    const value = this.root();
    for (;;) {
      this.skipSpace();
      pos = this.pos;
      if (pos >= xml.length) return value;
      if (xml.startsWith('<!--', pos)) this.comment();
      else if (xml.startsWith('<?', pos)) this.processingInstruction();
      else if (xml.startsWith('<!DOCTYPE', pos)) this.fail('DOCTYPE after the root element');
      else this.fail('unexpected content after </plist>');
    }
  }

  /** The <plist> element and everything in it; this.pos is at its `<`. */
  private root(): unknown {
    const { xml } = this;
    const rootAt = this.pos;
    if (xml.slice(rootAt, rootAt + APPLE_PLIST_TAG.length) === APPLE_PLIST_TAG) {
      this.pos += APPLE_PLIST_TAG.length;
      return this.content(rootAt);
    }
    if (this.elementName() !== PLIST) this.fail(`not a property list: the root element is <${this.nameText()}>, not <plist>`, rootAt);
    if (this.startTagEnd(PLIST)) this.fail('<plist> must hold exactly one value, and it is empty', rootAt);
    return this.content(rootAt);
  }

  /** Everything after the <plist> start tag, through </plist>. */
  private content(rootAt: number): unknown {
    const { xml } = this;
    this.elements = 1;
    const stack: Frame[] = [new Frame(PLIST, rootAt, undefined)];
    let top = stack[0] as Frame;
    for (;;) {
      let pos = this.pos;
      let c = xml.charCodeAt(pos);
      while (c === SPACE || c === LF || c === TAB || c === CR) c = xml.charCodeAt(++pos);
      this.pos = pos;
      if (c !== LT) {
        if (pos >= xml.length) this.fail(`unexpected end of input: <${NAMES[top.kind]}> is not closed`, top.at);
        this.fail(`unexpected text inside <${NAMES[top.kind]}>`);
      }
      const next = xml.charCodeAt(pos + 1);
      if (next === SLASH) {
        this.endTag(top.kind);
        const value = this.finish(top, pos);
        stack.pop();
        const parent = stack[stack.length - 1];
        if (parent === undefined) return value;
        top = parent;
        this.attach(top, value);
        continue;
      }
      if (next === BANG) {
        if (xml.startsWith('<!--', pos)) {
          this.comment();
          continue;
        }
        if (xml.startsWith('<![CDATA[', pos)) this.fail('CDATA sections are only accepted inside <string>');
        this.fail('unsupported markup declaration');
      }
      if (next === QUESTION) this.fail('processing instructions are not accepted inside <plist>');

      const kind = this.elementName();
      this.checkPlace(top, kind, pos);
      if (stack.length >= this.maxDepth) this.fail(`elements nested deeper than ${this.maxDepth} levels`, pos);
      if (++this.elements > this.maxElements) this.fail(`more than ${this.maxElements.toLocaleString('en-US')} elements`, pos);
      const empty = this.startTagEnd(kind);
      let value: unknown;
      switch (kind) {
        case DICT:
        case ARRAY:
          if (empty) {
            value = kind === DICT ? {} : [];
            break;
          }
          top = new Frame(kind, pos, kind === DICT ? {} : []);
          stack.push(top);
          continue;
        case KEY: {
          const key = empty ? '' : this.text(KEY, pos);
          // Assigning "__proto__" to a plain object would replace its prototype (CVE-2022-22912
          // in the library); refusing it keeps the result an ordinary object like the library's.
          if (key === '__proto__') this.fail('"__proto__" is not accepted as a key', pos);
          top.key = key;
          continue;
        }
        case STRING:
          value = empty ? '' : this.text(STRING, pos);
          break;
        case INTEGER:
          value = this.integer(empty, pos);
          break;
        case REAL:
          value = this.real(empty, pos);
          break;
        case TRUE:
        case FALSE:
          if (!empty) this.nothing(kind, pos);
          value = kind === TRUE;
          break;
        case DATE:
          value = this.date(empty, pos);
          break;
        default:
          value = this.data(empty, pos);
          break;
      }
      this.attach(top, value);
    }
  }

  /** Refuses an element where Apple's DTD does not allow it. */
  private checkPlace(top: Frame, kind: number, at: number): void {
    const isValue = kind >= DICT && kind <= DATA;
    if (top.kind === DICT) {
      if (top.key === undefined) {
        if (kind !== KEY) this.fail(`<dict> expects a <key>, found <${this.nameText()}>`, at);
      } else if (!isValue) {
        this.fail(kind === KEY ? 'unexpected <key> after a <key>' : `<${this.nameText()}> is not a property-list value (after a <key>)`, at);
      }
      return;
    }
    if (top.kind === PLIST && top.filled) this.fail('<plist> must hold exactly one value, found a second element', at);
    if (isValue) return;
    const where = top.kind === PLIST ? 'as the root value' : 'inside <array>';
    this.fail(kind === KEY ? `unexpected <key> ${where}` : `<${this.nameText()}> is not a property-list value (${where})`, at);
  }

  private attach(frame: Frame, value: unknown): void {
    if (frame.kind === DICT) {
      (frame.container as Record<string, unknown>)[frame.key as string] = value;
      frame.key = undefined;
    } else if (frame.kind === ARRAY) {
      (frame.container as unknown[]).push(value);
    } else {
      frame.value = value;
      frame.filled = true;
    }
  }

  private finish(frame: Frame, at: number): unknown {
    if (frame.kind === DICT && frame.key !== undefined) this.fail('<dict> ends with a <key> that has no value', at);
    if (frame.kind !== PLIST) return frame.container;
    if (!frame.filled) this.fail('<plist> must hold exactly one value, and it is empty', at);
    return frame.value;
  }

  // ---- tags -------------------------------------------------------------------------------

  /** Reads the name after `<` at this.pos; leaves this.pos after the name. */
  private elementName(): number {
    const { xml } = this;
    const from = this.pos + 1;
    const first = xml.charCodeAt(from);
    if (!isNameStart(first)) this.fail(from >= xml.length ? 'unterminated tag' : 'malformed tag');
    let to = from + 1;
    while (isNameChar(xml.charCodeAt(to))) to++;
    this.nameFrom = from;
    this.nameTo = to;
    this.pos = to;
    switch (to - from) {
      case 3:
        return xml.startsWith('key', from) ? KEY : OTHER;
      case 4:
        if (first === 0x64) {
          if (xml.startsWith('dict', from)) return DICT;
          if (xml.startsWith('data', from)) return DATA;
          if (xml.startsWith('date', from)) return DATE;
        }
        if (xml.startsWith('real', from)) return REAL;
        return xml.startsWith('true', from) ? TRUE : OTHER;
      case 5:
        if (xml.startsWith('array', from)) return ARRAY;
        if (xml.startsWith('false', from)) return FALSE;
        return xml.startsWith('plist', from) ? PLIST : OTHER;
      case 6:
        return xml.startsWith('string', from) ? STRING : OTHER;
      case 7:
        return xml.startsWith('integer', from) ? INTEGER : OTHER;
      default:
        return OTHER;
    }
  }

  private nameText(): string {
    const to = Math.min(this.nameTo, this.nameFrom + 40);
    return this.xml.slice(this.nameFrom, to) + (to < this.nameTo ? '…' : '');
  }

  /** After a start tag's name: reads to its `>` and tells whether it was `/>`. */
  private startTagEnd(kind: number): boolean {
    const { xml } = this;
    let pos = this.pos;
    let c = xml.charCodeAt(pos);
    if (c === GT) {
      this.pos = pos + 1;
      return false;
    }
    if (c === SLASH) {
      if (xml.charCodeAt(pos + 1) !== GT) this.fail(pos + 1 >= xml.length ? 'unterminated tag' : 'malformed tag', pos);
      this.pos = pos + 2;
      return true;
    }
    if (!isXmlSpace(c)) this.fail(pos >= xml.length ? 'unterminated tag' : 'malformed tag', pos);
    // Apple's DTD gives attributes to <plist version> only.
    if (kind === PLIST) return this.attributes(false);
    do c = xml.charCodeAt(++pos);
    while (isXmlSpace(c));
    this.pos = pos;
    if (c === GT) {
      this.pos = pos + 1;
      return false;
    }
    if (c === SLASH && xml.charCodeAt(pos + 1) === GT) {
      this.pos = pos + 2;
      return true;
    }
    if (pos >= xml.length) this.fail('unterminated tag');
    return this.fail(`<${NAMES[kind]}> does not take attributes`);
  }

  /**
   * Attributes of <plist>, or pseudo-attributes of the XML declaration (`?>` ends those):
   * well-formedness only, values decoded into attributeNames/attributeValues.
   */
  private attributes(declaration: boolean): boolean {
    const { xml } = this;
    this.attributeNames.length = 0;
    this.attributeValues.length = 0;
    const seen = new Set<string>();
    for (;;) {
      const before = this.pos;
      this.skipSpace();
      const pos = this.pos;
      const c = xml.charCodeAt(pos);
      if (pos >= xml.length) this.fail('unterminated tag');
      if (declaration ? c === QUESTION && xml.charCodeAt(pos + 1) === GT : c === GT) {
        this.pos = pos + (declaration ? 2 : 1);
        return false;
      }
      if (!declaration && c === SLASH && xml.charCodeAt(pos + 1) === GT) {
        this.pos = pos + 2;
        return true;
      }
      if (pos === before) this.fail('malformed property list: attributes must be separated by whitespace');
      if (!isNameStart(c)) this.fail('malformed tag');
      let to = pos + 1;
      while (isNameChar(xml.charCodeAt(to))) to++;
      // XML allows most of Unicode in names; a plist uses ASCII ones only.
      if (xml.charCodeAt(to) >= 0x80) this.fail('malformed tag: names outside ASCII are not accepted', to);
      const name = xml.slice(pos, to);
      this.pos = to;
      this.skipSpace();
      const shown = quote(name).slice(1, -1);
      if (xml.charCodeAt(this.pos) !== EQUALS) this.fail(`malformed property list: attribute ${shown} has no value`);
      this.pos++;
      this.skipSpace();
      const quoteChar = xml.charCodeAt(this.pos);
      if (quoteChar !== QUOTE && quoteChar !== APOS) this.fail(`malformed property list: the value of attribute ${shown} is not quoted`);
      const end = xml.indexOf(quoteChar === QUOTE ? '"' : "'", this.pos + 1);
      if (end === -1) this.fail('unterminated tag');
      const value = this.attributeValue(this.pos + 1, end);
      if (seen.has(name)) this.fail(`malformed property list: attribute ${shown} is repeated`);
      seen.add(name);
      this.attributeNames.push(name);
      this.attributeValues.push(value);
      this.pos = end + 1;
    }
  }

  private attributeValue(from: number, to: number): string {
    const { xml } = this;
    let out = '';
    let run = from;
    for (let i = from; i < to; i++) {
      const c = xml.charCodeAt(i);
      if (c === LT) this.fail('malformed property list: "<" inside an attribute value', i);
      if (c === AMP) {
        out += xml.slice(run, i) + this.reference(i, to);
        i = this.refEnd - 1;
        run = this.refEnd;
      }
    }
    return out + xml.slice(run, to);
  }

  /** At `</`: consumes the end tag of `kind`, or refuses. */
  private endTag(kind: number): void {
    const { xml } = this;
    const pos = this.pos;
    const name = NAMES[kind] as string;
    if (xml.startsWith(name, pos + 2) && xml.charCodeAt(pos + 2 + name.length) === GT) {
      this.pos = pos + 3 + name.length;
      return;
    }
    this.pos = pos + 1;
    if (pos + 2 >= xml.length) this.fail('unterminated tag', pos);
    if (!isNameStart(xml.charCodeAt(pos + 2))) this.fail('malformed closing tag', pos);
    const found = this.elementName();
    if (found !== kind) this.fail(`</${this.nameText()}> does not close <${name}>`, pos);
    this.skipSpace();
    if (this.pos >= xml.length) this.fail('unterminated tag', pos);
    if (xml.charCodeAt(this.pos) !== GT) this.fail('malformed closing tag', pos);
    this.pos++;
  }

  // ---- leaves -----------------------------------------------------------------------------

  /** Text of <key> or <string> (this.pos after the start tag), through its end tag. */
  private text(kind: number, at: number): string {
    const { xml } = this;
    let out = '';
    for (;;) {
      const from = this.pos;
      const lt = xml.indexOf('<', from);
      if (lt === -1) this.fail(`unexpected end of input: <${NAMES[kind]}> is not closed`, at);
      if (lt > from) out += this.textRun(from, lt);
      this.pos = lt;
      if (xml.charCodeAt(lt + 1) === SLASH) {
        this.endTag(kind);
        return out;
      }
      if (kind === STRING && xml.startsWith('<!--', lt)) this.comment();
      else if (kind === STRING && xml.startsWith('<![CDATA[', lt)) out += this.cdata();
      else this.markupInLeaf(kind);
    }
  }

  /** Text up to the end tag of a leaf that holds no markup; leaves its range in nameFrom/nameTo. */
  private leafText(kind: number, at: number): void {
    const { xml } = this;
    const from = this.pos;
    const lt = xml.indexOf('<', from);
    if (lt === -1) this.fail(`unexpected end of input: <${NAMES[kind]}> is not closed`, at);
    this.pos = lt;
    if (xml.charCodeAt(lt + 1) !== SLASH) this.markupInLeaf(kind);
    this.endTag(kind);
    this.nameFrom = from;
    this.nameTo = lt;
  }

  private markupInLeaf(kind: number): never {
    const { xml } = this;
    const pos = this.pos;
    // The library read <key>, <integer> and <date> from their first text node only, so a comment
    // there silently changed the value; refusing is the only reading both agree on.
    if (xml.startsWith('<!--', pos)) this.fail(`comments are not accepted inside <${NAMES[kind]}>`);
    if (xml.startsWith('<![CDATA[', pos)) this.fail('CDATA sections are only accepted inside <string>');
    if (xml.charCodeAt(pos + 1) === QUESTION) this.fail('processing instructions are not accepted inside <plist>');
    if (xml.charCodeAt(pos + 1) === BANG) this.fail('unsupported markup declaration');
    this.elementName();
    return this.fail(`<${NAMES[kind]}> cannot contain elements (found <${this.nameText()}>)`, pos);
  }

  /** Character data between markup: references decoded, line ends normalized to LF. */
  private textRun(from: number, to: number): string {
    if (this.ampFrom(from) >= to && this.crFrom(from) >= to && this.cdataEndFrom(from) >= to) return this.xml.slice(from, to);
    const { xml } = this;
    let out = '';
    let run = from;
    for (let i = from; i < to; i++) {
      const c = xml.charCodeAt(i);
      if (c === AMP) {
        out += xml.slice(run, i) + this.reference(i, to);
        i = this.refEnd - 1;
        run = this.refEnd;
      } else if (c === CR) {
        out += `${xml.slice(run, i)}\n`;
        if (i + 1 < to && xml.charCodeAt(i + 1) === LF) i++;
        run = i + 1;
      } else if (c === RIGHT_BRACKET && xml.startsWith(']]>', i)) {
        this.fail('malformed property list: "]]>" is not allowed in text', i);
      }
    }
    return out + xml.slice(run, to);
  }

  /** At `&`, within [.., limit): the referenced text; this.refEnd is set after the `;`. */
  private reference(at: number, limit: number): string {
    const { xml } = this;
    if (xml.charCodeAt(at + 1) === HASH) {
      const hex = xml.charCodeAt(at + 2) === LOWER_X;
      let i = at + (hex ? 3 : 2);
      const start = i;
      let cp = 0;
      for (; i < limit; i++) {
        const c = xml.charCodeAt(i);
        let digit: number;
        if (c >= ZERO && c <= NINE) digit = c - ZERO;
        else if (hex && c >= 0x61 && c <= 0x66) digit = c - 0x57;
        else if (hex && c >= 0x41 && c <= 0x46) digit = c - 0x37;
        else break;
        cp = cp * (hex ? 16 : 10) + digit;
        if (cp > 0x10ffff) this.fail(`character reference ${quote(xml.slice(at, i + 1))}… is not a character XML 1.0 allows`, at);
      }
      if (i === start || i >= limit || xml.charCodeAt(i) !== SEMICOLON) {
        this.fail(`malformed property list: malformed character reference ${quote(xml.slice(at, Math.min(i + 1, limit)))}`, at);
      }
      if (!isXmlChar(cp)) this.fail(`character reference ${quote(xml.slice(at, i + 1))} is not a character XML 1.0 allows`, at);
      this.refEnd = i + 1;
      return String.fromCodePoint(cp);
    }
    let i = at + 1;
    while (i < limit && i < at + 40 && isNameChar(xml.charCodeAt(i))) i++;
    if (i === at + 1 || i >= limit || xml.charCodeAt(i) !== SEMICOLON) {
      this.fail('malformed property list: "&" must start an entity or character reference (write &amp;)', at);
    }
    this.refEnd = i + 1;
    switch (xml.slice(at + 1, i)) {
      case 'amp':
        return '&';
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
      default:
        // No DTD is processed, so no other entity can exist.
        return this.fail(`malformed property list: entity not found: ${quote(xml.slice(at, i + 1))}`, at);
    }
  }

  private ampFrom(from: number): number {
    if (this.nextAmp < from) this.nextAmp = this.found(this.xml.indexOf('&', from));
    return this.nextAmp;
  }

  private crFrom(from: number): number {
    if (this.nextCr < from) this.nextCr = this.found(this.xml.indexOf('\r', from));
    return this.nextCr;
  }

  private cdataEndFrom(from: number): number {
    if (this.nextCdataEnd < from) this.nextCdataEnd = this.found(this.xml.indexOf(']]>', from));
    return this.nextCdataEnd;
  }

  private found(index: number): number {
    return index === -1 ? this.xml.length : index;
  }

  /** At `<![CDATA[`: its content, line ends normalized. */
  private cdata(): string {
    const { xml } = this;
    const from = this.pos + 9;
    const end = xml.indexOf(']]>', from);
    if (end === -1) this.fail('unterminated CDATA section');
    this.pos = end + 3;
    if (this.crFrom(from) >= end) return xml.slice(from, end);
    return xml.slice(from, end).replace(/\r\n?/g, '\n');
  }

  private integer(empty: boolean, at: number): number {
    let from = this.pos;
    let to = from;
    if (!empty) {
      this.leafText(INTEGER, at);
      ({ nameFrom: from, nameTo: to } = this);
    }
    const { xml } = this;
    while (from < to && isXmlSpace(xml.charCodeAt(from))) from++;
    while (to > from && isXmlSpace(xml.charCodeAt(to - 1))) to--;
    let i = from;
    const sign = xml.charCodeAt(i);
    if (sign === MINUS || sign === PLUS) i++;
    if (i === to) this.notA(INTEGER, from, to, at);
    let magnitude = 0;
    for (let j = i; j < to; j++) {
      const c = xml.charCodeAt(j);
      if (!isDigit(c)) this.notA(INTEGER, from, to, at);
      magnitude = magnitude * 10 + (c - ZERO);
    }
    // Up to 15 digits the sum above is exact; beyond, let Number() round and check the result.
    // `-0` stays -0, as parseInt made it.
    const value = to - i <= 15 ? (sign === MINUS ? -magnitude : magnitude) : Number(xml.slice(from, to));
    if (!Number.isSafeInteger(value)) {
      this.fail(`<integer> ${quote(xml.slice(from, Math.min(to, from + 41)))} is outside ±(2^53-1) and would lose precision`, at);
    }
    return value;
  }

  private real(empty: boolean, at: number): number {
    let from = this.pos;
    let to = from;
    if (!empty) {
      this.leafText(REAL, at);
      ({ nameFrom: from, nameTo: to } = this);
    }
    const { xml } = this;
    while (from < to && isXmlSpace(xml.charCodeAt(from))) from++;
    while (to > from && isXmlSpace(xml.charCodeAt(to - 1))) to--;
    // [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?  — Apple's nan/inf are refused,
    // as before: a passcode rule or a device figure has no use for them.
    let i = from;
    if (i < to && (xml.charCodeAt(i) === MINUS || xml.charCodeAt(i) === PLUS)) i++;
    const integerFrom = i;
    while (i < to && isDigit(xml.charCodeAt(i))) i++;
    let digits = i - integerFrom;
    if (i < to && xml.charCodeAt(i) === DOT) {
      const fractionFrom = ++i;
      while (i < to && isDigit(xml.charCodeAt(i))) i++;
      digits += i - fractionFrom;
    }
    if (digits > 0 && i < to && (xml.charCodeAt(i) === LOWER_E || xml.charCodeAt(i) === UPPER_E)) {
      i++;
      if (i < to && (xml.charCodeAt(i) === MINUS || xml.charCodeAt(i) === PLUS)) i++;
      const exponentFrom = i;
      while (i < to && isDigit(xml.charCodeAt(i))) i++;
      if (i === exponentFrom) digits = 0;
    }
    const value = digits > 0 && i === to ? Number(xml.slice(from, to)) : Number.NaN;
    if (!Number.isFinite(value)) this.notA(REAL, from, to, at);
    return value;
  }

  private date(empty: boolean, at: number): Date {
    let from = this.pos;
    let to = from;
    if (!empty) {
      this.leafText(DATE, at);
      ({ nameFrom: from, nameTo: to } = this);
    }
    // YYYY-MM-DDTHH:MM:SS[.fraction]Z, no surrounding whitespace, exactly as before; Date.parse
    // then decides about day and hour ranges the same way it did for the library.
    const { xml } = this;
    let ok = to - from >= 20 && xml.charCodeAt(to - 1) === UPPER_Z;
    for (let j = 0; ok && j < 19; j++) {
      const c = xml.charCodeAt(from + j);
      ok = j === 4 || j === 7 ? c === MINUS : j === 10 ? c === UPPER_T : j === 13 || j === 16 ? c === COLON : isDigit(c);
    }
    if (ok && to - from > 20) {
      ok = xml.charCodeAt(from + 19) === DOT && to - from > 21;
      for (let j = from + 20; ok && j < to - 1; j++) ok = isDigit(xml.charCodeAt(j));
    }
    const time = ok ? Date.parse(xml.slice(from, to)) : Number.NaN;
    if (Number.isNaN(time)) {
      this.fail(`<date> holds ${quote(xml.slice(from, Math.min(to, from + 41)))}, not a date like 2024-01-31T12:00:00Z`, at);
    }
    return new Date(time);
  }

  /**
   * base64 as `atob` reads it (the library used atob): whitespace anywhere, the standard
   * alphabet, `=` padding optional but only at the end, leftover bits ignored.
   */
  private data(empty: boolean, at: number): Uint8Array {
    if (empty) return new Uint8Array(0);
    this.leafText(DATA, at);
    const text = this.xml.slice(this.nameFrom, this.nameTo);
    // Native regex passes rather than a charCodeAt loop: ≈ 5× faster on long payloads. Neither
    // pattern can backtrack more than once per character (the classes exclude "=").
    const compact = text.replace(XML_SPACE_RUNS, '');
    if (!BASE64_TEXT.test(compact)) this.invalidBase64(at);
    const padding = compact.endsWith('==') ? 2 : compact.endsWith('=') ? 1 : 0;
    const sextets = compact.length - padding;
    if (sextets % 4 === 1 || (padding > 0 && compact.length % 4 !== 0)) this.invalidBase64(at);
    // Validated above, so Node's decoder reads exactly these sextets. Copied out of Buffer's
    // shared pool into a Uint8Array of its own, as the library returned.
    const decoded = Buffer.from(compact, 'base64');
    const bytes = new Uint8Array(decoded.length);
    bytes.set(decoded);
    return bytes;
  }

  private invalidBase64(at: number): never {
    return this.fail('<data> does not hold valid base64', at);
  }

  /** <true>…</true>: only whitespace may stand between the tags. */
  private nothing(kind: number, at: number): void {
    this.leafText(kind, at);
    const { xml, nameFrom: from, nameTo: to } = this;
    for (let i = from; i < to; i++) if (!isXmlSpace(xml.charCodeAt(i))) this.fail(`<${NAMES[kind]}/> must be empty`, at);
  }

  private notA(kind: number, from: number, to: number, at: number): never {
    const shown = quote(this.xml.slice(from, Math.min(to, from + 41)));
    return this.fail(kind === INTEGER ? `<integer> holds ${shown}, not a decimal integer` : `<real> holds ${shown}, not a finite number`, at);
  }

  // ---- prolog and other markup ------------------------------------------------------------

  /** Every character must be an XML 1.0 `Char`; surrogates only as pairs. */
  private checkCharacters(from: number): void {
    const { xml } = this;
    SUSPECT_CHAR.lastIndex = from;
    for (let match = SUSPECT_CHAR.exec(xml); match !== null; match = SUSPECT_CHAR.exec(xml)) {
      const i = match.index;
      const c = xml.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff) {
        const low = xml.charCodeAt(i + 1);
        if (low >= 0xdc00 && low <= 0xdfff) {
          SUSPECT_CHAR.lastIndex = i + 2;
          continue;
        }
      }
      SUSPECT_CHAR.lastIndex = 0;
      this.fail(`U+${c.toString(16).toUpperCase().padStart(4, '0')} is not a character XML 1.0 allows`, i);
    }
  }

  private xmlDeclaration(): void {
    const at = this.pos;
    this.pos += 5;
    this.attributes(true);
    const names = this.attributeNames.join(' ');
    if (!['version', 'version encoding', 'version standalone', 'version encoding standalone'].includes(names)) {
      this.fail('malformed property list: the XML declaration must be <?xml version="1.0" encoding="UTF-8"?>', at);
    }
    const [version, second, third] = this.attributeValues;
    if (version !== '1.0') this.fail(`the XML declaration names version ${quote(version ?? '')}; only XML 1.0 is accepted`, at);
    const encoding = names.includes('encoding') ? second : undefined;
    if (encoding !== undefined && encoding.toUpperCase() !== 'UTF-8') {
      this.fail(`the XML declaration names encoding ${quote(encoding)}; only UTF-8 is accepted`, at);
    }
    const standalone = names.endsWith('standalone') ? (encoding === undefined ? second : third) : 'no';
    if (standalone !== 'yes' && standalone !== 'no') this.fail('malformed property list: standalone must be "yes" or "no"', at);
  }

  private doctype(): void {
    const { xml } = this;
    const at = this.pos;
    // An internal subset is the only place entities can be declared; refuse it before reading on.
    let quoteChar = 0;
    let end = -1;
    for (let j = at + 9; j < xml.length; j++) {
      const c = xml.charCodeAt(j);
      if (quoteChar !== 0) {
        if (c === quoteChar) quoteChar = 0;
      } else if (c === QUOTE || c === APOS) {
        quoteChar = c;
      } else if (c === 0x5b) {
        if (xml.includes('<!ENTITY', j)) this.fail('entity declarations (<!ENTITY>) are refused: a property list never needs them', at);
        this.fail('DOCTYPE internal subsets are refused: entity and attribute declarations are never processed', at);
      } else if (c === GT) {
        end = j;
        break;
      }
    }
    if (end === -1) this.fail('unterminated DOCTYPE', at);
    // <!DOCTYPE S plist S PUBLIC S "public id" S "system literal" S? >  (the literal is never fetched)
    this.pos = at + 9;
    let publicId: string | undefined;
    let systemId: string | undefined;
    if (this.skipSpace(true) && this.word('plist') && this.skipSpace(true) && this.word('PUBLIC') && this.skipSpace(true)) {
      publicId = this.literal();
      if (publicId !== undefined && this.skipSpace(true)) systemId = this.literal();
    }
    this.skipSpace();
    if (publicId === undefined || systemId === undefined || this.pos !== end || !APPLE_PUBLIC_IDS.has(publicId)) {
      this.fail(`only Apple's DOCTYPE is accepted: ${APPLE_DOCTYPE}`, at);
    }
    this.pos = end + 1;
  }

  private word(w: string): boolean {
    if (!this.xml.startsWith(w, this.pos)) return false;
    this.pos += w.length;
    return true;
  }

  private literal(): string | undefined {
    const { xml } = this;
    const c = xml.charCodeAt(this.pos);
    if (c !== QUOTE && c !== APOS) return undefined;
    const end = xml.indexOf(c === QUOTE ? '"' : "'", this.pos + 1);
    if (end === -1) return undefined;
    const value = xml.slice(this.pos + 1, end);
    this.pos = end + 1;
    return value;
  }

  /** At `<!--`: skips the comment. */
  private comment(): void {
    const { xml } = this;
    const from = this.pos + 4;
    const end = xml.indexOf('-->', from);
    if (end === -1) this.fail('unterminated comment');
    // XML forbids "--" inside a comment (and so a comment ending "--->"); the search cannot run
    // past `end`, which itself starts with "--".
    if (xml.indexOf('--', from) < end) this.fail('malformed property list: "--" is not allowed inside a comment');
    this.pos = end + 3;
  }

  /** At `<?` outside <plist>: skips a processing instruction (never the XML declaration). */
  private processingInstruction(): void {
    const { xml } = this;
    const at = this.pos;
    let i = at + 2;
    if (!isNameStart(xml.charCodeAt(i))) this.fail('malformed processing instruction');
    while (isNameChar(xml.charCodeAt(i))) i++;
    if (i - at === 5 && xml.slice(at + 2, i).toLowerCase() === 'xml') {
      this.fail('the XML declaration must come first in the document');
    }
    if (!isXmlSpace(xml.charCodeAt(i)) && !xml.startsWith('?>', i)) this.fail('malformed processing instruction');
    const end = xml.indexOf('?>', i);
    if (end === -1) this.fail('unterminated processing instruction');
    this.pos = end + 2;
  }

  /** Skips XML whitespace; with `required`, tells whether there was any. */
  private skipSpace(required = false): boolean {
    const { xml } = this;
    const from = this.pos;
    let pos = from;
    while (pos < xml.length && isXmlSpace(xml.charCodeAt(pos))) pos++;
    this.pos = pos;
    return !required || pos > from;
  }

  private fail(message: string, at: number = this.pos): never {
    const { xml } = this;
    const offset = Math.min(Math.max(at, 0), xml.length);
    let line = 1;
    let lineStart = 0;
    for (let j = xml.indexOf('\n'); j !== -1 && j < offset; j = xml.indexOf('\n', j + 1)) {
      line += 1;
      lineStart = j + 1;
    }
    throw new PlistError(`${message} (line ${line}) at column ${offset - lineStart + 1}`);
  }
}
