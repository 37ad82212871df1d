import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { DeepPowersError } from '../../compiler/errors';

/** A structured tool result with the JSON text mirror that clients ignoring `structuredContent` read. */
export function structuredResult<T extends Record<string, unknown>>(value: T, text = JSON.stringify(value)): CallToolResult {
  return { content: [{ type: 'text', text }], structuredContent: value };
}

/** A tool error the caller (often an LLM) can act on: one line, no stack. */
export function errorResult(reason: string): CallToolResult {
  return { content: [{ type: 'text', text: reason.replace(/\s*\n\s*/g, ' ') }], isError: true };
}

/**
 * Run a tool body; whatever it throws becomes an isError result so the session (and the server)
 * keeps going. Our own errors carry their message; anything else is a bug, logged with its stack
 * on the server side and reported to the caller as one line.
 */
export async function guarded(run: () => Promise<CallToolResult>, log: (line: string) => void): Promise<CallToolResult> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof DeepPowersError) return errorResult(e.message);
    const err = e instanceof Error ? e : new Error(String(e));
    log(`internal error in a tool call: ${err.stack ?? err.message}`);
    return errorResult(`internal error: ${err.message.split('\n')[0]}`);
  }
}
