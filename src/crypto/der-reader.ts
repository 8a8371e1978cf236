// A small, strict, bounded reader of DER (and the one piece of BER that CMS producers use:
// indefinite lengths on constructed values). It exists for the Mdm-Signature hot path, where
// PKI.js spends ≈2.5 ms per parse (DESIGN.md, performance notes); this reader builds no
// object tree, copies nothing and only ever reads headers on the way to the fields it needs.
//
// Guarantees, whatever the input: no read outside [offset, limit); every element lies inside
// its parent; nesting deeper than maxDepth is refused (indefinite lengths are the only
// recursion, and it is bounded by that depth); every refusal is a DerError.
//
// Accepted: single-byte identifiers (tag numbers 0–30, the only ones CMS and X.509 use),
// short and long definite lengths of up to 4 length octets (including BER's non-minimal long
// form, which some encoders emit and which cannot hide anything: every signature we check is
// over bytes we re-encode or hash exactly as received), and, when allowed, indefinite lengths
// on constructed values terminated by an end-of-contents marker.

export class DerError extends Error {
  override readonly name = 'DerError';
}

/** Identifier octets used by CMS and X.509. */
export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  SEQUENCE: 0x30,
  SET: 0x31,
  /** [n] IMPLICIT/EXPLICIT, constructed. */
  context: (n: number): number => 0xa0 | n,
  /** [n] IMPLICIT, primitive. */
  contextPrimitive: (n: number): number => 0x80 | n,
} as const;

export interface Tlv {
  /** The identifier octet: class, constructed bit and tag number. */
  tag: number;
  /** Offset of the identifier octet. */
  offset: number;
  /** First content octet. */
  start: number;
  /** One past the last content octet (for an indefinite length, where its end-of-contents marker starts). */
  end: number;
  /** One past the whole element, end-of-contents marker included. */
  next: number;
  indefinite: boolean;
}

export interface DerReadOptions {
  /** Accept BER indefinite lengths on constructed values. */
  allowIndefinite: boolean;
  /** Deepest nesting accepted below the starting element (which is depth 0). */
  maxDepth: number;
}

const CONSTRUCTED = 0x20;
const MAX_LENGTH_OCTETS = 4;

