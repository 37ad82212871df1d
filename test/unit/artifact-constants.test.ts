import { describe, expect, it } from 'vitest';
import { CONSTANTS_MAGIC, decodeConstants, encodeConstants, type ConstantEntry } from '../../compiler/artifact/constants-bin';
import { canonicalJson, floatToJson, prettyJson } from '../../compiler/artifact/json-text';
import { JsonAt } from '../../compiler/artifact/json-read';
import { artifactRefusal } from '../helpers/refusal';

const entries: ConstantEntry[] = [
  { kind: 'f64', data: Float64Array.of(1.5, -0, Number.NaN, Number.POSITIVE_INFINITY, 5e-324, Math.PI) },
  { kind: 'strings', data: ['', 'α', 'cat', '🐈'] },
  { kind: 'f64', data: new Float64Array(0) },
  { kind: 'strings', data: ['abc'] },
];

describe('constants.bin container', () => {
  const bytes = encodeConstants(entries);

  it('round-trips float64 bit patterns and UTF-8 strings, entries 8-byte aligned', () => {
    const back = decodeConstants(bytes);
    expect(back).toHaveLength(4);
    const f = back[0]!;
    expect(f.kind).toBe('f64');
    const want = entries[0]!.data as Float64Array;
    expect(Buffer.from((f.data as Float64Array).buffer).equals(Buffer.from(want.buffer))).toBe(true);
    expect(back[1]).toEqual(entries[1]);
    expect(back[2]).toEqual(entries[2]);
    expect(back[3]).toEqual(entries[3]);
    // header 16 + (8 + 48) + (8 + 4+0 + 4+2 + 4+3 + 4+4 = 25 → 32) + 8 + (8 + 7 → 8)
    expect(bytes.length).toBe(16 + 56 + 40 + 8 + 16);
    expect(Buffer.from(bytes.subarray(0, 8)).toString('latin1')).toBe(CONSTANTS_MAGIC);
    expect(decodeConstants(encodeConstants([]))).toEqual([]);
  });

  it('refuses a bad signature, an unknown container version, truncation, unknown kinds, trailing bytes, nonzero padding and bad UTF-8', () => {
    const edit = (at: number, value: number): Uint8Array => {
      const b = Uint8Array.from(bytes);
      b[at] = value;
      return b;
    };
    expect(artifactRefusal(() => decodeConstants(bytes.subarray(0, 7)))).toMatch(/only 7 bytes, shorter than the 16-byte header \(truncated\)/);
    expect(artifactRefusal(() => decodeConstants(edit(0, 0x78)))).toMatch(/does not start with the DeepPowers constants signature/);
    expect(artifactRefusal(() => decodeConstants(edit(8, 2)))).toMatch(/container version 2 is not supported \(this build reads 1\)/);
    expect(artifactRefusal(() => decodeConstants(bytes.subarray(0, 40)))).toMatch(/truncated: entry 0 \(6 float64\) needs 48 bytes at offset 24, the file has 16 left/);
    expect(artifactRefusal(() => decodeConstants(bytes.subarray(0, bytes.length - 8)))).toMatch(/truncated: entry 3/);
    expect(artifactRefusal(() => decodeConstants(edit(16, 7)))).toMatch(/entry 0 at offset 16 has unknown kind 7/);
    expect(artifactRefusal(() => decodeConstants(Uint8Array.from([...bytes, 0, 0, 0, 0, 0, 0, 0, 0])))).toMatch(/8 unexpected bytes after the last of 4 entries/);
    // Entry 3 is "abc": 4-byte length, 3 bytes, then one padding byte at the very end.
    expect(artifactRefusal(() => decodeConstants(edit(bytes.length - 1, 1)))).toMatch(/entry 3 has nonzero padding at offset \d+/);
    expect(artifactRefusal(() => decodeConstants(edit(bytes.length - 4, 0xff)))).toMatch(/entry 3 string 0 is not valid UTF-8/);
    const more = Uint8Array.from(bytes);
    new DataView(more.buffer).setUint32(12, 5, true);
    expect(artifactRefusal(() => decodeConstants(more))).toMatch(/truncated: entry 4 header needs 8 bytes/);
  });
});

describe('manifest JSON text', () => {
  it('canonical text sorts keys by code unit at every depth, keeps −0 and full precision', () => {
    const value = { b: [1, { z: 0.1 + 0.2, a: -0 }], a: 'x', B: null, é: true };
    expect(canonicalJson(value)).toBe('{"B":null,"a":"x","b":[1,{"a":-0,"z":0.30000000000000004}],"é":true}');
    const back = JSON.parse(canonicalJson(value)) as typeof value;
    expect(Object.is((back.b[1] as { a: number }).a, -0)).toBe(true);
    expect(canonicalJson({ k: 1e21, s: 5e-324 })).toBe('{"k":1e+21,"s":5e-324}');
  });

  it('refuses non-finite numbers with their path (they would silently become null)', () => {
    expect(artifactRefusal(() => canonicalJson({ a: [1, Number.NaN] }))).toMatch(/cannot write \$\.a\[1\]: NaN is not a finite number/);
    expect(artifactRefusal(() => prettyJson({ a: { b: Number.POSITIVE_INFINITY } }))).toMatch(/cannot write \$\.a\.b: Infinity/);
  });

  it('pretty text puts scalar-only values on one line, top keys in the given order, and parses to the same value', () => {
    const value = { z: 1, ops: [{ op: 'add', a: 0, b: 1 }], first: { kind: 'x', list: [1, 2] } };
    const text = prettyJson(value, ['first', 'ops']);
    expect(text).toBe(
      ['{', '  "first": {', '    "kind": "x",', '    "list": [1, 2]', '  },', '  "ops": [', '    {"op": "add", "a": 0, "b": 1}', '  ],', '  "z": 1', '}', ''].join('\n'),
    );
    expect(JSON.parse(text)).toEqual(value);
  });

  it('floats that JSON numbers cannot carry travel as strings and read back exactly', () => {
    const values = [1.25, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
    const text = JSON.stringify(values.map(floatToJson));
    expect(text).toBe('[1.25,"-0","NaN","Infinity","-Infinity"]');
    const back = JsonAt.root(JSON.parse(text), 'test')
      .items()
      .map((x) => x.float());
    back.forEach((x, i) => expect(Object.is(x, values[i])).toBe(true));
  });
});
