// Check-in messages (PUT /mdm/checkin), one type per MessageType, every key of
// reference/apple-device-management/mdm/checkin/*.yaml with its plist type. Key names are Apple's,
// so a field reads like the schema and the fixtures.
//
// Presence. The YAML's `presence: required` is often conditional on the platform or enrollment
// (DeviceName is required "on macOS", EnrollmentID "under User Enrollment", UserLongName "on the
// macOS user channel"), and one message cannot tell which platform sent it. So a key is required
// here only when every device sends it; the conditional ones are optional and documented below.
// The one conditional rule enforced is the identity: exactly one of UDID (device enrollment) and
// EnrollmentID (User Enrollment), consistent with the user keys (see enrollment-id.ts).
//
// Unknown keys are kept in `raw` (devices add keys across OS versions). `raw` holds only the keys
// this module does not model, so a modelled secret (UnlockToken, BootstrapToken, Token) never
// rides along when a caller logs `raw`.

import { enrollmentOf } from './enrollment-id.ts';
import type { EnrollmentKeys } from './enrollment-id.ts';
import { MdmProtocolError } from './protocol-error.ts';
import { checkKind, expectDict, own, quote, readFields } from './wire-fields.ts';
import type { AnyFieldSpec, FieldTable, PlistDict } from './wire-fields.ts';

export { MdmProtocolError } from './protocol-error.ts';

interface CheckinBase {
  /** Keys not modelled by this type, as decoded. */
  raw: PlistDict;
}

/** Device channel identity: UDID, or EnrollmentID under User Enrollment (iOS 13, macOS 10.15, visionOS). */
interface DeviceIdentity {
  /** Forbidden under User Enrollment (iOS, macOS, visionOS). */
  UDID?: string;
  /** Only under User Enrollment, where it replaces the UDID. */
  EnrollmentID?: string;
}

/** Device or user channel identity (macOS user channel, Shared iPad user channel, UE user channel). */
interface ChannelIdentity extends DeviceIdentity {
  /** macOS 10.15 User Enrollment, user channel only. */
  EnrollmentUserID?: string;
  /** Shared iPad: the Managed Apple Account, marks the user channel. macOS user channel: the short name. */
  UserShortName?: string;
  /** Shared iPad: always FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF. macOS user channel: the user's GUID. */
  UserID?: string;
  /** macOS user channel: the user's full name (required there). */
  UserLongName?: string;
}

/** mdm/checkin/authenticate.yaml. Device channel only. */
export interface AuthenticateMessage extends CheckinBase, DeviceIdentity {
  MessageType: 'Authenticate';
  /** The APNs topic the device subscribes to. */
  Topic: string;
  /** Required on macOS, n/a elsewhere. */
  DeviceName?: string;
  /** Required on macOS, n/a elsewhere. */
  Model?: string;
  /** Required on macOS, n/a elsewhere. */
  ModelName?: string;
  /** iOS 9, watchOS 10, visionOS; needs AccessRights 16. */
  OSVersion?: string;
  BuildVersion?: string;
  /** e.g. "iPhone15,2". */
  ProductName?: string;
  /** Needs AccessRights 16; forbidden under User Enrollment. */
  SerialNumber?: string;
  /** Not macOS/tvOS; forbidden under User Enrollment. */
  IMEI?: string;
  MEID?: string;
}

/** mdm/checkin/tokenupdate.yaml. Device and user channels. */
export interface TokenUpdateMessage extends CheckinBase, ChannelIdentity {
  MessageType: 'TokenUpdate';
  Topic: string;
  /** APNs device token. */
  Token: Uint8Array;
  /** Must be sent back in every push (`mdm` key). */
  PushMagic: string;
  /**
   * iOS, watchOS, visionOS only; needs AccessRights 4; forbidden on Shared iPad and under User
   * Enrollment. Keep it for ClearPasscode; an absent value never means "delete".
   */
  UnlockToken?: Uint8Array;
  /** true: Setup Assistant waits for DeviceConfigured (device channel) or UserConfigured (Shared iPad user). */
  AwaitingConfiguration?: boolean;
  /** macOS 10.11 user channel (required there): the user is not at the console. */
  NotOnConsole?: boolean;
}

