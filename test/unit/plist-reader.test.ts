import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { build, parse } from 'plist';
import type { PlistValue } from 'plist';
import { encodePlist, PlistError } from '../../src/plist/plist-codec.ts';
import { readPlist, STRICTER_THAN_THE_LIBRARY } from '../../src/plist/plist-reader.ts';
import type { PlistReaderOptions } from '../../src/plist/plist-reader.ts';

const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';
const APPLE_DOCTYPE = '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n';
const HEADER = DECLARATION + APPLE_DOCTYPE;

function doc(body: string): string {
  return `${HEADER}<plist version="1.0">${body}</plist>\n`;
}

/** The PlistError readPlist must throw (fails the test on acceptance or any other exception). */
function refusal(xml: string, opts?: PlistReaderOptions): PlistError {
  try {
    readPlist(xml, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(PlistError);
    return err as PlistError;
  }
  throw new Error(`readPlist accepted ${JSON.stringify(xml.slice(0, 200))}`);
}

type Outcome = { ok: true; value: unknown } | { ok: false; message: string };

/**
 * The previous decode path without its pre-pass: plist.parse over xmldom, the text trimmed as
 * decodePlist trimmed it, and every xmldom error report (not warning) counted as a refusal.
 */
function oracle(xml: string): Outcome {
  const reports: string[] = [];
  const consoleError = console.error;
  console.error = (...args: unknown[]): void => {
    const first = args[0];
    if (typeof first === 'string' && /^\[xmldom (error|fatalError)\]/.test(first)) reports.push(first);
  };
  try {
    const value = parse((xml.charCodeAt(0) === 0xfeff ? xml.slice(1) : xml).trimStart());
    return reports.length > 0 ? { ok: false, message: reports[0] ?? '' } : { ok: true, value };
  } catch (err) {
    return { ok: false, message: String(err) };
  } finally {
    console.error = consoleError;
  }
}

function ours(xml: string, opts?: PlistReaderOptions): Outcome {
  try {
    return { ok: true, value: readPlist(xml, opts) };
  } catch (err) {
    if (!(err instanceof PlistError)) throw err;
    return { ok: false, message: err.message };
  }
}

/**
 * The differential contract: whatever readPlist accepts the library reads to the same value; whatever
 * it refuses that the library reads is a documented strictness.
 */
function agreesWithOracle(xml: string): void {
  const mine = ours(xml);
  const theirs = oracle(xml);
  if (mine.ok) {
    expect(theirs, `the library refuses what readPlist accepts: ${JSON.stringify(xml)}`).toMatchObject({ ok: true });
    expect(mine.value).toEqual((theirs as { value: unknown }).value);
  } else if (theirs.ok) {
    const documented = STRICTER_THAN_THE_LIBRARY.some((pattern) => pattern.test(mine.message));
    expect(documented, `undocumented strictness: ${mine.message} for ${JSON.stringify(xml.slice(0, 300))}`).toBe(true);
  }
}

function depthOf(value: unknown): number {
  let depth = 0;
  for (let v = value; Array.isArray(v); v = v[0]) depth++;
  return depth;
}

function time(fn: () => void): number {
  const started = performance.now();
  fn();
  return performance.now() - started;
}

// ---- examples ----------------------------------------------------------------------------

describe('readPlist: every element type', () => {
  it('reads a device message as decodePlist documents it', () => {
    const value = readPlist(
      doc(`
      <dict>
        <key>string</key><string>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#65;&#x1F600; <![CDATA[<raw & stuff>]]> tail</string>
        <key>empty</key><string/>
        <key>also empty</key><string></string>
        <key>integer</key><integer>-42</integer>
        <key>padded</key><integer> +7 </integer>
        <key>max</key><integer>9007199254740991</integer>
        <key>min</key><integer>-9007199254740991</integer>
        <key>real</key><real>-1.5e3</real>
        <key>whole real</key><real>30</real>
        <key>forms</key><array><real>.5</real><real>1.</real><real>+2E-2</real><real> 3 </real></array>
        <key>yes</key><true/>
        <key>no</key><false></false>
        <key>date</key><date>2024-01-31T12:34:56Z</date>
        <key>data</key><data>
          AAEC
          /w==
        </data>
        <key>empty data</key><data/>
        <key>nested</key><array><dict/><array/><dict><key>k</key><true/></dict></array>
        <key></key><string>empty key</string>
        <key>constructor</key><integer>1</integer>
      </dict>`),
    ) as Record<string, unknown>;
    expect(value).toEqual({
      string: 'a & b <c> "d" \'e\' A😀 <raw & stuff> tail',
      empty: '',
      'also empty': '',
      integer: -42,
      padded: 7,
      max: Number.MAX_SAFE_INTEGER,
      min: Number.MIN_SAFE_INTEGER,
      real: -1500,
      'whole real': 30,
      forms: [0.5, 1, 0.02, 3],
      yes: true,
      no: false,
      date: new Date('2024-01-31T12:34:56Z'),
      data: new Uint8Array([0, 1, 2, 255]),
      'empty data': new Uint8Array(0),
      nested: [{}, [], { k: true }],
      '': 'empty key',
      constructor: 1,
    });
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).k).toBeUndefined();
  });

  it('returns <data> as a Uint8Array of its own, not a Buffer or a view of a shared pool', () => {
    const bytes = readPlist(doc('<data>AAECAw==</data>')) as Uint8Array;
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(bytes)).toBe(false);
    expect(bytes.byteOffset).toBe(0);
    expect(bytes.buffer.byteLength).toBe(4);
  });

  it('reads base64 as atob did: unpadded, whitespace anywhere, leftover bits ignored', () => {
    expect([...(readPlist(doc('<data>AAE</data>')) as Uint8Array)]).toEqual([0, 1]);
    expect([...(readPlist(doc('<data>A B\r\n\tC=</data>')) as Uint8Array)]).toEqual([0, 16]);
    expect([...(readPlist(doc('<data>AB==</data>')) as Uint8Array)]).toEqual([0]);
    for (const bad of ['A', 'AB=', 'A===', '====', 'AB==AB==', 'AB-_', 'AB\u00a0==', '&#65;A==', 'ABCDE']) {
      expect(refusal(doc(`<data>${bad}</data>`)).message).toMatch(/<data> does not hold valid base64/);
    }
  });

  it('keeps -0, as parseInt and parseFloat did', () => {
    expect(Object.is(readPlist(doc('<integer>-0</integer>')), -0)).toBe(true);
    expect(Object.is(readPlist(doc('<real>-0.0</real>')), -0)).toBe(true);
  });

  it('normalizes raw line ends to LF but keeps references to CR, and keeps U+0085/U+2028 raw', () => {
    expect(readPlist(doc('<string>a\r\nb\rc&#13;&#xD;\n</string>'))).toBe('a\nb\nc\r\r\n');
    expect(readPlist(doc('<string><![CDATA[a\r\nb]]></string>'))).toBe('a\nb');
    expect(readPlist(doc('<dict><key>a\r\nb</key><true/></dict>'))).toEqual({ 'a\nb': true });
    expect(readPlist(doc('<string>x\u0085y\u2028z\u2029</string>'))).toBe('x\u0085y\u2028z\u2029');
  });

  it('lets a later duplicate key win, keeping the first position, as the library did', () => {
    const value = readPlist(doc('<dict><key>a</key><integer>1</integer><key>b</key><integer>2</integer><key>a</key><integer>3</integer></dict>'));
    expect(Object.entries(value as object)).toEqual([['a', 3], ['b', 2]]);
  });

  it('accepts dates as before: fractions, and whatever Date.parse makes of day and hour ranges', () => {
    expect(readPlist(doc('<date>2024-01-01T00:00:00.123456Z</date>'))).toEqual(new Date('2024-01-01T00:00:00.123Z'));
    expect(readPlist(doc('<date>0000-01-01T00:00:00Z</date>'))).toEqual(new Date('0000-01-01T00:00:00Z'));
    for (const bad of ['yesterday', ' 2024-01-01T00:00:00Z', '2024-01-01T00:00:00', '2024-01-01 00:00:00Z', '2024-13-01T00:00:00Z', '2024-01-01T00:00:00.Z', '']) {
      expect(refusal(doc(`<date>${bad}</date>`)).message).toMatch(/not a date like/);
    }
    expect(refusal(doc('<date/>')).message).toMatch(/not a date like/);
  });

  it('accepts the prolog forms Apple and other writers use', () => {
    const body = '<plist version="1.0"><true/></plist>';
    for (const prolog of [
      '',
      HEADER,
      DECLARATION,
      APPLE_DOCTYPE,
      '\ufeff' + HEADER,
      ' \n\t' + HEADER,
      "<?xml version='1.0' encoding='utf-8' standalone='yes' ?>",
      '<?xml version="1.0"?><!-- made by hand --><?editor x?>\n',
      '<!DOCTYPE plist PUBLIC "-//Apple Computer//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
      // The system literal is never fetched, so it does not matter what it says.
      '<!DOCTYPE  plist\n PUBLIC "-//Apple//DTD PLIST 1.0//EN"\n\'file:///etc/passwd\' >',
    ]) {
      expect(readPlist(prolog + body)).toBe(true);
    }
    expect(readPlist(`${HEADER}<plist version="1.0" ><true/></plist>\n<!-- trailing --><?pi x?>\n`)).toBe(true);
    expect(readPlist(`<plist><dict ><key >a</key ><true /></dict ></plist >`)).toEqual({ a: true });
  });

  it('accepts comments where they cannot change a value, CDATA only in <string>', () => {
    expect(readPlist(doc('<!--a--><dict><!--b--><key>k</key><!--c--><string>x<!--d-->y<![CDATA[z]]></string><!--e--></dict><!--f-->'))).toEqual({ k: 'xyz' });
    expect(readPlist(doc('<string><!----></string>'))).toBe('');
    expect(readPlist(doc('<string>]]&gt; is fine escaped</string>'))).toBe(']]> is fine escaped');
  });
});

