import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';

/**
 * Run an MCP server on this process's stdin/stdout until the other side hangs up. stdout is the
 * protocol channel, so everything else goes to stderr. `maxMessageBytes` replaces the SDK's
 * 10 MiB line limit: a request carrying ciphertexts (or a key chunk) must fit in one line.
 */
export async function runOnStdio(server: McpServer, maxMessageBytes: number): Promise<void> {
  const transport = new StdioServerTransport(process.stdin, process.stdout, { maxBufferSize: maxMessageBytes });
  const closed = new Promise<void>((resolve) => {
    server.server.onclose = resolve;
  });
  transport.onerror = (e) => process.stderr.write(`deeppowers: stdio: ${e.message}\n`);
  await server.connect(transport);
  // The SDK's stdio transport never notices the end of stdin; a host that exits must not leave us running.
  process.stdin.once('end', () => void server.close());
  process.stdin.once('close', () => void server.close());
  await closed;
}
