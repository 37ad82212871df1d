import { describe, expect, test } from 'vitest';
import { parseSessions, usesBareDeeppowers } from '../tools/readme-sessions/parse';
import { compareShape, normalizeLine } from '../tools/readme-sessions/shape';

// Hand-written transcripts: the README's shape rule must catch a changed message, a missing or
// extra line and a changed table, and let numbers, timings, sizes and ids change.

const readmeKeygen = [
  'model            sk_logreg_breast_cancer (fba684fec163…)',
  'evaluation keys  0.68 MB (relin 0.00 MB, Galois 0.68 MB for 5 rotation steps), id 9517f50f7f9d…',
  'time             253 ms',
];

describe('compareShape', () => {
  test('the same transcript matches', () => {
    expect(compareShape(readmeKeygen, readmeKeygen).ok).toBe(true);
  });

  test('changed numbers, timings, ids and column widths match', () => {
    const real = [
      'model            sk_logreg_breast_cancer (0a1b2c3d4e5f…)',
      'evaluation keys  110.52 MB (relin 9.20 MB, Galois 101.31 MB for 18 rotation steps), id deadbeef0123…',
      'time             8637 ms',
    ];
    expect(compareShape(readmeKeygen, real)).toEqual({ ok: true });
    expect(compareShape(['row  label  probabilities', '1    1      [0.004228, 0.9958]'], ['row    label  probabilities', '1      0      [1, 2.552e-5]']).ok).toBe(true);
  });

  test('a unit that changes with the size (kB to MB) or a time in s instead of ms matches', () => {
    expect(compareShape(['keys 683.8 kB, made in 131 ms'], ['keys 1.2 MB, made in 2.5 s']).ok).toBe(true);
  });

  test('a list of a different length matches (rotation steps, a modulus chain)', () => {
    expect(compareShape(['rotation steps  1, 2, 4, 8, 16', 'modulus 56+40+40+56 = 192'], ['rotation steps  1, 2', 'modulus 49+40+40+40+40+49 = 258']).ok).toBe(true);
  });

  test('a changed message fails, naming both lines', () => {
    const real = [...readmeKeygen];
    real[2] = 'elapsed          253 ms';
    const r = compareShape(readmeKeygen, real);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.expected).toBe(readmeKeygen[2]);
      expect(r.actual).toBe('elapsed          253 ms');
    }
  });

  test('a missing line fails, and so does an extra one', () => {
    expect(compareShape(readmeKeygen, readmeKeygen.slice(0, 2)).ok).toBe(false);
    expect(compareShape(readmeKeygen, [...readmeKeygen, 'written to       /tmp/keys']).ok).toBe(false);
    expect(compareShape(readmeKeygen, [readmeKeygen[0]!, readmeKeygen[2]!]).ok).toBe(false);
  });

  test('a changed table (a column added or renamed) fails', () => {
    const readme = ['row  label  probabilities', '1    1      [0.004228, 0.9958]'];
    expect(compareShape(readme, ['row  label  scores', '1    1      [0.004228, 0.9958]']).ok).toBe(false);
    expect(compareShape(readme, ['row  label  probabilities  true', '1    1      [0.004228, 0.9958]  1']).ok).toBe(false);
  });

  test('a line of only … stands for any number of real lines, and only those', () => {
    const readme = ['first', '…', 'last 3 ms'];
    expect(compareShape(readme, ['first', 'a', 'b', 'last 5 ms']).ok).toBe(true);
    expect(compareShape(readme, ['first', 'last 5 ms']).ok).toBe(true);
    expect(compareShape(readme, ['first', 'a', 'final 5 ms']).ok).toBe(false);
  });

  test('progress lines (stderr, one every few seconds) are left out on both sides', () => {
    const readme = ['encrypted evaluations: 0/3 (0%) 0.0s', 'encrypted evaluations: 3/3 (100%) 0.3s', 'result 1'];
    expect(compareShape(readme, ['result 2']).ok).toBe(true);
    expect(compareShape(['result 1'], ['compiling: approximate (5.1s)', 'compiling: done in 7.2s', 'keygen N=16384: 1/2 (50%) 5.0s', 'result 2']).ok).toBe(true);
  });

  test('blank lines at either end do not count; blank lines inside do', () => {
    expect(compareShape(['a', ''], ['', 'a']).ok).toBe(true);
    expect(compareShape(['a', '', 'b'], ['a', 'b']).ok).toBe(false);
  });
});

