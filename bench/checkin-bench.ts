// The signed check-in, end to end, as issue 4 asks it to be measured: one enrolled device's signed
// Idle and signed TokenUpdate replayed at full rate over loopback (Apple's protocol has no nonce,
// so a replay is valid) by this process pinned to CPU 0, against the real server pinned to CPU 1;
// server CPU per request read from the server's own process counters (/metrics), beside a bare
// Fastify handler receiving the same bytes in the same run. SQLite, and PostgreSQL when it answers.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { generateDeviceIdentity } from '../src/crypto/device-ca.ts';
import { encodePlist } from '../src/plist/plist-codec.ts';
import { openRuntime } from '../src/services/runtime.ts';
import { configFromEnv } from '../src/services/server-config.ts';
import { MdmClient } from '../src/sim/mdm-client.ts';

const ROOT = join(import.meta.dirname, '..');
const DURATION_MS = Number(process.env.CHECKIN_BENCH_MS ?? 4000);
const CONCURRENCY = 8;
const PG_ADMIN_URL = process.env.LOCKWARDEN_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const TOPIC = 'com.apple.mgmt.External.bench';

interface Server { url: string; child: ChildProcess; cpuSeconds(): Promise<number>; rssBytes(): Promise<number> }

function pinned(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn('taskset', ['-c', '1', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function waitForUrl(child: ChildProcess, pattern: RegExp): Promise<string> {
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 30_000);
    const look = (data: Buffer) => {
      output += String(data);
      const match = pattern.exec(output);
      if (match) { clearTimeout(timer); resolve(match[1]!); }
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', look);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}:\n${output}`)); });
  });
}

function metric(text: string, name: string): number {
  const match = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text);
  if (!match) throw new Error(`no metric ${name}`);
  return Number(match[1]);
}

async function startLockwarden(env: NodeJS.ProcessEnv): Promise<Server> {
  const child = pinned(['node', 'bin/lockwarden', 'serve'], { ...env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn' });
  const url = await waitForUrl(child, /lockwarden listening on (http:\/\/127\.0\.0\.1:\d+)/);
  const metrics = async () => (await fetch(`${url}/metrics`)).text();
  return {
    url,
    child,
    cpuSeconds: async () => metric(await metrics(), 'lockwarden_process_process_cpu_seconds_total'),
    rssBytes: async () => metric(await metrics(), 'lockwarden_process_process_resident_memory_bytes'),
  };
}

async function startBareFastify(): Promise<Server> {
  const child = pinned(['node', '--import', 'tsx', 'bench/bare-fastify-server.ts'], {});
  const url = await waitForUrl(child, /(http:\/\/127\.0\.0\.1:\d+)/);
  const stats = async () => (await fetch(`${url}/stats`)).json() as Promise<{ cpuSeconds: number; rssBytes: number }>;
  return { url, child, cpuSeconds: async () => (await stats()).cpuSeconds, rssBytes: async () => (await stats()).rssBytes };
}

interface LoadResult { requests: number; errors: number; seconds: number; latenciesMs: number[] }

/** Replays one request as fast as CONCURRENCY keep-alive connections allow, for DURATION_MS. */
async function replay(url: string, path: string, body: Buffer, headers: Record<string, string>): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const target = new URL(path, url);
  const latenciesMs: number[] = [];
  let errors = 0;
  const deadline = performance.now() + DURATION_MS;
  const once = () => new Promise<void>((resolve) => {
    const started = performance.now();
    const request = http.request(target, { method: 'PUT', agent, headers: { ...headers, 'content-length': body.length } }, (response) => {
      response.resume();
      response.on('end', () => {
        if (response.statusCode !== 200) errors++;
        latenciesMs.push(performance.now() - started);
        resolve();
      });
    });
    request.on('error', () => { errors++; resolve(); });
    request.end(body);
  });
  const start = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (performance.now() < deadline) await once();
  }));
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  return { requests: latenciesMs.length, errors, seconds, latenciesMs };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

interface Row { name: string; rps: number; p50: number; p99: number; cpuUs: number; errors: number; rssMb: [number, number] }

async function measureScenario(name: string, server: Server, path: string, body: Buffer, headers: Record<string, string>): Promise<Row> {
  await replay(server.url, path, body, headers); // warm-up: JIT, caches, connection pool
  const rssBefore = await server.rssBytes();
  const cpuBefore = await server.cpuSeconds();
  const result = await replay(server.url, path, body, headers);
  const cpuAfter = await server.cpuSeconds();
  const rssAfter = await server.rssBytes();
  const sorted = result.latenciesMs.sort((a, b) => a - b);
  return {
    name,
    rps: result.requests / result.seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    // Two /metrics reads fall inside the window; at thousands of requests they are noise.
    cpuUs: ((cpuAfter - cpuBefore) / result.requests) * 1e6,
    errors: result.errors,
    rssMb: [rssBefore / 2 ** 20, rssAfter / 2 ** 20],
  };
}

