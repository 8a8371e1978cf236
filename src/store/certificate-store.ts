// The register of certificates the built-in CA issued: which enrollment token each was issued
// for, so a certificate can be traced (and its enrollment refused) by its hash.

import type { Kysely, Selectable } from 'kysely';
import { DuplicateKeyError, isUniqueViolation } from './errors.ts';
import type { CertificatesTable, Database } from './schema.ts';
import type { IssuedCertificate } from './types.ts';

export interface CertificateStore {
  /** Throws DuplicateKeyError when the serial or the hash is already recorded. */
  recordIssued(cert: IssuedCertificate): Promise<void>;
  findByHash(certHash: string): Promise<IssuedCertificate | undefined>;
  findBySerial(serial: string): Promise<IssuedCertificate | undefined>;
}

function toIssued(row: Selectable<CertificatesTable>): IssuedCertificate {
  return {
    serial: row.serial,
    certHash: row.cert_hash,
    subject: row.subject,
    enrollmentTokenId: row.enrollment_token_id,
    notAfter: row.not_after,
    issuedAt: row.issued_at,
  };
}

export function createCertificateStore(db: Kysely<Database>): CertificateStore {
  return {
    async recordIssued(cert) {
      try {
        await db
          .insertInto('certificates')
          .values({
            serial: cert.serial,
            cert_hash: cert.certHash,
            subject: cert.subject,
            enrollment_token_id: cert.enrollmentTokenId,
            not_after: cert.notAfter,
            issued_at: cert.issuedAt,
          })
          .execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new DuplicateKeyError(`certificate ${cert.serial}`);
        throw err;
      }
    },

    async findByHash(certHash) {
      const row = await db.selectFrom('certificates').selectAll().where('cert_hash', '=', certHash).executeTakeFirst();
      return row === undefined ? undefined : toIssued(row);
    },

    async findBySerial(serial) {
      const row = await db.selectFrom('certificates').selectAll().where('serial', '=', serial).executeTakeFirst();
      return row === undefined ? undefined : toIssued(row);
    },
  };
}
