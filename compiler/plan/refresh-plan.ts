/**
 * Client-aided refresh (`compile --refresh auto`): where to cut the approximated chain into
 * segments, each a circuit of its own on the model's one parameter set. Between two segments the
 * server masks the ciphertext, the client decrypts it, encrypts it again at the top level and
 * sends it back, and the server removes the mask (compiler/client-steps/): the next segment
 * starts with every level again, so the parameters need only the deepest segment's depth.
 *
 * Cuts go before an affine map that follows an activation, in a chain (no stage reads past the
 * one before it). Auto (the default) tries every set of cuts (all of them when there are more than
 * MAX_CUT_POINTS), keeps those whose parameters meet the precision target, and offers the planner
 * (choose-plan.ts) the fewest cuts at each N they reach; it compares them with the uncut body by
 * predicted end-to-end latency and by the heap they need.
 *
 * A max pool (a MaxPool stage) is always a cut, whatever --refresh says: the client takes the max
 * of masked window values between the segment that ends with the pool's input and the one that
 * starts after it (compiler/client-steps/). Its mask is a plaintext product and a rescale at the
 * end of the segment before (one level more than a refresh cut) and its unmasking another at the
 * start of the segment after (which therefore starts one level below the top).
 */
import { countOps, estimateLatency } from '../circuit/count';
import type { Circuit, Layout } from '../circuit/ir';
import { vectorSlotsNeeded } from '../circuit/layout-vector';
import type { SegmentedBody } from '../artifact/types';
import type { ApproxStage, StepStage } from '../chain/stages';
import { BODY_INPUT } from '../chain/stage-graph';
import { stepStageKind } from '../chain/step-stages';
import { dagCutPoints, greedyCuts, liveOffset, splitDag } from './dag-segments';
import type { ClientStep, StepBounds } from '../client-steps/kind';
import { POOL_SCALE_OCTAVES } from '../client-steps/max-pool';
import { stepKind, stepOfStage } from '../client-steps/table';
import { DeepPowersError, fail } from '../errors';
import { maxEncodableBits } from '../params/encodable';
import { MAX_PRIME_BITS } from '../params/primes';
import { outputBitsForMagnitude, selectParameters } from '../params/select';
import type { CkksParameters } from '../params/types';
import type { PrecisionPromise } from '../approx/precision-target';
import { lowererOf, rescalePrimes, rotationsOf, scalerOf, type LayoutBuild, type Objective, type ParameterOptions } from './build-layout';
import { interleaveSamples } from '../circuit/interleave';
import { carryRefusal } from '../circuit/carry-layout';
import { inputAt } from '../client-steps/refresh';

export type RefreshRequest = 'auto' | 'off';

/**
 * σ, the mask's statistical hiding: the client sees z = y + r with r uniform in ±2^σ·B and |y| ≤ B,
 * whose distribution is within 2^−σ (statistical distance B/R) of one that does not depend on y.
 * Per slot: over the 8192 slots of an N = 16384 ciphertext the bound adds up to 2^(13−σ). A slot
 * mask's price is σ bits of float64 mantissa (the masked values pass through the CKKS encoder and
 * decoder), so y keeps ≈ 53 − σ − log2 B bits after unmasking, which the precision promise counts
 * (segmentedPromise). A refresh that masks the plaintext polynomial's coefficients instead
 * (client-steps/coefficient-refresh.ts: R in ±2^σ·⌈B·Δ⌉ on each of the N coefficients, 2^(14−σ)
 * over them) costs no mantissa, only modulus room at the cut. `compile --mask-bits auto` (the default) takes the largest σ in
 * MASK_BITS_AUTO that keeps the promise (pipeline/steps/mask-search.ts); MASK_BITS, its floor, is
 * the σ of a build that is given none (tests, tools).
 */
export const MASK_BITS = 20;

