import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, test } from 'vitest';
import { auditVerify } from '../../runtime/app/audit-verify';
import { signCheckpoint } from '../../runtime/network/checkpoint';
import { ephemeralIdentity } from '../../runtime/network/identity';
import { LOG_FILE, LogStore } from '../../runtime/network/log-store';
import { leafHash } from '../../runtime/network/merkle';
import { logRelease } from '../../runtime/network/release';
import { parseNote } from '../../runtime/network/signed-note';
import { LOG_VKEY_FILE, TransparencyLog } from '../../runtime/network/transparency-log';
import { Witness } from '../../runtime/network/witness';
import { appendRelease, appendReleases, releaseAttestations, tamperLog } from '../helpers/release-log';
import { tempDirsPerTest } from '../helpers/temp-dirs';

/**
 * The twelve tamperings of issue 19 (finding 3) against a log as the compute network writes it
 * (9 releases of a compute node and 2 reviewers, each checkpoint cosigned by both reviewers as
 * witnesses). An auditor saved checkpoint 9 earlier (`audit verify --save-checkpoint`) and holds
 * the witnesses' keys; after each tampering `audit verify --since … --witness-keys … ` must fail
 * and name the entry or checkpoint. On d72f8df, 7 of them passed (items 1 to 7 below). A 13th,
 * entries the key holder appends with nodes nobody listed, passes every check of the entries'
 * own keys and is caught only against the operator's nodes file (`--nodes`).
 */

const tempDir = tempDirsPerTest('dp-audit-tamper-');

const nodes = { compute: ephemeralIdentity(), reviewers: [ephemeralIdentity(), ephemeralIdentity()] };

interface Setup {
  readonly dir: string;
  /** The checkpoint the auditor saved, and the witness keys file (as `worker --print-id` prints keys). */
  readonly since: string;
  readonly witnessKeys: string;
}

async function networkLog(): Promise<Setup> {
  const dir = tempDir();
  const witnesses = nodes.reviewers.map((r) => new Witness(tempDir(), r));
  const log = TransparencyLog.open(dir);
  appendReleases(log, nodes, 9, witnesses);
  log.close();
  const aside = tempDir();
  const witnessKeys = join(aside, 'witnesses');
  writeFileSync(witnessKeys, nodes.reviewers.map((r) => `public key ${r.publicKey.toString('base64')}\n`).join(''));
  // What the auditor kept from an earlier clean run (the test of the untouched log saves it with --save-checkpoint).
  const since = join(aside, 'checkpoint-9');
  const store = LogStore.open(dir, { create: false });
  writeFileSync(since, store.checkpoint(9)!.note);
  store.close();
  return { dir, since, witnessKeys };
}

/** What someone with write access to the file can do: drop the triggers and rewrite rows. */

/** The log's records without their index, as the key holder would re-append them. */
function records(dir: string): Record<string, unknown>[] {
  const store = LogStore.open(dir, { create: false });
  const out = store.entries().map((e) => {
    const { index: _index, ...rest } = JSON.parse(e.entry.toString('utf8')) as Record<string, unknown>;
    return rest;
  });
  store.close();
  return out;
}

/** The key holder rebuilds the log from `entries` under its own log key and re-signs every checkpoint (no witness cosigns). */
function resign(dir: string, entries: Record<string, unknown>[]): void {
  const fresh = tempDir();
  copyFileSync(join(dir, 'log-key.key'), join(fresh, 'log-key.key'));
  const log = TransparencyLog.open(fresh);
  for (const e of entries) log.append(e);
  log.close();
  for (const suffix of ['', '-wal', '-shm']) rmSync(join(dir, LOG_FILE + suffix), { force: true });
  copyFileSync(join(fresh, LOG_FILE), join(dir, LOG_FILE));
}

/** The operator's nodes file (`serve --nodes`) listing the compute node and the two reviewers. */
function writeNodesFile(): string {
  const file = join(tempDir(), 'nodes');
  const line = (n: { id: string; publicKey: Buffer }, role: string) => `${n.id} ${role} ${n.publicKey.toString('base64')}\n`;
  writeFileSync(file, `# the operator's list\n${line(nodes.compute, 'compute')}${nodes.reviewers.map((r) => line(r, 'review')).join('')}`);
  return file;
}

async function audit(s: Setup, extra: { logKey?: string; nodes?: string } = {}) {
  const report = await auditVerify({ dataDir: s.dir, since: s.since, witnessKeys: s.witnessKeys, minCosignatures: '2', ...extra });
  return { report, text: report.problems.map((p) => p.message).join('\n') };
}

