/**
 * The support table (compiler/support) as text for the terminal and as Markdown for docs/supported-models.md (and its families for the README),
 * whose support section is this output verbatim (a test compares them).
 */
import type { OperatorSupport, SupportTable } from '../../compiler/support/support-table';
import { textTable } from './text-table';

function operatorName(o: OperatorSupport): string {
  return o.domain === 'ai.onnx' ? o.opType : `${o.domain}:${o.opType}`;
}

function opsets(o: OperatorSupport): string {
  return o.opsets[0] === o.opsets[1] ? String(o.opsets[0]) : `${o.opsets[0]}–${o.opsets[1]}`;
}

function roles(o: OperatorSupport): string {
  return o.roles.length === 0 ? 'in the clear only' : o.roles.join('; ');
}

function activationForms(a: SupportTable['activations'][number]): string {
  const forms = [...a.operators, ...a.patterns];
  // A record with no form of its own (exp) is fitted only inside a construct that names it.
  return forms.length === 0 ? 'no operator of its own' : forms.join('; ');
}

export function formatSupportText(t: SupportTable): string {
  let s = 'model families\n';
  s += textTable(
    ['family', 'examples', 'notes'],
    t.families.map((f) => [f.family, f.examples, f.note]),
    '  ',
  );
  s += '\nactivations (each approximated by a polynomial on its calibrated range)\n';
  s += textTable(
    ['activation', 'ONNX forms', 'parameters', 'ranges'],
    t.activations.map((a) => [a.title, activationForms(a), a.params.join(', ') || '-', a.perUnitRanges ? 'per unit' : 'per layer']),
    '  ',
  );
  s += '\nONNX operators (all import and run in the clear; where each can run in a compiled model)\n';
  s += textTable(
    ['operator', 'opsets', 'in a compiled model'],
    t.operators.map((o) => [operatorName(o), opsets(o), roles(o)]),
    '  ',
  );
  return s;
}

/** Markdown cells: pipes escaped, nothing else touched. */
const cell = (s: string): string => s.replace(/\|/g, '\\|');

function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n') + '\n';
}

/** The model families alone, as Markdown (the README's summary; the guide has the whole table). */
export function formatSupportFamiliesMarkdown(t: SupportTable): string {
  return markdownTable(
    ['Family', 'Examples', 'How it runs'],
    t.families.map((f) => [f.family, f.examples, f.note]),
  );
}

export function formatSupportMarkdown(t: SupportTable): string {
  const encrypted = t.operators.filter((o) => o.roles.some((r) => r.startsWith('encrypted')));
  const client = t.operators.filter((o) => o.roles.length > 0 && !o.roles.some((r) => r.startsWith('encrypted')));
  const clearOnly = t.operators.filter((o) => o.roles.length === 0);
  const names = (ops: readonly OperatorSupport[]): string => ops.map((o) => `\`${operatorName(o)}\``).join(', ');
  return [
    '#### Model families\n',
    formatSupportFamiliesMarkdown(t),
    '#### Activations\n',
    'Each is approximated by a polynomial on the input range calibrated for it: per unit for the positively homogeneous ones, per layer otherwise; the degree is chosen on the calibration rows.\n',
    markdownTable(
      ['Activation', 'ONNX forms', 'Parameters', 'Ranges'],
      t.activations.map((a) => [a.title, activationForms(a), a.params.join(', ') || '–', a.perUnitRanges ? 'per unit' : 'per layer']),
    ),
    '#### ONNX operators\n',
    markdownTable(
      ['Operator', 'Opsets', 'In a compiled model'],
      encrypted.map((o) => [`\`${operatorName(o)}\``, opsets(o), roles(o)]),
    ),
    `Run by the client only (before encryption or after decryption): ${names(client)}.\n`,
    `Import and run in the clear (\`deeppowers predict\`), not in a compiled model: ${names(clearOnly)}.\n`,
  ].join('\n');
}
