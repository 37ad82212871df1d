import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fail } from '../../compiler/errors';
import type { NodeRole } from './attestation';

/**
 * What `deeppowers client` trusts about each server, kept in the keystore dir (`pins.json`) and
 * written only after a response verified:
 * - the server's log key (a later answer under another key is refused);
 * - the node set: every node (id, role, Ed25519 key) whose attestation was behind the first
 *   verified response. Later, only pinned review nodes count towards the quorum, and a result
 *   attested by the server or one compute node alone must come from the pinned key;
 * - the quorum it requires (the largest of the server's own and `--min-quorum`);
 * - the largest checkpoint it has verified (C2SP tlog-checkpoint note), so a newer one is
 *   accepted only with a consistency proof from it and an older one only if it is a prefix.
 * Every change re-reads the file first, so clients (and models) sharing a keystore do not undo
 * each other's pins.
 */

export interface PinnedNode {
  readonly role: NodeRole;
  /** Ed25519 public key, base64. */
  readonly public_key: string;
}

export interface ServerPin {
  readonly log_vkey: string;
  /** Absent until a response verified (or after `client --repin --nodes-only`). */
  readonly node_set?: Record<string, PinnedNode>;
  readonly min_quorum?: number;
  /** The signed note of the largest checkpoint verified for this server. */
  readonly checkpoint?: string;
}

export const PINS_FILE = 'pins.json';

export class PinStore {
  private constructor(readonly path: string) {}

  static open(dir: string): PinStore {
    const store = new PinStore(join(dir, PINS_FILE));
    store.read();
    return store;
  }

  /** The keystore dir the pins live in (for the commands an error names). */
  get dir(): string {
    return dirname(this.path);
  }

  get(server: string): ServerPin | undefined {
    return this.read()[server];
  }

  set(server: string, pin: ServerPin): void {
    const all = this.read();
    all[server] = pin;
    this.save(all);
  }

  /**
   * Forget what was pinned for `server`: everything (the next verified response pins a new log
   * key, node set and checkpoint), or only the node set and quorum. Returns whether there was a pin.
   */
  forget(server: string, what: 'all' | 'nodes'): boolean {
    const all = this.read();
    const pin = all[server];
    if (!pin) return false;
    if (what === 'all') delete all[server];
    else all[server] = { log_vkey: pin.log_vkey, ...(pin.checkpoint ? { checkpoint: pin.checkpoint } : {}) };
    this.save(all);
    return true;
  }

  private read(): Record<string, ServerPin> {
    if (!existsSync(this.path)) return {};
    try {
      return JSON.parse(readFileSync(this.path, 'utf8')) as Record<string, ServerPin>;
    } catch (e) {
      return fail('IO', `cannot read ${this.path}: ${(e as Error).message.split('\n')[0]}`);
    }
  }

  private save(all: Record<string, ServerPin>): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}

/** The command that deliberately forgets a server's pins, as errors name it. */
export function repinCommand(server: string, keystoreDir: string, nodesOnly = false): string {
  return `deeppowers client --repin --server ${server} --keystore ${keystoreDir}${nodesOnly ? ' --nodes-only' : ''}`;
}
