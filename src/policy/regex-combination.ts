// Where only one customRegex fits (a lone payload dictionary, a DDM declaration), several
// whole-passcode rules travel as one: each becomes a lookahead that must match to the end.
// The shape is fixed so import can split it back into the rules it came from.
import type { CustomRegexRule } from './model.ts';

const PREFIX = '(?=(?:';
const SUFFIX = ')$)';

/**
 * Walks a regex outside character classes, calling `visit` at each capture group opening and each
 * numbered back-reference; `visit` may return replacement text for a back-reference.
 */
function scanGroups(source: string, visit: { group?: () => void; backreference?: (n: number) => string | undefined }): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      const digits = /^[1-9][0-9]*/.exec(source.slice(i + 1));
      if (!inClass && digits && visit.backreference) {
        out += visit.backreference(Number(digits[0])) ?? `\\${digits[0]}`;
        i += digits[0].length;
      } else {
        out += source.slice(i, i + 2);
        i++;
      }
      continue;
    }
    if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(' && (source[i + 1] !== '?' || (source[i + 2] === '<' && source[i + 3] !== '=' && source[i + 3] !== '!'))) visit.group?.();
    out += c;
  }
  return out;
}

function captureGroupCount(source: string): number {
  let count = 0;
  scanGroups(source, { group: () => { count++; } });
  return count;
}

/** Renumbers back-references by `offset`, so a rule keeps meaning itself after earlier rules' groups. */
function shiftBackreferences(source: string, offset: number): string {
  return offset === 0 ? source : scanGroups(source, { backreference: (n) => `\\${n + offset}` });
}

export function combineRegexRules(rules: readonly CustomRegexRule[]): CustomRegexRule | undefined {
  if (rules.length <= 1) return rules[0];
  let groupsBefore = 0;
  const parts = rules.map((r) => {
    const shifted = shiftBackreferences(r.regex, groupsBefore);
    groupsBefore += captureGroupCount(r.regex);
    return `${PREFIX}${shifted}${SUFFIX}`;
  });
  const regex = `^${parts.join('')}.*$`;
  const description: Record<string, string> = {};
  for (const rule of rules) {
    for (const [language, text] of Object.entries(rule.description ?? {})) {
      description[language] = description[language] ? `${description[language]}; ${text}` : text;
    }
  }
  return Object.keys(description).length > 0 ? { regex, description } : { regex };
}

/** Index just past the group that opens at `start` (a "(" ), honouring escapes and classes. */
function endOfGroup(source: string, start: number): number | undefined {
  let depth = 0;
  let inClass = false;
  for (let i = start; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') { i++; continue; }
    if (inClass) { if (c === ']') inClass = false; continue; }
    if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i + 1;
  }
  return undefined;
}

/** The regexes combineRegexRules joined, or undefined when `regex` is not of that shape. */
export function splitCombinedRegex(regex: string): string[] | undefined {
  if (!regex.startsWith(`^${PREFIX}`) || !regex.endsWith('.*$')) return undefined;
  const parts: string[] = [];
  let i = 1;
  const end = regex.length - 3;
  while (i < end) {
    if (!regex.startsWith(PREFIX, i)) return undefined;
    const close = endOfGroup(regex, i);
    // The lookahead is "(?=" + "(?:" rule ")" + "$" + ")"; endOfGroup found the outer ")".
    if (close === undefined || !regex.startsWith(SUFFIX, close - SUFFIX.length)) return undefined;
    parts.push(regex.slice(i + PREFIX.length, close - SUFFIX.length));
    i = close;
  }
  if (parts.length < 2 || i !== end) return undefined;
  let groupsBefore = 0;
  return parts.map((part) => {
    const original = shiftBackreferences(part, -groupsBefore);
    groupsBefore += captureGroupCount(part);
    return original;
  });
}
