import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { sha256Hex } from '../../compiler/artifact/model-hash';
import { attest, type Attestation, type NodeRole } from '../../runtime/network/attestation';
import { checkpointBody, cosignatureLine, parseCheckpointBody, witnessName } from '../../runtime/network/checkpoint';
import { ephemeralIdentity, type Identity } from '../../runtime/network/identity';
import { PinStore } from '../../runtime/network/pins';
import { logRelease } from '../../runtime/network/release';
import { parseNote } from '../../runtime/network/signed-note';
import { TransparencyLog } from '../../runtime/network/transparency-log';
import { describeVerification, verifyRelease, type ReleaseExpectation, type ReleaseReceipt } from '../../runtime/network/verify-result';
import { repinServer } from '../../runtime/cli/client';
import { tempDirsPerTest } from '../helpers/temp-dirs';

/**
 * The client's check of a release against a server that lies: the server holds its log key and
 * signs whatever entries it likes; the nodes are Ed25519 keys, honest ones pinned on first use
 * and fresh ones the liar made. Each refusal below was an accepted "verified" result before the
 * client pinned node sets and checkpoints (issue 19, findings 1, 4 and 7).
 */

const SERVER = 'http://server.example/mcp';
const MODEL = 'ab'.repeat(32);
const KEYS = 'cd'.repeat(32);
const INPUTS = Buffer.from('the client ciphertexts');
const RESULT = Buffer.from('the encrypted result');

const tempDir = tempDirsPerTest('dp-verify-release-');

function attestation(node: Identity, role: NodeRole, result: Buffer = RESULT, job = 'job-1'): Attestation {
  return attest(node, {
    job_id: job,
    model_hash: MODEL,
    parameter_id: 'p',
    keys_id: KEYS,
    inputs_sha256: sha256Hex(INPUTS),
    result_sha256: sha256Hex(result),
    role,
    time: '2026-12-07T10:00:00.000Z',
  });
}

/** The server's side: log a release with these attestations and facts, cosigned by `witnesses`. */
function release(log: TransparencyLog, compute: Attestation, reviews: Attestation[], facts: { reviewers: number; quorum: number }, witnesses: Identity[] = []): ReleaseReceipt {
  let receipt = logRelease(log, compute, reviews, { ...facts, agreeing: reviews.map((r) => r.node_id) }, 'tenant-a');
  const size = receipt.index + 1;
  if (witnesses.length > 0) {
    const body = parseNote(log.store.checkpoint(size)!.note).body;
    log.cosign(
      size,
      witnesses.map((w) => cosignatureLine(checkpointBody(parseCheckpointBody(body)), witnessName(w.id), w, 1_765_000_000)),
    );
    receipt = log.receipt(receipt.index, Buffer.from(receipt.entry, 'base64'), size);
  }
  return { ...receipt, vkey: log.vkey };
}

const facts = { inputs: INPUTS, result: RESULT, keysId: KEYS, modelHash: MODEL, chainId: null };

/** A new server log and a client's empty pin store, each in its own temporary dir. */
function freshLogAndPins(): { log: TransparencyLog; pins: PinStore } {
  return { log: TransparencyLog.open(tempDir()), pins: PinStore.open(tempDir()) };
}

/** 'accepted: <verification>' or the refusal's message; written so the old synchronous API answers too. */
async function outcome(pins: PinStore, receipt: ReleaseReceipt, log: TransparencyLog, policy = {}): Promise<string> {
  return Promise.resolve()
    .then(() => verifyRelease(SERVER, pins, receipt, facts, async (a, b) => log.store.consistencyProof(a, b), policy))
    .then(
      (v) => `accepted: ${describeVerification([v])}`,
      (e: unknown) => (e as Error).message,
    );
}