/** What `--mask-bits auto` searches: 40 bits is the margin wanted; 20, the older default, is the floor. */
export const MASK_BITS_AUTO = { min: MASK_BITS, max: 40 } as const;

/** σ outside this range is refused: below, the hiding is negligible; above, nothing of y survives float64. */
export const MASK_BITS_RANGE = { min: 10, max: 50 } as const;

/** More cut points than this and auto cuts at every one rather than trying 2^k sets. */
export const MAX_CUT_POINTS = 6;

export { POOL_SCALE_OCTAVES };

/** A layout's build as segments, with the mask the artifact records (SegmentedBody's σ and B). */
export interface SegmentedBuild extends Pick<SegmentedBody, 'maskBits' | 'maskBound'> {
  readonly layout: Layout;
  readonly params: CkksParameters;
  /** One build per segment, in order, all on `params`. */
  readonly segments: readonly LayoutBuild[];
  /** Stage indices where a segment starts (after the first). */
  readonly cuts: readonly number[];
  /** The client step before each segment after the first, in order. */
  readonly steps: readonly ClientStep[];
  /** The octaves of the steps' random scales (a max pool's), else undefined. */
  readonly poolScaleOctaves: number | undefined;
}

/**
 * Stage indices a body can be cut before: an affine map right after an activation, such that no
 * stage from there on reads an output older than the activation's (a residual branch may cross
 * the cut only as the activation's own output, which the client step carries over as the next
 * segment's input).
 */
export function cutPoints(stages: readonly ApproxStage[]): number[] {
  // A transformer (products, Softmax, LayerNorm): every live value crosses (dag-segments.ts).
  if (isTransformerStages(stages)) return dagCutPoints(stages);
  const out: number[] = [];
  for (let k = 1; k < stages.length; k++) {
    if (stages[k]!.kind !== 'affine' || stages[k - 1]!.kind !== 'poly') continue;
    const crossing = stages.slice(k).some((s) => s.kind === 'affine' && s.reads !== undefined && s.reads.some((r) => r < k - 1));
    if (!crossing) out.push(k);
  }
  return out;
}

/** The max pools of a chain: cuts every segmented build makes. */
export function poolCuts(stages: readonly ApproxStage[]): number[] {
  return stages.flatMap((s, k) => (stepOfStage(s) ? [k] : []));
}

/** Refuses a client-step stage (a max pool, a softmax, a layer norm) that has no segment on one side, or sits in a body with branches. */
export function checkPools(stages: readonly ApproxStage[]): void {
  const pools = poolCuts(stages);
  if (pools.length === 0) return;
  const kind = (k: number) => stepStageKind(stages[k] as StepStage);
  const name = (k: number): string => `${kind(k).operator} (${stages[k]!.sources.join(', ')})`;
  // In a DAG every live value crosses a cut together; a step that works in place (a softmax, a
  // LayerNorm) keeps its output where its input was, a max pool (fewer values out) would not.
  const dag = isTransformerStages(stages);
  const branched = pools.find((k) => !dag || stages[k]!.kind === 'maxpool');
  if (branched !== undefined && stages.some((s) => s.kind === 'affine' && s.reads !== undefined)) refuseInBranches(stages[branched] as StepStage);
  for (const k of pools) {
    if (k === 0) fail('NOT_ENCRYPTABLE', `${name(k)}: ${kind(k).noun} on the encrypted input itself is not supported for encryption yet (nothing runs under encryption before it)`);
    if (k === stages.length - 1) fail('NOT_ENCRYPTABLE', `${name(k)}: ${kind(k).noun} as the last step of the encrypted part is not supported for encryption yet (nothing runs under encryption after it)`);
    if (stepOfStage(stages[k - 1]!)) fail('NOT_ENCRYPTABLE', `${name(k)}: two client steps in a row (${kind(k - 1).noun}, then ${kind(k).noun}) are not supported for encryption yet`);
  }
}

