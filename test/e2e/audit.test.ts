// The audit log and API tokens over HTTP against a real server: every audited admin action leaves
// exactly one event naming the token that did it and no secret; roles gate each route; paging;
// and an action whose event cannot be written fails whole.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateDeviceIdentity } from '../../src/crypto/device-ca.ts';
import { buildApp } from '../../src/http/app.ts';
import { encodePlist } from '../../src/plist/plist-codec.ts';
import { hashApiToken } from '../../src/services/api-tokens.ts';
import { SYSTEM_ACTOR } from '../../src/services/audit-log.ts';
import { openRuntime } from '../../src/services/runtime.ts';
import type { Runtime } from '../../src/services/runtime.ts';
import { configFromEnv } from '../../src/services/server-config.ts';
import { startApnsMock } from '../../src/sim/apns-mock.ts';
import { MdmClient } from '../../src/sim/mdm-client.ts';

const ADMIN = 'admin-token-for-the-audit-tests-0123456789';
const ADMIN_NAME = 'bootstrap (LOCKWARDEN_ADMIN_TOKEN)';
const TOPIC = 'com.apple.mgmt.External.audit-e2e';
const UNLOCK_TOKEN = 'unlock-token-that-must-never-be-logged';

interface EventView { seq: number; at: string; actor: string; actorName: string; action: string; target: string | null; details: Record<string, unknown>; prevMac: string; mac: string }
interface TokenView { id: string; name: string; role: string; token?: string; createdAt: string; lastUsedAt: string | null; revokedAt: string | null }

