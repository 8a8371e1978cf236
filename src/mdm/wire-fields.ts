// Typed reading of decoded plist dictionaries (what decodePlist returns: plain objects, Uint8Array
// for <data>, Date for <date>, numbers for <integer>/<real>). Every message, report and response
// parser in src/mdm/ declares its keys as a FieldTable and reads them here, so the refusals all
// look alike: `<path>.<Key> is missing` or `<path>.<Key>: expected <kind>, got <what it was>`.

import { MdmProtocolError } from './protocol-error.ts';

export type PlistDict = Record<string, unknown>;

/**
 * - identifier: UDID, EnrollmentID, UserID, EnrollmentUserID, UserShortName, CommandUUID. They
 *   become storage keys and log fields, so 1–128 visible ASCII characters (0x21–0x7E), nothing else.
 * - name: Topic, PushMagic, RequestType, TokenServiceType. They travel into APNs headers and
 *   payloads or select code paths: 1–256 visible ASCII characters.
 * - string: free text from the device (DeviceName, UserLongName…), any string.
 */
export type FieldKind =
  | 'string'
  | 'identifier'
  | 'name'
  | 'data'
  | 'boolean'
  | 'integer'
  | 'real'
  | 'date'
  | 'dictionary'
  | 'array';

type KindFor<T> = [T] extends [string]
  ? 'string' | 'identifier' | 'name'
  : [T] extends [number]
    ? 'integer' | 'real'
    : [T] extends [boolean]
      ? 'boolean'
      : [T] extends [Uint8Array]
        ? 'data'
        : [T] extends [Date]
          ? 'date'
          : [PlistDict] extends [T]
            ? 'dictionary'
            : [unknown[]] extends [T]
              ? 'array'
              : never;

type Presence<T> = undefined extends T ? { required?: false } : { required: true };

/** How one key is read: a primitive kind, or a parser for nested structures. */
export type FieldSpec<T> = Presence<T> &
  ({ kind: KindFor<NonNullable<T>> } | { parse: (value: unknown, path: string) => NonNullable<T> });

/** What readFields accepts: any FieldTable. */
export type AnyFieldSpec = { required?: boolean } & (
  | { kind: FieldKind }
  | { parse: (value: unknown, path: string) => unknown }
);

/** Every modelled key of M (all but `omit`) with its spec; the compiler keeps table and type in step. */
export type FieldTable<M, Omit extends PropertyKey = never> = {
  readonly [K in Exclude<keyof M, Omit> & string]-?: FieldSpec<M[K]>;
};

const IDENTIFIER = /^[\x21-\x7e]{1,128}$/;
const NAME = /^[\x21-\x7e]{1,256}$/;

export function isDict(value: unknown): value is PlistDict {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function expectDict(value: unknown, path: string): PlistDict {
  if (!isDict(value)) throw new MdmProtocolError(`${path}: expected a dictionary, got ${describeValue(value)}`);
  return value;
}

export function expectArray(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw new MdmProtocolError(`${path}: expected an array, got ${describeValue(value)}`);
  return value;
}

/** Own property only: a key named "constructor" or "toString" is not inherited into a message. */
export function own(dict: PlistDict, key: string): unknown {
  return Object.hasOwn(dict, key) ? dict[key] : undefined;
}

export interface ReadResult<T> {
  fields: T;
  /** The keys the table does not model, as decoded. */
  raw: PlistDict;
}

/**
 * Reads every key of `table` from `dict` (refusing a missing required key or a present key of the
 * wrong kind) and returns the rest untouched in `raw`. Keys in `skip` are neither read nor kept.
 */
export function readFields<M>(
  dict: PlistDict,
  table: { readonly [key: string]: AnyFieldSpec },
  path: string,
  skip: readonly string[] = [],
): ReadResult<M> {
  const fields: PlistDict = {};
  for (const [key, spec] of Object.entries(table)) {
    const value = own(dict, key);
    const keyPath = path === '' ? key : `${path}.${key}`;
    if (value === undefined) {
      if (spec.required) throw new MdmProtocolError(`${keyPath} is missing`);
      continue;
    }
    fields[key] = 'parse' in spec ? spec.parse(value, keyPath) : checkKind(value, spec.kind, keyPath);
  }
  const raw: PlistDict = {};
  for (const [key, value] of Object.entries(dict)) {
    if (Object.hasOwn(table, key) || skip.includes(key)) continue;
    // defineProperty: a "__proto__" key (never from decodePlist, maybe from a caller) stays data.
    Object.defineProperty(raw, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return { fields: fields as M, raw };
}

export function checkKind(value: unknown, kind: FieldKind, path: string): unknown {
  switch (kind) {
    case 'string':
      if (typeof value === 'string') return value;
      break;
    case 'identifier':
      if (typeof value === 'string') {
        if (IDENTIFIER.test(value)) return value;
        throw new MdmProtocolError(
          `${path}: ${quote(value)} is not an identifier (1–128 visible ASCII characters, no spaces or control characters)`,
        );
      }
      break;
    case 'name':
      if (typeof value === 'string') {
        if (NAME.test(value)) return value;
        throw new MdmProtocolError(`${path}: ${quote(value)} is not a name (1–256 visible ASCII characters)`);
      }
      break;
    case 'data':
      if (value instanceof Uint8Array) return value;
      break;
    case 'boolean':
      if (typeof value === 'boolean') return value;
      break;
    case 'integer':
      if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
      break;
    case 'real':
      if (typeof value === 'number' && Number.isFinite(value)) return value;
      break;
    case 'date':
      if (value instanceof Date && !Number.isNaN(value.getTime())) return value;
      break;
    case 'dictionary':
      if (isDict(value)) return value;
      break;
    case 'array':
      if (Array.isArray(value)) return value;
      break;
  }
  throw new MdmProtocolError(`${path}: expected ${KIND_NAMES[kind]}, got ${describeValue(value)}`);
}

const KIND_NAMES: Record<FieldKind, string> = {
  string: 'a string',
  identifier: 'a string (identifier)',
  name: 'a string',
  data: 'data',
  boolean: 'a boolean',
  integer: 'an integer',
  real: 'a number',
  date: 'a date',
  dictionary: 'a dictionary',
  array: 'an array',
};

/** What a decoded plist value is, in the words of the plist DTD. Never the value itself. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'boolean') return 'a boolean';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a real';
  if (value instanceof Uint8Array) return 'data';
  if (value instanceof Date) return 'a date';
  if (Array.isArray(value)) return 'an array';
  if (isDict(value)) return 'a dictionary';
  if (typeof value === 'object') return 'an object that is not a plain dictionary';
  return `a ${typeof value}`;
}

/** Bounded and JSON-quoted, so a hostile value cannot forge log lines or bloat a reason. */
export function quote(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

/** A parser for an array whose items all go through `item`. */
export function arrayOf<T>(item: (value: unknown, path: string) => T) {
  return (value: unknown, path: string): T[] => expectArray(value, path).map((v, i) => item(v, `${path}[${i}]`));
}

/** A parser for an array of one primitive kind. */
export function arrayOfKind<T>(kind: FieldKind) {
  return arrayOf((value, path) => checkKind(value, kind, path) as T);
}