/** Where the segment after cut `k` starts: past the max pool, or at the stage itself for a refresh cut. */
export function segmentStart(stages: readonly ApproxStage[], k: number): number {
  return stepOfStage(stages[k]!) ? k + 1 : k;
}

/**
 * The segments of `stages` cut at `cuts`, made once per stages array and cuts: the search splits
 * the same body at the same cuts many times (each set's parameter trial, its build, again at every
 * σ the mask search tries), and a DAG's segments are new stage objects each time, which the plan
 * memo (lowering-memo.ts, keyed by stage identity) could never find again — every transformer
 * segment was lowered anew, at every σ.
 */
export function splitStages(stages: readonly ApproxStage[], cuts: readonly number[]): readonly (readonly ApproxStage[])[] {
  let byCuts = splits.get(stages);
  if (!byCuts) splits.set(stages, (byCuts = new Map()));
  const key = cuts.join();
  let parts = byCuts.get(key);
  if (!parts) byCuts.set(key, (parts = splitAt(stages, cuts)));
  return parts;
}

const splits = new WeakMap<readonly ApproxStage[], Map<string, readonly (readonly ApproxStage[])[]>>();

function splitAt(stages: readonly ApproxStage[], cuts: readonly number[]): ApproxStage[][] {
  if (isTransformerStages(stages)) return splitDag(stages, cuts);
  const starts = [0, ...cuts.map((k) => segmentStart(stages, k))];
  const ends = [...cuts, stages.length];
  // A segment's stages read within it, or the stage just before it (the value the client step
  // carries over), which becomes the segment's own input.
  return ends.map((end, i) => stages.slice(starts[i], end).map((s) => (s.kind === 'affine' && s.reads !== undefined && i > 0 ? { ...s, reads: s.reads.map((r) => (r === starts[i]! - 1 ? BODY_INPUT : r - starts[i]!)) } : s)));
}

/**
 * Per cut, the client step it is: a max pool's window max, a softmax's rows, a LayerNorm's tokens,
 * or a refresh. In a DAG every live value crosses a cut together (dag-segments.ts): a step's
 * groups index its output's place in that vector, where the segment before puts its input.
 */
function stepsAt(stages: readonly ApproxStage[], cuts: readonly number[]): ClientStep[] {
  const dag = isTransformerStages(stages);
  return cuts.map((k) => {
    const step = stepOfStage(stages[k]!);
    if (step === null) return { kind: 'refresh' };
    return dag ? shiftStep(step, liveOffset(stages, k + 1, k), stages[k] as StepStage) : step;
  });
}

/** The refusal of a client step in a body with branches it cannot cut: a max pool (fewer values out than in), or any step outside a DAG's cuts. */
function refuseInBranches(stage: StepStage): never {
  const kind = stepStageKind(stage);
  fail('NOT_ENCRYPTABLE', `${kind.operator} (${stage.sources.join(', ')}): ${kind.noun} in a body with branches (a residual sum, a concatenation) is not supported for encryption yet`);
}

/** A step (made from `stage`) whose groups (windows, rows, tokens) sit `offset` places further into the vector. */
function shiftStep(step: ClientStep, offset: number, stage: StepStage): ClientStep {
  if (offset === 0) return step;
  const shift = (groups: readonly (readonly number[])[]): number[][] => groups.map((g) => g.map((i) => i + offset));
  switch (step.kind) {
    case 'refresh':
    case 'coefficient-refresh':
      return step;
    case 'maxpool':
      return refuseInBranches(stage);
    case 'softmax':
      return { kind: 'softmax', softmax: { ...step.softmax, groups: shift(step.softmax.groups) } };
    case 'layernorm':
      return { kind: 'layernorm', layernorm: { ...step.layernorm, groups: shift(step.layernorm.groups) } };
  }
}

/** σ, B and the octaves the compiler draws its steps' masks from. */
function boundsOf(maskBound: number, options: Pick<ParameterOptions, 'maskBits'>): StepBounds {
  return { maskBits: maskBitsOf(options), maskBound, poolScaleOctaves: POOL_SCALE_OCTAVES };
}

