// Admin REST API (/api/v1): enrollment tokens, devices, commands. JSON in and out, schemas on
// every route, errors as application/problem+json. Secrets are never part of a response except
// the enrollment token itself, once, at creation.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ComplianceHistoryEntry, ComplianceRecord, Device, Enrollment } from '../store/types.ts';
import type { Store } from '../store/database.ts';
import { commandPlist, newCommandUuid, BUILT_REQUEST_TYPES } from '../mdm/commands.ts';
import { encodePlist } from '../plist/plist-codec.ts';
import { problem, requestActor, requireRole } from './admin-auth.ts';
import { apiTokenRoute, AUTH_PROBLEMS, complianceHistorySchema, deviceDetailSchema, deviceSchema, problemResponses, ref } from './api-schemas.ts';
import type { Runtime } from '../services/runtime.ts';
import type { AuditLog } from '../services/audit-log.ts';
import { enqueueAudited } from '../services/command-enqueue.ts';
import { PushCertificateError } from '../services/push/push-certificate.ts';

export interface AdminRoutesOptions {
  store: Store;
  /** The URL devices reach, used in the enrollment URL handed back; unset: from the request. */
  publicUrl?: string;
  /** Wakes devices after commands are queued; absent while no push service is configured. */
  push?: (enrollmentIds: string[]) => Promise<unknown>;
  /** Imports the MDM push certificate (Runtime.importPushCertificate). */
  importPushCertificate?: Runtime['importPushCertificate'];
  /** Records enrollment-token.create and command.enqueue, each in the action's transaction. */
  audit: AuditLog;
  now?: () => number;
}

