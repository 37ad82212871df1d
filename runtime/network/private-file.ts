import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Makes `path` exist as a file only its owner can read or write (0600), whatever the umask, and
 * tightens one an older build left world-readable. SQLite gives its -wal and -shm files the
 * database file's mode, so creating the database this way before SQLite opens it keeps them
 * private too. The folder is created 0700 when missing.
 */
export function ensurePrivateFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  closeSync(openSync(path, 'a', 0o600));
  chmodSync(path, 0o600);
}
