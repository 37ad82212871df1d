import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, test } from 'vitest';
import { auditVerify } from '../../runtime/app/audit-verify';
import { checkpointBody, cosignatureLine, signCheckpoint, verifyCheckpoint, witnessKeyOf } from '../../runtime/network/checkpoint';
import { ephemeralIdentity, loadOrCreateIdentity } from '../../runtime/network/identity';
import { LOG_FILE, LogStore } from '../../runtime/network/log-store';
import { consistencyProof, inclusionProof, leafHash, listRangeHash, rootOf } from '../../runtime/network/merkle';
import { formatVkey, parseNote, parseVkey, signNote, verifyNoteSignature } from '../../runtime/network/signed-note';
import { TransparencyLog, verifyReceipt } from '../../runtime/network/transparency-log';
import { appendReleases, tamperLog } from '../helpers/release-log';
import { tempDirsPerTest } from '../helpers/temp-dirs';

const tempDir = tempDirsPerTest('dp-tlog-');

describe('signed notes (C2SP)', () => {
  // The example of golang.org/x/mod/sumdb/note, whose format C2SP signed-note specifies.
  const VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
  const NOTE =
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n" +
    '\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';

  test('the published example verifies; an altered body or unknown key does not', () => {
    const key = parseVkey(VKEY);
    expect(formatVkey(key)).toBe(VKEY);
    expect(verifyNoteSignature(parseNote(NOTE), key)).toBe(true);
    expect(verifyNoteSignature(parseNote(NOTE.replace('cryptography', 'cryptographx')), key)).toBe(false);
    expect(verifyNoteSignature(parseNote(NOTE), { ...key, name: 'Someone' })).toBe(false);
    expect(() => parseVkey(VKEY.replace('c74f20a3', 'c74f20a4'))).toThrow(/key id c74f20a4 does not match/);
  });

  test('a note we sign has the same shape and verifies with our vkey', () => {
    const id = ephemeralIdentity();
    const note = signNote('hello\nworld\n', 'example.com/x', id);
    expect(note).toMatch(/^hello\nworld\n\n\u2014 example\.com\/x [A-Za-z0-9+/]{91}=\n$/);
    const key = parseVkey(formatVkey({ name: 'example.com/x', type: 1, publicKey: id.publicKey }));
    expect(verifyNoteSignature(parseNote(note), key)).toBe(true);
    expect(() => signNote('no newline', 'x', id)).toThrow(/ends in one newline/);
  });
});

describe('checkpoints', () => {
  test('body format, log signature and witness cosignatures', () => {
    const log = ephemeralIdentity();
    const witness = ephemeralIdentity();
    const root = rootOf([leafHash(Buffer.from('a'))]);
    const cp = { origin: 'deeppowers/log/test', size: 1, root };
    expect(checkpointBody(cp)).toBe(`deeppowers/log/test\n1\n${root.toString('base64')}\n`);
    const note = signCheckpoint(cp, log);
    const logKey = { name: cp.origin, type: 1 as const, publicKey: log.publicKey };
    const wKey = witnessKeyOf('node/w1', witness);
    expect(verifyCheckpoint(note, logKey, [wKey]).cosignedBy).toEqual([]);
    const cosigned = note + cosignatureLine(checkpointBody(cp), 'node/w1', witness, 1_700_000_000);
    expect(verifyCheckpoint(cosigned, logKey, [wKey])).toMatchObject({ size: 1, cosignedBy: ['node/w1'] });
    // A cosignature is over the body: moved onto another checkpoint it counts for nothing.
    const other = signCheckpoint({ ...cp, size: 2, root: rootOf([root, root]) }, log);
    const line = cosigned.slice(note.length);
    expect(verifyCheckpoint(other + line, logKey, [wKey]).cosignedBy).toEqual([]);
    expect(() => verifyCheckpoint(note, { ...logKey, publicKey: witness.publicKey })).toThrow(/not signed by the log key/);
  });
});

