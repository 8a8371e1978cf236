// The .mobileconfig envelope: the top-level Configuration dictionary around payloads, and
// reading a profile file that may be plain XML or CMS-signed.
// Keys per ../shared/reference/apple-device-management/mdm/profiles/TopLevel.yaml.

import { readSignedData } from '../crypto/cms-reader.ts';
import type { SignedContent } from '../crypto/cms-reader.ts';
import { decodePlist, DEFAULT_MAX_PLIST_BYTES, PlistError } from './plist-codec.ts';

export interface ProfileEnvelope {
  /** PayloadIdentifier: reverse-DNS; a device replaces an installed profile with the same one. */
  identifier: string;
  /** PayloadUUID. */
  uuid: string;
  /** PayloadDisplayName, shown on the profile's detail screen. */
  displayName: string;
  organization?: string;
  description?: string;
  /** PayloadContent: the payload dictionaries, each with its own PayloadType/UUID/Identifier. */
  payloads: Record<string, unknown>[];
  /** PayloadScope: macOS 10.8+ only; other platforms ignore it. */
  scope?: 'System' | 'User';
  /** PayloadRemovalDisallowed: honoured on supervised devices only; forbidden under User Enrollment. */
  removalDisallowed?: boolean;
}

/** The top-level Configuration dictionary, ready for encodePlist. Optional keys appear only when given. */
export function buildProfile(envelope: ProfileEnvelope): Record<string, unknown> {
  // Both are `presence: required` in TopLevel.yaml; a device refuses a profile without them.
  if (envelope.identifier.trim() === '') throw new PlistError('a profile needs a non-empty PayloadIdentifier');
  if (envelope.uuid.trim() === '') throw new PlistError('a profile needs a non-empty PayloadUUID');
  const profile: Record<string, unknown> = {
    PayloadType: 'Configuration',
    PayloadVersion: 1,
    PayloadIdentifier: envelope.identifier,
    PayloadUUID: envelope.uuid,
    PayloadDisplayName: envelope.displayName,
  };
  if (envelope.organization !== undefined) profile.PayloadOrganization = envelope.organization;
  if (envelope.description !== undefined) profile.PayloadDescription = envelope.description;
  if (envelope.scope !== undefined) profile.PayloadScope = envelope.scope;
  if (envelope.removalDisallowed !== undefined) profile.PayloadRemovalDisallowed = envelope.removalDisallowed;
  profile.PayloadContent = [...envelope.payloads];
  return profile;
}

export interface ReadProfileOptions {
  /** Limit on the property list (the signed content, for a signed profile). Default 2 MiB. */
  maxBytes?: number;
}

export interface ReadProfile {
  plist: unknown;
  /** Present when the file was CMS-signed; check `signatureValid` and decide whether to trust `signers`. */
  signature?: SignedContent;
}

// Certificates and the signature around the content; generous for a chain of a few certificates.
const CMS_OVERHEAD_BYTES = 256 * 1024;
const XML_START = ['<?xml', '<plist', '<!DOCTYPE', '<!--'];

/**
 * Read a .mobileconfig (or any plist file) by sniffing its first bytes: a DER SEQUENCE is a
 * CMS-signed profile whose content is then decoded; XML is decoded directly. Throws PlistError
 * or CmsError only.
 */
export async function readProfileBytes(bytes: Uint8Array, opts?: ReadProfileOptions): Promise<ReadProfile> {
  const maxBytes = opts?.maxBytes ?? DEFAULT_MAX_PLIST_BYTES;
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length === 0) throw new PlistError('empty input: expected a property list or a CMS-signed profile');
  if (buffer[0] === 0x30) {
    const signature = await readSignedData(buffer, { maxBytes: maxBytes + CMS_OVERHEAD_BYTES });
    return { plist: decodePlist(signature.content, { maxBytes }), signature };
  }
  if (buffer.subarray(0, 6).toString('latin1') === 'bplist') return { plist: decodePlist(buffer, { maxBytes }) };
  if (looksLikeXml(buffer)) return { plist: decodePlist(buffer, { maxBytes }) };
  throw new PlistError('not a property list or CMS-signed profile');
}

function looksLikeXml(buffer: Buffer): boolean {
  let i = buffer[0] === 0xef && buffer[1] === 0xbb && buffer[2] === 0xbf ? 3 : 0;
  while (i < buffer.length && (buffer[i] === 0x20 || buffer[i] === 0x09 || buffer[i] === 0x0a || buffer[i] === 0x0d)) i++;
  const head = buffer.subarray(i, i + 9).toString('latin1');
  return XML_START.some((start) => head.startsWith(start));
}
