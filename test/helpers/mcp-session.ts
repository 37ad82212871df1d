import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { expect } from 'vitest';
import { encodeBase64 } from '../../runtime/mcp/base64';
import { createMcpServer } from '../../runtime/mcp/server';
import type { DeepPowersService } from '../../runtime/mcp/service';
import { BIN, ROOT } from './paths';

/** An MCP client in a session of its own on `service`, as `tenant`, over an in-memory transport (tools listed). */
export async function connectInMemory(service: DeepPowersService, tenant: string): Promise<Client> {
  const c = new Client({ name: 'test', version: '0' });
  const [ct, st] = InMemoryTransport.createLinkedPair();
  await Promise.all([createMcpServer(service, tenant, { log: () => {} }).connect(st), c.connect(ct)]);
  await c.listTools();
  return c;
}

/** upload_keys in chunks of `chunk` bytes; the answer to the last chunk, or to the first one refused. */
export async function uploadInChunks(c: Client, keysId: string, bytes: Uint8Array, chunk = 1024 * 1024): Promise<CallToolResult> {
  const count = Math.ceil(bytes.length / chunk);
  let last: CallToolResult | undefined;
  for (let i = 0; i < count; i++) {
    const data = encodeBase64(bytes.subarray(i * chunk, (i + 1) * chunk));
    last = (await c.callTool({ name: 'upload_keys', arguments: { keys_id: keysId, index: i, count, data } })) as CallToolResult;
    if (last.isError) return last;
  }
  return last!;
}

/**
 * A host connected to `deeppowers client …` (its MCP server over stdio, as an agent runs it),
 * `env` added to the client's environment (passphrase, token).
 */
export async function connectHost(clientArgs: readonly string[], env: Record<string, string>): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, 'client', ...clientArgs],
    cwd: ROOT,
    env: { ...getDefaultEnvironment(), ...env },
    stderr: 'pipe',
  });
  const host = new Client({ name: 'host', version: '0' });
  await host.connect(transport);
  return host;
}

/** The text of a tool's error answer; fails the test when the answer is not an error. */
export function toolErrorText(r: CallToolResult): string {
  expect(r.isError, JSON.stringify(r).slice(0, 400)).toBe(true);
  const first = r.content[0];
  return first?.type === 'text' ? first.text : '';
}