describe('the client counts only the nodes it pinned', () => {
  const compute = ephemeralIdentity();
  const r1 = ephemeralIdentity();
  const r2 = ephemeralIdentity();

  function pinnedSetup() {
    const { log, pins } = freshLogAndPins();
    const first = release(log, attestation(compute, 'compute'), [attestation(r1, 'review'), attestation(r2, 'review')], { reviewers: 2, quorum: 2 }, [r1, r2]);
    return { log, pins, first };
  }

  test('the first verified response pins the log key, the three nodes, the quorum and the checkpoint', async () => {
    const { log, pins, first } = pinnedSetup();
    expect(await outcome(pins, first, log)).toBe(
      `accepted: verified: 2 of 2 reviewers, log entry 0; checkpoint cosigned by 2 reviewers; first use of this server: pinned its log key and node set`,
    );
    const pin = pins.get(SERVER)!;
    expect(Object.entries(pin.node_set!).map(([id, n]) => [id, n.role]).sort()).toEqual(
      [
        [compute.id, 'compute'],
        [r1.id, 'review'],
        [r2.id, 'review'],
      ].sort(),
    );
    expect(pin.min_quorum).toBe(2);
    expect(parseCheckpointBody(parseNote(pin.checkpoint!).body).size).toBe(1);
    // The next honest release verifies without a first-use note.
    const second = release(log, attestation(compute, 'compute', RESULT, 'job-2'), [attestation(r1, 'review', RESULT, 'job-2'), attestation(r2, 'review', RESULT, 'job-2')], { reviewers: 2, quorum: 2 }, [r1, r2]);
    expect(await outcome(pins, second, log)).toBe('accepted: verified: 2 of 2 reviewers, log entry 1; checkpoint cosigned by 2 reviewers');
    log.close();
  });

  test('Sybil: a lying compute node and two fresh-key "reviewers" agreeing and cosigning are not counted', async () => {
    const { log, pins, first } = pinnedSetup();
    await outcome(pins, first, log);
    const liar = ephemeralIdentity();
    const [f1, f2] = [ephemeralIdentity(), ephemeralIdentity()];
    const wrong = Buffer.from('a logit plus 50');
    const forged = release(log, attestation(liar, 'compute', wrong), [attestation(f1, 'review', wrong), attestation(f2, 'review', wrong)], { reviewers: 2, quorum: 2 }, [f1, f2]);
    // The client received the liar's result, so that is the one it checks the entry against.
    const refused = await Promise.resolve()
      .then(() => verifyRelease(SERVER, pins, forged, { ...facts, result: wrong }, async (a, b) => log.store.consistencyProof(a, b)))
      .then(
        (v) => `accepted: ${describeVerification([v])}`,
        (e: unknown) => (e as Error).message,
      );
    expect(refused).toMatch(/^log entry 1: 0 pinned review nodes agree with the result, this client requires 2; not counted, as this client has not pinned them/);
    expect(refused).toContain(`compute ${liar.id}`);
    expect(refused).toContain(`review ${f1.id}`);
    expect(refused).toContain('deeppowers client --repin --server http://server.example/mcp --keystore');
    log.close();
  });

  test('a new compute node checked by the pinned reviewers is accepted, loudly; the quorum stays pinned', async () => {
    const { log, pins, first } = pinnedSetup();
    await outcome(pins, first, log);
    const newcomer = ephemeralIdentity();
    const rel = release(log, attestation(newcomer, 'compute', RESULT, 'job-2'), [attestation(r1, 'review', RESULT, 'job-2'), attestation(r2, 'review', RESULT, 'job-2')], { reviewers: 2, quorum: 2 }, [r1]);
    expect(await outcome(pins, rel, log)).toBe(
      `accepted: verified: 2 of 2 reviewers, log entry 1; checkpoint cosigned by 1 reviewer; WARNING: nodes this client has not pinned took part, not counted: compute ${newcomer.id}`,
    );
    expect(pins.get(SERVER)!.node_set![newcomer.id]).toBeUndefined();
    // A server now claiming quorum 1 does not lower what the client pinned.
    const one = release(log, attestation(compute, 'compute', RESULT, 'job-3'), [attestation(r1, 'review', RESULT, 'job-3')], { reviewers: 2, quorum: 1 }, [r1]);
    expect(await outcome(pins, one, log)).toMatch(/^log entry 2: 1 pinned review node agrees with the result, this client requires 2$/);
    log.close();
  });

  test('finding 7: an entry with quorum 0 is not "verified: 0 of 2"', async () => {
    const { log, pins, first } = pinnedSetup();
    await outcome(pins, first, log);
    const lone = release(log, attestation(compute, 'compute', RESULT, 'job-2'), [], { reviewers: 2, quorum: 0 });
    expect(await outcome(pins, lone, log)).toMatch(/^log entry 1: 0 pinned review nodes agree with the result, this client requires 2$/);
    // Even before anything is pinned, a server that lists reviewers and shows none is refused.
    const fresh = TransparencyLog.open(tempDir());
    const none = release(fresh, attestation(compute, 'compute'), [], { reviewers: 2, quorum: 0 });
    expect(await outcome(PinStore.open(tempDir()), none, fresh)).toMatch(/^log entry 0: 0 review nodes agree with the result, this client requires 1$/);
    fresh.close();
    log.close();
  });

  test('finding 7: with reviewers 0, an unknown key is not "computed and signed by the server alone"', async () => {
    const { log, pins } = freshLogAndPins();
    const server = ephemeralIdentity();
    expect(await outcome(pins, release(log, attestation(server, 'server'), [], { reviewers: 0, quorum: 0 }), log)).toMatch(
      /^accepted: verified: computed and signed by the server alone \(no reviewers\), log entry 0; first use/,
    );
    const stranger = ephemeralIdentity();
    for (const role of ['server', 'compute'] as const) {
      const text = await outcome(pins, release(log, attestation(stranger, role, RESULT, `job-${role}`), [], { reviewers: 0, quorum: 0 }), log);
      expect(text).toMatch(new RegExp(`^log entry \\d: no reviewer checked it, and node ${stranger.id} that computed and signed it is not the (server key|compute node) this client pinned`));
    }
    // A result whose "computing" attestation is a review node's is refused outright.
    expect(await outcome(pins, release(log, attestation(server, 'review', RESULT, 'job-r'), [], { reviewers: 0, quorum: 0 }), log)).toMatch(/attested by a review node, not a computing one/);
    log.close();
  });

  test('--min-quorum 2 refuses a server whose results nobody reviews', async () => {
    const log = TransparencyLog.open(tempDir());
    const text = await outcome(PinStore.open(tempDir()), release(log, attestation(ephemeralIdentity(), 'server'), [], { reviewers: 0, quorum: 0 }), log, { minQuorum: 2 });
    expect(text).toMatch(/^log entry 0: 0 review nodes agree with the result, this client requires 2$/);
    log.close();
  });
});

