/**
 * Builds `deeppowers/browser` and the `serve --ui` page into dist/ with esbuild: one ESM bundle
 * each, with SEAL's WebAssembly beside it. Run by `npm run build` (and `prepare`, so an installed
 * or packed package has it). The client code is the repository's own; only Node's platform
 * modules are swapped: node:crypto for its pure-JS twin (runtime/app/browser/node-crypto.ts),
 * Buffer for the `buffer` package, and fs/path/os for a stub that throws if a page ever calls it.
 */
import { build, type Plugin } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
// node-seal exports no package.json; its entry sits in dist/, beside the WebAssembly.
const SEAL_DIST = dirname(fileURLToPath(import.meta.resolve('node-seal')));

/** Node built-ins other than crypto, named with or without `node:` (node-seal's Node branch asks for bare fs, path, url, module). */
const NODE_ONLY = /^(node:.*|fs|fs\/promises|path|os|module|url)$/; // node:crypto is resolved first, above

const nodePlatform: Plugin = {
  name: 'node-platform',
  setup(b) {
    b.onResolve({ filter: /^(node:)?crypto$/ }, () => ({ path: join(ROOT, 'runtime/app/browser/node-crypto.ts') }));
    b.onResolve({ filter: NODE_ONLY }, (args) => ({ path: args.path, namespace: 'node-unavailable' }));
    // CommonJS, so any named import resolves (to a function that throws when called).
    b.onLoad({ filter: /.*/, namespace: 'node-unavailable' }, (args) => ({
      contents: `module.exports = new Proxy({}, { get: (_, name) => name === '__esModule' ? false : () => { throw new Error(${JSON.stringify(args.path)} + '.' + String(name) + ' is not available in a browser'); } });`,
      loader: 'js',
    }));
  },
};

export async function buildBrowser(): Promise<{ files: string[] }> {
  rmSync(join(DIST, 'browser'), { recursive: true, force: true });
  rmSync(join(DIST, 'ui'), { recursive: true, force: true });
  const common = {
    bundle: true,
    format: 'esm' as const,
    platform: 'browser' as const,
    target: 'es2022',
    minify: true,
    sourcemap: false,
    legalComments: 'eof' as const,
    plugins: [nodePlatform],
    inject: [join(ROOT, 'runtime/app/browser/buffer-global.ts')],
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'warning' as const,
  };
  await build({ ...common, entryPoints: { deeppowers: join(ROOT, 'runtime/app/browser/index.ts') }, outdir: join(DIST, 'browser') });
  await build({ ...common, entryPoints: { page: join(ROOT, 'runtime/app/browser/ui/page.ts') }, outdir: join(DIST, 'ui') });
  const files: string[] = [];
  for (const dir of ['browser', 'ui']) {
    mkdirSync(join(DIST, dir), { recursive: true });
    copyFileSync(join(SEAL_DIST, 'seal_throws.wasm'), join(DIST, dir, 'seal_throws.wasm'));
    files.push(join(dir, 'seal_throws.wasm'));
  }
  for (const f of ['index.html', 'page.css']) copyFileSync(join(ROOT, 'runtime/app/browser/ui', f), join(DIST, 'ui', f));
  files.push('browser/deeppowers.js', 'ui/page.js', 'ui/index.html', 'ui/page.css');
  return { files };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { files } = await buildBrowser();
  for (const f of files.sort()) process.stdout.write(`dist/${f}  ${readFileSync(join(DIST, f)).length} bytes\n`);
}
