// `lockwarden simulate`: a fleet of simulated devices enrolled against any lockwarden server, kept
// alive until Ctrl-C. Pushes reach the fleet through a local APNs mock this command starts; the
// server must be told to push there (LOCKWARDEN_APNS_URL), else devices wake on a timer only.
import { startApnsMock } from '../sim/apns-mock.ts';
import { allocateFleet, parseMix } from '../sim/fleet-mix.ts';
import { FLEET_KINDS, runFleet } from '../sim/fleet-runner.ts';
import type { FleetProgress, RunningFleet } from '../sim/fleet-runner.ts';
import { CliError, EXIT_USAGE } from './output.ts';

export interface SimulateOptions {
  server: string;
  enrollToken: string;
  devices: string;
  mix: string;
  identity: 'scep' | 'pkcs12' | 'alternate';
  apnsPort: string;
  poll: string;
  concurrency: string;
}

function wholeNumber(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) throw new CliError(`${name} ${text}: must be a whole number from ${min} to ${max}`, EXIT_USAGE);
  return value;
}

export function progressLine(p: FleetProgress): string {
  const kinds = Object.entries(p.byKind).sort(([a], [b]) => a.localeCompare(b)).map(([kind, n]) => `${kind} ${n}`).join(', ');
  return `enrolled ${p.enrolled}/${p.total}${p.failed ? ` (${p.failed} failed)` : ''} · pushes ${p.pushes} · commands ${p.commands}${kinds ? ` · ${kinds}` : ''}`;
}

/** Writes progress in place on a terminal, and at most every few seconds as lines elsewhere. */
export function progressPrinter(stream: NodeJS.WriteStream = process.stderr) {
  let last = 0;
  return {
    update(p: FleetProgress, force = false) {
      const line = progressLine(p);
      if (stream.isTTY) stream.write(`\r\x1b[2K${line}`);
      else if (force || Date.now() - last > 5000) {
        stream.write(`${line}\n`);
        last = Date.now();
      }
    },
    done(p: FleetProgress) {
      stream.write(stream.isTTY ? `\r\x1b[2K${progressLine(p)}\n` : `${progressLine(p)}\n`);
      if (p.lastError) stream.write(`last enrollment error: ${p.lastError}\n`);
    },
  };
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits at once. */
export function untilInterrupted(): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.once('SIGINT', () => process.exit(130));
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export async function simulateCommand(options: SimulateOptions): Promise<void> {
  const count = wholeNumber('--devices', options.devices, 1, 10_000);
  const concurrency = wholeNumber('--concurrency', options.concurrency, 1, 64);
  const pollSeconds = wholeNumber('--poll', options.poll, 0, 86_400);
  const apnsPort = wholeNumber('--apns-port', options.apnsPort, 0, 65_535);
  const mix = parseMix(options.mix, FLEET_KINDS);
  if (!mix.ok) throw new CliError(mix.error, EXIT_USAGE);
  let server: URL;
  try {
    server = new URL(options.server);
  } catch {
    throw new CliError(`--server ${options.server}: not a URL (e.g. http://127.0.0.1:8080)`, EXIT_USAGE);
  }
  const enrollmentUrl = new URL('/mdm/enroll', server);
  enrollmentUrl.searchParams.set('token', options.enrollToken);

  const apns = await startApnsMock({ port: apnsPort, host: '127.0.0.1' });
  process.stderr.write(`APNs mock on ${apns.url}: start the server with LOCKWARDEN_APNS_URL=${apns.url} so its pushes reach this fleet` +
    `${pollSeconds ? ` (devices also check in every ~${pollSeconds} s)` : ''}\n`);
  const printer = progressPrinter();
  const controller = new AbortController();
  const interrupted = untilInterrupted().then(() => controller.abort());
  let fleet: RunningFleet | undefined;
  try {
    fleet = await runFleet({
      enrollmentUrl: enrollmentUrl.toString(),
      serverUrl: server.origin,
      kinds: allocateFleet(count, mix.entries),
      identity: options.identity,
      concurrency,
      apns,
      pollIntervalMs: pollSeconds * 1000,
      onProgress: (p) => printer.update(p),
      signal: controller.signal,
    });
    printer.done(fleet.progress());
    if (fleet.progress().enrolled === 0) throw new CliError('no device could enroll: check --server and --enroll-token');
    if (!controller.signal.aborted) {
      process.stderr.write('fleet running; Ctrl-C stops it\n');
      const ticker = setInterval(() => printer.update(fleet!.progress()), 1000);
      await interrupted;
      clearInterval(ticker);
      printer.done(fleet.progress());
    }
  } finally {
    await fleet?.stop();
    await apns.close();
  }
}
