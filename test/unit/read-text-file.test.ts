import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { readTextFile } from '../../runtime/data/read-text-file';
import { refusalOf } from '../helpers/refusal';

/** A text file a user names: its text, or one line naming the file and the system's reason, with the caller's error code. */

const work = mkdtempSync(join(tmpdir(), 'dp-read-text-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('readTextFile', () => {
  test('returns the file as UTF-8 text', () => {
    writeFileSync(join(work, 'tokens'), 'alice:tøken\n');
    expect(readTextFile(join(work, 'tokens'), 'token file')).toBe('alice:tøken\n');
  });

  test('a missing file is one IO line naming what it was and ENOENT', () => {
    const e = refusalOf(() => readTextFile(join(work, 'missing'), 'token file'));
    expect(e.code).toBe('IO');
    expect(e.message).toBe(`cannot read token file ${join(work, 'missing')}: ENOENT`);
  });

  test("a directory is refused with the caller's code", () => {
    const e = refusalOf(() => readTextFile(work, 'the nodes file', 'BAD_ARGUMENT'));
    expect(e.code).toBe('BAD_ARGUMENT');
    expect(e.message).toBe(`cannot read the nodes file ${work}: EISDIR`);
  });
});
