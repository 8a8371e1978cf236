import { describe, expect, it } from 'vitest';
import {
  MAX_EVALUATED_PASSCODE_LENGTH,
  compileCustomRegex,
  matchesWholePasscode,
  wholePasscodeMatcher,
} from '../../src/policy/icu-regex.ts';
import { CUSTOM_REGEX_MAX_LENGTH } from '../../src/policy/model.ts';

function compiled(source: string): RegExp {
  const result = compileCustomRegex(source);
  if (!result.ok) throw new Error(`${source} refused: ${result.reason}`);
  return result.regex;
}

/** Whole-passcode match of an ICU pattern, the way checkPasscode evaluates customRegex. */
function matches(source: string, passcode: string): boolean {
  return matchesWholePasscode(compiled(source), passcode);
}

function refusal(source: string): string {
  const result = compileCustomRegex(source);
  if (result.ok) throw new Error(`${source} was accepted as /${result.regex.source}/${result.regex.flags}`);
  return result.reason;
}

describe('compileCustomRegex: plain patterns', () => {
  it('compiles with the u flag and evaluates ordinary patterns as written', () => {
    const regex = compiled('^(?=.*[A-Z]).{8,}$');
    expect(regex.flags).toBe('u');
    expect(matchesWholePasscode(regex, 'abcdefgH')).toBe(true);
    expect(matchesWholePasscode(regex, 'abcdefgh')).toBe(false);
    expect(matchesWholePasscode(regex, 'abcdeH')).toBe(false);
    expect(matches('^[A-Za-z0-9!@#$%]{6,32}$', 'abc!23')).toBe(true);
    expect(matches('^[A-Za-z0-9!@#$%]{6,32}$', 'abc&23')).toBe(false);
  });

  it('accepts an empty pattern, which matches only the empty passcode', () => {
    expect(matches('', '')).toBe(true);
    expect(matches('', 'a')).toBe(false);
  });
});

describe('matchesWholePasscode: the whole passcode, like NSPredicate MATCHES', () => {
  it('does not accept a match of only part of the passcode', () => {
    expect(matches('[0-9]{4}', '1234')).toBe(true);
    expect(matches('[0-9]{4}', '12345')).toBe(false);
    expect(matches('b', 'abc')).toBe(false);
  });

  it('tries every alternative, not just the first that matches a prefix', () => {
    expect(matches('a|ab', 'ab')).toBe(true);
    expect(matches('(?:a|ab)(?:c|bcd)', 'abcd')).toBe(true);
  });

  it('ignores the g and y flags of the RegExp it is given', () => {
    const sticky = /[a-z]+/gy;
    sticky.lastIndex = 3;
    expect(matchesWholePasscode(sticky, 'abc')).toBe(true);
    expect(matchesWholePasscode(sticky, 'abc')).toBe(true);
  });

  it(`evaluates passcodes up to ${MAX_EVALUATED_PASSCODE_LENGTH} code points and refuses longer ones`, () => {
    const regex = compiled('^.+$');
    expect(matchesWholePasscode(regex, 'x'.repeat(MAX_EVALUATED_PASSCODE_LENGTH))).toBe(true);
    // 1024 astral characters are 2048 UTF-16 units but 1024 code points.
    expect(matchesWholePasscode(regex, '😀'.repeat(MAX_EVALUATED_PASSCODE_LENGTH))).toBe(true);
    expect(() => matchesWholePasscode(regex, 'x'.repeat(MAX_EVALUATED_PASSCODE_LENGTH + 1))).toThrow(RangeError);
    expect(() => wholePasscodeMatcher(regex)('x'.repeat(MAX_EVALUATED_PASSCODE_LENGTH + 1))).toThrow(/1025 characters.*1024/);
  });
});