/** σ: `compile --mask-bits`, else MASK_BITS. */
export function maskBitsOf(options: Pick<ParameterOptions, 'maskBits'>): number {
  const sigma = options.maskBits ?? MASK_BITS;
  if (!(Number.isInteger(sigma) && sigma >= MASK_BITS_RANGE.min && sigma <= MASK_BITS_RANGE.max)) {
    fail('BAD_ARGUMENT', `--mask-bits must be an integer from ${MASK_BITS_RANGE.min} to ${MASK_BITS_RANGE.max}, got ${sigma}`);
  }
  return sigma;
}

/**
 * Levels a segment needs beyond its circuit's depth: the step after it keeps a spare prime and
 * what its mask spends, the step before it what its unmasking spends.
 */
function extraLevels(steps: readonly ClientStep[], segment: number): number {
  const after = segment < steps.length ? stepKind(steps[segment]!.kind).maskLevels + 1 : 0;
  const before = segment > 0 ? stepKind(steps[segment - 1]!.kind).unmaskLevels : 0;
  return after + before;
}

/** How far beyond 2^σ·B the steps' masked values reach, in bits. */
function maskGrowth(steps: readonly ClientStep[], bounds: StepBounds): number {
  return Math.max(0, ...steps.map((s) => stepKind(s.kind).maskGrowthBits(bounds)));
}

/**
 * The segmented plans worth comparing for `layout`: the max pools' cuts always, with --refresh
 * auto any set of refresh cuts too (all of them at once when there are more than MAX_CUT_POINTS).
 * Per ring degree N the sets reach, the one with the fewest cuts (then the fewest levels) is
 * built: at one N more client steps only add round trips. The uncut body is not among them
 * (build-layout lowers it). A chain with max pools and no set that fits gets the pools' own
 * PARAMS error. `maxAbs` is calibration's bound on every circuit value: the mask's B.
 */
export function segmentedCandidates(stages: readonly ApproxStage[], layout: Layout, options: ParameterOptions, maxAbs: number, refresh: RefreshRequest, objective: Objective = 'latency'): SegmentedBuild[] {
  const pools = poolCuts(stages);
  if (pools.length > 0) checkPools(stages);
  const points = refresh === 'auto' ? cutPoints(stages) : [];
  if (pools.length === 0 && points.length === 0) return [];
  // A transformer lowers slowly (a block is 10^5 ops): a few greedy depth-bounded sets, never every subset.
  const sets = isTransformerStages(stages) ? transformerCutSets(stages, points) : points.length > MAX_CUT_POINTS ? [[], points] : subsets(points);
  const maskBound = Math.max(1, maxAbs);
  const best = new Map<number, { cuts: number[]; levels: number }>();
  const consider = (extra: readonly number[]): void => {
    const cuts = [...pools, ...extra].sort((a, b) => a - b);
    if (cuts.length === 0) return;
    const trial = tryParameters(stages, cuts, layout, options, maskBound);
    if (!trial) return;
    const n = trial.params.polyModulusDegree;
    const seen = best.get(n);
    if (!seen || cuts.length < seen.cuts.length || (cuts.length === seen.cuts.length && trial.params.levels < seen.levels)) best.set(n, { cuts, levels: trial.params.levels });
  };
  for (const extra of sets) consider(extra);
  if (isTransformerStages(stages) && ![...best.keys()].some((n) => n <= TRANSFORMER_SMALL_N)) {
    for (const extra of tighterTransformerCutSets(stages, points, sets)) consider(extra);
  }
  if (best.size === 0 && pools.length > 0) return [buildSegments(stages, pools, layout, options, maskBound, objective)];
  return [...best.entries()].sort(([a], [b]) => a - b).map(([, b]) => buildSegments(stages, b.cuts, layout, options, maskBound, objective));
}

