// Devices and their MDM channels: what Authenticate, TokenUpdate and CheckOut leave behind, the
// certificate each enrollment is bound to, and the push coordinates APNs needs.

import type { ExpressionBuilder, Kysely, Selectable } from 'kysely';
import { UNLOCK_TOKEN_PLATFORMS } from '../mdm/unlock-token.ts';
import { StoreError, UnknownEnrollmentError } from './errors.ts';
import { chunks, rowsPerStatement } from './parameter-batches.ts';
import { precompile } from './precompiled.ts';
import type { Database, DevicesTable, EnrollmentsTable } from './schema.ts';
import type {
  AuthenticateInput,
  Device,
  Enrollment,
  PushTarget,
  StoreDialect,
  TokenUpdateInput,
} from './types.ts';

export interface EnrollmentStore {
  /**
   * Records an Authenticate: upserts the device and its device-channel enrollment in one
   * transaction. Apple treats Authenticate as the start of a new enrollment, so an existing
   * enrollment is re-bound to `certHash` (whether that is allowed is the service's decision),
   * loses its push token and magic, restarts its TokenUpdate count and is re-enabled; its user
   * channels are re-bound and disabled until their own TokenUpdate, and every command still
   * queued for the device's enrollments is expired. The UnlockToken in custody is never touched.
   * Device facts that are absent keep their stored value.
   */
  authenticate(a: AuthenticateInput): Promise<Enrollment>;
  /**
   * Records a TokenUpdate in one transaction: new push coordinates, one more TokenUpdate, enabled.
   * A user channel's row is created on its first TokenUpdate (bound to the device's certificate).
   * The UnlockToken is stored only when one is given: an absent one never erases custody.
   * Throws UnknownEnrollmentError when the device never authenticated.
   */
  tokenUpdate(u: TokenUpdateInput): Promise<Enrollment>;
  /** Disables the enrollment, and its user channels when it is a device channel. False if unknown. */
  checkOut(enrollmentId: string, now: number): Promise<boolean>;
  get(enrollmentId: string): Promise<Enrollment | undefined>;
  /** The device channel and every user channel of a device, device channel first. */
  listForDevice(deviceId: string): Promise<Enrollment[]>;
  getDevice(deviceId: string): Promise<Device | undefined>;
  /** Devices ordered by id, `limit` at a time after `afterId` (keyset pagination). */
  listDevices(opts: { limit: number; afterId?: string }): Promise<Device[]>;
  /** The certificate hash bound at Authenticate: one primary-key read. */
  boundCertHash(enrollmentId: string): Promise<string | undefined>;
  /** The device whose device channel is bound to this certificate (one certificate, one device). */
  deviceIdForCertHash(certHash: string): Promise<string | undefined>;
  touch(enrollmentId: string, now: number): Promise<void>;
  /** Ciphertext of the UnlockToken in custody. */
  getUnlockToken(deviceId: string): Promise<Buffer | undefined>;
  /** null deletes the escrowed token (Apple: an empty BootstrapToken means delete). False if the device is unknown. */
  setBootstrapToken(deviceId: string, ciphertext: Buffer | null, now?: number): Promise<boolean>;
  getBootstrapToken(deviceId: string): Promise<Buffer | undefined>;
  /** Push coordinates of those enrollments that are enabled and have a push token. */
  pushTargets(enrollmentIds: readonly string[]): Promise<PushTarget[]>;
  /**
   * Forgets a push token APNs called unregistered. With `deadToken`, only if it is still the
   * stored token, so a TokenUpdate that raced the push keeps its fresh token.
   */
  markPushTokenDead(enrollmentId: string, deadToken?: Buffer): Promise<boolean>;
}

type EnrollmentRow = Selectable<EnrollmentsTable>;

