// `lockwarden demo` (`npm run demo`): a throwaway server on SQLite in a temporary directory, the
// local APNs mock, a simulated fleet of mixed devices, and the two example policies in
// examples/policies delivered to it as InstallProfile commands (the baseline to every device that
// can take it, the finance policy to a third of them), then SecurityInfo and ProfileList to all.
// Prints how to reach the API, and a live summary until Ctrl-C, which removes everything.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../http/app.ts';
import { commandPlist, newCommandUuid } from '../mdm/commands.ts';
import { buildProfile } from '../plist/mobileconfig.ts';
import { encodePlist } from '../plist/plist-codec.ts';
import { compilePolicy, profileContent } from '../policy/index.ts';
import type { PasscodePolicy } from '../policy/index.ts';
import { readPolicySource } from '../services/policy-source.ts';
import { openRuntime } from '../services/runtime.ts';
import { configFromEnv } from '../services/server-config.ts';
import { startApnsMock } from '../sim/apns-mock.ts';
import { allocateFleet, parseMix } from '../sim/fleet-mix.ts';
import { FLEET_KINDS, runFleet } from '../sim/fleet-runner.ts';
import type { SimulatedDevice } from '../sim/simulated-device.ts';
import { CliError, EXIT_USAGE } from './output.ts';
import { progressPrinter, untilInterrupted } from './simulate-command.ts';

/** Every platform and the enrollment types that matter for passcodes, weighted like a real fleet. */
export const DEMO_MIX = 'iphone=34,iphone-user-enrollment=6,ipad=10,shared-ipad=4,mac=24,mac-user-enrollment=4,apple-watch=10,vision-pro=4,apple-tv=4';
const EXAMPLES = fileURLToPath(new URL('../../examples/policies/', import.meta.url));

export interface DemoOptions {
  devices: string;
  port: string;
}

async function examplePolicy(file: string): Promise<PasscodePolicy> {
  const result = await readPolicySource(await readFile(join(EXAMPLES, file)));
  if (!result.ok) throw new Error(`examples/policies/${file} is invalid: ${result.errors.map((e) => e.message).join('; ')}`);
  return result.value;
}

type Api = (method: string, path: string, body?: unknown, raw?: Buffer) => Promise<{ status: number; body: unknown }>;

/** NanoMDM-style enqueue, a URL's worth of ids at a time (each batch its own CommandUUID). */
async function enqueueToAll(api: Api, ids: readonly string[], command: { RequestType: string } & Record<string, unknown>): Promise<void> {
  for (let start = 0; start < ids.length; start += 200) {
    const batch = ids.slice(start, start + 200);
    const body = Buffer.from(encodePlist(commandPlist(newCommandUuid(), command)));
    const sent = await api('PUT', `/v1/enqueue/${batch.map(encodeURIComponent).join(',')}`, undefined, body);
    if (sent.status >= 300) throw new Error(`${command.RequestType}: HTTP ${sent.status} ${JSON.stringify(sent.body)}`);
  }
}

/**
 * One InstallProfile per distinct compiled profile, bulk-enqueued to every device it was compiled
 * for. Returns why the others could not get it (tvOS, Shared iPad, macOS User Enrollment).
 */
async function deliverPolicy(api: Api, policy: PasscodePolicy, devices: SimulatedDevice[]): Promise<Map<string, number>> {
  const byProfile = new Map<string, { bytes: Buffer; ids: string[] }>();
  const refused = new Map<string, number>();
  for (const device of devices) {
    const outcome = compilePolicy(policy.requirements, { platform: device.kind.platform, enrollment: device.kind.enrollment });
    if (!outcome.ok) {
      refused.set(outcome.reason, (refused.get(outcome.reason) ?? 0) + 1);
      continue;
    }
    const bytes = Buffer.from(encodePlist(buildProfile(profileContent(outcome.compiled, policy.meta))));
    const key = bytes.toString('base64');
    const entry = byProfile.get(key) ?? { bytes, ids: [] };
    entry.ids.push(device.id);
    byProfile.set(key, entry);
  }
  for (const { bytes, ids } of byProfile.values()) await enqueueToAll(api, ids, { RequestType: 'InstallProfile', Payload: bytes });
  return refused;
}

function summary(devices: SimulatedDevice[], queue: Record<string, number>, pushes: number): string {
  const passcodes = { compliant: 0, 'in-grace': 0, 'non-compliant': 0, 'no passcode policy': 0 };
  for (const device of devices) {
    const status = device.passcodeStatus();
    const hasPolicy = device.profileList(true).length > 0;
    passcodes[hasPolicy ? status.state : 'no passcode policy'] += 1;
  }
  const escrowed = devices.filter((d) => d.unlockToken !== undefined).length;
  const time = new Date().toISOString().slice(11, 19);
  return `[${time}] ${devices.length} devices, ${escrowed} UnlockTokens escrowed · commands: ${queue.Acknowledged ?? 0} acknowledged, ` +
    `${queue.Error ?? 0} error, ${queue.NotNow ?? 0} not now, ${queue.pending ?? 0} pending · ${pushes} pushes delivered\n` +
    `           passcodes as the devices judge them: ${passcodes.compliant} compliant, ${passcodes['in-grace']} in grace, ` +
    `${passcodes['non-compliant']} non-compliant, ${passcodes['no passcode policy']} without a passcode policy\n`;
}

