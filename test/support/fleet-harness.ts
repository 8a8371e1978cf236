// One lockwarden server (in-process, on SQLite or PostgreSQL), the local APNs mock it pushes to,
// a push router and a virtual clock, handing out simulated devices that talk to the server over
// HTTP only. For the end-to-end tests of every device kind, and for the later ones (compliance,
// custody, console) that extend them:
//
//   const fleet = await startFleet({ database });
//   const phone = await fleet.enroll('iphone', { identity: 'scep', passcode: '1234' });
//   const { commandUuid } = await fleet.enqueue(phone.id, { RequestType: 'SecurityInfo' });
//   const done = await fleet.untilAnswered(phone.id, commandUuid);
//   await fleet.close();

import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createDeviceCa, generateDeviceIdentity } from '../../src/crypto/device-ca.ts';
import { buildApp } from '../../src/http/app.ts';
import { commandPlist } from '../../src/mdm/commands.ts';
import { decodePlist, encodePlist } from '../../src/plist/plist-codec.ts';
import type { DeclarationsProvider } from '../../src/services/declarative-service.ts';
import { openRuntime } from '../../src/services/runtime.ts';
import type { Runtime } from '../../src/services/runtime.ts';
import { configFromEnv } from '../../src/services/server-config.ts';
import { startApnsMock } from '../../src/sim/apns-mock.ts';
import type { ApnsMock } from '../../src/sim/apns-mock.ts';
import { VirtualClock } from '../../src/sim/clock.ts';
import type { DeviceKind, PresetName } from '../../src/sim/device-kinds.ts';
import { startPushRouter } from '../../src/sim/push-router.ts';
import type { PushRouter } from '../../src/sim/push-router.ts';
import { SimulatedDevice } from '../../src/sim/simulated-device.ts';
import type { EnrollOptions, SimulatedDeviceOptions } from '../../src/sim/simulated-device.ts';
import type { QueuedCommand, QueueStatus } from '../../src/store/types.ts';
import type { TestDatabaseUrl } from './databases.ts';

export const FLEET_ADMIN_TOKEN = 'fleet-harness-admin-token-0123456789abcdef';
export const FLEET_TOPIC = 'com.apple.mgmt.External.fleet-harness';

/** GET /api/v1/devices/:udid, as the admin API answers it. */
export interface DeviceView {
  udid: string;
  platform: string | null;
  enrollmentKind: 'device' | 'user' | 'shared-ipad';
  productName: string | null;
  serialNumber: string | null;
  osVersion: string | null;
  escrow: { unlockToken: 'escrowed' | 'absent'; unlockTokenAt: string | null; bootstrapToken: 'escrowed' | 'absent' };
  enrollments: { id: string; channel: 'device' | 'user'; type: string; enabled: boolean; pushable: boolean; tokenUpdateCount: number }[];
  updatedAt: string;
  compliance: ComplianceView;
}

/** The device's `compliance`, as GET /api/v1/devices/:udid answers it. */
export interface ComplianceView {
  state: string;
  reasonCode: string;
  reason: string;
  graceDeadline: string | null;
  channel: 'profile' | 'ddm' | null;
  channelReason: string | null;
  installedAt: string | null;
  reinstallCount: number;
  delivery: { command: string; commandUuid: string; queuedAt: string; status: string | null; resultAt: string | null } | null;
  evidence: { kind: string; at: string; detail: string }[];
  assessedAt: string | null;
}

export interface FleetOptions {
  /** Default: SQLite in a temporary data directory. */
  database?: TestDatabaseUrl;
  clock?: VirtualClock;
  /** The declarations each enrollment gets over DDM; default: the runtime's (each device's passcode declaration). */
  declarationsFor?: DeclarationsProvider;
  /** Sign enrollment and passcode profiles with a throwaway identity (LOCKWARDEN_SIGNING_CERT/_KEY). */
  signing?: boolean;
  /** LOCKWARDEN_PASSCODE_CHANNEL; default the server's (auto). */
  passcodeChannel?: 'auto' | 'profile';
}

/** A device's own options; `clock` defaults to the fleet's (give a device its own to move it alone). */
export type FleetDeviceOptions = Omit<SimulatedDeviceOptions, 'kind' | 'baseUrl'>;

export interface FleetEnrollOptions extends Partial<EnrollOptions>, FleetDeviceOptions {}

