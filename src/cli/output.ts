// How the CLI reports: results to stdout, problems to stderr, never a stack trace.
import { formatError } from '../policy/index.ts';
import type { PolicyError, PolicyNote } from '../policy/index.ts';

export const EXIT_OK = 0;
/** The input is invalid or the check failed. */
export const EXIT_INVALID = 1;
/** The command line cannot be acted on: unknown option, missing argument, unreadable file. */
export const EXIT_USAGE = 2;

/** An expected failure: its message is shown as is and the process exits with its code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT_INVALID) {
    super(message);
  }
}

export function printErrors(errors: readonly PolicyError[]): void {
  process.stderr.write(`error: the policy is invalid (${errors.length} problem${errors.length === 1 ? '' : 's'}):\n`);
  for (const e of errors) process.stderr.write(`  - ${formatError(e)}\n`);
}

export function printNotes(notes: readonly PolicyNote[]): void {
  for (const n of notes) process.stderr.write(`note: ${n.path ? `${n.path}: ` : ''}${n.message}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
