// The admin API's OpenAPI document and its rendered docs, over HTTP against a real server: public,
// structurally sound, covering every admin and ops route the application registers; and the
// response schemas, which Fastify serializes through, drop nothing the handlers send.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDeviceIdentity } from '../../src/crypto/device-ca.ts';
import { buildApp } from '../../src/http/app.ts';
import { complianceView, deviceView } from '../../src/http/admin-routes.ts';
import { encodePlist } from '../../src/plist/plist-codec.ts';
import { openRuntime } from '../../src/services/runtime.ts';
import type { Runtime } from '../../src/services/runtime.ts';
import { configFromEnv } from '../../src/services/server-config.ts';
import { startApnsMock } from '../../src/sim/apns-mock.ts';
import { MdmClient } from '../../src/sim/mdm-client.ts';

const ADMIN = 'admin-token-for-the-openapi-tests-0123456789';
const TOPIC = 'com.apple.mgmt.External.openapi-e2e';
const DOCUMENTED_PREFIXES = ['/api/v1/', '/v1/', '/healthz', '/readyz', '/metrics'];
const PROBLEM_REF = '#/components/schemas/Problem';

interface Operation {
  summary?: string;
  description?: string;
  operationId?: string;
  tags?: string[];
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{ in: string; name: string; required?: boolean }>;
  responses: Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }>;
}
interface Document {
  openapi: string;
  info: { title: string; version: string };
  tags?: Array<{ name: string }>;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, { type: string; scheme?: string }> };
}

/**
 * Every method and path the application routes, read from printRoutes' tree (one node per line,
 * four columns per level; a node's path continues its parent's). HEAD twins of GET routes are
 * left out, as @fastify/swagger leaves them out.
 */
function registeredRoutes(app: FastifyInstance): Array<{ method: string; path: string }> {
  const routes: Array<{ method: string; path: string }> = [];
  const prefixes: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const node = /^((?:│ {3}| {4})*)[├└]── (\S+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!node) continue;
    const depth = node[1]!.length / 4;
    const path = (prefixes[depth - 1] ?? '') + node[2]!;
    prefixes[depth] = path;
    prefixes.length = depth + 1;
    for (const method of node[3]?.split(', ') ?? []) if (method !== 'HEAD') routes.push({ method, path });
  }
  return routes;
}

/** Fastify's `/devices/:udid` as OpenAPI's `/devices/{udid}`. */
const openApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

function* walk(value: unknown, at = '#'): Generator<{ at: string; node: Record<string, unknown> }> {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) yield* walk(item, `${at}/${i}`);
  } else if (value !== null && typeof value === 'object') {
    yield { at, node: value as Record<string, unknown> };
    for (const [key, item] of Object.entries(value)) yield* walk(item, `${at}/${key}`);
  }
}

