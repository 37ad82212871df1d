/**
 * stdout writers shared by the commands. JSON output is always one object followed by a
 * newline, indented for people, with arrays and objects that hold only primitives kept on one
 * line, so a prediction row or a probability map reads as one line instead of one per number.
 */
export function printJson(value: unknown): void {
  process.stdout.write(`${formatJson(value)}\n`);
}

export function formatJson(value: unknown, indent = ''): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0 || value.every(isPrimitive)) return JSON.stringify(value);
    return `[\n${value.map((v) => inner + formatJson(v, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  if (entries.length === 0 || entries.every(([, v]) => isPrimitive(v))) return JSON.stringify(value);
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${formatJson(v, inner)}`).join(',\n')}\n${indent}}`;
}

function isPrimitive(v: unknown): boolean {
  return v === null || typeof v !== 'object';
}
