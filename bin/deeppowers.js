#!/usr/bin/env node
// The CLI is TypeScript run through tsx's loader, so there is no build step to forget.
//
// node-seal's WebAssembly needs Node >= 22. This file itself must parse and run on older Node
// (a user may start it with whatever `node` is on PATH), so it uses nothing newer than Node 18
// until the version check has passed, and then either runs the CLI in this process or re-runs
// itself under the Node >= 22 that the package installs (the `node` npm package).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MIN_MAJOR = 22;
const major = (version) => Number(version.replace(/^v/, '').split('.')[0]);

if (major(process.versions.node) >= MIN_MAJOR) {
  delete process.env.DEEPPOWERS_REEXEC;
  const { register } = await import('tsx/esm/api');
  register();
  await import('../runtime/cli/main.ts');
} else {
  const node = bundledNode();
  if (node === undefined || process.env.DEEPPOWERS_REEXEC === '1') {
    process.stderr.write(
      `deeppowers: error: Node ${process.versions.node} cannot run DeepPowers (node-seal needs Node >= ${MIN_MAJOR}), ` +
        `and the Node that the package installs was not found; run \`npm ci\` in the package, or start it with Node >= ${MIN_MAJOR} (\`npx deeppowers\`)\n`,
    );
    process.exit(2);
  }
  reexec(node);
}

/** The `node` dependency's executable, when it is installed and new enough. */
function bundledNode() {
  const binDir = dirname(fileURLToPath(import.meta.url));
  let pkgJson;
  try {
    pkgJson = createRequire(join(binDir, '..', 'package.json')).resolve('node/package.json');
  } catch {
    return undefined;
  }
  const pkg = JSON.parse(readFileSync(pkgJson, 'utf8'));
  if (major(String(pkg.version)) < MIN_MAJOR) return undefined;
  const exe = join(dirname(pkgJson), 'bin', process.platform === 'win32' ? 'node.exe' : 'node');
  return existsSync(exe) ? exe : undefined;
}

/** Runs this file under `node` with the same arguments and stdio, and exits as the child did. */
function reexec(node) {
  const child = spawn(node, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, DEEPPOWERS_REEXEC: '1' },
  });
  // A signal sent to this process alone (a host stopping its MCP server) is passed on. A
  // terminal's Ctrl-C already reaches the child through the process group, and a second
  // SIGINT would cut its clean shutdown short, so on a terminal this process only waits.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
  const fromTerminal = new Set(process.stdin.isTTY ? ['SIGINT', 'SIGQUIT'] : []);
  const forward = (signal) => {
    if (fromTerminal.has(signal)) return;
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const s of signals) process.on(s, forward);
  child.on('error', (e) => {
    process.stderr.write(`deeppowers: error: cannot start ${node}: ${e.message}\n`);
    process.exit(2);
  });
  child.on('exit', (code, signal) => {
    if (signal !== null) {
      for (const s of signals) process.removeListener(s, forward);
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code ?? 1);
  });
}
