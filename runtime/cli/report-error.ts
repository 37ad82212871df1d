import { CommanderError } from 'commander';
import { DeepPowersError } from '../../compiler/errors';

/**
 * Exit codes: 0 success, 1 a bug in DeepPowers, 2 the user's input or command line was refused,
 * 3 a check found a problem (`audit verify`; `compile`: the model was written but misses the
 * precision it was asked to promise).
 */
export const EXIT_OK = 0;
export const EXIT_INTERNAL = 1;
export const EXIT_USAGE = 2;
/** A check the command ran (e.g. `audit verify`) found a problem; the command has already said what. */
export const EXIT_CHECK_FAILED = 3;

/** Thrown by a command that has printed its own findings and only needs the process to exit with `code`. */
export class ReportedFailure extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

/**
 * Turn whatever escaped a command into one line on stderr (and a JSON error object on stdout
 * when --json was asked for), returning the exit code. Stack traces are for bugs only, and
 * only on request, so expected failures never look like crashes.
 */
export function reportError(e: unknown, json: boolean, env: NodeJS.ProcessEnv = process.env): number {
  if (e instanceof CommanderError) {
    // Commander has already printed its message (and help, where asked for).
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT_OK;
    if (json) writeJsonError('BAD_ARGUMENT', e.message.replace(/^error: /, ''));
    return EXIT_USAGE;
  }
  if (e instanceof ReportedFailure) return e.exitCode;
  if (e instanceof DeepPowersError) {
    process.stderr.write(`deeppowers: error: ${e.message}\n`);
    if (json) writeJsonError(e.code, e.message);
    return EXIT_USAGE;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  const message = err.message.split('\n')[0];
  process.stderr.write(`deeppowers: internal error: ${message}\n`);
  process.stderr.write('This is a bug in DeepPowers. Please report it with the command you ran; set DEEPPOWERS_DEBUG=1 to include the stack trace.\n');
  if (env.DEEPPOWERS_DEBUG === '1' && err.stack) process.stderr.write(`${err.stack}\n`);
  if (json) writeJsonError('INTERNAL', message ?? '');
  return EXIT_INTERNAL;
}

function writeJsonError(code: string, message: string): void {
  process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
}