describe('compileCustomRegex: ICU constructs translated exactly', () => {
  it('\\A and \\z are the start and the very end of the input', () => {
    expect(matches('\\A\\d{4}\\z', '1234')).toBe(true);
    expect(matches('^\\d+(?=\\z)\\n$', '12\n')).toBe(false);
  });

  it('$ and \\Z also match before a line terminator that ends the input (ICU, unlike JavaScript)', () => {
    for (const anchor of ['$', '\\Z']) {
      expect(matches(`^\\d+(?=${anchor})\\n$`, '12\n')).toBe(true);
      expect(matches(`^\\d+(?=${anchor})\\r\\n$`, '12\r\n')).toBe(true);
      expect(matches(`^\\d+(?=${anchor})\\u2028$`, '12\u2028')).toBe(true);
      expect(matches(`^\\d+(?=${anchor})\\x0B$`, '12\u000B')).toBe(true);
      // The LF of a final CR LF is not a place where $ matches.
      expect(matches(`^\\d+\\r(?=${anchor})\\n$`, '12\r\n')).toBe(false);
      // Only a terminator at the very end counts.
      expect(matches(`^\\d+(?=${anchor})\\n\\n$`, '12\n\n')).toBe(false);
    }
    expect(matches('^\\d{4}$', '1234')).toBe(true);
    expect(matches('^\\d{4}$', '1234\n')).toBe(false);
  });

  it('. excludes all seven ICU line terminators, and (?s) makes it match CR LF as one character', () => {
    for (const terminator of ['\n', '\u000B', '\f', '\r', '\u0085', '\u2028', '\u2029']) {
      expect(matches('^.$', terminator)).toBe(false);
      expect(matches('(?s)^.$', terminator)).toBe(true);
    }
    expect(matches('^.$', '\t')).toBe(true);
    expect(matches('(?s)^.$', '\r\n')).toBe(true);
    expect(matches('(?s)^..$', '\r\n')).toBe(true);
  });

  it('\\d, \\w and \\s are Unicode-aware as in ICU', () => {
    expect(matches('^\\d{4}$', '١٢٣٤')).toBe(true); // Arabic-Indic digits are Nd
    expect(matches('^\\D$', '٣')).toBe(false);
    expect(matches('^\\w+$', 'héllo_日本٣')).toBe(true);
    expect(matches('^\\w$', '!')).toBe(false);
    expect(matches('^\\W$', '!')).toBe(true);
    expect(matches('^\\s$', '\u00A0')).toBe(true); // Zs
    expect(matches('^\\s$', '\u000B')).toBe(false); // ICU's \s is [\t\n\f\r\p{Z}]
    expect(matches('^\\S$', '\u000B')).toBe(true);
  });

  it('\\h, \\v and \\R follow ICU', () => {
    expect(matches('^\\h\\h$', '\t ')).toBe(true);
    expect(matches('^\\h$', '\n')).toBe(false);
    expect(matches('^\\H$', 'a')).toBe(true);
    expect(matches('^\\v$', '\u2028')).toBe(true);
    expect(matches('^\\v$', '\u000B')).toBe(true);
    expect(matches('^\\V$', '\n')).toBe(false);
    expect(matches('^\\R$', '\r\n')).toBe(true);
    expect(matches('^\\R$', '\u0085')).toBe(true);
  });

  it('translates ICU character escapes', () => {
    expect(matches('^\\a\\e$', '\u0007\u001B')).toBe(true);
    expect(matches('^\\cA\\cZ$', '\u0001\u001A')).toBe(true);
    expect(matches('^\\x41\\x{1F600}\\U0001F601\\u00e9$', 'A😀😁é')).toBe(true);
    expect(matches('^\\0101\\0$', 'A\u0000')).toBe(true);
    expect(matches('^\\t\\n\\f\\r$', '\t\n\f\r')).toBe(true);
  });

  it('treats a backslash before any symbol as that symbol, inside and outside sets', () => {
    expect(matches('^\\@\\#\\!\\%\\&\\~\\"\\\'\\,\\:\\;\\<\\=\\>\\_\\ $', '@#!%&~"\',:;<=>_ ')).toBe(true);
    expect(matches('^[\\@\\#\\!\\$\\%\\^\\&\\*]{3}$', '@$^')).toBe(true);
    expect(matches('^\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\\\\\/$', '.*+?()[]{}|\\/')).toBe(true);
  });

  it('reads \\Q…\\E as literal text', () => {
    expect(matches('^\\Q.*[x]\\E$', '.*[x]')).toBe(true);
    expect(matches('^\\Q.*\\E$', 'ab')).toBe(false);
    expect(matches('^[\\Q-]\\E]+$', '-]-')).toBe(true);
    // A quantifier after \Q…\E repeats its last character only.
    expect(matches('^\\Qab\\E{2}$', 'abb')).toBe(true);
    expect(matches('^\\Qab\\E{2}$', 'abab')).toBe(false);
    // \Q without \E quotes to the end of the pattern.
    expect(matches('^\\Q$(', '$(')).toBe(true);
  });

  it('reads literal ] and } outside sets as characters', () => {
    expect(matches('^a]}$', 'a]}')).toBe(true);
  });

  it('understands POSIX-like sets and loosely written property names', () => {
    expect(matches('^[[:alpha:][:digit:]]+$', 'abc123')).toBe(true);
    expect(matches('^[[:alpha:]]+$', 'abc!')).toBe(false);
    expect(matches('^[:alnum:]+$', 'aé9')).toBe(true);
    expect(matches('^[[:^digit:]]$', '7')).toBe(false);
    expect(matches('^[[:^digit:]]$', 'x')).toBe(true);
    expect(matches('^[[:punct:]]$', '!')).toBe(true);
    expect(matches('^[[:xdigit:]]+$', 'fF09')).toBe(true);
    expect(matches('^[[:xdigit:]]$', 'g')).toBe(false);
    expect(matches('^\\p{letter}\\p{Uppercase Letter}\\p{gc=Nd}$', 'aB1')).toBe(true);
    expect(matches('^\\p{Greek}\\p{script=greek}\\p{sc=Grek}$', 'αβγ')).toBe(true);
    expect(matches('^\\p{Greek}$', 'a')).toBe(false);
    expect(matches('^\\P{L}$', '1')).toBe(true);
    expect(matches('^\\p{Alpha}\\p{WHITE_SPACE}$', 'a ')).toBe(true);
  });

  it('flattens nested set unions and handles negated class escapes alone in a set', () => {
    expect(matches('^[a-c[x-z]]+$', 'abxz')).toBe(true);
    expect(matches('^[a-c[x-z]]$', 'm')).toBe(false);
    expect(matches('^[^a-c[x-z]]$', 'm')).toBe(true);
    expect(matches('^[\\S]$', ' ')).toBe(false);
    expect(matches('^[\\S]$', 'a')).toBe(true);
    expect(matches('^[^\\S]$', ' ')).toBe(true);
    expect(matches('^[^\\D]$', '٣')).toBe(true);
    expect(matches('^[\\d_]+$', '1_٣')).toBe(true);
    expect(matches('^[\\P{L}a]+$', 'a1!')).toBe(true);
    expect(matches('^[\\P{L}a]$', 'b')).toBe(false);
  });

  it('reads a hyphen at either end of a set, or escaped, as a character', () => {
    expect(matches('^[-a]+$', '-a')).toBe(true);
    expect(matches('^[a-]+$', '-a')).toBe(true);
    expect(matches('^[a\\-z]+$', '-az')).toBe(true);
    expect(matches('^[a\\-z]$', 'm')).toBe(false);
    expect(matches('^[\\p{L}-]+$', 'é-')).toBe(true);
    expect(matches('^[\\b]$', '\b')).toBe(true);
  });

  it('applies (?i) and (?s) at the very start as flags', () => {
    const caseless = compiled('(?i)^[a-z0-9]{6,}$');
    expect(caseless.flags).toBe('iu');
    expect(matchesWholePasscode(caseless, 'ABCdef')).toBe(true);
    expect(matches('(?i)(?s)^a.$', 'A\n')).toBe(true);
    expect(matches('(?is)^a.$', 'A\n')).toBe(true);
    // Flags that change nothing are fine anywhere.
    expect(matches('(?i)^a(?i)b(?-s)$', 'AB')).toBe(true);
    expect(matches('(?i)^(?i:ab)$', 'aB')).toBe(true);
    expect(matches('^(?-i:ab)$', 'ab')).toBe(true);
    // (?w) only changes \b, which is refused on its own.
    expect(matches('(?w)^ab$', 'ab')).toBe(true);
  });

  it('drops (?#…) comments', () => {
    expect(matches('^(?#four digits)\\d{4}$', '1234')).toBe(true);
  });

  it('keeps capture groups, named groups, back references and look-arounds', () => {
    expect(matches('^(.)\\1$', 'aa')).toBe(true);
    expect(matches('^(.)\\1$', 'ab')).toBe(false);
    expect(matches('^(?<first>.)\\k<first>$', 'zz')).toBe(true);
    expect(matches('^(?!.*(.)\\1).+$', 'abca')).toBe(true);
    expect(matches('^(?!.*(.)\\1).+$', 'abba')).toBe(false);
    expect(matches('^.(?<=a)b(?<!c)$', 'ab')).toBe(true);
    expect(matches('^.{2}(?<=a{1,3}).$', 'xab')).toBe(true);
    expect(matches('^.{2}(?<=a{1,3}).$', 'xba')).toBe(false);
  });

  it('translates possessive quantifiers whose meaning does not depend on backtracking', () => {
    expect(matches('^\\d{4}+$', '1234')).toBe(true);
    expect(matches('^x[a-z]{2}+y$', 'xaby')).toBe(true);
    expect(matches('^[A-Za-z]++$', 'abcXYZ')).toBe(true);
    expect(matches('^[A-Za-z]++$', 'abc1')).toBe(false);
    expect(matches('^a*+$|^b?+\\z', 'b')).toBe(true);
    expect(matches('^\\d{2,4}+\\Z', '123')).toBe(true);
  });

  it('translates atomic groups of plain characters', () => {
    expect(matches('^(?>ab[cd])e$', 'abde')).toBe(true);
    expect(matches('^(?>ab[cd]{2})e$', 'abcde')).toBe(true);
  });

  it('does not mistake the generated per-class shape for exponential backtracking', () => {
    const regex = compiled('^(?=(?:[^0-9]*[0-9]){2})(?=(?:[^A-Z]*[A-Z]){1}).*$');
    expect(matchesWholePasscode(regex, 'a1b2C')).toBe(true);
    expect(matchesWholePasscode(regex, 'a1bC')).toBe(false);
  });

  it('translates the rule combination shape used for lone payloads', () => {
    const regex = compiled('^(?=(?:^(?=.*[A-Z]).{8,}$)$)(?=(?:^\\d+$|^[A-Z]+$)$).*$');
    expect(matchesWholePasscode(regex, 'ABCDEFGH')).toBe(true);
    expect(matchesWholePasscode(regex, 'ABCDEFG1')).toBe(false);
  });

  it(`accepts patterns of exactly ${CUSTOM_REGEX_MAX_LENGTH} characters`, () => {
    expect(compileCustomRegex(`^${'a'.repeat(CUSTOM_REGEX_MAX_LENGTH - 2)}$`).ok).toBe(true);
  });
});

