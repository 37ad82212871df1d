/**
 * σ of the client steps' masks (`compile --mask-bits`). Every client step (a refresh, a max pool's
 * window offsets, a softmax's row offsets, a LayerNorm's token offsets) hides a value |y| ≤ B with
 * an offset uniform in ±2^σ·B (times the step's own growth), within 2^−σ statistical distance per
 * value; a refresh that masks the plaintext polynomial's coefficients hides each coefficient,
 * |m| ≤ B·Δ, with integers in ±2^σ·⌈B·Δ⌉ the same way. Slot masks pass through the CKKS encoder and
 * decoder in float64, so each such step costs 2^(σ + ⌈log2 B⌉ + the step's rounding bits − 53) of
 * absolute precision, which the precision promise counts (refresh-plan.ts: segmentedPromise); a
 * coefficient mask costs the same small rounding whatever σ is. σ also sizes the modulus room at each cut:
 * the plan search at σ sizes the first prime for it (refresh-plan.ts, maskFirstPrimeBits), which can cost scale.
 *
 * `auto` (the default) takes the largest σ in [MASK_BITS_AUTO.min, MASK_BITS_AUTO.max] whose plan
 * keeps the promise, by the same accounting an explicit `--mask-bits σ` compile uses: the whole plan
 * search runs at the floor first (a plan it does not cut uses no mask, and is kept as it is); from
 * that plan the largest σ it would hold unchanged is the guess, which is compiled, then σ + 1 (or
 * the ceiling), and bisection between a σ that keeps the promise and one that does not when the guess
 * was wrong. The mask's share of the promise grows with σ, so one boundary is expected; the search
 * ends at a σ that keeps the promise where σ + 1 does not (or at the ceiling). When even the floor
 * misses, the promise is reported as not met (as any compile does) and auto still takes the largest
 * σ that costs nothing more than the floor (coefficient masks, up to the modulus room), else the floor.
 */
import { DeepPowersError } from '../../errors';
import { MASK_BITS_AUTO } from '../../plan/refresh-plan';
import type { PrecisionPromise } from '../../approx/precision-target';
import type { PlanSearch } from './plan-search';

/** One σ the auto search compiled at: whether its plan kept the promise, or why no plan fit. */
export interface MaskTrial {
  readonly bits: number;
  /** The plan's promise at this σ; absent when no plan fit (then `refused` says why). */
  readonly precision?: Pick<PrecisionPromise, 'bound' | 'approximationError' | 'noiseBound' | 'reached'>;
  readonly refused?: string;
}

/** The σ a body with client steps was compiled at, and how it was chosen. */
export interface MaskChoice {
  /** 'auto': the largest σ in [20, 40] keeping the promise; 'explicit': --mask-bits σ. */
  readonly mode: 'auto' | 'explicit';
  readonly bits: number;
  /** Slots of one ciphertext: over all of them the per-slot distance 2^−σ adds up to slots·2^−σ. */
  readonly slots: number;
  /** Auto: each σ compiled, in the order tried. */
  readonly tried: readonly MaskTrial[];
  /** Auto below the ceiling: why not MASK_BITS_AUTO.max, in words. */
  readonly whyNotMax?: string;
}

export type MaskBitsRequest = number | 'auto';

/**
 * Runs `searchAt` at the σ asked for, or (auto) at the σ the rule above picks. `guess` says, from a
 * search's plan, the largest σ that plan would hold (refresh-plan.ts: largestMaskBitsFor); each σ
 * is still compiled to check, since another σ can change the plan. The floor is compiled first: a
 * plan it does not cut (no client steps, or one circuit is faster) uses no σ and is kept.
 */
