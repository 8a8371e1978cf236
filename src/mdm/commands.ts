// MDM commands as the device receives them: `{ CommandUUID, Command: { RequestType, … } }`.
// Builders for the commands lockwarden sends, each checked against its request keys in
// reference/apple-device-management/mdm/commands/*.yaml, and a parser for NanoMDM-style raw
// command plists (PUT /v1/enqueue/{id}) that holds them to the same request tables.

import { randomUUID } from 'node:crypto';
import type { BuiltRequestType } from './command-rules.ts';
import { MdmProtocolError } from './protocol-error.ts';
import { arrayOfKind, checkKind, expectDict, own, quote, readFields } from './wire-fields.ts';
import type { AnyFieldSpec, FieldTable, PlistDict } from './wire-fields.ts';

export { COMMAND_RULES, BUILT_REQUEST_TYPES, ACCESS_RIGHTS, commandRefusal } from './command-rules.ts';
export type { BuiltRequestType, CommandRule, CommandTarget, AppleOS, OsRule } from './command-rules.ts';

/** A command dictionary. `C` is the `Command` value; every RequestType has its own. */
export interface MdmCommand<C extends { RequestType: string } = { RequestType: string } & PlistDict> {
  CommandUUID: string;
  Command: C;
}

/** profile.install.yaml */
export interface InstallProfileRequest {
  /** The profile (.mobileconfig), possibly signed and/or encrypted. */
  Payload: Uint8Array;
}
/** profile.remove.yaml */
export interface RemoveProfileRequest {
  /** The profile's PayloadIdentifier. */
  Identifier: string;
}
/** profile.list.yaml */
export interface ProfileListRequest {
  /** iOS/tvOS 13, macOS 10.15; always on under User Enrollment. */
  ManagedOnly?: boolean;
}
/** information.security.yaml: no request keys. */
export type SecurityInfoRequest = Record<string, never>;
/** information.device.yaml */
export interface DeviceInformationRequest {
  /** Key names, e.g. ["OSVersion", "IsSupervised", "IsMultiUser"]. */
  Queries: string[];
  /** iOS 16, macOS 14: up to 32 bytes; needs "DevicePropertiesAttestation" in Queries. */
  DeviceAttestationNonce?: Uint8Array;
}
/** passcode.clear.yaml */
export interface ClearPasscodeRequest {
  /** The UnlockToken the device sent in TokenUpdate. */
  UnlockToken: Uint8Array;
}
/** device.lock.yaml */
export interface DeviceLockRequest {
  /** iOS 7, macOS 10.14; ignored on Shared iPad; n/a visionOS. */
  Message?: string;
  /** iOS 7, macOS 11.5 (Apple silicon); ignored on Shared iPad; n/a visionOS. */
  PhoneNumber?: string;
  /** macOS only: the six-digit Find My PIN. */
  PIN?: string;
}
export type ObliterationBehavior = 'Default' | 'DoNotObliterate' | 'ObliterateWithWarning' | 'Always';
export interface ReturnToService {
  Enabled: boolean;
  WiFiProfileData?: Uint8Array;
  MDMProfileData?: Uint8Array;
}
/** device.erase.yaml */
export interface EraseDeviceRequest {
  /** iOS 11, eSIM. */
  PreserveDataPlan?: boolean;
  /** iOS 11.3; forbidden on Shared iPad; before iOS 14 not with other options. */
  DisallowProximitySetup?: boolean;
  /** macOS only: the six-digit Find My PIN. */
  PIN?: string;
  /** macOS 12: what to do when Erase All Content and Settings cannot run. */
  ObliterationBehavior?: ObliterationBehavior;
  /** iOS 17, tvOS 18. */
  ReturnToService?: ReturnToService;
}
/** declarativemanagement.yaml (command) */
export interface DeclarativeManagementRequest {
  /** JSON TokensResponse; turns DDM on the first time, triggers a sync after. */
  Data?: Uint8Array;
}

