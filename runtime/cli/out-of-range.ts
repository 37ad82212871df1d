import { InvalidArgumentError, Option } from 'commander';
import { DEFAULT_OUT_OF_RANGE, OUT_OF_RANGE_POLICIES, type OutOfRangePolicy } from '../data/input-range';

function parseOutOfRange(value: string): OutOfRangePolicy {
  if ((OUT_OF_RANGE_POLICIES as readonly string[]).includes(value)) return value as OutOfRangePolicy;
  throw new InvalidArgumentError(`unknown policy "${value}"; choose one of: ${OUT_OF_RANGE_POLICIES.join(', ')}`);
}

/** The --out-of-range option, the same on predict and client. */
export function outOfRangeOption(): Option {
  return new Option(
    '--out-of-range <policy>',
    `a row with a value outside the calibrated input range: clamp (run it with those values moved to the range's edge), refuse (no answer for that row, a reason instead) or allow (run it as given; its encrypted result can be wrong); every such row is listed (default ${DEFAULT_OUT_OF_RANGE})`,
  ).argParser(parseOutOfRange);
}

