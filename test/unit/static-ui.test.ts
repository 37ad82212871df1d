import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { loadUi } from '../../runtime/mcp/static-ui';

/** `serve --ui`'s files: the four the page needs and nothing else, under a policy that keeps the page to its own origin. */
const dir = mkdtempSync(join(tmpdir(), 'dp-ui-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function recorder() {
  const r = { status: 0, headers: {} as Record<string, unknown>, body: undefined as Buffer | undefined };
  const res = {
    writeHead(status: number, headers: Record<string, unknown>) {
      r.status = status;
      r.headers = headers;
      return res;
    },
    end(body?: Buffer) {
      r.body = body;
    },
  } as unknown as ServerResponse;
  return { r, res };
}

describe('serve --ui static files', () => {
  test('an unbuilt checkout is told to build, in one line', () => {
    expect(() => loadUi(dir)).toThrow(/^--ui needs the built page \(.*index\.html is missing\); run `npm run build` in the package$/);
  });

  test('the page, its script, style and WebAssembly; any other path or method is not served', () => {
    for (const [f, text] of [['index.html', '<html>'], ['page.js', 'js'], ['page.css', 'css'], ['seal_throws.wasm', 'wasm']]) writeFileSync(join(dir, f!), text!);
    writeFileSync(join(dir, 'secret.txt'), 'not for the web');
    const ui = loadUi(dir);
    const { r, res } = recorder();
    expect(ui.serve('/', 'GET', res)).toBe(true);
    expect(r.status).toBe(200);
    expect(r.body?.toString()).toBe('<html>');
    expect(r.headers['Content-Type']).toBe('text/html; charset=utf-8');
    const policy = String(r.headers['Content-Security-Policy']);
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain("connect-src 'self'");
    expect(policy).toContain("script-src 'self' 'wasm-unsafe-eval'");
    // WebAssembly compiles under 'wasm-unsafe-eval'; script eval stays forbidden.
    expect(policy).not.toMatch(/ 'unsafe-eval'/);
    const wasm = recorder();
    expect(ui.serve('/ui/seal_throws.wasm', 'GET', wasm.res)).toBe(true);
    expect(wasm.r.headers['Content-Type']).toBe('application/wasm');
    for (const [path, method] of [['/ui/secret.txt', 'GET'], ['/ui/../secret.txt', 'GET'], ['/secret.txt', 'GET'], ['/', 'POST'], ['/mcp', 'GET']]) {
      expect(ui.serve(path!, method, recorder().res), `${method} ${path}`).toBe(false);
    }
  });
});
