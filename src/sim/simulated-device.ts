// A simulated Apple device that talks to the server over HTTP only, as a real one does: it
// enrolls from the enrollment URL (profile, then a SCEP or embedded PKCS#12 identity), signs
// every request with Mdm-Signature, sends Authenticate and TokenUpdate, wakes on pushes and
// drains its command queue, keeps the profiles it was given and the passcode its user set, judges
// that passcode against the installed policies with its platform's rules, and answers what its
// kind documents (device-kinds.ts) — nothing more. It can also be told to misbehave.
//
// Time comes from a Clock (clock.ts), so a test can walk a device through the 60-minute passcode
// grace period without waiting.

import { randomBytes, randomUUID } from 'node:crypto';
import type { SigningIdentity } from '../crypto/cms-signer.ts';
import { COMMAND_RULES, commandRefusal } from '../mdm/command-rules.ts';
import type { BuiltRequestType, CommandTarget } from '../mdm/command-rules.ts';
import { parseRawCommand } from '../mdm/commands.ts';
import { SHARED_IPAD_USER_ID } from '../mdm/enrollment-id.ts';
import type { EnrollmentType } from '../mdm/enrollment-id.ts';
import { MdmProtocolError } from '../mdm/protocol-error.ts';
import { readProfileBytes } from '../plist/mobileconfig.ts';
import { encodePlist } from '../plist/plist-codec.ts';
import { DDM_PASSCODE_TYPE } from '../policy/ddm-declaration.ts';
import { VirtualClock } from './clock.ts';
import type { Clock } from './clock.ts';
import { DeclarationStore, STATUS_SUBSCRIPTIONS, statusReport } from './declarative-client.ts';
import type { DeclarationRejection } from './declarative-client.ts';
import { deviceInformationAnswer, isDict, profileListItem, securityInfoAnswer } from './device-answers.ts';
import type { DeviceFacts, HeldProfile } from './device-answers.ts';
import { APPLE_OS_OF, appliesPasscodeDeclaration, appliesStatusSubscriptions, deviceKind, mayEscrowUnlockToken, reportsPasscodeStatus } from './device-kinds.ts';
import type { DeviceKind, PresetName } from './device-kinds.ts';
import { MdmClient } from './mdm-client.ts';
import type { MdmResponse } from './mdm-client.ts';
import { declarationRequirements, evaluatePasscode, PASSCODE_PAYLOAD_TYPE, passcodeAccepted, payloadRequirements } from './passcode-state.ts';
import type { InstalledPasscodePolicy, PasscodeEvaluation } from './passcode-state.ts';
import { enrollWithScep, readEnrollmentProfile } from './scep-client.ts';
import type { EnrollmentProfileContents } from './scep-client.ts';

/** What the device needs of the server connection: MdmClient, or a fake in unit tests. */
export interface MdmTransport {
  checkIn(message: Record<string, unknown>): Promise<MdmResponse>;
  connect(report: Record<string, unknown>): Promise<MdmResponse>;
  /** Exact bytes (misbehaviour); only the real client has it. */
  send?(path: string, body: Buffer, contentType: string, headers?: Record<string, string>): Promise<MdmResponse>;
}

/** What the device keeps from its enrollment profile. */
export interface EnrollmentSettings {
  topic: string;
  /** com.apple.mdm AccessRights; ignored under User Enrollment, as the device does. */
  accessRights: number | undefined;
  checkOutWhenRemoved: boolean;
  serverCapabilities: readonly string[];
  /** The enrollment profile as installed; ProfileList shows it. */
  profile: Record<string, unknown>;
}

export type Channel = 'device' | 'user';

export interface ReceivedCommand {
  channel: Channel;
  commandUuid: string;
  requestType: string;
  status: string;
  /** Virtual clock. */
  at: number;
  errorChain?: Record<string, unknown>[];
}

export interface ReceivedPush {
  channel: Channel;
  /** The `mdm` value of the push (the PushMagic). */
  pushMagic: string;
  apnsId?: string;
  at: number;
}

export interface HttpRefusal {
  /** Check-in message type or connect report status. */
  what: string;
  status: number;
  body: string;
}

export interface SimulatedDeviceOptions {
  kind: PresetName | DeviceKind;
  clock?: Clock;
  /**
   * Where the server really is (e.g. http://127.0.0.1:PORT). The server advertises https:// URLs
   * (Apple's rule for ServerURL); the simulator keeps their path and query and sends them here.
   */
  baseUrl?: string;
  udid?: string;
  serialNumber?: string;
  deviceName?: string;
  /** The passcode the user has set before enrollment; none by default. */
  passcode?: string;
  /** The Shared iPad's signed-in Managed Apple Account, or the Mac's logged-in user (short name). */
  userShortName?: string;
}

export interface EnrollOptions {
  identity: 'scep' | 'pkcs12';
  /**
   * Install the profile as if its AccessRights had been edited to this value first (an admin
   * editing an unsigned profile). The server offers no setting for it; it decides the UnlockToken.
   */
  accessRights?: number;
}

export type GarbageKind = 'not-a-plist' | 'truncated-plist' | 'unsigned' | 'signature-of-other-body' | 'unknown-message-type' | 'other-device';

/** The network a device is reachable on (the APNs mock): it holds pushes while the device is offline. */
export interface PushNetwork {
  setOnline(token: string, online: boolean): void;
}

interface ChannelState {
  pushToken: Buffer;
  pushMagic: string;
  /** The keys that name this channel in every message. */
  keys: Record<string, string>;
  enrollmentType: EnrollmentType;
}

interface InstalledProfile extends HeldProfile {
  installedAt: number;
  passcode: InstalledPasscodePolicy[];
}

type Report = Record<string, unknown>;

const MAX_COMMANDS_PER_WAKE = 200;
const PER_USER_CONNECTIONS = 'com.apple.mdm.per-user-connections';

