import { createInterface } from 'node:readline';
import { fail } from '../../compiler/errors';
import { CKR, MECHANISM_NAMES, Pkcs11Error, Pkcs11Module, type Pkcs11Session } from './pkcs11';

/**
 * Which token to use (a PKCS#11 module and a token label), the user PIN (from the environment
 * or typed), and the wording of what can go wrong before any key is touched: a module that is
 * missing, a token that is not there, a wrong or locked PIN, a mechanism the token lacks.
 */

export const PIN_ENV = 'DEEPPOWERS_PKCS11_PIN';

export interface TokenRef {
  /** Path of the PKCS#11 module (shared library). */
  readonly module: string;
  /** CKA label of the token (as `softhsm2-util --init-token --label` or the vendor's tool set it). */
  readonly label: string;
}

/** The PIN from DEEPPOWERS_PKCS11_PIN, or asked for on the terminal without echo. */
async function readPin(label: string): Promise<string> {
  const fromEnv = process.env[PIN_ENV];
  if (fromEnv) return fromEnv;
  if (!process.stdin.isTTY) fail('BAD_ARGUMENT', `set ${PIN_ENV} to the user PIN of token "${label}" (there is no terminal to ask for it on)`);
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  process.stderr.write(`user PIN for token "${label}": `);
  // readline echoes what is typed through this method; a PIN must not appear on the screen.
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => {};
  try {
    return await new Promise<string>((resolve) => rl.question('', resolve));
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}

/** A logged-in session on the token, with one-line errors for a wrong PIN and the like. */
export async function openToken(ref: TokenRef): Promise<Pkcs11Session> {
  const module = Pkcs11Module.load(ref.module);
  const pin = await readPin(ref.label);
  try {
    return module.session(ref.label, pin);
  } catch (e) {
    if (!(e instanceof Pkcs11Error)) throw e;
    switch (e.rv) {
      case CKR.PIN_INCORRECT:
      case CKR.PIN_INVALID:
      case CKR.PIN_LEN_RANGE:
        return fail('BAD_ARGUMENT', `wrong PIN for token "${ref.label}" (${PIN_ENV}); the token locks its user PIN after a few wrong tries`);
      case CKR.PIN_LOCKED:
        return fail('BAD_ARGUMENT', `token "${ref.label}" has locked its user PIN after too many wrong tries; its security officer must unlock it`);
      case CKR.PIN_EXPIRED:
        return fail('BAD_ARGUMENT', `the user PIN of token "${ref.label}" has expired; set a new one with the token's own tool`);
      case CKR.USER_PIN_NOT_INITIALIZED:
        return fail('BAD_ARGUMENT', `token "${ref.label}" has no user PIN yet; its security officer must set one`);
      default:
        return fail('BAD_ARGUMENT', `token "${ref.label}": ${e.message}`);
    }
  }
}

/** Refuse, before anything is made or written, when the token lacks a mechanism `purpose` needs. */
export function requireMechanisms(session: Pkcs11Session, mechanisms: readonly number[], purpose: string, instead: string): void {
  const missing = mechanisms.filter((m) => !session.supports(m));
  if (missing.length > 0) {
    const names = missing.map((m) => MECHANISM_NAMES[m] ?? `0x${m.toString(16)}`).join(', ');
    fail('BAD_ARGUMENT', `token "${session.tokenLabel}" does not support ${names}, which ${purpose} needs; ${instead}`);
  }
}

/** Run a token operation, turning a PKCS#11 failure into a one-line error that names the token. */
export function onToken<T>(session: Pkcs11Session, what: string, op: () => T): T {
  try {
    return op();
  } catch (e) {
    if (e instanceof Pkcs11Error) fail('BAD_ARGUMENT', `token "${session.tokenLabel}": ${what}: ${e.message}`);
    throw e;
  }
}