/** mdm/checkin/checkout.yaml. Device channel only; sent when the MDM profile is removed (CheckOutWhenRemoved). */
export interface CheckOutMessage extends CheckinBase, DeviceIdentity {
  MessageType: 'CheckOut';
  Topic: string;
}

/**
 * mdm/checkin/setbootstraptoken.yaml. macOS 10.15+, supervised, device channel. The YAML lists no
 * identifying key; macOS sends its UDID all the same, and the certificate binding identifies the
 * enrollment either way.
 */
export interface SetBootstrapTokenMessage extends CheckinBase, DeviceIdentity {
  MessageType: 'SetBootstrapToken';
  /** Missing or zero-length: remove the escrowed token. */
  BootstrapToken?: Uint8Array;
  AwaitingConfiguration?: boolean;
}

/** mdm/checkin/getbootstraptoken.yaml. macOS 10.15+, supervised, device channel. Identity as SetBootstrapToken. */
export interface GetBootstrapTokenMessage extends CheckinBase, DeviceIdentity {
  MessageType: 'GetBootstrapToken';
  AwaitingConfiguration?: boolean;
}

/** mdm/checkin/userauthenticate.yaml. macOS user channel only; forbidden under User Enrollment. */
export interface UserAuthenticateMessage extends CheckinBase {
  MessageType: 'UserAuthenticate';
  UDID: string;
  /** The local or network user's GUID. */
  UserID: string;
  /**
   * The YAML marks it required, but it only exists in the second request of the handshake, after
   * the server answered the first with a DigestChallenge (Apple's UserAuthenticate discussion).
   */
  DigestResponse?: string;
}

/** mdm/checkin/declarativemanagement.yaml. iOS 15, macOS 13, tvOS 16, visionOS 1.1, watchOS 10. */
export interface DeclarativeManagementMessage extends CheckinBase, ChannelIdentity {
  MessageType: 'DeclarativeManagement';
  /** `tokens`, `declaration-items`, `status` or `declaration/<type>/<identifier>`; see `endpoint`. */
  Endpoint: string;
  /** JSON: a status report for `status`, SynchronizationTokens otherwise. */
  Data?: Uint8Array;
  /** Endpoint, parsed. */
  endpoint: DeclarativeEndpoint;
}

export type DeclarativeEndpoint =
  | { kind: 'tokens' }
  | { kind: 'declaration-items' }
  | { kind: 'status' }
  | { kind: 'declaration'; type: string; identifier: string };

/** Known TokenServiceType values (mdm/checkin/gettoken.yaml rangelist); others pass through. */
export type TokenServiceType = 'com.apple.maid' | 'com.apple.watch.pairing';

export interface GetTokenParameters {
  raw: PlistDict;
  /** Required by com.apple.watch.pairing. */
  SecurityToken?: string;
  PhoneUDID?: string;
  WatchUDID?: string;
}

/** mdm/checkin/gettoken.yaml. iOS 17, macOS 14, visionOS 1.1. */
export interface GetTokenMessage extends CheckinBase, ChannelIdentity {
  MessageType: 'GetToken';
  TokenServiceType: TokenServiceType | (string & {});
  TokenParameters?: GetTokenParameters;
}

export type CheckinMessage =
  | AuthenticateMessage
  | TokenUpdateMessage
  | CheckOutMessage
  | SetBootstrapTokenMessage
  | GetBootstrapTokenMessage
  | UserAuthenticateMessage
  | DeclarativeManagementMessage
  | GetTokenMessage;

export type CheckinMessageType = CheckinMessage['MessageType'];

