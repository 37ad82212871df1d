import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import * as z from 'zod';
import { RemoteServer, UnknownKeysError } from '../../runtime/mcp/remote';

/**
 * RemoteServer against an MCP server that offers no tasks (another implementation, or an older
 * DeepPowers): predict_<model> is called plainly, with progress, and its answers and refusals
 * read as from a server with tasks; and a call whose connection the server drops unanswered is
 * sent once more. The server here is the SDK's, stateless, on 127.0.0.1.
 */
const RESULT = Uint8Array.from([1, 2, 3, 250]);
const KNOWN_KEYS = 'a'.repeat(64);
const receipt = { index: 7, entry: 'ZW50cnk=', checkpoint: 'a checkpoint', proof: [], vkey: 'a vkey' };

let http: Server;
let url: string;
/** Whether the server drops the connection of the next predict_m call instead of answering it. */
let dropNextPredict = false;

function plainServer(): McpServer {
  const server = new McpServer({ name: 'plain', version: '0' }, { capabilities: { tools: {} } });
  server.registerTool(
    'predict_m',
    {
      inputSchema: { keys_id: z.string(), ciphertexts: z.string(), chain_id: z.string().optional() },
      outputSchema: { result: z.string(), log: z.object({ index: z.number(), entry: z.string(), checkpoint: z.string(), proof: z.array(z.string()), vkey: z.string() }) },
    },
    async ({ keys_id }, extra) => {
      if (keys_id !== KNOWN_KEYS) return { content: [{ type: 'text', text: `unknown keys_id ${keys_id}: upload the evaluation keys first` }], isError: true };
      const token = extra._meta?.progressToken;
      if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: 1, total: 1 } });
      const out = { result: Buffer.from(RESULT).toString('base64'), log: receipt };
      return { content: [{ type: 'text', text: 'done' }], structuredContent: out };
    },
  );
  return server;
}

async function bodyOf(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
}

beforeAll(async () => {
  http = createServer((req, res) => {
    void (async () => {
      const body = req.method === 'POST' ? await bodyOf(req) : undefined;
      if (dropNextPredict && (body as { params?: { name?: string } } | undefined)?.params?.name === 'predict_m') {
        // As a kept-alive connection the server closed just as the request went out: no answer, the socket gone.
        dropNextPredict = false;
        req.socket.destroy();
        return;
      }
      // Stateless: a server and a transport per request.
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      const server = plainServer();
      res.on('close', () => void transport.close().then(() => server.close()));
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
});

afterAll(async () => {
  http.closeAllConnections();
  await new Promise((resolve) => http.close(resolve));
});

describe('a server without tasks', () => {
  test('predict_<model> is a plain tools/call (no task, no tasks/*), with progress; an unknown keys_id is UnknownKeysError', async () => {
    const remote = await RemoteServer.connect({ url });
    const spy = vi.spyOn(globalThis, 'fetch');
    try {
      const ticks: number[] = [];
      const answer = await remote.predictWithReceipt('m', KNOWN_KEYS, Uint8Array.from([9]), { onProgress: (done) => ticks.push(done) });
      expect([...answer.result]).toEqual([...RESULT]);
      expect(answer.receipt).toEqual(receipt);
      expect(ticks).toEqual([1]);
      await expect(remote.predict('m', 'b'.repeat(64), Uint8Array.from([9]))).rejects.toBeInstanceOf(UnknownKeysError);
      const sent = spy.mock.calls.map(([, init]) => init?.body).filter((b): b is string => typeof b === 'string').map((b) => JSON.parse(b) as { method: string; params?: { task?: unknown } });
      const calls = sent.filter((m) => m.method === 'tools/call');
      expect(calls).toHaveLength(2);
      expect(calls.every((c) => c.params?.task === undefined)).toBe(true);
      expect(sent.filter((m) => m.method.startsWith('tasks/'))).toEqual([]);
    } finally {
      spy.mockRestore();
      await remote.close();
    }
  });

  test('a call whose connection the server closed before answering is sent once more, on a fresh one', async () => {
    const remote = await RemoteServer.connect({ url });
    try {
      dropNextPredict = true;
      const answer = await remote.predictWithReceipt('m', KNOWN_KEYS, Uint8Array.from([9]));
      expect(dropNextPredict).toBe(false);
      expect([...answer.result]).toEqual([...RESULT]);
    } finally {
      await remote.close();
    }
  });
});
