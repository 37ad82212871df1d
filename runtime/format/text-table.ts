/** Plain left-aligned columns, two spaces apart; the last column is not padded. */
export function textTable(header: readonly string[] | null, rows: readonly (readonly string[])[], indent = ''): string {
  const all = header ? [header, ...rows] : rows;
  const widths: number[] = [];
  for (const r of all) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  const line = (r: readonly string[]) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return all.map(line).join('\n') + '\n';
}
