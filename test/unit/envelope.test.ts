import { describe, expect, test } from 'vitest';
import { sha256Hex } from '../../compiler/artifact/model-hash';
import { readEnvelope, writeEnvelope, type Envelope, type EnvelopeExpectation } from '../../runtime/wire/envelope';
import { refusalOf } from '../helpers/refusal';

const modelHash = sha256Hex(new TextEncoder().encode('model A'));
const otherModel = sha256Hex(new TextEncoder().encode('model B'));
const parts = [Uint8Array.from([1, 2, 3]), new Uint8Array(0), Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff)];
const env: Envelope = { kind: 'ciphertexts', modelHash, parameterId: 'ckks-8192-60.40.60', parts };
const expectation: EnvelopeExpectation = { kind: 'ciphertexts', modelHash, parameterId: 'ckks-8192-60.40.60', count: 3 };

/** The BAD_CIPHERTEXT message readEnvelope gives for these bytes (fails the test if it accepts them). */
function rejection(bytes: Uint8Array, want: EnvelopeExpectation = expectation): string {
  return refusalOf(() => readEnvelope(bytes, want), 'BAD_CIPHERTEXT').message;
}

describe('envelope', () => {
  test('round-trips parts, kind, model hash and parameter id', () => {
    const bytes = writeEnvelope(env);
    const back = readEnvelope(bytes, expectation);
    expect(back.kind).toBe('ciphertexts');
    expect(back.modelHash).toBe(modelHash);
    expect(back.parameterId).toBe(env.parameterId);
    expect(back.parts.map((p) => Array.from(p))).toEqual(parts.map((p) => Array.from(p)));
  });

  test('accepts an uppercase model hash as the same model', () => {
    const bytes = writeEnvelope({ ...env, modelHash: modelHash.toUpperCase() });
    expect(readEnvelope(bytes, expectation).modelHash).toBe(modelHash);
  });

  test('rejects a different magic', () => {
    const bytes = writeEnvelope(env);
    bytes[0] = 'X'.charCodeAt(0);
    expect(rejection(bytes)).toMatch(/not a DeepPowers envelope/);
    expect(rejection(Uint8Array.from([1, 2]))).toMatch(/not a DeepPowers envelope/);
  });

  test('rejects another format version', () => {
    const bytes = writeEnvelope(env);
    bytes[4] = 9;
    expect(rejection(bytes)).toMatch(/format version 9/);
  });

  test('rejects every truncation as truncated', () => {
    const bytes = writeEnvelope(env);
    for (const cut of [10, 45, 60, bytes.length - 500, bytes.length - 1]) {
      expect(rejection(bytes.subarray(0, cut))).toMatch(/truncated/);
    }
  });

  test('rejects trailing bytes', () => {
    const bytes = writeEnvelope(env);
    const longer = new Uint8Array(bytes.length + 5);
    longer.set(bytes);
    expect(rejection(longer)).toMatch(/unexpected bytes after the checksum/);
  });

  test('rejects a single flipped bit anywhere in the payload or header claims', () => {
    const bytes = writeEnvelope(env);
    for (const at of [7, 20, bytes.length - 700, bytes.length - 40, bytes.length - 1]) {
      const t = Uint8Array.from(bytes);
      t[at]! ^= 0x10;
      expect(rejection(t)).toMatch(/checksum mismatch/);
    }
  });

  test('rejects envelopes made for another model, other parameters, another kind or count', () => {
    expect(rejection(writeEnvelope({ ...env, modelHash: otherModel }))).toMatch(/made for model .* not for this model/);
    expect(rejection(writeEnvelope({ ...env, parameterId: 'ckks-16384' }))).toMatch(/parameter set "ckks-16384", not "ckks-8192-60.40.60"/);
    expect(rejection(writeEnvelope({ ...env, kind: 'result' }))).toMatch(/this is encrypted result, not encrypted input/);
    expect(rejection(writeEnvelope({ ...env, parts: parts.slice(0, 2) }))).toMatch(/holds 2 parts, expected 3/);
  });

  test('refuses to write a malformed model hash', () => {
    expect(() => writeEnvelope({ ...env, modelHash: 'abc' })).toThrow(/64 hex digits/);
  });
});
