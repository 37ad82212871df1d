import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeepPowersError } from '../../compiler/errors';
import { importModel } from '../../compiler/onnx/import';

/**
 * Byte-level fuzzing of the importer on real exports: whatever the bytes, importModel either
 * returns a graph or throws DeepPowersError, and it does so quickly. The PRNG is seeded so a
 * failure names a case that can be replayed exactly.
 */
const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const CASES = 3000;
const SEED = 0x5eed2;
/** Far above a normal import (about a millisecond); a case this slow means a near-hang. */
const SLOW_MS = 2000;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Mutation = 'flip' | 'overwrite' | 'special' | 'insert' | 'delete' | 'duplicate' | 'truncate';
const MUTATIONS: readonly Mutation[] = ['flip', 'overwrite', 'special', 'insert', 'delete', 'duplicate', 'truncate'];
/** Bytes that mean something to protobuf: zero, varint continuation, maximal and sign bits. */
const SPECIAL = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x12, 0x1a, 0x22, 0x3a];

function mutate(input: Uint8Array, rand: () => number): { bytes: Uint8Array; steps: string[] } {
  let b = input;
  const steps: string[] = [];
  const int = (n: number) => Math.floor(rand() * n);
  const count = 1 + int(4);
  for (let s = 0; s < count && b.length > 0; s++) {
    const kind = MUTATIONS[int(MUTATIONS.length)]!;
    const at = int(b.length);
    const len = 1 + int(Math.min(16, b.length - at));
    switch (kind) {
      case 'flip': {
        b = b.slice();
        b[at] = b[at]! ^ (1 << int(8));
        break;
      }
      case 'overwrite': {
        b = b.slice();
        for (let i = 0; i < len; i++) b[at + i] = int(256);
        break;
      }
      case 'special': {
        b = b.slice();
        b[at] = SPECIAL[int(SPECIAL.length)]!;
        break;
      }
      case 'insert': {
        const extra = Uint8Array.from({ length: len }, () => int(256));
        b = concat(b.subarray(0, at), extra, b.subarray(at));
        break;
      }
      case 'delete':
        b = concat(b.subarray(0, at), b.subarray(at + len));
        break;
      case 'duplicate':
        b = concat(b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len));
        break;
      case 'truncate':
        b = b.slice(0, at);
        break;
    }
    steps.push(`${kind}@${at}${kind === 'flip' || kind === 'special' || kind === 'truncate' ? '' : `+${len}`}`);
  }
  return { bytes: b, steps };
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

interface Outcome {
  readonly imported: number;
  readonly refused: Map<string, number>;
  readonly slowest: { ms: number; name: string };
}

function importOrRefuse(bytes: Uint8Array, name: string, outcome: Outcome): void {
  const t0 = performance.now();
  try {
    importModel(bytes, name);
    (outcome as { imported: number }).imported++;
  } catch (e) {
    if (!(e instanceof DeepPowersError)) {
      throw new Error(`${name}: importModel threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}\n${(e as Error)?.stack}`);
    }
    expect(e.message.length).toBeGreaterThan(0);
    expect(e.message).not.toContain('\n');
    outcome.refused.set(e.code, (outcome.refused.get(e.code) ?? 0) + 1);
  }
  const ms = performance.now() - t0;
  if (ms > outcome.slowest.ms) Object.assign(outcome.slowest, { ms, name });
}

const fixtures = existsSync(FIXTURES)
  ? readdirSync(FIXTURES)
      .filter((d) => existsSync(join(FIXTURES, d, 'model.onnx')))
      .sort()
      .map((d) => ({ name: d, bytes: new Uint8Array(readFileSync(join(FIXTURES, d, 'model.onnx'))) }))
  : [];

describe('importer fuzzing', () => {
  it('has fixture models to mutate', () => {
    expect(fixtures.length).toBeGreaterThan(0);
  });

  it('refuses every truncation of every fixture with DeepPowersError', () => {
    const outcome: Outcome = { imported: 0, refused: new Map(), slowest: { ms: 0, name: '' } };
    for (const f of fixtures) {
      // Every prefix for small models; an even spread of cut points for larger ones.
      const step = Math.max(1, Math.floor(f.bytes.length / 400));
      for (let cut = 0; cut < f.bytes.length; cut += step) importOrRefuse(f.bytes.subarray(0, cut), `${f.name} truncated to ${cut} bytes`, outcome);
    }
    expect(outcome.slowest.ms, `slowest: ${outcome.slowest.name}`).toBeLessThan(SLOW_MS);
  }, 60_000);

  it(`survives ${CASES} seeded random byte mutations`, () => {
    const rand = mulberry32(SEED);
    const outcome: Outcome = { imported: 0, refused: new Map(), slowest: { ms: 0, name: '' } };
    for (let i = 0; i < CASES; i++) {
      const f = fixtures[i % fixtures.length]!;
      const { bytes, steps } = mutate(f.bytes, rand);
      importOrRefuse(bytes, `case ${i} (${f.name}: ${steps.join(', ')})`, outcome);
    }
    // Both outcomes occur: mutations that keep the model valid and ones that break it.
    expect(outcome.refused.size).toBeGreaterThan(0);
    expect(outcome.slowest.ms, `slowest: ${outcome.slowest.name}`).toBeLessThan(SLOW_MS);
    console.log(`fuzz: ${outcome.imported} imported, refused ${JSON.stringify(Object.fromEntries(outcome.refused))}, slowest ${outcome.slowest.ms.toFixed(1)} ms`);
  }, 60_000);
});