// ---- refusals ----------------------------------------------------------------------------

describe('readPlist: refusals', () => {
  it('says where: line and column of the offending markup', () => {
    const message = refusal(`${HEADER}<plist>\n  <dict>\n    <key>a</key>\n    <integer>1x</integer>`).message;
    expect(message).toBe('<integer> holds "1x", not a decimal integer (line 6) at column 5');
    expect(refusal(`${HEADER}<plist>\n<dict>\n<key>a</key>`).message).toMatch(/<dict> is not closed \(line 4\) at column 1$/);
  });

  it('refuses malformed XML', () => {
    const cases: [string, RegExp][] = [
      [doc('<string>a & b</string>'), /"&" must start an entity or character reference/],
      [doc('<string>&amp</string>'), /"&" must start an entity/],
      [doc('<string>&xxe;</string>'), /entity not found: "&xxe;"/],
      [doc('<string>&#X41;</string>'), /malformed character reference/],
      [doc('<string>&#65</string>'), /malformed character reference/],
      [doc('<string>&#;</string>'), /malformed character reference/],
      [doc('<string>&#0;</string>'), /"&#0;" is not a character XML 1.0 allows/],
      [doc('<string>&#xD800;</string>'), /is not a character XML 1.0 allows/],
      [doc('<string>&#xFFFE;</string>'), /is not a character XML 1.0 allows/],
      [doc('<string>&#x110000;</string>'), /is not a character XML 1.0 allows/],
      [doc(`<string>&#${'9'.repeat(1000)};</string>`), /is not a character XML 1.0 allows/],
      [doc('<string>a\u0001b</string>'), /U\+0001 is not a character XML 1.0 allows/],
      [doc('<string>a\uFFFFb</string>'), /U\+FFFF is not a character/],
      [doc('<string>a\uD800b</string>'), /U\+D800 is not a character/],
      [doc('<string>a\uDC00b</string>'), /U\+DC00 is not a character/],
      [doc('<string>a]]>b</string>'), /"\]\]>" is not allowed in text/],
      [doc('<!-- a -- b --><true/>'), /"--" is not allowed inside a comment/],
      [doc('<!-- a ---><true/>'), /"--" is not allowed inside a comment/],
      [doc('<!-- open'), /unterminated comment/],
      [doc('<string><![CDATA[open</string>'), /unterminated CDATA section/],
      [doc('<string>a</integer>'), /<\/integer> does not close <string>/],
      [doc('<string>a</string'), /malformed closing tag/],
      [doc('<dict></dict x>'), /malformed closing tag/],
      [doc('<dict></ dict>'), /malformed closing tag/],
      ['<plist><string>a</string', /unterminated tag/],
      ['<plist><string', /unterminated tag/],
      [doc('<<>>'), /malformed tag/],
      [doc('<true/ >'), /malformed tag/],
      [doc('<string"x">a</string>'), /malformed tag/],
      ['<plist version=1.0><true/></plist>', /malformed property list: the value of attribute version is not quoted/],
      ['<plist version><true/></plist>', /attribute version has no value/],
      ['<plist version="1.0"x="1"><true/></plist>', /attributes must be separated by whitespace/],
      ['<plist a="1" a="2"><true/></plist>', /attribute a is repeated/],
      ['<plist a="<"><true/></plist>', /"<" inside an attribute value/],
      ['<plist a="&foo;"><true/></plist>', /entity not found/],
      [doc('<?pi inside?><true/>'), /processing instructions are not accepted inside <plist>/],
      [doc('<!ELEMENT x ANY><true/>'), /unsupported markup declaration/],
      [`${doc('<true/>')}junk`, /unexpected content after <\/plist>/],
      [`${doc('<true/>')}<plist/>`, /unexpected content after <\/plist>/],
      [`${doc('<true/>')}${APPLE_DOCTYPE}`, /DOCTYPE after the root element/],
    ];
    for (const [xml, message] of cases) expect(refusal(xml).message).toMatch(message);
  });

  it('refuses every DOCTYPE but Apple\'s, and any internal subset', () => {
    const body = '<plist><true/></plist>';
    const cases: [string, RegExp][] = [
      ['<!DOCTYPE plist>', /only Apple's DOCTYPE is accepted/],
      ['<!DOCTYPE html>', /only Apple's DOCTYPE/],
      ['<!DOCTYPE plist SYSTEM "http://evil.example/x.dtd">', /only Apple's DOCTYPE/],
      ['<!DOCTYPE plist PUBLIC "-//Evil//DTD PLIST 1.0//EN" "x">', /only Apple's DOCTYPE/],
      ['<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN">', /only Apple's DOCTYPE/],
      ['<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN""x">', /only Apple's DOCTYPE/],
      ['<!DOCTYPE plist [ <!ATTLIST plist version CDATA "1.0"> ]>', /DOCTYPE internal subsets are refused/],
      ['<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "x" [ <!ENTITY a "b"> ]>', /entity declarations \(<!ENTITY>\) are refused/],
      [`${APPLE_DOCTYPE}${APPLE_DOCTYPE}`, /a second DOCTYPE/],
    ];
    for (const [prolog, message] of cases) expect(refusal(prolog + body).message).toMatch(message);
    expect(refusal('<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "x"').message).toMatch(/unterminated DOCTYPE/);
    // A "[" inside a quoted literal is not a subset.
    expect(readPlist('<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "[x]">' + body)).toBe(true);
  });

  it('refuses XML declarations that are misplaced or not XML 1.0 in UTF-8', () => {
    const body = '<plist><true/></plist>';
    expect(refusal(`<!-- x --><?xml version="1.0"?>${body}`).message).toMatch(/XML declaration must come first/);
    expect(refusal(`<?xml version="1.1"?>${body}`).message).toMatch(/only XML 1\.0 is accepted/);
    expect(refusal(`<?xml version="1.0" encoding="ISO-8859-1"?>${body}`).message).toMatch(/only UTF-8 is accepted/);
    expect(refusal(`<?xml encoding="UTF-8" version="1.0"?>${body}`).message).toMatch(/XML declaration must be/);
    expect(refusal(`<?xml version="1.0" foo="bar"?>${body}`).message).toMatch(/XML declaration must be/);
    expect(refusal(`<?xml version="1.0" standalone="maybe"?>${body}`).message).toMatch(/standalone/);
    expect(refusal(`<?xml version="1.0"${body}`).message).toMatch(/unterminated tag|malformed/);
  });

  it('refuses what is not a single-valued <plist>', () => {
    const cases: [string, RegExp][] = [
      ['', /^empty input/],
      ['\ufeff \n', /^empty input/],
      ['bplist00\u00d1', /plutil -convert xml1/],
      ['hello', /not an XML property list/],
      ['{ a = 1; }', /not an XML property list/],
      ['<?xml version="1.0"?>', /no <plist> element/],
      ['<html/>', /the root element is <html>, not <plist>/],
      [`<${'x'.repeat(100_000)}/>`, /the root element is <x{40}…>, not <plist>/],
      [doc(''), /<plist> must hold exactly one value, and it is empty/],
      ['<plist/>', /must hold exactly one value/],
      [doc('<true/><false/>'), /found a second element/],
      [doc('<key>a</key>'), /unexpected <key> as the root value/],
      [doc('text'), /unexpected text inside <plist>/],
      [doc('<array>text</array>'), /unexpected text inside <array>/],
      [doc('<array>&#32;</array>'), /unexpected text inside <array>/],
      [doc('<dict>\u00a0</dict>'), /unexpected text inside <dict>/],
      [doc('<null/>'), /<null> is not a property-list value \(as the root value\)/],
      [doc('<array><plist/></array>'), /<plist> is not a property-list value \(inside <array>\)/],
      [doc('<array><key>a</key></array>'), /unexpected <key> inside <array>/],
      [doc('<TRUE/>'), /<TRUE> is not a property-list value/],
      [doc('<dict><string>a</string></dict>'), /<dict> expects a <key>, found <string>/],
      [doc('<dict><key>a</key><key>b</key></dict>'), /unexpected <key> after a <key>/],
      [doc('<dict><key>a</key><foo/></dict>'), /<foo> is not a property-list value \(after a <key>\)/],
      [doc('<dict><key>a</key></dict>'), /<dict> ends with a <key> that has no value/],
      [doc('<dict><key>__proto__</key><true/></dict>'), /"__proto__" is not accepted as a key/],
      [doc('<string>a<b/>c</string>'), /<string> cannot contain elements \(found <b>\)/],
      [doc('<integer>1<b/></integer>'), /<integer> cannot contain elements/],
    ];
    for (const [xml, message] of cases) expect(refusal(xml).message).toMatch(message);
  });

  it('refuses values the library misread, and markup inside values', () => {
    const cases: [string, RegExp][] = [
      ['<integer>12abc</integer>', /"12abc", not a decimal integer/],
      ['<integer>0x10</integer>', /not a decimal integer/],
      ['<integer>1e3</integer>', /not a decimal integer/],
      ['<integer>1.0</integer>', /not a decimal integer/],
      ['<integer></integer>', /"", not a decimal integer/],
      ['<integer/>', /not a decimal integer/],
      ['<integer>-</integer>', /not a decimal integer/],
      ['<integer>\u00a05</integer>', /not a decimal integer/],
      ['<integer>&#49;</integer>', /not a decimal integer/],
      ['<integer>9007199254740992</integer>', /would lose precision/],
      ['<integer>-9007199254740992</integer>', /would lose precision/],
      [`<integer>${'9'.repeat(5000)}</integer>`, /would lose precision/],
      ['<real>abc</real>', /not a finite number/],
      ['<real>nan</real>', /not a finite number/],
      ['<real>inf</real>', /not a finite number/],
      ['<real>-infinity</real>', /not a finite number/],
      ['<real>1e999</real>', /not a finite number/],
      ['<real>1e</real>', /not a finite number/],
      ['<real>.</real>', /not a finite number/],
      ['<real>1.5x</real>', /not a finite number/],
      ['<real>0x10</real>', /not a finite number/],
      ['<real/>', /not a finite number/],
      ['<true>yes</true>', /<true\/> must be empty/],
      ['<false>0</false>', /<false\/> must be empty/],
      ['<dict><key>a<!--x-->b</key><true/></dict>', /comments are not accepted inside <key>/],
      ['<integer>1<!--x--></integer>', /comments are not accepted inside <integer>/],
      ['<true><!--x--></true>', /comments are not accepted inside <true>/],
      ['<integer><![CDATA[5]]></integer>', /CDATA sections are only accepted inside <string>/],
      ['<dict><key><![CDATA[k]]></key><true/></dict>', /CDATA sections are only accepted inside <string>/],
      ['<array><![CDATA[x]]></array>', /CDATA sections are only accepted inside <string>/],
      ['<string a="1">x</string>', /<string> does not take attributes/],
      ['<dict a="1"/>', /<dict> does not take attributes/],
    ];
    for (const [body, message] of cases) expect(refusal(doc(body)).message).toMatch(message);
  });

  it('quotes hostile text in messages, bounded and on one line', () => {
    const message = refusal(doc(`<integer>1\n(line 1) at column 1\n${'x'.repeat(10_000)}</integer>`)).message;
    expect(message).not.toContain('\n');
    expect(message.length).toBeLessThan(200);
  });
});

// ---- limits and hostile documents -----------------------------------------------------------

describe('readPlist: limits and hostile documents', () => {
  it('counts UTF-8 bytes against maxBytes', () => {
    const text = doc(`<string>${'é'.repeat(40)}</string>`);
    expect(refusal(text, { maxBytes: text.length + 10 }).message).toMatch(/larger than the \d+-byte limit/);
    expect(readPlist(text, { maxBytes: Buffer.byteLength(text) })).toBe('é'.repeat(40));
    expect(refusal(doc(`<string>${'x'.repeat(2 * 1024 * 1024)}</string>`)).message).toMatch(/larger than the 2097152-byte limit/);
  });

  it('limits depth (plist is level 1) and element count', () => {
    const nested = (depth: number): string => doc(`${'<array>'.repeat(depth)}${'</array>'.repeat(depth)}`);
    expect(depthOf(readPlist(nested(63)))).toBe(63);
    expect(refusal(nested(64)).message).toMatch(/nested deeper than 64 levels/);
    expect(refusal(doc('<array><true/></array>'), { maxDepth: 2 }).message).toMatch(/nested deeper than 2 levels/);
    const many = doc(`<array>${'<true/>'.repeat(1000)}</array>`);
    expect(readPlist(many, { maxElements: 1002 })).toHaveLength(1000);
    expect(refusal(many, { maxElements: 1001 }).message).toMatch(/more than 1,001 elements/);
  });

  it('reads 10,000-deep nesting without recursion when the limit allows it', () => {
    const depth = 10_000;
    const value = readPlist(doc(`${'<array>'.repeat(depth)}${'</array>'.repeat(depth)}`), { maxDepth: depth + 1 });
    expect(depthOf(value)).toBe(depth);
    const dicts = readPlist(doc(`${'<dict><key>k</key>'.repeat(depth)}<true/>${'</dict>'.repeat(depth)}`), { maxDepth: depth + 2 });
    let level = 0;
    for (let v = dicts as { k?: unknown }; typeof v === 'object'; v = v.k as { k?: unknown }) level++;
    expect(level).toBe(depth);
  });

  it('refuses 2 MB of <array> openings fast, at the default depth and with no depth limit', () => {
    const openings = `<plist>${'<array>'.repeat(Math.floor((2 * 1024 * 1024 - 20) / 7))}`;
    expect(time(() => expect(refusal(openings).message).toMatch(/nested deeper than 64 levels/))).toBeLessThan(500);
    const unbounded = { maxDepth: Number.POSITIVE_INFINITY, maxElements: Number.POSITIVE_INFINITY };
    expect(time(() => expect(refusal(openings, unbounded).message).toMatch(/<array> is not closed/))).toBeLessThan(2000);
  });

  it('refuses billion laughs and external entities without expanding or fetching anything', () => {
    const laughs =
      '<?xml version="1.0"?>\n<!DOCTYPE plist [\n<!ENTITY lol "lol">\n' +
      Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`).join('\n') +
      '\n]>\n<plist version="1.0"><string>&lol9;</string></plist>';
    expect(time(() => expect(refusal(laughs).message).toMatch(/entity declarations \(<!ENTITY>\) are refused/))).toBeLessThan(50);
    expect(refusal('<!DOCTYPE plist [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><plist><string>&xxe;</string></plist>').message).toMatch(
      /<!ENTITY>/,
    );
    expect(refusal('<!DOCTYPE plist [<!ENTITY % p SYSTEM "http://evil.example/p.dtd"> %p;]><plist><true/></plist>').message).toMatch(/<!ENTITY>/);
    expect(refusal('<!DOCTYPE plist SYSTEM "http://evil.example/x.dtd"><plist><string>&xxe;</string></plist>').message).toMatch(/only Apple's DOCTYPE/);
    // Without a DTD there is no entity to expand: references to undeclared ones are errors.
    expect(refusal(doc('<string>&lol9;</string>')).message).toMatch(/entity not found/);
  });

  it('decodes a 1.5 MB <data> and refuses a huge invalid one, in linear time', () => {
    const payload = new Uint8Array(1_100_000).map((_, i) => (i * 7919) & 0xff);
    const base64 = Buffer.from(payload).toString('base64').replace(/.{76}/g, '$&\n\t');
    const bytes = readPlist(doc(`<data>${base64}</data>`)) as Uint8Array;
    expect(bytes.length).toBe(payload.length);
    expect(Buffer.from(bytes).equals(Buffer.from(payload))).toBe(true);
    expect(time(() => refusal(doc(`<data>${'A'.repeat(1_500_000)}!</data>`)))).toBeLessThan(500);
  });

  it('stays linear on inputs built to make scanners quadratic', () => {
    const MB = 1024 * 1024;
    const shapes = [
      doc(`<string>${'&amp;'.repeat(MB / 5)}</string>`),
      doc(`<array>${'<string>&amp;</string>'.repeat(MB / 22)}</array>`),
      doc(`<array>${'<string>]]</string>'.repeat(MB / 19)}</array>`),
      doc(`<array>${'<string>\r</string>'.repeat(MB / 18)}</array>`),
      doc(`<array>${'<!---->'.repeat(MB / 7)}</array>`),
      doc(`<string>${'<!--x-->'.repeat(MB / 8)}</string>`),
      doc(`<string>${'<![CDATA[x]]>'.repeat(MB / 13)}</string>`),
      `<plist>${'<!--'.repeat(MB / 4)}`,
      `<plist><string>${'<![CDATA['.repeat(MB / 9)}`,
      `<?xml version="1.0"?>${'<?pi '.repeat(MB / 5)}`,
      `<!DOCTYPE plist PUBLIC "${'"'.repeat(MB)}`,
      `<plist${' a=""'.repeat(MB / 5)}>`,
      `<plist${Array.from({ length: MB / 10 }, (_, i) => ` a${i}=""`).join('')}>`,
      `<plist a="${'&amp;'.repeat(MB / 5)}"><true/></plist>`,
      doc(`<array>${'<true></true>'.repeat(MB / 13)}</array>`),
      doc(`<dict>${'<key>k</key><integer>1</integer>'.repeat(MB / 32)}</dict>`),
      '<'.repeat(MB),
      `<plist>${'</'.repeat(MB / 2)}`,
    ];
    for (const xml of shapes) {
      expect(time(() => ours(xml, { maxElements: Number.POSITIVE_INFINITY }))).toBeLessThan(1000);
    }
  });
});

// ---- differential testing against the library -----------------------------------------------

// PLIST_FUZZ_SCALE=20 npx vitest run test/unit/plist-reader.test.ts: a longer local fuzzing session.
const SCALE = Number(process.env.PLIST_FUZZ_SCALE ?? 1);
const xmlSafe = (s: string): boolean => !/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u.test(s);
// xmldom reads U+0085/U+2028/U+2029 as XML 1.1 line ends and warns on U+FFFD, so raw ones cannot
// be compared; the codec writes them as references, and plist-codec.test.ts checks them raw.
const comparable = (s: string): boolean => xmlSafe(s) && !/[\u0085\u2028\u2029\uFFFD]/.test(s);
const specials = fc.constantFrom('<', '>', '&', '"', "'", ']]>', '\r', '\r\n', '\t', '\n', ' ', '😀', '\u{10FFFF}', 'é', '中', '&amp;', '<!--', '</string>');
const text = fc
  .oneof(
    fc.string({ unit: 'grapheme', maxLength: 12 }),
    fc.string({ unit: 'binary', maxLength: 12 }),
    fc.array(fc.oneof(specials, fc.string({ maxLength: 3 })), { maxLength: 6 }).map((parts) => parts.join('')),
  )
  .filter(comparable);
const key = text.filter((k) => k !== '__proto__');
const safeInteger = fc.oneof(
  fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 1, 0, -1, 1),
);
// -0 is written as "0" by both writers; the reader keeps a written "-0" (tested above).
const real = fc
  .double({ noNaN: true, noDefaultInfinity: true })
  .filter((n) => !Number.isInteger(n) || Number.isSafeInteger(n))
  .map((n) => (Object.is(n, -0) ? 0 : n));
const date = fc
  .date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true })
  .map((d) => new Date(Math.floor(d.getTime() / 1000) * 1000));
const { value: plistValue } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    text,
    safeInteger,
    real,
    fc.boolean(),
    date,
    fc.uint8Array({ maxLength: 40 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(key, tie('value'), { maxKeys: 4 }),
  ),
}));

