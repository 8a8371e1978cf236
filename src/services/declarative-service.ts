// Declarative Device Management over the DeclarativeManagement check-in (declarative/protocol/*.yaml,
// mdm/checkin/declarativemanagement.yaml). What lockwarden wants on an enrollment comes from an
// injected provider (configurations only: today at most one passcode settings declaration); this
// service adds what DDM needs around them and answers the four endpoints:
//
// - a com.apple.configuration.management.status-subscriptions configuration, so the device reports
//   passcode.is-compliant, passcode.is-present and management.declarations;
// - one com.apple.activation.simple activation whose StandardConfigurations names every
//   configuration (a configuration no activation names is never applied: Info.NotReferencedByActivation);
// - `tokens`, `declaration-items`, `declaration/<group>/<identifier>`, and `status`, whose report
//   is merged into the enrollment's stored status (mdm/declarative-status.ts).
//
// Token rules. Each declaration's ServerToken follows its content: the provider's own when it gives
// one (compileDeclaration hashes the payload, and compliance compares against that very token),
// otherwise a hash of Type, Identifier and Payload. The DeclarationsToken hashes the manifest
// (every Identifier and ServerToken), so it changes exactly when a declaration is added, removed or
// changed. The SyncTokens Timestamp is when this enrollment's DeclarationsToken last changed, kept
// in the store, so it does not move while nothing changes.
//
// A provider that returns no configurations gives the empty manifest: no activation, no
// subscription, the same DeclarationsToken lockwarden always served before there were declarations.

import { createHash } from 'node:crypto';
import { declarativeManagementCommand } from '../mdm/commands.ts';
import type { DeclarativeManagementMessage } from '../mdm/checkin-messages.ts';
import { parseDeclarativeEndpoint } from '../mdm/checkin-messages.ts';
import { mergeStatusReport, parseStatusReport } from '../mdm/declarative-status.ts';
import type { StatusReport } from '../mdm/declarative-status.ts';
import type { EnrollmentRef } from '../mdm/enrollment-id.ts';
import type { DeclarativeManagementResponse, RequestContext } from '../mdm/handler.ts';
import { MdmProtocolError } from '../mdm/protocol-error.ts';
import { encodePlist } from '../plist/plist-codec.ts';
import { canonicalJson } from '../policy/index.ts';
import type { Store } from '../store/database.ts';
import { UnknownEnrollmentError } from '../store/errors.ts';
import type { DeclarationGroup, DeclarativeStatus } from '../store/types.ts';
import { SYSTEM_ACTOR } from './audit-log.ts';
import type { AuditActor, AuditLog } from './audit-log.ts';
import { enqueueAudited } from './command-enqueue.ts';
import { DeviceRefusedError } from './device-refusal.ts';

export const SIMPLE_ACTIVATION_TYPE = 'com.apple.activation.simple';
export const STATUS_SUBSCRIPTIONS_TYPE = 'com.apple.configuration.management.status-subscriptions';
/** Stable identifiers: a change of content changes their ServerToken, never their Identifier. */
export const ACTIVATION_IDENTIFIER = 'com.lockwarden.ddm.activation';
export const STATUS_SUBSCRIPTIONS_IDENTIFIER = 'com.lockwarden.ddm.status-subscriptions';
/** declarative/status/*.yaml `statusitemtype` names. */
export const SUBSCRIBED_STATUS_ITEMS = ['management.declarations', 'passcode.is-compliant', 'passcode.is-present'] as const;

/** A declaration as served (declarative/declarations/declarationbase.yaml: all four keys required). */
export interface Declaration {
  Type: string;
  Identifier: string;
  ServerToken: string;
  Payload: Record<string, unknown>;
}

/** A configuration the provider wants on the enrollment; without a ServerToken, one is derived from the content. */
export interface ConfigurationDeclaration {
  Type: string;
  Identifier: string;
  /** Must change whenever Type, Identifier or Payload does (compileDeclaration's does). */
  ServerToken?: string;
  Payload: Record<string, unknown>;
}

export interface DeclarationSet {
  configurations: readonly ConfigurationDeclaration[];
}

/** The enrollment a DeclarativeManagement check-in came from. */
export type DeclarativeEnrollment = Pick<EnrollmentRef, 'deviceId' | 'enrollmentId' | 'channel' | 'type'>;

/** What lockwarden wants on an enrollment; called at each DDM request, so it must be cheap enough for that. */
export type DeclarationsProvider = (enrollment: DeclarativeEnrollment) => Promise<DeclarationSet>;

/** The provider until policy assignments supply one: no declarations for anyone. */
export const noDeclarations: DeclarationsProvider = async () => ({ configurations: [] });

/** Everything served to one enrollment, by manifest group, with the DeclarationsToken over it. */
export interface ServedDeclarations {
  declarationsToken: string;
  activations: Declaration[];
  configurations: Declaration[];
  assets: Declaration[];
  management: Declaration[];
}

