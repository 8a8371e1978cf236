// Splitting long lists so one statement never exceeds the driver's bound-parameter limit:
// SQLite (as built into better-sqlite3) allows 32,766, PostgreSQL's wire protocol 65,535.

import type { StoreDialect } from './types.ts';

const MAX_PARAMETERS: Record<StoreDialect, number> = { sqlite: 32_766, postgres: 65_535 };

/**
 * Rows per statement when each row binds `parametersPerRow` values and the statement binds
 * `fixedParameters` besides, capped at `cap` rows so one statement's SQL text stays a few
 * hundred kilobytes (the cap is a judgement, not yet a measured optimum).
 */
export function rowsPerStatement(dialect: StoreDialect, parametersPerRow: number, fixedParameters = 0, cap = 5000): number {
  return Math.max(1, Math.min(cap, Math.floor((MAX_PARAMETERS[dialect] - fixedParameters) / parametersPerRow)));
}

export function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let start = 0; start < items.length; start += size) yield items.slice(start, start + size);
}