describe('normalizeLine', () => {
  test('hex ids, numbers and the recovery phrase\'s numbered words become placeholders', () => {
    expect(normalizeLine('compiled x → y (model hash e7d27ec2994d9aa7)')).toBe('compiled x → y (model hash #)');
    // A random 4-byte id is all digits one time in 24: it must have the same shape as one with letters.
    expect(normalizeLine('key "deeppowers-keystore-01234635"')).toBe(normalizeLine('key "deeppowers-keystore-b5efa4a6"'));
    expect(normalizeLine('   1. abandon     2. ability')).toBe('#. <word> #. <word>');
    expect(normalizeLine('tanh [-22.26, 15.29] 2.5e-5')).toBe('tanh [#, …] #');
  });
});

describe('parseSessions', () => {
  const md = [
    '## Section `one`',
    '```',
    '$ echo a \\',
    '  b',
    'a b',
    '',
    '$ true',
    '```',
    '```sh',
    'npx deeppowers --help',
    '```',
    '<!-- session: not run (needs a remote server) -->',
    '```',
    '$ curl https://fhe.example.com',
    '```',
  ].join('\n');

  test('blocks with `$ ` lines are sessions; continuation lines join the command; other blocks are not', () => {
    const s = parseSessions(md);
    expect(s).toHaveLength(2);
    expect(s[0]).toMatchObject({ heading: 'Section one', open: 1, close: 7, notRun: null });
    expect(s[0]!.commands).toEqual([
      { command: 'echo a \\\n  b', expected: ['a b', ''], line: 2 },
      { command: 'true', expected: [], line: 6 },
    ]);
  });

  test('the opt-out marker right before a fence is read with its reason', () => {
    expect(parseSessions(md)[1]!.notRun).toBe('needs a remote server');
  });

  test('a block that starts with output before its first command is refused', () => {
    expect(() => parseSessions('```\noutput\n$ cmd\n```')).toThrow(/must start with/);
  });

  test('sessions name their document; a continuation chains only within it and is refused as a document\'s first session', () => {
    expect(parseSessions(md, 'docs/compiling.md')[0]!.document).toBe('docs/compiling.md');
    expect(parseSessions(md)[0]!.document).toBe('README.md');
    const first = '# Guide\n<!-- session: continues the one above -->\n```\n$ true\n```';
    expect(() => parseSessions(first, 'docs/data-files.md')).toThrow(/^docs\/data-files\.md line 3: a session continues the one above, but there is none in this document$/);
  });
});

test('usesBareDeeppowers: `deeppowers` must be run through npx', () => {
  expect(usesBareDeeppowers('deeppowers compile m.onnx')).toBe(true);
  expect(usesBareDeeppowers('DEEPPOWERS_PASSPHRASE=x deeppowers keygen d')).toBe(true);
  expect(usesBareDeeppowers('npx deeppowers compile m.onnx && deeppowers predict d')).toBe(true);
  expect(usesBareDeeppowers('DEEPPOWERS_PASSPHRASE=x npx deeppowers keygen d && npx deeppowers predict d')).toBe(false);
  expect(usesBareDeeppowers('npm start')).toBe(false);
});

test('a list separated by semicolons (the degrees compile tried) may change length too', () => {
  expect(compareShape(['tried (3 → error 5.98, 85.0%; 7 → error 4.3, 93.5%)'], ['tried (3 → error 5.98, 85.0%; 7 → error 4.3, 93.5%; 15 → error 2.3, 99.5%)']).ok).toBe(true);
});
