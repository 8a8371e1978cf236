// Schemas shared by the admin API's routes and its OpenAPI document. Fastify serializes every
// response through its schema (fast-json-stringify): a property missing here is silently
// dropped from the response, so each schema lists exactly what its handler sends.
import type { FastifySchema } from 'fastify';
import type { SwaggerTransform } from '@fastify/swagger';
import { COMPLIANCE_STATES } from '../services/compliance/index.ts';
import { PUSH_RESULTS } from '../services/push/push-service.ts';
import type { ApiTokenRole, EnrollmentChannel, EnrollmentKind, EnrollmentType } from '../store/types.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

// Records, not arrays: the compiler then refuses an enum that misses or invents a member.
const ENROLLMENT_KINDS: Record<EnrollmentKind, true> = { device: true, user: true, 'shared-ipad': true };
const ENROLLMENT_CHANNELS: Record<EnrollmentChannel, true> = { device: true, user: true };
const ENROLLMENT_TYPES: Record<EnrollmentType, true> = { Device: true, 'User Enrollment (Device)': true, User: true, 'User Enrollment': true, 'Shared iPad': true };

const nullableString = { type: ['string', 'null'] } as const;
const timestamp = { type: 'string', format: 'date-time' } as const;

/** RFC 9457 problem details, as admin-auth.ts problem() builds them. */
export const problemSchema = {
  $id: 'Problem',
  type: 'object',
  description: 'RFC 9457 problem details. Some errors add members: `code` (push certificate import), `unknown` (enqueue to unknown enrollments).',
  required: ['type', 'title', 'status'],
  properties: {
    type: { type: 'string', description: 'always about:blank: status and title say what went wrong' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
  },
  // problem(…, extra) adds members per error; the serializer must pass them through.
  additionalProperties: true,
} as const;

/** What deviceView() in admin-routes.ts returns. */
export const deviceSchema = {
  $id: 'Device',
  type: 'object',
  description: 'A device with its enrollments. Escrow is custody status only: the UnlockToken never leaves the server through the API.',
  required: ['udid', 'platform', 'enrollmentKind', 'serialNumber', 'model', 'productName', 'osVersion', 'deviceName', 'escrow', 'enrollments', 'createdAt', 'updatedAt'],
  properties: {
    udid: { type: 'string', description: 'UDID, or the EnrollmentID under User Enrollment' },
    platform: { ...nullableString, description: 'ios, ipados, macos, watchos, visionos, tvos; null until known' },
    enrollmentKind: { type: 'string', enum: Object.keys(ENROLLMENT_KINDS) },
    serialNumber: nullableString,
    model: nullableString,
    productName: nullableString,
    osVersion: nullableString,
    deviceName: nullableString,
    escrow: {
      type: 'object',
      required: ['unlockToken', 'unlockTokenAt', 'bootstrapToken'],
      properties: {
        unlockToken: { type: 'string', enum: ['escrowed', 'absent'] },
        unlockTokenAt: { type: ['string', 'null'], format: 'date-time' },
        bootstrapToken: { type: 'string', enum: ['escrowed', 'absent'] },
      },
    },
    enrollments: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'channel', 'type', 'enabled', 'pushable', 'tokenUpdateCount'],
        properties: {
          id: { type: 'string', description: 'the device id, or `deviceId:userId` for a user channel' },
          channel: { type: 'string', enum: Object.keys(ENROLLMENT_CHANNELS) },
          type: { type: 'string', enum: Object.keys(ENROLLMENT_TYPES) },
          enabled: { type: 'boolean' },
          pushable: { type: 'boolean', description: 'a push token and PushMagic are on file' },
          tokenUpdateCount: { type: 'integer' },
        },
      },
    },
    createdAt: timestamp,
    updatedAt: timestamp,
  },
} as const;

const evidenceSchema = {
  type: 'array',
  description: 'the reports the conclusion rests on, oldest first',
  items: {
    type: 'object',
    required: ['kind', 'at', 'detail'],
    properties: {
      kind: { type: 'string', description: 'ProfileList, SecurityInfo, DDM status, InstallProfile result or DeclarativeManagement result' },
      at: timestamp,
      detail: { type: 'string' },
    },
  },
} as const;

/** What complianceView() in admin-routes.ts returns. */
export const complianceSchema = {
  $id: 'DeviceCompliance',
  type: 'object',
  description: 'The passcode compliance state, decided only from what the device reported, with the reports it rests on.',
  required: ['state', 'reasonCode', 'reason', 'graceDeadline', 'channel', 'channelReason', 'installedAt', 'reinstallCount', 'delivery', 'evidence', 'assessedAt'],
  properties: {
    state: { type: 'string', enum: [...COMPLIANCE_STATES] },
    reasonCode: { type: 'string', description: 'the class of the reason; stable across polls' },
    reason: { type: 'string' },
    graceDeadline: { type: ['string', 'null'], format: 'date-time', description: 'installation + 60 minutes, while in grace and once non-compliant' },
    channel: { type: ['string', 'null'], enum: ['profile', 'ddm', null], description: 'how the policy is delivered: a configuration profile, or a DDM passcode settings declaration' },
    channelReason: { ...nullableString, description: 'why that channel' },
    installedAt: { type: ['string', 'null'], format: 'date-time', description: 'when the current version was confirmed installed' },
    reinstallCount: { type: 'integer', description: 'times lockwarden found its policy gone from the device and delivered it again' },
    delivery: {
      type: ['object', 'null'],
      description: 'the latest command that carried the policy',
      required: ['command', 'commandUuid', 'queuedAt', 'status', 'resultAt'],
      properties: {
        command: { type: 'string', enum: ['InstallProfile', 'DeclarativeManagement'] },
        commandUuid: { type: 'string' },
        queuedAt: timestamp,
        status: { ...nullableString, description: 'the device\'s answer; null while none has arrived' },
        resultAt: { type: ['string', 'null'], format: 'date-time' },
      },
    },
    evidence: evidenceSchema,
    assessedAt: { type: ['string', 'null'], format: 'date-time', description: 'null: not assessed yet' },
  },
} as const;

