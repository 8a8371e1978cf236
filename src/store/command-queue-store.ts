// The command queue: one stored command, delivered to many enrollments, each with its own status.
//
// Delivery order (Apple's NotNow semantics, as NanoMDM implements them too): pending commands by
// priority (higher first), then age; a command the device deferred with NotNow is offered again
// only when the device says Idle, and then after every fresh pending command, so one deferred
// command never blocks the queue. The order is served by one partial index (see schema.ts,
// delivery_rank), so an Idle check-in costs one SELECT.

import { sql } from 'kysely';
import type { Kysely, Selectable, Transaction } from 'kysely';
import { atomically } from './atomically.ts';
import { DuplicateCommandError, isUniqueViolation, NotEnrolledError, StoreError } from './errors.ts';
import { chunks, rowsPerStatement } from './parameter-batches.ts';
import { precompile } from './precompiled.ts';
import type { CommandQueueTable, Database } from './schema.ts';
import { QUEUE_STATUSES } from './types.ts';
import type {
  CommandReport,
  EnqueueOptions,
  NewCommand,
  NextOptions,
  PendingCommand,
  PruneResult,
  QueuedCommand,
  QueueStatus,
  ReportStatus,
  StoreDialect,
} from './types.ts';

export interface CommandQueueStore {
  /**
   * Stores the command and queues it for every enrollment, all in one transaction: either every
   * enrollment gets it or none does. On a repository bound to a Store.transaction it joins that
   * transaction. Returns the number of enrollments it was queued for
   * (duplicates in `enrollmentIds` count once). Throws DuplicateCommandError when the uuid is
   * taken and UnknownEnrollmentError (naming the unknown ids) when an enrollment does not exist.
   */
  enqueue(command: NewCommand, enrollmentIds: readonly string[], opts: EnqueueOptions): Promise<number>;
  /** The command to send next, or undefined. Expired commands are marked Expired on the way. */
  next(enrollmentId: string, opts: NextOptions): Promise<PendingCommand | undefined>;
  /**
   * The certificate hash bound to the device channel `deviceId` (undefined when there is none)
   * and, only when it equals `certHash`, `next(enrollmentId, opts)`: on the common path one
   * statement instead of the binding read and the queue read. On a mismatch nothing is written
   * and no command is returned; refusing the request is the caller's business.
   */
  nextForCertificate(enrollmentId: string, opts: NextOptions & { deviceId: string; certHash: string }): Promise<{ boundCertHash: string | undefined; next: PendingCommand | undefined }>;
  /**
   * Records a device's answer. Acknowledged, Error and CommandFormatError are final: a second
   * report of a finished command keeps the first result. NotNow defers the command. Returns
   * whether the command is queued for this enrollment; a report naming another enrollment's
   * command changes nothing and returns false.
   */
  report(enrollmentId: string, commandUuid: string, status: ReportStatus, result: Uint8Array | null | undefined, now: number): Promise<boolean>;
  /** `report` (when a report is given) then `next`: what PUT /mdm/connect does. */
  reportAndNext(enrollmentId: string, report: CommandReport | null, opts: NextOptions): Promise<{ found: boolean; next: PendingCommand | undefined }>;
  /** Marks every command whose expiry has passed as Expired, in batches; returns how many. */
  expire(now: number, opts?: { batchSize?: number }): Promise<number>;
  /**
   * Deletes finished queue rows (Acknowledged, Error, CommandFormatError, Expired) last updated
   * before the cutoff, then commands created before it that no queue row references. Works in
   * batches of short statements so neither table is locked for long.
   */
  prune(opts: { completedBefore: number; batchSize?: number }): Promise<PruneResult>;
  /** Queue rows by status, every status present (zero when none), for /metrics. */
  stats(): Promise<Record<QueueStatus, number>>;
  get(enrollmentId: string, commandUuid: string): Promise<QueuedCommand | undefined>;
  /** The enrollment's queue, newest first. */
  list(enrollmentId: string, opts: { limit: number }): Promise<QueuedCommand[]>;
}

const REPORT_STATUSES: ReadonlySet<string> = new Set<ReportStatus>(['Acknowledged', 'Error', 'CommandFormatError', 'NotNow']);

/** delivery_rank for each status (see schema.ts). */
function rankOf(status: QueueStatus): number | null {
  return status === 'pending' ? 0 : status === 'NotNow' ? 1 : null;
}

/**
 * Repeats one bounded statement until a batch comes back short, so maintenance never holds a
 * lock on the whole table; returns the rows it touched in all.
 */
async function inBatches(batchSize: number, step: () => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const changed = await step();
    total += changed;
    if (changed < batchSize) return total;
  }
}

