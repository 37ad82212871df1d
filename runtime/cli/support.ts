import type { Command } from 'commander';
import { supportTable } from '../../compiler/support/support-table';
import { formatSupportMarkdown, formatSupportText } from '../format/support';
import { printJson } from './output';

export function registerSupport(program: Command): void {
  program
    .command('support')
    .description('list the supported model families, activations and ONNX operators (read from the compiler\'s registries)')
    .option('--json', 'print one JSON object')
    .option('--markdown', 'print Markdown (the support section of docs/supported-models.md)')
    .action((opts: { json?: boolean; markdown?: boolean }) => {
      const table = supportTable();
      if (opts.json) printJson(table);
      else process.stdout.write(opts.markdown ? formatSupportMarkdown(table) : formatSupportText(table));
    });
}
