/**
 * The import graph of a source tree, folder by folder: every relative module specifier in a
 * static `import … from`, a side-effect `import '…'`, an `export … from` and a dynamic
 * `import('…')`, resolved to the file it names. Specifiers are read from a token stream (comments
 * skipped, strings, template literals and regular expressions read whole), so an import written
 * in a comment or a string does not count and one spread over several lines does.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

type Token = { readonly kind: 'word' | 'string' | 'punct' | 'other'; readonly text: string };

const REGEX_AFTER_WORD = new Set(['return', 'typeof', 'case', 'in', 'of', 'void', 'yield', 'await', 'delete', 'instanceof', 'new', 'throw', 'else', 'do']);

/** The tokens of a TypeScript/JavaScript source that matter for finding module specifiers. */
export function tokens(source: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = source.length;
  const last = (): Token | undefined => out[out.length - 1];
  const regexMayStart = (): boolean => {
    const t = last();
    if (!t) return true;
    if (t.kind === 'word') return REGEX_AFTER_WORD.has(t.text);
    if (t.kind === 'string' || t.kind === 'other') return false;
    return t.text !== ')' && t.text !== ']' && t.text !== '}';
  };
  // Reads a template literal from its opening backtick; returns the index after its closing one.
  const template = (start: number): number => {
    let j = start + 1;
    while (j < n && source[j] !== '`') {
      if (source[j] === '\\') j += 2;
      else if (source[j] === '$' && source[j + 1] === '{') {
        let depth = 1;
        j += 2;
        while (j < n && depth > 0) {
          const c = source[j]!;
          if (c === '{') depth++;
          else if (c === '}') depth--;
          else if (c === '`') { j = template(j); continue; }
          else if (c === "'" || c === '"') { j = quoted(j); continue; }
          j++;
        }
      } else j++;
    }
    return j + 1;
  };
  const quoted = (start: number): number => {
    const q = source[start];
    let j = start + 1;
    while (j < n && source[j] !== q && source[j] !== '\n') j += source[j] === '\\' ? 2 : 1;
    return j + 1;
  };
  while (i < n) {
    const c = source[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '/' && source[i + 1] === '/') { while (i < n && source[i] !== '\n') i++; continue; }
    if (c === '/' && source[i + 1] === '*') { const end = source.indexOf('*/', i + 2); i = end < 0 ? n : end + 2; continue; }
    if (c === "'" || c === '"') {
      const end = quoted(i);
      out.push({ kind: 'string', text: source.slice(i + 1, end - 1) });
      i = end;
      continue;
    }
    if (c === '`') { i = template(i); out.push({ kind: 'other', text: '`…`' }); continue; }
    if (c === '/' && regexMayStart()) {
      let j = i + 1;
      let inClass = false;
      while (j < n && source[j] !== '\n' && (inClass || source[j] !== '/')) {
        if (source[j] === '\\') j++;
        else if (source[j] === '[') inClass = true;
        else if (source[j] === ']') inClass = false;
        j++;
      }
      j++;
      while (j < n && /[a-z]/i.test(source[j]!)) j++;
      out.push({ kind: 'other', text: '/…/' });
      i = j;
      continue;
    }
    const word = /^[A-Za-z_$][\w$]*/.exec(source.slice(i, i + 64));
    if (word) { out.push({ kind: 'word', text: word[0] }); i += word[0].length; continue; }
    const num = /^\d[\w.]*/.exec(source.slice(i, i + 64));
    if (num) { out.push({ kind: 'other', text: num[0] }); i += num[0].length; continue; }
    out.push({ kind: 'punct', text: c });
    i++;
  }
  return out;
}

/** The module specifiers a source imports or re-exports from, static and dynamic, in order. */
export function moduleSpecifiers(source: string): string[] {
  const ts = tokens(source);
  const specs: string[] = [];
  for (let k = 0; k < ts.length; k++) {
    const t = ts[k]!;
    const next = ts[k + 1];
    const prev = ts[k - 1];
    if (t.kind !== 'word') continue;
    // `import … from '…'`, `export … from '…'` (a `from` word right before a string only occurs there).
    if (t.text === 'from' && next?.kind === 'string' && prev?.text !== '.') specs.push(next.text);
    // `import '…'` (side effects only).
    else if (t.text === 'import' && next?.kind === 'string' && prev?.text !== '.') specs.push(next.text);
    // `import('…')`, and `typeof import('…')` in types.
    else if (t.text === 'import' && next?.text === '(' && ts[k + 2]?.kind === 'string' && prev?.text !== '.') specs.push(ts[k + 2]!.text);
  }
  return specs;
}