export interface Fleet {
  /** http://127.0.0.1:PORT, where the server listens. */
  url: string;
  runtime: Runtime;
  apns: ApnsMock;
  router: PushRouter;
  /** Drives the devices (unless given their own), the APNs mock (apns-expiration) and the server (runtime.now). */
  clock: VirtualClock;
  adminToken: string;
  /** A fresh enrollment URL (https://…/mdm/enroll?token=…) from the admin API. */
  enrollmentUrl(options?: { identity?: 'scep' | 'pkcs12' | 'any'; maxUses?: number }): Promise<string>;
  /** A device of this kind on the fleet's push network, not yet enrolled. */
  device(kind: PresetName | DeviceKind, options?: FleetDeviceOptions): SimulatedDevice;
  /** A device enrolled through a fresh enrollment URL (SCEP unless told otherwise). */
  enroll(kind: PresetName | DeviceKind, options?: FleetEnrollOptions): Promise<SimulatedDevice>;
  /** NanoMDM-style PUT /v1/enqueue/:ids with a raw command plist; the server pushes. */
  enqueue(ids: string | string[], command: ({ RequestType: string } & Record<string, unknown>) | Uint8Array): Promise<{ status: number; commandUuid: string; body: unknown }>;
  /** An admin API call with the bootstrap admin token. */
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  getDevice(id: string): Promise<DeviceView>;
  /** The command as the server's queue holds it for this enrollment. */
  command(enrollmentId: string, commandUuid: string): Promise<QueuedCommand | undefined>;
  /** Waits until the device has answered the command with one of `statuses` (default: any answer). */
  untilAnswered(enrollmentId: string, commandUuid: string, options?: { statuses?: readonly QueueStatus[]; timeoutMs?: number }): Promise<QueuedCommand & { response: Record<string, unknown> }>;
  /** Devices woken, delivery and the compliance processor all quiet. */
  settled(): Promise<void>;
  /** Waits until the device's compliance satisfies `until` (a state, or a test of the view); returns the view. */
  untilCompliance(id: string, until: string | ((view: ComplianceView) => boolean), options?: { timeoutMs?: number }): Promise<ComplianceView>;
  close(): Promise<void>;
}

const ANSWERED: readonly QueueStatus[] = ['Acknowledged', 'Error', 'CommandFormatError', 'NotNow'];

