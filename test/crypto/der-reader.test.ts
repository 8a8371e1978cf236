import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DerCursor, DerError, encodeLength, oidKey, oidKeyOf, readSmallUnsigned, readTlv, Tag } from '../../src/crypto/der-reader.ts';

const BER = { allowIndefinite: true, maxDepth: 8 };
const DER = { allowIndefinite: false, maxDepth: 8 };
const hex = (text: string): Buffer => Buffer.from(text.replace(/\s/g, ''), 'hex');

describe('readTlv', () => {
  it('reads short and long definite lengths', () => {
    expect(readTlv(hex('0403 616263'), 0, 5, DER)).toMatchObject({ tag: 0x04, start: 2, end: 5, next: 5, indefinite: false });
    const long = Buffer.concat([hex('04820100'), Buffer.alloc(256)]);
    expect(readTlv(long, 0, long.length, DER)).toMatchObject({ start: 4, end: 260 });
  });

  it('finds the end of nested indefinite lengths, and refuses them when not allowed', () => {
    const nested = hex('3080 a080 0201 05 0000 0400 0000');
    expect(readTlv(nested, 0, nested.length, BER)).toMatchObject({ start: 2, end: 11, next: 13, indefinite: true });
    expect(() => readTlv(nested, 0, nested.length, DER)).toThrow(DerError);
  });

  it('refuses what DER and BER forbid or what would read out of bounds', () => {
    const refused = ['04', '0405 6162', '0480 0000', '1f01 00', '0000', '3080 0201 05', '3080 0001', '0485 0000000001 00', '3084 ffffffff'];
    for (const input of refused) expect(() => readTlv(hex(input), 0, hex(input).length, BER), input).toThrow(DerError);
  });

  it('bounds nesting depth', () => {
    const deep = Buffer.concat([hex('3080'.repeat(20)), Buffer.alloc(40)]);
    expect(() => readTlv(deep, 0, deep.length, BER)).toThrow(/nesting deeper/);
  });

  it('never throws anything but DerError and never reports an element outside the input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const buf = Buffer.from(bytes);
        try {
          const tlv = readTlv(buf, 0, buf.length, BER);
          expect(tlv.start).toBeLessThanOrEqual(tlv.end);
          expect(tlv.next).toBeLessThanOrEqual(buf.length);
        } catch (err) {
          expect(err).toBeInstanceOf(DerError);
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('DerCursor and value readers', () => {
  it('walks a SEQUENCE with optional fields and refuses trailing data', () => {
    const buf = hex('3008 0201 01 a003 0201 02');
    const outer = new DerCursor(buf, 0, buf.length, DER);
    const inner = outer.enter(outer.expect(Tag.SEQUENCE, 'seq'));
    expect(readSmallUnsigned(buf, inner.read('version'), 'version')).toBe(1);
    expect(inner.optional(Tag.context(1), 'absent')).toBeUndefined();
    expect(inner.optional(Tag.context(0), 'present')).toBeDefined();
    inner.finish('seq');
    const trailing = Buffer.concat([buf, hex('00')]);
    const cursor = new DerCursor(trailing, 0, trailing.length, DER);
    cursor.read('seq');
    expect(() => cursor.finish('seq')).toThrow(/unexpected data/);
  });

  it('reads small integers strictly', () => {
    const int = (text: string): number => {
      const buf = hex(text);
      return readSmallUnsigned(buf, readTlv(buf, 0, buf.length, DER), 'n');
    };
    expect(int('0201 7f')).toBe(127);
    expect(int('0202 0080')).toBe(128);
    expect(() => int('0201 80')).toThrow(/negative/);
    expect(() => int('0202 0001')).toThrow(/non-minimal/);
    expect(() => int('0205 0100000000')).toThrow(DerError);
  });

  it('encodes OIDs for table lookup and refuses malformed ones', () => {
    const sha256 = hex('0609 608648016503040201');
    expect(oidKey(sha256, readTlv(sha256, 0, sha256.length, DER), 'oid')).toBe(oidKeyOf('2.16.840.1.101.3.4.2.1'));
    for (const bad of ['0602 8001', '0601 81', '0600']) {
      const buf = hex(bad);
      expect(() => oidKey(buf, readTlv(buf, 0, buf.length, DER), 'oid')).toThrow(DerError);
    }
  });

  it('encodes DER lengths minimally', () => {
    expect(encodeLength(5).toString('hex')).toBe('05');
    expect(encodeLength(128).toString('hex')).toBe('8180');
    expect(encodeLength(300).toString('hex')).toBe('82012c');
  });
});
