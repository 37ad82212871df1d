import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../../compiler/errors';
import { checkpointBody, cosignatureLine, verifyCheckpoint, witnessName } from './checkpoint';
import type { Identity } from './identity';
import { verifyConsistency } from './merkle';
import type { CosignJobData } from './queue';
import { parseVkey } from './signed-note';

/**
 * A review node acting as a witness for the server's log (C2SP tlog-witness, in spirit): it pins
 * the log key on first use, remembers the largest checkpoint it cosigned, and cosigns a new one
 * only if it is signed by that key and provably extends the old one (a consistency proof). So a
 * log that rewrote history cannot get the cosignatures clients count.
 */

interface WitnessState {
  readonly vkey: string;
  readonly size: number;
  readonly root: string;
}

const FILE = 'witness.json';

export class Witness {
  private readonly path: string;

  constructor(
    dataDir: string,
    private readonly identity: Identity,
  ) {
    this.path = join(dataDir, FILE);
  }

  cosign(data: CosignJobData, now: Date = new Date()): string {
    const states = this.read();
    const key = parseVkey(data.vkey);
    const state = states[key.name];
    if (state && state.vkey !== data.vkey) fail('BAD_ARGUMENT', `log ${key.name} now signs with another key than the one this witness pinned`);
    const cp = verifyCheckpoint(data.checkpoint, key);
    if (state) {
      const oldRoot = Buffer.from(state.root, 'base64');
      if (cp.size < state.size) fail('BAD_ARGUMENT', `checkpoint ${cp.size} is older than ${state.size}, which this witness already cosigned`);
      if (cp.size === state.size) {
        if (!cp.root.equals(oldRoot)) fail('BAD_ARGUMENT', `log ${key.name} signed two different trees of size ${cp.size}`);
      } else if (state.size > 0) {
        const proof = data.proofs[String(state.size)];
        if (!proof) fail('BAD_ARGUMENT', `need a consistency proof from size ${state.size}`);
        if (!verifyConsistency(state.size, cp.size, oldRoot, cp.root, proof.map((p) => Buffer.from(p, 'base64')))) {
          fail('BAD_ARGUMENT', `checkpoint ${cp.size} is not consistent with checkpoint ${state.size}: the log rewrote its history`);
        }
      }
    }
    states[key.name] = { vkey: data.vkey, size: cp.size, root: cp.root.toString('base64') };
    this.write(states);
    return cosignatureLine(checkpointBody(cp), witnessName(this.identity.id), this.identity, now.getTime() / 1000);
  }

  private read(): Record<string, WitnessState> {
    if (!existsSync(this.path)) return {};
    return JSON.parse(readFileSync(this.path, 'utf8')) as Record<string, WitnessState>;
  }

  private write(states: Record<string, WitnessState>): void {
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(states, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}