type QueuedRow = Pick<Selectable<CommandQueueTable>,
  'enrollment_id' | 'command_uuid' | 'priority' | 'status' | 'not_now_count' | 'not_now_at' | 'expires_at' | 'result' | 'created_at' | 'updated_at'> & {
  request_type: string;
  body: Buffer;
};

function toQueued(row: QueuedRow): QueuedCommand {
  return {
    enrollmentId: row.enrollment_id,
    uuid: row.command_uuid,
    requestType: row.request_type,
    body: row.body,
    priority: row.priority,
    status: row.status,
    notNowCount: row.not_now_count,
    notNowAt: row.not_now_at,
    expiresAt: row.expires_at,
    result: row.result,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}


export function createCommandQueueStore(db: Kysely<Database>, dialect: StoreDialect): CommandQueueStore {
  const selectQueued = (from: Kysely<Database> | Transaction<Database>) =>
    from
      .selectFrom('command_queue as q')
      .innerJoin('commands as c', 'c.uuid', 'q.command_uuid')
      .select([
        'q.enrollment_id', 'q.command_uuid', 'q.priority', 'q.status', 'q.not_now_count', 'q.not_now_at',
        'q.expires_at', 'q.result', 'q.created_at', 'q.updated_at', 'c.request_type', 'c.body',
      ]);

  /** Of `ids`, those that are not an enabled enrollment (unknown, or checked out). */
  async function notEnrolled(from: Kysely<Database> | Transaction<Database>, ids: readonly string[]): Promise<string[]> {
    const enrolled = new Set<string>();
    for (const part of chunks(ids, rowsPerStatement(dialect, 1))) {
      const rows = await from.selectFrom('enrollments').select('id').where('id', 'in', part).where('enabled', '=', 1).execute();
      for (const row of rows) enrolled.add(row.id);
    }
    return ids.filter((id) => !enrolled.has(id));
  }

  // The hot path (every PUT /mdm/connect) runs these statements, compiled once.
  // Written to match command_queue_next_idx column for column, so both databases answer it with
  // one index range scan and no sort.
  const selectNextRow = (p: { enrollmentId: string; maxRank: number }) => db
    .selectFrom('command_queue as q')
    .innerJoin('commands as c', 'c.uuid', 'q.command_uuid')
    .select([
      'q.enrollment_id', 'q.command_uuid', 'q.priority', 'q.status', 'q.not_now_count', 'q.expires_at',
      'q.created_at', 'c.request_type', 'c.body',
    ])
    .where('q.enrollment_id', '=', p.enrollmentId)
    .where('q.delivery_rank', 'is not', null)
    .where('q.delivery_rank', '<=', p.maxRank)
    .orderBy('q.delivery_rank')
    .orderBy('q.priority', 'desc')
    .orderBy('q.created_at')
    .orderBy('q.command_uuid')
    // A literal: SQLite runs `limit ?` ~10 µs slower than `limit 1` here (measured).
    .limit(sql.lit(1));
  const nextStatement = precompile(selectNextRow);
  // The device channel's binding beside the next command: zero rows when the device channel does
  // not exist, else one row whose command columns are null when nothing is queued. The derived
  // table is not correlated, so each database still answers it with the same index range scan.
  const nextWithBindingStatement = precompile((p: { deviceId: string; enrollmentId: string; maxRank: number }) => db
    .selectFrom('enrollments as binding')
    .leftJoin(selectNextRow(p).as('n'), (join) => join.onTrue())
    .select([
      'binding.cert_hash as bound_cert_hash', 'n.enrollment_id', 'n.command_uuid', 'n.priority', 'n.status',
      'n.not_now_count', 'n.expires_at', 'n.created_at', 'n.request_type', 'n.body',
    ])
    .where('binding.id', '=', p.deviceId)
    .where('binding.enabled', '=', 1));

  const expireDueStatement = precompile((p: { enrollmentId: string; now: number }) => db
    .updateTable('command_queue')
    .set({ status: 'Expired', delivery_rank: null, updated_at: p.now })
    .where('enrollment_id', '=', p.enrollmentId)
    .where('delivery_rank', 'is not', null)
    .where('expires_at', '<=', p.now));

  interface ReportParams { enrollmentId: string; commandUuid: string; status: ReportStatus; rank: number | null; result: Buffer | null; now: number }
  // A final answer also lands on an Expired row (the device ran it after all); NotNow does not
  // bring an Expired command back.
  const reportFinalStatement = precompile((p: ReportParams) => db
    .updateTable('command_queue')
    .set({ status: p.status, delivery_rank: p.rank, result: p.result, updated_at: p.now })
    .where('enrollment_id', '=', p.enrollmentId)
    .where('command_uuid', '=', p.commandUuid)
    .where('status', 'in', ['pending', 'NotNow', 'Expired']));
  const reportNotNowStatement = precompile((p: ReportParams) => db
    .updateTable('command_queue')
    .set((eb) => ({
      status: p.status,
      delivery_rank: p.rank,
      result: p.result,
      updated_at: p.now,
      not_now_count: eb('not_now_count', '+', 1),
      not_now_at: p.now,
    }))
    .where('enrollment_id', '=', p.enrollmentId)
    .where('command_uuid', '=', p.commandUuid)
    .where('status', 'in', ['pending', 'NotNow']));
  const queuedStatement = precompile((p: { enrollmentId: string; commandUuid: string }) => db
    .selectFrom('command_queue')
    .select('status')
    .where('enrollment_id', '=', p.enrollmentId)
    .where('command_uuid', '=', p.commandUuid));

  type NextRow = Awaited<ReturnType<typeof nextStatement.run>>['rows'][number];

  async function selectNext(enrollmentId: string, skipNotNow: boolean) {
    const { rows } = await nextStatement.run(db, { enrollmentId, maxRank: skipNotNow ? 0 : 1 });
    return rows[0];
  }

  /** The first candidate as read, made current: expired commands are marked and skipped. */
  async function pendingFrom(enrollmentId: string, first: NextRow | undefined, { skipNotNow, now }: NextOptions): Promise<PendingCommand | undefined> {
    let row = first;
    if (row !== undefined && row.expires_at !== null && row.expires_at <= now) {
      // Rare path: mark everything of this enrollment that is due, then look again. After this
      // update nothing live with expires_at <= now remains, so one retry suffices.
      await expireDueStatement.run(db, { enrollmentId, now });
      row = await selectNext(enrollmentId, skipNotNow);
    }
    if (row === undefined) return undefined;
    return {
      enrollmentId: row.enrollment_id,
      uuid: row.command_uuid,
      requestType: row.request_type,
      body: row.body,
      priority: row.priority,
      status: row.status === 'NotNow' ? 'NotNow' : 'pending',
      notNowCount: row.not_now_count,
      expiresAt: row.expires_at,
      createdAt: row.created_at,
    };
  }

  async function next(enrollmentId: string, opts: NextOptions): Promise<PendingCommand | undefined> {
    return pendingFrom(enrollmentId, await selectNext(enrollmentId, opts.skipNotNow), opts);
  }

  async function nextForCertificate(enrollmentId: string, opts: NextOptions & { deviceId: string; certHash: string }) {
    const { rows } = await nextWithBindingStatement.run(db, { deviceId: opts.deviceId, enrollmentId, maxRank: opts.skipNotNow ? 0 : 1 });
    const row = rows[0];
    const boundCertHash = row?.bound_cert_hash;
    if (row === undefined || boundCertHash !== opts.certHash) return { boundCertHash, next: undefined };
    // The left join leaves every command column null when nothing is queued; command_uuid is
    // NOT NULL in the table, so it tells the two cases apart.
    const first = row.command_uuid === null ? undefined : row as NextRow;
    return { boundCertHash, next: await pendingFrom(enrollmentId, first, opts) };
  }

  async function report(enrollmentId: string, commandUuid: string, status: ReportStatus, result: Uint8Array | null | undefined, now: number): Promise<boolean> {
    if (!REPORT_STATUSES.has(status)) throw new StoreError(`not a command result status: ${String(status)}`);
    const statement = status === 'NotNow' ? reportNotNowStatement : reportFinalStatement;
    const updated = await statement.run(db, {
      enrollmentId,
      commandUuid,
      status,
      rank: rankOf(status),
      result: result == null ? null : Buffer.from(result.buffer, result.byteOffset, result.byteLength),
      now,
    });
    if ((updated.numAffectedRows ?? 0n) > 0n) return true;
    const existing = await queuedStatement.run(db, { enrollmentId, commandUuid });
    return existing.rows.length > 0;
  }

  return {
    async enqueue(command, enrollmentIds, opts) {
      const ids = [...new Set(enrollmentIds)];
      if (ids.length === 0) throw new StoreError(`command ${command.uuid} has no enrollment to go to`);
      if (command.uuid.length === 0) throw new StoreError('a command needs a uuid');
      const priority = opts.priority ?? 0;
      const expiresAt = opts.expiresAt ?? null;
      try {
        // Inside a Store.transaction (enqueue and its audit event) a savepoint, so a refusal can
        // still be diagnosed below.
        await atomically(db, 'enqueue', async (trx) => {
          await trx
            .insertInto('commands')
            .values({ uuid: command.uuid, request_type: command.requestType, body: command.body, created_at: opts.now })
            .execute();
          // One statement, the ids as one parameter (an array on PostgreSQL, a JSON array read by
          // json_each on SQLite): parsed and planned once, where multi-row VALUES would bind nine
          // parameters per row. The join queues only for enrollments that exist and are enrolled;
          // a checked-out one would never collect its commands, and the queue must not grow for it.
          const ids$ = dialect === 'postgres' ? sql`unnest(${ids}::text[]) AS given(id)` : sql`json_each(${JSON.stringify(ids)}) AS given`;
          const givenId = dialect === 'postgres' ? sql.ref('given.id') : sql.ref('given.value');
          const inserted = await sql`
            INSERT INTO command_queue
              (enrollment_id, command_uuid, priority, status, delivery_rank, not_now_count, expires_at, created_at, updated_at)
            SELECT e.id, ${command.uuid}, CAST(${priority} AS INTEGER), 'pending', 0, 0, CAST(${expiresAt} AS BIGINT), CAST(${opts.now} AS BIGINT), CAST(${opts.now} AS BIGINT)
            FROM ${ids$} JOIN enrollments e ON e.id = ${givenId} AND e.enabled = 1`.execute(trx);
          if (Number(inserted.numAffectedRows ?? 0n) !== ids.length) throw new NotEnrolledError(await notEnrolled(trx, ids));
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw new DuplicateCommandError(command.uuid);
        throw err;
      }
      return ids.length;
    },

    next,
    nextForCertificate,
    report,

    async reportAndNext(enrollmentId, given, opts) {
      // Two statements, no transaction around them: `next` reads what `report` committed, and on
      // PostgreSQL a BEGIN/COMMIT pair would add two round trips to the hot path for nothing.
      const found = given === null ? false : await report(enrollmentId, given.uuid, given.status, given.result, opts.now);
      return { found, next: await next(enrollmentId, opts) };
    },

    async expire(now, opts) {
      const batchSize = opts?.batchSize ?? 1000;
      return inBatches(batchSize, async () => {
        const result = await db
          .updateTable('command_queue')
          .set({ status: 'Expired', delivery_rank: null, updated_at: now })
          .where((eb) => eb(eb.refTuple('enrollment_id', 'command_uuid'), 'in', eb
            .selectFrom('command_queue as due')
            .select(['due.enrollment_id', 'due.command_uuid'])
            .where('due.delivery_rank', 'is not', null)
            .where('due.expires_at', 'is not', null)
            .where('due.expires_at', '<=', now)
            .limit(batchSize)
            .$asTuple('enrollment_id', 'command_uuid')))
          .executeTakeFirst();
        return Number(result.numUpdatedRows);
      });
    },

    async prune({ completedBefore, batchSize = 1000 }) {
      const queueRows = await inBatches(batchSize, async () => {
        const result = await db
          .deleteFrom('command_queue')
          .where((eb) => eb(eb.refTuple('enrollment_id', 'command_uuid'), 'in', eb
            .selectFrom('command_queue as done')
            .select(['done.enrollment_id', 'done.command_uuid'])
            .where('done.delivery_rank', 'is', null)
            .where('done.updated_at', '<', completedBefore)
            .limit(batchSize)
            .$asTuple('enrollment_id', 'command_uuid')))
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      });
      const commands = await inBatches(batchSize, async () => {
        // Only commands created before the cutoff: a command row whose queue rows are still being
        // inserted by another transaction is younger than any sensible cutoff.
        const result = await db
          .deleteFrom('commands')
          .where('uuid', 'in', (eb) => eb
            .selectFrom('commands as orphan')
            .select('orphan.uuid')
            .where('orphan.created_at', '<', completedBefore)
            .where(({ not, exists, selectFrom }) => not(exists(selectFrom('command_queue as q')
              .select('q.command_uuid')
              .whereRef('q.command_uuid', '=', 'orphan.uuid'))))
            .limit(batchSize))
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      });
      return { queueRows, commands };
    },

    async stats() {
      const rows = await db
        .selectFrom('command_queue')
        .select((eb) => ['status', eb.fn.countAll<number>().as('count')])
        .groupBy('status')
        .execute();
      const counts = Object.fromEntries(QUEUE_STATUSES.map((status) => [status, 0])) as Record<QueueStatus, number>;
      for (const row of rows) counts[row.status] = Number(row.count);
      return counts;
    },

    async get(enrollmentId, commandUuid) {
      const row = await selectQueued(db)
        .where('q.enrollment_id', '=', enrollmentId)
        .where('q.command_uuid', '=', commandUuid)
        .executeTakeFirst();
      return row === undefined ? undefined : toQueued(row);
    },

    async list(enrollmentId, { limit }) {
      const rows = await selectQueued(db)
        .where('q.enrollment_id', '=', enrollmentId)
        .orderBy('q.created_at', 'desc')
        .orderBy('q.command_uuid', 'desc')
        .limit(limit)
        .execute();
      return rows.map(toQueued);
    },
  };
}
