import { loadFixture } from './test/helpers/fixtures';
import { compiledFixture } from './test/helpers/compiled-fixture';
import { planParallel, receiversOf } from './compiler/circuit/parallel-time';
for (const name of process.argv.slice(2)) {
  const c = compiledFixture(loadFixture(name), { layout: 'vector' }).circuit;
  const t = performance.now();
  const out = [2, 4, 16].map((T) => { const p = planParallel(c, T); return `T=${T} ${(p.serialMs/p.parallelMs).toFixed(2)}x (${p.threads} thr, ${receiversOf(c, p.threadOf).reduce((s, r) => s + r.length, 0)} moves)`; });
  console.log(name, c.ops.length, 'ops', out.join('  '), (performance.now() - t).toFixed(0), 'ms');
}