describe('audit log and API tokens', () => {
  let runtime: Runtime;
  let app: FastifyInstance;
  let url: string;
  let dir: string;
  let apns: Awaited<ReturnType<typeof startApnsMock>>;
  const udid = 'AUDIT-E2E-0001';
  /** Every secret the tests handle: none may appear in the audit table or the audit API. */
  const secrets: string[] = [ADMIN, hashApiToken(ADMIN), UNLOCK_TOKEN, Buffer.from(UNLOCK_TOKEN).toString('base64')];

  const api = (path: string, init: RequestInit & { token?: string | null; json?: unknown } = {}) => {
    const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
    if (init.token !== null) headers.authorization = `Bearer ${init.token ?? ADMIN}`;
    if (init.json !== undefined) headers['content-type'] = 'application/json';
    return fetch(`${url}${path}`, { ...init, headers, ...(init.json !== undefined && { body: JSON.stringify(init.json) }) });
  };
  const rows = () => runtime.store.db.selectFrom('audit_events').selectAll().orderBy('seq').execute();
  const headSeq = async () => (await rows()).at(-1)?.seq ?? 0;
  const eventsAfter = async (seq: number) => (await runtime.audit.list({ limit: 1000, order: 'asc', after: seq }));
  const createToken = async (name: string, role: string) => {
    const response = await api('/api/v1/api-tokens', { method: 'POST', json: { name, role } });
    expect(response.status).toBe(201);
    const created = await response.json() as TokenView & { token: string };
    secrets.push(created.token, hashApiToken(created.token));
    return created;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockwarden-audit-'));
    apns = await startApnsMock({ topic: TOPIC });
    runtime = await openRuntime(configFromEnv({ LOCKWARDEN_DATA_DIR: join(dir, 'data'), LOCKWARDEN_ADMIN_TOKEN: ADMIN, LOCKWARDEN_PUBLIC_URL: 'https://mdm.example.com', LOCKWARDEN_APNS_URL: apns.url, LOCKWARDEN_APNS_TOPIC: TOPIC, LOG_LEVEL: 'silent' }));
    app = await buildApp(runtime, { logger: false });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
    const device = new MdmClient({ serverUrl: url, identity: await generateDeviceIdentity(runtime.deviceCa!, udid) });
    await device.checkIn({ MessageType: 'Authenticate', Topic: TOPIC, UDID: udid, ProductName: 'iPhone17,1', SerialNumber: 'SN1', OSVersion: '18.1' });
    await device.checkIn({ MessageType: 'TokenUpdate', Topic: TOPIC, UDID: udid, Token: Buffer.alloc(32, 7), PushMagic: 'MAGIC', UnlockToken: Buffer.from(UNLOCK_TOKEN) });
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    // Whatever happened above, the chain is intact and holds none of the secrets.
    if (runtime) {
      expect(await runtime.audit.verify()).toMatchObject({ ok: true });
      const dump = JSON.stringify(await rows());
      for (const secret of secrets) expect(dump).not.toContain(secret);
    }
    await app?.close();
    await runtime?.close();
    await apns?.close();
  });

  it('records the bootstrap admin token, by the system, without the token', async () => {
    const [first] = await rows();
    const admin = await runtime.store.tokens.findApiToken(hashApiToken(ADMIN));
    expect(first).toMatchObject({ seq: 1, actor: 'system', action: 'api-token.create', target: admin!.id });
    expect(JSON.parse(first!.details)).toEqual({ name: ADMIN_NAME, role: 'admin' });
    expect(await rows()).toHaveLength(1);
  });

  it('records the token generated at a first start, which is shown once but never logged', async () => {
    const fresh = await openRuntime(configFromEnv({ LOCKWARDEN_DATA_DIR: join(dir, 'fresh'), LOCKWARDEN_APNS_TOPIC: TOPIC, LOG_LEVEL: 'silent' }));
    try {
      expect(fresh.newAdminToken).toMatch(/^lw_/);
      const events = await fresh.audit.list({ limit: 10 });
      expect(events).toEqual([expect.objectContaining({ seq: 1, actor: 'system', action: 'api-token.create', details: { name: 'bootstrap (first start)', role: 'admin' } })]);
      expect(JSON.stringify(events)).not.toContain(fresh.newAdminToken);
    } finally {
      await fresh.close();
    }
  });

  it('does not bring back a revoked LOCKWARDEN_ADMIN_TOKEN at the next start', async () => {
    const env = { LOCKWARDEN_DATA_DIR: join(dir, 'revoked-bootstrap'), LOCKWARDEN_ADMIN_TOKEN: 'bootstrap-token-revoked-later-0123456789', LOCKWARDEN_APNS_TOPIC: TOPIC, LOG_LEVEL: 'silent' };
    const first = await openRuntime(configFromEnv(env));
    try {
      await first.apiTokens.issue(SYSTEM_ACTOR, { name: 'the real admin', role: 'admin' });
      const bootstrap = await first.store.tokens.findApiToken(hashApiToken(env.LOCKWARDEN_ADMIN_TOKEN));
      expect(await first.apiTokens.revoke(SYSTEM_ACTOR, bootstrap!.id)).toMatchObject({ ok: true });
    } finally {
      await first.close();
    }
    const second = await openRuntime(configFromEnv(env));
    try {
      expect(second.warnings).toContain('LOCKWARDEN_ADMIN_TOKEN was revoked and is not accepted: unset it, or set a new one');
      expect(await second.store.tokens.findApiToken(hashApiToken(env.LOCKWARDEN_ADMIN_TOKEN))).toBeUndefined();
      expect((await second.audit.list({ limit: 10, order: 'asc' })).map((e) => e.action)).toEqual(['api-token.create', 'api-token.create', 'api-token.revoke']);
    } finally {
      await second.close();
    }
  });

  it('records an enrollment token with its label, expiry and uses, never the token', async () => {
    const before = await headSeq();
    const response = await api('/api/v1/enrollment-tokens', { method: 'POST', json: { label: 'Sales iPhones', maxUses: 5, expiresInHours: 24 } });
    expect(response.status).toBe(201);
    const created = await response.json() as { id: string; token: string; expiresAt: string };
    secrets.push(created.token, hashApiToken(created.token));
    const admin = await runtime.store.tokens.findApiToken(hashApiToken(ADMIN));
    expect(await eventsAfter(before)).toEqual([expect.objectContaining({
      actor: admin!.id, actorName: ADMIN_NAME, action: 'enrollment-token.create', target: created.id,
      details: { label: 'Sales iPhones', maxUses: 5, expiresAt: created.expiresAt, identity: 'any' },
    })]);
  });

  it('creates API tokens shown once, lists them without secrets, and records each creation', async () => {
    const before = await headSeq();
    const operator = await createToken('ci pipeline', 'operator');
    expect(operator).toMatchObject({ name: 'ci pipeline', role: 'operator', revokedAt: null });
    expect(operator.token).toMatch(/^lw_[A-Za-z0-9_-]{32}$/);
    const admin = await runtime.store.tokens.findApiToken(hashApiToken(ADMIN));
    expect(await eventsAfter(before)).toEqual([expect.objectContaining({
      actor: admin!.id, action: 'api-token.create', target: operator.id, details: { name: 'ci pipeline', role: 'operator' },
    })]);

    const list = await api('/api/v1/api-tokens');
    expect(list.status).toBe(200);
    const text = await list.text();
    expect(text).not.toContain(operator.token);
    expect(text).not.toContain(hashApiToken(operator.token));
    expect(text).not.toContain(ADMIN);
    const { tokens } = JSON.parse(text) as { tokens: TokenView[] };
    expect(tokens.map((t) => t.name)).toEqual(expect.arrayContaining([ADMIN_NAME, 'ci pipeline']));
    expect(tokens.every((t) => Object.keys(t).sort().join() === 'createdAt,id,lastUsedAt,name,revokedAt,role')).toBe(true);

    for (const body of [{ name: 'x', role: 'device-api' }, { name: '', role: 'operator' }, { name: 'x' }, { role: 'auditor' }]) {
      const bad = await api('/api/v1/api-tokens', { method: 'POST', json: body });
      expect(bad.status).toBe(400);
      expect(bad.headers.get('content-type')).toContain('application/problem+json');
    }
  });

  it('gates every route by role', async () => {
    const operator = await createToken('operator for roles', 'operator');
    const auditor = await createToken('auditor for roles', 'auditor');
    const status = async (path: string, token: string, init: RequestInit & { json?: unknown } = {}) => (await api(path, { ...init, token })).status;
    const raw = Buffer.from(encodePlist({ CommandUUID: 'ROLE-RAW-1', Command: { RequestType: 'ProfileList' } }));

    // An operator runs the fleet but neither reads the audit log nor manages tokens.
    expect(await status('/api/v1/audit', operator.token)).toBe(403);
    expect(await status('/api/v1/api-tokens', operator.token)).toBe(403);
    expect(await status('/api/v1/api-tokens', operator.token, { method: 'POST', json: { name: 'mine', role: 'admin' } })).toBe(403);
    expect(await status(`/api/v1/api-tokens/${auditor.id}`, operator.token, { method: 'DELETE' })).toBe(403);
    expect(await status(`/api/v1/devices/${udid}/commands`, operator.token, { method: 'POST', json: { requestType: 'ProfileList' } })).toBe(202);

    // An auditor reads the audit log (and devices) but changes nothing.
    expect(await status('/api/v1/audit', auditor.token)).toBe(200);
    expect(await status('/api/v1/devices', auditor.token)).toBe(200);
    expect(await status(`/api/v1/devices/${udid}/commands`, auditor.token, { method: 'POST', json: { requestType: 'ProfileList' } })).toBe(403);
    expect(await status(`/v1/enqueue/${udid}`, auditor.token, { method: 'PUT', body: raw })).toBe(403);
    expect(await status('/api/v1/enrollment-tokens', auditor.token, { method: 'POST', json: {} })).toBe(403);
    expect(await status('/api/v1/api-tokens', auditor.token, { method: 'POST', json: { name: 'mine', role: 'admin' } })).toBe(403);
    expect(await runtime.store.commands.get(udid, 'ROLE-RAW-1')).toBeUndefined();
  });

  it('records a command queued by an operator: request type and uuid, never the command', async () => {
    const operator = await createToken('operator for commands', 'operator');
    const before = await headSeq();
    const response = await api(`/api/v1/devices/${udid}/commands`, { method: 'POST', token: operator.token, json: { requestType: 'SecurityInfo' } });
    expect(response.status).toBe(202);
    const { commandUuid } = await response.json() as { commandUuid: string };
    expect(await eventsAfter(before)).toEqual([expect.objectContaining({
      actor: operator.id, actorName: 'operator for commands', action: 'command.enqueue', target: udid,
      details: { requestType: 'SecurityInfo', commandUuid, deviceCount: 1, deviceIds: [udid] },
    })]);
    const queued = await runtime.store.commands.get(udid, commandUuid);
    secrets.push(queued!.body.toString('base64'));
  });

  it('records a raw command on /v1/enqueue without its body, which may carry an UnlockToken', async () => {
    const operator = await createToken('nanomdm tooling', 'operator');
    const raw = Buffer.from(encodePlist({ CommandUUID: 'RAW-CLEAR-1', Command: { RequestType: 'ClearPasscode', UnlockToken: Buffer.from(UNLOCK_TOKEN) } }));
    secrets.push(raw.toString('base64'), raw.toString('utf8').slice(raw.indexOf('<data>'), raw.indexOf('</data>')));
    const before = await headSeq();
    const basic = `Basic ${Buffer.from(`nanomdm:${operator.token}`).toString('base64')}`;
    const response = await fetch(`${url}/v1/enqueue/${udid}`, { method: 'PUT', headers: { authorization: basic, 'content-type': 'application/xml' }, body: raw });
    expect(response.status).toBe(200);
    expect(await eventsAfter(before)).toEqual([expect.objectContaining({
      actor: operator.id, action: 'command.enqueue', target: udid,
      details: { requestType: 'ClearPasscode', commandUuid: 'RAW-CLEAR-1', deviceCount: 1, deviceIds: [udid] },
    })]);
    // Refused enqueues leave no event.
    const again = await fetch(`${url}/v1/enqueue/${udid}`, { method: 'PUT', headers: { authorization: basic }, body: raw });
    expect(again.status).toBe(409);
    const unknown = await fetch(`${url}/v1/enqueue/${udid},NOBODY`, { method: 'PUT', headers: { authorization: basic }, body: Buffer.from(encodePlist({ CommandUUID: 'RAW-2', Command: { RequestType: 'ProfileList' } })) });
    expect(unknown.status).toBe(404);
    expect(await eventsAfter(before)).toHaveLength(1);
  });

  it('revokes tokens: a revoked token is refused, the last admin token is kept, each revocation recorded', async () => {
    const operator = await createToken('short-lived', 'operator');
    expect((await api('/api/v1/devices', { token: operator.token })).status).toBe(200);
    const before = await headSeq();
    const revoked = await api(`/api/v1/api-tokens/${operator.id}`, { method: 'DELETE' });
    expect(revoked.status).toBe(200);
    expect(await revoked.json()).toMatchObject({ id: operator.id, revokedAt: expect.any(String) });
    expect((await api('/api/v1/devices', { token: operator.token })).status).toBe(401);
    expect((await api(`/api/v1/api-tokens/${operator.id}`, { method: 'DELETE' })).status).toBe(409);
    expect((await api('/api/v1/api-tokens/no-such-token', { method: 'DELETE' })).status).toBe(404);
    const admin = await runtime.store.tokens.findApiToken(hashApiToken(ADMIN));
    expect(await eventsAfter(before)).toEqual([expect.objectContaining({
      actor: admin!.id, action: 'api-token.revoke', target: operator.id, details: { name: 'short-lived', role: 'operator' },
    })]);

    // The bootstrap token is the only admin: revoking it would leave nobody to administer.
    const last = await api(`/api/v1/api-tokens/${admin!.id}`, { method: 'DELETE' });
    expect(last.status).toBe(409);
    expect(await last.json()).toMatchObject({ detail: expect.stringContaining('last live admin') });
    // With a second admin, a token may revoke itself.
    const second = await createToken('second admin', 'admin');
    expect((await api(`/api/v1/api-tokens/${second.id}`, { method: 'DELETE', token: second.token })).status).toBe(200);
    expect((await api('/api/v1/audit', { token: second.token })).status).toBe(401);
    expect((await eventsAfter(before)).map((e) => [e.action, e.target])).toEqual([
      ['api-token.revoke', operator.id], ['api-token.create', second.id], ['api-token.revoke', second.id],
    ]);
  });

  it('pages through GET /api/v1/audit with a cursor, newest or oldest first, with filters', async () => {
    const all = (await (await api('/api/v1/audit?limit=1000')).json() as { events: EventView[]; next?: string });
    expect(all.next).toBeUndefined();
    expect(all.events.length).toBeGreaterThan(8);
    expect(all.events.map((e) => e.seq)).toEqual([...all.events.map((e) => e.seq)].sort((a, b) => b - a));
    expect(all.events.at(-1)).toMatchObject({ seq: 1, actor: 'system', at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });

    for (const order of ['desc', 'asc'] as const) {
      const seen: number[] = [];
      let after: string | undefined;
      for (let pages = 0; pages < 100; pages++) {
        const page = await (await api(`/api/v1/audit?limit=3&order=${order}${after ? `&after=${after}` : ''}`)).json() as { events: EventView[]; next?: string };
        expect(page.events.length).toBeLessThanOrEqual(3);
        seen.push(...page.events.map((e) => e.seq));
        if (page.next === undefined) break;
        after = page.next;
      }
      const expected = all.events.map((e) => e.seq);
      expect(seen).toEqual(order === 'desc' ? expected : [...expected].reverse());
    }

    const creations = await (await api('/api/v1/audit?action=api-token.create&order=asc')).json() as { events: EventView[] };
    expect(creations.events.length).toBeGreaterThan(3);
    expect(creations.events.every((e) => e.action === 'api-token.create')).toBe(true);
    const forDevice = await (await api(`/api/v1/audit?target=${udid}`)).json() as { events: EventView[] };
    expect(forDevice.events.map((e) => e.action)).toEqual(['command.enqueue', 'command.enqueue', 'command.enqueue']);
    const future = await (await api(`/api/v1/audit?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).json() as { events: EventView[] };
    expect(future.events).toEqual([]);
    const past = await (await api(`/api/v1/audit?until=${encodeURIComponent(all.events.at(-1)!.at)}`)).json() as { events: EventView[] };
    expect(past.events).toEqual([]);

    for (const query of ['limit=0', 'limit=1001', 'after=-1', 'after=abc', 'order=sideways', 'since=yesterday']) {
      const bad = await api(`/api/v1/audit?${query}`);
      expect(bad.status, query).toBe(400);
      expect(bad.headers.get('content-type')).toContain('application/problem+json');
    }
    expect((await api('/api/v1/audit', { token: null })).status).toBe(401);

    const text = await (await api('/api/v1/audit?limit=1000')).text();
    for (const secret of secrets) expect(text).not.toContain(secret);
  });

  it('fails an action whose event cannot be written, as a 500 problem, leaving nothing half-done', async () => {
    const before = await headSeq();
    const tokensBefore = (await runtime.store.tokens.listEnrollmentTokens()).length;
    const apiTokensBefore = (await runtime.store.tokens.listApiTokens()).length;
    const commandCount = async () => Number((await sql<{ n: number }>`select count(*) as n from commands`.execute(runtime.store.db)).rows[0]!.n);
    const commandsBefore = await commandCount();
    const expectProblem500 = async (response: Response) => {
      expect(response.status).toBe(500);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      const body = await response.json() as { detail?: string };
      expect(JSON.stringify(body)).not.toContain('audit storage is unavailable');
    };

    const failure = vi.spyOn(runtime.audit, 'record').mockRejectedValue(new Error('audit storage is unavailable'));
    await expectProblem500(await api('/api/v1/enrollment-tokens', { method: 'POST', json: { label: 'never' } }));
    await expectProblem500(await api('/api/v1/api-tokens', { method: 'POST', json: { name: 'never', role: 'operator' } }));
    await expectProblem500(await api(`/api/v1/devices/${udid}/commands`, { method: 'POST', json: { requestType: 'ProfileList' } }));
    const raw = Buffer.from(encodePlist({ CommandUUID: 'RAW-UNAUDITED', Command: { RequestType: 'ProfileList' } }));
    await expectProblem500(await fetch(`${url}/v1/enqueue/${udid}`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN}` }, body: raw }));
    failure.mockRestore();

    // A failure in the database itself, not in the service: the same outcome.
    await sql`alter table audit_events rename to audit_events_away`.execute(runtime.store.db);
    try {
      await expectProblem500(await api('/api/v1/enrollment-tokens', { method: 'POST', json: { label: 'never either' } }));
    } finally {
      await sql`alter table audit_events_away rename to audit_events`.execute(runtime.store.db);
    }

    expect((await runtime.store.tokens.listEnrollmentTokens()).length).toBe(tokensBefore);
    expect((await runtime.store.tokens.listApiTokens()).length).toBe(apiTokensBefore);
    expect(await commandCount()).toBe(commandsBefore);
    expect(await runtime.store.commands.get(udid, 'RAW-UNAUDITED')).toBeUndefined();
    expect(await headSeq()).toBe(before);
  });

  // Last: the import moves pushes to the certificate, which the local APNs mock does not expect.
  it('records a push certificate import: topic, serial and expiry, never the key or password', async () => {
    const password = 'p12-password-never-logged';
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', `/UID=${TOPIC}/CN=APSP:audit-e2e`, '-keyout', join(dir, 'push.key'), '-out', join(dir, 'push.pem')], { stdio: 'pipe' });
    execFileSync('openssl', ['pkcs12', '-export', '-in', join(dir, 'push.pem'), '-inkey', join(dir, 'push.key'), '-passout', `pass:${password}`, '-out', join(dir, 'push.p12')], { stdio: 'pipe' });
    const p12 = (await readFile(join(dir, 'push.p12'))).toString('base64');
    const keyLine = (await readFile(join(dir, 'push.key'), 'utf8')).split('\n')[1]!;
    secrets.push(password, p12.slice(0, 200), keyLine);
    const serial = execFileSync('openssl', ['x509', '-in', join(dir, 'push.pem'), '-noout', '-serial'], { encoding: 'utf8' }).trim().split('=')[1]!.toLowerCase();

    const before = await headSeq();
    const response = await api('/api/v1/push-certificate', { method: 'POST', json: { p12, password } });
    expect(response.status).toBe(201);
    const { notAfter } = await response.json() as { notAfter: string };
    const admin = await runtime.store.tokens.findApiToken(hashApiToken(ADMIN));
    expect(await eventsAfter(before)).toEqual([expect.objectContaining({
      actor: admin!.id, action: 'push-certificate.import', target: TOPIC,
      details: { topic: TOPIC, serialNumber: serial, notAfter, replacedTopic: null },
    })]);
  });
});
