import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';

/**
 * A SoftHSM 2 token made for a test in its own directory, and OpenSC's pkcs11-tool view of its
 * objects: what the token itself says, read without the code under test.
 */

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

export interface TestToken {
  readonly module: string;
  readonly label: string;
  readonly pin: string;
  /** SOFTHSM2_CONF for this token's directory. */
  readonly conf: string;
  /** SOFTHSM2_CONF for the same tokens, listing no Ed25519 and no AES-GCM. */
  readonly lacking: string;
  /** SOFTHSM2_CONF for a directory with no token at all (the token taken away). */
  readonly absent: string;
}

export function makeTestToken(dir: string, label: string, pin = '246810'): TestToken {
  // Never skipped: CI installs softhsm2 and opensc (.ci/run); a machine without them fails here, saying so.
  if (!existsSync(SOFTHSM_MODULE)) throw new Error(`${SOFTHSM_MODULE} is missing: apt-get install softhsm2 opensc`);
  const tokens = join(dir, 'tokens');
  const none = join(dir, 'no-tokens');
  mkdirSync(tokens, { recursive: true });
  mkdirSync(none, { recursive: true });
  const base = (tokenDir: string) => `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\n`;
  const conf = join(dir, 'softhsm2.conf');
  const lacking = join(dir, 'lacking.conf');
  const absent = join(dir, 'absent.conf');
  writeFileSync(conf, base(tokens));
  // SoftHSM 2.6 ignores the first name of a '-' list, so one DeepPowers does not use goes first.
  writeFileSync(lacking, `${base(tokens)}slots.mechanisms = -CKM_RSA_PKCS,CKM_EDDSA,CKM_EC_EDWARDS_KEY_PAIR_GEN,CKM_AES_GCM\n`);
  writeFileSync(absent, base(none));
  const init = spawnSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', '13579111'], { encoding: 'utf8', env: { ...process.env, SOFTHSM2_CONF: conf } });
  expect(init.status, init.stderr).toBe(0);
  return { module: SOFTHSM_MODULE, label, pin, conf, lacking, absent };
}

/** pkcs11-tool's listing of the token's objects, one block per object. */
export function tokenObjects(t: TestToken): string[] {
  const r = spawnSync('pkcs11-tool', ['--module', t.module, '--token-label', t.label, '--login', '--pin', t.pin, '--list-objects'], { encoding: 'utf8', env: { ...process.env, SOFTHSM2_CONF: t.conf } });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split(/\n(?=\S)/);
}

export function tokenObject(t: TestToken, kind: 'Public Key Object' | 'Private Key Object' | 'Secret Key Object', label: string): string {
  const found = tokenObjects(t).filter((b) => b.startsWith(kind) && new RegExp(`label:\\s+${label}\\n`).test(`${b}\n`));
  expect(found.length, `${kind} ${label}`).toBeGreaterThan(0);
  return found[0]!;
}

/** The raw Ed25519 public key as the token shows it (CKA_EC_POINT, a DER OCTET STRING), base64. */
export function tokenPublicKey(t: TestToken, label: string): string {
  const m = /EC_POINT:\s+0420([0-9a-f]{64})/.exec(tokenObject(t, 'Public Key Object', label));
  expect(m).not.toBeNull();
  return Buffer.from(m![1]!, 'hex').toString('base64');
}
