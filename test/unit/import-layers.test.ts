import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describeCycle, folderCycles, folderGraph, importEdges, moduleSpecifiers, type ImportEdge } from '../helpers/import-graph';

/**
 * The layers of compiler/ and runtime/ (docs/architecture.md): every folder is a layer that
 * imports only folders below it, so no two folders import each other, directly or around a
 * loop, and a subfolder does not import the folder it sits in while that folder imports it.
 * The compiler never imports the runtime, and nothing imports the CLI. Checked on every relative
 * import, static or dynamic.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('module specifiers', () => {
  it('finds static, re-exported, side-effect, dynamic and multi-line imports', () => {
    const source = [
      "import { a } from './a';",
      "import type { B } from '../b/b';",
      "import {\n  c,\n  d,\n} from './c';",
      "export { e } from './e';",
      "export * from './f';",
      "import './g';",
      "const h = await import('./h');",
      "type K = typeof import('./k');",
      "import { z } from 'node:fs';",
    ].join('\n');
    expect(moduleSpecifiers(source)).toEqual(['./a', '../b/b', './c', './e', './f', './g', './h', './k', 'node:fs']);
  });

  it('ignores imports written in comments, strings, templates and regular expressions', () => {
    const source = [
      "// import { x } from './comment';",
      "/* export * from './block'; */",
      "const s = \"import x from './string'\";",
      'const t = `import(\'./template\') ${"from \'./nested\'"}`;',
      "const r = /from '.\\/regex'/;",
      "const q = 6 / 2; const u = 'from';",
      "import { real } from './real';",
    ].join('\n');
    expect(moduleSpecifiers(source)).toEqual(['./real']);
  });
});

describe('folder cycles', () => {
  const edge = (from: string, to: string): ImportEdge => ({ from, to, specifier: to });

  it('reports a loop through three folders with the files behind each edge, and nothing for a chain', () => {
    const graph = folderGraph([edge('x/a.ts', 'y/b.ts'), edge('y/b.ts', 'z/c.ts'), edge('z/c.ts', 'x/a2.ts'), edge('w/d.ts', 'x/a.ts')]);
    const cycles = folderCycles(graph);
    expect(cycles).toEqual([['x', 'y', 'z']]);
    const text = describeCycle(cycles[0]!, graph);
    expect(text).toContain('z → x: 1 import');
    expect(text).toContain("z/c.ts imports 'x/a2.ts'");
    expect(text).not.toContain('w');
    expect(folderCycles(folderGraph([edge('x/a.ts', 'y/b.ts'), edge('y/b.ts', 'z/c.ts')]))).toEqual([]);
  });

  it('counts a subfolder and the folder it sits in as two layers', () => {
    const graph = folderGraph([edge('p/run.ts', 'p/steps/s.ts'), edge('p/steps/s.ts', 'p/types.ts')]);
    expect(folderCycles(graph)).toEqual([['p', 'p/steps']]);
  });
});

describe('compiler/ and runtime/ layers', () => {
  const { edges, unresolved } = importEdges(ROOT, ['compiler', 'runtime']);

  it('reads the real tree: every relative import names a file', () => {
    // A sanity floor, so that a walker that found nothing could not pass the checks below.
    expect(edges.length).toBeGreaterThan(1000);
    expect(unresolved.map((e) => `${e.from} imports '${e.specifier}'`)).toEqual([]);
  });

  it('has no folder-level import cycle', () => {
    const graph = folderGraph(edges);
    const cycles = folderCycles(graph).map((c) => describeCycle(c, graph));
    expect(cycles, cycles.join('\n\n')).toEqual([]);
  });

  it('imports runtime/cli/ from nowhere but runtime/cli/ (it only parses arguments and prints)', () => {
    const intoCli = edges.filter((e) => e.to.startsWith('runtime/cli/') && !e.from.startsWith('runtime/cli/'));
    expect(intoCli.map((e) => `${e.from} imports '${e.specifier}'`)).toEqual([]);
  });

  it('never imports runtime/ from compiler/', () => {
    const upward = edges.filter((e) => e.from.startsWith('compiler/') && e.to.startsWith('runtime/'));
    expect(upward.map((e) => `${e.from} imports '${e.specifier}'`)).toEqual([]);
  });
});
