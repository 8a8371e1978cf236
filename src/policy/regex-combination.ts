// Where only one customRegex fits (a lone payload dictionary, a DDM declaration), several
// whole-passcode rules travel as one: each becomes a lookahead that must match to the end.
// The shape is fixed so import can split it back into the rules it came from.
import type { CustomRegexRule } from './model.ts';

const PREFIX = '(?=(?:';
const SUFFIX = ')$)';

export function combineRegexRules(rules: readonly CustomRegexRule[]): CustomRegexRule | undefined {
  if (rules.length <= 1) return rules[0];
  const regex = `^${rules.map((r) => `${PREFIX}${r.regex}${SUFFIX}`).join('')}.*$`;
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
  return parts.length >= 2 && i === end ? parts : undefined;
}