/** The audit of the network log after `sql` edited it behind the log's back: it must fail. */
async function auditTampered(sql: string) {
  const s = await networkLog();
  tamperLog(s.dir, sql);
  const result = await audit(s);
  expect(result.report.ok).toBe(false);
  return result;
}

describe('audit verify --since … --witness-keys … against the 12 tamperings of issue 19, and --nodes against a 13th', () => {
  test('the untouched log verifies, consistent with the saved checkpoint and cosigned by both witnesses', async () => {
    const s = await networkLog();
    const saved = join(tempDir(), 'saved');
    const first = await auditVerify({ dataDir: s.dir, saveCheckpoint: saved, witnessKeys: s.witnessKeys, minCosignatures: '2' });
    expect(first).toMatchObject({ ok: true, entries: 9, checkpoints: 9, latest: { size: 9 } });
    expect(first.latest!.cosignedBy).toHaveLength(2);
    expect(readFileSync(saved, 'utf8')).toBe(readFileSync(s.since, 'utf8'));
    const log = TransparencyLog.open(s.dir);
    appendRelease(log, nodes, 'job-9', nodes.reviewers.map((r) => new Witness(tempDir(), r)));
    log.close();
    const { report } = await audit(s);
    expect(report).toMatchObject({ ok: true, entries: 10, since: { size: 9 }, problems: [], warnings: [] });
  });

  test('1. the last 2 entries and their checkpoints dropped', async () => {
    const { report, text } = await auditTampered('DELETE FROM leaves WHERE idx >= 7; DELETE FROM checkpoints WHERE size >= 8');
    expect(report.problems).toContainEqual(expect.objectContaining({ checkpoint: 9, entry: 7 }));
    expect(text).toMatch(/the log holds 7 entries, fewer than the 9 signed by the kept checkpoint 9 \(--since\): 2 entries and their checkpoints were removed/);
  });

  test('2. the whole log rewritten under a new key, no --log-key given', async () => {
    const s = await networkLog();
    const other = records(s.dir).map((r, i) => (i === 4 ? { ...r, released_at: '2020-01-01T00:00:00.000Z' } : r));
    for (const f of ['log-key.key', LOG_VKEY_FILE, LOG_FILE, `${LOG_FILE}-wal`, `${LOG_FILE}-shm`]) rmSync(join(s.dir, f), { force: true });
    const log = TransparencyLog.open(s.dir);
    for (const r of other) log.append(r);
    log.close();
    const { report, text } = await audit(s);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ checkpoint: 9 }));
    expect(text).toMatch(/the kept checkpoint 9 \(--since\) does not verify under the log key: .*the log key was replaced or this is another log/);
    expect(text).toMatch(/checkpoint 9, the latest, carries 0 of the 2 cosignatures required/);
    // Without an anchor it passes, and says why that proves little.
    const bare = await auditVerify({ dataDir: s.dir });
    expect(bare.ok).toBe(true);
    expect(bare.warnings[0]).toMatch(/^the log key was read from the audited data dir \(log\.vkey\) itself/);
  });

  test('3. the key holder rewrites entry 4 and re-signs every checkpoint (every cosignature gone)', async () => {
    const s = await networkLog();
    const { compute, reviews } = releaseAttestations(nodes, 'job-4-rewritten');
    resign(
      s.dir,
      records(s.dir).map((r, i) => (i === 4 ? { ...r, job_id: 'job-4-rewritten', result_sha256: compute.result_sha256, inputs_sha256: compute.inputs_sha256, attestations: [compute, ...reviews] } : r)),
    );
    const { report, text } = await audit(s);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ checkpoint: 9 }));
    expect(text).toMatch(/the log's first 9 entries no longer hash to the root of the kept checkpoint 9 \(--since\): an entry in 0…8 was rewritten, removed or reordered and the log re-signed/);
    expect(text).toMatch(/checkpoint 9, the latest, carries 0 of the 2 cosignatures required from the witness keys/);
  });

  test('4. the key holder deletes entry 4, renumbers, appends one more and re-signs', async () => {
    const s = await networkLog();
    const rest = records(s.dir).filter((_, i) => i !== 4);
    const { compute, reviews } = releaseAttestations(nodes, 'job-9');
    const extra = logRelease(TransparencyLog.open(tempDir()), compute, reviews, { reviewers: 2, quorum: 2, agreeing: reviews.map((r) => r.node_id) }, 'tenant-a');
    const { index: _i, ...record } = JSON.parse(Buffer.from(extra.entry, 'base64').toString('utf8')) as Record<string, unknown>;
    resign(s.dir, [...rest, record]);
    const { report, text } = await audit(s);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ checkpoint: 9 }));
    expect(text).toMatch(/the log's first 9 entries no longer hash to the root of the kept checkpoint 9 \(--since\)/);
  });

  test("5. an entry whose attestation signature is forged (appended by the key holder)", async () => {
    const s = await networkLog();
    const { compute, reviews } = releaseAttestations(nodes, 'job-9');
    const forged = { ...reviews[1]!, signature: Buffer.alloc(64, 7).toString('base64') };
    const log = TransparencyLog.open(s.dir);
    logRelease(log, compute, [reviews[0]!, forged], { reviewers: 2, quorum: 2, agreeing: reviews.map((r) => r.node_id) }, 'tenant-a');
    log.close();
    const { report, text } = await audit(s);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ entry: 9 }));
    expect(text).toMatch(new RegExp(`entry 9: attestation by node ${nodes.reviewers[1]!.id} for job job-9: the signature does not verify`));
  });

  test('6. an entry holding 0 reviews against a quorum of 2', async () => {
    const s = await networkLog();
    const { compute } = releaseAttestations(nodes, 'job-9');
    const log = TransparencyLog.open(s.dir);
    logRelease(log, compute, [], { reviewers: 2, quorum: 2, agreeing: [] }, 'tenant-a');
    log.close();
    const { report, text } = await audit(s);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ entry: 9 }));
    expect(text).toMatch(/entry 9: 0 review attestations agree with the result, fewer than the quorum of 2 it records/);
  });

  test('7. deleted checkpoints', async () => {
    const { report, text } = await auditTampered('DELETE FROM checkpoints WHERE size IN (3, 4, 5)');
    expect(report.problems).toContainEqual(expect.objectContaining({ checkpoint: 3 }));
    expect(text).toMatch(/checkpoints 3…5 are missing: deleted \(the log signs one after every entry\)/);
  });

  test('8. one edited byte in an entry', async () => {
    const { report, text } = await auditTampered("UPDATE leaves SET entry = CAST(replace(CAST(entry AS TEXT), '\"quorum\":2', '\"quorum\":1') AS BLOB) WHERE idx = 4");
    expect(report.problems[0]).toMatchObject({ entry: 4 });
    expect(text).toMatch(/entry 4: its bytes do not match its stored leaf hash \(edited\)/);
  });

  test('9. an edited entry with its stored leaf hash rewritten to match', async () => {
    const s = await networkLog();
    tamperLog(s.dir, "UPDATE leaves SET entry = CAST(replace(CAST(entry AS TEXT), '\"quorum\":2', '\"quorum\":1') AS BLOB) WHERE idx = 4");
    const db = new DatabaseSync(join(s.dir, LOG_FILE));
    const row = db.prepare('SELECT entry FROM leaves WHERE idx = 4').get() as { entry: Uint8Array };
    db.prepare('UPDATE leaves SET leaf_hash = ? WHERE idx = 4').run(leafHash(row.entry));
    db.close();
    const { report, text } = await audit(s);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ entry: 4, checkpoint: 5 }));
    expect(text).toMatch(/entry 4 was edited, removed or reordered: the log no longer matches its signed checkpoint 5/);
  });

  test('10. an entry deleted from the middle', async () => {
    const { report, text } = await auditTampered('DELETE FROM leaves WHERE idx = 6');
    expect(report.problems[0]).toMatchObject({ entry: 6 });
    expect(text).toMatch(/entry 6 is missing \(the next stored entry is 7\): removed/);
  });

  test('11. two entries swapped', async () => {
    const { report, text } = await auditTampered('UPDATE leaves SET idx = -1 WHERE idx = 3; UPDATE leaves SET idx = 3 WHERE idx = 7; UPDATE leaves SET idx = 7 WHERE idx = -1');
    expect(report.problems).toContainEqual(expect.objectContaining({ entry: 3, checkpoint: 4 }));
    expect(text).toMatch(/entry 3 records itself as entry 7/);
    expect(text).toMatch(/entry 7 records itself as entry 3/);
  });

  test('12. the latest checkpoint re-signed by a key that is not the log key', async () => {
    const s = await networkLog();
    const store = LogStore.open(s.dir);
    const origin = parseNote(store.checkpoint(9)!.note).body.split('\n')[0]!;
    store.updateCheckpointNote(9, signCheckpoint({ origin, size: 9, root: store.root(9) }, ephemeralIdentity()));
    store.close();
    const { report, text } = await audit(s);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ checkpoint: 9 }));
    expect(text).toMatch(/checkpoint 9: checkpoint of size 9 is not signed by the log key/);
  });

  test('13. (beyond the twelve) the key holder appends releases by nodes nobody listed; the witnesses cosign on: --nodes names them', async () => {
    const s = await networkLog();
    const sybils = [ephemeralIdentity(), ephemeralIdentity()];
    const stranger = ephemeralIdentity();
    const log = TransparencyLog.open(s.dir);
    appendRelease(log, { compute: nodes.compute, reviewers: sybils }, 'job-9');
    appendRelease(log, { compute: stranger, reviewers: sybils }, 'job-10');
    // The next honest release is cosigned by both listed witnesses: a witness checks that the log only grew, not who signed its entries.
    appendRelease(log, nodes, 'job-11', nodes.reviewers.map((r) => new Witness(tempDir(), r)));
    log.close();
    // Every signature verifies and every quorum is met by the keys the entries name themselves.
    expect((await audit(s)).report).toMatchObject({ ok: true, entries: 12, problems: [] });
    const { report, text } = await audit(s, { nodes: writeNodesFile() });
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ entry: 9 }), expect.objectContaining({ entry: 10 })]);
    expect(text).toBe(
      `entry 9: 0 listed review attestations agree with the result, fewer than the quorum of 2 it records; not counted, as they are not listed review nodes (--nodes): ${sybils.map((r) => r.id).join(', ')}\n` +
        `entry 10: its result was not computed by a listed compute node: node ${stranger.id} is not on the nodes list (--nodes)`,
    );
    // The untouched log passes with the list.
    expect((await audit(await networkLog(), { nodes: writeNodesFile() })).report).toMatchObject({ ok: true, problems: [] });
  });

  test("--since takes the checkpoint a client kept in its pins.json, with the log key it pinned", async () => {
    const s = await networkLog();
    const note = readFileSync(s.since, 'utf8');
    const vkey = readFileSync(join(s.dir, LOG_VKEY_FILE), 'utf8').trim();
    const pins = join(tempDir(), 'pins.json');
    writeFileSync(pins, JSON.stringify({ 'http://127.0.0.1:8750/mcp': { log_vkey: vkey, checkpoint: note } }));
    tamperLog(s.dir, 'DELETE FROM leaves WHERE idx >= 8; DELETE FROM checkpoints WHERE size >= 9');
    const report = await auditVerify({ dataDir: s.dir, since: pins });
    expect(report.ok).toBe(false);
    expect(report.warnings).toEqual([]);
    expect(report.problems).toContainEqual(expect.objectContaining({ checkpoint: 9, entry: 8 }));
  });
});