describe('compileCustomRegex: refusals name the construct', () => {
  it.each([
    [`^${'a'.repeat(CUSTOM_REGEX_MAX_LENGTH - 1)}$`, `${CUSTOM_REGEX_MAX_LENGTH} characters (has ${CUSTOM_REGEX_MAX_LENGTH + 1})`],
    ['\\bword\\b', 'word boundary \\b'],
    ['a\\Bb', 'word boundary \\B'],
    ['\\Gabc', '\\G'],
    ['^\\X$', '\\X (grapheme cluster)'],
    ['^\\N{LATIN SMALL LETTER A}$', '\\N{…}'],
    ['^[\\w&&[^\\d]]$', 'set intersection (&&)'],
    ['^[\\p{L}--[a-z]]$', 'set difference (--)'],
    ['(?m)^a$', 'multi-line mode (?m)'],
    ['(?x)^ a $', 'free-spacing mode (?x)'],
    ['a(?i)b', 'inline flags (?i) are supported only at the very start'],
    ['^(?i:ab)$', 'scoped flags (?i:…)'],
    ['^a++b$', 'possessive quantifiers'],
    ['^(?:ab)++$', 'possessive quantifiers'],
    ['^(?=a++)a+$', 'possessive quantifiers'],
    ['^(?>a|ab)c$', 'atomic groups (?>…)'],
    ['^(?>a+)b$', 'atomic groups (?>…)'],
    ['(?<=a+)b', 'bounded length'],
    ['(?<!a*)b', 'bounded length'],
    ['^[]a]$', "']' right after '['"],
    ['^[\\Sa]$', 'negated multi-part class'],
    ['^[a-\\d]$', 'range'],
    ['^[z-a]$', 'out of order'],
    ['^[\\d-z]$', "'-' after a class"],
    ['^\\q$', '\\q'],
    ['^[\\A]$', 'not valid inside a set'],
    ['^(a)\\10$', 'is followed by a digit'],
    ['a|{3}', "'{' at position 3 is not a valid interval"],
    ['^a{,3}$', 'malformed interval'],
    ['^a{3,1}$', 'the wrong way round'],
    ['*a', "quantifier '*' at position 1 has nothing to repeat"],
    ['a|+', "quantifier '+' at position 3 has nothing to repeat"],
    ['^a**$', 'follows another quantifier'],
    ['^$*', 'follows an anchor or look-around'],
    ['^(?=a)?a$', 'follows an anchor or look-around'],
    ['^[a-z', 'is not closed'],
    ['^(ab', 'is not closed'],
    ['^ab)', "unmatched ')'"],
    ['(?#open', 'comment'],
    ['^(?<!x)(?P<n>a)$', "unknown group construct '(?P'"],
    ['^(?q)a$', "unknown flag 'q'"],
    ['^\\p{No_Such_Property}$', 'Unicode property "No_Such_Property"'],
    ['^\\p{Block=Basic Latin}$', 'Unicode property'],
    ['^\\p{constructor}$', 'Unicode property "constructor"'],
    ['^\\pL$', '\\p must be followed by {property name}'],
    ['^\\cé$', '\\c'],
    ['^\\x{110000}$', 'U+10FFFF'],
    ['^\\x4$', '\\x'],
    ['^\\0400$', 'larger than \\0377'],
    ['^\\E$', '\\E'],
    ['^\\k$', '\\k'],
    ['abc\\', 'lone backslash'],
    ['^(a)\\2$', 'not a valid regular expression'],
    ['(?i)^password$', '"ss"'],
    ['(?i)^straße$', '"ß"'],
    ['(?i)^ǰ$', '"ǰ"'],
    ['(a+)+$', 'nested unbounded quantifiers (a+ inside (a+)+)'],
    ['^(?:.*a)*$', 'nested unbounded quantifiers'],
    ['^(?:[A-Z][a-z]+)+$', 'nested unbounded quantifiers'],
  ])('refuses %j, naming %s', (source, named) => {
    expect(refusal(source)).toContain(named);
  });

  it('accepts (?i) with literal text whose case folding is one character at a time', () => {
    expect(matches('(?i)^pa(?:s)s$', 'PASS')).toBe(true);
    expect(matches('(?i)^hello$', 'HeLLo')).toBe(true);
    // A repeated s is two separate parts of the pattern, so ICU does not fold it with ß either.
    expect(matches('(?i)^s{2}$', 'SS')).toBe(true);
  });

  it('accepts nested repetition when the outer one is bounded (polynomial, and capped by the length limit)', () => {
    expect(compileCustomRegex('^(?:[a-z]+\\d){1,4}$').ok).toBe(true);
    expect(compileCustomRegex('^(?:(?=.*\\d).)+$').ok).toBe(true);
  });
});