export async function startFleet(options: FleetOptions = {}): Promise<Fleet> {
  const clock = options.clock ?? new VirtualClock();
  const apns = await startApnsMock({ topic: FLEET_TOPIC, now: clock.now });
  const dataDir = await mkdtemp(join(tmpdir(), 'lockwarden-fleet-'));
  let runtime: Runtime | undefined;
  let app: FastifyInstance | undefined;
  const router = startPushRouter(apns);
  try {
    const env: NodeJS.ProcessEnv = {
      LOCKWARDEN_DATA_DIR: dataDir,
      LOCKWARDEN_ADMIN_TOKEN: FLEET_ADMIN_TOKEN,
      LOCKWARDEN_APNS_URL: apns.url,
      LOCKWARDEN_APNS_TOPIC: FLEET_TOPIC,
      LOG_LEVEL: 'silent',
      // Tests run the sweep themselves (fleet.runtime.compliance.sweep()), after moving the clock.
      LOCKWARDEN_COMPLIANCE_SWEEP_SECONDS: '0',
    };
    if (options.database?.url) env.DATABASE_URL = await options.database.url();
    if (options.passcodeChannel) env.LOCKWARDEN_PASSCODE_CHANNEL = options.passcodeChannel;
    if (options.signing) {
      const issuer = await createDeviceCa({ commonName: 'Fleet Harness Signing CA' });
      const signer = await generateDeviceIdentity(issuer, 'Fleet Harness Profile Signer');
      env.LOCKWARDEN_SIGNING_CERT = join(dataDir, 'signer.pem');
      env.LOCKWARDEN_SIGNING_KEY = join(dataDir, 'signer.key');
      await writeFile(env.LOCKWARDEN_SIGNING_CERT, `${signer.certificatePem}\n${issuer.certificatePem}`);
      await writeFile(env.LOCKWARDEN_SIGNING_KEY, signer.privateKeyPem, { mode: 0o600 });
    }
    // The server shares the devices' clock, so a test moves both past a grace deadline at once.
    runtime = await openRuntime(configFromEnv(env), clock.now, options.declarationsFor ? { declarationsFor: options.declarationsFor } : {});
    app = await buildApp(runtime, { logger: false });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const started = { runtime, app };

    const api = async <T>(method: string, path: string, body?: unknown) => {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${FLEET_ADMIN_TOKEN}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
    };

    const fleet: Fleet = {
      url,
      runtime,
      apns,
      router,
      clock,
      adminToken: FLEET_ADMIN_TOKEN,
      async enrollmentUrl(opts = {}) {
        const created = await api<{ enrollUrl: string }>('POST', '/api/v1/enrollment-tokens', { label: 'fleet', maxUses: opts.maxUses ?? 1, identity: opts.identity ?? 'any' });
        if (created.status !== 201) throw new Error(`enrollment token: HTTP ${created.status} ${JSON.stringify(created.body)}`);
        return created.body.enrollUrl;
      },
      device(kind, deviceOptions = {}) {
        return router.add(new SimulatedDevice({ clock, ...deviceOptions, kind, baseUrl: url }));
      },
      async enroll(kind, enrollOptions = {}) {
        const { identity = 'scep', accessRights, ...deviceOptions } = enrollOptions;
        const device = fleet.device(kind, deviceOptions);
        await device.enroll(await fleet.enrollmentUrl({ identity }), { identity, ...(accessRights !== undefined && { accessRights }) });
        return device;
      },
      async enqueue(ids, command) {
        let body: Uint8Array;
        let commandUuid: string;
        if (command instanceof Uint8Array) {
          body = command;
          commandUuid = String((decodePlist(Buffer.from(command)) as { CommandUUID?: unknown }).CommandUUID);
        } else {
          commandUuid = randomUUID().toUpperCase();
          body = Buffer.from(encodePlist(commandPlist(commandUuid, command)));
        }
        const list = Array.isArray(ids) ? ids.join(',') : ids;
        const response = await fetch(`${url}/v1/enqueue/${encodeURIComponent(list)}`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${FLEET_ADMIN_TOKEN}`, 'content-type': 'application/xml' },
          body,
        });
        const text = await response.text();
        return { status: response.status, commandUuid, body: text === '' ? undefined : JSON.parse(text) as unknown };
      },
      api,
      async getDevice(id) {
        const found = await api<DeviceView>('GET', `/api/v1/devices/${encodeURIComponent(id)}`);
        if (found.status !== 200) throw new Error(`GET /api/v1/devices/${id}: HTTP ${found.status} ${JSON.stringify(found.body)}`);
        return found.body;
      },
      command: (enrollmentId, commandUuid) => started.runtime.store.commands.get(enrollmentId, commandUuid),
      async untilAnswered(enrollmentId, commandUuid, waitOptions = {}) {
        const statuses = waitOptions.statuses ?? ANSWERED;
        // The server coalesces pushes to one device within 2 s and sends one trailing push at the
        // end of that window, so a command queued right after another may wait up to that long.
        const deadline = Date.now() + (waitOptions.timeoutMs ?? 10_000);
        for (;;) {
          await router.settled();
          const queued = await started.runtime.store.commands.get(enrollmentId, commandUuid);
          if (queued && statuses.includes(queued.status)) {
            const response = queued.result ? (decodePlist(queued.result) as Record<string, unknown>) : {};
            return { ...queued, response };
          }
          if (Date.now() > deadline) {
            throw new Error(`command ${commandUuid} for ${enrollmentId} is ${queued?.status ?? 'not queued'}, waited for ${statuses.join('/')}`);
          }
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      },
      async settled() {
        // A wake may queue results for the processor, which may plan deliveries that push again.
        for (let i = 0; i < 50; i++) {
          await router.settled();
          await started.runtime.compliance.settled();
          await router.settled();
          if (!started.runtime.compliance.delivery.busy && !started.runtime.compliance.processor.busy) return;
        }
      },
      async untilCompliance(id, until, waitOptions = {}) {
        const test = typeof until === 'string' ? (view: ComplianceView) => view.state === until : until;
        const deadline = Date.now() + (waitOptions.timeoutMs ?? 10_000);
        for (;;) {
          await fleet.settled();
          const view = (await fleet.getDevice(id)).compliance;
          if (test(view)) return view;
          if (Date.now() > deadline) throw new Error(`compliance of ${id} never got there: ${JSON.stringify(view)}`);
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      },
      async close() {
        router.close();
        await started.app.close();
        await started.runtime.close();
        await apns.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
    return fleet;
  } catch (err) {
    router.close();
    await app?.close();
    await runtime?.close();
    await apns.close();
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}
