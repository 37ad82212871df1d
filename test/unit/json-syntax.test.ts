import { describe, expect, test } from 'vitest';
import { JsonSyntaxCheck } from '../../runtime/mcp/json-syntax';
import { mulberry32 } from '../helpers/random';

/**
 * The incremental check that lets the HTTP server refuse a garbage body after one chunk. Its
 * reference is JSON.parse: it must accept every text JSON.parse accepts (whatever the chunking),
 * and whatever it rejects JSON.parse must reject too.
 */

const encode = (s: string) => new TextEncoder().encode(s);

function check(text: string | Uint8Array, chunkSizes: readonly number[] = []): JsonSyntaxCheck {
  const bytes = typeof text === 'string' ? encode(text) : text;
  const c = new JsonSyntaxCheck();
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = chunkSizes.length === 0 ? bytes.length : chunkSizes[i % chunkSizes.length]!;
    if (!c.push(bytes.subarray(at, at + size))) break;
    at += size;
  }
  return c;
}

function randomValue(next: () => number, depth: number): unknown {
  const pick = Math.floor(next() * (depth > 3 ? 5 : 7));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return next() < 0.5;
    case 2:
      return (next() - 0.5) * 10 ** Math.floor(next() * 40 - 20);
    case 3:
      return Math.floor((next() - 0.5) * 1e6);
    case 4:
      return String.fromCharCode(...Array.from({ length: Math.floor(next() * 12) }, () => Math.floor(next() * 0x3000)));
    case 5:
      return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(next, depth + 1));
    default:
      return Object.fromEntries(Array.from({ length: Math.floor(next() * 4) }, (_, i) => [`k${i}\u00e9"\\`, randomValue(next, depth + 1)]));
  }
}

/** JSON.stringify's text with whitespace sprinkled between tokens (outside strings). */
function withSpaces(text: string, next: () => number): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (!inString && '{}[],:'.includes(ch) && next() < 0.3) out += ' \n\t\r'[Math.floor(next() * 4)]!;
    out += ch;
    if (ch === '"' && text[i - 1] !== '\\') inString = !inString;
    else if (ch === '\\' && inString) out += text[++i]!;
  }
  return out;
}

describe('JsonSyntaxCheck', () => {
  test('accepts hand-picked valid texts and says they are complete', () => {
    for (const text of ['{}', '[]', ' [ ] ', '0', '-1.5e-3 ', '"a\\u00e9\\n"', 'true', 'null', '{"a":[1,{"b":false}],"c":"\\""}', '[[],[{}]]']) {
      const c = check(text);
      expect(c.error, text).toBeUndefined();
      expect(c.complete(), text).toBe(true);
    }
  });

  test('rejects hand-picked invalid texts at the byte that breaks them', () => {
    const cases: [string, number][] = [
      ['x', 0],
      ['{"a" 1}', 5],
      ['[1,]', 3],
      ['{"a":1,}', 7],
      ['{1:2}', 1],
      ['"\\q"', 2],
      ['"\\u12g4"', 5],
      ['tru e', 3],
      ['{} {}', 3],
      ['"a\nb"', 2],
      ['[}', 1],
    ];
    for (const [text, offset] of cases) {
      const c = check(text);
      expect(c.error, text).toMatch(new RegExp(`at offset ${offset}$`));
      expect(() => JSON.parse(text), text).toThrow();
    }
  });

  test('a prefix of a valid text is not complete', () => {
    for (const text of ['{', '{"a":', '[1,2', '"abc', 'nul']) {
      const c = check(text);
      expect(c.error, text).toBeUndefined();
      expect(c.complete(), text).toBe(false);
    }
  });

  test('accepts 500 random JSON.stringify texts, split into random chunks', () => {
    const next = mulberry32(7);
    for (let i = 0; i < 500; i++) {
      const text = withSpaces(JSON.stringify(randomValue(next, 0)), next);
      JSON.parse(text);
      const c = check(text, [1 + Math.floor(next() * 7), 1 + Math.floor(next() * 50)]);
      expect(c.error, text).toBeUndefined();
      expect(c.complete(), text).toBe(true);
    }
  });

  test('whatever it rejects JSON.parse rejects too (2000 mutated texts)', () => {
    const next = mulberry32(11);
    let rejected = 0;
    for (let i = 0; i < 2000; i++) {
      const bytes = encode(JSON.stringify(randomValue(next, 0)));
      const at = Math.floor(next() * bytes.length);
      bytes[at] = '{}[]",: \\0a-e'.charCodeAt(Math.floor(next() * 13));
      const c = check(bytes);
      if (c.error === undefined) continue;
      rejected++;
      expect(() => JSON.parse(new TextDecoder().decode(bytes)), new TextDecoder().decode(bytes)).toThrow();
    }
    expect(rejected).toBeGreaterThan(200);
  });

  test('random bytes are rejected within their first few bytes', () => {
    const next = mulberry32(3);
    const offsets: number[] = [];
    for (let i = 0; i < 200; i++) {
      const bytes = Uint8Array.from({ length: 4096 }, () => Math.floor(next() * 256));
      const c = check(bytes, [1024]);
      expect(c.error).toBeDefined();
      offsets.push(Number(/offset (\d+)/.exec(c.error!)![1]));
    }
    expect(Math.max(...offsets)).toBeLessThan(64);
  });
});