/**
 * Lowers, selects the shared parameters and assigns scales for one set of cuts. For throughput in
 * the vector layout every segment is lowered at the widest period any of them needs and
 * interleaved (circuit/interleave.ts): each ciphertext carries slots / period samples through
 * every segment, so a client step moves them all at once and the client repacks them sample by
 * sample into the same places.
 */
export function buildSegments(stages: readonly ApproxStage[], cuts: readonly number[], layout: Layout, options: ParameterOptions, maskBound: number, objective: Objective = 'latency'): SegmentedBuild {
  const trial = tryParameters(stages, cuts, layout, options, maskBound);
  if (!trial) fail('PARAMS', `no parameters fit the segments cut at stages [${cuts.join(', ')}]`);
  const parts = splitStages(stages, cuts);
  const steps = stepsAt(stages, cuts);
  const lower = lowererOf(options);
  const period = Math.max(2, ...parts.map(vectorSlotsNeeded));
  const interleaved = layout === 'vector' && objective === 'throughput' && trial.params.slots > period;
  let circuits = interleaved
    ? parts.map((p) => interleaveSamples(lower(p, { layout, slots: period, ...rotationsOf(options) }), trial.params.slots / period))
    : parts.map((p) => lower(p, { layout, slots: trial.params.slots, ...rotationsOf(options) }));
  const params = selectParameters({ ...trial.request, preferN: trial.params.polyModulusDegree, rotationSteps: unionSteps(circuits) });
  // A segment after a step whose unmasking spends levels (a max pool's product by 1/a) starts that far below the top.
  const scale = scalerOf(options);
  circuits = circuits.map((c, i) => scale(c, rescalePrimes(params).slice(i > 0 ? stepKind(steps[i - 1]!.kind).unmaskLevels : 0)));
  const masked = steps.map((s, i) => maskedStep(s, circuits[i]!, circuits[i + 1]!));
  const drawn = steps.flatMap((s) => stepKind(s.kind).scaleOctaves ?? []);
  const octaves = drawn.length > 0 ? Math.max(...drawn) : undefined;
  checkMaskRoom(circuits, params, maskBound, masked, options);
  const segments = circuits.map((circuit): LayoutBuild => {
    const counts = countOps(circuit);
    return { layout, circuit, params, counts, latency: estimateLatency(counts, params.polyModulusDegree) };
  });
  return { layout, params, segments, cuts, maskBits: maskBitsOf(options), maskBound, steps: masked, poolScaleOctaves: octaves };
}

/**
 * A refresh cut masks the plaintext polynomial's coefficients (no float64 on a masked value, so σ
 * costs no precision) where the next segment can read the result slot for slot as it is
 * (circuit/carry-layout.ts); elsewhere, and for the other steps, the slots.
 */
function maskedStep(step: ClientStep, from: Circuit, to: Circuit): ClientStep {
  return step.kind === 'refresh' && carryRefusal(from, to) === null ? { kind: 'coefficient-refresh' } : step;
}

interface ParameterTrial {
  readonly params: CkksParameters;
  readonly depths: number[];
  readonly request: Parameters<typeof selectParameters>[0];
}

/**
 * Parameters for the segments cut at `cuts`, or null when none fit. Every segment but the last
 * ends one level above the bottom, so the masked value 2^σ·B sits under a modulus with a spare
 * prime, and q0 is sized for it (maskFirstPrimeBits); the noise target gains log2(segments) bits, since each segment's fresh noise adds up.
 */
