import { fail } from '../../compiler/errors';
import { witnessKeyOf, witnessName } from './checkpoint';
import { nodeIdOf } from './identity';
import { NodeList } from './node-list';
import type { ServerPin } from './pins';
import { parseVkey, SIG_COSIGNATURE_ED25519, type NoteVerifierKey } from './signed-note';

/**
 * What `audit verify` checks a log against from outside it: a checkpoint kept earlier (a note
 * saved by `--save-checkpoint`, or the one a client kept in its pins.json, which also carries the
 * log key the client pinned) and the witness keys whose cosignatures count.
 */

export interface KeptCheckpoint {
  /** The signed checkpoint note. */
  readonly note: string;
  /** The log key kept with it (a client's pin), when the file holds one. */
  readonly logVkey?: string;
}

/** A checkpoint note, or a client's pins.json (the entry for `server`, or its only one). */
export function readKeptCheckpoint(text: string, file: string, server?: string): KeptCheckpoint {
  if (!text.trimStart().startsWith('{')) return { note: text };
  let pins: Record<string, ServerPin>;
  try {
    pins = JSON.parse(text) as Record<string, ServerPin>;
  } catch (e) {
    return fail('BAD_ARGUMENT', `${file} is neither a checkpoint note nor a client's pins.json: ${(e as Error).message}`);
  }
  const servers = Object.keys(pins);
  let key: string | undefined;
  if (server !== undefined) {
    let href = server;
    try {
      href = new URL(server).href;
    } catch {
      // keep it as given; the lookup below fails with the list
    }
    key = servers.find((s) => s === href || s === server);
  } else if (servers.length === 1) key = servers[0];
  if (key === undefined) {
    fail('BAD_ARGUMENT', `${file} pins ${servers.length} server${servers.length === 1 ? '' : 's'} (${servers.join(', ') || 'none'}); ${server !== undefined ? `none is ${server}` : 'give --server URL to pick one'}`);
  }
  const pin = pins[key]!;
  if (!pin.checkpoint) fail('BAD_ARGUMENT', `${file} keeps no checkpoint for ${key} yet (the client keeps one after its first verified result)`);
  return { note: pin.checkpoint, logVkey: pin.log_vkey };
}

/**
 * Witness keys, one a line (blank lines and `#` comments skipped): C2SP vkeys, review nodes' raw
 * Ed25519 keys in base64, or the operator's nodes-file lines `<node id> <role> <key>` (`serve
 * --nodes`; only review nodes witness, so compute lines are skipped).
 */
export function parseWitnessKeys(text: string, file: string): NoteVerifierKey[] {
  const keys: NoteVerifierKey[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    let line = raw.replace(/#.*$/, '').trim().replace(/^public key\s+/, '');
    if (line === '') return;
    if (line.split(/\s+/).length === 3) {
      // A nodes-file line, checked as `serve --nodes` checks it (the blank lines keep its line number in errors).
      const [node] = NodeList.parse('\n'.repeat(i) + line, file).nodes;
      if (node!.role === 'compute') return;
      line = node!.public_key;
    }
    const bare = Buffer.from(line, 'base64');
    if (!line.includes('+') || (bare.length === 32 && bare.toString('base64') === line)) {
      if (bare.length !== 32 || bare.toString('base64') !== line) fail('BAD_ARGUMENT', `${file} line ${i + 1}: not a vkey or a base64 Ed25519 public key`);
      keys.push(witnessKeyOf(witnessName(nodeIdOf(bare)), { publicKey: bare }));
      return;
    }
    const key = parseVkey(line);
    if (key.type !== SIG_COSIGNATURE_ED25519) fail('BAD_ARGUMENT', `${file} line ${i + 1}: ${key.name} is not a cosignature (witness) key`);
    keys.push(key);
  });
  if (keys.length === 0) fail('BAD_ARGUMENT', `${file} holds no witness keys`);
  return keys;
}
