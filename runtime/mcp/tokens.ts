import { createHash, timingSafeEqual } from 'node:crypto';
import { fail } from '../../compiler/errors';
import { readTextFile } from '../data/read-text-file';

/**
 * Bearer tokens for `deeppowers serve`, read from a token file: one token per line, optionally
 * `name:token`, where the name is the tenant the token acts for (its uploaded keys live under
 * that name). Blank lines and lines starting with `#` are ignored. A token without a name gets a
 * tenant derived from the token's hash, so its keys stay its own across restarts.
 */
export interface Tenant {
  readonly name: string;
}

/** Tokens shorter than this are refused: the token is the only thing between the internet and the server's CPU. */
export const MIN_TOKEN_LENGTH = 16;
const TENANT_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

interface TokenEntry {
  readonly digest: Buffer;
  readonly tenant: Tenant;
}

export class TokenTable {
  private constructor(private readonly entries: readonly TokenEntry[]) {}

  static parse(text: string, source = 'token file'): TokenTable {
    const entries: TokenEntry[] = [];
    const seen = new Set<string>();
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const where = `${source} line ${i + 1}`;
      const colon = line.indexOf(':');
      const named = colon > 0 && TENANT_NAME.test(line.slice(0, colon));
      const name = named ? line.slice(0, colon) : undefined;
      // A tenant's keys live in keys/<name>/: "." and ".." would be the key directory or its parent.
      if (name === '.' || name === '..') fail('BAD_ARGUMENT', `${where}: "${name}" cannot be a tenant name`);
      const token = named ? line.slice(colon + 1).trim() : line;
      if (!TOKEN_CHARS.test(token)) fail('BAD_ARGUMENT', `${where}: a token is printable ASCII without spaces`);
      if (token.length < MIN_TOKEN_LENGTH) {
        fail('BAD_ARGUMENT', `${where}: token is ${token.length} characters, at least ${MIN_TOKEN_LENGTH} are required (e.g. \`openssl rand -hex 32\`)`);
      }
      const digest = sha256(token);
      const key = digest.toString('hex');
      if (seen.has(key)) fail('BAD_ARGUMENT', `${where}: the same token appears twice`);
      seen.add(key);
      entries.push({ digest, tenant: { name: name ?? `token-${key.slice(0, 12)}` } });
    });
    if (entries.length === 0) fail('BAD_ARGUMENT', `${source} holds no tokens`);
    return new TokenTable(entries);
  }

  static readFile(file: string): TokenTable {
    return TokenTable.parse(readTextFile(file, 'token file'), file);
  }

  get size(): number {
    return this.entries.length;
  }

  hasTenant(name: string): boolean {
    return this.entries.some((e) => e.tenant.name === name);
  }

  /**
   * The tenant a presented token belongs to, or undefined. Every entry is compared (in constant
   * time, on digests of equal length) so the answer's timing says nothing about which matched.
   */
  verify(token: string): Tenant | undefined {
    const digest = sha256(token);
    let found: Tenant | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.digest, digest)) found = e.tenant;
    return found;
  }
}

/** The token from an `Authorization: Bearer …` header, or undefined when absent or malformed. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer[ ]+([\x21-\x7e]+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
