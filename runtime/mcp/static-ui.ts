import { existsSync, readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail } from '../../compiler/errors';

/**
 * The page of `deeppowers serve --ui`: built by `npm run build` into dist/ui (scripts/build-browser.ts)
 * and served as fixed files, nothing else from disk. The page holds no secret; its policy lets
 * it talk to this origin only, so a key it holds has nowhere else to go.
 */
export const UI_DIR = fileURLToPath(new URL('../../dist/ui/', import.meta.url));

const FILES: Readonly<Record<string, { readonly file: string; readonly type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/ui/page.js': { file: 'page.js', type: 'text/javascript; charset=utf-8' },
  '/ui/page.css': { file: 'page.css', type: 'text/css; charset=utf-8' },
  '/ui/seal_throws.wasm': { file: 'seal_throws.wasm', type: 'application/wasm' },
};

const POLICY = [
  "default-src 'none'",
  // SEAL is WebAssembly: compiling it needs 'wasm-unsafe-eval', not script eval.
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export interface UiFiles {
  /** Answers a GET/HEAD of one of the page's paths; false for any other path. */
  serve(pathname: string, method: string | undefined, res: ServerResponse): boolean;
}

/** The page's files, read once; a checkout that was never built is told how to build it. */
export function loadUi(dir = UI_DIR): UiFiles {
  const missing = Object.values(FILES).filter((f) => !existsSync(join(dir, f.file)));
  if (missing.length > 0) fail('IO', `--ui needs the built page (${join(dir, missing[0]!.file)} is missing); run \`npm run build\` in the package`);
  const bytes = new Map(Object.entries(FILES).map(([path, f]) => [path, readFileSync(join(dir, f.file))]));
  return {
    serve(pathname, method, res) {
      const f = FILES[pathname];
      if (!f || (method !== 'GET' && method !== 'HEAD')) return false;
      const body = bytes.get(pathname)!;
      res.writeHead(200, {
        'Content-Type': f.type,
        'Content-Length': body.length,
        'Content-Security-Policy': POLICY,
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        'Cache-Control': 'no-cache',
      });
      res.end(method === 'HEAD' ? undefined : body);
      return true;
    },
  };
}