type Fields<M> = FieldTable<M, 'MessageType' | 'raw' | 'endpoint'>;

const DEVICE_IDENTITY = {
  UDID: { kind: 'identifier' },
  EnrollmentID: { kind: 'identifier' },
} as const;

const CHANNEL_IDENTITY = {
  ...DEVICE_IDENTITY,
  EnrollmentUserID: { kind: 'identifier' },
  UserShortName: { kind: 'identifier' },
  UserID: { kind: 'identifier' },
  UserLongName: { kind: 'string' },
} as const;

const AUTHENTICATE: Fields<AuthenticateMessage> = {
  ...DEVICE_IDENTITY,
  Topic: { kind: 'name', required: true },
  DeviceName: { kind: 'string' },
  Model: { kind: 'string' },
  ModelName: { kind: 'string' },
  OSVersion: { kind: 'string' },
  BuildVersion: { kind: 'string' },
  ProductName: { kind: 'string' },
  SerialNumber: { kind: 'string' },
  IMEI: { kind: 'string' },
  MEID: { kind: 'string' },
};

const TOKEN_UPDATE: Fields<TokenUpdateMessage> = {
  ...CHANNEL_IDENTITY,
  Topic: { kind: 'name', required: true },
  Token: { parse: nonEmptyData, required: true },
  PushMagic: { kind: 'name', required: true },
  UnlockToken: { kind: 'data' },
  AwaitingConfiguration: { kind: 'boolean' },
  NotOnConsole: { kind: 'boolean' },
};

const CHECK_OUT: Fields<CheckOutMessage> = {
  ...DEVICE_IDENTITY,
  Topic: { kind: 'name', required: true },
};

const SET_BOOTSTRAP_TOKEN: Fields<SetBootstrapTokenMessage> = {
  ...DEVICE_IDENTITY,
  BootstrapToken: { kind: 'data' },
  AwaitingConfiguration: { kind: 'boolean' },
};

const GET_BOOTSTRAP_TOKEN: Fields<GetBootstrapTokenMessage> = {
  ...DEVICE_IDENTITY,
  AwaitingConfiguration: { kind: 'boolean' },
};

const USER_AUTHENTICATE: Fields<UserAuthenticateMessage> = {
  UDID: { kind: 'identifier', required: true },
  UserID: { kind: 'identifier', required: true },
  DigestResponse: { kind: 'string' },
};

const DECLARATIVE_MANAGEMENT: Fields<DeclarativeManagementMessage> = {
  ...CHANNEL_IDENTITY,
  Endpoint: { kind: 'string', required: true },
  Data: { kind: 'data' },
};

const TOKEN_PARAMETERS: FieldTable<GetTokenParameters, 'raw'> = {
  SecurityToken: { kind: 'string' },
  PhoneUDID: { kind: 'identifier' },
  WatchUDID: { kind: 'identifier' },
};

const GET_TOKEN: Fields<GetTokenMessage> = {
  ...CHANNEL_IDENTITY,
  TokenServiceType: { kind: 'name', required: true },
  TokenParameters: {
    parse: (value, path) => {
      const { fields, raw } = readFields<Omit<GetTokenParameters, 'raw'>>(expectDict(value, path), TOKEN_PARAMETERS, path);
      return { ...fields, raw };
    },
  },
};

interface MessageRule {
  table: { readonly [key: string]: AnyFieldSpec };
  /** 'required': exactly one of UDID/EnrollmentID; 'optional': checked only when present. */
  identity: 'required' | 'optional';
}

const RULES: Record<CheckinMessageType, MessageRule> = {
  Authenticate: { table: AUTHENTICATE, identity: 'required' },
  TokenUpdate: { table: TOKEN_UPDATE, identity: 'required' },
  CheckOut: { table: CHECK_OUT, identity: 'required' },
  SetBootstrapToken: { table: SET_BOOTSTRAP_TOKEN, identity: 'optional' },
  GetBootstrapToken: { table: GET_BOOTSTRAP_TOKEN, identity: 'optional' },
  UserAuthenticate: { table: USER_AUTHENTICATE, identity: 'required' },
  DeclarativeManagement: { table: DECLARATIVE_MANAGEMENT, identity: 'required' },
  GetToken: { table: GET_TOKEN, identity: 'required' },
};