/** Deterministic choices for the hand-written XML (mulberry32), so a seed replays a document. */
function chooser(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/**
 * Writes a value as XML the way assorted writers might: references, CDATA, comments, odd spacing,
 * CRLF, self-closing empties, unpadded or wrapped base64, duplicate dict keys. Everything it writes
 * is well-formed XML that both readers must read to the same value.
 */
function writeXml(value: unknown, pick: (n: number) => number): string {
  const space = (): string => ['', '', '\n', '\n\t\t', ' ', '\r\n  ', '<!-- c -->', '\n<!--\r\n-->\n'][pick(8)] ?? '';
  const tagSpace = (): string => (pick(4) === 0 ? ' ' : '');
  const escape = (s: string, allowMarkup: boolean): string => {
    let out = '';
    for (const char of s) {
      const cp = char.codePointAt(0) ?? 0;
      const mustEscape = char === '<' || char === '&' || char === '\r' || (char === '>' && out.endsWith(']]'));
      const choice = pick(10);
      if (choice === 0) out += `&#${cp};`;
      else if (choice === 1) out += `&#x${pick(2) === 0 ? cp.toString(16) : cp.toString(16).toUpperCase()};`;
      else if (choice === 2 && allowMarkup && char !== '\r' && !(char === '>' && out.endsWith(']]'))) out += `<![CDATA[${char}]]>`;
      else if (choice === 3 && allowMarkup) out += `<!--x-->${mustEscape ? `&#${cp};` : char}`;
      else if (mustEscape || (choice === 4 && '"\'>'.includes(char))) {
        out += { '<': '&lt;', '&': '&amp;', '>': '&gt;', '"': '&quot;', "'": '&apos;' }[char] ?? `&#${cp};`;
      } else out += char;
    }
    return out;
  };
  const element = (name: string, content: string): string =>
    content === '' && pick(3) === 0 ? `<${name}${tagSpace()}/>` : `<${name}>${content}</${name}${tagSpace()}>`;
  const write = (v: unknown): string => {
    if (typeof v === 'string') return element('string', escape(v, true));
    if (typeof v === 'boolean') return pick(2) === 0 ? `<${v}${tagSpace()}/>` : `<${v}>${pick(2) === 0 ? '' : ' \n'}</${v}>`;
    if (typeof v === 'number') {
      const pad = (s: string): string => (pick(3) === 0 ? ` ${s}\n` : s);
      if (Number.isInteger(v) && pick(4) !== 0) {
        const digits = Math.abs(v).toString();
        const sign = v < 0 || Object.is(v, -0) ? '-' : ['', '+'][pick(2)];
        return `<integer>${pad(`${sign}${'0'.repeat(pick(3))}${digits}`)}</integer>`;
      }
      const forms = [String(v), v.toExponential(), v.toExponential().toUpperCase(), v.toPrecision(17)];
      return `<real>${pad(forms[pick(forms.length)] ?? String(v))}</real>`;
    }
    if (v instanceof Date) {
      const iso = v.toISOString();
      return `<date>${[iso.replace(/\.\d{3}Z$/, 'Z'), iso, iso.replace(/Z$/, '999Z')][pick(3)]}</date>`;
    }
    if (v instanceof Uint8Array) {
      let base64 = Buffer.from(v).toString('base64');
      if (pick(3) === 0) base64 = base64.replace(/=+$/, '');
      if (pick(2) === 0) base64 = base64.replace(/.{8}/g, (chunk) => chunk + ['\n', '\r\n\t', ' ', ''][pick(4)]);
      return element('data', base64);
    }
    if (Array.isArray(v)) return element('array', v.map((item) => space() + write(item)).join('') + (v.length > 0 ? space() : ''));
    const entries = Object.entries(v as Record<string, unknown>);
    const first = entries[0];
    if (first !== undefined && pick(5) === 0) entries.push([first[0], first[1]]);
    const body = entries.map(([k, item]) => `${space()}${element('key', escape(k, false))}${space()}${write(item)}`).join('');
    return element('dict', body + (entries.length > 0 ? space() : ''));
  };
  const prolog = [
    HEADER,
    '',
    DECLARATION,
    "<?xml version='1.0'?>\r\n",
    '<!DOCTYPE plist PUBLIC "-//Apple Computer//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    `${DECLARATION}<!-- written by hand -->\n${APPLE_DOCTYPE}`,
  ][pick(6)];
  const root = ['<plist version="1.0">', '<plist>', "<plist version='1.0' >"][pick(3)];
  return `${prolog}${root}${space()}${write(value)}${space()}</plist>${['', '\n', '\n<!-- end -->\n'][pick(3)]}`;
}

/** Random edits of a valid document: replace a character, delete a run, insert a token, truncate. */
const edit = fc.record({
  kind: fc.constantFrom('replace', 'delete', 'insert', 'truncate'),
  at: fc.double({ min: 0, max: 1, noNaN: true }),
  length: fc.integer({ min: 1, max: 8 }),
  insert: fc.oneof(
    fc.constantFrom(
      '<', '>', '/', '&', ';', '!', '[', ']', '"', "'", '=', '-', ' ', '\n', '\r', '\t', '\u00a0', '\u0001', '\uD800', '\uFFFE', '😀', 'x', '1', '.', 'e', '+',
      '<!--', '-->', '<![CDATA[', ']]>', '<?x?>', '&amp;', '&lt;', '&#65;', '&#x0;', '&foo;', '<true/>', '<key>k</key>', '<dict>', '</dict>',
      '<array>', '</array>', '<string>', '</string>', '<integer>', '</integer>', '<null/>', '<!DOCTYPE plist>', '<?xml version="1.0"?>', '__proto__',
    ),
    fc.string({ unit: 'binary', maxLength: 3 }).filter((s) => !/[\u0085\u2028\u2029\uFFFD]/.test(s)),
  ),
});

function applyEdits(xml: string, edits: { kind: string; at: number; length: number; insert: string }[]): string {
  let out = xml;
  for (const { kind, at, length, insert } of edits) {
    const i = Math.min(out.length, Math.floor(at * out.length));
    if (kind === 'replace') out = out.slice(0, i) + insert + out.slice(i + insert.length);
    else if (kind === 'delete') out = out.slice(0, i) + out.slice(i + length);
    else if (kind === 'insert') out = out.slice(0, i) + insert + out.slice(i);
    else out = out.slice(0, i);
  }
  return out;
}

describe('readPlist: differential against plist.parse', () => {
  it('reads what encodePlist writes exactly as the library does (and as it was written)', () => {
    fc.assert(
      fc.property(plistValue, (value) => {
        const xml = encodePlist(value);
        const mine = readPlist(xml);
        expect(mine).toEqual(parse(xml));
        expect(mine).toEqual(value);
      }),
      { numRuns: 400 * SCALE },
    );
  });

  it('reads what plist.build writes (no indent, library defaults) exactly as the library does', () => {
    fc.assert(
      fc.property(plistValue, fc.boolean(), (value, pretty) => {
        const xml = build(value as PlistValue, { pretty });
        expect(readPlist(xml)).toEqual(parse(xml));
      }),
      { numRuns: 300 * SCALE },
    );
  });

  it('reads hand-written variants (references, CDATA, comments, CRLF, odd spacing) as the library does', () => {
    fc.assert(
      fc.property(plistValue, fc.integer(), (value, seed) => {
        const xml = writeXml(value, chooser(seed));
        const mine = ours(xml);
        expect(mine, xml).toMatchObject({ ok: true });
        const theirs = oracle(xml);
        expect(theirs, xml).toMatchObject({ ok: true });
        expect((mine as { value: unknown }).value).toEqual((theirs as { value: unknown }).value);
      }),
      { numRuns: 600 * SCALE },
    );
  });

  it('mutated documents: PlistError or the library\'s value; refusals of what it reads are documented', () => {
    fc.assert(
      fc.property(plistValue, fc.integer(), fc.array(edit, { minLength: 1, maxLength: 3 }), (value, seed, edits) => {
        agreesWithOracle(applyEdits(writeXml(value, chooser(seed)), edits));
      }),
      { numRuns: 2500 * SCALE },
    );
  });

  it('random markup soup: PlistError or the library\'s value', () => {
    const token = fc.constantFrom(
      '<plist>', '</plist>', '<dict>', '</dict>', '<key>', '</key>', '<array>', '</array>', '<string>', '</string>',
      '<integer>', '</integer>', '<real>', '</real>', '<data>', '</data>', '<date>', '</date>', '<true/>', '<false/>', '<dict/>',
      '<!--', '-->', '<![CDATA[', ']]>', '<?xml version="1.0"?>', APPLE_DOCTYPE, '&amp;', '&lt;', '&#0;', '&#x110000;',
      '&foo;', '"', "'", '<', '>', '/', '=', 'a', '1', '-', '.', 'e', ' ', '\n', 'AA==', '2024-01-01T00:00:00Z', '__proto__',
    );
    fc.assert(fc.property(fc.array(token, { maxLength: 40 }), (tokens) => agreesWithOracle(tokens.join(''))), { numRuns: 3000 * SCALE });
  });
});
