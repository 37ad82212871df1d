import { randomBytes } from 'node:crypto';
import { fail } from '../../compiler/errors';
import { nodeIdOf, verifyEd25519, type Identity } from '../network/identity';
import { CKM } from './pkcs11';
import { onToken, openToken, requireMechanisms, type TokenRef } from './token';

/**
 * An Ed25519 identity (a node's key or the log key) whose private key is an object in a PKCS#11
 * token: generated there on first use (sensitive, not extractable), found again by its label,
 * and used for every signature through CKM_EDDSA. Its public key is read from the token's
 * public-key object. A token without Ed25519 (CKM_EDDSA and CKM_EC_EDWARDS_KEY_PAIR_GEN) is
 * refused in one line: there is no silent fallback to a key file.
 */

export const DEFAULT_WORKER_KEY_LABEL = 'deeppowers-node';
export const DEFAULT_SERVER_NODE_KEY_LABEL = 'deeppowers-server-node';
export const DEFAULT_LOG_KEY_LABEL = 'deeppowers-log';

const SELF_CHECK = Buffer.from('deeppowers/pkcs11-identity-self-check/v1', 'utf8');

export async function tokenIdentity(ref: TokenRef, keyLabel: string): Promise<Identity> {
  const session = await openToken(ref);
  const instead = 'keep this key in the data dir instead (run without --pkcs11)';
  requireMechanisms(session, [CKM.EDDSA], 'Ed25519 signing', instead);
  const existing = onToken(session, 'finding key', () => session.find('private', keyLabel));
  if (existing.length > 1) fail('BAD_ARGUMENT', `token "${ref.label}" holds ${existing.length} private keys labelled "${keyLabel}"; remove all but one`);
  let privateKey = existing[0];
  if (privateKey === undefined) {
    requireMechanisms(session, [CKM.EC_EDWARDS_KEY_PAIR_GEN], 'making an Ed25519 key', instead);
    privateKey = onToken(session, `generating Ed25519 key "${keyLabel}"`, () => session.generateEd25519(keyLabel, randomBytes(16)));
  }
  const publicObjects = onToken(session, 'finding key', () => session.find('public', keyLabel));
  if (publicObjects.length !== 1) fail('BAD_ARGUMENT', `token "${ref.label}" holds ${publicObjects.length} public keys labelled "${keyLabel}", expected exactly one beside the private key`);
  const publicKey = onToken(session, 'reading the public key', () => session.ed25519PublicKey(publicObjects[0]!));
  const key = privateKey;
  const sign = (message: Uint8Array): Buffer => onToken(session, `signing with "${keyLabel}"`, () => session.signEd25519(key, message));
  // The public object is found by label alone: check it belongs to the private key before anyone trusts its signatures.
  if (!verifyEd25519(publicKey, SELF_CHECK, sign(SELF_CHECK))) {
    fail('BAD_ARGUMENT', `token "${ref.label}": the public key labelled "${keyLabel}" does not verify the private key's signatures`);
  }
  return { id: nodeIdOf(publicKey), publicKey, sign };
}
