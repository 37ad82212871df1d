import { formatNumber } from '../format/values';
import { textTable } from '../format/text-table';
import type { FheReport } from './fhe-section';
import { describeMeasured } from '../../compiler/approx/precision-target';

const pct = (x: number | null): string => (x === null ? '–' : Number.isNaN(x) ? 'unknown' : `${formatNumber(100 * x, 4)}%`);
const ms = (x: number): string => `${formatNumber(x, 4)} ms`;
const mb = (b: number): string => `${formatNumber(b / 1e6, 4)} MB`;

/** The `report --fhe` section in text. */
export function formatFheSection(f: FheReport): string {
  const t = f.timings;
  const unit = f.samplesPerEvaluation === 1 ? 'row' : `evaluation of up to ${f.samplesPerEvaluation} rows`;
  const s = f.vsSimulate;
  const r = f.vsReference;
  let out = `\nencrypted run (node-seal CKKS, ${f.layout} layout, ${f.evaluations} evaluation${f.evaluations === 1 ? '' : 's'})\n`;
  out += textTable(
    null,
    [
      ['keygen', `${ms(t.keygen_ms)} (client); evaluation keys loaded by the server in ${ms(t.key_load_ms)}`],
      ['per ' + unit, `encrypt ${ms(t.perEvaluation.encrypt_ms)}, server ${ms(t.perEvaluation.evaluate_ms)} (estimate ${ms(f.predictedServerMs)}), decrypt ${ms(t.perEvaluation.decrypt_ms)}`],
      ['bytes', `evaluation keys ${mb(f.sizes.eval_key_bytes)} (relin ${mb(f.sizes.relin_key_bytes)}, Galois ${mb(f.sizes.galois_key_bytes)}); ciphertexts ${mb(f.sizes.ciphertext_bytes_in)} in, ${mb(f.sizes.ciphertext_bytes_out)} out`],
      ['vs simulated', `body max |Δ| ${formatNumber(s.body.maxAbsDelta, 3)}; label agreement ${pct(s.labelAgreement)}${s.labelAgreementFrom ? ` (${s.labelAgreementFrom})` : ''}`],
      ['vs reference', `body max |Δ| ${formatNumber(r.body.maxAbsDelta, 3)}; label agreement ${pct(r.labelAgreement)}`],
      ['precision', `encrypted error on the body outputs ${describeMeasured(f.precision, f.measuredRelativeError)}`],
    ],
    '  ',
  );
  if (r.labels?.task === 'classification') out += `  accuracy vs labels (${r.labels.from}): reference ${pct(r.labels.reference)}, encrypted ${pct(r.labels.simulated)}\n`;
  if (r.labels?.task === 'regression') out += `  vs targets (${r.labels.from}): R² reference ${formatNumber(r.labels.r2.reference, 4)}, encrypted ${formatNumber(r.labels.r2.simulated, 4)}\n`;
  return out;
}
