import { describe, expect, test } from 'vitest';
import { formatBrowser } from '../../runtime/bench/format-bench';

/** bench --browser in the text output: a row per client and model, the bundle line, failures and the reason it was not timed. */
describe('bench --browser text', () => {
  test('Node and Chromium side by side per model, the bundle sizes in KiB, a failed model on its own line', () => {
    const timing = (secret: number, keys: number, enc: number, dec: number, server: number) => ({ secret_key_ms: secret, evaluation_keys_ms: keys, encrypt_ms: enc, decrypt_ms: dec, server_ms: server });
    const text = formatBrowser({
      chromium: '156.0.1 (/usr/bin/chromium)',
      bundle: { js: 2048, js_gzip: 1024, wasm: 10240, wasm_gzip: 5120 },
      runs: [
        { model: 'iris', layout: 'vector', rows: 4, node: timing(114, 39.1, 21.5, 10.4, 265), chromium: timing(108, 50.2, 21.9, 19, 336) },
        { model: 'big', error: 'IO: cannot reach the server' },
      ],
    });
    const lines = text.split('\n');
    expect(lines[1]).toBe(
      'browser client in Chromium 156.0.1 (/usr/bin/chromium) next to the Node client, same rows, one server on this machine; ' +
        'bundle deeppowers.js 2 KiB (1 KiB gzip) + seal_throws.wasm 10 KiB (5 KiB gzip), 12 KiB in all:',
    );
    expect(lines[2]!.split(/\s{2,}/)).toEqual(['model', 'layout', 'rows', 'client', 'secret key ms', 'evaluation keys ms (made + upload)', 'encrypt ms', 'decrypt ms (+ epilogue)', 'server round trips ms']);
    expect(lines[3]!.split(/\s+/)).toEqual(['iris', 'vector', '4', 'Node', '114', '39.1', '21.5', '10.4', '265']);
    expect(lines[4]!.split(/\s+/)).toEqual(['iris', 'vector', '4', 'Chromium', '108', '50.2', '21.9', '19.0', '336']);
    expect(lines[5]).toBe('big: IO: cannot reach the server');
  });

  test('not timed: the reason in one line', () => {
    expect(formatBrowser({ skipped: 'no Chromium at /x' })).toBe('\nbrowser client: not timed: no Chromium at /x\n');
  });
});