/** Read one element header (and, for an indefinite length, find its end) at `offset`. */
export function readTlv(buf: Uint8Array, offset: number, limit: number, options: DerReadOptions, depth = 0): Tlv {
  if (depth > options.maxDepth) throw new DerError(`nesting deeper than ${options.maxDepth}`);
  if (limit > buf.length) throw new DerError('limit past the end of the buffer');
  if (offset + 2 > limit) throw new DerError(`truncated element at ${offset}`);
  const tag = buf[offset] as number;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tag at ${offset}`);
  if (tag === 0x00) throw new DerError(`unexpected end-of-contents at ${offset}`);
  const first = buf[offset + 1] as number;
  let start = offset + 2;
  if (first < 0x80) return definite(tag, offset, start, first, limit);
  if (first === 0x80) {
    if ((tag & CONSTRUCTED) === 0) throw new DerError(`indefinite length on a primitive value at ${offset}`);
    if (!options.allowIndefinite) throw new DerError(`indefinite length at ${offset}`);
    return indefinite(buf, tag, offset, start, limit, options, depth);
  }
  const count = first & 0x7f;
  if (count > MAX_LENGTH_OCTETS) throw new DerError(`length of ${count} octets at ${offset}`);
  if (start + count > limit) throw new DerError(`truncated length at ${offset}`);
  let length = 0;
  for (let i = 0; i < count; i++) length = length * 256 + (buf[start + i] as number);
  start += count;
  return definite(tag, offset, start, length, limit);
}

function definite(tag: number, offset: number, start: number, length: number, limit: number): Tlv {
  const end = start + length;
  if (end > limit) throw new DerError(`element at ${offset} runs past its container`);
  return { tag, offset, start, end, next: end, indefinite: false };
}

function indefinite(buf: Uint8Array, tag: number, offset: number, start: number, limit: number, options: DerReadOptions, depth: number): Tlv {
  let position = start;
  for (;;) {
    if (position + 2 > limit) throw new DerError(`missing end-of-contents for the element at ${offset}`);
    if (buf[position] === 0x00) {
      if (buf[position + 1] !== 0x00) throw new DerError(`malformed end-of-contents at ${position}`);
      return { tag, offset, start, end: position, next: position + 2, indefinite: true };
    }
    position = readTlv(buf, position, limit, options, depth + 1).next;
  }
}

/**
 * Walks the elements inside one constructed element (or a whole buffer) in order. Each
 * `read` costs one header parse; nothing is decoded until asked for.
 */
export class DerCursor {
  private position: number;

  constructor(
    readonly buf: Uint8Array,
    start: number,
    private readonly limit: number,
    private readonly options: DerReadOptions,
    private readonly depth = 0,
  ) {
    this.position = start;
  }

  /** A cursor over the content of `tlv`, one level deeper. */
  static inside(buf: Uint8Array, tlv: Tlv, options: DerReadOptions, depth: number): DerCursor {
    if ((tlv.tag & CONSTRUCTED) === 0) throw new DerError(`expected a constructed value at ${tlv.offset}`);
    if (depth > options.maxDepth) throw new DerError(`nesting deeper than ${options.maxDepth}`);
    return new DerCursor(buf, tlv.start, tlv.end, options, depth);
  }

  get done(): boolean {
    return this.position >= this.limit;
  }

  /** The next element's identifier octet, or undefined at the end. */
  peekTag(): number | undefined {
    return this.done ? undefined : this.buf[this.position];
  }

  read(what: string): Tlv {
    if (this.done) throw new DerError(`missing ${what}`);
    const tlv = readTlv(this.buf, this.position, this.limit, this.options, this.depth);
    this.position = tlv.next;
    return tlv;
  }

  expect(tag: number, what: string): Tlv {
    const tlv = this.read(what);
    if (tlv.tag !== tag) throw new DerError(`${what}: expected tag 0x${hex2(tag)}, found 0x${hex2(tlv.tag)} at ${tlv.offset}`);
    return tlv;
  }

  /** Read the next element only if it carries `tag`. */
  optional(tag: number, what: string): Tlv | undefined {
    return this.peekTag() === tag ? this.read(what) : undefined;
  }

  /** An optional NULL (absent AlgorithmIdentifier parameters): when present, it must be empty. */
  optionalNull(what: string): void {
    const tlv = this.optional(0x05, what);
    if (tlv && tlv.end !== tlv.start) throw new DerError(`${what}: NULL with content at ${tlv.offset}`);
  }

  /** A cursor one level down, inside `tlv`. */
  enter(tlv: Tlv): DerCursor {
    return DerCursor.inside(this.buf, tlv, this.options, this.depth + 1);
  }

  /** Refuse anything left over: DER structures carry no trailing garbage. */
  finish(what: string): void {
    if (!this.done) throw new DerError(`unexpected data after ${what} at ${this.position}`);
  }
}

/** A non-negative INTEGER that fits in 31 bits (versions, counts); minimal encoding required. */
export function readSmallUnsigned(buf: Uint8Array, tlv: Tlv, what: string): number {
  if (tlv.tag !== Tag.INTEGER) throw new DerError(`${what}: expected an INTEGER`);
  const length = tlv.end - tlv.start;
  if (length < 1 || length > 4) throw new DerError(`${what}: INTEGER of ${length} octets`);
  const first = buf[tlv.start] as number;
  if (first & 0x80) throw new DerError(`${what}: negative INTEGER`);
  if (length > 1 && first === 0 && ((buf[tlv.start + 1] as number) & 0x80) === 0) throw new DerError(`${what}: non-minimal INTEGER`);
  let value = 0;
  for (let i = tlv.start; i < tlv.end; i++) value = value * 256 + (buf[i] as number);
  if (value > 0x7fffffff) throw new DerError(`${what}: INTEGER too large`);
  return value;
}

/** The content octets of a primitive element (no copy). */
export function contentOf(buf: Uint8Array, tlv: Tlv): Uint8Array {
  return buf.subarray(tlv.start, tlv.end);
}

/** The whole encoding of an element, header included (no copy). */
export function encodingOf(buf: Uint8Array, tlv: Tlv): Uint8Array {
  return buf.subarray(tlv.offset, tlv.next);
}

/** OID content octets as a hex key, for lookups in a table of known algorithms. */
export function oidKey(buf: Uint8Array, tlv: Tlv, what: string): string {
  if (tlv.tag !== Tag.OID) throw new DerError(`${what}: expected an OBJECT IDENTIFIER`);
  const length = tlv.end - tlv.start;
  if (length < 1 || length > 32) throw new DerError(`${what}: OBJECT IDENTIFIER of ${length} octets`);
  // Each arc is base-128, most significant group first, without a leading 0x80 (X.690 8.19.2).
  let arcStart = true;
  for (let i = tlv.start; i < tlv.end; i++) {
    const octet = buf[i] as number;
    if (arcStart && octet === 0x80) throw new DerError(`${what}: non-minimal OBJECT IDENTIFIER arc`);
    arcStart = (octet & 0x80) === 0;
  }
  if (!arcStart) throw new DerError(`${what}: truncated OBJECT IDENTIFIER`);
  return Buffer.from(buf.buffer, buf.byteOffset + tlv.start, length).toString('hex');
}

/** The hex key of a dotted OID, computed once at module load for the lookup tables. */
export function oidKeyOf(dotted: string): string {
  const arcs = dotted.split('.').map((arc) => Number(arc));
  const [a = 0, b = 0, ...rest] = arcs;
  const octets: number[] = [];
  for (const arc of [a * 40 + b, ...rest]) {
    const chunk = [arc & 0x7f];
    for (let value = Math.floor(arc / 128); value > 0; value = Math.floor(value / 128)) chunk.unshift((value & 0x7f) | 0x80);
    octets.push(...chunk);
  }
  return Buffer.from(octets).toString('hex');
}

/** DER length octets for `length`. */
export function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const octets: number[] = [];
  for (let value = length; value > 0; value = Math.floor(value / 256)) octets.unshift(value & 0xff);
  return Buffer.from([0x80 | octets.length, ...octets]);
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
