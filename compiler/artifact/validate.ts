import { checkCircuit } from '../circuit/passes-check';
import { fail } from '../errors';
import type { Node } from '../graph/graph';
import { findKernel } from '../graph/ops/index';
import { isFloatType, sizeOf } from '../graph/tensor';
import { galoisElement } from '../params/rotations';
import { maxBitCount, SECURITY_BITS } from '../params/security';
import type { CkksParameters } from '../params/types';
import type { Circuit } from '../circuit/ir';
import { carryRefusal } from '../circuit/carry-layout';
import { bodyCircuits, lastCircuit } from './segments';
import type { ClientSide, CompiledModelContent, GroupStep, InputRange, PoolStep } from './types';

/**
 * Everything a compiled model must satisfy beyond well-typed fields: the circuit is sound, the
 * parameters are the ones it was scaled for and are 128-bit secure, the body sizes match the
 * circuit, and the client's prologue and epilogue can run. Checked before writing and after
 * reading, so a model that loads is one the backends can execute.
 */
export function validateCompiledModel(m: CompiledModelContent): void {
  checkSource(m);
  checkParameters(m.parameters);
  bodyCircuits(m).forEach((c, i) => {
    if (c.primes === null) bad('the circuit has no scales assigned (primes missing)');
    checkCircuit(c);
    // A segment after a max pool or a LayerNorm starts one level down: the server's unmasking takes the top one (the records' unmaskLevels).
    checkCircuitAgainstParameters(c, m.parameters, i > 0 && (m.refresh!.segments[i - 1]!.pool || m.refresh!.segments[i - 1]!.layernorm) ? 1 : 0);
  });
  checkSegments(m);
  checkBody(m);
  checkClientSteps(m);
  checkSummaries(m);
  checkInputRange(m.calibration.input, m.input.shape);
}

/** A recorded input range covers exactly the model input's elements. */
export function checkInputRange(range: InputRange | null, shape: readonly number[]): void {
  if (range === null) return;
  const size = shape.reduce((a, b) => a * b, 1);
  if (range.min.length !== size) bad(`calibration.input has ${range.min.length} ranges, the model input has ${size} elements`);
}

function bad(why: string): never {
  fail('BAD_ARTIFACT', why);
}

function checkSource(m: CompiledModelContent): void {
  const { sourceFile, sha256 } = m.source;
  if (sourceFile === '' || /[/\\]/.test(sourceFile)) bad(`model.sourceFile must be a file name without directories, got ${JSON.stringify(sourceFile)}`);
  if (!/^[0-9a-f]{64}$/.test(sha256)) bad(`model.sha256 must be 64 lowercase hex digits, got ${JSON.stringify(sha256)}`);
  for (const [domain, version] of m.source.opsets) {
    if (!Number.isInteger(version) || version < 1) bad(`model.opsets: domain "${domain}" has opset ${version}`);
  }
}

/** Internally consistent, SEAL-usable and 128-bit secure. */
export function checkParameters(p: CkksParameters): void {
  const n = p.polyModulusDegree;
  const bound = maxBitCount(n);
  if (bound === undefined) bad(`parameters: polynomial degree ${n} has no ${SECURITY_BITS}-bit security bound`);
  if (p.securityBits !== SECURITY_BITS) bad(`parameters: security ${p.securityBits} bits, only ${SECURITY_BITS} is allowed`);
  if (p.maxBitCount !== bound) bad(`parameters: maxBitCount ${p.maxBitCount} is not the ${SECURITY_BITS}-bit bound ${bound} for N=${n}`);
  const total = p.coeffModulusBits.reduce((s, b) => s + b, 0);
  if (p.totalBits !== total) bad(`parameters: totalBits ${p.totalBits} is not the sum of coeffModulusBits (${total})`);
  if (total > bound) bad(`parameters: ${total} modulus bits exceed the ${SECURITY_BITS}-bit bound ${bound} for N=${n}`);
  if (p.slots !== n / 2) bad(`parameters: ${p.slots} slots for N=${n}`);
  const chain = p.levels + 2;
  if (p.coeffModulusBits.length !== chain || p.primes.length !== chain || p.primesApprox.length !== chain) {
    bad(
      `parameters: ${p.levels} levels need ${chain} primes (first, ${p.levels} scale, special), got ${p.coeffModulusBits.length} sizes, ` +
        `${p.primes.length} primes and ${p.primesApprox.length} approximations`,
    );
  }
  p.primes.forEach((text, i) => {
    const q = BigInt(text);
    if (q.toString(2).length !== p.coeffModulusBits[i]) bad(`parameters: prime ${i} (${text}) is not ${p.coeffModulusBits[i]} bits`);
    if (q % BigInt(2 * n) !== 1n) bad(`parameters: prime ${i} (${text}) is not 1 mod 2N, SEAL cannot use it for N=${n}`);
    if (p.primesApprox[i] !== Number(q)) bad(`parameters: primesApprox[${i}] ${p.primesApprox[i]} is not prime ${text} as a double`);
  });
  if (p.galoisElements.length !== p.rotationSteps.length) bad(`parameters: ${p.galoisElements.length} Galois elements for ${p.rotationSteps.length} rotation steps`);
  p.rotationSteps.forEach((step, i) => {
    if (step < 1 || step >= p.slots) bad(`parameters: rotation step ${step} outside [1, ${p.slots})`);
    if (i > 0 && step <= p.rotationSteps[i - 1]!) bad('parameters: rotation steps must be sorted and unique');
    const g = galoisElement(step, n);
    if (p.galoisElements[i] !== g) bad(`parameters: Galois element for step ${step} is ${p.galoisElements[i]}, expected ${g}`);
  });
}

