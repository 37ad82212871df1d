import type { ServerResponse } from 'node:http';
import { fail } from '../../compiler/errors';
import type { TransparencyLog } from './transparency-log';

/**
 * The log's read-only HTTP face on `deeppowers serve --http`, for auditors:
 *   GET /log                                  {origin, vkey, size, checkpoint}
 *   GET /log/entries?start=A&end=B            [{index, entry (base64), created_at}], at most 1000; another
 *                                             tenant's entry as {index, leaf_hash} only (enough to check the tree)
 *   GET /log/checkpoints?start=A&end=B        [{size, note}] with A ≤ size < B, at most 1000
 *   GET /log/consistency?first=A&second=B     {proof: [base64]}
 */

export const LOG_PAGE = 1000;

/**
 * Who reads the log: a tenant sees its own entries in full and only the leaf hash of everyone
 * else's (their job ids, keys ids and times are other tenants' metadata); an auditor (`serve
 * --log-auditors`, or the single user of an unauthenticated loopback server) sees every entry.
 */
export interface LogViewer {
  readonly tenant: string;
  readonly all: boolean;
}

export function handleLogRoute(log: TransparencyLog, path: string, query: URLSearchParams, res: ServerResponse, viewer: LogViewer): void {
  const store = log.store;
  const int = (name: string, fallback?: number): number => {
    const v = query.get(name);
    if (v === null && fallback !== undefined) return fallback;
    const n = Number(v);
    if (v === null || !Number.isSafeInteger(n) || n < 0) fail('BAD_ARGUMENT', `query parameter ${name} must be a non-negative integer`);
    return n;
  };
  try {
    switch (path) {
      case '/log':
        return send(res, 200, { origin: log.origin, vkey: log.vkey, size: store.size, checkpoint: store.latestCheckpoint()?.note ?? null });
      case '/log/entries': {
        const start = int('start', 0);
        const end = Math.min(int('end', start + LOG_PAGE), start + LOG_PAGE);
        return send(
          res,
          200,
          store
            .entries(start, end)
            .map((e) =>
              viewer.all || e.owner === viewer.tenant
                ? { index: e.index, entry: e.entry.toString('base64'), created_at: e.createdAt }
                : { index: e.index, leaf_hash: e.leafHash.toString('base64') },
            ),
        );
      }
      case '/log/checkpoints': {
        const start = int('start', 0);
        const end = Math.min(int('end', Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
        return send(res, 200, store.checkpoints(start, end, LOG_PAGE).map((c) => ({ size: c.size, note: c.note })));
      }
      case '/log/consistency': {
        const first = int('first');
        const second = int('second');
        if (first < 1 || first > second || second > store.size) fail('BAD_ARGUMENT', `no consistency proof from ${first} to ${second} in a log of ${store.size}`);
        return send(res, 200, { proof: store.consistencyProof(first, second).map((h) => h.toString('base64')) });
      }
      default:
        return send(res, 404, { error: 'not found; the log is at /log, /log/entries, /log/checkpoints, /log/consistency' });
    }
  } catch (e) {
    send(res, 400, { error: (e as Error).message });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
