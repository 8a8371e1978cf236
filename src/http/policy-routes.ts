// Admin API (/api/v1) for stored passcode policies: create and update (each a new version) in
// either key style, explain per platform, assign to a device, a group or the whole fleet, set a
// device's groups, and show a device's effective policy. Validation is the policy engine's: an
// invalid policy is a 422 listing every error. Thin: services/policies.ts does the work.
import type { FastifyInstance } from 'fastify';
import type { EnforcementLine } from '../policy/index.ts';
import { explainSummary } from '../services/policies.ts';
import type { EffectivePolicy, PolicyService, PolicyWriteOutcome } from '../services/policies.ts';
import { MAX_POLICY_SOURCE_BYTES } from '../services/policy-source.ts';
import type { Store } from '../store/database.ts';
import type { AssignmentTarget, PolicyAssignment, PolicyVersion, StoredPolicy } from '../store/types.ts';
import { problem, problemErrorHandler, requestActor, requireRole } from './admin-auth.ts';
import { apiTokenRoute, AUTH_PROBLEMS, problemResponses } from './api-schemas.ts';

export interface PolicyRoutesOptions {
  store: Store;
  policies: PolicyService;
  now?: () => number;
}

// Response schemas also serialize: what they do not list is dropped. Policy documents,
// requirements and Apple keys are free-form, so those objects pass through whole.
const timestamp = { type: 'string', format: 'date-time' } as const;
const freeForm = (description: string) => ({ type: 'object', additionalProperties: true, description }) as const;
const GROUP_NAME = { type: 'string', pattern: '^[A-Za-z0-9._ -]{1,64}$', description: '1–64 characters: letters, digits, ".", "_", " ", "-"' } as const;

const policyViewSchema = {
  type: 'object',
  required: ['id', 'name', 'identifier', 'version', 'policy', 'requirements', 'createdAt', 'updatedAt'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    identifier: { type: 'string', description: 'PayloadIdentifier base, the same for every version' },
    version: { type: 'integer', description: 'the current version' },
    policy: freeForm('The current version as a policy document: Apple keys (RequiredCharacters for per-class minimums), as `lockwarden policy validate` reads it'),
    requirements: freeForm("The canonical requirements (the policy engine's model)"),
    createdAt: timestamp,
    updatedAt: timestamp,
  },
} as const;

const summarySchema = {
  type: 'array',
  description: 'Per platform and enrollment: whether the policy can be delivered, and every requirement not enforced exactly as written',
  items: {
    type: 'object',
    required: ['name', 'platform', 'enrollment', 'deliverable', 'gaps'],
    properties: {
      name: { type: 'string' },
      platform: { type: 'string' },
      enrollment: { type: 'string' },
      deliverable: { type: 'boolean' },
      refused: { type: 'string', description: 'why the payload cannot go there at all' },
      gaps: {
        type: 'array',
        items: {
          type: 'object',
          required: ['requirement', 'status', 'detail'],
          properties: { requirement: { type: 'string' }, status: { type: 'string' }, detail: { type: 'string' } },
        },
      },
    },
  },
} as const;

const writtenSchema = {
  type: 'object',
  required: [...policyViewSchema.required, 'notes', 'explain'],
  properties: {
    ...policyViewSchema.properties,
    notes: {
      type: 'array',
      description: 'what the engine wants the author to know (e.g. "MaxFailedAttempts 0: never wiped")',
      items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } },
    },
    explain: summarySchema,
  },
} as const;

const lineSchema = {
  type: 'object',
  required: ['requirement', 'status', 'keys', 'detail'],
  properties: {
    requirement: { type: 'string' },
    // Any JSON value; absent for a value the platform forces unasked.
    written: { description: 'the value as written' },
    status: { type: 'string', enum: ['enforced', 'capped', 'approximated', 'forced', 'not-enforceable'] },
    keys: freeForm('the Apple keys sent for it'),
    detail: { type: 'string' },
  },
} as const;

const targetViewSchema = {
  type: 'object',
  required: ['kind'],
  properties: {
    kind: { type: 'string', enum: ['device', 'group', 'all'] },
    udid: { type: 'string' },
    group: { type: 'string' },
  },
} as const;

const assignmentViewSchema = {
  type: 'object',
  required: [...targetViewSchema.required, 'createdAt', 'createdBy'],
  properties: { ...targetViewSchema.properties, createdAt: timestamp, createdBy: { type: ['string', 'null'], description: 'API token id' } },
} as const;