/** Segments chain (each reads what the one before writes, same layout, one sample per ciphertext) and the mask is sane. */
function checkSegments(m: CompiledModelContent): void {
  if (!m.refresh) return;
  const { maskBits, maskBound, segments } = m.refresh;
  if (segments.length === 0) bad('refresh: no segments after the first');
  if (!Number.isInteger(maskBits) || maskBits < 1 || maskBits > 40) bad(`refresh: mask bits ${maskBits} outside [1, 40]`);
  if (!(maskBound >= 1) || !Number.isFinite(maskBound)) bad(`refresh: mask bound ${maskBound} is not a finite number ≥ 1`);
  segments.forEach((s, i) => {
    if (i > 0 && s.startStage <= segments[i - 1]!.startStage) bad('refresh: segment start stages must increase');
  });
  const all = bodyCircuits(m);
  all.forEach((c, i) => {
    if (c.layout !== m.circuit.layout) bad(`refresh: segment ${i + 1} is laid out ${c.layout}, the first ${m.circuit.layout}`);
    if (c.samplesPerCiphertext !== m.circuit.samplesPerCiphertext) bad(`refresh: segment ${i + 1} packs ${c.samplesPerCiphertext} samples per ciphertext, the first ${m.circuit.samplesPerCiphertext}`);
    const next = all[i + 1];
    const pool = segments[i]?.pool;
    const group = segments[i]?.softmax ?? segments[i]?.layernorm;
    if (segments[i] && [segments[i]!.pool, segments[i]!.softmax, segments[i]!.layernorm, segments[i]!.masking].filter(Boolean).length > 1) bad(`refresh: segment ${i + 2} has more than one client step before it`);
    // A coefficient-masked refresh carries the result slot for slot: the next segment must read it as it is.
    const carried = next && segments[i]!.masking === 'coefficients' ? carryRefusal(c, next) : null;
    if (carried) bad(`refresh: segment ${i + 2} follows a coefficient-masked refresh but cannot read segment ${i + 1}'s result as it is: ${carried}`);
    if (next && pool) checkPoolStep(pool, c.outputSize, next.inputSize, i + 2);
    else if (next && next.inputSize !== c.outputSize) bad(`refresh: segment ${i + 2} reads ${next.inputSize} values, segment ${i + 1} writes ${c.outputSize}`);
    if (next && group) checkGroupStep(group, c.outputSize, i + 2);
    const ln = segments[i]?.layernorm;
    if (ln && (ln.beta.length !== ln.gamma.length || ln.groups.some((g) => g.length !== ln.gamma.length))) bad(`refresh: the LayerNorm before segment ${i + 2} has tokens, γ and β of different lengths`);
  });
  // Max pools and LayerNorms draw random scales (a > 0); softmax and refresh steps draw offsets only.
  const scaled = segments.some((s) => s.pool || s.layernorm);
  const octaves = m.refresh.poolScaleOctaves;
  if (scaled !== (octaves !== undefined)) bad('refresh: poolScaleOctaves is given exactly when a segment follows a max pool or a LayerNorm');
}

/** A softmax's rows or a LayerNorm's tokens: each non-empty, within the previous segment's outputs, pairwise disjoint. */
function checkGroupStep(step: GroupStep, outputs: number, segment: number): void {
  const seen = new Uint8Array(outputs);
  step.groups.forEach((g, k) => {
    if (g.length === 0) bad(`refresh: group ${k} before segment ${segment} is empty`);
    for (const i of g) {
      if (!Number.isInteger(i) || i < 0 || i >= outputs) bad(`refresh: group ${k} before segment ${segment} reads element ${i}, the segment before writes ${outputs}`);
      if (seen[i]++ > 0) bad(`refresh: element ${i} is in two groups before segment ${segment}`);
    }
  });
}

