import { Command, InvalidArgumentError, Option } from 'commander';
import { fail } from '../../compiler/errors';
import { formatOutOfRange, type OutOfRangePolicy } from '../data/input-range';
import { formatEntry } from '../format/values';
import { textTable } from '../format/text-table';
import { MODES, predictPath, type Mode, type PredictResult } from '../app/predict';
import type { FhePrediction } from '../app/predict-fhe';
import { outOfRangeOption } from './out-of-range';
import { printJson } from './output';
import { addPkcs11Options, keystoreTokenOf, type Pkcs11CliOptions } from './pkcs11-options';
import { startProgress } from './progress';
import { parseThreads, THREADS_HELP } from './threads';

export function formatPredict(r: PredictResult): string {
  const names = Object.keys(r.outputs);
  // A row outside the range is marked in the row column and listed under the table; a refused row has no outputs to show.
  const action = new Map((r.out_of_range ?? []).map((o) => [o.row, o.action]));
  const rows = Array.from({ length: r.rows }, (_, i) => {
    const marked = action.get(i + 1);
    return [marked ? `${i + 1} (${marked})` : String(i + 1), ...names.map((n) => (marked === 'refused' ? '–' : formatEntry(r.outputs[n]![i]!)))];
  });
  const costs =
    r.timings && r.sizes && r.layout && r.evaluations !== undefined && r.threads !== undefined
      ? formatFheCosts({ outputs: r.outputs, layout: r.layout, evaluations: r.evaluations, threads: r.threads, timings: r.timings, sizes: r.sizes })
      : '';
  return `${r.model}: ${r.rows} row${r.rows === 1 ? '' : 's'}, mode ${r.mode}\n` + textTable(['row', ...names], rows) + formatOutOfRange(r.out_of_range ?? []) + costs;
}

function parseMode(value: string): Mode {
  if ((MODES as readonly string[]).includes(value)) return value as Mode;
  throw new InvalidArgumentError(`unknown mode "${value}"; choose one of: ${MODES.join(', ')}`);
}

export function registerPredict(program: Command): void {
  const command = program
    .command('predict')
    .description('run a model on the rows of a data file (JSON or CSV)')
    .argument('<model>', 'ONNX model file, or a compiled model directory (deeppowers compile)')
    .requiredOption('--data <file>', 'rows to predict: .json (array of rows) or .csv (numeric, optional header)')
    .addOption(new Option('--mode <mode>', `how to run the model (${MODES.join(', ')}; default: reference for ONNX files, simulate for compiled models)`).argParser(parseMode))
    .option('--keystore <dir>', 'fhe mode (implied): use the secret key `deeppowers keygen` stored there (default: a fresh key for this run only)')
    .option('--threads <n>', `fhe mode: ${THREADS_HELP}`, parseThreads)
    .addOption(outOfRangeOption())
    .option('--json', 'print one JSON object: {model, mode, rows, outputs} (simulate and fhe add out_of_range; fhe adds layout, evaluations, timings, sizes, secret_key)');
  addPkcs11Options(command, 'open a keystore bound to a token (deeppowers keygen --pkcs11) through it').action(
    async (file: string, opts: { data: string; mode?: Mode; keystore?: string; threads?: number; json?: boolean; outOfRange?: OutOfRangePolicy } & Pkcs11CliOptions) => {
      const token = keystoreTokenOf(opts);
      if (token && opts.keystore === undefined) fail('BAD_ARGUMENT', '--pkcs11 opens a keystore: give --keystore <dir> too');
      const result = await predictPath(file, opts.data, opts.mode, {
        ...(opts.keystore !== undefined ? { keystore: opts.keystore } : {}),
        ...(token ? { token } : {}),
        ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
        ...(opts.outOfRange !== undefined ? { outOfRange: opts.outOfRange } : {}),
        progress: startProgress,
      });
      if (opts.json) printJson(result);
      else process.stdout.write(formatPredict(result));
    },
  );
}

export function formatFheCosts(p: Omit<FhePrediction, 'secret_key'> & { secret_key?: FhePrediction['secret_key'] }): string {
  const t = p.timings;
  const s = p.sizes;
  const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
  return (
    `encrypted (${p.layout} layout, ${p.evaluations} evaluation${p.evaluations === 1 ? '' : 's'} on ${p.threads} thread${p.threads === 1 ? '' : 's'}${p.secret_key ? `, ${p.secret_key} secret key` : ''}): ` +
    `keygen ${t.keygen_ms.toFixed(0)} ms, encrypt ${t.encrypt_ms.toFixed(1)} ms, server ${t.evaluate_ms.toFixed(1)} ms, decrypt ${t.decrypt_ms.toFixed(1)} ms; ` +
    `evaluation keys ${mb(s.eval_key_bytes)}, ciphertexts ${mb(s.ciphertext_bytes_in)} in / ${mb(s.ciphertext_bytes_out)} out\n`
  );
}