describe('identity', () => {
  test('made once in the data dir, the same on the next start', () => {
    const dir = tempDir();
    const a = loadOrCreateIdentity(dir, 'node');
    const b = loadOrCreateIdentity(dir, 'node');
    expect(b.publicKey).toEqual(a.publicKey);
    expect(a.id).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('SQLite log store', () => {
  test('stored subtrees give the same hashes and proofs as the in-memory definition', () => {
    const dir = tempDir();
    const id = ephemeralIdentity();
    const store = LogStore.open(dir);
    const entries = Array.from({ length: 21 }, (_, i) => Buffer.from(`record ${i}`));
    for (const e of entries) store.append(e, (size, root) => signCheckpoint({ origin: 'o', size, root }, id));
    const leaves = entries.map(leafHash);
    const mem = listRangeHash(leaves);
    for (let n = 1; n <= leaves.length; n++) {
      expect(store.root(n)).toEqual(rootOf(leaves.slice(0, n)));
      expect(store.checkpoint(n)?.root).toEqual(rootOf(leaves.slice(0, n)));
      for (let i = 0; i < n; i++) expect(store.inclusionProof(i, n)).toEqual(inclusionProof(i, n, mem));
      if (n > 1) expect(store.consistencyProof(n - 1, n)).toEqual(consistencyProof(n - 1, n, mem));
    }
    expect(store.size).toBe(21);
    store.close();
  });

  test('entries cannot be updated or deleted through SQL', () => {
    const dir = tempDir();
    const log = TransparencyLog.open(dir);
    log.append({ job: 'a' });
    log.close();
    const db = new DatabaseSync(join(dir, LOG_FILE));
    expect(() => db.exec("UPDATE leaves SET entry = X'00' WHERE idx = 0")).toThrow(/append-only/);
    expect(() => db.exec('DELETE FROM leaves')).toThrow(/append-only/);
    db.close();
  });
});

describe('transparency log receipts', () => {
  test('a receipt proves its entry is in a checkpoint signed by the log key', () => {
    const dir = tempDir();
    const log = TransparencyLog.open(dir);
    const receipts = [0, 1, 2, 3, 4].map((i) => log.append({ job: `job-${i}` }));
    const key = parseVkey(log.vkey);
    const checked = verifyReceipt(receipts[3]!, key);
    expect(checked).toMatchObject({ index: 3, size: 4, entry: { job: 'job-3', index: 3 } });
    const forged = { ...receipts[3]!, entry: Buffer.from(JSON.stringify({ index: 3, job: 'job-X' })).toString('base64') };
    expect(() => verifyReceipt(forged, key)).toThrow(/inclusion proof for entry 3 does not lead/);
    const other = TransparencyLog.open(tempDir());
    expect(() => verifyReceipt(receipts[3]!, other.key)).toThrow(/checkpoint is for log/);
    log.close();
    other.close();
  });
});

describe('audit verify', () => {
  const nodes = { compute: ephemeralIdentity(), reviewers: [ephemeralIdentity(), ephemeralIdentity()] };
  function makeLog(n: number): string {
    const dir = tempDir();
    const log = TransparencyLog.open(dir);
    appendReleases(log, nodes, n);
    log.close();
    return dir;
  }
  /** The audit of the log in `dir` after `sql` edited it behind the log's back: it must fail. */
  async function tamperedAudit(dir: string, sql: string) {
    tamperLog(dir, sql);
    const report = await auditVerify({ dataDir: dir });
    expect(report.ok).toBe(false);
    return report;
  }

  test('an untouched log verifies', async () => {
    const report = await auditVerify({ dataDir: makeLog(9) });
    expect(report).toMatchObject({ ok: true, entries: 9, checkpoints: 9, problems: [] });
  });

  test('one edited byte is found and its entry named, even with its leaf hash rewritten to match', async () => {
    const dir = makeLog(9);
    let report = await tamperedAudit(dir, "UPDATE leaves SET entry = CAST(replace(CAST(entry AS TEXT), 'job-4', 'job-5') AS BLOB) WHERE idx = 4");
    expect(report.problems[0]).toMatchObject({ entry: 4 });
    expect(report.problems.map((p) => p.message).join('\n')).toMatch(/entry 4: its bytes do not match its stored leaf hash/);
    const db = new DatabaseSync(join(dir, LOG_FILE));
    const row = db.prepare('SELECT entry FROM leaves WHERE idx = 4').get() as { entry: Uint8Array };
    db.prepare('UPDATE leaves SET leaf_hash = ? WHERE idx = 4').run(leafHash(row.entry));
    db.close();
    report = await auditVerify({ dataDir: dir });
    expect(report.ok).toBe(false);
    const tree = report.problems.find((p) => p.checkpoint !== undefined);
    expect(tree).toMatchObject({ entry: 4, checkpoint: 5 });
    expect(tree!.message).toMatch(/^entry 4 was edited, removed or reordered/);
    // The edit also broke the signatures of the nodes' attestations inside it.
    expect(report.problems.map((p) => p.message).join('\n')).toMatch(/entry 4: attestation by node [0-9a-f]{16} for job job-5: the signature does not verify/);
  });

  test('a deleted entry is named, whether the rest are left in place or renumbered', async () => {
    const dir = makeLog(9);
    const report = await tamperedAudit(dir, 'DELETE FROM leaves WHERE idx = 6');
    expect(report.problems[0]).toMatchObject({ entry: 6 });
    expect(report.problems[0]!.message).toMatch(/entry 6 is missing/);

    const dir2 = makeLog(9);
    const report2 = await tamperedAudit(dir2, 'DELETE FROM leaves WHERE idx = 2; UPDATE leaves SET idx = idx - 1 WHERE idx > 2; DELETE FROM checkpoints WHERE size = 9');
    expect(report2.problems.find((p) => p.checkpoint !== undefined)).toMatchObject({ entry: 2, checkpoint: 3 });
    expect(report2.problems.map((p) => p.message).join('\n')).toMatch(/entry 2 records itself as entry 3/);
  });

  test('two swapped entries are both named', async () => {
    const dir = makeLog(9);
    const report = await tamperedAudit(dir, 'UPDATE leaves SET idx = -1 WHERE idx = 3; UPDATE leaves SET idx = 3 WHERE idx = 7; UPDATE leaves SET idx = 7 WHERE idx = -1');
    const text = report.problems.map((p) => p.message).join('\n');
    expect(text).toMatch(/entry 3 records itself as entry 7/);
    expect(text).toMatch(/entry 7 records itself as entry 3/);
    expect(report.problems.find((p) => p.checkpoint !== undefined)).toMatchObject({ entry: 3, checkpoint: 4 });
  });

  test('a checkpoint re-signed by another key, or entries added past the last checkpoint, are found', async () => {
    const dir = makeLog(3);
    const forger = ephemeralIdentity();
    const store = LogStore.open(dir);
    const origin = parseNote(store.checkpoint(3)!.note).body.split('\n')[0]!;
    store.updateCheckpointNote(3, signCheckpoint({ origin, size: 3, root: store.root(3) }, forger));
    store.close();
    tamperLog(dir, "INSERT INTO leaves(idx, leaf_hash, entry, created_at) VALUES (3, X'00', X'7b7d', '2026-01-01')");
    const text = (await auditVerify({ dataDir: dir })).problems.map((p) => p.message).join('\n');
    expect(text).toMatch(/checkpoint 3: checkpoint of size 3 is not signed by the log key/);
    expect(text).toMatch(/entries 2…3 are not covered by any signed checkpoint/);
  });

  test('the CLI exits 3 and names the entry; 0 on an untouched log', () => {
    const dir = makeLog(4);
    const run = () => spawnSync(process.execPath, ['bin/deeppowers.js', 'audit', 'verify', '--data-dir', dir], { encoding: 'utf8', timeout: 60_000 });
    const ok = run();
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^log verified: 4 entries, 4 signed checkpoints/);
    tamperLog(dir, 'UPDATE leaves SET idx = -1 WHERE idx = 1; UPDATE leaves SET idx = 1 WHERE idx = 2; UPDATE leaves SET idx = 2 WHERE idx = -1');
    const bad = run();
    expect(bad.status).toBe(3);
    expect(bad.stderr).toMatch(/^deeppowers: warning: the log key was read from the audited data dir \(log\.vkey\) itself, so a log rewritten and re-signed under a new key would pass: /);
    expect(bad.stderr).toMatch(/\ndeeppowers: error: the log failed verification: entry 1 records itself as entry 2/);
  });
});