export function searchMaskBits(request: MaskBitsRequest, searchAt: (bits: number) => PlanSearch, guess: (search: PlanSearch) => number): { search: PlanSearch; mask: MaskChoice | null } {
  if (request !== 'auto') {
    const search = searchAt(request);
    return { search, mask: choiceOf(search, { mode: 'explicit', bits: request, tried: [] }) };
  }
  const { min, max } = MASK_BITS_AUTO;
  const tried: MaskTrial[] = [];
  // Only the floor's search and the largest acceptable σ's are kept: a search holds every layout's
  // scaled segment circuits, and a transformer's batch-layout ones, kept for each σ tried, fill the JS heap.
  let floorSearch: PlanSearch | null = null;
  let best: { readonly bits: number; readonly search: PlanSearch } | null = null;
  // Whether a compiled σ is acceptable: it keeps the promise; or, when not even the floor does,
  // it costs nothing more (coefficient masks: the promise's terms do not grow with σ).
  let acceptable = (precision: PlanSearch['plan']['precision']): boolean => precision.reached;
  const holds = (bits: number): boolean => {
    try {
      const search = searchAt(bits);
      if (bits === min) floorSearch = search;
      const { bound, approximationError, noiseBound, reached } = search.plan.precision;
      tried.push({ bits, precision: { bound, approximationError, noiseBound, reached } });
      const ok = acceptable(search.plan.precision);
      if (ok && (best === null || bits > best.bits)) best = { bits, search };
      return ok;
    } catch (e) {
      // The floor's refusal is the compile's (no plan fits at any σ it would try).
      if (!(e instanceof DeepPowersError) || e.code !== 'PARAMS' || bits === min) throw e;
      tried.push({ bits, refused: e.message });
      return false;
    }
  };
  const floorHolds = holds(min);
  let floor: PlanSearch | null = floorSearch!;
  if (!floor.plan.refresh) return { search: floor, mask: null };
  const floorGuess = guess(floor);
  if (!floorHolds) {
    const floorCost = floor.plan.precision.approximationError + floor.plan.precision.noiseBound;
    acceptable = (precision) => precision.approximationError + precision.noiseBound <= floorCost;
    // A slot mask's rounding grows with σ: nothing above the floor costs nothing.
    if (!holds(min + 1)) return { search: floor, mask: choiceOf(floor, { mode: 'auto', bits: min, tried, whyNotMax: whyNot(tried, min) }) };
  }
  floorSearch = floor = null;
  // lo is acceptable; hi (once known) is not.
  let lo: number = floorHolds ? min : min + 1;
  let hi: number | undefined;
  const g = Math.max(min, Math.min(max, floorHolds ? floorGuess : max));
  if (g > lo) {
    if (holds(g)) lo = g;
    else hi = g;
  }
  if (hi === undefined && lo < max) {
    if (!holds(lo + 1)) hi = lo + 1;
    else if (lo + 1 === max || holds(max)) lo = max;
    else [lo, hi] = [lo + 1, max];
  }
  while (hi !== undefined && hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (holds(mid)) lo = mid;
    else hi = mid;
  }
  const kept = best as { readonly bits: number; readonly search: PlanSearch } | null;
  if (kept === null || kept.bits !== lo) throw new Error(`mask search ended at σ = ${lo} without its plan`);
  const search = kept.search;
  const missed = floorHolds ? '' : `not even σ = ${min} keeps the precision promise, and a larger σ costs it nothing (masks on coefficients): `;
  return { search, mask: choiceOf(search, { mode: 'auto', bits: lo, tried, ...(lo < max ? { whyNotMax: missed + whyNot(tried, lo, !floorHolds) } : {}) }) };
}

/** The choice, or null when the plan has no client steps (σ was not used). */
function choiceOf(search: PlanSearch, choice: Omit<MaskChoice, 'slots'>): MaskChoice | null {
  const refresh = search.plan.refresh;
  if (!refresh) return null;
  return { ...choice, slots: refresh.params.slots };
}

/** Why auto stopped at `bits`: the outcome at σ + 1 (and at the ceiling when it was compiled). */
function whyNot(tried: readonly MaskTrial[], bits: number, promiseMissed = false): string {
  const at = (b: number): string | undefined => {
    const t = tried.find((x) => x.bits === b);
    if (!t) return undefined;
    if (t.refused !== undefined) return `σ = ${b}: no plan fits (${t.refused})`;
    const p = t.precision!;
    return `σ = ${b}: approximation ${p.approximationError.toPrecision(3)} + CKKS noise and mask rounding ${p.noiseBound.toPrecision(3)} = ${(p.approximationError + p.noiseBound).toPrecision(3)} > ${p.bound.toPrecision(3)}`;
  };
  if (!promiseMissed && !tried.find((t) => t.bits === bits)?.precision?.reached) return `not even σ = ${bits} keeps the precision promise (${at(bits)}): the floor is kept`;
  const above = [bits + 1, ...(bits + 1 < MASK_BITS_AUTO.max ? [MASK_BITS_AUTO.max] : [])].flatMap((b) => at(b) ?? []);
  return `no larger σ compiled ${promiseMissed ? 'fits at that cost' : 'keeps it'} (${above.join('; ')})`;
}
