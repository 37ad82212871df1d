import type { Dim, ValueType } from '../../compiler/graph/graph';
import type { NestedNumbers, OutputEntry } from '../outputs';

/** Numbers for people: 6 significant digits, no trailing zeros, integers as integers. */
export function formatNumber(x: number, digits = 6): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return String(x);
  // A whole part longer than `digits` prints whole (1408 ms, not 1.41e+3 ms).
  if (Math.abs(x) >= 10 ** digits && Math.abs(x) < 1e15) return String(Math.round(x));
  // Small magnitudes (tiny probabilities) read better as 2.55e-5 than as 0.0000255.
  const s = Math.abs(x) < 1e-3 ? x.toExponential(digits - 1) : x.toPrecision(digits);
  // Only a fractional part loses trailing zeros: toPrecision(4) of 1419.6 is "1420", not "142".
  if (!s.includes('.')) return s;
  return s.includes('e') ? s.replace(/\.?0+e/, 'e') : s.replace(/\.?0+$/, '');
}

/** Bytes in binary units (KiB = 1024 B), four significant digits: one unit for every size a report shows. */
export function formatBytes(b: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'] as const;
  let i = 0;
  while (i < units.length - 1 && Math.abs(b) >= 1024 ** (i + 1)) i++;
  return `${formatNumber(b / 1024 ** i, 4)} ${units[i]}`;
}

export function formatDims(shape: readonly Dim[] | null): string {
  return shape === null ? 'unknown shape' : `[${shape.map((d) => d ?? '?').join(', ')}]`;
}

export function formatType(t: ValueType): string {
  return t.kind === 'tensor' ? `${t.dtype} ${formatDims(t.shape)}` : `sequence<map<${t.keyType}, ${t.valueType}>>`;
}

/** One output entry in a table cell: long vectors are cut after `maxItems` values. */
export function formatEntry(e: OutputEntry, maxItems = 10): string {
  if (e === null) return 'NaN/Inf';
  if (typeof e === 'number') return formatNumber(e);
  if (typeof e === 'string') return e;
  if (Array.isArray(e)) return formatNested(e, maxItems);
  return `{${Object.entries(e).map(([k, v]) => `${k}: ${formatNumber(v, 4)}`).join(', ')}}`;
}

function formatNested(a: NestedNumbers[], maxItems: number): string {
  const shown = a.slice(0, maxItems).map((x) => (Array.isArray(x) ? formatNested(x, maxItems) : x === null ? 'NaN/Inf' : typeof x === 'number' ? formatNumber(x, 4) : x));
  return `[${shown.join(', ')}${a.length > maxItems ? `, … ${a.length - maxItems} more` : ''}]`;
}
