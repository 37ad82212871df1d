import { Command } from 'commander';
import { fail } from '../../compiler/errors';
import { PASSPHRASE_ENV } from '../client/keystore';
import { keystoreToken, openKeystore } from '../keys/token-keystore';
import { addPkcs11Options, keystoreTokenOf, type Pkcs11CliOptions } from './pkcs11-options';
import { createPrivateClientServer } from '../mcp/client';
import { runOnStdio } from '../mcp/stdio';
import { NodeList } from '../network/node-list';
import { PinStore, type PinnedNode } from '../network/pins';
import { sealBackend } from '../backends/seal/backend';
import type { OutOfRangePolicy } from '../data/input-range';
import { readTextFile } from '../data/read-text-file';
import { outOfRangeOption } from './out-of-range';

export const TOKEN_ENV = 'DEEPPOWERS_TOKEN';

export interface ClientCliOptions extends Pkcs11CliOptions {
  readonly server: string;
  readonly keystore: string;
  readonly token?: string;
  readonly tokenFile?: string;
  readonly outOfRange?: OutOfRangePolicy;
  readonly minQuorum?: string;
  readonly nodes?: string;
}

/** The token from --token, --token-file (first token line; a `name:` prefix is dropped) or DEEPPOWERS_TOKEN. */
export function resolveToken(opts: Pick<ClientCliOptions, 'token' | 'tokenFile'>, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (opts.token && opts.tokenFile) fail('BAD_ARGUMENT', 'give --token or --token-file, not both');
  if (opts.token) return opts.token;
  if (opts.tokenFile) {
    const line = readTextFile(opts.tokenFile, 'token file')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find((l) => l !== '' && !l.startsWith('#'));
    if (!line) fail('BAD_ARGUMENT', `token file ${opts.tokenFile} holds no token`);
    return /^[A-Za-z0-9._-]{1,64}:/.test(line) ? line.slice(line.indexOf(':') + 1).trim() : line;
  }
  return env[TOKEN_ENV] || undefined;
}

export async function runClient(opts: ClientCliOptions): Promise<void> {
  const log = (line: string) => process.stderr.write(`deeppowers client: ${line}\n`);
  const token = resolveToken(opts);
  const keystoreTokenRef = keystoreTokenOf(opts);
  const keystore = await openKeystore(opts.keystore, keystoreTokenRef);
  if (!keystoreTokenRef && !process.env[PASSPHRASE_ENV]) log(`${PASSPHRASE_ENV} is not set: private_predict will refuse to use the keystore until it is`);
  const { server, close } = createPrivateClientServer({
    backend: sealBackend,
    remote: { url: opts.server, ...(token ? { token } : {}) },
    keystore,
    log,
    ...(opts.outOfRange !== undefined ? { outOfRange: opts.outOfRange } : {}),
    trust: {
      ...(opts.minQuorum !== undefined ? { minQuorum: parseCount(opts.minQuorum, '--min-quorum') } : {}),
      ...(opts.nodes !== undefined ? { nodes: pinnedNodesOf(NodeList.readFile(opts.nodes)) } : {}),
    },
  });
  const bound = keystoreToken(opts.keystore);
  log(`ready on stdio; remote server ${opts.server}; keystore ${keystore.dir}${bound ? ` (opened through token "${bound.tokenLabel}")` : ''}`);
  try {
    await runOnStdio(server, 64 * 1024 * 1024);
  } finally {
    await close();
  }
}

function pinnedNodesOf(list: NodeList): Record<string, PinnedNode> {
  return Object.fromEntries(list.nodes.map((n) => [n.node_id, { role: n.role, public_key: n.public_key }]));
}

function parseCount(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) fail('BAD_ARGUMENT', `${flag} takes a whole number, got "${text}"`);
  return n;
}

/** `deeppowers client --repin`: forget what the client pinned for a server, deliberately. */
export function repinServer(opts: { readonly server: string; readonly keystore: string; readonly nodesOnly?: boolean }): string {
  let server: string;
  try {
    server = new URL(opts.server).href;
  } catch {
    return fail('BAD_ARGUMENT', `--server must be a URL like http://127.0.0.1:8750/mcp, got "${opts.server}"`);
  }
  const pins = PinStore.open(opts.keystore);
  const what = opts.nodesOnly ? 'nodes' : 'all';
  if (!pins.forget(server, what)) return `nothing pinned for ${server} in ${pins.path}`;
  return what === 'all'
    ? `forgot the log key, nodes, quorum and checkpoint pinned for ${server}; the next response that verifies pins them again`
    : `forgot the nodes and quorum pinned for ${server} (kept its log key and checkpoint); the next response that verifies pins them again`;
}

export function registerClient(program: Command): void {
  const command = program
    .command('client')
    .description('a local MCP server (stdio) for an LLM host: private_predict encrypts rows here, has a remote `deeppowers serve` evaluate them, decrypts here')
    .requiredOption('--server <url>', 'the remote MCP endpoint, e.g. https://fhe.example.com/mcp')
    .requiredOption('--keystore <dir>', `where secret keys are kept, encrypted with the passphrase in ${PASSPHRASE_ENV}`)
    .option('--token <token>', `bearer token for the server (or --token-file, or ${TOKEN_ENV})`)
    .option('--token-file <file>', 'file holding the bearer token (first non-comment line; name:token accepted)')
    .addOption(outOfRangeOption())
    .option('--min-quorum <q>', 'refuse results fewer than Q review nodes pinned for the server agreed on (default: the quorum the server stated when first pinned)')
    .option('--nodes <file>', "the server operator's nodes file (as `serve --nodes` reads it): pin exactly these nodes instead of those behind the first verified result")
    .option(
      '--repin',
      "forget what this client pinned for --server (log key, node set, quorum, kept checkpoint) and exit, after its operator told you they changed; the next response that verifies is pinned",
    )
    .option('--nodes-only', 'with --repin: forget only the node set and quorum, keep the log key and checkpoint (the operator added or replaced nodes)');
  addPkcs11Options(command, 'open a keystore bound to a token (deeppowers keygen --pkcs11) through it').action(async (opts: ClientCliOptions & { repin?: boolean; nodesOnly?: boolean }) => {
      if (opts.nodesOnly && !opts.repin) fail('BAD_ARGUMENT', '--nodes-only goes with --repin');
      if (opts.repin) process.stdout.write(`${repinServer(opts)}\n`);
      else await runClient(opts);
    });
}
