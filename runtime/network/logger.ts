import { pino, type Logger as PinoLogger } from 'pino';

/**
 * Structured JSON logs (pino) for job and node events, on stderr (stdout may be the MCP stdio
 * channel). Callers log ids, hashes, counts and times only: never plaintext, ciphertext bytes or
 * key material, which is why nothing here accepts a Buffer.
 */
export type Logger = Pick<PinoLogger, 'info' | 'warn' | 'error' | 'child'>;

export function createLogger(name: string, options: { readonly level?: string; readonly destination?: NodeJS.WritableStream } = {}): Logger {
  const destination = options.destination ?? process.stderr;
  return pino({ name, level: options.level ?? process.env.DEEPPOWERS_LOG_LEVEL ?? 'info', base: { name, pid: process.pid } }, destination as pino.DestinationStream);
}

/** A logger that drops everything (tests, embedded library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