export interface RequestTypes {
  InstallProfile: InstallProfileRequest;
  RemoveProfile: RemoveProfileRequest;
  ProfileList: ProfileListRequest;
  SecurityInfo: SecurityInfoRequest;
  DeviceInformation: DeviceInformationRequest;
  ClearPasscode: ClearPasscodeRequest;
  DeviceLock: DeviceLockRequest;
  EraseDevice: EraseDeviceRequest;
  DeclarativeManagement: DeclarativeManagementRequest;
}

export type BuiltCommand<R extends BuiltRequestType> = MdmCommand<{ RequestType: R } & RequestTypes[R]>;

function nonEmptyData(value: unknown, path: string): Uint8Array {
  const data = checkKind(value, 'data', path) as Uint8Array;
  if (data.length === 0) throw new MdmProtocolError(`${path}: is empty`);
  return data;
}

function nonEmptyString(value: unknown, path: string): string {
  const text = checkKind(value, 'string', path) as string;
  if (text.trim() === '') throw new MdmProtocolError(`${path}: is empty`);
  return text;
}

// device.lock.yaml / device.erase.yaml: "The six-character PIN for Find My"; the Mac's lock
// screen takes it on a numeric keypad.
function findMyPin(value: unknown, path: string): string {
  const pin = checkKind(value, 'string', path) as string;
  if (!/^[0-9]{6}$/.test(pin)) throw new MdmProtocolError(`${path}: must be exactly six digits`);
  return pin;
}

const OBLITERATION_BEHAVIORS: readonly ObliterationBehavior[] = ['Default', 'DoNotObliterate', 'ObliterateWithWarning', 'Always'];

const RETURN_TO_SERVICE: FieldTable<ReturnToService> = {
  Enabled: { kind: 'boolean', required: true },
  WiFiProfileData: { kind: 'data' },
  MDMProfileData: { kind: 'data' },
};

const REQUEST_TABLES: { readonly [R in BuiltRequestType]: FieldTable<RequestTypes[R]> } = {
  InstallProfile: { Payload: { parse: nonEmptyData, required: true } },
  RemoveProfile: { Identifier: { parse: nonEmptyString, required: true } },
  ProfileList: { ManagedOnly: { kind: 'boolean' } },
  SecurityInfo: {},
  DeviceInformation: {
    Queries: {
      required: true,
      parse: (value, path) => {
        const queries = arrayOfKind<string>('name')(value, path);
        if (queries.length === 0) throw new MdmProtocolError(`${path}: is empty; name at least one query`);
        return queries;
      },
    },
    DeviceAttestationNonce: {
      parse: (value, path) => {
        const nonce = checkKind(value, 'data', path) as Uint8Array;
        if (nonce.length > 32) throw new MdmProtocolError(`${path}: ${nonce.length} bytes, at most 32 allowed`);
        return nonce;
      },
    },
  },
  ClearPasscode: { UnlockToken: { parse: nonEmptyData, required: true } },
  DeviceLock: {
    Message: { kind: 'string' },
    PhoneNumber: { kind: 'string' },
    PIN: { parse: findMyPin },
  },
  EraseDevice: {
    PreserveDataPlan: { kind: 'boolean' },
    DisallowProximitySetup: { kind: 'boolean' },
    PIN: { parse: findMyPin },
    ObliterationBehavior: {
      parse: (value, path) => {
        const behavior = checkKind(value, 'string', path) as ObliterationBehavior;
        if (!OBLITERATION_BEHAVIORS.includes(behavior)) {
          throw new MdmProtocolError(`${path}: ${quote(behavior)} is not one of ${OBLITERATION_BEHAVIORS.join(', ')}`);
        }
        return behavior;
      },
    },
    ReturnToService: {
      parse: (value, path) => readFields<ReturnToService>(expectDict(value, path), RETURN_TO_SERVICE, path).fields,
    },
  },
  DeclarativeManagement: { Data: { kind: 'data' } },
};

function requestTable(requestType: string): { readonly [key: string]: AnyFieldSpec } | undefined {
  return Object.hasOwn(REQUEST_TABLES, requestType) ? REQUEST_TABLES[requestType as BuiltRequestType] : undefined;
}

/** A fresh CommandUUID: a random UUID in upper case, as Apple's own examples write them. */
export function newCommandUuid(): string {
  return randomUUID().toUpperCase();
}

