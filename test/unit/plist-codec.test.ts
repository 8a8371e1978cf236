import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { decodePlist, encodePlist, PlistError } from '../../src/plist/plist-codec.ts';
import type { DecodePlistOptions } from '../../src/plist/plist-codec.ts';

const HEADER =
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n';

function doc(body: string): string {
  return `${HEADER}<plist version="1.0">${body}</plist>\n`;
}

/** Runs decodePlist and returns the PlistError it must throw (fails the test on anything else). */
function refusal(input: Buffer | string, opts?: DecodePlistOptions): PlistError {
  try {
    decodePlist(input, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(PlistError);
    return err as PlistError;
  }
  throw new Error('decodePlist accepted the input');
}

describe('decodePlist: what the plist library returns for each type', () => {
  const value = decodePlist(
    doc(`<dict>
      <key>real</key><real>30</real>
      <key>fraction</key><real>-1.5e3</real>
      <key>integer</key><integer>-42</integer>
      <key>data</key><data>
        AAEC
        /w==
      </data>
      <key>date</key><date>2024-01-31T12:34:56Z</date>
      <key>string</key><string>a &amp; b &lt;c&gt; <![CDATA[<raw>]]></string>
      <key>yes</key><true/>
      <key>no</key><false/>
      <key>empty</key><string/>
      <key>list</key><array><integer>1</integer><dict/></array>
    </dict>`),
  ) as Record<string, unknown>;

  it('reads <real>30</real> as the number 30', () => {
    expect(value.real).toBe(30);
    expect(value.fraction).toBe(-1500);
  });

  it('reads <integer> as a number', () => {
    expect(value.integer).toBe(-42);
  });

  it('reads <data> as a Uint8Array (not a Buffer), whitespace in the base64 ignored', () => {
    expect(value.data).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(value.data)).toBe(false);
    expect([...(value.data as Uint8Array)]).toEqual([0, 1, 2, 255]);
  });

  it('reads <date> as a Date', () => {
    expect(value.date).toBeInstanceOf(Date);
    expect((value.date as Date).toISOString()).toBe('2024-01-31T12:34:56.000Z');
  });

  it('decodes entities and CDATA in strings, booleans, empty and nested containers', () => {
    expect(value.string).toBe('a & b <c> <raw>');
    expect(value.yes).toBe(true);
    expect(value.no).toBe(false);
    expect(value.empty).toBe('');
    expect(value.list).toEqual([1, {}]);
  });

  it('accepts a Buffer with a UTF-8 BOM and leading whitespace', () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`\n  ${doc('<string>héllo</string>')}`)]);
    expect(decodePlist(bytes)).toBe('héllo');
  });
});

describe('decodePlist: the seed example profile', () => {
  it('decodes maxPINAgeInDays 30 and pinHistory 2 as numbers', () => {
    const profile = decodePlist(readFileSync(new URL('../fixtures/seed-002-passcode.mobileconfig', import.meta.url))) as {
      PayloadType: string;
      PayloadContent: Record<string, unknown>[];
    };
    expect(profile.PayloadType).toBe('Configuration');
    const payload = profile.PayloadContent[0];
    expect(payload).toMatchObject({
      PayloadType: 'com.apple.mobiledevice.passwordpolicy',
      maxPINAgeInDays: 30,
      pinHistory: 2,
      maxFailedAttempts: 5,
      minLength: 8,
      allowSimple: true,
      requireAlphanumeric: false,
    });
    expect(typeof payload?.maxPINAgeInDays).toBe('number');
    expect(typeof payload?.pinHistory).toBe('number');
  });
});