// The ErrorChain a refusal carries. Apple documents the shape (ErrorCode, ErrorDomain,
// LocalizedDescription, USEnglishDescription) but not the codes; these are the simulator's own.
const ERRORS = {
  unsupported: { domain: 'MCMDMErrorDomain', code: 12021 },
  profileUnreadable: { domain: 'MCProfileErrorDomain', code: 1000 },
  profileMalformed: { domain: 'MCProfileErrorDomain', code: 1001 },
  payloadRefused: { domain: 'MCPayloadErrorDomain', code: 2002 },
  profileNotFound: { domain: 'MCProfileErrorDomain', code: 1003 },
  removalRefused: { domain: 'MCProfileErrorDomain', code: 1005 },
  unlockToken: { domain: 'MCMDMErrorDomain', code: 12079 },
} as const;

export class SimulatedDevice {
  readonly kind: DeviceKind;
  readonly clock: Clock;
  /** The hardware UDID. Under User Enrollment it is never sent; `id` is what the server knows. */
  readonly udid: string;
  readonly facts: DeviceFacts;
  /** Under User Enrollment, the per-enrollment identifier that replaces the UDID on the wire. */
  enrollmentId: string | undefined;

  /** Every push that reached the device, and every command it was sent, with its answer. */
  readonly received: { pushes: ReceivedPush[]; commands: ReceivedCommand[] } = { pushes: [], commands: [] };
  /** Answers from the server other than 200 (the device gives up on that exchange). */
  readonly refusals: HttpRefusal[] = [];
  /** DDM status reports sent, as JSON objects. */
  readonly statusReports: Record<string, unknown>[] = [];
  /** DDM synchronisations that failed (the command was still acknowledged, as a device does). */
  readonly declarativeErrors: string[] = [];
  /** The DeclarativeManagement declarations held. */
  readonly declarations = new DeclarationStore();

  readonly #options: SimulatedDeviceOptions;
  #transport: MdmTransport | undefined;
  #identity: SigningIdentity | undefined;
  #settings: EnrollmentSettings | undefined;
  #device: ChannelState | undefined;
  #user: ChannelState | undefined;
  #unlockTokenSent: Buffer | undefined;
  /** By PayloadIdentifier, the enrollment profile included (managed: false). */
  readonly #profiles = new Map<string, InstalledProfile>();
  #passcode: string | undefined;
  #passcodeChangedAt: number | undefined;
  #locked = false;
  #online = true;
  #network: PushNetwork | undefined;
  #deferredWhileLocked = false;
  #ddmEnabled = false;
  #ddmPolicies: InstalledPasscodePolicy[] = [];
  #ddmInvalid = new Map<string, DeclarationRejection>();
  #lastReportedStatus: string | undefined;
  #eraseAfterReport = false;
  readonly #wakes = new Map<Channel, { running?: Promise<void>; again?: Promise<void> }>();

  constructor(options: SimulatedDeviceOptions) {
    this.#options = options;
    this.kind = deviceKind(options.kind);
    this.clock = options.clock ?? new VirtualClock();
    this.udid = options.udid ?? newUdid(this.kind);
    this.facts = {
      udid: this.udid,
      serialNumber: options.serialNumber ?? newSerialNumber(),
      deviceName: options.deviceName ?? `Simulated ${this.kind.modelName}`,
      ...(this.kind.cellular && { imei: newImei() }),
      wifiMac: newMac(),
      bluetoothMac: newMac(),
    };
    if (options.passcode !== undefined && options.passcode !== '') this.#passcode = options.passcode;
  }

  // ------------------------------------------------------------------ what tests read

  /** The id the server knows the device by: the UDID, or the EnrollmentID under User Enrollment. */
  get id(): string {
    return this.kind.enrollment === 'user' ? (this.enrollmentId ?? '') : this.udid;
  }

  get enrolled(): boolean {
    return this.#settings !== undefined;
  }

  get identity(): SigningIdentity | undefined {
    return this.#identity;
  }

  get settings(): EnrollmentSettings | undefined {
    return this.#settings;
  }

  /** Lowercase hex, as the APNs request path carries it. */
  get pushToken(): string | undefined {
    return this.#device?.pushToken.toString('hex');
  }

  get userPushToken(): string | undefined {
    return this.#user?.pushToken.toString('hex');
  }

  get pushMagic(): string | undefined {
    return this.#device?.pushMagic;
  }

  /** The exact UnlockToken bytes sent in TokenUpdate, or undefined when none was (decision 9). */
  get unlockToken(): Buffer | undefined {
    return this.#unlockTokenSent ? Buffer.from(this.#unlockTokenSent) : undefined;
  }

  get passcode(): string | undefined {
    return this.#passcode;
  }

  get locked(): boolean {
    return this.#locked;
  }

  get online(): boolean {
    return this.#online;
  }

  get ddmEnabled(): boolean {
    return this.#ddmEnabled;
  }