export interface DeclarativeServiceDeps {
  store: Store;
  declarationsFor: DeclarationsProvider;
  /** Needed by requestSync only: a queued command always has its audit event. */
  audit?: AuditLog;
  /** Wakes enrollments after requestSync queued the command (runtime.push). */
  push?: (enrollmentIds: string[]) => Promise<unknown>;
  now?: () => number;
  /**
   * Told after a status report was stored (compliance takes its evidence from the stored status).
   * In-memory and synchronous: it must not do I/O on the device's request.
   */
  onStatus?: (enrollmentId: string) => void;
}

export interface SyncRequest {
  commandUuid: string;
  /** Enrollments the command was queued for. */
  queued: number;
  /** What push returned, when there is a push. */
  pushed?: unknown;
}

export interface SyncOptions {
  actor?: AuditActor;
  /** Default true. False when the caller queues more commands for the same devices and pushes once itself. */
  push?: boolean;
  /** The command's CommandUUID, when the caller records it before queuing; default a fresh one. */
  commandUuid?: string;
}

export interface DeclarativeService {
  /** The DeclarativeManagement check-in's answer (the CheckinHandler method). */
  answer(ctx: RequestContext, message: Pick<DeclarativeManagementMessage, 'Endpoint' | 'Data'> & { endpoint?: DeclarativeManagementMessage['endpoint'] }): Promise<DeclarativeManagementResponse>;
  /** What the enrollment is served now: compliance compares the device's status against this. */
  served(enrollment: DeclarativeEnrollment): Promise<ServedDeclarations>;
  /** The enrollment's reported status, typed (store.declarative.statusOf). */
  statusOf(enrollmentId: string): Promise<DeclarativeStatus | undefined>;
  /**
   * Queues one DeclarativeManagement command for the enrollments (audited) and pushes them: each
   * device then asks for tokens and fetches whatever changed. NotEnrolledError when one of them
   * cannot take commands; nothing is queued then.
   */
  requestSync(enrollmentIds: readonly string[], opts?: SyncOptions): Promise<SyncRequest>;
}

const MANIFEST_KEYS = [
  ['Activations', 'activations', 'activation'],
  ['Configurations', 'configurations', 'configuration'],
  ['Assets', 'assets', 'asset'],
  ['Management', 'management', 'management'],
] as const;

type GroupKey = (typeof MANIFEST_KEYS)[number][1];

const GROUP_KEY: Record<DeclarationGroup, GroupKey> = {
  activation: 'activations',
  configuration: 'configurations',
  asset: 'assets',
  management: 'management',
};

/** declarationbase.yaml: Identifier and ServerToken "should not exceed 64 octets"; 32 hex digits keep well inside. */
const hash32 = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 32);

function declaration(type: string, identifier: string, payload: Record<string, unknown>): Declaration {
  return { Type: type, Identifier: identifier, ServerToken: hash32(canonicalJson({ Type: type, Identifier: identifier, Payload: payload })), Payload: payload };
}

/** The manifest's Declarations, in Apple's key order with members by Identifier, so equal sets give equal bytes. */
function manifestOf(served: Omit<ServedDeclarations, 'declarationsToken'>): Record<string, { Identifier: string; ServerToken: string }[]> {
  const manifest: Record<string, { Identifier: string; ServerToken: string }[]> = {};
  for (const [key, group] of MANIFEST_KEYS) manifest[key] = served[group].map((d) => ({ Identifier: d.Identifier, ServerToken: d.ServerToken }));
  return manifest;
}

const byIdentifier = (a: Declaration, b: Declaration) => (a.Identifier < b.Identifier ? -1 : a.Identifier > b.Identifier ? 1 : 0);

