// Stable identifiers and UUIDs for compiled profiles: the same policy identity always gives the
// same PayloadIdentifier and profile PayloadUUID (so an update replaces the installed profile in
// place), while an inner payload's UUID follows its content (so a device can tell it changed).
import { createHash } from 'node:crypto';
import type { PolicyMeta } from './model.ts';

// RFC 9562 name-based UUIDs (version 5, SHA-1) under a namespace of lockwarden's own.
const NAMESPACE = Buffer.from('6c6f636b-7761-7264-656e-706f6c696379'.replace(/-/g, ''), 'hex');

export function nameBasedUuid(name: string): string {
  const hash = createHash('sha1').update(NAMESPACE).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex').toUpperCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** JSON with object keys sorted, so equal content always hashes equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function contentHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

export const DEFAULT_IDENTIFIER = 'com.lockwarden.passcode';
export const DEFAULT_DISPLAY_NAME = 'Passcode policy';

export interface ProfileIdentity {
  identifier: string;
  displayName: string;
  organization?: string;
  description?: string;
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}

/** The identity a policy's profiles carry; without an identifier, one derived from its name. */
export function profileIdentity(meta: PolicyMeta): ProfileIdentity {
  const named = meta.displayName ? slug(meta.displayName) : '';
  return {
    identifier: meta.identifier ?? (named ? `${DEFAULT_IDENTIFIER}.${named}` : DEFAULT_IDENTIFIER),
    displayName: meta.displayName ?? DEFAULT_DISPLAY_NAME,
    ...(meta.organization !== undefined && { organization: meta.organization }),
    ...(meta.description !== undefined && { description: meta.description }),
  };
}