function tryParameters(stages: readonly ApproxStage[], cuts: readonly number[], layout: Layout, options: ParameterOptions, maskBound: number): ParameterTrial | null {
  const parts = splitStages(stages, cuts);
  const steps = stepsAt(stages, cuts);
  const first = parts.map((p) => lowererOf(options)(p, { layout, slots: layout === 'vector' ? Math.max(2, vectorSlotsNeeded(p)) : 2, ...rotationsOf(options) }));
  const depths = first.map((c) => c.depth);
  const depth = Math.max(...depths.map((d, i) => d + extraLevels(steps, i)));
  const extra = Math.ceil(Math.log2(parts.length));
  const bounds = boundsOf(maskBound, options);
  const masked = maskBound * 2 ** maskGrowth(steps, bounds);
  const request = {
    depth,
    slotsNeeded: Math.max(...first.map((c) => c.minSlots)),
    outputBits: cuts.length > 0 ? Math.max(options.outputBits, outputBitsForMagnitude(masked)) : options.outputBits,
    ...(cuts.length > 0 ? { firstPrimeBits: maskFirstPrimeBits(steps, bounds) } : {}),
    ...(options.precisionBits !== undefined ? { precisionBits: options.precisionBits + extra } : {}),
    ...(options.scaleBits !== undefined ? { scaleBits: options.scaleBits } : {}),
    ...(options.strictPrecision === true ? { strictPrecision: true } : {}),
    ...(options.preferN !== undefined ? { preferN: options.preferN } : {}),
  };
  try {
    return { params: selectParameters({ ...request, rotationSteps: unionSteps(first) }), depths, request };
  } catch (e) {
    if (e instanceof DeepPowersError && e.code === 'PARAMS') return null;
    throw e;
  }
}

/**
 * Each cut's output level, less what the step's mask spends (a max pool's product by a), must
 * hold the masked value, 2^σ·B grown by the step's factor, at the output scale, with a bit to spare.
 */
function checkMaskRoom(circuits: readonly Circuit[], params: CkksParameters, maskBound: number, steps: readonly ClientStep[], options: Pick<ParameterOptions, 'maskBits'>): void {
  const bounds = boundsOf(maskBound, options);
  circuits.slice(0, -1).forEach((c, i) => {
    const out = c.ops.find((op) => op.op === 'output')!;
    const kind = stepKind(steps[i]!.kind);
    const level = out.level - kind.maskLevels;
    if (level < 1) fail('PARAMS', `segment ${i + 1} ends at level ${out.level}, too low for the mask of the ${steps[i]!.kind} step after it`);
    const room = maxEncodableBits(params.coeffModulusBits, level, out.scale);
    const need = maskRoomBits(steps[i]!, bounds);
    if (room < need) fail('PARAMS', `segment ${i + 1} ends at level ${out.level}, where only 2^${room.toFixed(1)} fits; the mask needs 2^${need.toFixed(1)}`);
    // A coefficient mask also travels, rescaled, in the client's fresh ciphertext: the next segment's input level must hold it.
    if (kind.domain === 'coefficients') {
      const into = inputAt(circuits[i + 1]!);
      const fresh = maxEncodableBits(params.coeffModulusBits, into.level, into.scale);
      if (fresh < need) fail('PARAMS', `segment ${i + 2} reads level ${into.level}, where only 2^${fresh.toFixed(1)} fits; the masked values need 2^${need.toFixed(1)}`);
    }
  });
}

/** log2 of the room a step's masked values need at its cut: 2^σ·B grown by the step's factor, with a bit to spare. */
function maskRoomBits(step: ClientStep, bounds: StepBounds): number {
  return bounds.maskBits + Math.log2(bounds.maskBound) + stepKind(step.kind).maskGrowthBits(bounds) + 1;
}

/**
 * The first prime q0 that gives every cut's mask its room (checkMaskRoom), asked of parameter
 * selection so that the plan search sees σ as a constraint rather than σ being lowered afterwards.
 * A mask sits at level ℓ ≥ 1 (every cut keeps a spare prime), on a value at scale Δ ≈ q_ℓ: the
 * room there, q0 + … + q_ℓ − 2 − log2 Δ, is at least q0 − 2 (the primes above q0 and Δ are the
 * scale's size), so q0 ≥ need + 2 bits. Raising q0 also raises the special prime P (select.ts), two
 * bits of the budget per bit: the search may then pick a smaller scale, another set of cuts or N.
 */