describe("each entry of one prediction is about its own segment and step, in order (finding 2)", () => {
  const server = ephemeralIdentity();
  const CHAIN = 'c3'.repeat(32);
  const MASKED = Buffer.from('the masked result the client received');
  const RETURNED = Buffer.from('the fresh ciphertexts the client sent back');

  /** The server's entry for segment `segment` of the prediction CHAIN, with the step it logged (if any). */
  function segmentRelease(log: TransparencyLog, job: string, segment: number, step?: { masked: Buffer; returned: Buffer }): ReleaseReceipt {
    const a = attest(server, {
      job_id: job,
      model_hash: MODEL,
      parameter_id: 'p',
      keys_id: KEYS,
      inputs_sha256: sha256Hex(segment === 0 ? INPUTS : Buffer.from(`unmasked inputs of ${job}`)),
      result_sha256: sha256Hex(RESULT),
      ...(segment > 0 ? { segment } : {}),
      chain_id: CHAIN,
      role: 'server',
      time: '2026-12-07T10:00:00.000Z',
    });
    const logged = step ? { masked_sha256: sha256Hex(step.masked), returned_sha256: sha256Hex(step.returned) } : undefined;
    return { ...logRelease(log, a, [], { reviewers: 0, quorum: 0, agreeing: [] }, 'tenant-a', logged), vkey: log.vkey };
  }

  /** What the client expects of segment `segment`'s entry: its chain id, the step it made before it, after entry `after`. */
  function expected(segment: number, after?: number): ReleaseExpectation {
    return {
      inputs: segment === 0 ? INPUTS : null,
      result: RESULT,
      keysId: KEYS,
      modelHash: MODEL,
      segment,
      chainId: CHAIN,
      ...(segment > 0 ? { step: { masked: MASKED, returned: RETURNED } } : {}),
      ...(after !== undefined ? { after } : {}),
    };
  }

  async function check(pins: PinStore, log: TransparencyLog, receipt: ReleaseReceipt, want: ReleaseExpectation): Promise<string> {
    return verifyRelease(SERVER, pins, receipt, want, async (a, b) => log.store.consistencyProof(a, b)).then(
      (v) => `accepted: entry ${v.index}`,
      (e: unknown) => (e as Error).message,
    );
  }

  test("an entry about another segment, one not after the previous segment's entry, or one recording another client step is refused", async () => {
    const { log, pins } = freshLogAndPins();
    const first = segmentRelease(log, 'job-1', 0);
    expect(await check(pins, log, first, expected(0))).toBe('accepted: entry 0');
    const honest = segmentRelease(log, 'job-2', 1, { masked: MASKED, returned: RETURNED });
    // Each lie below differs from the honest entry in one fact only, so each refusal is its own check's.
    // The server logged a step whose returned ciphertexts are not the ones this client sent back.
    const other = segmentRelease(log, 'job-3', 1, { masked: MASKED, returned: Buffer.from('ciphertexts someone else sent') });
    expect(await check(pins, log, other, expected(1, 0))).toBe(
      'log entry 2 does not record the client step this client made (the masked result it received and the ciphertexts it sent back)',
    );
    // An entry of the first circuit, logged with this very step, offered as the second segment's.
    const misfiled = segmentRelease(log, 'job-4', 0, { masked: MASKED, returned: RETURNED });
    expect(await check(pins, log, misfiled, { ...expected(1, 0), inputs: null })).toBe('log entry 3 is about segment 1, not 2');
    // The second segment's entry, where the client's previous entry for this prediction is already entry 1.
    expect(await check(pins, log, honest, expected(1, 1))).toBe("log entry 1 does not come after entry 1, the previous segment's entry of this prediction: a stale or replayed answer");
    expect(await check(pins, log, honest, expected(1, 0))).toBe('accepted: entry 1');
    log.close();
  });
});