/** A max pool's windows: one per value the next segment reads, each non-empty, within the previous segment's outputs, pairwise disjoint. */
function checkPoolStep(pool: PoolStep, outputs: number, inputs: number, segment: number): void {
  if (pool.windows.length !== inputs) bad(`refresh: segment ${segment} reads ${inputs} values, its max pool makes ${pool.windows.length}`);
  const seen = new Uint8Array(outputs);
  pool.windows.forEach((w, o) => {
    if (w.length === 0) bad(`refresh: max-pool window ${o} before segment ${segment} is empty`);
    for (const i of w) {
      if (!Number.isInteger(i) || i < 0 || i >= outputs) bad(`refresh: max-pool window ${o} reads element ${i}, the segment before writes ${outputs}`);
      if (seen[i]++ > 0) bad(`refresh: element ${i} is in two max-pool windows before segment ${segment}`);
    }
  });
}

function checkCircuitAgainstParameters(c: Circuit, p: CkksParameters, below: number): void {
  if (c.slots !== p.slots) bad(`the circuit runs on ${c.slots} slots, the parameters give ${p.slots}`);
  if (c.topLevel !== p.levels - below) bad(`the circuit's inputs sit at level ${c.topLevel}, expected ${p.levels - below} (the parameters give ${p.levels} levels)`);
  // SEAL chain order is [q0, q1 … qL, special]; the circuit lists the droppable ones top first.
  const droppable = p.primesApprox.slice(1, p.levels + 1 - below).reverse();
  c.primes!.forEach((q, i) => {
    if (q !== droppable[i]) bad(`the circuit was scaled for prime ${q} at position ${i}, the parameters have ${droppable[i]}`);
  });
  const keyed = new Set(p.rotationSteps);
  for (const step of c.rotationSteps) {
    if (!keyed.has(step)) bad(`the circuit rotates by ${step} but the parameters have no Galois key for that step`);
  }
}

function checkBody(m: CompiledModelContent): void {
  // Encrypted values are approximate reals; the body's boundary values must be numeric, its output a float.
  if (m.bodyInput.dtype === 'string') bad(`body input "${m.bodyInput.name}" holds strings, which cannot be encrypted`);
  if (!isFloatType(m.bodyOutput.dtype)) bad(`body output "${m.bodyOutput.name}" is ${m.bodyOutput.dtype}; a decrypted CKKS result is a float`);
  const inSize = sizeOf(m.bodyInput.shape);
  const outSize = sizeOf(m.bodyOutput.shape);
  if (inSize !== m.circuit.inputSize) bad(`body input "${m.bodyInput.name}" has ${inSize} values per sample, the circuit reads ${m.circuit.inputSize}`);
  const last = lastCircuit(m);
  if (outSize !== last.outputSize) bad(`body output "${m.bodyOutput.name}" has ${outSize} values per sample, the circuit writes ${last.outputSize}`);
}

/** Both client parts read only what they are given, run on known kernels and produce what is expected. */
export function checkClientSteps(m: ClientSide): void {
  const constants = new Set(m.client.constants.keys());
  runnable('prologue', m.client.prologue, [m.input.name], [m.bodyInput.name], constants, m);
  runnable(
    'epilogue',
    m.client.epilogue,
    [m.bodyOutput.name],
    m.outputs.map((o) => o.name),
    constants,
    m,
  );
}

function runnable(
  part: string,
  nodes: readonly Node[],
  given: readonly string[],
  wanted: readonly string[],
  constants: ReadonlySet<string>,
  m: ClientSide,
): void {
  const available = new Set([...given, ...constants]);
  nodes.forEach((node, i) => {
    const label = `${part} node ${i} (${node.opType}${node.name ? ` "${node.name}"` : ''})`;
    if (!m.source.opsets.has(node.domain)) bad(`${label}: no opset for domain "${node.domain}"`);
    if (!findKernel(node.domain, node.opType)) bad(`${label}: operator ${node.domain}.${node.opType} has no reference kernel`);
    for (const x of node.inputs) if (x !== '' && !available.has(x)) bad(`${label}: reads "${x}", which nothing before it provides`);
    for (const y of node.outputs) if (y !== '') available.add(y);
  });
  for (const name of wanted) if (!available.has(name)) bad(`${part}: "${name}" is never produced`);
}

function checkSummaries(m: CompiledModelContent): void {
  const seen = new Set<number>();
  for (const a of m.approximations) {
    if (seen.has(a.stage)) bad(`approximations: stage ${a.stage} listed twice`);
    seen.add(a.stage);
    if (a.chebyshev.length !== a.degree + 1) bad(`approximations: stage ${a.stage} has ${a.chebyshev.length} coefficients for degree ${a.degree}`);
    for (const x of a.chebyshev) if (!Number.isFinite(x)) bad(`approximations: stage ${a.stage} has coefficient ${x}`);
  }
}
