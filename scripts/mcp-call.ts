/**
 * A minimal MCP host for the shell: starts the MCP server command after `--` on stdio (with this
 * process's environment), calls one tool with JSON arguments and prints its structured result as
 * one line of JSON. Each progress notification restarts the call's 60 s time limit, as an MCP SDK
 * host does with `resetTimeoutOnProgress`: a call that keeps reporting progress (`deeppowers
 * client` sends news at least every 20 s) runs as long as it needs, where the MCP Inspector CLI,
 * which asks for no progress, gives up after 60 s. A tool error prints its text and exits 1.
 *
 *   npx tsx scripts/mcp-call.ts <tool> '<arguments as JSON>' -- <command> [args…]
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';

const USAGE = "usage: npx tsx scripts/mcp-call.ts <tool> '<arguments as JSON>' -- <command> [args…]";
const argv = process.argv.slice(2);
if (argv.length < 4 || argv[2] !== '--') {
  console.error(USAGE);
  process.exit(2);
}
const [tool, json, , command, ...commandArgs] = argv as [string, string, string, string, ...string[]];
let toolArgs: Record<string, unknown>;
try {
  const parsed: unknown = JSON.parse(json);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('expected an object');
  toolArgs = parsed as Record<string, unknown>;
} catch (e) {
  console.error(`mcp-call: the tool's arguments are not a JSON object: ${(e as Error).message}`);
  process.exit(2);
}

const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
const client = new Client({ name: 'mcp-call', version: '0.1.0' });
await client.connect(new StdioClientTransport({ command, args: commandArgs, env, stderr: 'inherit' }));
try {
  const result = (await client.callTool({ name: tool, arguments: toolArgs }, undefined, { timeout: 60_000, resetTimeoutOnProgress: true, onprogress: () => {} })) as CallToolResult;
  if (result.isError) {
    console.log(result.content.map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join('\n'));
    process.exitCode = 1;
  } else {
    console.log(JSON.stringify(result.structuredContent ?? result.content));
  }
} finally {
  await client.close();
}