export async function demoCommand(options: DemoOptions): Promise<void> {
  const count = Number(options.devices);
  if (!/^\d+$/.test(options.devices) || count < 1 || count > 2000) throw new CliError(`--devices ${options.devices}: must be a whole number from 1 to 2000`, EXIT_USAGE);
  if (!/^\d+$/.test(options.port) || Number(options.port) > 65_535) throw new CliError(`--port ${options.port}: must be a port number (0–65535)`, EXIT_USAGE);
  const mix = parseMix(DEMO_MIX, FLEET_KINDS);
  if (!mix.ok) throw new Error(mix.error);
  const [baseline, finance] = await Promise.all([examplePolicy('baseline.yaml'), examplePolicy('finance.yaml')]);

  const dataDir = await mkdtemp(join(tmpdir(), 'lockwarden-demo-'));
  const apns = await startApnsMock({ host: '127.0.0.1' });
  const adminToken = `lw_demo_${randomBytes(18).toString('base64url')}`;
  const runtime = await openRuntime(configFromEnv({
    LOCKWARDEN_DATA_DIR: dataDir,
    LOCKWARDEN_APNS_URL: apns.url,
    LOCKWARDEN_ADMIN_TOKEN: adminToken,
    LOG_LEVEL: 'warn',
  }));
  const app = await buildApp(runtime, { logger: false });
  let fleet: Awaited<ReturnType<typeof runFleet>> | undefined;
  try {
    let url: string;
    try {
      url = await app.listen({ port: Number(options.port), host: '127.0.0.1' });
    } catch (err) {
      if ((err as { code?: string }).code === 'EADDRINUSE') throw new CliError(`port ${options.port} is in use: try --port 0 (any free port) or PORT=…`);
      throw err;
    }
    const api: Api = async (method, path, body, raw) => {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': raw ? 'application/xml' : 'application/json' },
        ...(raw ? { body: raw } : body !== undefined && { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, body: text === '' ? undefined : JSON.parse(text) as unknown };
    };

    process.stdout.write(`\nlockwarden demo — a throwaway server in ${dataDir}\n\n` +
      `  server       ${url}\n` +
      `  admin token  ${adminToken}\n` +
      `  API docs     ${url}/docs\n` +
      `  devices      curl -s -H "Authorization: Bearer ${adminToken}" ${url}/api/v1/devices\n` +
      `               ./bin/lockwarden devices list --server ${url} --token ${adminToken}\n` +
      `  audit log    ./bin/lockwarden audit list --server ${url} --token ${adminToken}\n` +
      `  metrics      ${url}/metrics\n\n`);

    const token = await api('POST', '/api/v1/enrollment-tokens', { label: 'demo fleet', identity: 'any' });
    if (token.status !== 201) throw new Error(`enrollment token: HTTP ${token.status} ${JSON.stringify(token.body)}`);
    const { enrollUrl } = token.body as { enrollUrl: string };
    process.stdout.write(`enrolling ${count} simulated devices (SCEP and PKCS#12 in turn) from ${enrollUrl.replace(/token=.*/, 'token=…')}\n`);
    const printer = progressPrinter(process.stdout);
    fleet = await runFleet({
      enrollmentUrl: enrollUrl,
      serverUrl: url,
      kinds: allocateFleet(count, mix.entries),
      identity: 'alternate',
      apns,
      pollIntervalMs: 30_000,
      onProgress: (p) => printer.update(p),
    });
    printer.done(fleet.progress());
    const devices = fleet.devices;

    const notes = new Map<string, number>();
    for (const [reason, n] of await deliverPolicy(api, baseline, devices)) notes.set(reason, n);
    await deliverPolicy(api, finance, devices.filter((_, i) => i % 3 === 0));
    process.stdout.write(`policies: "${baseline.meta.displayName}" to every device that takes a passcode payload, "${finance.meta.displayName}" on top for a third of them\n`);
    for (const [reason, n] of notes) process.stdout.write(`  not delivered to ${n} device(s): ${reason}\n`);
    for (const requestType of ['ProfileList', 'SecurityInfo']) await enqueueToAll(api, devices.map((d) => d.id), { RequestType: requestType });

    const report = async () => process.stdout.write(summary(devices, await runtime.store.commands.stats(), apns.delivered.length));
    const ticker = setInterval(() => void report(), 5000);
    setTimeout(() => void report(), 1500).unref();
    process.stdout.write('\nrunning; Ctrl-C stops the demo and deletes its data\n');
    await untilInterrupted();
    clearInterval(ticker);
  } finally {
    await fleet?.stop();
    await app.close();
    await runtime.close();
    await apns.close();
    await rm(dataDir, { recursive: true, force: true });
    process.stdout.write(`\nstopped; removed ${dataDir}\n`);
  }
}
