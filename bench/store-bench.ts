// The store on SQLite and PostgreSQL: a bulk enqueue to 100,000 enrollments (one transaction),
// and the check-in hot path, next() at Idle and reportAndNext() after a result. PostgreSQL runs
// on a throwaway database (LOCKWARDEN_BENCH_PG_URL, else LOCKWARDEN_TEST_PG_URL, else
// postgres://postgres@127.0.0.1:5432/postgres) and is skipped, loudly, when unreachable.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openDatabase } from '../src/store/database.ts';
import type { Store } from '../src/store/database.ts';
import { printTable } from './harness.ts';
import type { Measurement } from './harness.ts';

const FLEET = 100_000;
const ADMIN_URL = process.env.LOCKWARDEN_BENCH_PG_URL ?? process.env.LOCKWARDEN_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** harness.ts `measure`, for async functions: warm up, then run one call at a time until minMs passed. */
async function measureAsync(name: string, fn: () => Promise<unknown>, opts?: { minMs?: number; minRuns?: number }): Promise<Measurement> {
  const minMs = opts?.minMs ?? 1000;
  const minRuns = opts?.minRuns ?? 1;
  const warmupEnd = performance.now() + Math.min(minMs / 5, 250);
  do await fn();
  while (performance.now() < warmupEnd);
  const start = performance.now();
  let runs = 0;
  while (performance.now() - start < minMs || runs < minRuns) {
    await fn();
    runs++;
  }
  const ms = performance.now() - start;
  return { name, opsPerSec: (runs / ms) * 1000, msPerOp: ms / runs, runs };
}

async function enrollFleet(store: Store, ids: string[]): Promise<void> {
  for (let start = 0; start < ids.length; start += 2000) {
    const part = ids.slice(start, start + 2000);
    await store.db.insertInto('devices').values(part.map((id) => ({ id, enrollment_kind: 'device' as const, created_at: 1, updated_at: 1 }))).execute();
    await store.db.insertInto('enrollments').values(part.map((id) => ({
      id, device_id: id, channel: 'device' as const, type: 'Device' as const, topic: 'bench', token_update_count: 0, enabled: 1,
      cert_hash: id, created_at: 1, updated_at: 1,
    }))).execute();
  }
}

async function benchOne(label: string, store: Store): Promise<Measurement[]> {
  const ids = Array.from({ length: FLEET }, (_, i) => `bench-${String(i).padStart(6, '0')}`);
  await enrollFleet(store, ids);
  const body = Buffer.alloc(600, 0x41); // about the size of a SecurityInfo command plist
  let serial = 0;
  const bulk = await measureAsync(`${label}: enqueue 1 command → 100,000 enrollments`, async () => {
    await store.commands.enqueue({ uuid: `bulk-${serial++}`, requestType: 'SecurityInfo', body }, ids, { now: serial });
  }, { minMs: 3000, minRuns: 3 });

  // Every enrollment now holds several pending commands; ids[0] is asked over and over.
  const idle = await measureAsync(`${label}: next() at Idle`, () => store.commands.next(ids[0]!, { skipNotNow: false, now: 1e6 }));

  // Each round trip acknowledges a command of a different enrollment and fetches its next one.
  let cursor = 0;
  const round = await measureAsync(`${label}: reportAndNext() Acknowledged`, async () => {
    const id = ids[cursor++ % FLEET]!;
    await store.commands.reportAndNext(id, { uuid: 'bulk-0', status: 'Acknowledged', result: body }, { skipNotNow: true, now: 2e6 });
  });
  return [bulk, idle, round];
}

async function throwawayPostgres(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  const admin = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await admin.connect();
  } catch (err) {
    console.warn(`PostgreSQL store bench SKIPPED: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
  const name = `lockwarden_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: ADMIN_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

export async function runStoreBench(): Promise<void> {
  const rows: Measurement[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'lockwarden-bench-'));
  try {
    const sqlite = await openDatabase({ sqlitePath: join(dir, 'bench.db') });
    try {
      rows.push(...await benchOne('sqlite', sqlite));
    } finally {
      await sqlite.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const postgres = await throwawayPostgres();
  if (postgres !== undefined) {
    try {
      const store = await openDatabase({ url: postgres.url });
      try {
        rows.push(...await benchOne('postgres', store));
      } finally {
        await store.close();
      }
    } finally {
      await postgres.drop();
    }
  }
  printTable('Store: one command queued for 100,000 enrollments, one transaction', rows.filter((row) => row.name.includes('enqueue')));
  printTable('Store: check-in hot path, one call at a time', rows.filter((row) => !row.name.includes('enqueue')));
}
