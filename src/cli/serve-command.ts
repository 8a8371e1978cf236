// `lockwarden serve` (and `npm start`): the MDM server on SQLite in ./data, or PostgreSQL with
// DATABASE_URL. Stops cleanly on SIGINT/SIGTERM: in-flight requests finish, the database closes.
import { buildApp } from '../http/app.ts';
import { openRuntime } from '../services/runtime.ts';
import { configFromEnv, ConfigError } from '../services/server-config.ts';
import { CliError, EXIT_INVALID } from './output.ts';

export async function serveCommand(): Promise<void> {
  let config;
  try {
    config = configFromEnv(process.env);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT_INVALID);
    throw err;
  }
  const runtime = await openRuntime(config);
  const app = await buildApp(runtime);
  for (const warning of runtime.warnings) app.log.warn(warning);
  if (runtime.newAdminToken) {
    // Printed once, to the terminal only: the database keeps just its hash.
    process.stdout.write(`\nFirst start: an admin API token was created. It is shown only this once:\n\n  ${runtime.newAdminToken}\n\n`);
  }
  const stop = async (signal: string) => {
    app.log.info({ signal }, 'stopping');
    await app.close();
    await runtime.close();
  };
  const stopped = new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { void stop(signal).then(resolve); });
  });
  const address = await app.listen({ port: config.port, host: config.host });
  process.stdout.write(`lockwarden listening on ${address}\n`);
  await stopped;
}
