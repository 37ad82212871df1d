import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach } from 'vitest';

/**
 * A maker of fresh temporary dirs named `prefix…`, each removed after the test that made it.
 * Call it at the top level of a test file (it registers the afterEach).
 */
export function tempDirsPerTest(prefix: string): () => string {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
}

/**
 * A fresh temporary dir named `prefix…` for the whole test file, removed after its last test
 * (after the file's own afterAll hooks, which vitest runs in reverse order: servers stop first).
 * Call it at the top level of a test file.
 */
export function tempDirForFile(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
