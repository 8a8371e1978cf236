import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { decodePlist } from '../../src/plist/plist-codec.ts';
import { MdmProtocolError } from '../../src/mdm/protocol-error.ts';
import type { PlistDict } from '../../src/mdm/wire-fields.ts';

const DIR = fileURLToPath(new URL('../fixtures/mdm/', import.meta.url));

/** A fixture decoded exactly as the server decodes a request body. */
export function fixture(name: string): PlistDict {
  return decodePlist(readFileSync(`${DIR}${name}`)) as PlistDict;
}

export function fixtureNames(prefix: string): string[] {
  return readdirSync(DIR).filter((n) => n.startsWith(prefix) && n.endsWith('.plist')).sort();
}

/** Runs fn and returns the MdmProtocolError it must throw (fails the test otherwise). */
export function refusal(fn: () => unknown): MdmProtocolError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MdmProtocolError);
    expect((err as MdmProtocolError).status).toBe(400);
    return err as MdmProtocolError;
  }
  throw new Error('expected an MdmProtocolError, but nothing was thrown');
}

/** A copy of a fixture with keys changed (undefined deletes the key). */
export function variant(name: string, changes: Record<string, unknown>): PlistDict {
  const value: PlistDict = { ...fixture(name) };
  for (const [key, v] of Object.entries(changes)) {
    if (v === undefined) delete value[key];
    else value[key] = v;
  }
  return value;
}