/** The provider's set checked and completed; a provider's mistake is a server error, never a half-served set. */
export function buildServed(set: DeclarationSet): ServedDeclarations {
  const seen = new Set<string>([ACTIVATION_IDENTIFIER, STATUS_SUBSCRIPTIONS_IDENTIFIER]);
  const configurations: Declaration[] = [];
  for (const c of set.configurations) {
    if (typeof c.Type !== 'string' || !c.Type.startsWith('com.apple.configuration.')) throw new Error(`declarations provider: ${String(c.Type)} is not a configuration type`);
    if (typeof c.Identifier !== 'string' || c.Identifier === '') throw new Error('declarations provider: a configuration has no Identifier');
    if (seen.has(c.Identifier)) throw new Error(`declarations provider: the Identifier ${c.Identifier} is used twice or reserved`);
    if (typeof c.Payload !== 'object' || c.Payload === null || Array.isArray(c.Payload)) throw new Error(`declarations provider: ${c.Identifier} has no Payload dictionary`);
    if (c.ServerToken !== undefined && (typeof c.ServerToken !== 'string' || c.ServerToken === '')) throw new Error(`declarations provider: ${c.Identifier} has an empty ServerToken`);
    seen.add(c.Identifier);
    const derived = declaration(c.Type, c.Identifier, c.Payload);
    configurations.push(c.ServerToken === undefined ? derived : { ...derived, ServerToken: c.ServerToken });
  }
  const groups: Omit<ServedDeclarations, 'declarationsToken'> = { activations: [], configurations: [], assets: [], management: [] };
  if (configurations.length > 0) {
    const subscriptions = declaration(STATUS_SUBSCRIPTIONS_TYPE, STATUS_SUBSCRIPTIONS_IDENTIFIER, {
      StatusItems: SUBSCRIBED_STATUS_ITEMS.map((Name) => ({ Name })),
    });
    groups.configurations = [...configurations, subscriptions].sort(byIdentifier);
    groups.activations = [declaration(SIMPLE_ACTIVATION_TYPE, ACTIVATION_IDENTIFIER, {
      StandardConfigurations: groups.configurations.map((c) => c.Identifier),
    })];
  }
  // Plain JSON rather than canonicalJson: the manifest is built in a fixed order, and this keeps the
  // empty manifest's token the one lockwarden served before it had declarations.
  return { declarationsToken: hash32(JSON.stringify(manifestOf(groups))), ...groups };
}

/** RFC 3339 to the second, as SynchronizationTokens' Timestamp. */
function timestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function createDeclarativeService(deps: DeclarativeServiceDeps): DeclarativeService {
  const { store, declarationsFor, audit, push, now = Date.now, onStatus } = deps;

  const served = async (enrollment: DeclarativeEnrollment) => buildServed(await declarationsFor(enrollment));

  const unknownEnrollment = (enrollmentId: string) => new DeviceRefusedError(403, `unknown enrollment ${enrollmentId}: it never completed TokenUpdate`);

  const answer: DeclarativeService['answer'] = async (ctx, message) => {
    const e = ctx.enrollment;
    if (!e) throw new DeviceRefusedError(400, 'the message names no enrollment');
    const endpoint = message.endpoint ?? parseDeclarativeEndpoint(message.Endpoint);
    try {
      switch (endpoint.kind) {
        case 'tokens': {
          const current = await served(e);
          const changedAt = await store.declarative.noteToken(e.enrollmentId, current.declarationsToken, { now: ctx.now });
          return { SyncTokens: { DeclarationsToken: current.declarationsToken, Timestamp: timestamp(changedAt) } };
        }
        case 'declaration-items': {
          const current = await served(e);
          await store.declarative.noteToken(e.enrollmentId, current.declarationsToken, { now: ctx.now, fetched: true });
          return { Declarations: manifestOf(current), DeclarationsToken: current.declarationsToken };
        }
        case 'declaration': {
          const group = Object.hasOwn(GROUP_KEY, endpoint.type) ? GROUP_KEY[endpoint.type as DeclarationGroup] : undefined;
          const found = group && (await served(e))[group].find((d) => d.Identifier === endpoint.identifier);
          if (!found) throw new DeviceRefusedError(404, `no declaration at ${message.Endpoint}`);
          return { ...found };
        }
        case 'status': {
          let report: StatusReport;
          try {
            report = parseStatusReport(message.Data);
          } catch (err) {
            if (err instanceof MdmProtocolError) throw new DeviceRefusedError(400, err.reason);
            throw err;
          }
          await store.declarative.updateStatus(e.enrollmentId, (previous) => mergeStatusReport(previous, report), ctx.now);
          ctx.log.debug({ enrollmentId: e.enrollmentId, fullReport: report.fullReport, errors: report.errors.length }, 'declarative status report');
          onStatus?.(e.enrollmentId);
          return undefined;
        }
      }
    } catch (err) {
      if (err instanceof UnknownEnrollmentError) throw unknownEnrollment(e.enrollmentId);
      throw err;
    }
  };

  return {
    answer,
    served,
    statusOf: (enrollmentId) => store.declarative.statusOf(enrollmentId),
    async requestSync(enrollmentIds, opts = {}) {
      if (!audit) throw new Error('requestSync needs the audit log: a queued command always has its audit event');
      const ids = [...new Set(enrollmentIds)];
      // No tokens in Data: the command may wait in the queue (NotNow, offline), and a token frozen
      // at enqueue time could match what the device holds while the declarations moved on since.
      const command = declarativeManagementCommand({}, opts.commandUuid);
      const queued = ids.length === 0 ? 0 : await enqueueAudited(store, audit, opts.actor ?? SYSTEM_ACTOR, {
        uuid: command.CommandUUID,
        requestType: 'DeclarativeManagement',
        body: Buffer.from(encodePlist(command)),
      }, ids, { now: now() });
      if (ids.length === 0 || !push || opts.push === false) return { commandUuid: command.CommandUUID, queued };
      return { commandUuid: command.CommandUUID, queued, pushed: await push(ids) };
    },
  };
}
