import { fail } from '../../compiler/errors';

/**
 * Whom a secret key serves: this machine alone (`predict --mode fhe`, `keygen` without
 * `--server`), or one server. Each (model, scope) has its own key, derived from the recovery
 * phrase (recovery-phrase.ts) and kept under its own keystore entry, so two servers that serve
 * the same model get evaluation keys and ciphertexts under two unrelated secret keys: they cannot
 * link a user's requests by key, and a key one of them learns opens nothing sent to the other.
 *
 * A server is named by its MCP endpoint URL, as the client's pins and upload records name it
 * (`new URL(url).href`). Not by the log key the client pins (pins.ts): that key is public, so
 * before the first verified answer (and a key must exist before it, to upload evaluation keys)
 * any server can announce another's, and two operators who want to link their users could run
 * one log key on purpose. A URL is what the client chose to talk to; under https another server
 * cannot answer at it, and two operators cannot share one without sharing the endpoint. It is as
 * stable as the pins: a server that moves to a new URL is a new server to the client (new pins,
 * a new key, its evaluation keys uploaded again).
 */
export type KeyScope = { readonly kind: 'local' } | { readonly kind: 'server'; readonly server: string };

export const LOCAL_SCOPE: KeyScope = { kind: 'local' };

/** The scope of a server's keys, its URL in the one spelling pins and upload records use; a one-line error for anything but an http(s) URL. */
export function serverScope(url: string): KeyScope {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return fail('BAD_ARGUMENT', `a server is named by its URL, like http://127.0.0.1:8750/mcp, got "${url}"`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') fail('BAD_ARGUMENT', `a server is named by an http(s) URL, got "${url}"`);
  return { kind: 'server', server: parsed.href };
}

/** For messages and listings: "local use" or the server's URL. */
export function describeScope(scope: KeyScope): string {
  switch (scope.kind) {
    case 'local':
      return 'local use';
    case 'server':
      return `server ${scope.server}`;
  }
}

export function sameScope(a: KeyScope, b: KeyScope): boolean {
  return a.kind === 'local' ? b.kind === 'local' : b.kind === 'server' && a.server === b.server;
}
