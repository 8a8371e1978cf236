// Typed readers for one input value: each either returns the value or records an error that
// names the field, the value given and what is allowed.
import type { PolicyError } from './model.ts';

export type Errors = PolicyError[];

export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Uint8Array) return 'data';
  if (value instanceof Date) return 'a date';
  return `a ${typeof value}`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    && !(value instanceof Uint8Array) && !(value instanceof Date);
}

export function readBoolean(path: string, value: unknown, errors: Errors): boolean | undefined {
  if (typeof value === 'boolean') return value;
  errors.push({ path, value, message: `must be a boolean, not ${describeType(value)}`, allowed: 'true or false' });
  return undefined;
}

/** Reads a whole number within [min, max]; `allowed` overrides the range text shown to the user. */
export function readInteger(
  path: string,
  value: unknown,
  range: { min: number; max: number },
  errors: Errors,
  allowed = `${range.min}–${range.max}`,
): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    errors.push({ path, value, message: `must be a whole number, not ${describeType(value)}`, allowed });
    return undefined;
  }
  if (!Number.isInteger(value)) {
    errors.push({ path, value, message: 'must be a whole number', allowed });
    return undefined;
  }
  if (value < range.min || value > range.max) {
    errors.push({ path, value, message: 'is out of range', allowed });
    return undefined;
  }
  return value;
}

export function readString(path: string, value: unknown, errors: Errors, allowed = 'a string'): string | undefined {
  if (typeof value === 'string') return value;
  errors.push({ path, value, message: `must be a string, not ${describeType(value)}`, allowed });
  return undefined;
}

const LANGUAGE_ID = /^(default|[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*)$/;

/** A dictionary of language ID → text, as customRegex descriptions are. */
export function readLocalizedText(path: string, value: unknown, errors: Errors): Record<string, string> | undefined {
  if (!isPlainObject(value)) {
    errors.push({ path, value, message: `must be a dictionary, not ${describeType(value)}`, allowed: 'language ID → text, e.g. {"default": "…"}' });
    return undefined;
  }
  const out: Record<string, string> = {};
  let valid = true;
  for (const [language, text] of Object.entries(value)) {
    if (!LANGUAGE_ID.test(language)) {
      errors.push({ path: `${path}.${language}`, value: text, message: 'is not a language ID', allowed: '"default" or a language ID such as "en", "en-US", "zh-Hans"' });
      valid = false;
      continue;
    }
    const read = readString(`${path}.${language}`, text, errors);
    if (read === undefined) valid = false;
    else out[language] = read;
  }
  return valid ? out : undefined;
}
