// ProfileList results (reference/apple-device-management/mdm/commands/profile.list.yaml). On
// macOS this is lockwarden's only evidence for a passcode policy: the profile is installed
// (DESIGN decision 8), so items are read strictly enough to match PayloadIdentifier, PayloadUUID
// and the passcode payload inside PayloadContent.

import { arrayOf, arrayOfKind, expectDict, readFields } from './wire-fields.ts';
import type { FieldTable, PlistDict } from './wire-fields.ts';

export interface ProfilePayloadItem {
  /** e.g. "com.apple.mobiledevice.passwordpolicy". */
  PayloadType: string;
  PayloadIdentifier: string;
  /** Reported since iOS 17, macOS 14, tvOS 17. */
  PayloadUUID?: string;
  /** The YAML marks it required; not needed to match a payload, so a device that omits it is not refused. */
  PayloadVersion?: number;
  PayloadDisplayName?: string;
  PayloadDescription?: string;
  PayloadOrganization?: string;
  raw: PlistDict;
}

export interface ProfileListItem {
  PayloadIdentifier: string;
  PayloadUUID: string;
  PayloadVersion?: number;
  PayloadDisplayName?: string;
  PayloadOrganization?: string;
  PayloadDescription?: string;
  PayloadRemovalDisallowed?: boolean;
  HasRemovalPasscode?: boolean;
  IsEncrypted?: boolean;
  /** DER certificates: the signer first, then intermediates. */
  SignerCertificates?: Uint8Array[];
  /** Installed by this MDM. Not on macOS, and not returned for supervised devices. */
  IsManaged?: boolean;
  /** iOS 18, macOS 15: "Declarative Device Management" for profiles installed through DDM. */
  Source?: string;
  /** Absent when IsEncrypted. */
  PayloadContent?: ProfilePayloadItem[];
  raw: PlistDict;
}

export interface ProfileListResponse {
  ProfileList: ProfileListItem[];
}

const PAYLOAD_ITEM: FieldTable<ProfilePayloadItem, 'raw'> = {
  PayloadType: { kind: 'string', required: true },
  PayloadIdentifier: { kind: 'string', required: true },
  PayloadUUID: { kind: 'string' },
  PayloadVersion: { kind: 'integer' },
  PayloadDisplayName: { kind: 'string' },
  PayloadDescription: { kind: 'string' },
  PayloadOrganization: { kind: 'string' },
};

const PROFILE_ITEM: FieldTable<ProfileListItem, 'raw'> = {
  PayloadIdentifier: { kind: 'string', required: true },
  PayloadUUID: { kind: 'string', required: true },
  PayloadVersion: { kind: 'integer' },
  PayloadDisplayName: { kind: 'string' },
  PayloadOrganization: { kind: 'string' },
  PayloadDescription: { kind: 'string' },
  PayloadRemovalDisallowed: { kind: 'boolean' },
  HasRemovalPasscode: { kind: 'boolean' },
  IsEncrypted: { kind: 'boolean' },
  SignerCertificates: { parse: arrayOfKind<Uint8Array>('data') },
  IsManaged: { kind: 'boolean' },
  Source: { kind: 'string' },
  PayloadContent: {
    parse: arrayOf((value, path) => {
      const { fields, raw } = readFields<Omit<ProfilePayloadItem, 'raw'>>(expectDict(value, path), PAYLOAD_ITEM, path);
      return { ...fields, raw };
    }),
  },
};

const parseItems = arrayOf((value, path): ProfileListItem => {
  const { fields, raw } = readFields<Omit<ProfileListItem, 'raw'>>(expectDict(value, path), PROFILE_ITEM, path);
  return { ...fields, raw };
});

/**
 * Reads a ProfileList result: a CommandReport's `response` (or the whole decoded report).
 * `ProfileList` is required (it may be empty); each item needs PayloadIdentifier and PayloadUUID,
 * each PayloadContent item PayloadType and PayloadIdentifier. A wrong type anywhere is an
 * MdmProtocolError with its path, e.g. "ProfileList[1].PayloadContent[0].PayloadType".
 */
export function parseProfileListResponse(value: unknown): ProfileListResponse {
  const response = expectDict(value, 'ProfileList response');
  const { fields } = readFields<ProfileListResponse>(response, { ProfileList: { parse: parseItems, required: true } }, '');
  return { ProfileList: fields.ProfileList };
}
