import { readFileSync } from 'node:fs';
import { fail, type ErrorCode } from '../../compiler/errors';

/**
 * A whole text file a user named (a token file, the nodes file, a checkpoint), or one line that
 * says which file it was meant to be and why it could not be read (the system's code: ENOENT,
 * EACCES, …), never a stack trace.
 */
export function readTextFile(path: string, what: string, code: ErrorCode = 'IO'): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    return fail(code, `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