function toEnrollment(row: EnrollmentRow): Enrollment {
  return {
    id: row.id,
    deviceId: row.device_id,
    channel: row.channel,
    type: row.type,
    topic: row.topic,
    pushToken: row.push_token,
    pushMagic: row.push_magic,
    tokenUpdateCount: row.token_update_count,
    enabled: row.enabled === 1,
    certHash: row.cert_hash,
    enrollmentTokenId: row.enrollment_token_id,
    accessRights: row.access_rights,
    userId: row.user_id,
    userShortName: row.user_short_name,
    userLongName: row.user_long_name,
    lastSeenAt: row.last_seen_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

// Every device column except the secret ones, which only leave the store through their own getters.
const DEVICE_COLUMNS = [
  'id', 'platform', 'serial_number', 'model', 'model_name', 'product_name', 'os_version', 'build_version',
  'device_name', 'enrollment_kind', 'unlock_token_at', 'last_authenticate', 'created_at', 'updated_at',
] as const;

type DeviceRow = Pick<Selectable<DevicesTable>, (typeof DEVICE_COLUMNS)[number]> & {
  has_unlock_token: number;
  has_bootstrap_token: number;
};

function toDevice(row: DeviceRow): Device {
  return {
    id: row.id,
    platform: row.platform,
    serialNumber: row.serial_number,
    model: row.model,
    modelName: row.model_name,
    productName: row.product_name,
    osVersion: row.os_version,
    buildVersion: row.build_version,
    deviceName: row.device_name,
    enrollmentKind: row.enrollment_kind,
    hasUnlockToken: Number(row.has_unlock_token) === 1,
    unlockTokenAt: row.unlock_token_at,
    hasBootstrapToken: Number(row.has_bootstrap_token) === 1,
    lastAuthenticate: row.last_authenticate,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function createEnrollmentStore(db: Kysely<Database>, dialect: StoreDialect): EnrollmentStore {
  const selectDevices = () =>
    db.selectFrom('devices').select(DEVICE_COLUMNS).select((eb) => [
      eb.case().when('unlock_token', 'is not', null).then(1).else(0).end().as('has_unlock_token'),
      eb.case().when('bootstrap_token', 'is not', null).then(1).else(0).end().as('has_bootstrap_token'),
    ]);

  // Statements of the check-in path, compiled once (see precompiled.ts).
  // A checked-out enrollment has no binding: until it authenticates again it is not managed.
  const boundCertHashStatement = precompile((p: { enrollmentId: string }) => db
    .selectFrom('enrollments')
    .select('cert_hash')
    .where('id', '=', p.enrollmentId)
    .where('enabled', '=', 1));
  const deviceIdForCertHashStatement = precompile((p: { certHash: string }) => db
    .selectFrom('enrollments')
    .select('device_id')
    .where('cert_hash', '=', p.certHash)
    .where('channel', '=', 'device'));
  const getStatement = precompile((p: { enrollmentId: string }) => db.selectFrom('enrollments').selectAll().where('id', '=', p.enrollmentId));
  const getDeviceStatement = precompile((p: { deviceId: string }) => selectDevices().where('id', '=', p.deviceId));

  interface DeviceTokenUpdate { enrollmentId: string; topic: string; pushToken: Buffer; pushMagic: string; now: number }
  interface DeviceUnlockToken { deviceId: string; unlockToken: Buffer; now: number }
  interface Binding { certHash: string }
  /**
   * The device channel's TokenUpdate. With `requireCertificate` the row must also be bound to
   * `certHash`, the presented certificate: the binding check and the write are one statement.
   */
  const updateDeviceChannel = (requireCertificate: boolean) => (p: DeviceTokenUpdate & Partial<Binding>) => {
    const query = db
      .updateTable('enrollments')
      .set((eb) => ({
        topic: p.topic,
        push_token: p.pushToken,
        push_magic: p.pushMagic,
        token_update_count: eb('token_update_count', '+', 1),
        enabled: 1,
        last_seen_at: p.now,
        updated_at: p.now,
      }))
      .where('id', '=', p.enrollmentId)
      .where('channel', '=', 'device');
    // Bound means bound and enrolled: a checked-out channel is re-enabled by Authenticate only.
    return requireCertificate ? query.where('cert_hash', '=', p.certHash!).where('enabled', '=', 1) : query;
  };
  // Custody only where a token can exist (decision 9): a device that sends one anyway — a Mac,
  // an Apple TV, a Shared iPad, a User Enrollment — has it dropped, and custody stays as it was.
  const mayHoldUnlockToken = (eb: ExpressionBuilder<Database, 'devices'>) => eb.and([
    eb('enrollment_kind', '=', 'device'),
    eb.or([eb('platform', 'is', null), eb('platform', 'in', UNLOCK_TOKEN_PLATFORMS)]),
  ]);
  const storeUnlockToken = (p: DeviceUnlockToken) => db
    .updateTable('devices')
    .set({ unlock_token: p.unlockToken, unlock_token_at: p.now, updated_at: p.now })
    .where('id', '=', p.deviceId)
    .where(mayHoldUnlockToken);
  // PostgreSQL: both updates as one statement (a statement is atomic), so a TokenUpdate with an
  // UnlockToken costs one round trip instead of BEGIN, UPDATE, UPDATE, COMMIT. The device row
  // changes only when the enrollment row did, as in the transaction.
  const updateDeviceChannelAndUnlockToken = (requireCertificate: boolean) => (p: DeviceTokenUpdate & Partial<Binding> & DeviceUnlockToken) => db
    .with('updated', () => updateDeviceChannel(requireCertificate)(p).returningAll())
    .with('unlock', (qb) => qb
      .updateTable('devices')
      .set({ unlock_token: p.unlockToken, unlock_token_at: p.now, updated_at: p.now })
      .where('id', '=', p.deviceId)
      .where(mayHoldUnlockToken)
      .where(({ exists, selectFrom }) => exists(selectFrom('updated').select('updated.id')))
      .returning('devices.id'))
    .selectFrom('updated')
    .selectAll();
  const deviceTokenUpdateStatements = [false, true].map((requireCertificate) => ({
    update: precompile((p: DeviceTokenUpdate & Partial<Binding>) => updateDeviceChannel(requireCertificate)(p).returningAll()),
    withUnlockToken: dialect === 'postgres' ? precompile(updateDeviceChannelAndUnlockToken(requireCertificate)) : undefined,
  }));
  const unlockTokenStatement = precompile(storeUnlockToken);

  return {
    async authenticate(a) {
      if ((a.enrollmentId !== undefined && a.enrollmentId !== a.deviceId) || (a.channel !== undefined && a.channel !== 'device')) {
        throw new StoreError(`Authenticate arrives on the device channel only: enrollment ${a.enrollmentId ?? a.deviceId} (${a.channel ?? 'device'}) is not device ${a.deviceId}`);
      }
      const kind = a.enrollmentKind ?? (a.type === 'User Enrollment (Device)' ? 'user' : 'device');
      return db.transaction().execute(async (trx) => {
        const facts = {
          platform: a.platform ?? null,
          serial_number: a.serialNumber ?? null,
          model: a.model ?? null,
          model_name: a.modelName ?? null,
          product_name: a.productName ?? null,
          os_version: a.osVersion ?? null,
          build_version: a.buildVersion ?? null,
          device_name: a.deviceName ?? null,
          last_authenticate: a.rawAuthenticate ?? null,
        };
        // The device row is written first so the transaction holds SQLite's write lock from its
        // first statement (a read first could not upgrade under contention).
        await trx
          .insertInto('devices')
          .values({ id: a.deviceId, ...facts, enrollment_kind: kind, created_at: a.now, updated_at: a.now })
          .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({
            platform: eb.fn.coalesce('excluded.platform', 'devices.platform'),
            serial_number: eb.fn.coalesce('excluded.serial_number', 'devices.serial_number'),
            model: eb.fn.coalesce('excluded.model', 'devices.model'),
            model_name: eb.fn.coalesce('excluded.model_name', 'devices.model_name'),
            product_name: eb.fn.coalesce('excluded.product_name', 'devices.product_name'),
            os_version: eb.fn.coalesce('excluded.os_version', 'devices.os_version'),
            build_version: eb.fn.coalesce('excluded.build_version', 'devices.build_version'),
            device_name: eb.fn.coalesce('excluded.device_name', 'devices.device_name'),
            last_authenticate: eb.fn.coalesce('excluded.last_authenticate', 'devices.last_authenticate'),
            enrollment_kind: a.enrollmentKind === undefined ? eb.ref('devices.enrollment_kind') : eb.ref('excluded.enrollment_kind'),
            updated_at: eb.ref('excluded.updated_at'),
          })))
          .execute();

        const row = await trx
          .insertInto('enrollments')
          .values({
            id: a.deviceId,
            device_id: a.deviceId,
            channel: 'device',
            type: a.type,
            topic: a.topic,
            push_token: null,
            push_magic: null,
            token_update_count: 0,
            enabled: 1,
            cert_hash: a.certHash,
            enrollment_token_id: a.enrollmentTokenId ?? null,
            access_rights: a.accessRights ?? null,
            last_seen_at: a.now,
            created_at: a.now,
            updated_at: a.now,
          })
          .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({
            type: eb.ref('excluded.type'),
            topic: eb.ref('excluded.topic'),
            push_token: null,
            push_magic: null,
            token_update_count: 0,
            enabled: 1,
            cert_hash: eb.ref('excluded.cert_hash'),
            // Absent means "not known at this Authenticate", not "none".
            enrollment_token_id: eb.fn.coalesce('excluded.enrollment_token_id', 'enrollments.enrollment_token_id'),
            access_rights: eb.fn.coalesce('excluded.access_rights', 'enrollments.access_rights'),
            last_seen_at: eb.ref('excluded.last_seen_at'),
            updated_at: eb.ref('excluded.updated_at'),
          })))
          .returningAll()
          .executeTakeFirstOrThrow();

        await trx
          .updateTable('enrollments')
          .set({ cert_hash: a.certHash, enabled: 0, push_token: null, push_magic: null, token_update_count: 0, updated_at: a.now })
          .where('device_id', '=', a.deviceId)
          .where('channel', '=', 'user')
          .execute();
        // A new enrollment starts with an empty queue: what was queued for the previous one (a
        // ClearPasscode carrying the old UnlockToken, a profile for state the device just wiped)
        // must not reach it. Those commands end as Expired, so their history stays readable.
        await trx
          .updateTable('command_queue')
          .set({ status: 'Expired', delivery_rank: null, updated_at: a.now })
          .where('delivery_rank', 'is not', null)
          .where('enrollment_id', 'in', trx.selectFrom('enrollments').select('id').where('device_id', '=', a.deviceId))
          .execute();
        return toEnrollment(row);
      });
    },

    async tokenUpdate(u) {
      if (u.channel === 'device') {
        const statements = deviceTokenUpdateStatements[u.boundCertHash === undefined ? 0 : 1]!;
        const update = {
          enrollmentId: u.enrollmentId, topic: u.topic, pushToken: u.pushToken, pushMagic: u.pushMagic, now: u.now,
          ...(u.boundCertHash !== undefined && { certHash: u.boundCertHash }),
        };
        if (u.unlockToken && statements.withUnlockToken !== undefined) {
          const { rows } = await statements.withUnlockToken.run(db, { ...update, deviceId: u.deviceId, unlockToken: u.unlockToken });
          if (rows[0] === undefined) throw new UnknownEnrollmentError([u.enrollmentId]);
          return toEnrollment(rows[0]);
        }
        if (!u.unlockToken) {
          // One statement: atomic on its own.
          const { rows } = await statements.update.run(db, update);
          if (rows[0] === undefined) throw new UnknownEnrollmentError([u.enrollmentId]);
          return toEnrollment(rows[0]);
        }
        const unlockToken = u.unlockToken;
        return db.transaction().execute(async (trx) => {
          const { rows } = await statements.update.run(trx, update);
          if (rows[0] === undefined) throw new UnknownEnrollmentError([u.enrollmentId]);
          await unlockTokenStatement.run(trx, { deviceId: u.deviceId, unlockToken, now: u.now });
          return toEnrollment(rows[0]);
        });
      }
      if (u.boundCertHash !== undefined) throw new StoreError('boundCertHash applies to the device channel only');
      return db.transaction().execute(async (trx) => {
        // The user channel shares the device's identity certificate, so it inherits the binding.
        const row = await trx
          .insertInto('enrollments')
          .columns([
            'id', 'device_id', 'channel', 'type', 'topic', 'push_token', 'push_magic', 'token_update_count',
            'enabled', 'cert_hash', 'enrollment_token_id', 'access_rights', 'user_id', 'user_short_name',
            'user_long_name', 'last_seen_at', 'created_at', 'updated_at',
          ])
          .expression((eb) => eb
            .selectFrom('enrollments as parent')
            .select([
              eb.val(u.enrollmentId).as('id'),
              'parent.device_id',
              eb.val('user').as('channel'),
              eb.val(u.type).as('type'),
              eb.val(u.topic).as('topic'),
              eb.val(u.pushToken).as('push_token'),
              eb.val(u.pushMagic).as('push_magic'),
              eb.val(1).as('token_update_count'),
              eb.val(1).as('enabled'),
              'parent.cert_hash',
              'parent.enrollment_token_id',
              'parent.access_rights',
              eb.val(u.userId ?? null).as('user_id'),
              eb.val(u.userShortName ?? null).as('user_short_name'),
              eb.val(u.userLongName ?? null).as('user_long_name'),
              eb.val(u.now).as('last_seen_at'),
              eb.val(u.now).as('created_at'),
              eb.val(u.now).as('updated_at'),
            ])
            .where('parent.id', '=', u.deviceId)
            .where('parent.channel', '=', 'device'))
          .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({
            topic: eb.ref('excluded.topic'),
            push_token: eb.ref('excluded.push_token'),
            push_magic: eb.ref('excluded.push_magic'),
            token_update_count: eb('enrollments.token_update_count', '+', 1),
            enabled: 1,
            user_id: eb.fn.coalesce('excluded.user_id', 'enrollments.user_id'),
            user_short_name: eb.fn.coalesce('excluded.user_short_name', 'enrollments.user_short_name'),
            user_long_name: eb.fn.coalesce('excluded.user_long_name', 'enrollments.user_long_name'),
            last_seen_at: eb.ref('excluded.last_seen_at'),
            updated_at: eb.ref('excluded.updated_at'),
          })))
          .returningAll()
          .executeTakeFirst();
        if (row === undefined) throw new UnknownEnrollmentError([u.enrollmentId]);
        // A Shared iPad's device channel looks like any iPad's; its users' channels say what it is
        // (EnrollmentType "Shared iPad"), and the passcode payload and declaration are forbidden there.
        if (u.type === 'Shared iPad') {
          await trx.updateTable('devices').set({ enrollment_kind: 'shared-ipad', updated_at: u.now }).where('id', '=', u.deviceId).execute();
        }

        if (u.unlockToken) {
          await trx
            .updateTable('devices')
            .set({ unlock_token: u.unlockToken, unlock_token_at: u.now, updated_at: u.now })
            .where('id', '=', u.deviceId)
            .where(mayHoldUnlockToken)
            .execute();
        }
        return toEnrollment(row);
      });
    },

    async checkOut(enrollmentId, now) {
      // One statement: the enrollment itself, plus its user channels when it is a device channel.
      const result = await db
        .updateTable('enrollments')
        .set({ enabled: 0, updated_at: now })
        .where((eb) => eb.or([
          eb('id', '=', enrollmentId),
          eb.and([
            eb('channel', '=', 'user'),
            eb('device_id', 'in', eb.selectFrom('enrollments as parent')
              .select('parent.device_id')
              .where('parent.id', '=', enrollmentId)
              .where('parent.channel', '=', 'device')),
          ]),
        ]))
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    async get(enrollmentId) {
      const row = (await getStatement.run(db, { enrollmentId })).rows[0];
      return row === undefined ? undefined : toEnrollment(row);
    },

    async listForDevice(deviceId) {
      const rows = await db
        .selectFrom('enrollments')
        .selectAll()
        .where('device_id', '=', deviceId)
        .orderBy('channel')
        .orderBy('id')
        .execute();
      return rows.map(toEnrollment);
    },

    async getDevice(deviceId) {
      const row = (await getDeviceStatement.run(db, { deviceId })).rows[0];
      return row === undefined ? undefined : toDevice(row);
    },

    async listDevices({ limit, afterId }) {
      let query = selectDevices().orderBy('id').limit(limit);
      if (afterId !== undefined) query = query.where('id', '>', afterId);
      return (await query.execute()).map(toDevice);
    },

    async boundCertHash(enrollmentId) {
      return (await boundCertHashStatement.run(db, { enrollmentId })).rows[0]?.cert_hash;
    },

    async deviceIdForCertHash(certHash) {
      return (await deviceIdForCertHashStatement.run(db, { certHash })).rows[0]?.device_id;
    },

    async touch(enrollmentId, now) {
      await db.updateTable('enrollments').set({ last_seen_at: now }).where('id', '=', enrollmentId).execute();
    },

    async getUnlockToken(deviceId) {
      const row = await db.selectFrom('devices').select('unlock_token').where('id', '=', deviceId).executeTakeFirst();
      return row?.unlock_token ?? undefined;
    },

    async setBootstrapToken(deviceId, ciphertext, now = Date.now()) {
      const result = await db
        .updateTable('devices')
        .set({ bootstrap_token: ciphertext, bootstrap_token_at: ciphertext === null ? null : now, updated_at: now })
        .where('id', '=', deviceId)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    async getBootstrapToken(deviceId) {
      const row = await db.selectFrom('devices').select('bootstrap_token').where('id', '=', deviceId).executeTakeFirst();
      return row?.bootstrap_token ?? undefined;
    },

    async pushTargets(enrollmentIds) {
      const targets: PushTarget[] = [];
      for (const ids of chunks([...new Set(enrollmentIds)], rowsPerStatement(dialect, 1))) {
        const rows = await db
          .selectFrom('enrollments')
          .select(['id', 'topic', 'push_token', 'push_magic'])
          .where('id', 'in', ids)
          .where('enabled', '=', 1)
          .where('push_token', 'is not', null)
          .where('push_magic', 'is not', null)
          .execute();
        for (const row of rows) {
          if (row.push_token !== null && row.push_magic !== null) {
            targets.push({ enrollmentId: row.id, topic: row.topic, pushToken: row.push_token, pushMagic: row.push_magic });
          }
        }
      }
      return targets;
    },

    async markPushTokenDead(enrollmentId, deadToken) {
      let query = db.updateTable('enrollments').set({ push_token: null }).where('id', '=', enrollmentId);
      if (deadToken !== undefined) query = query.where('push_token', '=', deadToken);
      const result = await query.executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },
  };
}