describe('the client keeps the largest checkpoint it verified (split views)', () => {
  const compute = ephemeralIdentity();

  /** Two logs under one log key: the operator shows fork A to this client, then fork B. */
  function forks(): { a: TransparencyLog; b: TransparencyLog } {
    const dirA = tempDir();
    const a = TransparencyLog.open(dirA);
    const dirB = tempDir();
    // Same key file, so the same key and origin: only the histories differ.
    copyFileSync(join(dirA, 'log-key.key'), join(dirB, 'log-key.key'));
    const b = TransparencyLog.open(dirB);
    expect(b.vkey).toBe(a.vkey);
    return { a, b };
  }

  test('fork A (size 9) then fork B (size 3, another history) under the same key: B is refused', async () => {
    const { a, b } = forks();
    const pins = PinStore.open(tempDir());
    for (let i = 0; i < 8; i++) a.append({ filler: `a-${i}` });
    const onA = release(a, attestation(compute, 'server'), [], { reviewers: 0, quorum: 0 });
    expect(await outcome(pins, onA, a)).toMatch(/^accepted: .*log entry 8/);
    for (let i = 0; i < 2; i++) b.append({ filler: `b-${i}` });
    const onB = release(b, attestation(compute, 'server', RESULT, 'job-b'), [], { reviewers: 0, quorum: 0 });
    expect(JSON.parse(Buffer.from(onB.entry, 'base64').toString()).index).toBe(2);
    const text = await outcome(pins, onB, b);
    expect(text).toMatch(/^http:\/\/server\.example\/mcp gave no consistency proof between checkpoint 3 and 9 of its log .*a forked or rewritten log$/);
    // A fork that is longer than what the client kept is refused too: its proof does not lead from checkpoint 9.
    for (let i = 0; i < 7; i++) b.append({ filler: `b-more-${i}` });
    const longer = release(b, attestation(compute, 'server', RESULT, 'job-b2'), [], { reviewers: 0, quorum: 0 });
    expect(await outcome(pins, longer, b)).toMatch(/^checkpoint 11 of http:\/\/server\.example\/mcp's log is not consistent with checkpoint 9, which this client verified earlier/);
    // The honest continuation of A still verifies, and the kept checkpoint grows.
    const next = release(a, attestation(compute, 'server', RESULT, 'job-a2'), [], { reviewers: 0, quorum: 0 });
    expect(await outcome(pins, next, a)).toMatch(/^accepted: .*log entry 9$/);
    expect(parseCheckpointBody(parseNote(pins.get(SERVER)!.checkpoint!).body).size).toBe(10);
    a.close();
    b.close();
  });

  test('with review nodes pinned, a newer checkpoint none of them cosigned is refused', async () => {
    const { log, pins } = freshLogAndPins();
    const r1 = ephemeralIdentity();
    const r2 = ephemeralIdentity();
    const rel = (job: string, witnesses: Identity[]) =>
      release(log, attestation(compute, 'compute', RESULT, job), [attestation(r1, 'review', RESULT, job), attestation(r2, 'review', RESULT, job)], { reviewers: 2, quorum: 2 }, witnesses);
    expect(await outcome(pins, rel('j1', [r1, r2]), log)).toMatch(/^accepted/);
    expect(await outcome(pins, rel('j2', []), log)).toMatch(/^checkpoint 2 of .* carries 0 cosignatures from the 2 review nodes this client pinned, 1 required/);
    expect(await outcome(pins, rel('j3', [r2]), log)).toMatch(/^accepted: verified: 2 of 2 reviewers, log entry 2; checkpoint cosigned by 1 reviewer$/);
    log.close();
  });
});

describe('a deliberate re-pin (issue 23 item 7)', () => {
  test('a changed log key is refused with the command that re-pins; after it, the new key is pinned', async () => {
    const keystore = tempDir();
    const pins = PinStore.open(keystore);
    const server = ephemeralIdentity();
    const old = TransparencyLog.open(tempDir());
    expect(await outcome(pins, release(old, attestation(server, 'server'), [], { reviewers: 0, quorum: 0 }), old)).toMatch(/^accepted/);
    const moved = TransparencyLog.open(tempDir());
    const receipt = release(moved, attestation(server, 'server', RESULT, 'job-2'), [], { reviewers: 0, quorum: 0 });
    const refused = await outcome(pins, receipt, moved);
    expect(refused).toBe(
      `the server's log key changed since first use (pinned ${old.vkey.split('+').slice(0, 2).join('+')}); refusing its results. ` +
        `If its operator changed the key on purpose (ask them, not the server), trust the new one with \`deeppowers client --repin --server ${SERVER} --keystore ${keystore}\``,
    );
    expect(repinServer({ server: SERVER, keystore, nodesOnly: true })).toMatch(/^forgot the nodes and quorum pinned for http:\/\/server\.example\/mcp \(kept its log key and checkpoint\)/);
    expect(await outcome(pins, receipt, moved)).toMatch(/^the server's log key changed since first use/);
    expect(repinServer({ server: SERVER, keystore })).toMatch(/^forgot the log key, nodes, quorum and checkpoint pinned for http:\/\/server\.example\/mcp/);
    expect(await outcome(pins, receipt, moved)).toMatch(/^accepted: .*first use of this server/);
    expect(pins.get(SERVER)!.log_vkey).toBe(moved.vkey);
    expect(repinServer({ server: 'http://elsewhere.example/mcp', keystore })).toMatch(/^nothing pinned for http:\/\/elsewhere\.example\/mcp in /);
    old.close();
    moved.close();
  });
});

describe("the operator's nodes file as the client's node set (client --nodes)", () => {
  test('no node outside it counts, even on first use; listed reviewers the first answer did not involve count later', async () => {
    const compute = ephemeralIdentity();
    const [r1, r2, r3] = [ephemeralIdentity(), ephemeralIdentity(), ephemeralIdentity()];
    const listed = (n: Identity, role: NodeRole) => [n.id, { role, public_key: n.publicKey.toString('base64') }] as const;
    const nodes = Object.fromEntries([listed(compute, 'compute'), listed(r1, 'review'), listed(r2, 'review'), listed(r3, 'review')]);
    const { log, pins } = freshLogAndPins();
    const job = (id: string, reviewers: Identity[], witnesses: Identity[]) =>
      release(log, attestation(compute, 'compute', RESULT, id), reviewers.map((r) => attestation(r, 'review', RESULT, id)), { reviewers: 2, quorum: 2 }, witnesses);
    const stranger = ephemeralIdentity();
    expect(await outcome(pins, job('j0', [r1, stranger], [r1, stranger]), log, { nodes })).toMatch(
      new RegExp(`^log entry 0: 1 pinned review node agrees with the result, this client requires 2; not counted, as this client has not pinned them for ${SERVER.replace(/\./g, '\\.')}: review ${stranger.id}`),
    );
    expect(await outcome(pins, job('j1', [r1, r2], [r1, r2]), log, { nodes })).toMatch(/^accepted: verified: 2 of 2 reviewers, log entry 1; checkpoint cosigned by 2 reviewers; first use of this server/);
    expect(await outcome(pins, job('j2', [r2, r3], [r3]), log, { nodes })).toBe('accepted: verified: 2 of 2 reviewers, log entry 2; checkpoint cosigned by 1 reviewer');
    expect(Object.keys(pins.get(SERVER)!.node_set!).sort()).toEqual(Object.keys(nodes).sort());
    log.close();
  });
});