export function deviceView(device: Device, enrollments: Enrollment[]) {
  return {
    udid: device.id,
    platform: device.platform,
    enrollmentKind: device.enrollmentKind,
    serialNumber: device.serialNumber,
    model: device.model,
    productName: device.productName,
    osVersion: device.osVersion,
    deviceName: device.deviceName,
    // Custody status only: the UnlockToken itself never leaves the store through the API.
    escrow: {
      unlockToken: device.hasUnlockToken ? 'escrowed' : 'absent',
      unlockTokenAt: device.unlockTokenAt === null ? null : new Date(device.unlockTokenAt).toISOString(),
      bootstrapToken: device.hasBootstrapToken ? 'escrowed' : 'absent',
    },
    enrollments: enrollments.map((e) => ({
      id: e.id,
      channel: e.channel,
      type: e.type,
      enabled: e.enabled,
      pushable: e.pushToken !== null && e.pushMagic !== null,
      tokenUpdateCount: e.tokenUpdateCount,
    })),
    createdAt: new Date(device.createdAt).toISOString(),
    updatedAt: new Date(device.updatedAt).toISOString(),
  };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

interface EvidenceRow { kind: string; at: number; detail: string }

function evidenceView(evidence: unknown[]) {
  // Written by the compliance service from the core's EvidenceRef.
  return (evidence as EvidenceRow[]).map((e) => ({ kind: e.kind, at: new Date(e.at).toISOString(), detail: e.detail }));
}

/** The device's compliance as the API shows it; a device lockwarden has not assessed yet is `unknown`. */
export function complianceView(record: ComplianceRecord | undefined) {
  if (!record) {
    return {
      state: 'unknown', reasonCode: 'no-policy', reason: 'not assessed yet', graceDeadline: null, channel: null, channelReason: null,
      installedAt: null, reinstallCount: 0, delivery: null, evidence: [], assessedAt: null,
    };
  }
  const d = record.delivery;
  return {
    state: record.state,
    reasonCode: record.reasonCode,
    reason: record.reason,
    graceDeadline: iso(record.graceDeadline),
    channel: record.channel,
    channelReason: record.channelReason,
    installedAt: iso(record.installedAt),
    reinstallCount: record.reinstallCount,
    delivery: d && { command: d.command, commandUuid: d.commandUuid, queuedAt: new Date(d.queuedAt).toISOString(), status: d.resultStatus, resultAt: iso(d.resultAt) },
    evidence: evidenceView(record.evidence),
    assessedAt: iso(record.assessedAt),
  };
}

export function historyView(entry: ComplianceHistoryEntry) {
  return {
    seq: entry.seq,
    at: new Date(entry.at).toISOString(),
    fromState: entry.fromState,
    toState: entry.toState,
    reasonCode: entry.reasonCode,
    reason: entry.reason,
    graceDeadline: iso(entry.graceDeadline),
    evidence: evidenceView(entry.evidence),
  };
}

const udidParams = {
  type: 'object',
  properties: { udid: { type: 'string', minLength: 1, maxLength: 128 } },
  required: ['udid'],
} as const;

export async function adminRoutes(app: FastifyInstance, options: AdminRoutesOptions): Promise<void> {
  const { store } = options;
  const now = options.now ?? Date.now;
  const admin = requireRole(store, ['admin'], now);
  const operator = requireRole(store, ['admin', 'operator'], now);
  const reader = requireRole(store, ['admin', 'operator', 'auditor'], now);

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, request, reply) => {
    if (err.validation) return problem(reply, 400, 'Bad Request', err.message);
    if (typeof err.statusCode === 'number' && err.statusCode < 500) return problem(reply, err.statusCode, 'Bad Request', err.message);
    request.log.error({ err }, 'admin request failed');
    return problem(reply, 500, 'Internal Server Error');
  });

  app.post('/api/v1/enrollment-tokens', {
    preHandler: admin,
    schema: {
      ...apiTokenRoute(admin.roles, {
        tags: ['Enrollment'],
        summary: 'Create an enrollment token',
        description: 'The token is shown once, in this response: the server keeps only its hash. Hand `enrollUrl` to whoever enrolls the device. Defaults: valid 7 days, unlimited uses, any identity.',
        operationId: 'createEnrollmentToken',
      }),
      response: {
        201: {
          description: 'The new token and its enrollment URL',
          type: 'object',
          required: ['id', 'token', 'enrollUrl', 'label', 'expiresAt', 'maxUses', 'identity'],
          properties: {
            id: { type: 'string', format: 'uuid' },
            token: { type: 'string', description: 'the secret; not retrievable later' },
            enrollUrl: { type: 'string', format: 'uri', description: 'GET it on the device to download the enrollment profile' },
            label: { type: 'string' },
            expiresAt: { type: 'string', format: 'date-time' },
            maxUses: { type: ['integer', 'null'], description: 'null: unlimited' },
            identity: { type: 'string', enum: ['scep', 'pkcs12', 'any'] },
          },
        },
        ...problemResponses({ 400: 'The body is invalid.', ...AUTH_PROBLEMS }),
      },
      body: {
        type: 'object',
        additionalProperties: false,
        properties: {
          label: { type: 'string', maxLength: 200 },
          expiresInHours: { type: 'number', exclusiveMinimum: 0, maximum: 24 * 365 },
          maxUses: { type: 'integer', minimum: 1, maximum: 1_000_000 },
          identity: { type: 'string', enum: ['scep', 'pkcs12', 'any'] },
        },
      },
    },
  }, async (request, reply) => {
    const body = (request.body ?? {}) as { label?: string; expiresInHours?: number; maxUses?: number; identity?: 'scep' | 'pkcs12' | 'any' };
    const token = `et_${randomBytes(24).toString('base64url')}`;
    const expiresAt = now() + Math.round((body.expiresInHours ?? 24 * 7) * 3_600_000);
    // The token row and its audit event commit together (the event never holds the token).
    const record = await store.transaction(async (tx) => {
      const created = await tx.tokens.createEnrollmentToken({
        id: randomUUID(),
        tokenHash: createHash('sha256').update(token, 'utf8').digest('hex'),
        label: body.label ?? '',
        expiresAt,
        maxUses: body.maxUses ?? null,
        identity: body.identity ?? 'any',
        createdBy: request.apiToken?.id ?? null,
        now: now(),
      });
      await options.audit.record(requestActor(request), 'enrollment-token.create', created.id, {
        label: created.label, expiresAt: new Date(expiresAt).toISOString(), maxUses: created.maxUses, identity: created.identity,
      }, tx);
      return created;
    });
    const base = options.publicUrl ?? `https://${request.headers.host ?? 'localhost'}`;
    return reply.code(201).send({
      id: record.id,
      token,
      enrollUrl: `${base}/mdm/enroll?token=${encodeURIComponent(token)}`,
      label: record.label,
      expiresAt: new Date(expiresAt).toISOString(),
      maxUses: record.maxUses,
      identity: record.identity,
    });
  });

  app.get('/api/v1/devices', {
    preHandler: reader,
    schema: {
      ...apiTokenRoute(reader.roles, {
        tags: ['Devices'],
        summary: 'List devices',
        description: 'Ordered by UDID, a page at a time: pass `next` as `after` for the next page. `next` is null after a short page; a full last page is followed by an empty one.',
        operationId: 'listDevices',
      }),
      response: {
        200: {
          description: 'A page of devices',
          type: 'object',
          required: ['devices', 'next'],
          properties: {
            devices: { type: 'array', items: ref(deviceSchema) },
            next: { type: ['string', 'null'] },
          },
        },
        ...problemResponses({ 400: 'The query is invalid.', ...AUTH_PROBLEMS }),
      },
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 }, after: { type: 'string', maxLength: 128 } },
      },
    },
  }, async (request) => {
    const { limit, after } = request.query as { limit: number; after?: string };
    const devices = await store.enrollments.listDevices({ limit, ...(after && { afterId: after }) });
    const views = await Promise.all(devices.map(async (d) => deviceView(d, await store.enrollments.listForDevice(d.id))));
    return { devices: views, next: devices.length === limit ? devices.at(-1)!.id : null };
  });

  app.get('/api/v1/devices/:udid', {
    preHandler: reader,
    schema: {
      ...apiTokenRoute(reader.roles, {
        tags: ['Devices'],
        summary: 'Show a device',
        description: 'Device facts, enrollments, escrow status (never the escrowed tokens themselves) and passcode compliance: the state, why, the grace deadline, the delivery channel and the reports it rests on.',
        operationId: 'getDevice',
      }),
      params: udidParams,
      response: {
        200: { description: 'The device', ...ref(deviceDetailSchema) },
        ...problemResponses({ 400: 'The UDID is invalid.', ...AUTH_PROBLEMS, 404: 'No such device.' }),
      },
    },
  }, async (request, reply) => {
    const { udid } = request.params as { udid: string };
    const device = await store.enrollments.getDevice(udid);
    if (!device) return problem(reply, 404, 'Not Found', `no device ${udid}`);
    const [enrollments, compliance] = await Promise.all([store.enrollments.listForDevice(udid), store.compliance.get(udid)]);
    return { ...deviceView(device, enrollments), compliance: complianceView(compliance) };
  });

  app.get('/api/v1/devices/:udid/compliance-history', {
    preHandler: reader,
    schema: {
      ...apiTokenRoute(reader.roles, {
        tags: ['Devices'],
        summary: "A device's compliance history",
        description: 'Every change of compliance state, newest first, a page at a time: pass `next` as `before` for older entries. `next` is null on the last page.',
        operationId: 'getComplianceHistory',
      }),
      params: udidParams,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 }, before: { type: 'integer', minimum: 1 } },
      },
      response: {
        200: {
          description: 'A page of history entries',
          type: 'object',
          required: ['entries', 'next'],
          properties: {
            entries: { type: 'array', items: ref(complianceHistorySchema) },
            next: { type: ['integer', 'null'], description: 'pass as `before` for the next page' },
          },
        },
        ...problemResponses({ 400: 'The UDID or the query is invalid.', ...AUTH_PROBLEMS, 404: 'No such device.' }),
      },
    },
  }, async (request, reply) => {
    const { udid } = request.params as { udid: string };
    const { limit, before } = request.query as { limit: number; before?: number };
    if (!(await store.enrollments.getDevice(udid))) return problem(reply, 404, 'Not Found', `no device ${udid}`);
    const entries = await store.compliance.history(udid, { limit, ...(before !== undefined && { beforeSeq: before }) });
    const last = entries.at(-1);
    return { entries: entries.map(historyView), next: entries.length === limit && last && last.seq > 1 ? last.seq : null };
  });

  app.post('/api/v1/devices/:udid/commands', {
    preHandler: operator,
    schema: {
      ...apiTokenRoute(operator.roles, {
        tags: ['Devices'],
        summary: 'Queue a command for a device',
        description: 'Queues an information command on the device channel and wakes the device over APNs when a push service is configured.',
        operationId: 'queueDeviceCommand',
      }),
      response: {
        202: {
          description: 'Queued',
          type: 'object',
          required: ['commandUuid', 'pushed'],
          properties: {
            commandUuid: { type: 'string' },
            pushed: { type: 'boolean', description: 'a push was attempted (see the push metrics for its outcome)' },
          },
        },
        ...problemResponses({ 400: 'The UDID or the body is invalid.', ...AUTH_PROBLEMS, 404: 'No enabled enrollment for this UDID.' }),
      },
      params: udidParams,
      body: {
        type: 'object',
        required: ['requestType'],
        additionalProperties: false,
        properties: {
          requestType: { type: 'string', enum: ['ProfileList', 'SecurityInfo', 'DeviceInformation'] },
          queries: { type: 'array', items: { type: 'string', maxLength: 64 }, maxItems: 64 },
          priority: { type: 'integer', minimum: -100, maximum: 100 },
        },
      },
    },
  }, async (request, reply) => {
    const { udid } = request.params as { udid: string };
    const body = request.body as { requestType: string; queries?: string[]; priority?: number };
    if (!BUILT_REQUEST_TYPES.includes(body.requestType as never)) return problem(reply, 400, 'Bad Request', `unsupported request type ${body.requestType}`);
    const enrollment = await store.enrollments.get(udid);
    if (!enrollment || !enrollment.enabled) return problem(reply, 404, 'Not Found', `no enabled enrollment ${udid}`);
    const uuid = newCommandUuid();
    const command = body.requestType === 'DeviceInformation'
      ? { RequestType: 'DeviceInformation', Queries: body.queries ?? ['OSVersion', 'SerialNumber', 'IsSupervised'] }
      : { RequestType: body.requestType };
    await enqueueAudited(store, options.audit, requestActor(request), { uuid, requestType: body.requestType, body: Buffer.from(encodePlist(commandPlist(uuid, command))) }, [udid], { now: now(), ...(body.priority !== undefined && { priority: body.priority }) });
    const pushed = options.push ? await options.push([udid]) : undefined;
    return reply.code(202).send({ commandUuid: uuid, pushed: pushed !== undefined });
  });

  app.post('/api/v1/push-certificate', {
    preHandler: admin,
    bodyLimit: 256 * 1024,
    schema: {
      ...apiTokenRoute(admin.roles, {
        tags: ['Push'],
        summary: 'Import the MDM push certificate',
        description: 'Give either `p12` (base64, with `password`) or `certificatePem` and `privateKeyPem`. A certificate with a different topic than the current one is refused unless `allowTopicChange` is true: devices enrolled under the old topic could no longer be pushed.',
        operationId: 'importPushCertificate',
      }),
      response: {
        201: {
          description: 'Imported; pushes use it from now on',
          type: 'object',
          required: ['topic', 'subject', 'notAfter', 'replacedTopic', 'warnings'],
          properties: {
            topic: { type: 'string', description: 'the APNs topic (the certificate subject UID)' },
            subject: { type: 'string' },
            notAfter: { type: 'string', format: 'date-time' },
            replacedTopic: { type: ['string', 'null'], description: "the replaced certificate's topic; null when there was none" },
            warnings: { type: 'array', items: { type: 'string' } },
          },
        },
        ...problemResponses({
          400: 'The body is invalid or gives neither form of certificate.',
          ...AUTH_PROBLEMS,
          422: 'The certificate is refused; `code` says why (e.g. topic-change).',
          503: 'Import is not available in this server.',
        }),
      },
      body: {
        type: 'object',
        additionalProperties: false,
        properties: {
          p12: { type: 'string', maxLength: 200_000, description: 'the .p12 file, base64' },
          password: { type: 'string', maxLength: 1024 },
          certificatePem: { type: 'string', maxLength: 100_000 },
          privateKeyPem: { type: 'string', maxLength: 100_000 },
          keyPassword: { type: 'string', maxLength: 1024 },
          allowTopicChange: { type: 'boolean' },
        },
      },
    },
  }, async (request, reply) => {
    if (!options.importPushCertificate) return problem(reply, 503, 'Service Unavailable', 'push certificate import is not available');
    const body = request.body as { p12?: string; password?: string; certificatePem?: string; privateKeyPem?: string; keyPassword?: string; allowTopicChange?: boolean };
    const input = body.p12 !== undefined
      ? { p12: Buffer.from(body.p12, 'base64'), password: body.password ?? '' }
      : body.certificatePem !== undefined && body.privateKeyPem !== undefined
        ? { certificatePem: body.certificatePem, privateKeyPem: body.privateKeyPem, ...(body.keyPassword !== undefined && { keyPassword: body.keyPassword }) }
        : undefined;
    if (!input) return problem(reply, 400, 'Bad Request', 'give either p12 (+ password) or certificatePem and privateKeyPem');
    try {
      const result = await options.importPushCertificate(input, { allowTopicChange: body.allowTopicChange === true, actor: requestActor(request) });
      request.log.info({ by: request.apiToken?.id, topic: result.certificate.topic }, 'push certificate imported');
      return reply.code(201).send({
        topic: result.certificate.topic,
        subject: result.certificate.subject,
        notAfter: new Date(result.certificate.notAfter).toISOString(),
        replacedTopic: result.replaced?.topic ?? null,
        warnings: result.warnings,
      });
    } catch (err) {
      if (err instanceof PushCertificateError) return problem(reply, 422, 'Unprocessable Entity', err.message, { code: err.code });
      throw err;
    }
  });
}
