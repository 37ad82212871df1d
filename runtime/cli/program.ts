import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerAudit } from './audit';
import { registerCompile } from './compile';
import { registerBench } from './bench';
import { registerClient } from './client';
import { registerDemo } from './demo';
import { registerInspect } from './inspect';
import { registerKeygen } from './keygen';
import { registerKeys } from './keys';
import { registerPredict } from './predict';
import { registerReport } from './report';
import { registerServe } from './serve';
import { registerSupport } from './support';
import { registerWorker } from './worker';
import { setQuiet } from './progress';
import { EXIT_OK, reportError } from './report-error';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Usage errors in the same one-line form as every other error, with where to look. */
function oneLine(help: string): (message: string, write: (s: string) => void) => void {
  return (message, write) => write(`deeppowers: ${message.trim().replace(/\s*\n\s*/g, ' ')} (see ${help})\n`);
}

export function buildProgram(): Command {
  const program = new Command('deeppowers')
    .description('Compile ONNX models to CKKS homomorphic-encryption circuits, run them on Microsoft SEAL, and serve them over MCP')
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    .configureOutput({ outputError: oneLine('deeppowers --help') })
    .option('-q, --quiet', 'no progress display on stderr (compile, keygen, encrypted runs, bench)')
    // Progress is on stderr and never with stdout's --json; --quiet is for logs that want none.
    .hook('preAction', (root) => setQuiet(root.opts<{ quiet?: boolean }>().quiet === true));
  registerInspect(program);
  registerSupport(program);
  registerCompile(program, packageVersion());
  registerPredict(program);
  registerReport(program);
  registerDemo(program);
  registerBench(program);
  registerKeygen(program);
  registerKeys(program);
  registerServe(program);
  registerClient(program);
  registerAudit(program);
  registerWorker(program);
  // Subcommands inherit exitOverride; each gets its own pointer to the help that explains it.
  for (const c of program.commands) {
    c.exitOverride().configureOutput({ outputError: oneLine(`deeppowers ${c.name()} --help`) });
    for (const sub of c.commands) sub.exitOverride().configureOutput({ outputError: oneLine(`deeppowers ${c.name()} ${sub.name()} --help`) });
  }
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json');
  try {
    await buildProgram().parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
  } catch (e) {
    return reportError(e, json);
  }
}