/** GET /api/v1/devices/{udid}: the device with its compliance. */
export const deviceDetailSchema = {
  $id: 'DeviceDetail',
  type: 'object',
  description: `${deviceSchema.description} With its passcode compliance.`,
  required: [...deviceSchema.required, 'compliance'],
  properties: { ...deviceSchema.properties, compliance: { $ref: `${complianceSchema.$id}#` } },
} as const;

/** One entry of a device's compliance history. */
export const complianceHistorySchema = {
  $id: 'ComplianceHistoryEntry',
  type: 'object',
  description: 'A change of state (or of the reason\'s class, or of the grace deadline); a poll that finds the same situation adds nothing.',
  required: ['seq', 'at', 'fromState', 'toState', 'reasonCode', 'reason', 'graceDeadline', 'evidence'],
  properties: {
    seq: { type: 'integer', description: '1 for the device\'s first entry, then one more per entry' },
    at: timestamp,
    fromState: { type: ['string', 'null'], enum: [...COMPLIANCE_STATES, null], description: 'null for the first entry' },
    toState: { type: 'string', enum: [...COMPLIANCE_STATES] },
    reasonCode: { type: 'string' },
    reason: { type: 'string' },
    graceDeadline: { type: ['string', 'null'], format: 'date-time' },
    evidence: evidenceSchema,
  },
} as const;

/** What PushService.push() returns (services/push/push-service.ts PushSummary). */
export const pushSummarySchema = {
  $id: 'PushSummary',
  type: 'object',
  description: 'The outcome of waking enrollments over APNs.',
  required: ['counts', 'results'],
  properties: {
    counts: {
      type: 'object',
      description: 'pushes per result',
      required: [...PUSH_RESULTS],
      properties: Object.fromEntries(PUSH_RESULTS.map((result) => [result, { type: 'integer' }])),
    },
    results: {
      type: 'array',
      description: 'one per distinct requested id, in request order',
      items: {
        type: 'object',
        required: ['enrollmentId', 'result'],
        properties: {
          enrollmentId: { type: 'string' },
          result: { type: 'string', enum: [...PUSH_RESULTS] },
          status: { type: 'integer', description: "APNs's HTTP status of the last attempt" },
          reason: { type: 'string', description: "Apple's reason, or TopicMismatch, ConnectionError, RetryAfterTooLong" },
          apnsId: { type: 'string' },
          attempts: { type: 'integer' },
          retryAfter: { type: 'number', description: 'seconds APNs asked to wait' },
        },
      },
    },
  },
} as const;

/** Added to the application once, before the route plugins, so every scope can $ref them. */
export const SHARED_SCHEMAS = [problemSchema, deviceSchema, complianceSchema, deviceDetailSchema, complianceHistorySchema, pushSummarySchema] as const;

export const ref = (schema: { $id: string }) => ({ $ref: `${schema.$id}#` });

/** Problem responses, keyed by status, with what each means for the route. */
export function problemResponses(descriptions: Record<number, string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(descriptions).map(([status, description]) => [status, {
    description,
    content: { [PROBLEM_CONTENT_TYPE]: { schema: ref(problemSchema) } },
  }]));
}

// requireRole() accepts a bearer token, or HTTP Basic with the token as the password.
const API_TOKEN_SECURITY: NonNullable<FastifySchema['security']> = [{ bearerAuth: [] }, { basicAuth: [] }];

/**
 * The documentation of a route behind requireRole(): security schemes, the roles in prose
 * (OpenAPI has no place for roles of a bearer token) and the 401/403 it answers.
 */
export function apiTokenRoute(roles: readonly ApiTokenRole[], doc: { tags: string[]; summary: string; description?: string; operationId: string }) {
  const roleLine = `${roles.length === 1 ? 'Role' : 'Roles'}: ${roles.join(', ')}.`;
  return {
    tags: doc.tags,
    summary: doc.summary,
    operationId: doc.operationId,
    description: doc.description ? `${doc.description}\n\n${roleLine}` : roleLine,
    security: API_TOKEN_SECURITY,
  } satisfies FastifySchema;
}

export const AUTH_PROBLEMS = {
  401: 'No valid API token (the response carries `WWW-Authenticate: Bearer`).',
  403: "The token's role may not use this route.",
} as const;

/**
 * Documents a request body that the route parses itself (a raw plist, say): a body schema on
 * the route would make Fastify validate it, so the body only appears in the document.
 */
export function documentedRawBody(contentType: string, description: string): SwaggerTransform {
  return ({ schema, url }) => ({
    url,
    schema: { ...schema, body: { content: { [contentType]: { schema: { type: 'string', format: 'binary', description } } } } },
  });
}