async function enrolledDevice(env: NodeJS.ProcessEnv) {
  // Prepare the data dir (CA, master key) in-process, issue a device identity, then let the
  // pinned server process open the same data.
  const runtime = await openRuntime(configFromEnv({ ...env, LOG_LEVEL: 'silent' }));
  const identity = await generateDeviceIdentity(runtime.deviceCa!, 'BENCH-DEVICE');
  await runtime.close();
  return identity;
}

async function runDatabase(label: string, env: NodeJS.ProcessEnv, bare: Server): Promise<Row[]> {
  const identity = await enrolledDevice(env);
  const server = await startLockwarden(env);
  try {
    const udid = 'BENCH-DEVICE';
    const client = new MdmClient({ serverUrl: server.url, identity });
    await client.checkIn({ MessageType: 'Authenticate', Topic: TOPIC, UDID: udid, ProductName: 'iPhone17,1', OSVersion: '18.1' });
    const tokenUpdate = Buffer.from(encodePlist({ MessageType: 'TokenUpdate', Topic: TOPIC, UDID: udid, Token: randomBytes(32), PushMagic: 'BENCH-MAGIC', UnlockToken: randomBytes(300) }));
    const idle = Buffer.from(encodePlist({ UDID: udid, Status: 'Idle' }));
    const signed = async (body: Buffer, type: string) => ({ 'content-type': type, 'mdm-signature': await client.signatureFor(body) });
    const idleHeaders = await signed(idle, 'application/x-apple-aspen-mdm');
    const tokenHeaders = await signed(tokenUpdate, 'application/x-apple-aspen-mdm-checkin');
    const check = await client.send('/mdm/checkin', tokenUpdate, 'application/x-apple-aspen-mdm-checkin');
    if (check.status !== 200) throw new Error(`TokenUpdate answered ${check.status}: ${check.body}`);
    return [
      await measureScenario(`bare Fastify, same Idle bytes`, bare, '/mdm/connect', idle, idleHeaders),
      await measureScenario(`${label}: signed Idle`, server, '/mdm/connect', idle, idleHeaders),
      await measureScenario(`${label}: signed TokenUpdate`, server, '/mdm/checkin', tokenUpdate, tokenHeaders),
    ];
  } finally {
    server.child.kill('SIGTERM');
  }
}

function print(rows: Row[]): void {
  const baseline = rows[0]!;
  console.log(`\nSigned check-in replay (${DURATION_MS} ms per row, ${CONCURRENCY} connections; load generator on CPU 0, server on CPU 1)`);
  console.log('                                         req/s    p50 ms   p99 ms   server CPU µs/req   vs bare CPU   RSS MB before→after   errors');
  for (const row of rows) {
    console.log(`${row.name.padEnd(38)} ${Math.round(row.rps).toString().padStart(8)} ${row.p50.toFixed(3).padStart(9)} ${row.p99.toFixed(3).padStart(8)} ${row.cpuUs.toFixed(0).padStart(19)} ${`${(row.cpuUs / baseline.cpuUs).toFixed(1)}×`.padStart(13)} ${`${row.rssMb[0].toFixed(0)}→${row.rssMb[1].toFixed(0)}`.padStart(21)} ${String(row.errors).padStart(8)}`);
  }
}

async function throwawayPostgres(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  try {
    await admin.connect();
  } catch {
    console.warn('\nPostgreSQL check-in bench SKIPPED: no server at', PG_ADMIN_URL);
    return undefined;
  }
  const name = `lockwarden_bench_${process.pid}`;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export async function runCheckinBench(): Promise<void> {
  spawn('taskset', ['-cp', '0', String(process.pid)], { stdio: 'ignore' });
  const bare = await startBareFastify();
  const dirs: string[] = [];
  try {
    const sqliteDir = await mkdtemp(join(tmpdir(), 'lockwarden-bench-'));
    dirs.push(sqliteDir);
    const rows = await runDatabase('SQLite', { LOCKWARDEN_DATA_DIR: sqliteDir }, bare);
    const postgres = await throwawayPostgres();
    if (postgres) {
      const pgDir = await mkdtemp(join(tmpdir(), 'lockwarden-bench-pg-'));
      dirs.push(pgDir);
      try {
        rows.push(...(await runDatabase('PostgreSQL', { LOCKWARDEN_DATA_DIR: pgDir, DATABASE_URL: postgres.url }, bare)).slice(1));
      } finally {
        await postgres.drop();
      }
    }
    print(rows);
  } finally {
    bare.child.kill('SIGTERM');
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}