function maskFirstPrimeBits(steps: readonly ClientStep[], bounds: StepBounds): number {
  return Math.ceil(Math.max(...steps.map((s) => maskRoomBits(s, bounds))) + 2);
}

function unionSteps(circuits: readonly Circuit[]): number[] {
  return [...new Set(circuits.flatMap((c) => c.rotationSteps))].sort((a, b) => a - b);
}

/** Whether the body holds products of two ciphertexts or row-wise stages: its cuts are dag-segments'. */
function isTransformerStages(stages: readonly ApproxStage[]): boolean {
  return stages.some((s) => s.kind === 'product' || s.kind === 'rowpoly') || (stages.some((s) => s.kind === 'softmax' || s.kind === 'layernorm') && stages.some((s) => s.kind === 'affine' && s.reads !== undefined));
}

/** The greedy cuts that keep each segment of a transformer within 10, 14, … 30 levels (by stageDepths), each set once. */
function transformerCutSets(stages: readonly ApproxStage[], points: readonly number[]): number[][] {
  const seen = new Set<string>();
  const sets: number[][] = [];
  for (let budget = 10; budget <= 30; budget += 4) {
    const cuts = greedyCuts(stages, points, budget);
    if (!seen.has(cuts.join())) sets.push(cuts), seen.add(cuts.join());
  }
  return sets;
}

/** The largest ring degree a transformer's segments should reach before tighter cuts are tried (node-seal's heap holds its keys). */
const TRANSFORMER_SMALL_N = 16384;

/**
 * Tighter greedy cuts (segments within 8 and 6 levels by stageDepths), those not in `tried`: for
 * a transformer whose 10-level sets all land above TRANSFORMER_SMALL_N. The vector layout spends
 * a level more than the estimate at each row sum and each selection, so a 10-level estimate can
 * exceed what N=16384 holds (a Softmax by powers: its rounds sum the row each time).
 */
function tighterTransformerCutSets(stages: readonly ApproxStage[], points: readonly number[], tried: readonly number[][]): number[][] {
  const seen = new Set(tried.map((c) => c.join()));
  const sets: number[][] = [];
  for (const budget of [8, 6]) {
    const cuts = greedyCuts(stages, points, budget);
    if (!seen.has(cuts.join())) sets.push(cuts), seen.add(cuts.join());
  }
  return sets;
}

function subsets(points: readonly number[]): number[][] {
  const out: number[][] = [];
  for (let mask = 0; mask < 1 << points.length; mask++) out.push(points.filter((_, i) => (mask >> i) & 1));
  return out;
}

/**
 * The precision promise of a segmented body. Each segment starts from a fresh ciphertext, so its
 * CKKS noise (bounded, relative to the output magnitude, by the parameters' 2^−expectedPrecisionBits)
 * adds up over the segments, assumed to carry through the layers after it at the same relative
 * size. Each cut adds its mask's cost (maskRounding): a slot mask's float64 rounding, z = y + r
 * with |z| ≤ 2^σ·B decoding to 53 bits, an absolute error of 2^(σ + ⌈log2 B⌉ − 53) on y; a
 * coefficient mask's one rounding per coefficient; counted relative to the output magnitude
 * (B ≥ 1, so this is the larger of the two readings).
 */
export function segmentedPromise(uncut: PrecisionPromise, plan: SegmentedBuild, magnitude: number): PrecisionPromise {
  const segments = plan.segments.length;
  const noiseBound = segments * uncut.noiseBound + maskRounding(plan, magnitude, plan.maskBits);
  return { ...uncut, noiseBound, reached: uncut.approximationError + noiseBound <= uncut.bound };
}

