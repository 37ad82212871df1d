import { chmodSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { LogStore, LOG_FILE } from '../../runtime/network/log-store';
import { SqliteTaskStore, TASKS_FILE } from '../../runtime/network/task-store';
import { tempDirsPerTest } from '../helpers/temp-dirs';

/**
 * The server's task store (encrypted results, tenants' task ids) and its log are private to the
 * server's user: created 0600 under a permissive umask, and so are SQLite's WAL and shared-memory
 * files next to them; a file an older build left 0644 is tightened when opened.
 */
const OPTIONS = { defaultTtlMs: 1000, maxTtlMs: 1000, pollIntervalMs: 100 };
const work = tempDirsPerTest('dp-private-files-');
const mode = (path: string) => statSync(path).mode & 0o777;

function withUmask<T>(mask: number, run: () => T): T {
  const old = process.umask(mask);
  try {
    return run();
  } finally {
    process.umask(old);
  }
}

describe('server data files', () => {
  test('tasks.sqlite and log.sqlite (and their -wal/-shm files) are created 0600 under umask 022', () => {
    const dir = work();
    withUmask(0o022, () => {
      const tasks = new SqliteTaskStore(dir, OPTIONS);
      const log = LogStore.open(dir);
      try {
        expect(mode(join(dir, TASKS_FILE)).toString(8)).toBe('600');
        expect(mode(join(dir, LOG_FILE)).toString(8)).toBe('600');
        for (const f of readdirSync(dir).filter((n) => n.endsWith('-wal') || n.endsWith('-shm'))) expect(mode(join(dir, f)).toString(8), f).toBe('600');
      } finally {
        tasks.close();
        log.close();
      }
    });
  });

  test('a world-readable file an older build left is made 0600 when opened', () => {
    const dir = work();
    withUmask(0o022, () => {
      new SqliteTaskStore(dir, OPTIONS).close();
      LogStore.open(dir).close();
      // chmod back to 0644 as an older build would have left them
      for (const f of [TASKS_FILE, LOG_FILE]) chmodSync(join(dir, f), 0o644);
      const tasks = new SqliteTaskStore(dir, OPTIONS);
      const log = LogStore.open(dir);
      try {
        expect(mode(join(dir, TASKS_FILE)).toString(8)).toBe('600');
        expect(mode(join(dir, LOG_FILE)).toString(8)).toBe('600');
      } finally {
        tasks.close();
        log.close();
      }
    });
  });
});
