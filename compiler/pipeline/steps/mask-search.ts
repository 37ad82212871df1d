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
 * `auto` (the default) prefers the ceiling, MASK_BITS_AUTO.max = 40 bits, the margin wanted: the
 * whole plan search runs at 40 first, and a plan there that keeps the promise (or that no client
 * step cuts, so σ is unused) is the compile's, one search. Otherwise the floor, MASK_BITS_AUTO.min,
 * is compiled (its refusal is the compile's; a plan it does not cut uses no mask and is kept):
 *   - the floor keeps the promise: auto takes the largest σ that does, by the same accounting an
 *     explicit `--mask-bits σ` compile uses: from the floor's plan the largest σ it would hold
 *     unchanged is the guess, which is compiled, then σ + 1, and bisection between a σ that keeps
 *     the promise and one that does not (40, known). The mask's share of the promise grows with σ,
 *     so one boundary is expected; the search ends at a σ that keeps the promise where σ + 1 does not.
 *   - not even the floor keeps it (the promise is reported as not met, as any compile does): when
 *     every step of the plan at 40 masks coefficients, σ costs no precision there, only modulus
 *     room (a smaller scale at worst), and a promise missed at every σ is no reason to give up the
 *     margin, so auto keeps 40 (two searches in all). With slot masks σ costs float64 mantissa, so
 *     auto takes the largest σ that costs nothing more than the floor, else the floor.
 */
import { DeepPowersError } from '../../errors';
import { MASK_BITS_AUTO } from '../../plan/refresh-plan';
import { stepKind } from '../../client-steps/table';
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
  const compile = (bits: number, refusalIsTheCompiles: boolean): PlanSearch | null => {
    try {
      const search = searchAt(bits);
      const { bound, approximationError, noiseBound, reached } = search.plan.precision;
      tried.push({ bits, precision: { bound, approximationError, noiseBound, reached } });
      return search;
    } catch (e) {
      if (!(e instanceof DeepPowersError) || e.code !== 'PARAMS' || refusalIsTheCompiles) throw e;
      tried.push({ bits, refused: e.message });
      return null;
    }
  };
  // The ceiling first: where it holds (or nothing is cut) one search is the whole compile.
  const ceiling = compile(max, false);
  if (ceiling && (!ceiling.plan.refresh || ceiling.plan.precision.reached)) return { search: ceiling, mask: choiceOf(ceiling, { mode: 'auto', bits: max, tried }) };
  // The floor's refusal is the compile's (no plan fits at any σ it would try).
  const floor = compile(min, true)!;
  if (!floor.plan.refresh) return { search: floor, mask: null };
  const floorHolds = floor.plan.precision.reached;
  if (!floorHolds && ceiling && coefficientsOnly(ceiling)) return { search: ceiling, mask: choiceOf(ceiling, { mode: 'auto', bits: max, tried }) };
  const floorGuess = guess(floor);
  // Only the floor's search and the largest acceptable σ's are kept: a search holds every layout's
  // scaled segment circuits, and a transformer's batch-layout ones, kept for each σ tried, fill the JS heap.
  let best: { readonly bits: number; readonly search: PlanSearch } = { bits: min, search: floor };
  // Whether a compiled σ is acceptable: it keeps the promise; or, when not even the floor does,
  // it costs nothing more (slot masks: the promise's mask term grows with σ).
  const floorCost = floor.plan.precision.approximationError + floor.plan.precision.noiseBound;
  const acceptable = (precision: MaskTrial['precision']): boolean =>
    precision !== undefined && (floorHolds ? precision.reached : precision.approximationError + precision.noiseBound <= floorCost);
  const holds = (bits: number): boolean => {
    // A σ already compiled (the ceiling) is not compiled again unless its search is the one to keep.
    const known = tried.find((t) => t.bits === bits);
    if (known && !acceptable(known.precision)) return false;
    const search = compile(bits, false);
    const ok = search !== null && acceptable(search.plan.precision);
    if (ok && bits > best.bits) best = { bits, search: search! };
    return ok;
  };
  if (!floorHolds && !holds(min + 1)) return { search: floor, mask: choiceOf(floor, { mode: 'auto', bits: min, tried, whyNotMax: whyNot(tried, min) }) };
  // lo is acceptable; hi (once known) is not. With the floor holding, the ceiling (compiled first) did not.
  let lo: number = floorHolds ? min : min + 1;
  let hi: number | undefined = floorHolds ? max : undefined;
  const g = Math.max(min, Math.min(max, floorHolds ? floorGuess : max));
  if (g > lo && (hi === undefined || g < hi)) {
    if (holds(g)) lo = g;
    else hi = g;
  }
  if (hi === undefined && lo < max) {
    if (!holds(lo + 1)) hi = lo + 1;
    else if (lo + 1 === max || holds(max)) lo = max;
    else [lo, hi] = [lo + 1, max];
  } else if (hi !== undefined && hi - lo > 1) {
    // σ + 1 next: a right guess ends here.
    if (holds(lo + 1)) lo += 1;
    else hi = lo + 1;
  }
  while (hi !== undefined && hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (holds(mid)) lo = mid;
    else hi = mid;
  }
  if (best.bits !== lo) throw new Error(`mask search ended at σ = ${lo} without its plan`);
  const missed = floorHolds ? '' : `not even σ = ${min} keeps the precision promise, and a larger σ costs it nothing (masks on coefficients): `;
  return { search: best.search, mask: choiceOf(best.search, { mode: 'auto', bits: lo, tried, ...(lo < max ? { whyNotMax: missed + whyNot(tried, lo, !floorHolds) } : {}) }) };
}

/** Whether every client step of the search's plan masks coefficients (σ costs no precision, only room). */
function coefficientsOnly(search: PlanSearch): boolean {
  return search.plan.refresh !== null && search.plan.refresh.steps.every((s) => stepKind(s.kind).domain === 'coefficients');
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
