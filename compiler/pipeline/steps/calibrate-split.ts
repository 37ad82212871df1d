/**
 * Compile step 3: the exact split model and the calibration input → the calibration rows (the
 * prologue applied), each ReLU's units rescaled to a common range (per-unit bounds folded into the
 * neighbouring affine maps, unless per-unit ranges are off) and the activation ranges of the
 * rescaled chain, which computes the same function.
 */
import { calibrateStages, type Calibration } from '../../approx/calibrate';
import { DEFAULT_MARGIN, type FitMethod } from '../../approx/fit';
import { reluUnitBounds, scaleUnits, UNIT_MARGIN, type UnitBounds } from '../../approx/unit-scaling';
import { runPrologue } from '../../chain/run';
import type { SplitModel } from '../../chain/stages';
import type { NumericTensor } from '../../graph/tensor';

export interface CalibratedSplit {
  /** The split whose body is the rescaled exact chain: what the circuit approximates. */
  readonly split: SplitModel;
  /** Calibration rows as body inputs. */
  readonly rows: Float64Array[];
  readonly unitBounds: UnitBounds;
  /** Activation inputs of the rescaled chain on `rows`. */
  readonly calibration: Calibration;
}

export interface CalibrationOptions {
  /** Default true; false fits every activation on one range per layer. */
  readonly perUnitRanges?: boolean;
  readonly margin?: number;
  /** The fit method: a degree-2 square does not blow up outside its range, so it keeps the plain margin. */
  readonly method?: FitMethod;
}

export function calibrateSplit(split: SplitModel, input: NumericTensor, options: CalibrationOptions): CalibratedSplit {
  const rows = runPrologue(split, input);
  const unscaled = calibrateStages(split.body, rows);
  const unitBounds = options.perUnitRanges === false ? new Map<number, Float64Array>() : reluUnitBounds(split.body, unscaled, options.margin ?? (options.method === 'square' ? DEFAULT_MARGIN : UNIT_MARGIN));
  const body = scaleUnits(split.body, unitBounds);
  const calibration = unitBounds.size > 0 ? calibrateStages(body, rows) : unscaled;
  return { split: { ...split, body }, rows, unitBounds, calibration };
}