describe('OpenAPI document and docs', () => {
  let runtime: Runtime;
  let app: FastifyInstance;
  let url: string;
  let doc: Document;
  let apns: Awaited<ReturnType<typeof startApnsMock>>;
  const udid = 'OPENAPI-E2E-0001';

  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${url}${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN}`, ...(init.headers as Record<string, string>) } });

  const operations = () => Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op })));

  beforeAll(async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'lockwarden-openapi-'));
    apns = await startApnsMock({ topic: TOPIC });
    runtime = await openRuntime(configFromEnv({ LOCKWARDEN_DATA_DIR: dataDir, LOCKWARDEN_ADMIN_TOKEN: ADMIN, LOCKWARDEN_PUBLIC_URL: 'https://mdm.example.com', LOCKWARDEN_APNS_URL: apns.url, LOCKWARDEN_APNS_TOPIC: TOPIC, LOG_LEVEL: 'silent' }));
    app = await buildApp(runtime, { logger: false });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
    const response = await fetch(`${url}/api/v1/openapi.json`);
    expect(response.status).toBe(200);
    doc = await response.json() as Document;
  });

  afterAll(async () => {
    await app?.close();
    await runtime?.close();
    await apns?.close();
  });

  it('serves an OpenAPI 3 document without a token, with the bearer and Basic schemes', async () => {
    const response = await fetch(`${url}/api/v1/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/json');
    expect(doc.openapi.startsWith('3.')).toBe(true);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    expect(doc.components.securitySchemes.bearerAuth).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
    expect(doc.components.securitySchemes.basicAuth).toEqual(expect.objectContaining({ type: 'http', scheme: 'basic' }));
    expect(doc.components.schemas.Problem).toMatchObject({ type: 'object', required: ['type', 'title', 'status'], additionalProperties: true });
  });

  it('documents every admin, compatibility and ops route the application registers', () => {
    const routes = registeredRoutes(app);
    // The tree was read: a format change in printRoutes must fail here, not pass with nothing checked.
    expect(routes).toEqual(expect.arrayContaining([{ method: 'GET', path: '/healthz' }, { method: 'GET', path: '/api/v1/devices/:udid' }, { method: 'PUT', path: '/mdm/checkin' }]));
    const documented = routes.filter((r) => DOCUMENTED_PREFIXES.some((prefix) => r.path.startsWith(prefix)));
    expect(documented.length).toBeGreaterThanOrEqual(10);
    for (const { method, path } of documented) {
      const op = doc.paths[openApiPath(path)]?.[method.toLowerCase()];
      expect(op, `${method} ${path} is not in the OpenAPI document`).toBeDefined();
      expect(op!.summary, `${method} ${path} has no summary`).toBeTruthy();
      expect(op!.tags?.length, `${method} ${path} has no tag`).toBeGreaterThan(0);
      expect(Object.keys(op!.responses).some((status) => /^2\d\d$/.test(status)), `${method} ${path} documents no 2xx response`).toBe(true);
      expect(op!.security, `${method} ${path} says nothing about authentication`).toBeDefined();
    }
    // And nothing documented that the application does not route.
    const routed = new Set(routes.map((r) => `${r.method.toLowerCase()} ${openApiPath(r.path)}`));
    for (const { path, method } of operations()) expect(routed.has(`${method} ${path}`), `${method} ${path} is documented but not routed`).toBe(true);
  });

  it('documents token-protected routes with their roles and every error as problem+json', () => {
    for (const { path, method, op } of operations().filter(({ path }) => path !== '/api/v1/openapi.json' && (path.startsWith('/api/v1/') || path.startsWith('/v1/')))) {
      const where = `${method.toUpperCase()} ${path}`;
      expect(op.security, where).toEqual([{ bearerAuth: [] }, { basicAuth: [] }]);
      expect(op.description, where).toMatch(/Roles?: [a-z]+(, [a-z]+)*\.$/);
      expect(Object.keys(op.responses), where).toEqual(expect.arrayContaining(['401', '403']));
      for (const [status, response] of Object.entries(op.responses)) {
        if (!/^[45]/.test(status)) continue;
        expect(response.content, `${where} ${status}`).toEqual({ 'application/problem+json': { schema: { $ref: PROBLEM_REF } } });
      }
    }
    for (const path of ['/healthz', '/readyz', '/metrics', '/api/v1/openapi.json']) expect(doc.paths[path]!.get!.security, path).toEqual([]);
    // Device protocol endpoints are Apple's, not the admin API's.
    expect(Object.keys(doc.paths).filter((path) => path.startsWith('/mdm/') || path === '/scep')).toEqual([]);
  });

  it('is structurally sound', () => {
    const declaredTags = new Set(doc.tags?.map((t) => t.name));
    // Undocumented routes fail the coverage test; here only the ids that exist must be unique.
    const operationIds = operations().flatMap(({ op }) => (op.operationId ? [op.operationId] : []));
    expect(new Set(operationIds).size).toBe(operationIds.length);
    for (const { path, method, op } of operations()) {
      const where = `${method.toUpperCase()} ${path}`;
      expect(['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'], where).toContain(method);
      for (const tag of op.tags ?? []) expect(declaredTags.has(tag), `${where}: tag ${tag} is not declared`).toBe(true);
      for (const requirement of op.security ?? []) {
        for (const scheme of Object.keys(requirement)) expect(doc.components.securitySchemes[scheme], `${where}: scheme ${scheme}`).toBeDefined();
      }
      // Path templates and path parameters match one to one.
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      const declared = (op.parameters ?? []).filter((p) => p.in === 'path');
      expect(declared.map((p) => p.name).sort(), where).toEqual(templated);
      for (const p of declared) expect(p.required, `${where} {${p.name}}`).toBe(true);
      for (const [status, response] of Object.entries(op.responses)) {
        expect(status, where).toMatch(/^([1-5]\d\d|[1-5]XX|default)$/);
        expect(response.description, `${where} ${status}`).toBeTruthy();
      }
    }
    for (const { at, node } of walk(doc)) {
      if (typeof node.$ref === 'string') {
        const match = /^#\/components\/schemas\/(.+)$/.exec(node.$ref);
        expect(match && doc.components.schemas[match[1]!], `${at}: dangling $ref ${node.$ref}`).toBeTruthy();
      }
      // OpenAPI 3.0 has no type arrays (nullable instead); every schema `type` is one name.
      if (at.includes('/schema') && 'type' in node && typeof node.type !== 'object') {
        expect(['string', 'number', 'integer', 'boolean', 'array', 'object'], `${at}: type`).toContain(node.type);
      }
      if (at.includes('/schema')) expect(Array.isArray(node.type), `${at}: type array in an OpenAPI 3.0 document`).toBe(false);
    }
  });

  it('renders the docs at /docs from the document, without a token', async () => {
    const page = await fetch(`${url}/docs`, { redirect: 'follow' });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    const css = /href="([^"]*swagger-ui\.css)"/.exec(html)?.[1];
    const initializer = /src="([^"]*swagger-initializer\.js)"/.exec(html)?.[1];
    expect(css).toBeDefined();
    expect(initializer).toBeDefined();
    const cssResponse = await fetch(new URL(css!, page.url));
    expect(cssResponse.status).toBe(200);
    expect(cssResponse.headers.get('content-type')).toContain('text/css');
    // Read to the end: an unread 150 KB body keeps its connection busy, and app.close() waits for it.
    expect((await cssResponse.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    const initResponse = await fetch(new URL(initializer!, page.url));
    expect(initResponse.status).toBe(200);
    expect(await initResponse.text()).toContain('"url":"/api/v1/openapi.json"');
  });

  describe('responses go through their schemas intact', () => {
    beforeAll(async () => {
      const device = new MdmClient({ serverUrl: url, identity: await generateDeviceIdentity(runtime.deviceCa!, udid) });
      await device.checkIn({ MessageType: 'Authenticate', Topic: TOPIC, UDID: udid, ProductName: 'iPhone17,1', SerialNumber: 'SN-OA', OSVersion: '18.1' });
      await device.checkIn({ MessageType: 'TokenUpdate', Topic: TOPIC, UDID: udid, Token: Buffer.alloc(32, 9), PushMagic: 'MAGIC', UnlockToken: Buffer.from('unlock') });
    });

    it('a device, alone (with its compliance) and in the list, is exactly deviceView()', async () => {
      // Enrollment is assessed off the request path.
      await runtime.compliance.settled();
      const device = await runtime.store.enrollments.getDevice(udid);
      const expected = JSON.parse(JSON.stringify(deviceView(device!, await runtime.store.enrollments.listForDevice(udid))));
      expect(expected.escrow.unlockTokenAt).toEqual(expect.any(String));
      expect(expected.model).toBeNull();
      const compliance = JSON.parse(JSON.stringify(complianceView(await runtime.store.compliance.get(udid))));
      expect(compliance).toMatchObject({ state: 'unknown', reasonCode: 'no-policy', assessedAt: expect.any(String), graceDeadline: null, delivery: null });
      expect(await (await api(`/api/v1/devices/${udid}`)).json()).toEqual({ ...expected, compliance });
      expect(await (await api('/api/v1/devices')).json()).toEqual({ devices: [expected], next: null });
    });

    it('an enrollment token keeps every field, null included', async () => {
      const response = await api('/api/v1/enrollment-tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(response.status).toBe(201);
      const body = await response.json() as Record<string, unknown>;
      expect(body).toEqual({ id: expect.any(String), token: expect.any(String), enrollUrl: expect.stringContaining('/mdm/enroll?token='), label: '', expiresAt: expect.any(String), maxUses: null, identity: 'any' });
    });

    it('problems keep the members their callers add', async () => {
      const refused = await api('/api/v1/push-certificate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ certificatePem: 'not a certificate', privateKeyPem: 'not a key' }) });
      expect(refused.status).toBe(422);
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
      expect(await refused.json()).toEqual({ type: 'about:blank', title: 'Unprocessable Entity', status: 422, detail: expect.any(String), code: expect.any(String) });
      const raw = Buffer.from(encodePlist({ CommandUUID: 'OA-0001', Command: { RequestType: 'ProfileList' } }));
      const unknown = await api('/v1/enqueue/NOBODY', { method: 'PUT', body: raw });
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toEqual({ type: 'about:blank', title: 'Not Found', status: 404, detail: expect.any(String), unknown: ['NOBODY'] });
    });

    it('push summaries keep each outcome whole', async () => {
      const response = await api(`/v1/push/${udid},NOBODY`);
      expect(response.status).toBe(200);
      const sent = apns.received.at(-1)!;
      expect(await response.json()).toEqual({
        push: {
          counts: { sent: 1, coalesced: 0, 'dead-token': 0, failed: 0, 'no-token': 1 },
          results: [
            { enrollmentId: udid, result: 'sent', status: 200, apnsId: sent.apnsId, attempts: 1 },
            { enrollmentId: 'NOBODY', result: 'no-token' },
          ],
        },
      });
    });

    it('ops endpoints answer as documented', async () => {
      expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
      expect(await (await fetch(`${url}/readyz`)).json()).toEqual({ status: 'ready' });
      const metrics = await fetch(`${url}/metrics`);
      expect(metrics.headers.get('content-type')).toContain('text/plain');
      expect(await metrics.text()).toContain('# HELP');
    });
  });
});