export interface ImportEdge {
  /** Importing file, relative to the root. */
  readonly from: string;
  /** Imported file, relative to the root. */
  readonly to: string;
  readonly specifier: string;
}

const SOURCE = /\.(ts|mts|mjs|js)$/;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (SOURCE.test(entry) && !entry.endsWith('.d.ts')) out.push(path);
  }
  return out.sort();
}

/** The file a relative specifier names, or null when none exists. */
function resolveSpecifier(fromFile: string, specifier: string): string | null {
  const base = resolve(dirname(fromFile), specifier);
  const candidates = [base, `${base}.ts`, base.replace(/\.js$/, '.ts'), join(base, 'index.ts')];
  return candidates.find((c) => existsSync(c) && statSync(c).isFile()) ?? null;
}

/**
 * Every relative import in the source files under `tops` (folders relative to `root`). A relative
 * specifier that names no file is returned in `unresolved` rather than dropped.
 */
export function importEdges(root: string, tops: readonly string[]): { edges: ImportEdge[]; unresolved: ImportEdge[] } {
  const edges: ImportEdge[] = [];
  const unresolved: ImportEdge[] = [];
  const rel = (p: string): string => relative(root, p).split(sep).join('/');
  for (const top of tops) {
    for (const file of sourceFiles(join(root, top))) {
      for (const specifier of moduleSpecifiers(readFileSync(file, 'utf8'))) {
        if (!specifier.startsWith('./') && !specifier.startsWith('../')) continue;
        const target = resolveSpecifier(file, specifier);
        if (target) edges.push({ from: rel(file), to: rel(target), specifier });
        else unresolved.push({ from: rel(file), to: rel(resolve(dirname(file), specifier)), specifier });
      }
    }
  }
  return { edges, unresolved };
}

const folderOf = (file: string): string => file.slice(0, Math.max(0, file.lastIndexOf('/'))) || '.';

/** Folder → folder it imports → the import edges behind that folder edge. Edges inside one folder are left out. */
export function folderGraph(edges: readonly ImportEdge[]): Map<string, Map<string, ImportEdge[]>> {
  const graph = new Map<string, Map<string, ImportEdge[]>>();
  for (const edge of edges) {
    const a = folderOf(edge.from);
    const b = folderOf(edge.to);
    if (a === b) continue;
    const out = graph.get(a) ?? new Map<string, ImportEdge[]>();
    graph.set(a, out);
    out.set(b, [...(out.get(b) ?? []), edge]);
  }
  return graph;
}

/** The strongly connected sets of more than one folder (Tarjan), each sorted; every one is a cycle. */
export function folderCycles(graph: ReadonlyMap<string, ReadonlyMap<string, unknown>>): string[][] {
  const nodes = [...new Set([...graph.keys(), ...[...graph.values()].flatMap((m) => [...m.keys()])])].sort();
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let counter = 0;
  const connect = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const set: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        set.push(w);
      } while (w !== v);
      if (set.length > 1) cycles.push(set.sort());
    }
  };
  for (const v of nodes) if (!index.has(v)) connect(v);
  return cycles;
}

const SHOWN_PER_EDGE = 4;

/** A cycle as text: each folder edge inside it, with the files (and specifiers) that make it. */
export function describeCycle(cycle: readonly string[], graph: ReadonlyMap<string, ReadonlyMap<string, readonly ImportEdge[]>>): string {
  const lines = [`folder cycle: ${cycle.join(' ⇄ ')}`];
  for (const a of cycle) {
    for (const [b, edges] of graph.get(a) ?? []) {
      if (!cycle.includes(b)) continue;
      lines.push(`  ${a} → ${b}: ${edges.length} import${edges.length === 1 ? '' : 's'}`);
      for (const e of edges.slice(0, SHOWN_PER_EDGE)) lines.push(`    ${e.from} imports '${e.specifier}' (${e.to})`);
      if (edges.length > SHOWN_PER_EDGE) lines.push(`    … and ${edges.length - SHOWN_PER_EDGE} more`);
    }
  }
  return lines.join('\n');
}
