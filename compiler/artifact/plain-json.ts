import { fail } from '../errors';
import type { JsonValue } from './json-text';

/**
 * A plain-data value (numbers, strings, booleans, null, arrays and plain objects, as
 * CkksParameters, OpCounts and LatencyEstimate are) as JSON. Anything else, a Map, a typed array,
 * undefined, a non-finite number, is a bug in the caller, reported with its path.
 */
export function plainJson(value: unknown, where: string): JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail('BAD_ARTIFACT', `cannot write ${where}: ${value} is not a finite number`);
    return value;
  }
  if (Array.isArray(value)) return value.map((v, i) => plainJson(v, `${where}[${i}]`));
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainJson(v, `${where}.${k}`)]));
  }
  fail('BAD_ARTIFACT', `cannot write ${where}: not plain data (${Object.prototype.toString.call(value)})`);
}
