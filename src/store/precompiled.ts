// Hot-path statements built and compiled by Kysely once, when the store opens, then executed with
// fresh parameters. Building a query (immutable node trees, freeze, visit, compile) cost more than
// SQLite took to run it on the check-in path; the SQL is exactly what the builder produces, on
// either dialect, so semantics are unchanged. Parameters are marked by name at build time.

import type { Compilable, CompiledQuery, QueryResult } from 'kysely';

/** Anything that runs a compiled query: the Kysely instance or a transaction. */
export interface QueryRunner {
  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>;
}

const MARK = '\u0000lockwarden-param:';

type Slot = { name: string } | { value: unknown };

export interface Precompiled<P, R> {
  readonly sql: string;
  run(runner: QueryRunner, params: P): Promise<QueryResult<R>>;
}

/**
 * `build` receives stand-ins for the parameters (`p.name`), typed as the values they stand for;
 * a stand-in must only be used as a bound value, never to decide the shape of the query.
 */
export function precompile<P extends object, R>(build: (p: P) => Compilable<R>): Precompiled<P, R> {
  const names = new Set<string>();
  const standIns = new Proxy({}, {
    get(_target, name) {
      if (typeof name !== 'string') return undefined;
      names.add(name);
      return `${MARK}${name}`;
    },
  }) as P;
  const compiled = build(standIns).compile();
  const slots: Slot[] = compiled.parameters.map((value) =>
    typeof value === 'string' && value.startsWith(MARK) ? { name: value.slice(MARK.length) } : { value });
  const used = new Set(slots.flatMap((slot) => ('name' in slot ? [slot.name] : [])));
  for (const name of names) {
    if (!used.has(name)) throw new Error(`precompiled query: parameter ${name} was read but not bound (used to shape the query?)`);
  }
  const { sql, query, queryId } = compiled;
  const count = slots.length;
  return {
    sql,
    run(runner, params) {
      const values = new Array<unknown>(count);
      const given = params as Record<string, unknown>;
      for (let i = 0; i < count; i++) {
        const slot = slots[i]!;
        values[i] = 'name' in slot ? given[slot.name] : slot.value;
      }
      const instance: CompiledQuery<R> = { sql, query, queryId, parameters: values };
      return runner.executeQuery(instance);
    },
  };
}
