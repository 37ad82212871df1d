import type { IncomingMessage } from 'node:http';
import { JsonSyntaxCheck } from './json-syntax';

export type JsonBody =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly status: 400 | 413 | 503; readonly code: number; readonly message: string };

/** Accounts bytes against the sender's budget; returns why not when the budget is spent. */
export type ByteBudget = (bytes: number) => string | undefined;

const PARSE_ERROR = -32700;
const SERVER_ERROR = -32000;

/**
 * Reads an MCP POST body as JSON, refusing it at the first sign it is not worth holding: a
 * declared or received size over `maxBytes`, a sender over its byte budget, or a byte that cannot
 * belong to a JSON text. A refused body stops being read where it was refused, so garbage costs
 * the server one chunk of memory, not the whole body. A declared Content-Length is charged to the
 * budget before any byte is read; a chunked body is charged as it arrives.
 */
export function readJsonBody(req: IncomingMessage, maxBytes: number, charge: ByteBudget): Promise<JsonBody> {
  const header = req.headers['content-length'];
  const declared = header === undefined ? undefined : Number(header);
  if (declared !== undefined && declared > maxBytes) {
    return Promise.resolve(refused(413, SERVER_ERROR, `message too large: ${declared} bytes, this server reads at most ${maxBytes}`));
  }
  if (declared !== undefined) {
    const busy = charge(declared);
    if (busy !== undefined) return Promise.resolve(refused(503, SERVER_ERROR, busy));
  }
  return new Promise((resolve) => {
    const syntax = new JsonSyntaxCheck();
    const chunks: Buffer[] = [];
    let received = 0;
    const stop = (outcome: JsonBody): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.pause();
      resolve(outcome);
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > maxBytes) return stop(refused(413, SERVER_ERROR, `message too large: more than ${maxBytes} bytes, this server reads at most ${maxBytes}`));
      if (declared === undefined) {
        const busy = charge(chunk.length);
        if (busy !== undefined) return stop(refused(503, SERVER_ERROR, busy));
      }
      if (!syntax.push(chunk)) return stop(refused(400, PARSE_ERROR, `Parse error: the body is not JSON (${syntax.error})`));
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      if (!syntax.complete()) return stop(refused(400, PARSE_ERROR, 'Parse error: the body ends before its JSON text does'));
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks, received));
      } catch {
        return stop(refused(400, PARSE_ERROR, 'Parse error: the body is not valid UTF-8'));
      }
      chunks.length = 0;
      try {
        stop({ ok: true, value: JSON.parse(text) as unknown });
      } catch (e) {
        stop(refused(400, PARSE_ERROR, `Parse error: ${(e as Error).message}`));
      }
    };
    const onError = (): void => stop(refused(400, PARSE_ERROR, 'Parse error: the body was cut off'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

function refused(status: 400 | 413 | 503, code: number, message: string): JsonBody {
  return { ok: false, status, code, message };
}
