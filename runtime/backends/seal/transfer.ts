import type { Ciphertext } from 'node-seal';
import type { SealCkksContext } from './context';
import { copyBytes } from './keys';

/**
 * A ciphertext moving between two evaluation threads of one server (never over the wire): saved
 * without compression (zstd would cost more than the operations it parallelizes) into a buffer
 * of its own, so it can be posted as a transferable without another copy.
 */
export function saveForTransfer(ctx: SealCkksContext, ct: Ciphertext): Uint8Array<ArrayBuffer> {
  const saved: unknown = ct.saveToArray(ctx.seal.ComprModeType.none);
  // node-seal returns a fresh array over a buffer of its own: posted as it is, no copy.
  if (saved instanceof Uint8Array && saved.buffer instanceof ArrayBuffer && saved.byteOffset === 0 && saved.byteLength === saved.buffer.byteLength) return saved as Uint8Array<ArrayBuffer>;
  return new Uint8Array(copyBytes(saved));
}

/**
 * The other side of `saveForTransfer`. The bytes come from a thread of this process that ran
 * the same circuit, not from a client, so the checks a client's ciphertext gets (ciphertexts.ts)
 * are left to the executor, which checks level, size and scale of every value it uses.
 */
export function loadTransferred(ctx: SealCkksContext, bytes: Uint8Array): Ciphertext {
  const ct = new ctx.seal.Ciphertext();
  try {
    ct.loadFromArray(ctx.context, bytes);
    return ct;
  } catch (e) {
    ct.delete();
    throw e;
  }
}
