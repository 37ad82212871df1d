import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { LoggingLevelSchema, SetLevelRequestSchema, type LoggingLevel, type ServerNotification } from '@modelcontextprotocol/sdk/types.js';

/** The levels in order of severity, as MCP (RFC 5424) lists them: debug < info < … < emergency. */
const SEVERITY = new Map<LoggingLevel, number>(LoggingLevelSchema.options.map((level, i) => [level, i]));

/** Until the client sets a level, progress detail (debug) stays off the wire. */
export const DEFAULT_LOG_LEVEL: LoggingLevel = 'info';

/** Where a message goes: the stream of the request it belongs to, when that is still open. */
export type SendNotification = (notification: ServerNotification) => Promise<void>;

/**
 * MCP logging for one session (one McpServer): `logging/setLevel` sets the least severe level
 * the client wants, and `send` drops anything below it. The SDK keeps a level per transport
 * session id but sends everything until a level is set; one McpServer here is one session, so the
 * level lives here, with a default.
 */
export class SessionLog {
  private level: LoggingLevel = DEFAULT_LOG_LEVEL;

  constructor(
    private readonly server: McpServer,
    private readonly logger: string,
  ) {
    // Replaces the SDK's handler (installed because the server declares the logging capability).
    server.server.setRequestHandler(SetLevelRequestSchema, async (request) => {
      this.level = request.params.level;
      return {};
    });
  }

  enabled(level: LoggingLevel): boolean {
    return SEVERITY.get(level)! >= SEVERITY.get(this.level)!;
  }

  /**
   * Send one log message, if the client's level lets it through. Over HTTP, a message sent while
   * its request is open travels on that request's stream (`via`); otherwise, or when that stream
   * has closed (a task's creating request), on the session's standalone stream. A client that has
   * gone away loses the message, never the call.
   */
  async send(level: LoggingLevel, data: string | Record<string, unknown>, via?: SendNotification): Promise<void> {
    if (!this.enabled(level) || !this.server.isConnected()) return;
    const notification: ServerNotification = { method: 'notifications/message', params: { level, logger: this.logger, data } };
    const standalone = (): Promise<void> => this.server.server.notification(notification).catch(() => {});
    await (via ? via(notification).catch(standalone) : standalone());
  }
}