describe('the audit verify command line', () => {
  test('--save-checkpoint, then --since after a truncation: exit 3 naming the kept checkpoint; bad flags in one line', async () => {
    const s = await networkLog();
    const saved = join(tempDir(), 'audit.checkpoint');
    const run = (...args: string[]) => spawnSync(process.execPath, ['bin/deeppowers.js', 'audit', 'verify', '--data-dir', s.dir, ...args], { encoding: 'utf8', timeout: 60_000 });
    // The operator's nodes file (`serve --nodes`) serves as the witness keys: its review lines.
    const nodesFile = writeNodesFile();
    const ok = run('--save-checkpoint', saved, '--witness-keys', nodesFile, '--min-cosignatures', '2', '--nodes', nodesFile);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^log verified: 9 entries, 9 signed checkpoints; latest checkpoint 9, root \S+, cosigned by 2 witnesses\n$/);
    expect(readFileSync(saved, 'utf8')).toBe(readFileSync(s.since, 'utf8'));
    tamperLog(s.dir, 'DELETE FROM leaves WHERE idx >= 7; DELETE FROM checkpoints WHERE size >= 8');
    const bad = run('--since', saved);
    expect(bad.status).toBe(3);
    expect(bad.stderr).toBe(
      'deeppowers: error: the log failed verification: the log holds 7 entries, fewer than the 9 signed by the kept checkpoint 9 (--since): 2 entries and their checkpoints were removed\n',
    );
    const flags = run('--witness-keys', s.witnessKeys, '--min-cosignatures', '3');
    expect(flags.status).toBe(2);
    expect(flags.stderr).toBe('deeppowers: error: --min-cosignatures 3 needs at least that many keys in --witness-keys (got 2)\n');
  }, 120_000);
});
