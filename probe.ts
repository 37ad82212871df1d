import { loadFixture } from './test/helpers/fixtures';
import { compiledFixture } from './test/helpers/compiled-fixture';
import { planParallel } from './compiler/circuit/parallel-time';
import { costedLevel, costMicros, costsFor } from './compiler/circuit/count';
import { operandsOf } from './compiler/circuit/ir';
import { opInfo } from './compiler/circuit/op-table';
const c = compiledFixture(loadFixture(process.argv[2]!), { layout: 'vector' }).circuit;
const costs = costsFor(2 * c.slots);
const cost = c.ops.map((op) => { const k = opInfo(op).cost; return k ? costMicros(k, costedLevel(op), costs) / 1000 : 0; });
// critical path & work of ops in [a,b)
const seg = (a: number, b: number) => { const fin: number[] = []; let work = 0; for (let i = a; i < b; i++) { work += cost[i]!; fin[i] = cost[i]! + Math.max(0, ...operandsOf(c.ops[i]!).filter((v) => v >= a).map((v) => fin[v]!)); } return { work: work.toFixed(0), cp: Math.max(...fin.filter((x) => x !== undefined)).toFixed(0) }; };
const cut = Number(process.argv[3] ?? 76);
console.log('before', seg(0, cut), 'after', seg(cut, c.ops.length));
const p = planParallel(c, 2);
console.log(p.serialMs.toFixed(0), p.parallelMs.toFixed(0));
