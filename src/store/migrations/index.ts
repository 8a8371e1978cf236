// Every migration, in order. A static list rather than a directory scan, so migrations work the
// same under tsx, in tests and in a bundle. Names sort in execution order; never rename one that
// has shipped, only append.

import type { Migration } from 'kysely';
import * as initial from './0001-initial.ts';
import * as auditLog from './0002-audit-log.ts';
import * as policies from './0003-policies.ts';
import * as declarativeStatus from './0004-declarative-status.ts';
import * as compliance from './0005-compliance.ts';

export const migrations: Readonly<Record<string, Migration>> = {
  '0001-initial': initial,
  '0002-audit-log': auditLog,
  '0003-policies': policies,
  '0004-declarative-status': declarativeStatus,
  '0005-compliance': compliance,
};
