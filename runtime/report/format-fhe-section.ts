import { formatBytes, formatNumber } from '../format/values';
import { textTable } from '../format/text-table';
import type { FheReport } from './fhe-section';
import { describeMeasured } from '../../compiler/approx/precision-target';

const pct = (x: number | null): string => (x === null ? '–' : Number.isNaN(x) ? 'unknown' : `${formatNumber(100 * x, 4)}%`);
const ms = (x: number): string => `${formatNumber(x, 4)} ms`;

/** The encrypted run's heading, shared by the text and HTML reports. */
export function fheTitle(f: FheReport): string {
  return `encrypted run (node-seal CKKS, ${f.layout} layout, ${f.evaluations} evaluation${f.evaluations === 1 ? '' : 's'})`;
}

/**
 * The encrypted run as label/value rows, shared by the text and HTML reports. The key bytes are
 * not here: the report shows its one key-size figure with the other sizes (key-sizes.ts).
 */
export function fheRows(f: FheReport): [string, string][] {
  const t = f.timings;
  const unit = f.samplesPerEvaluation === 1 ? 'row' : `evaluation of up to ${f.samplesPerEvaluation} rows`;
  const s = f.vsSimulate;
  const r = f.vsReference;
  const rows: [string, string][] = [
    ['keygen', `${ms(t.keygen_ms)} (client); evaluation keys loaded by the server in ${ms(t.key_load_ms)}`],
    ['per ' + unit, `encrypt ${ms(t.perEvaluation.encrypt_ms)}, server ${ms(t.perEvaluation.evaluate_ms)} (estimate ${ms(f.predictedServerMs)}), decrypt ${ms(t.perEvaluation.decrypt_ms)}`],
    ...(f.clientSteps
      ? [
          [
            'client steps',
            `${f.clientSteps.perEvaluation} per ${unit}: ${ms(f.clientSteps.ms)} (server masks, client decrypts and encrypts again, server unmasks; in process, no network), ${formatBytes(f.clientSteps.bytes)} down and up; ` +
              `${f.clientSteps.roundTrips} round trip${f.clientSteps.roundTrips === 1 ? '' : 's'} in all (one per step for each request of several evaluations)`,
          ] as [string, string],
        ]
      : []),
    ['ciphertext bytes', `${formatBytes(f.sizes.ciphertext_bytes_in)} in, ${formatBytes(f.sizes.ciphertext_bytes_out)} out (all rows)`],
    ['vs simulated', `body max |Δ| ${formatNumber(s.body.maxAbsDelta, 3)}; label agreement ${pct(s.labelAgreement)}${s.labelAgreementFrom ? ` (${s.labelAgreementFrom})` : ''}`],
    ['vs reference', `body max |Δ| ${formatNumber(r.body.maxAbsDelta, 3)}; label agreement ${pct(r.labelAgreement)}`],
    ['precision', `encrypted error on the body outputs ${describeMeasured(f.precision, f.measuredRelativeError)}`],
  ];
  if (r.labels?.task === 'classification') rows.push([`accuracy vs labels (${r.labels.from})`, `reference ${pct(r.labels.reference)}, encrypted ${pct(r.labels.simulated)}`]);
  if (r.labels?.task === 'regression') rows.push([`vs targets (${r.labels.from})`, `R² reference ${formatNumber(r.labels.r2.reference, 4)}, encrypted ${formatNumber(r.labels.r2.simulated, 4)}`]);
  return rows;
}

/** The `report --fhe` section in text. */
export function formatFheSection(f: FheReport): string {
  return `\n${fheTitle(f)}\n${textTable(null, fheRows(f), '  ')}`;
}
