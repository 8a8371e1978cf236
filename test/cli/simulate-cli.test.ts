// `lockwarden simulate` against a server started as a separate process, and `lockwarden demo`,
// each run as an administrator would run them: child processes, output read, Ctrl-C (SIGINT).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, startServer } from '../support/server-process.ts';
import type { Started } from '../support/server-process.ts';

const ADMIN = 'simulate-cli-admin-token-0123456789abcdef';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function run(args: string[], env: Record<string, string> = {}) {
  const child = spawn(BIN, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => { output += String(d); });
  child.stderr!.on('data', (d) => { output += String(d); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitFor = (pattern: RegExp, timeoutMs = 60_000) => new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${pattern} in:\n${output}`)), timeoutMs);
    const look = () => {
      const match = pattern.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', look);
    void exited.then(() => { clearTimeout(timer); look(); reject(new Error(`exited before ${pattern}:\n${output}`)); });
    look();
  });
  return { child, output: () => output, exited, waitFor };
}

const children: ChildProcess[] = [];
let server: Started | undefined;
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await server?.stop();
  server = undefined;
});

async function api<T>(url: string, token: string, path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const response = await fetch(`${url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers } });
  return { status: response.status, body: await response.json() as T };
}

describe('lockwarden simulate', () => {
  it('enrolls the mix against a running server, answers commands pushed to its APNs mock, and stops on Ctrl-C', async () => {
    const apnsPort = await freePort();
    server = await startServer({ LOCKWARDEN_DATA_DIR: await mkdtemp(join(tmpdir(), 'lockwarden-simulate-')), LOCKWARDEN_ADMIN_TOKEN: ADMIN, LOCKWARDEN_APNS_URL: `http://127.0.0.1:${apnsPort}`, LOG_LEVEL: 'warn' });
    const token = await api<{ token: string }>(server.url, ADMIN, '/api/v1/enrollment-tokens', { method: 'POST', body: JSON.stringify({ label: 'simulate', identity: 'any' }) });
    expect(token.status).toBe(201);

    const sim = run(['simulate', '--server', server.url, '--enroll-token', token.body.token, '--devices', '6', '--mix', 'ios=1,macos=1,iphone-user-enrollment=1', '--identity', 'alternate', '--apns-port', String(apnsPort), '--poll', '0']);
    children.push(sim.child);
    await sim.waitFor(/fleet running/);
    expect(sim.output()).toMatch(/enrolled 6\/6 · .*iphone 2.*iphone-user-enrollment 2.*mac 2/);

    const devices = await api<{ devices: { udid: string; platform: string; enrollmentKind: string }[] }>(server.url, ADMIN, '/api/v1/devices');
    expect(devices.body.devices).toHaveLength(6);
    expect(devices.body.devices.filter((d) => d.platform === 'macos')).toHaveLength(2);
    expect(devices.body.devices.filter((d) => d.enrollmentKind === 'user')).toHaveLength(2);

    // The server pushes to the simulator's APNs mock; the device wakes and answers.
    const mac = devices.body.devices.find((d) => d.platform === 'macos')!;
    const queued = await api<{ commandUuid: string }>(server.url, ADMIN, `/api/v1/devices/${mac.udid}/commands`, { method: 'POST', body: JSON.stringify({ requestType: 'SecurityInfo' }) });
    expect(queued.status).toBe(202);
    await sim.waitFor(/commands [1-9]/, 20_000);

    sim.child.kill('SIGINT');
    expect(await sim.exited).toBe(0);
  }, 120_000);

  it('refuses a bad mix before contacting anyone, naming the entry', async () => {
    const sim = run(['simulate', '--enroll-token', 'x', '--mix', 'ios=60,andriod=5']);
    children.push(sim.child);
    expect(await sim.exited).toBe(2);
    expect(sim.output()).toMatch(/unknown kind "andriod"; known kinds: ios, ipados/);
  });
});

describe('lockwarden demo', () => {
  it('runs a throwaway server with a fleet and the example policies, and removes it all on Ctrl-C', async () => {
    const demo = run(['demo', '--devices', '8', '--port', '0']);
    children.push(demo.child);
    const [, url] = await demo.waitFor(/server {7}(http:\/\/127\.0\.0\.1:\d+)/);
    const [, token] = await demo.waitFor(/admin token {2}(\S+)/);
    const [, dataDir] = await demo.waitFor(/a throwaway server in (\S+)/);
    await demo.waitFor(/running; Ctrl-C stops the demo/);
    expect(demo.output()).toMatch(/enrolled 8\/8/);
    expect(demo.output()).toMatch(/policies: "Baseline passcode" assigned to every device, "Finance passcode" to the group "finance"/);

    const devices = await api<{ devices: unknown[] }>(url!, token!, '/api/v1/devices');
    expect(devices.body.devices).toHaveLength(8);
    // The live summary reports commands the devices answered.
    await demo.waitFor(/commands: [1-9]\d* acknowledged/, 30_000);
    // …and the compliance the server proves from their reports (policies were delivered unasked).
    await demo.waitFor(/compliance, as the devices' reports prove it: .*\d+ (in-grace|not-observable)/, 30_000);

    demo.child.kill('SIGINT');
    expect(await demo.exited).toBe(0);
    expect(demo.output()).toMatch(/stopped; removed/);
    expect(existsSync(dataDir!)).toBe(false);
  }, 120_000);
});
