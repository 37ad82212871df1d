import { fail } from '../errors';

/** Plain JSON, as the manifest holds it. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | JsonObject;
export interface JsonObject {
  readonly [key: string]: JsonValue;
}

/**
 * JSON text that depends only on the value: object keys sorted (never insertion order), numbers in
 * the shortest form that reads back to the same double, −0 kept as `-0`, no whitespace. This is
 * what the model hash covers.
 */
export function canonicalJson(value: JsonValue): string {
  return write(value, '$', null, 0, []);
}

/**
 * The same values laid out for people: nested values indented, values made only of scalars (an
 * op, a number list) on one line. `topKeys` fixes the order of the outermost object's keys;
 * deeper down the keys that say what an object is (op, kind, name, type) come first. Any other
 * keys follow, sorted. Still a function of the value alone.
 */
export function prettyJson(value: JsonValue, topKeys: readonly string[] = []): string {
  return write(value, '$', '', 0, topKeys) + '\n';
}

function write(value: JsonValue, path: string, indent: string | null, depth: number, topKeys: readonly string[]): string {
  if (value === null || typeof value === 'boolean') return String(value);
  if (typeof value === 'number') return numberText(value, path);
  if (typeof value === 'string') return JSON.stringify(value);
  const pad = indent === null ? null : '  '.repeat(depth + 1);
  const close = indent === null ? '' : '\n' + '  '.repeat(depth);
  if (Array.isArray(value)) {
    const items = (value as readonly JsonValue[]).map((v, i) => write(v, `${path}[${i}]`, indent, depth + 1, []));
    if (pad === null || items.length === 0 || (value as readonly JsonValue[]).every(isScalar)) return `[${items.join(pad === null ? ',' : ', ')}]`;
    return `[\n${items.map((s) => pad + s).join(',\n')}${close}]`;
  }
  const obj = value as JsonObject;
  const keys = indent === null ? orderedKeys(obj, []) : orderedKeys(obj, depth === 0 ? topKeys : LEAD_KEYS);
  const entries = keys.map((k) => {
    const v = obj[k];
    if (v === undefined) fail('BAD_ARTIFACT', `cannot write ${path}.${k}: value is undefined`);
    return `${JSON.stringify(k)}:${pad === null ? '' : ' '}${write(v, `${path}.${k}`, indent, depth + 1, [])}`;
  });
  if (pad === null || entries.length === 0 || keys.every((k) => isScalar(obj[k]!))) return `{${entries.join(pad === null ? ',' : ', ')}}`;
  return `{\n${entries.map((s) => pad + s).join(',\n')}${close}}`;
}

const LEAD_KEYS = ['op', 'kind', 'name', 'type'];

function orderedKeys(obj: JsonObject, first: readonly string[]): string[] {
  const rest = Object.keys(obj)
    .filter((k) => !first.includes(k))
    .sort(compareKeys);
  return [...first.filter((k) => Object.hasOwn(obj, k)), ...rest];
}

/** Code-unit order, independent of locale. */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isScalar(v: JsonValue): boolean {
  return v === null || typeof v !== 'object';
}

function numberText(x: number, path: string): string {
  if (!Number.isFinite(x)) fail('BAD_ARTIFACT', `cannot write ${path}: ${x} is not a finite number`);
  // JSON.stringify(-0) is "0"; "-0" is valid JSON and JSON.parse gives −0 back.
  return Object.is(x, -0) ? '-0' : JSON.stringify(x);
}

/**
 * A float that may be NaN, ±Infinity (ONNX attributes such as Imputer's missing value) or −0,
 * none of which survive JSON numbers through an ordinary serializer (JSON.stringify writes −0 as
 * 0): those are written as the strings "NaN", "Infinity", "-Infinity", "-0".
 */
export function floatToJson(x: number): JsonValue {
  return Number.isFinite(x) && !Object.is(x, -0) ? x : String(Object.is(x, -0) ? '-0' : x);
}