const sourceSchema = {
  type: 'object',
  required: ['policyId', 'name', 'version'],
  properties: { policyId: { type: 'string' }, name: { type: 'string' }, version: { type: 'integer' } },
} as const;

const effectiveSchema = {
  type: 'object',
  required: ['status', 'device'],
  properties: {
    status: { type: 'string', enum: ['none', 'not-applicable', 'compiled'], description: 'none: nothing assigned; not-applicable: see `reason`; compiled: `profile` is what the device should have' },
    device: {
      type: 'object',
      required: ['udid', 'platform', 'enrollment', 'osVersion'],
      properties: { udid: { type: 'string' }, platform: { type: ['string', 'null'] }, enrollment: { type: 'string' }, osVersion: { type: ['string', 'null'] } },
    },
    reason: { type: 'string', description: 'why no profile can go to this device (tvOS, Shared iPad, macOS User Enrollment, platform not known yet)' },
    requirements: freeForm('strictest value of each key over every assigned policy'),
    sources: {
      type: 'object',
      description: 'for each key, the policy versions whose value it is',
      additionalProperties: { type: 'array', items: sourceSchema },
    },
    policies: {
      type: 'array',
      description: 'every policy assigned to the device (current version) and how it reaches it',
      items: {
        type: 'object',
        required: [...sourceSchema.required, 'via'],
        properties: { ...sourceSchema.properties, via: { type: 'array', items: targetViewSchema } },
      },
    },
    target: {
      type: 'object',
      required: ['platform', 'enrollment'],
      properties: { platform: { type: 'string' }, enrollment: { type: 'string' }, osVersion: { type: 'string' } },
    },
    compiled: {
      type: 'object',
      required: ['payloads', 'effective', 'lines'],
      properties: {
        payloads: { type: 'array', items: freeForm('Passcode payload keys') },
        effective: freeForm('what the device will enforce'),
        lines: { type: 'array', items: lineSchema },
      },
    },
    profile: {
      type: 'object',
      required: ['identifier', 'uuid', 'payloadUuids', 'sha256', 'size'],
      properties: {
        identifier: { type: 'string', description: 'the same on every device and for every policy: an update replaces the profile in place' },
        uuid: { type: 'string' },
        payloadUuids: { type: 'array', items: { type: 'string' }, description: 'follow the content: new ones whenever the requirements change' },
        sha256: { type: 'string', description: 'of the .mobileconfig bytes' },
        size: { type: 'integer', description: 'bytes' },
      },
    },
  },
} as const;

const idParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

const udidParams = {
  type: 'object',
  additionalProperties: false,
  required: ['udid'],
  properties: { udid: { type: 'string', minLength: 1, maxLength: 128 } },
} as const;

const policyInput = {
  description: 'A dictionary of passcode settings in either key style (or a Passcode payload, profile or DDM declaration), or its JSON/YAML text',
  anyOf: [{ type: 'object', additionalProperties: true }, { type: 'string', minLength: 1, maxLength: MAX_POLICY_SOURCE_BYTES }],
} as const;

const assignmentBody = {
  type: 'object',
  additionalProperties: false,
  description: 'Exactly one of `udid`, `group` or `all: true`',
  properties: {
    udid: { type: 'string', minLength: 1, maxLength: 128 },
    group: GROUP_NAME,
    all: { type: 'boolean', enum: [true] },
  },
  oneOf: [{ required: ['udid'] }, { required: ['group'] }, { required: ['all'] }],
} as const;

const iso = (ms: number) => new Date(ms).toISOString();

function policyView(policy: StoredPolicy) {
  return {
    id: policy.id,
    name: policy.name,
    identifier: policy.identifier,
    version: policy.currentVersion,
    policy: policy.current.document,
    requirements: policy.current.requirements,
    createdAt: iso(policy.createdAt),
    updatedAt: iso(policy.updatedAt),
  };
}

function versionView(id: string, version: PolicyVersion) {
  return { id, version: version.version, policy: version.document, requirements: version.requirements, createdAt: iso(version.createdAt), createdBy: version.createdBy };
}

function assignmentView(assignment: PolicyAssignment) {
  return { ...assignment.target, createdAt: iso(assignment.createdAt), createdBy: assignment.createdBy };
}

