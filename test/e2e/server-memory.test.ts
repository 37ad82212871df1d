import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import { BIN, startServeWithTokens, type ServeProcess } from '../helpers/serve-process';
import { mulberry32 } from '../helpers/random';

/**
 * Issue 12, defect 10: a burst of large bad MCP bodies from an authenticated tenant must not
 * grow the server's memory for good. Each body is refused at its first bad byte, so the server
 * never holds more than a chunk of it; its resident set after the burst stays near the baseline.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'sk_logreg_iris_multinomial');
const TOKEN = 'memory-test-token-0123456789abcdef';
const BODY_BYTES = 45_000_000;
const BURST = 12;
const CHUNK = 1 << 20;

let tmp: string;
let serve: ServeProcess;

function rssBytes(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!;
  return Number(kb) * 1024;
}

/**
 * Sends one request with `body`, CHUNK bytes at a time, stopping once the server answers (as a
 * client does); what the server answered, '' if it reset the connection before the answer was read.
 */
function send(port: number, head: string, body: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let response = '';
    const timer = setTimeout(() => socket.destroy(), 20_000);
    const writeFrom = (at: number): void => {
      while (at < body.length && response === '' && !socket.destroyed) {
        const more = socket.write(body.subarray(at, at + CHUNK));
        at += CHUNK;
        if (!more) return void socket.once('drain', () => writeFrom(at));
      }
    };
    socket.on('connect', () => {
      socket.write(head);
      writeFrom(0);
    });
    socket.on('data', (d) => (response += d.toString()));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(response);
    });
  });
}

async function initialize(url: string): Promise<string> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } } }),
  });
  await res.text();
  expect(res.status).toBe(200);
  return res.headers.get('mcp-session-id')!;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'dp-memory-'));
  const compiled = join(tmp, 'iris');
  const r = spawnSync(process.execPath, [BIN, 'compile', join(FIXTURE, 'model.onnx'), '--calibration', join(FIXTURE, 'data.json'), '-o', compiled], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  serve = await startServeWithTokens([compiled], tmp, { alice: TOKEN }, [], tmp);
}, 120_000);

afterAll(async () => {
  await serve?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test(`a burst of ${BURST} garbage MCP bodies of ${BODY_BYTES / 1e6} MB leaves the server's RSS near its baseline`, async () => {
  const url = new URL(serve.url);
  const port = Number(url.port);
  const session = await initialize(serve.url);
  for (let i = 0; i < 3; i++) await initialize(serve.url);
  const baseline = rssBytes(serve.proc.pid!);

  const next = mulberry32(5);
  const garbage = Buffer.from(Uint8Array.from({ length: BODY_BYTES }, () => Math.floor(next() * 256)));
  // Looks like JSON-RPC for its first bytes, then is not.
  const jsonish = Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"predict_iris","arguments":{"ciphertext":"'), garbage.subarray(0, BODY_BYTES - 200)]);
  const head = (bytes: number) =>
    `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nMcp-Session-Id: ${session}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${bytes}\r\n\r\n`;
  for (let i = 0; i < BURST; i++) {
    const body = i % 2 === 0 ? garbage : jsonish;
    const response = await send(port, head(body.length), body);
    // A reset can beat the answer to the client; anything the server did say is the refusal.
    if (response !== '') expect(response).toMatch(/^HTTP\/1\.1 400/);
  }
  // RSS settles once the refused bodies' buffers are released: poll for it, bounded.
  await vi.waitFor(
    () => {
      const after = rssBytes(serve.proc.pid!);
      expect(after - baseline, `RSS ${baseline} → ${after}`).toBeLessThan(48 * 1024 * 1024);
    },
    { timeout: 10_000, interval: 100 },
  );
  // Still serving.
  await initialize(serve.url);
}, 180_000);