describe('decodePlist: refusals', () => {
  it('refuses input over maxBytes, for strings and Buffers, default 2 MiB', () => {
    const small = doc('<string>0123456789</string>');
    expect(refusal(small, { maxBytes: 50 }).message).toMatch(/larger than the 50-byte limit/);
    expect(refusal(Buffer.from(small), { maxBytes: 50 }).message).toMatch(/larger than the 50-byte limit/);
    const big = doc(`<string>${'x'.repeat(2 * 1024 * 1024)}</string>`);
    expect(refusal(big).message).toMatch(/larger than the 2097152-byte limit/);
    expect(decodePlist(big, { maxBytes: 3 * 1024 * 1024 })).toHaveLength(2 * 1024 * 1024);
  });

  it('counts bytes, not UTF-16 code units, for string input', () => {
    const text = doc(`<string>${'é'.repeat(40)}</string>`);
    const limit = text.length + 10; // fits as code units, not as UTF-8 bytes
    expect(refusal(text, { maxBytes: limit }).message).toMatch(/byte limit/);
  });

  it('refuses a billion-laughs document without expanding anything', () => {
    const laughs =
      '<?xml version="1.0"?>\n<!DOCTYPE plist [\n' +
      '<!ENTITY lol "lol">\n' +
      Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`).join('\n') +
      '\n]>\n<plist version="1.0"><string>&lol9;</string></plist>';
    const started = performance.now();
    expect(refusal(laughs).message).toMatch(/entity declarations \(<!ENTITY>\) are refused/);
    expect(performance.now() - started).toBeLessThan(200);
  });

  it('refuses an external entity (XXE)', () => {
    const xxe = '<?xml version="1.0"?>\n<!DOCTYPE plist [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<plist><string>&xxe;</string></plist>';
    expect(refusal(xxe).message).toMatch(/<!ENTITY>/);
  });

  it('refuses any DOCTYPE internal subset, even without entities', () => {
    const subset = '<!DOCTYPE plist [ <!ATTLIST plist version CDATA "1.0"> ]><plist><true/></plist>';
    expect(refusal(subset).message).toMatch(/DOCTYPE internal subsets are refused/);
  });

  it('refuses a reference to an undeclared entity instead of keeping it as text', () => {
    expect(refusal(doc('<string>&xxe;</string>')).message).toMatch(/malformed property list: entity not found/);
  });

  it('refuses binary plists with a plutil hint, as bytes and as text', () => {
    const bplist = Buffer.concat([Buffer.from('bplist00'), Buffer.from([0xd1, 0x01, 0x02, 0x51, 0x61])]);
    expect(refusal(bplist).message).toMatch(/binary property lists.*plutil -convert xml1/);
    expect(refusal('bplist00\u00d1').message).toMatch(/plutil -convert xml1/);
  });

  it('refuses empty and blank input', () => {
    for (const input of ['', '   \n\t', Buffer.alloc(0), Buffer.from('\ufeff')]) {
      expect(refusal(input).message).toMatch(/^empty input/);
    }
  });

  it('refuses documents that are not a <plist>', () => {
    expect(refusal('<?xml version="1.0"?><html><body/></html>').message).toMatch(/the root element is <html>, not <plist>/);
    expect(refusal('hello').message).toMatch(/not an XML property list/);
    expect(refusal('{ "a": 1 }').message).toMatch(/not an XML property list/);
    // The library alone would hand this to its OpenStep parser.
    expect(refusal('{ a = 1; }').message).toMatch(/not an XML property list/);
    expect(refusal('<?xml version="1.0"?>').message).toMatch(/no <plist> element/);
  });

  it('refuses a <plist> whose root is not exactly one value', () => {
    expect(refusal(doc('')).message).toMatch(/<plist> must hold exactly one value, and it is empty/);
    expect(refusal('<plist/>').message).toMatch(/must hold exactly one value/);
    expect(refusal(doc('<string>a</string><string>b</string>')).message).toMatch(/found a second element/);
    expect(refusal(doc('<key>a</key>')).message).toMatch(/unexpected <key> as the root value/);
    expect(refusal(doc('text')).message).toMatch(/unexpected text inside <plist>/);
    expect(refusal(doc('<null/>')).message).toMatch(/<null> is not a property-list value/);
  });

  it('refuses malformed XML with a PlistError and a line number', () => {
    expect(refusal(`${HEADER}<plist>\n<dict>\n<key>a</key>`).message).toMatch(/<dict> is not closed \(line 4\)/);
    expect(refusal(doc('<string>a</integer>')).message).toMatch(/<\/integer> does not close <string>/);
    expect(refusal(`${doc('<true/>')}junk`).message).toMatch(/unexpected content after <\/plist>/);
    expect(refusal(doc('<string>a</string')).message).toMatch(/malformed closing tag/);
    expect(refusal('<plist><string>a</string').message).toMatch(/unterminated tag/);
    expect(refusal('<plist version=1.0><true/></plist>').message).toMatch(/malformed property list/);
    expect(refusal(doc('<!-- open comment')).message).toMatch(/unterminated comment/);
    expect(refusal(doc('<<>>')).message).toMatch(/malformed tag/);
  });

  it('refuses what the library would silently misread', () => {
    expect(refusal(doc('<dict><key>a</key></dict>')).message).toMatch(/<key> that has no value/);
    expect(refusal(doc('<dict><string>a</string><string>b</string></dict>')).message).toMatch(/<dict> expects a <key>/);
    expect(refusal(doc('<integer>12abc</integer>')).message).toMatch(/"12abc", not a decimal integer/);
    expect(refusal(doc('<integer>0x10</integer>')).message).toMatch(/not a decimal integer/);
    expect(refusal(doc('<integer>9007199254740993</integer>')).message).toMatch(/would lose precision/);
    expect(refusal(doc('<real>abc</real>')).message).toMatch(/not a finite number/);
    expect(refusal(doc('<real>1e999</real>')).message).toMatch(/not a finite number/);
    expect(refusal(doc('<date>yesterday</date>')).message).toMatch(/not a date like/);
    expect(refusal(doc('<date>2024-13-45T00:00:00Z</date>')).message).toMatch(/not a date like/);
    expect(refusal(doc('<data>!!!</data>')).message).toMatch(/<data> does not hold valid base64/);
    expect(refusal(doc('<dict><key>a<!--x-->b</key><true/></dict>')).message).toMatch(/comments are not accepted inside <key>/);
    expect(refusal(doc('<integer><![CDATA[5]]></integer>')).message).toMatch(/CDATA sections are only accepted inside <string>/);
    expect(refusal(doc('<string a="1">x</string>')).message).toMatch(/<string> does not take attributes/);
    expect(refusal(doc('<true>yes</true>')).message).toMatch(/<true\/> must be empty/);
    expect(refusal(doc('<dict><key>__proto__</key><true/></dict>')).message).toMatch(/__proto__/);
  });

  it('refuses nesting deeper than maxDepth before the recursive parser sees it', () => {
    const nested = (depth: number): string => doc(`${'<array>'.repeat(depth)}${'</array>'.repeat(depth)}`);
    expect(decodePlist(nested(10), { maxDepth: 11 })).toEqual([[[[[[[[[[]]]]]]]]]]);
    expect(refusal(nested(10), { maxDepth: 10 }).message).toMatch(/nested deeper than 10 levels/);
    expect(refusal(nested(100_000)).message).toMatch(/nested deeper than 64 levels/);
  });

  it('refuses invalid UTF-8 and UTF-16 input', () => {
    expect(refusal(Buffer.concat([Buffer.from(doc('<string>')), Buffer.from([0xc3, 0x28]), Buffer.from('</string></plist>')])).message).toMatch(
      /not valid UTF-8/,
    );
    expect(refusal(Buffer.from(`\ufeff${doc('<true/>')}`, 'utf16le')).message).toMatch(/UTF-16/);
  });

  it('keeps hostile input out of the logs and restores console.error', () => {
    const original = console.error;
    const spy = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      refusal(doc('<string>&evil;</string>'));
      refusal(`${doc('<true/>')}<extra/>`);
      expect(spy).not.toHaveBeenCalled();
      expect(console.error).toBe(spy);
    } finally {
      spy.mockRestore();
    }
    expect(console.error).toBe(original);
  });
});

describe('decodePlist: hostile input only ever throws PlistError', () => {
  const onlyPlistErrors = (input: Buffer | string): void => {
    try {
      decodePlist(input);
    } catch (err) {
      if (!(err instanceof PlistError)) throw err;
    }
  };

  it('random strings and bytes', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => onlyPlistErrors(s)), { numRuns: 500 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => onlyPlistErrors(Buffer.from(b))), { numRuns: 500 });
  });

  it('random markup soup', () => {
    const token = fc.constantFrom(
      '<plist>', '</plist>', '<dict>', '</dict>', '<key>', '</key>', '<array>', '</array>', '<string>', '</string>',
      '<integer>', '</integer>', '<real>', '</real>', '<data>', '</data>', '<date>', '</date>', '<true/>', '<false/>',
      '<!--', '-->', '<![CDATA[', ']]>', '<?xml version="1.0"?>', '<!DOCTYPE plist>', '&amp;', '&lt;', '&#0;', '&#x110000;',
      '&foo;', '"', "'", '<', '>', '/', '=', 'a', '1', '-', '.', 'e', ' ', '\n', 'AA==', '2024-01-01T00:00:00Z', '__proto__',
    );
    fc.assert(fc.property(fc.array(token, { maxLength: 60 }), (tokens) => onlyPlistErrors(tokens.join(''))), { numRuns: 2000 });
  });

  it('random edits of a valid profile', () => {
    const base = readFileSync(new URL('../fixtures/seed-002-passcode.mobileconfig', import.meta.url), 'utf8');
    const edit = fc.record({
      at: fc.nat({ max: base.length }),
      remove: fc.nat({ max: 12 }),
      insert: fc.string({ maxLength: 6, unit: fc.constantFrom('<', '>', '/', '&', ';', '!', '[', ']', '"', 'x', '1', ' ') }),
    });
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        let text = base;
        for (const { at, remove, insert } of edits) text = text.slice(0, at) + insert + text.slice(at + remove);
        onlyPlistErrors(text);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('encodePlist', () => {
  it("writes Apple's XML declaration and DOCTYPE and the value types", () => {
    const xml = encodePlist({
      count: 30,
      ratio: 1.5,
      bytes: Buffer.from([1, 2, 3]),
      raw: new Uint8Array([255]),
      when: new Date('2024-01-31T12:34:56.789Z'),
      on: true,
      off: false,
      name: 'a < b & c',
      skipped: undefined,
    });
    expect(xml.startsWith(HEADER)).toBe(true);
    expect(xml).toContain('<plist version="1.0">');
    expect(xml).toContain('<integer>30</integer>');
    expect(xml).toContain('<real>1.5</real>');
    expect(xml).toContain('<data>AQID</data>');
    expect(xml).toContain('<data>/w==</data>');
    expect(xml).toContain('<date>2024-01-31T12:34:56Z</date>');
    expect(xml).toContain('<true/>');
    expect(xml).toContain('<false/>');
    expect(xml).toContain('<string>a &lt; b &amp; c</string>');
    expect(xml).not.toContain('skipped');
    expect(xml.endsWith('</plist>\n')).toBe(true);
  });

  it('round-trips through decodePlist', () => {
    const value = {
      PayloadContent: [{ minLength: 8, maxPINAgeInDays: 30, ratio: 0.25, note: 'line1\r\nline2\ttab ]]> ü 😀' }],
      PayloadVersion: 1,
      Blob: new Uint8Array([0, 1, 2, 253, 254, 255]),
      Stamp: new Date('2030-06-01T00:00:00Z'),
      Empty: {},
      None: [],
      '': 'empty key',
    };
    expect(decodePlist(encodePlist(value))).toEqual(value);
    expect(decodePlist(encodePlist('just a string'))).toBe('just a string');
  });

  it('keeps U+0085, U+2028, U+2029 and U+FFFD, which xmldom alone would turn into "\\n" or refuse', () => {
    const odd = 'a\u0085b\u2028c\u2029d\uFFFDe';
    const xml = encodePlist({ [odd]: odd });
    expect(xml).toContain('a&#x85;b&#x2028;c&#x2029;d');
    expect(decodePlist(xml)).toEqual({ [odd]: odd });
    // Written raw by another tool, in text and in CDATA.
    expect(decodePlist(doc(`<array><string>${odd}</string><string><![CDATA[<${odd}&>]]></string></array>`))).toEqual([odd, `<${odd}&>`]);
  });

  it('round-trips arbitrary property-list values', () => {
    const xmlSafe = (s: string): boolean => !/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u.test(s);
    const text = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 20 })).filter(xmlSafe);
    const key = text.filter((k) => k !== '__proto__');
    const number = fc.oneof(
      fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
      fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Number.isInteger(n) || Number.isSafeInteger(n)).map((n) => (Object.is(n, -0) ? 0 : n)),
    );
    const date = fc
      .date({ min: new Date('0100-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true })
      .map((d) => new Date(Math.floor(d.getTime() / 1000) * 1000));
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        text,
        number,
        fc.boolean(),
        date,
        fc.uint8Array({ maxLength: 16 }),
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(key, tie('value'), { maxKeys: 4 }),
      ),
    }));
    fc.assert(fc.property(value, (v) => {
      expect(decodePlist(encodePlist(v))).toEqual(v);
    }), { numRuns: 300 });
  });

  it('refuses what a property list cannot say, naming where', () => {
    const refuses = (value: unknown, message: RegExp): void => {
      expect(() => encodePlist(value)).toThrow(PlistError);
      expect(() => encodePlist(value)).toThrow(message);
    };
    refuses({ a: null }, /\$\.a is null/);
    refuses({ a: [1, undefined] }, /\$\.a\[1\] is undefined/);
    refuses(undefined, /\$ is undefined/);
    refuses({ n: Number.NaN }, /\$\.n is NaN/);
    refuses({ n: Infinity }, /finite/);
    refuses({ n: 2 ** 60 }, /beyond ±\(2\^53-1\)/);
    refuses({ n: 10n }, /a bigint/);
    refuses({ f: () => 1 }, /a function/);
    refuses({ d: new Date(Number.NaN) }, /\$\.d is a Date that cannot be written/);
    refuses({ m: new Map() }, /\$\.m is a Map, not a plain object/);
    refuses({ t: new Uint16Array(2) }, /only Uint8Array or Buffer/);
    refuses({ s: 'nul\u0000' }, /\$\.s contains a character XML cannot carry/);
    refuses({ s: 'lone \uD800 surrogate' }, /character XML cannot carry/);
    refuses({ 'bad\u0001key': 1 }, /the key contains a character/);
    refuses(JSON.parse('{"__proto__": 1}'), /"__proto__" is not accepted/);
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    refuses(loop, /\$\.self refers back to itself/);
  });

  it('accepts the same object twice when it is not a cycle', () => {
    const shared = { a: 1 };
    expect(decodePlist(encodePlist({ x: shared, y: [shared] }))).toEqual({ x: { a: 1 }, y: [{ a: 1 }] });
  });
});
