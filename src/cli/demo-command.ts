// `lockwarden demo` (`npm run demo`): a throwaway server on SQLite in a temporary directory, the
// local APNs mock and a simulated fleet of mixed devices. The two example policies in
// examples/policies are stored and assigned (the baseline to every device, the finance policy to
// the group "finance", which a third of the fleet joins), so the server delivers, verifies and
// tracks them as it would for real devices. Prints how to reach the API, and a live summary until
// Ctrl-C, which removes everything.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../http/app.ts';
import { toPolicyDocument } from '../policy/index.ts';
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

type Api = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: unknown }>;

/** Stores a policy and assigns it; delivery to the devices it reaches is the server's job. */
async function storeAndAssign(api: Api, name: string, policy: PasscodePolicy, target: Record<string, unknown>): Promise<void> {
  const created = await api('POST', '/api/v1/policies', { name, policy: toPolicyDocument(policy) });
  if (created.status !== 201) throw new Error(`policy ${name}: HTTP ${created.status} ${JSON.stringify(created.body)}`);
  const { id } = created.body as { id: string };
  const assigned = await api('POST', `/api/v1/policies/${id}/assignments`, target);
  if (assigned.status >= 300) throw new Error(`assigning ${name}: HTTP ${assigned.status} ${JSON.stringify(assigned.body)}`);
}

function summary(devices: SimulatedDevice[], queue: Record<string, number>, compliance: Record<string, number>, pushes: number): string {
  const escrowed = devices.filter((d) => d.unlockToken !== undefined).length;
  const states = Object.entries(compliance).filter(([, n]) => n > 0).sort(([a], [b]) => a.localeCompare(b)).map(([state, n]) => `${n} ${state}`).join(', ');
  const time = new Date().toISOString().slice(11, 19);
  return `[${time}] ${devices.length} devices, ${escrowed} UnlockTokens escrowed · commands: ${queue.Acknowledged ?? 0} acknowledged, ` +
    `${queue.Error ?? 0} error, ${queue.NotNow ?? 0} not now, ${queue.pending ?? 0} pending · ${pushes} pushes delivered\n` +
    `           compliance, as the devices' reports prove it: ${states || 'not assessed yet'}\n`;
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
    // A livelier demo than production's default of two minutes.
    LOCKWARDEN_COMPLIANCE_SWEEP_SECONDS: '20',
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
    const api: Api = async (method, path, body) => {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
        ...(body !== undefined && { body: JSON.stringify(body) }),
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

    // Policies first: each device gets its effective policy the moment it enrolls.
    await storeAndAssign(api, 'baseline', baseline, { all: true });
    await storeAndAssign(api, 'finance', finance, { group: 'finance' });
    process.stdout.write(`policies: "${baseline.meta.displayName}" assigned to every device, "${finance.meta.displayName}" to the group "finance"\n`);

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

    // A third of the fleet joins "finance": the server delivers the stricter merge to just those.
    for (const device of devices.filter((_, i) => i % 3 === 0)) await api('PUT', `/api/v1/devices/${encodeURIComponent(device.id)}/groups`, { groups: ['finance'] });
    process.stdout.write(`${Math.ceil(devices.length / 3)} devices put in the group "finance"; see one with ./bin/lockwarden devices show UDID --server ${url} --token ${adminToken}\n`);

    const report = async () => process.stdout.write(summary(devices, await runtime.store.commands.stats(), await runtime.store.compliance.countByState(), apns.delivered.length));
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