/**
 * The command dictionary for any RequestType. For the RequestTypes lockwarden builds, the request
 * keys are checked against the command's YAML (required keys, plist types, documented limits);
 * other keys pass through untouched, as do other RequestTypes. Keys whose value is undefined are
 * dropped. Throws MdmProtocolError.
 */
export function commandPlist(commandUuid: string, command: { RequestType: string } & Record<string, unknown>): MdmCommand {
  checkKind(commandUuid, 'identifier', 'CommandUUID');
  const body: PlistDict = {};
  for (const [key, value] of Object.entries(command)) if (value !== undefined) body[key] = value;
  const requestType = checkKind(own(body, 'RequestType'), 'name', 'Command.RequestType') as string;
  const table = requestTable(requestType);
  if (table) readFields(body, table, 'Command', ['RequestType']);
  return { CommandUUID: commandUuid, Command: { ...body, RequestType: requestType } };
}

function build<R extends BuiltRequestType>(requestType: R, request: RequestTypes[R], commandUuid: string): BuiltCommand<R> {
  return commandPlist(commandUuid, { ...request, RequestType: requestType }) as unknown as BuiltCommand<R>;
}

export function installProfileCommand(request: InstallProfileRequest, commandUuid = newCommandUuid()) {
  return build('InstallProfile', request, commandUuid);
}

export function removeProfileCommand(request: RemoveProfileRequest, commandUuid = newCommandUuid()) {
  return build('RemoveProfile', request, commandUuid);
}

export function profileListCommand(request: ProfileListRequest = {}, commandUuid = newCommandUuid()) {
  return build('ProfileList', request, commandUuid);
}

export function securityInfoCommand(request: SecurityInfoRequest = {}, commandUuid = newCommandUuid()) {
  return build('SecurityInfo', request, commandUuid);
}

export function deviceInformationCommand(request: DeviceInformationRequest, commandUuid = newCommandUuid()) {
  return build('DeviceInformation', request, commandUuid);
}

/** Only the wire format: whether a passcode may be cleared is decided in services (decision 9). */
export function clearPasscodeCommand(request: ClearPasscodeRequest, commandUuid = newCommandUuid()) {
  return build('ClearPasscode', request, commandUuid);
}

export function deviceLockCommand(request: DeviceLockRequest = {}, commandUuid = newCommandUuid()) {
  return build('DeviceLock', request, commandUuid);
}

export function eraseDeviceCommand(request: EraseDeviceRequest = {}, commandUuid = newCommandUuid()) {
  return build('EraseDevice', request, commandUuid);
}

export function declarativeManagementCommand(request: DeclarativeManagementRequest = {}, commandUuid = newCommandUuid()) {
  return build('DeclarativeManagement', request, commandUuid);
}

export interface RawCommand {
  commandUuid: string;
  requestType: string;
  /** The dictionary as posted (top-level keys other than CommandUUID and Command included). */
  command: MdmCommand & PlistDict;
}

/**
 * A NanoMDM-style raw command plist posted by existing tooling. Requires CommandUUID (1–128
 * visible ASCII characters) and Command.RequestType (a string); for the RequestTypes lockwarden
 * builds, the request keys must also match the YAML. Throws MdmProtocolError.
 */
export function parseRawCommand(value: unknown): RawCommand {
  const dict = expectDict(value, 'raw command');
  const commandUuid = own(dict, 'CommandUUID');
  if (commandUuid === undefined) throw new MdmProtocolError('CommandUUID is missing');
  checkKind(commandUuid, 'identifier', 'CommandUUID');
  const command = own(dict, 'Command');
  if (command === undefined) throw new MdmProtocolError('Command is missing');
  const body = expectDict(command, 'Command');
  const requestType = own(body, 'RequestType');
  if (requestType === undefined) throw new MdmProtocolError('Command.RequestType is missing');
  checkKind(requestType, 'name', 'Command.RequestType');
  const table = requestTable(requestType as string);
  if (table) readFields(body, table, 'Command', ['RequestType']);
  return {
    commandUuid: commandUuid as string,
    requestType: requestType as string,
    command: dict as MdmCommand & PlistDict,
  };
}
