// The audit log: an append-only chain of events. Each row carries a keyed MAC over its own fields
// and the previous row's MAC, so an edited, deleted, inserted or reordered row breaks the chain at
// that row. The key is derived from the master key, which lives outside the database; the store
// only receives a `mac(bytes)` function. Whoever can write the database but does not hold the
// master key cannot compute a valid MAC, so cannot rewrite the history undetected. (Removing the
// newest rows leaves a valid shorter chain: compare the head with one recorded elsewhere.)

import { sql } from 'kysely';
import type { Kysely, Selectable } from 'kysely';
import { atomically } from './atomically.ts';
import type { AuditEventsTable, Database } from './schema.ts';
import type { AuditEvent, AuditMac, AuditQuery, AuditVerification, NewAuditEvent, StoreDialect } from './types.ts';

export interface AuditStore {
  /**
   * Appends the event as the chain's new head: reads the head and inserts seq + 1 in one
   * transaction (or savepoint, inside a Store.transaction, so the event commits with the action).
   * Concurrent appends, from any number of processes, serialise on the chain's lock.
   */
  append(event: NewAuditEvent, mac: AuditMac): Promise<AuditEvent>;
  list(query: AuditQuery): Promise<AuditEvent[]>;
  /** Walks the whole chain in seq order, a batch at a time, and reports the first break. */
  verify(mac: AuditMac, opts?: { batchSize?: number }): Promise<AuditVerification>;
}

/** prev_mac of the first event. */
export const AUDIT_GENESIS_MAC = '0'.repeat(64);

/**
 * PostgreSQL advisory lock key serialising appends (transaction-scoped, so released by COMMIT or
 * ROLLBACK). Any constant not used as an advisory lock elsewhere: Kysely's migration lock is
 * 3853314791062309107. SQLite needs none: its transactions here begin with the write lock
 * (sqlite-dialect.ts).
 */
const CHAIN_LOCK = 0x6c77_6175; // "lwau"

/**
 * What the MAC covers: a JSON array of a format label and every column but `mac`. JSON escapes
 * and delimits each string, so no two different rows encode to the same bytes; `details` is the
 * stored text itself, so nothing depends on how an object's keys would be re-serialised.
 */
export function auditMacInput(row: Omit<Selectable<AuditEventsTable>, 'mac'>): Buffer {
  return Buffer.from(JSON.stringify([
    'lockwarden audit v1', row.seq, row.at, row.actor, row.actor_name, row.action, row.target, row.details, row.prev_mac,
  ]), 'utf8');
}

function toEvent(row: Selectable<AuditEventsTable>): AuditEvent {
  return {
    seq: row.seq,
    at: row.at,
    actor: row.actor,
    actorName: row.actor_name,
    action: row.action,
    target: row.target,
    details: JSON.parse(row.details) as Record<string, unknown>,
    prevMac: row.prev_mac,
    mac: row.mac,
  };
}

export function createAuditStore(db: Kysely<Database>, dialect: StoreDialect): AuditStore {
  return {
    async append(event, mac) {
      const details = JSON.stringify(event.details);
      return atomically(db, 'audit_append', async (trx) => {
        if (dialect === 'postgres') await sql`select pg_advisory_xact_lock(${sql.lit(CHAIN_LOCK)})`.execute(trx);
        const head = await trx.selectFrom('audit_events').select(['seq', 'mac']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
        const unsealed = {
          seq: (head?.seq ?? 0) + 1,
          at: event.at,
          actor: event.actor,
          actor_name: event.actorName,
          action: event.action,
          target: event.target,
          details,
          prev_mac: head?.mac ?? AUDIT_GENESIS_MAC,
        };
        const row = { ...unsealed, mac: mac(auditMacInput(unsealed)) };
        await trx.insertInto('audit_events').values(row).execute();
        return toEvent(row);
      });
    },

    async list(q) {
      const order = q.order ?? 'desc';
      let query = db.selectFrom('audit_events').selectAll();
      if (q.after !== undefined) query = query.where('seq', order === 'desc' ? '<' : '>', q.after);
      if (q.action !== undefined) query = query.where('action', '=', q.action);
      if (q.target !== undefined) query = query.where('target', '=', q.target);
      if (q.since !== undefined) query = query.where('at', '>=', q.since);
      if (q.until !== undefined) query = query.where('at', '<', q.until);
      const rows = await query.orderBy('seq', order).limit(q.limit).execute();
      return rows.map(toEvent);
    },

    async verify(mac, opts = {}) {
      const batchSize = opts.batchSize ?? 1000;
      let count = 0;
      // The last verified event: seq 0 and the genesis mac before the first.
      let lastSeq = 0;
      let lastMac = AUDIT_GENESIS_MAC;
      for (;;) {
        // Keyset paging on the primary key: constant memory however long the log.
        const rows = await db
          .selectFrom('audit_events')
          .selectAll()
          .where('seq', '>', lastSeq)
          .orderBy('seq')
          .limit(batchSize)
          .execute();
        for (const row of rows) {
          const expected = lastSeq + 1;
          if (row.seq !== expected) {
            return { ok: false, count, seq: expected, problem: 'missing', message: `seq ${expected} is missing (the next event is seq ${row.seq}): events were deleted` };
          }
          if (row.prev_mac !== lastMac) {
            return {
              ok: false, count, seq: row.seq, problem: 'link',
              message: `seq ${row.seq} is not chained to ${row.seq === 1 ? 'the start of the log' : `seq ${row.seq - 1}`}: events were reordered, replaced or inserted`,
            };
          }
          if (mac(auditMacInput(row)) !== row.mac) {
            return {
              ok: false, count, seq: row.seq, problem: 'mac',
              message: `seq ${row.seq} does not match its mac: the event was edited or its mac forged (or the master key is not the one that wrote it)`,
            };
          }
          lastSeq = row.seq;
          lastMac = row.mac;
          count++;
        }
        if (rows.length < batchSize) return { ok: true, count, head: count === 0 ? null : { seq: lastSeq, mac: lastMac } };
      }
    },
  };
}
