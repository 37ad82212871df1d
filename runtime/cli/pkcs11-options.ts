import type { Command } from 'commander';
import { fail } from '../../compiler/errors';
import { PIN_ENV, type TokenRef } from '../keys/token';
import type { KeystoreToken } from '../keys/token-keystore';

/** `--pkcs11 <module>` and `--token-label <label>`, shared by every command that can keep keys in a token. */
export interface Pkcs11CliOptions {
  readonly pkcs11?: string;
  readonly tokenLabel?: string;
}

export function addPkcs11Options(command: Command, purpose: string): Command {
  return command
    .option('--pkcs11 <module>', `PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so): ${purpose}; user PIN from ${PIN_ENV}, or asked for`)
    .option('--token-label <label>', 'label of the token in that module');
}

/** For keystores: the token label may be left out once the keystore names its token. */
export function keystoreTokenOf(opts: Pkcs11CliOptions): KeystoreToken | undefined {
  if (opts.pkcs11 === undefined) {
    if (opts.tokenLabel !== undefined) fail('BAD_ARGUMENT', '--token-label needs --pkcs11 <module>');
    return undefined;
  }
  return { module: opts.pkcs11, ...(opts.tokenLabel !== undefined ? { label: opts.tokenLabel } : {}) };
}

export function tokenRefOf(opts: Pkcs11CliOptions): TokenRef | undefined {
  const token = keystoreTokenOf(opts);
  if (token === undefined) return undefined;
  if (token.label === undefined) fail('BAD_ARGUMENT', '--pkcs11 needs --token-label <label> (the token the keys live in)');
  return { module: token.module, label: token.label };
}
