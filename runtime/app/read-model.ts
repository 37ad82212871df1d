import { readFileSync } from 'node:fs';
import { fail } from '../../compiler/errors';

/** The bytes of a model file; a missing or unreadable file is a one-line IO error. */
export function readModelBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : (err.code ?? err.message);
    fail('IO', `cannot read model ${path}: ${why}`);
  }
}