function targetOf(body: { udid?: string; group?: string; all?: true }): AssignmentTarget {
  if (body.udid !== undefined) return { kind: 'device', udid: body.udid };
  if (body.group !== undefined) return { kind: 'group', group: body.group };
  return { kind: 'all' };
}

function lineView(line: EnforcementLine) {
  return { requirement: line.requirement, ...(line.written !== undefined && { written: line.written }), status: line.status, keys: line.keys, detail: line.detail };
}

/** The effective policy as the API shows it: the profile's identity and hash, not its bytes. */
export function effectiveView(result: EffectivePolicy) {
  if (result.status === 'none') return result;
  const { device, requirements, sources, policies } = result;
  const merged = { device, requirements, sources, policies };
  if (result.status === 'not-applicable') return { status: result.status, reason: result.reason, ...merged };
  const { bytes, ...profile } = result.profile;
  return {
    status: result.status,
    ...merged,
    target: result.target,
    compiled: { payloads: result.compiled.payloads, effective: result.compiled.effective, lines: result.compiled.lines.map(lineView) },
    profile: { ...profile, size: bytes.length },
  };
}

export async function policyRoutes(app: FastifyInstance, options: PolicyRoutesOptions): Promise<void> {
  const { store, policies } = options;
  const now = options.now ?? Date.now;
  const admin = requireRole(store, ['admin'], now);
  const reader = requireRole(store, ['admin', 'operator', 'auditor'], now);

  app.setErrorHandler(problemErrorHandler);

  /** Answers a create or update: the written policy, or the problem that stopped it. */
  const answerWrite = (reply: Parameters<typeof problem>[0], outcome: PolicyWriteOutcome, status: number) => {
    if (outcome.ok) {
      const { policy, notes, explanation } = outcome;
      return reply.code(status).send({ ...policyView(policy), notes, explain: explainSummary(explanation) });
    }
    switch (outcome.reason) {
      case 'invalid':
        return problem(reply, 422, 'Unprocessable Entity', `the policy is invalid (${outcome.errors.length} problem${outcome.errors.length === 1 ? '' : 's'})`, { errors: outcome.errors, notes: outcome.notes });
      case 'name-taken':
        return problem(reply, 409, 'Conflict', 'a policy with this name exists');
      case 'conflict':
        return problem(reply, 409, 'Conflict', `the policy is at version ${outcome.currentVersion}: read it again and reapply the change`, { currentVersion: outcome.currentVersion });
      case 'unknown':
        return problem(reply, 404, 'Not Found', 'no such policy');
    }
  };

  app.post('/api/v1/policies', {
    preHandler: admin,
    schema: {
      ...apiTokenRoute(admin.roles, {
        tags: ['Policies'],
        summary: 'Create a policy',
        description: 'Version 1 of a new policy. `policy` may use the friendly keys or Apple\'s, as `lockwarden policy validate` accepts them. The identifier (`Identifier` / `PayloadIdentifier`, default `com.lockwarden.policy.<id>`) is fixed for every later version.',
        operationId: 'createPolicy',
      }),
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'policy'],
        properties: { name: { type: 'string', minLength: 1, maxLength: 200 }, policy: policyInput },
      },
      response: {
        201: { description: 'The stored policy, normalised, with its per-platform summary', ...writtenSchema },
        ...problemResponses({
          400: 'The body is not of the expected shape.',
          ...AUTH_PROBLEMS,
          409: 'A policy with this name exists.',
          422: 'The policy is invalid: `errors` lists every problem, each with `path`, `value`, `message` and, where there is one, the `allowed` range.',
        }),
      },
    },
  }, async (request, reply) => {
    const body = request.body as { name: string; policy: unknown };
    return answerWrite(reply, await policies.create(requestActor(request), body), 201);
  });

  app.get('/api/v1/policies', {
    preHandler: reader,
    schema: {
      ...apiTokenRoute(reader.roles, {
        tags: ['Policies'],
        summary: 'List policies',
        description: 'By name, a page at a time: pass `next` as `after` for the next page. `next` is null after a short page.',
        operationId: 'listPolicies',
      }),
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 }, after: { type: 'string', maxLength: 200 } },
      },
      response: {
        200: {
          description: 'A page of policies',
          type: 'object',
          required: ['policies', 'next'],
          properties: { policies: { type: 'array', items: policyViewSchema }, next: { type: ['string', 'null'] } },
        },
        ...problemResponses({ 400: 'The query is invalid.', ...AUTH_PROBLEMS }),
      },
    },
  }, async (request) => {
    const { limit, after } = request.query as { limit: number; after?: string };
    const page = await policies.list({ limit, ...(after !== undefined && { afterName: after }) });
    return { policies: page.map(policyView), next: page.length === limit ? page.at(-1)!.name : null };
  });

  app.get('/api/v1/policies/:id', {
    preHandler: reader,
    schema: {
      ...apiTokenRoute(reader.roles, { tags: ['Policies'], summary: 'Show a policy', description: 'The current version and the list of versions.', operationId: 'getPolicy' }),
      params: idParams,
      response: {
        200: {
          description: 'The policy',
          type: 'object',
          required: [...policyViewSchema.required, 'versions'],
          properties: {
            ...policyViewSchema.properties,
            versions: {
              type: 'array',
              items: {
                type: 'object',
                required: ['version', 'createdAt', 'createdBy'],
                properties: { version: { type: 'integer' }, createdAt: timestamp, createdBy: { type: ['string', 'null'] } },
              },
            },
          },
        },
        ...problemResponses({ 400: 'The id is invalid.', ...AUTH_PROBLEMS, 404: 'No such policy.' }),
      },
    },
  }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const found = await policies.get(id);
    if (!found) return problem(reply, 404, 'Not Found', `no policy ${id}`);
    return {
      ...policyView(found.policy),
      versions: found.versions.map((v) => ({ version: v.version, createdAt: iso(v.createdAt), createdBy: v.createdBy })),
    };
  });

  app.put('/api/v1/policies/:id', {
    preHandler: admin,
    schema: {
      ...apiTokenRoute(admin.roles, {
        tags: ['Policies'],
        summary: 'Update a policy',
        description: 'Stores the next version and makes it current. Give `expectedVersion` (the version you read) and a change made meanwhile by someone else is refused with 409 instead of overwritten.',
        operationId: 'updatePolicy',
      }),
      params: idParams,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['policy'],
        properties: { policy: policyInput, expectedVersion: { type: 'integer', minimum: 1 } },
      },
      response: {
        200: { description: 'The policy at its new version', ...writtenSchema },
        ...problemResponses({
          400: 'The body is not of the expected shape.',
          ...AUTH_PROBLEMS,
          404: 'No such policy.',
          409: 'The policy is no longer at `expectedVersion`; `currentVersion` says where it is.',
          422: 'The policy is invalid: `errors` lists every problem, as for creation.',
        }),
      },
    },
  }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const body = request.body as { policy: unknown; expectedVersion?: number };
    return answerWrite(reply, await policies.update(requestActor(request), id, body), 200);
  });

  app.delete('/api/v1/policies/:id', {
    preHandler: admin,
    schema: {
      ...apiTokenRoute(admin.roles, {
        tags: ['Policies'],
        summary: 'Delete a policy',
        description: 'Its assignments are removed, so it no longer counts towards any device\'s effective policy; its versions are kept for the record and its name is free again.',
        operationId: 'deletePolicy',
      }),
      params: idParams,
      response: {
        204: { description: 'Deleted' },
        ...problemResponses({ 400: 'The id is invalid.', ...AUTH_PROBLEMS, 404: 'No such policy.' }),
      },
    },
  }, async (request, reply) => {
    const { id } = request.params as { id: string };
    if (!(await policies.delete(requestActor(request), id))) return problem(reply, 404, 'Not Found', `no policy ${id}`);
    return reply.code(204).send();
  });

  app.get('/api/v1/policies/:id/versions/:version', {
    preHandler: reader,
    schema: {
      ...apiTokenRoute(reader.roles, { tags: ['Policies'], summary: 'Show one version of a policy', operationId: 'getPolicyVersion' }),
      params: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'version'],
        properties: { id: idParams.properties.id, version: { type: 'integer', minimum: 1 } },
      },
      response: {
        200: {
          description: 'The version',
          type: 'object',
          required: ['id', 'version', 'policy', 'requirements', 'createdAt', 'createdBy'],
          properties: {
            id: { type: 'string' },
            version: { type: 'integer' },
            policy: policyViewSchema.properties.policy,
            requirements: policyViewSchema.properties.requirements,
            createdAt: timestamp,
            createdBy: { type: ['string', 'null'], description: 'API token id' },
          },
        },
        ...problemResponses({ 400: 'The id or version is invalid.', ...AUTH_PROBLEMS, 404: 'No such policy or version.' }),
      },
    },
  }, async (request, reply) => {
    const { id, version } = request.params as { id: string; version: number };
    const found = await policies.version(id, version);
    if (!found) return problem(reply, 404, 'Not Found', `no version ${version} of policy ${id}`);
    return versionView(id, found);
  });

  app.get('/api/v1/policies/:id/explain', {
    preHandler: reader,
    schema: {
      ...apiTokenRoute(reader.roles, {
        tags: ['Policies'],
        summary: 'Explain a policy per platform',
        description: 'The enforcement matrix of the current version, as `lockwarden policy explain --json` prints it: for every platform and enrollment, each requirement enforced, capped, approximated, forced or not enforceable, and why.',
        operationId: 'explainPolicy',
      }),
      params: idParams,
      response: {
        200: {
          description: 'The matrix',
          type: 'object',
          required: ['id', 'version', 'requirements', 'hasGaps', 'columns'],
          properties: {
            id: { type: 'string' },
            version: { type: 'integer' },
            requirements: policyViewSchema.properties.requirements,
            hasGaps: { type: 'boolean', description: 'some requirement is not enforced as written somewhere' },
            columns: {
              type: 'array',
              items: {
                type: 'object',
                required: ['name', 'target', 'lines'],
                properties: {
                  name: { type: 'string' },
                  target: { type: 'object', required: ['platform', 'enrollment'], properties: { platform: { type: 'string' }, enrollment: { type: 'string' } } },
                  refused: { type: 'string' },
                  lines: { type: 'array', items: lineSchema },
                },
              },
            },
          },
        },
        ...problemResponses({ 400: 'The id is invalid.', ...AUTH_PROBLEMS, 404: 'No such policy.' }),
      },
    },
  }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const found = await policies.explain(id);
    if (!found) return problem(reply, 404, 'Not Found', `no policy ${id}`);
    const { policy, explanation } = found;
    return {
      id: policy.id,
      version: policy.currentVersion,
      requirements: policy.current.requirements,
      hasGaps: explanation.hasGaps,
      columns: explanation.columns.map((c) => ({ name: c.name, target: c.target, ...(c.refused !== undefined && { refused: c.refused }), lines: c.lines.map(lineView) })),
    };
  });

  app.post('/api/v1/policies/:id/assignments', {
    preHandler: admin,
    schema: {
      ...apiTokenRoute(admin.roles, {
        tags: ['Policies'],
        summary: 'Assign a policy',
        description: 'To one device (`udid`), a group (`group`: every device carrying it, now or later) or the whole fleet (`all: true`). Idempotent: 201 when new, 200 when it was already assigned.',
        operationId: 'assignPolicy',
      }),
      params: idParams,
      body: assignmentBody,
      response: {
        200: { description: 'Already assigned', ...assignmentViewSchema },
        201: { description: 'Assigned', ...assignmentViewSchema },
        ...problemResponses({ 400: 'The body is not exactly one of udid, group or all.', ...AUTH_PROBLEMS, 404: 'No such policy, or no such device.' }),
      },
    },
  }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const outcome = await policies.assign(requestActor(request), id, targetOf(request.body as { udid?: string; group?: string; all?: true }));
    if (outcome.ok) return reply.code(outcome.created ? 201 : 200).send(assignmentView(outcome.assignment));
    return problem(reply, 404, 'Not Found', outcome.reason === 'unknown-policy' ? `no policy ${id}` : 'no such device');
  });

  app.get('/api/v1/policies/:id/assignments', {
    preHandler: reader,
    schema: {
      ...apiTokenRoute(reader.roles, { tags: ['Policies'], summary: 'List the assignments of a policy', operationId: 'listPolicyAssignments' }),
      params: idParams,
      response: {
        200: { description: 'Everyone, then groups, then devices', type: 'object', required: ['assignments'], properties: { assignments: { type: 'array', items: assignmentViewSchema } } },
        ...problemResponses({ 400: 'The id is invalid.', ...AUTH_PROBLEMS, 404: 'No such policy.' }),
      },
    },
  }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const assignments = await policies.assignments(id);
    if (!assignments) return problem(reply, 404, 'Not Found', `no policy ${id}`);
    return { assignments: assignments.map(assignmentView) };
  });

  app.delete('/api/v1/policies/:id/assignments', {
    preHandler: admin,
    schema: {
      ...apiTokenRoute(admin.roles, {
        tags: ['Policies'],
        summary: 'Remove an assignment',
        description: 'The body names the assignment as for creating it: exactly one of `udid`, `group` or `all: true`.',
        operationId: 'unassignPolicy',
      }),
      params: idParams,
      body: assignmentBody,
      response: {
        204: { description: 'Removed' },
        ...problemResponses({ 400: 'The body is not exactly one of udid, group or all.', ...AUTH_PROBLEMS, 404: 'No such policy, or it has no such assignment.' }),
      },
    },
  }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const outcome = await policies.unassign(requestActor(request), id, targetOf(request.body as { udid?: string; group?: string; all?: true }));
    if (outcome.ok) return reply.code(204).send();
    return problem(reply, 404, 'Not Found', outcome.reason === 'unknown-policy' ? `no policy ${id}` : 'the policy has no such assignment');
  });

  const groupsSchema = {
    type: 'object',
    required: ['udid', 'groups'],
    properties: { udid: { type: 'string' }, groups: { type: 'array', items: { type: 'string' } } },
  } as const;

  app.put('/api/v1/devices/:udid/groups', {
    preHandler: admin,
    schema: {
      ...apiTokenRoute(admin.roles, {
        tags: ['Devices', 'Policies'],
        summary: "Set a device's groups",
        description: 'Replaces the groups the device carries; policies assigned to a group reach the device from now on. An empty list removes it from every group.',
        operationId: 'setDeviceGroups',
      }),
      params: udidParams,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['groups'],
        properties: { groups: { type: 'array', maxItems: 100, items: GROUP_NAME } },
      },
      response: {
        200: { description: 'The groups now (sorted, without duplicates)', ...groupsSchema },
        ...problemResponses({ 400: 'The UDID or a group name is invalid.', ...AUTH_PROBLEMS, 404: 'No such device.' }),
      },
    },
  }, async (request, reply) => {
    const { udid } = request.params as { udid: string };
    const { groups } = request.body as { groups: string[] };
    const current = await policies.setDeviceGroups(requestActor(request), udid, groups);
    if (!current) return problem(reply, 404, 'Not Found', `no device ${udid}`);
    return { udid, groups: current };
  });

  app.get('/api/v1/devices/:udid/groups', {
    preHandler: reader,
    schema: {
      ...apiTokenRoute(reader.roles, { tags: ['Devices', 'Policies'], summary: "Show a device's groups", operationId: 'getDeviceGroups' }),
      params: udidParams,
      response: {
        200: { description: 'The groups (sorted)', ...groupsSchema },
        ...problemResponses({ 400: 'The UDID is invalid.', ...AUTH_PROBLEMS, 404: 'No such device.' }),
      },
    },
  }, async (request, reply) => {
    const { udid } = request.params as { udid: string };
    if (!(await store.enrollments.getDevice(udid))) return problem(reply, 404, 'Not Found', `no device ${udid}`);
    return { udid, groups: await policies.groupsOf(udid) };
  });

  app.get('/api/v1/devices/:udid/effective-policy', {
    preHandler: reader,
    schema: {
      ...apiTokenRoute(reader.roles, {
        tags: ['Devices', 'Policies'],
        summary: "Show a device's effective policy",
        description: 'Every policy assigned to the device (directly, through its groups, or to all), merged strictest-wins with the source of each key, and compiled for its platform, enrollment and OS version — or the reason no profile can go to it. The profile is identified by its identifier, UUIDs and SHA-256; its bytes are not part of the response.',
        operationId: 'getEffectivePolicy',
      }),
      params: udidParams,
      response: {
        200: { description: 'The effective policy', ...effectiveSchema },
        ...problemResponses({ 400: 'The UDID is invalid.', ...AUTH_PROBLEMS, 404: 'No such device.' }),
      },
    },
  }, async (request, reply) => {
    const { udid } = request.params as { udid: string };
    const result = await policies.effectivePolicy(udid);
    if (!result) return problem(reply, 404, 'Not Found', `no device ${udid}`);
    return effectiveView(result);
  });
}