  /** The profiles held, enrollment profile included, as ProfileList reports them. */
  profileList(managedOnly = false): Record<string, unknown>[] {
    return [...this.#profiles.values()]
      .filter((held) => held.managed || (!managedOnly && this.kind.enrollment !== 'user'))
      .map((held) => profileListItem(this.kind, held));
  }

  hasProfile(identifier: string): boolean {
    return this.#profiles.has(identifier);
  }

  /** The passcode judged against every installed policy, now. */
  passcodeStatus(): PasscodeEvaluation {
    return evaluatePasscode({ passcode: this.#passcode, changedAt: this.#passcodeChangedAt, policies: this.#passcodePolicies(), now: this.clock.now() });
  }

  #passcodePolicies(): InstalledPasscodePolicy[] {
    return [...[...this.#profiles.values()].flatMap((held) => held.passcode), ...this.#ddmPolicies];
  }

  // ------------------------------------------------------------------ enrollment

  /** Enroll from an enrollment URL (https://…/mdm/enroll?token=…), as the device's browser would. */
  async enroll(enrollmentUrl: string, options: EnrollOptions): Promise<void> {
    const url = new URL(this.#local(enrollmentUrl));
    if (options.identity === 'pkcs12') url.searchParams.set('identity', 'pkcs12');
    const response = await fetch(url);
    const body = Buffer.from(await response.arrayBuffer());
    if (response.status !== 200) throw new Error(`the enrollment profile was refused: HTTP ${response.status} ${body.toString('utf8').trim()}`);
    await this.enrollWithProfile(body, options);
  }

  /** Install an enrollment profile's bytes: identity, then Authenticate and TokenUpdate. */
  async enrollWithProfile(profileBytes: Uint8Array, options: Partial<EnrollOptions> = {}): Promise<void> {
    const contents = await readEnrollmentProfile(profileBytes);
    const identity = await this.#identityFrom(contents);
    const transport = new MdmClient({
      serverUrl: new URL(this.#local(contents.serverUrl)).origin,
      identity,
      checkInPath: pathOf(this.#local(contents.checkInUrl ?? contents.serverUrl)),
      connectPath: pathOf(this.#local(contents.serverUrl)),
    });
    const accessRights = options.accessRights ?? contents.accessRights;
    const profile = options.accessRights === undefined ? contents.profile : withAccessRights(contents.profile, options.accessRights);
    this.attach(transport, {
      topic: contents.topic,
      accessRights,
      checkOutWhenRemoved: contents.checkOutWhenRemoved,
      serverCapabilities: contents.serverCapabilities,
      profile,
    }, identity);
    await this.checkIn();
  }

  /**
   * Take an enrollment without the network: the transport and the profile's settings. enroll()
   * ends here too; unit tests start here with a fake transport.
   */
  attach(transport: MdmTransport, settings: EnrollmentSettings, identity?: SigningIdentity): void {
    this.#transport = transport;
    this.#settings = settings;
    this.#identity = identity;
    for (const [key, held] of this.#profiles) if (!held.managed) this.#profiles.delete(key);
    this.#profiles.set(String(settings.profile.PayloadIdentifier), { profile: settings.profile, managed: false, installedAt: this.clock.now(), passcode: [] });
    if (this.kind.enrollment === 'user') this.enrollmentId ??= randomUUID().toUpperCase();
    this.#device = {
      pushToken: this.#device?.pushToken ?? randomBytes(32),
      pushMagic: randomUUID().toUpperCase(),
      keys: this.kind.enrollment === 'user' ? { EnrollmentID: this.enrollmentId! } : { UDID: this.udid },
      enrollmentType: this.kind.enrollment === 'user' ? 'User Enrollment (Device)' : 'Device',
    };
    this.#user = undefined;
    // A fresh enrollment is a fresh escrow keybag, so a fresh UnlockToken.
    this.#unlockTokenSent = undefined;
  }

  /**
   * Authenticate, then TokenUpdate on the device channel (and, where the server offers per-user
   * connections, the user channel). Throws with the server's answer when it refuses.
   */
  async checkIn(): Promise<void> {
    const settings = this.#requireEnrolled();
    await this.#expectOk('Authenticate', this.#checkInMessage(this.authenticateMessage()));
    const unlockToken = mayEscrowUnlockToken(this.kind, settings.accessRights) ? randomBytes(256) : undefined;
    await this.#expectOk('TokenUpdate', this.#checkInMessage(this.tokenUpdateMessage('device', unlockToken)));
    this.#unlockTokenSent = unlockToken;
    if (settings.serverCapabilities.includes(PER_USER_CONNECTIONS)) await this.#openUserChannel();
  }

  /** The Authenticate message (mdm/checkin/authenticate.yaml), with the keys this kind sends. */
  authenticateMessage(): Record<string, unknown> {
    const settings = this.#requireEnrolled();
    const kind = this.kind;
    const ue = kind.enrollment === 'user';
    const message: Record<string, unknown> = { MessageType: 'Authenticate', Topic: settings.topic, ...this.#device!.keys };
    // macOS only, and required there.
    if (kind.platform === 'macos') Object.assign(message, { DeviceName: this.facts.deviceName, Model: kind.model, ModelName: kind.modelName });
    // OSVersion, BuildVersion, ProductName, SerialNumber, IMEI need AccessRights 16, which User
    // Enrollment ignores; SerialNumber and IMEI are forbidden under it.
    if (ue || hasRight(settings.accessRights, 16)) {
      Object.assign(message, { OSVersion: kind.osVersion, BuildVersion: kind.buildVersion, ProductName: kind.productName });
      if (!ue) message.SerialNumber = this.facts.serialNumber;
      if (!ue && this.facts.imei !== undefined) message.IMEI = this.facts.imei;
    }
    return message;
  }

  /** The TokenUpdate message (mdm/checkin/tokenupdate.yaml) of a channel. */
  tokenUpdateMessage(channel: Channel, unlockToken?: Buffer): Record<string, unknown> {
    const settings = this.#requireEnrolled();
    const state = this.#channel(channel);
    const message: Record<string, unknown> = {
      MessageType: 'TokenUpdate',
      Topic: settings.topic,
      ...state.keys,
      Token: state.pushToken,
      PushMagic: state.pushMagic,
    };
    if (channel === 'device' && unlockToken !== undefined) message.UnlockToken = unlockToken;
    if (channel === 'user' && this.kind.platform === 'macos') {
      message.UserLongName ??= 'Alex Appleseed';
      message.NotOnConsole = false;
    }
    return message;
  }

  // The user channel exists only when the server offers per-user connections (com.apple.mdm.yaml
  // ServerCapabilities): Shared iPad once a user signs in, macOS for the logged-in user.
  async #openUserChannel(): Promise<void> {
    const kind = this.kind;
    const shortName = this.#options.userShortName;
    let keys: Record<string, string>;
    let enrollmentType: EnrollmentType;
    if (kind.enrollment === 'shared-ipad') {
      keys = { UDID: this.udid, UserID: SHARED_IPAD_USER_ID, UserShortName: shortName ?? 'student1@example.appleaccount.com' };
      enrollmentType = 'Shared iPad';
    } else if (kind.platform === 'macos' && kind.enrollment === 'user') {
      keys = { EnrollmentID: this.enrollmentId!, EnrollmentUserID: randomUUID().toUpperCase() };
      enrollmentType = 'User Enrollment';
    } else if (kind.platform === 'macos') {
      const userId = randomUUID().toUpperCase();
      // UserAuthenticate first (forbidden under User Enrollment); 410 means "not managed".
      const first = await this.#checkInMessage({ MessageType: 'UserAuthenticate', UDID: this.udid, UserID: userId });
      if (first.status === 410) return;
      if (first.status !== 200) throw this.#refused('UserAuthenticate', first);
      const challenge = first.plist?.DigestChallenge;
      if (typeof challenge === 'string' && challenge !== '') {
        const second = await this.#checkInMessage({ MessageType: 'UserAuthenticate', UDID: this.udid, UserID: userId, DigestResponse: 'simulated-digest-response' });
        if (second.status !== 200) throw this.#refused('UserAuthenticate', second);
      }
      keys = { UDID: this.udid, UserID: userId, UserShortName: shortName ?? 'alex', UserLongName: 'Alex Appleseed' };
      enrollmentType = 'User';
    } else {
      return;
    }
    this.#user = { pushToken: randomBytes(32), pushMagic: randomUUID().toUpperCase(), keys, enrollmentType };
    await this.#expectOk('TokenUpdate', this.#checkInMessage(this.tokenUpdateMessage('user')));
  }

  async #identityFrom(contents: EnrollmentProfileContents): Promise<SigningIdentity> {
    if (contents.identity.kind === 'pkcs12') return contents.identity.identity;
    return enrollWithScep(contents.identity.scep, { url: this.#local(contents.identity.scep.url) });
  }

  /**
   * A new enrollment profile over the installed one: a new identity (and UnlockToken, PushMagic)
   * for the same device, which keeps its push token and the profiles the MDM installed.
   */
  reEnroll(enrollmentUrl: string, options: EnrollOptions): Promise<void> {
    return this.enroll(enrollmentUrl, options);
  }

  /**
   * The user removes the MDM profile (or the device is told to): CheckOut when the profile asked
   * for it, then every profile the MDM installed goes with it. Returns the server's answer to
   * CheckOut, if one was sent.
   */
  async checkOut(): Promise<MdmResponse | undefined> {
    const settings = this.#requireEnrolled();
    let answer: MdmResponse | undefined;
    if (settings.checkOutWhenRemoved) {
      answer = await this.#checkInMessage({ MessageType: 'CheckOut', Topic: settings.topic, ...this.#device!.keys });
      if (answer.status !== 200) this.#recordRefusal('CheckOut', answer);
    }
    this.#unenroll();
    return answer;
  }

  #unenroll(): void {
    this.#profiles.clear();
    this.#ddmPolicies = [];
    this.#ddmEnabled = false;
    this.#settings = undefined;
    this.#user = undefined;
  }

  // ------------------------------------------------------------------ the user

  /**
   * The user sets a new passcode. Like the device's passcode screen, it refuses one that breaks
   * an installed policy; `force` skips that check (a device that misbehaves).
   */
  async setPasscode(passcode: string, options: { force?: boolean } = {}): Promise<{ ok: true } | { ok: false; failures: string[] }> {
    if (!options.force) {
      const accepted = passcodeAccepted(passcode, this.#passcodePolicies());
      if (!accepted.ok) return accepted;
    }
    this.#passcode = passcode === '' ? undefined : passcode;
    this.#passcodeChangedAt = this.clock.now();
    await this.#reportStatusIfChanged();
    return { ok: true };
  }

  /** The user turns the passcode off; refused while a policy requires one. */
  async clearPasscode(): Promise<{ ok: true } | { ok: false; failures: string[] }> {
    return this.setPasscode('');
  }

  /**
   * The user removes a profile in Settings. Refused for a profile with PayloadRemovalDisallowed
   * where the platform honours it (macOS always; iOS, iPadOS and tvOS when supervised), and for
   * the enrollment profile (use checkOut()).
   */
  async userRemovesProfile(identifier: string): Promise<{ ok: true } | { ok: false; reason: string }> {
    const held = this.#profiles.get(identifier);
    if (!held) return { ok: false, reason: `no profile ${identifier} is installed` };
    if (!held.managed) return { ok: false, reason: `${identifier} is the MDM enrollment profile: removing it is checkOut()` };
    if (held.profile.PayloadRemovalDisallowed === true && this.#honoursRemovalDisallowed()) {
      return { ok: false, reason: `${identifier} does not allow removal (PayloadRemovalDisallowed)` };
    }
    this.#profiles.delete(identifier);
    await this.#reportStatusIfChanged();
    return { ok: true };
  }

  // TopLevel.yaml PayloadRemovalDisallowed: supervised on iOS/tvOS, n/a on visionOS/watchOS.
  #honoursRemovalDisallowed(): boolean {
    const platform = this.kind.platform;
    if (platform === 'macos') return true;
    if (platform === 'ios' || platform === 'ipados' || platform === 'tvos') return this.kind.supervised;
    return false;
  }

  /** The screen locks: Data Protection defers what COMMAND_RULES marks notNowWhenLocked. */
  lock(): void {
    if (!this.kind.lockable) throw new Error(`${this.kind.name} has no lock screen`);
    if (this.#passcode === undefined) throw new Error('without a passcode there is no Data Protection lock, so nothing is deferred');
    this.#locked = true;
  }

  /** The user unlocks; a device that answered NotNow meanwhile checks in again, as Apple's devices do. */
  async unlock(): Promise<void> {
    this.#locked = false;
    if (this.#deferredWhileLocked) {
      this.#deferredWhileLocked = false;
      await this.wake('device');
    }
  }

  // ------------------------------------------------------------------ network

  /** The device is put on a push network (the APNs mock) that can hold pushes while it is away. */
  connectPushNetwork(network: PushNetwork): void {
    this.#network = network;
  }

  /** Goes offline: the APNs mock holds its pushes, and it stops waking. */
  dropOff(): void {
    this.#online = false;
    for (const token of [this.pushToken, this.userPushToken]) if (token) this.#network?.setOnline(token, false);
  }

  /** Back online: the APNs mock delivers what it still holds (unless expired). */
  comeBack(): void {
    this.#online = true;
    for (const token of [this.pushToken, this.userPushToken]) if (token) this.#network?.setOnline(token, true);
  }

  /** Which channel a push token (lowercase hex) belongs to, if it is this device's. */
  channelOfToken(token: string): Channel | undefined {
    if (this.#device && this.#device.pushToken.toString('hex') === token) return 'device';
    if (this.#user && this.#user.pushToken.toString('hex') === token) return 'user';
    return undefined;
  }

  /** A push arrived. A push whose magic is not the channel's is ignored, as the device ignores it. */
  receivePush(push: { token: string; body: { mdm: string }; apnsId?: string }): Promise<void> {
    const channel = this.channelOfToken(push.token.toLowerCase());
    if (channel === undefined || !this.#online || !this.enrolled) return Promise.resolve();
    const state = this.#channel(channel);
    this.received.pushes.push({ channel, pushMagic: push.body.mdm, ...(push.apnsId !== undefined && { apnsId: push.apnsId }), at: this.clock.now() });
    if (push.body.mdm !== state.pushMagic) return Promise.resolve();
    return this.wake(channel);
  }

  /**
   * Connect and work through the command queue: Idle, then one report per command, until the
   * server has nothing more. Wakes of one channel never overlap: a wake asked for while one runs
   * becomes one more wake after it (a push may arrive while the device is busy with the last).
   */
  wake(channel: Channel = 'device'): Promise<void> {
    let lane = this.#wakes.get(channel);
    if (!lane) this.#wakes.set(channel, (lane = {}));
    if (lane.running) {
      const current = lane;
      current.again ??= current.running!.then(() => undefined, () => undefined).then(() => {
        current.again = undefined;
        return this.wake(channel);
      });
      return current.again;
    }
    const running = this.#drain(channel).finally(() => {
      if (lane.running === running) lane.running = undefined;
    });
    lane.running = running;
    return running;
  }

  async #drain(channel: Channel): Promise<void> {
    if (!this.enrolled || !this.#online) return;
    const state = this.#channel(channel);
    const transport = this.#transport!;
    if (channel === 'device') await this.#reportStatusIfChanged();
    let report: Report = { ...state.keys, Status: 'Idle' };
    for (let i = 0; i < MAX_COMMANDS_PER_WAKE; i++) {
      const response = await transport.connect(report);
      if (this.#eraseAfterReport) {
        // Acknowledged, then gone: no profiles, no passcode, no enrollment, no CheckOut.
        this.#eraseAfterReport = false;
        this.#unenroll();
        this.#passcode = undefined;
        this.#passcodeChangedAt = this.clock.now();
        this.#locked = false;
        return;
      }
      if (response.status !== 200) {
        this.#recordRefusal(String(report.Status), response);
        return;
      }
      if (!response.plist) return;
      const result = await this.execute(response.plist, channel);
      // A command the device cannot even name (no CommandUUID) is dropped, and so is the exchange.
      if (result === undefined || !this.enrolled) return;
      report = { ...state.keys, ...result };
    }
    throw new Error(`more than ${MAX_COMMANDS_PER_WAKE} commands in one wake: the server keeps answering`);
  }

  // ------------------------------------------------------------------ commands

  /**
   * What the device reports for one command (Status, CommandUUID, ErrorChain and the
   * command's response keys), or undefined when it has no CommandUUID to report against.
   */
  async execute(command: unknown, channel: Channel = 'device'): Promise<Report | undefined> {
    const commandUuid = isDict(command) && typeof command.CommandUUID === 'string' && command.CommandUUID !== '' ? command.CommandUUID : undefined;
    if (commandUuid === undefined) return undefined;
    const requestType = isDict(command) && isDict(command.Command) && typeof command.Command.RequestType === 'string' ? command.Command.RequestType : '(none)';
    const report = await this.#answer(command, commandUuid, requestType, channel);
    const status = String(report.Status);
    this.received.commands.push({
      channel,
      commandUuid,
      requestType,
      status,
      at: this.clock.now(),
      ...(Array.isArray(report.ErrorChain) && { errorChain: report.ErrorChain as Record<string, unknown>[] }),
    });
    return report;
  }

  async #answer(command: unknown, commandUuid: string, requestType: string, channel: Channel): Promise<Report> {
    const done = (extra: Report = {}): Report => ({ Status: 'Acknowledged', CommandUUID: commandUuid, ...extra });
    const failed = (error: { domain: string; code: number }, description: string): Report => ({
      Status: 'Error',
      CommandUUID: commandUuid,
      ErrorChain: [{ ErrorCode: error.code, ErrorDomain: error.domain, LocalizedDescription: description, USEnglishDescription: description }],
    });
    const formatError = (): Report => ({ Status: 'CommandFormatError', CommandUUID: commandUuid });

    let request: Record<string, unknown>;
    try {
      // The request keys of the commands lockwarden builds are checked against their YAML.
      request = parseRawCommand(command).command.Command as Record<string, unknown>;
    } catch (err) {
      if (err instanceof MdmProtocolError) return formatError();
      throw err;
    }
    if (!Object.hasOwn(COMMAND_RULES, requestType)) return formatError();
    const refusal = commandRefusal(requestType, this.#commandTarget(channel));
    if (refusal !== undefined) return failed(ERRORS.unsupported, refusal);
    if (this.#locked && COMMAND_RULES[requestType as BuiltRequestType].notNowWhenLocked) {
      this.#deferredWhileLocked = true;
      return { Status: 'NotNow', CommandUUID: commandUuid };
    }
    switch (requestType as BuiltRequestType) {
      case 'InstallProfile': {
        const outcome = await this.#installProfile(request.Payload as Uint8Array);
        return outcome.ok ? done() : failed(outcome.error, outcome.reason);
      }
      case 'RemoveProfile': {
        const identifier = request.Identifier as string;
        const held = this.#profiles.get(identifier);
        if (!held) return failed(ERRORS.profileNotFound, `no profile ${identifier} is installed`);
        if (!held.managed) return failed(ERRORS.removalRefused, `${identifier} was not installed by this MDM`);
        this.#profiles.delete(identifier);
        await this.#reportStatusIfChanged();
        return done();
      }
      case 'ProfileList':
        // "For user enrollments, the device ignores this key and always limits the results to managed profiles."
        return done({ ProfileList: this.profileList(request.ManagedOnly === true) });
      case 'SecurityInfo':
        return done(securityInfoAnswer(this.kind, this.passcodeStatus()));
      case 'DeviceInformation':
        return done(deviceInformationAnswer({ kind: this.kind, facts: this.facts, queries: request.Queries as string[], accessRights: this.#settings?.accessRights }));
      case 'ClearPasscode': {
        const offered = Buffer.from(request.UnlockToken as Uint8Array);
        if (!this.#unlockTokenSent) return failed(ERRORS.unlockToken, 'this device never sent an UnlockToken');
        if (!offered.equals(this.#unlockTokenSent)) return failed(ERRORS.unlockToken, 'the UnlockToken is not this device\'s');
        this.#passcode = undefined;
        this.#passcodeChangedAt = this.clock.now();
        this.#locked = false;
        await this.#reportStatusIfChanged();
        return done();
      }
      case 'DeviceLock':
        if (this.#passcode === undefined || !this.kind.lockable) {
          // device.lock.yaml MessageResult: NoPasscodeSet.
          return done({ MessageResult: 'NoPasscodeSet' });
        }
        this.#locked = true;
        return done({ MessageResult: 'Success' });
      case 'EraseDevice':
        // The device acknowledges, then erases itself (see #drain).
        this.#eraseAfterReport = true;
        return done();
      case 'DeclarativeManagement': {
        const data = request.Data instanceof Uint8Array ? request.Data : undefined;
        let tokens: unknown;
        if (data !== undefined) {
          try {
            tokens = JSON.parse(Buffer.from(data).toString('utf8'));
          } catch {
            return formatError();
          }
        }
        this.#ddmEnabled = true;
        // The command only starts the sync; a failing sync does not fail the command.
        try {
          await this.synchronizeDeclarations(tokens);
        } catch (err) {
          this.declarativeErrors.push(err instanceof Error ? err.message : String(err));
        }
        return done();
      }
    }
    return formatError();
  }

  #commandTarget(channel: Channel): CommandTarget {
    const state = this.#channel(channel);
    return {
      os: APPLE_OS_OF[this.kind.platform],
      osVersion: this.kind.osVersion,
      enrollmentType: state.enrollmentType,
      sharedIPad: this.kind.enrollment === 'shared-ipad',
      supervised: this.kind.supervised,
      ...(this.#settings?.accessRights !== undefined && { accessRights: this.#settings.accessRights }),
    };
  }

  async #installProfile(bytes: Uint8Array): Promise<{ ok: true } | { ok: false; error: { domain: string; code: number }; reason: string }> {
    let plist: unknown;
    try {
      const read = await readProfileBytes(bytes);
      if (read.signature && !read.signature.signatureValid) {
        return { ok: false, error: ERRORS.profileUnreadable, reason: `the profile's signature does not verify: ${read.signature.failure ?? 'invalid'}` };
      }
      plist = read.plist;
    } catch (err) {
      return { ok: false, error: ERRORS.profileUnreadable, reason: `the profile cannot be read: ${err instanceof Error ? err.message : String(err)}` };
    }
    const malformed = (reason: string) => ({ ok: false as const, error: ERRORS.profileMalformed, reason });
    // TopLevel.yaml: the required keys.
    if (!isDict(plist) || plist.PayloadType !== 'Configuration') return malformed('the profile is not a Configuration profile');
    if (typeof plist.PayloadIdentifier !== 'string' || plist.PayloadIdentifier === '') return malformed('PayloadIdentifier is missing');
    if (typeof plist.PayloadUUID !== 'string' || plist.PayloadUUID === '') return malformed('PayloadUUID is missing');
    if (plist.PayloadVersion !== 1) return malformed('PayloadVersion must be 1');
    if (plist.IsEncrypted === true || plist.EncryptedPayloadContent !== undefined) {
      return { ok: false, error: ERRORS.profileUnreadable, reason: 'encrypted profiles are not supported by the simulator' };
    }
    if (!Array.isArray(plist.PayloadContent) || !plist.PayloadContent.every(isDict)) return malformed('PayloadContent must be a list of payload dictionaries');
    if (plist.PayloadRemovalDisallowed === true && this.kind.enrollment === 'user' && this.kind.platform !== 'macos') {
      return { ok: false, error: ERRORS.payloadRefused, reason: 'PayloadRemovalDisallowed is not allowed under User Enrollment' };
    }
    const identifier = plist.PayloadIdentifier;
    const previous = this.#profiles.get(identifier);
    if (previous && !previous.managed) return { ok: false, error: ERRORS.payloadRefused, reason: `${identifier} is the MDM enrollment profile; MDM cannot replace it` };
    const now = this.clock.now();
    const passcode: InstalledPasscodePolicy[] = [];
    for (const payload of plist.PayloadContent as Record<string, unknown>[]) {
      if (typeof payload.PayloadType !== 'string' || typeof payload.PayloadIdentifier !== 'string' || typeof payload.PayloadUUID !== 'string') {
        return malformed('every payload needs PayloadType, PayloadIdentifier and PayloadUUID');
      }
      if (payload.PayloadType === 'com.apple.mdm') return { ok: false, error: ERRORS.payloadRefused, reason: 'an MDM payload cannot be installed through MDM' };
      if (payload.PayloadType !== PASSCODE_PAYLOAD_TYPE) continue;
      const reading = payloadRequirements(this.kind, payload);
      if (!reading.ok) return { ok: false, error: ERRORS.payloadRefused, reason: reading.reason };
      const source = `${identifier}/${payload.PayloadIdentifier}`;
      // Replaced by the same content (same PayloadUUID), the policy did not change: no new grace.
      const unchanged = previous?.passcode.find((p) => p.source === source && p.payloadUuid === payload.PayloadUUID);
      passcode.push({ source, payloadUuid: payload.PayloadUUID, requirements: reading.requirements, installedAt: unchanged?.installedAt ?? now });
    }
    this.#profiles.set(identifier, { profile: plist, managed: true, installedAt: now, passcode });
    await this.#reportStatusIfChanged();
    return { ok: true };
  }

  // ------------------------------------------------------------------ Declarative Device Management

  /** One DDM synchronisation through the DeclarativeManagement check-in, then a status report. */
  async synchronizeDeclarations(tokens?: unknown): Promise<void> {
    await this.declarations.sync((endpoint, data) => this.#declarative(endpoint, data), tokens);
    this.#applyDeclarations();
    await this.#sendStatusReport(true);
  }

  #applyDeclarations(): void {
    const now = this.clock.now();
    const invalid = new Map<string, DeclarationRejection>();
    const policies: InstalledPasscodePolicy[] = [];
    const notSupported = (type: string): DeclarationRejection => ({ code: 'Error.ConfigurationNotSupported', description: `${type} does not apply to this enrollment` });
    for (const held of this.declarations.activeConfigurations()) {
      if (held.type === STATUS_SUBSCRIPTIONS && !appliesStatusSubscriptions(this.kind)) invalid.set(held.identifier, notSupported(STATUS_SUBSCRIPTIONS));
      if (held.type !== DDM_PASSCODE_TYPE) continue;
      if (!appliesPasscodeDeclaration(this.kind)) {
        invalid.set(held.identifier, notSupported(DDM_PASSCODE_TYPE));
        continue;
      }
      const reading = declarationRequirements(this.kind, held.declaration);
      if (!reading.ok) {
        invalid.set(held.identifier, { code: 'Error.ConfigurationCannotBeApplied', description: reading.reason });
        continue;
      }
      const source = `ddm:${held.identifier}`;
      const unchanged = this.#ddmPolicies.find((p) => p.source === source && p.payloadUuid === held.serverToken);
      policies.push({ source, payloadUuid: held.serverToken, requirements: reading.requirements, installedAt: unchanged?.installedAt ?? now });
    }
    this.#ddmPolicies = policies;
    this.#ddmInvalid = invalid;
  }

  async #declarative(endpoint: string, data?: Uint8Array): Promise<unknown> {
    const response = await this.#checkInMessage({
      MessageType: 'DeclarativeManagement',
      Endpoint: endpoint,
      ...this.#device!.keys,
      ...(data !== undefined && { Data: data }),
    });
    if (response.status !== 200) throw this.#refused(`DeclarativeManagement ${endpoint}`, response);
    if (response.body.length === 0) return undefined;
    return JSON.parse(response.body.toString('utf8')) as unknown;
  }

  /** The subscribed passcode status items, as the device would report them now. */
  #passcodeStatusItems(): Map<string, unknown> {
    const items = new Map<string, unknown>();
    if (!reportsPasscodeStatus(this.kind)) return items;
    const subscribed = this.declarations.subscribedStatusItems(this.#ddmInvalid);
    const status = this.passcodeStatus();
    if (subscribed.has('passcode.is-compliant')) items.set('passcode.is-compliant', status.compliant);
    if (subscribed.has('passcode.is-present')) items.set('passcode.is-present', status.present);
    return items;
  }

  async #sendStatusReport(full: boolean): Promise<void> {
    const items = this.#passcodeStatusItems();
    this.#lastReportedStatus = JSON.stringify([...items]);
    if (full) items.set('management.declarations', this.declarations.declarationsStatus(this.#ddmInvalid));
    const report = statusReport(items, full);
    await this.#declarative('status', Buffer.from(JSON.stringify(report)));
    this.statusReports.push(report);
  }

  // Devices report subscribed status items when they change; the passcode ones change with the
  // passcode, the installed policies and the clock (a grace period running out).
  async #reportStatusIfChanged(): Promise<void> {
    if (!this.#ddmEnabled || !this.enrolled || !this.#online) return;
    const items = this.#passcodeStatusItems();
    if (items.size === 0 || JSON.stringify([...items]) === this.#lastReportedStatus) return;
    await this.#sendStatusReport(false);
  }

  // ------------------------------------------------------------------ misbehaviour

  /**
   * Sends any check-in message, signed with this device's identity, and returns the server's
   * answer as it is: for messages a real device would never send (a TokenUpdate with an
   * UnlockToken under User Enrollment, a CheckOut for someone else…).
   */
  sendCheckIn(message: Record<string, unknown>): Promise<MdmResponse> {
    this.#requireEnrolled();
    return this.#checkInMessage(message);
  }

  /**
   * Sends something no well-behaved device sends, and returns the server's answer: bytes that are
   * no plist, half a plist, an unsigned or wrongly signed Idle, an unknown MessageType, or a
   * TokenUpdate that names another device (`otherDeviceId`, or a UDID nobody has).
   */
  async sendGarbage(kind: GarbageKind, otherDeviceId?: string): Promise<MdmResponse> {
    this.#requireEnrolled();
    const transport = this.#transport!;
    if (!transport.send) throw new Error('this transport cannot send raw bytes');
    const connect = this.#connectPath();
    const idle = Buffer.from(encodePlist({ ...this.#device!.keys, Status: 'Idle' }));
    const connectType = 'application/x-apple-aspen-mdm';
    switch (kind) {
      case 'not-a-plist':
        return transport.send(connect, randomBytes(256), connectType);
      case 'truncated-plist':
        return transport.send(connect, idle.subarray(0, Math.floor(idle.length / 2)), connectType);
      case 'unsigned':
        return transport.send(connect, idle, connectType, { 'Mdm-Signature': '' });
      case 'signature-of-other-body': {
        const client = transport as MdmClient;
        const other = Buffer.from(encodePlist({ ...this.#device!.keys, Status: 'Idle', Note: 'other' }));
        return transport.send(connect, idle, connectType, { 'Mdm-Signature': await client.signatureFor(other) });
      }
      case 'unknown-message-type':
        return transport.checkIn({ MessageType: 'Bogus', ...this.#device!.keys, Topic: this.#settings!.topic });
      case 'other-device': {
        const { EnrollmentID: _ownEnrollmentId, ...message } = this.tokenUpdateMessage('device');
        return transport.checkIn({ ...message, UDID: otherDeviceId ?? newUdid(this.kind) });
      }
    }
  }

  /** The path of ServerURL, where command reports go. */
  #connectPath(): string {
    const url = mdmPayloadOf(this.#settings!.profile)?.ServerURL;
    return typeof url === 'string' ? pathOf(this.#local(url)) : '/mdm/connect';
  }

  // ------------------------------------------------------------------ plumbing

  #channel(channel: Channel): ChannelState {
    const state = channel === 'device' ? this.#device : this.#user;
    if (!state) throw new Error(`the ${channel} channel is not enrolled`);
    return state;
  }

  #requireEnrolled(): EnrollmentSettings {
    if (!this.#settings || !this.#transport) throw new Error(`${this.kind.name} ${this.udid} is not enrolled`);
    return this.#settings;
  }

  #checkInMessage(message: Record<string, unknown>): Promise<MdmResponse> {
    if (!this.#transport) throw new Error('not enrolled');
    return this.#transport.checkIn(message);
  }

  async #expectOk(what: string, pending: Promise<MdmResponse>): Promise<MdmResponse> {
    const response = await pending;
    if (response.status !== 200) throw this.#refused(what, response);
    return response;
  }

  #refused(what: string, response: MdmResponse): Error {
    this.#recordRefusal(what, response);
    return new Error(`${what} was refused: HTTP ${response.status} ${response.body.toString('utf8').trim()}`);
  }

  #recordRefusal(what: string, response: MdmResponse): void {
    this.refusals.push({ what, status: response.status, body: response.body.toString('utf8').trim() });
  }

  /** An https URL the server handed out, mapped onto where it really listens. */
  #local(url: string): string {
    const base = this.#options.baseUrl;
    if (base === undefined) return url;
    const parsed = new URL(url, base);
    return new URL(`${parsed.pathname}${parsed.search}`, base).toString();
  }
}

function hasRight(accessRights: number | undefined, bit: number): boolean {
  return ((accessRights ?? 0) & bit) !== 0;
}

function pathOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.pathname}${parsed.search}`;
}

function mdmPayloadOf(profile: Record<string, unknown>): Record<string, unknown> | undefined {
  const content = Array.isArray(profile.PayloadContent) ? profile.PayloadContent : [];
  return content.filter(isDict).find((p) => p.PayloadType === 'com.apple.mdm');
}

function withAccessRights(profile: Record<string, unknown>, accessRights: number): Record<string, unknown> {
  const content = Array.isArray(profile.PayloadContent) ? profile.PayloadContent : [];
  return {
    ...profile,
    PayloadContent: content.map((p) => (isDict(p) && p.PayloadType === 'com.apple.mdm' ? { ...p, AccessRights: accessRights } : p)),
  };
}

// Apple's formats: 8-hex-digit chip id and 16 hex digits on Apple silicon iOS-family devices;
// a UUID on Macs.
function newUdid(kind: DeviceKind): string {
  if (kind.platform === 'macos') return randomUUID().toUpperCase();
  return `0000${randomBytes(2).toString('hex')}-${randomBytes(8).toString('hex')}`.toUpperCase();
}

const SERIAL_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789';

function newSerialNumber(): string {
  return [...randomBytes(10)].map((b) => SERIAL_ALPHABET[b % SERIAL_ALPHABET.length]).join('');
}

function newImei(): string {
  const digits = [...randomBytes(14)].map((b) => b % 10);
  // Luhn check digit, as every IMEI carries.
  let sum = 0;
  digits.forEach((d, i) => {
    const v = i % 2 === 1 ? d * 2 : d;
    sum += v > 9 ? v - 9 : v;
  });
  const check = (10 - (sum % 10)) % 10;
  const all = [...digits, check].join('');
  return `${all.slice(0, 2)} ${all.slice(2, 8)} ${all.slice(8, 14)} ${all.slice(14)}`;
}

function newMac(): string {
  const bytes = randomBytes(6);
  bytes[0] = (bytes[0]! & 0xfe) | 0x02;
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