export const CHECKIN_MESSAGE_TYPES = Object.keys(RULES) as readonly CheckinMessageType[];

/**
 * Validates a decoded check-in body. Throws MdmProtocolError (status 400) when it is not a
 * dictionary, MessageType is missing or unknown, a required key is missing, a key has the wrong
 * plist type, an identifier is not 1–128 visible ASCII characters, or the identifying keys do not
 * name exactly one enrollment.
 */
export function parseCheckinMessage(value: unknown): CheckinMessage {
  const dict = expectDict(value, 'check-in message');
  const type = own(dict, 'MessageType');
  if (type === undefined) throw new MdmProtocolError('MessageType is missing');
  checkKind(type, 'string', 'MessageType');
  if (!Object.hasOwn(RULES, type as string)) {
    throw new MdmProtocolError(
      `MessageType ${quote(type as string)} is not a check-in message (expected one of ${CHECKIN_MESSAGE_TYPES.join(', ')})`,
    );
  }
  const messageType = type as CheckinMessageType;
  const rule = RULES[messageType];
  const { fields, raw } = readFields<PlistDict>(
    dict,
    rule.table,
    messageType,
    ['MessageType'],
  );
  const message = { MessageType: messageType, ...fields, raw } as CheckinMessage;
  if (rule.identity === 'required' || hasIdentity(message)) {
    try {
      enrollmentOf(message as EnrollmentKeys);
    } catch (err) {
      if (err instanceof MdmProtocolError) throw new MdmProtocolError(`${messageType}: ${err.reason}`);
      throw err;
    }
  }
  if (message.MessageType === 'DeclarativeManagement') {
    message.endpoint = parseDeclarativeEndpoint(message.Endpoint);
  }
  return message;
}

function hasIdentity(message: CheckinMessage): boolean {
  const keys = message as EnrollmentKeys;
  return keys.UDID !== undefined || keys.EnrollmentID !== undefined;
}

function nonEmptyData(value: unknown, path: string): Uint8Array {
  const data = checkKind(value, 'data', path) as Uint8Array;
  if (data.length === 0) throw new MdmProtocolError(`${path}: is empty`);
  return data;
}

const DECLARATION_TYPE = /^[a-z][a-z-]*$/;

/**
 * `Endpoint` "must be one of" tokens, declaration-items, status or declaration/…/… (type and
 * identifier separated by slashes), per mdm/checkin/declarativemanagement.yaml. The identifier is
 * everything after the second slash.
 */
export function parseDeclarativeEndpoint(endpoint: string): DeclarativeEndpoint {
  if (endpoint === 'tokens' || endpoint === 'declaration-items' || endpoint === 'status') return { kind: endpoint };
  const match = /^declaration\/([^/]+)\/(.+)$/s.exec(endpoint);
  const type = match?.[1];
  const identifier = match?.[2];
  if (type === undefined || identifier === undefined) {
    throw new MdmProtocolError(
      `DeclarativeManagement.Endpoint: ${quote(endpoint)} is not tokens, declaration-items, status or declaration/<type>/<identifier>`,
    );
  }
  if (!DECLARATION_TYPE.test(type)) {
    throw new MdmProtocolError(`DeclarativeManagement.Endpoint: ${quote(type)} is not a declaration type`);
  }
  if (identifier.length > 1024 || hasControlCharacter(identifier)) {
    throw new MdmProtocolError('DeclarativeManagement.Endpoint: the declaration identifier is too long or has control characters');
  }
  return { kind: 'declaration', type, identifier };
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}
