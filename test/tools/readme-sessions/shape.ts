/**
 * The shape of a transcript: what must stay equal between a document's output and a real run.
 * Numbers, hex ids (one placeholder for both: a random id may happen to be all digits), recovery words and the lengths of repeated lists may change (timings, sizes,
 * keys differ from run to run), and so may absolute paths (the clone's own path); words, columns,
 * lines and their order may not. Progress lines
 * (stderr, timing-dependent) are left out on both sides. A README line that is only `…` stands
 * for any number of real lines.
 */

export const GAP = '…';

/** A progress line from runtime/cli/progress.ts off a terminal: counted, a compile step, or its end. */
const PROGRESS = [/^.+: \d+\/\d+ \(\d+%\) \d+\.\ds$/, /^.+: .+ \(\d+\.\ds\)$/, /^.+: done in \d+\.\ds$/];

export function isProgressLine(line: string): boolean {
  return PROGRESS.some((re) => re.test(line.trim()));
}

/** A number; its sign only where it cannot be an operator (`56+40`, `degree-31`). */
const NUMBER = /(?:(?<![\w)\]])[-+])?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e[-+]?\d+)?/gi;

/** One line as its shape: the rules above, with runs of whitespace as one space (column widths follow the numbers). */
export function normalizeLine(line: string): string {
  return line
    .replace(/(?<![\w.:/])\/(?:[\w.@+-]+\/)*[\w.@+-]+/g, '<path>')
    .replace(/\b[0-9a-f]{8,}\b/g, (w) => (/[a-f]/.test(w) && /\d/.test(w) ? '#' : w))
    .replace(/\b\d+\. [a-z]+\b/g, '#. <word>')
    .replace(NUMBER, '#')
    .replace(/# ?(?:B|kB|KB|KiB|MB|MiB|GB|GiB)\b/g, '#<bytes>')
    .replace(/# ?(?:ms|s|µs)\b/g, '#<time>')
    .replace(/([^;()[\]{}]+?)(?:; ?\1)+/g, `$1; ${GAP}`)
    .replace(/([^,;()[\]{}]+?)(?:, ?\1)+/g, `$1, ${GAP}`)
    .replace(/#(?:\+#)+/g, `#+${GAP}`)
    .replace(/\s+/g, ' ')
    .trim();
}

interface ShapeLine {
  readonly raw: string;
  readonly shape: string;
}

/** The lines that are compared: no progress, no blank lines at the ends, a run of equal shapes as one. */
function shapeLines(lines: readonly string[]): ShapeLine[] {
  const out: ShapeLine[] = [];
  for (const raw of lines) {
    if (isProgressLine(raw)) continue;
    const shape = raw.trim() === GAP ? GAP : normalizeLine(raw);
    if (out.length > 0 && out.at(-1)!.shape === shape) continue;
    out.push({ raw, shape });
  }
  while (out.length > 0 && out[0]!.shape === '') out.shift();
  while (out.length > 0 && out.at(-1)!.shape === '') out.pop();
  return out;
}

export type ShapeComparison =
  | { readonly ok: true }
  | { readonly ok: false; readonly expected: string | null; readonly actual: string | null; readonly message: string };

/** Does the real output have the transcript's shape? On a mismatch, the first transcript line that found no partner. */
export function compareShape(expectedLines: readonly string[], actualLines: readonly string[]): ShapeComparison {
  const e = shapeLines(expectedLines);
  const a = shapeLines(actualLines);
  // Lines match one for one, except that a gap line matches any run of real lines.
  const memo = new Map<number, boolean>();
  let furthest = { i: 0, j: 0 };
  const match = (i: number, j: number): boolean => {
    const key = i * (a.length + 1) + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    if (i > furthest.i || (i === furthest.i && j > furthest.j)) furthest = { i, j };
    let r: boolean;
    if (i === e.length) r = j === a.length;
    else if (e[i]!.shape === GAP) r = match(i + 1, j) || (j < a.length && match(i, j + 1));
    else r = j < a.length && e[i]!.shape === a[j]!.shape && match(i + 1, j + 1);
    memo.set(key, r);
    return r;
  };
  if (match(0, 0)) return { ok: true };
  const { i, j } = furthest;
  const expected = i < e.length ? e[i]!.raw : null;
  const actual = j < a.length ? a[j]!.raw : null;
  const message =
    expected === null ? `the real output goes on after the transcript's last line: ${JSON.stringify(actual)}`
    : actual === null ? `the real output ends before the transcript line ${JSON.stringify(expected)}`
    : `transcript line ${JSON.stringify(expected)} does not match the real line ${JSON.stringify(actual)}`;
  return { ok: false, expected, actual, message };
}
