import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../../compiler/errors';
import type { AuditEntry, AuditSource } from './audit';
import { LOG_PAGE } from './log-http';
import { LOG_FILE, LogStore } from './log-store';
import { parseVkey, type NoteVerifierKey } from './signed-note';
import { readLogVkey } from './transparency-log';

/** Where `deeppowers audit verify` reads a log from: a server's data dir, or a running server over HTTP. */

export interface OpenedSource {
  readonly source: AuditSource;
  /** The log key the source names (the data dir's log.vkey, or what the server says); a pinned key overrides it. */
  readonly logKey: NoteVerifierKey;
  close(): void;
}

export function dataDirSource(dataDir: string): OpenedSource {
  if (!existsSync(join(dataDir, LOG_FILE))) fail('BAD_ARGUMENT', `no log in ${dataDir} (${LOG_FILE} not found)`);
  const logKey = readLogVkey(dataDir);
  const store = LogStore.open(dataDir, { create: false });
  const entries: AuditEntry[] = store.entries().map((e) => ({ index: e.index, entry: e.entry, leafHash: e.leafHash }));
  const source: AuditSource = {
    entries,
    checkpoints: store.checkpoints(),
    consistency: async (first, second) => store.consistencyProof(first, second),
  };
  return { source, logKey, close: () => store.close() };
}

export async function serverSource(mcpUrl: string, token: string | undefined): Promise<OpenedSource> {
  let base: URL;
  try {
    base = new URL('/', mcpUrl);
  } catch {
    return fail('BAD_ARGUMENT', `--server must be a URL like http://127.0.0.1:8750/mcp, got "${mcpUrl}"`);
  }
  const get = async <T>(path: string): Promise<T> => {
    let res: Response;
    try {
      res = await fetch(new URL(path, base), { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    } catch (e) {
      return fail('IO', `cannot reach ${base.origin}: ${((e as Error).cause as Error | undefined)?.message ?? (e as Error).message}`);
    }
    const body = (await res.json().catch(() => ({}))) as T & { error?: string };
    if (!res.ok) fail(res.status === 401 ? 'BAD_ARGUMENT' : 'IO', `${base.origin}${path}: HTTP ${res.status}${body.error ? `: ${body.error}` : ''}`);
    return body;
  };
  const head = await get<{ vkey: string; size: number }>('/log');
  const entries: AuditEntry[] = [];
  for (;;) {
    const page = await get<{ index: number; entry?: string }[]>(`/log/entries?start=${entries.length}&end=${entries.length + LOG_PAGE}`);
    for (const e of page) {
      if (e.entry === undefined) fail('BAD_ARGUMENT', `${base.origin} shows this token only its own log entries (entry ${e.index} is another tenant's): audit with a token the server lists in --log-auditors, or with --data-dir`);
      entries.push({ index: e.index, entry: Buffer.from(e.entry, 'base64') });
    }
    if (page.length < LOG_PAGE) break;
  }
  const checkpoints: { size: number; note: string }[] = [];
  for (let start = 0; ; ) {
    const page = await get<{ size: number; note: string }[]>(`/log/checkpoints?start=${start}`);
    checkpoints.push(...page);
    if (page.length < LOG_PAGE) break;
    start = page.at(-1)!.size + 1;
  }
  const source: AuditSource = {
    entries,
    checkpoints,
    consistency: async (first, second) =>
      (await get<{ proof: string[] }>(`/log/consistency?first=${first}&second=${second}`)).proof.map((p) => Buffer.from(p, 'base64')),
  };
  return { source, logKey: parseVkey(head.vkey), close: () => {} };
}
