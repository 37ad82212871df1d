import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { nodeIdOf } from '../../runtime/network/identity';
import { readLogVkey } from '../../runtime/network/transparency-log';
import type { RowOutputs } from '../../runtime/run/outputs';
import { writeCompiledFixture } from '../helpers/compiled-fixture';
import { loadFixture } from '../helpers/fixtures';
import { hostPrivatePredict, printNodeLine, startCliServe, startCliWorker } from '../helpers/network-cluster';
import { ProcessGroup } from '../helpers/processes';
import { startRedis, type TestRedis } from '../helpers/redis-server';
import { makeTestToken, tokenPublicKey, type TestToken } from '../helpers/softhsm';

/**
 * The compute network with every key in a PKCS#11 token (SoftHSM 2): Redis (started here,
 * stopped by pid), `deeppowers serve --queue … --reviewers 1 --pkcs11` (log key and node key in
 * the token), a compute and a review `deeppowers worker --pkcs11`, and a host calling
 * private_predict through `deeppowers client --pkcs11` on a keystore sealed by the token. The
 * client checks the compute and review attestations and the cosigned checkpoint with the
 * existing verifier; the keys it is checked against are read from the token by pkcs11-tool.
 */

const FIXTURE = loadFixture('sk_logreg_iris_multinomial');
const ROWS = FIXTURE.data.test_inputs.slice(0, 2) as number[][];
const LABEL = 'deeppowers-network';

let group: ProcessGroup | undefined;
let work: string;
let token: TestToken;
let compiledDir: string;
let redis: TestRedis | undefined;
let serverUrl: string;
const nodeIds: Record<string, string> = {};

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dp-pkcs11-network-'));
  token = makeTestToken(work, LABEL);
  compiledDir = join(work, 'iris.compiled');
  writeCompiledFixture(FIXTURE, compiledDir, 'vector');
  // Every process reads the token's config and PIN from its environment.
  group = new ProcessGroup({ ...process.env, SOFTHSM2_CONF: token.conf, DEEPPOWERS_PKCS11_PIN: token.pin, DEEPPOWERS_DEBUG: '' });
  redis = await startRedis(work);
  const queueUrl = `redis://127.0.0.1:${redis.port}`;
  const pkcs11 = ['--pkcs11', token.module, '--token-label', LABEL];
  // The server trusts the nodes its operator lists, each line as `worker --print-id` reads it from the token (one after the other: each makes its key there on first use).
  const lines: string[] = [];
  for (const role of ['compute', 'review'] as const) lines.push(await printNodeLine(group, role, join(work, role), [...pkcs11, '--node-key-label', `node-${role}`]));
  const nodesFile = join(work, 'nodes.txt');
  writeFileSync(nodesFile, lines.join(''));
  serverUrl = (await startCliServe(group, { compiledDir, dataDir: join(work, 'server'), queueUrl, reviewers: 1, quorum: 1, nodesFile, extra: pkcs11 })).url;
  for (const [name, role] of [['compute', 'compute'], ['review', 'review']] as const) {
    nodeIds[name] = (await startCliWorker(group, compiledDir, queueUrl, join(work, name), role, [...pkcs11, '--node-key-label', `node-${name}`])).nodeId;
  }
}, 180_000);

afterAll(async () => {
  group?.killAll();
  await redis?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('server, compute node and review node with their keys in the token', () => {
  test('the nodes and the log sign with the keys the token holds, and no key file is written', () => {
    expect(nodeIds.compute).toBe(nodeIdOf(Buffer.from(tokenPublicKey(token, 'node-compute'), 'base64')));
    expect(nodeIds.review).toBe(nodeIdOf(Buffer.from(tokenPublicKey(token, 'node-review'), 'base64')));
    expect(readLogVkey(join(work, 'server')).publicKey.toString('base64')).toBe(tokenPublicKey(token, 'deeppowers-log'));
    for (const f of [join(work, 'server', 'log-key.key'), join(work, 'server', 'node.key'), join(work, 'compute', 'node.key'), join(work, 'review', 'node.key')]) {
      expect(existsSync(f), f).toBe(false);
    }
  });

  test('private_predict through a token keystore: right labels, attestations and cosigned checkpoint verified', async () => {
    const r = await hostPrivatePredict(
      ['--server', serverUrl, '--keystore', join(work, 'keystore'), '--pkcs11', token.module, '--token-label', LABEL],
      { SOFTHSM2_CONF: token.conf, DEEPPOWERS_PKCS11_PIN: token.pin },
      'iris',
      ROWS,
    );
    expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    const out = r.structuredContent as { outputs: RowOutputs; verification: string };
    expect(out.outputs.output_label).toEqual(FIXTURE.data.expected.label!.slice(0, ROWS.length));
    expect(out.verification).toMatch(/^verified: 1 of 1 reviewers, log entr(y \d+|ies [\d, ]+); checkpoint cosigned by 1 reviewer(; first use of this server: pinned its log key and node set)?$/);
    // The keystore the client made is sealed by the token.
    expect(existsSync(join(work, 'keystore', 'pkcs11.json'))).toBe(true);
    const status = (await (await fetch(new URL('/status', serverUrl))).json()) as { nodes: { node_id: string; role: string; jobs_done: number }[] };
    expect(status.nodes.map((n) => [n.node_id, n.role]).sort()).toEqual([[nodeIds.compute, 'compute'], [nodeIds.review, 'review']].sort());
  }, 180_000);
});