/**
 * The masks' cost in output units at σ = `maskBits` (the promise's mask term). A slot mask costs
 * its float64 rounding, 2^(σ + ⌈log2 B⌉ + its rounding bits − 53) times the FFT factor below, so
 * it grows with σ; a coefficient mask costs one rounding per coefficient at the next segment's
 * input scale Δ_in (the client's and the server's rescaled integers each round once, and the
 * difference is within one unit), at most N/Δ_in on a value whatever σ is. Each times the output
 * magnitude.
 */
export function maskRounding(plan: SegmentedBuild, magnitude: number, maskBits: number): number {
  const { fixed, perBit } = maskRoundingParts(plan, magnitude);
  return fixed + perBit * 2 ** maskBits;
}

/** The mask term split: what does not depend on σ (coefficient masks) and the factor of 2^σ (slot masks). */
function maskRoundingParts(plan: SegmentedBuild, magnitude: number): { fixed: number; perBit: number } {
  // Not boundsOf: σ = 0 here is the per-bit factor, outside what --mask-bits accepts.
  const bounds: StepBounds = { maskBits: 0, maskBound: plan.maskBound, poolScaleOctaves: POOL_SCALE_OCTAVES };
  let fixed = 0;
  let perBit = 0;
  plan.steps.forEach((step, i) => {
    const kind = stepKind(step.kind);
    switch (kind.domain) {
      case 'slots':
        perBit += fftRoundingFactor(plan.params.slots) * 2 ** (Math.ceil(Math.log2(plan.maskBound)) + kind.roundingBits(bounds) - 53);
        break;
      case 'coefficients':
        fixed += plan.params.polyModulusDegree / inputAt(plan.segments[i + 1]!.circuit).scale;
        break;
    }
  });
  return { fixed: magnitude * fixed, perBit: magnitude * perBit };
}

/**
 * SEAL decodes the masked values with a float64 FFT over the slots and encodes the client's fresh
 * ones with another: each of the log2(slots) butterfly levels rounds once, and an FFT's roundoff
 * grows with that depth (the standard bound ε·log2(n)·max|z|), so one rounding of |z| is not the
 * whole cost. Without this factor the promise held in simulation but not on SEAL (pt_resmlp_digits
 * at σ = 38: 0.529 from the uncut circuit against 0.145 allowed for noise and masks).
 */
export function fftRoundingFactor(slots: number): number {
  return 2 * Math.log2(slots);
}

/**
 * The largest σ this plan would hold: each cut's modulus has room for 2^σ·B grown by its step (as
 * checkMaskRoom asks), counting the room a first prime of MAX_PRIME_BITS would add (the search sizes
 * q0 for the σ it compiles, maskFirstPrimeBits), and the masks' rounding fits in `slack` (the
 * promise less the approximation error and the segments' CKKS noise). Only a guess for
 * --mask-bits auto, which compiles at it to check: another σ can change the plan (a larger q0, a
 * smaller scale, other cuts).
 */
export function largestMaskBitsFor(plan: SegmentedBuild, magnitude: number, slack: number): number {
  const { fixed, perBit } = maskRoundingParts(plan, magnitude);
  const left = slack - fixed;
  // No slot mask: σ costs no precision, only room.
  const byPromise = left <= 0 ? -Infinity : perBit > 0 ? Math.floor(Math.log2(left / perBit)) : Infinity;
  const bounds = boundsOf(plan.maskBound, { maskBits: plan.maskBits });
  const byRoom = plan.segments.slice(0, -1).map((s, i) => {
    const out = s.circuit.ops.find((op) => op.op === 'output')!;
    const kind = stepKind(plan.steps[i]!.kind);
    const firstPrimeRoom = MAX_PRIME_BITS - plan.params.coeffModulusBits[0]!;
    return Math.floor(maxEncodableBits(plan.params.coeffModulusBits, out.level - kind.maskLevels, out.scale) + firstPrimeRoom - Math.log2(plan.maskBound) - kind.maskGrowthBits(bounds) - 1);
  });
  return Math.min(byPromise, ...byRoom);
}
