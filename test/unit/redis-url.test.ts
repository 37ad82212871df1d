import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { parseRedisUrl } from '../../runtime/network/queue';

/** Queue URLs: credentials and TLS are kept (they were dropped or refused), and never printed. */

const work = mkdtempSync(join(tmpdir(), 'dp-redis-url-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

test('redis:// with a password, an ACL user, or neither', () => {
  expect(parseRedisUrl('redis://127.0.0.1:6380')).toEqual({ host: '127.0.0.1', port: 6380, url: 'redis://127.0.0.1:6380' });
  expect(parseRedisUrl('redis://:s%40cret@10.0.0.5:6379')).toEqual({ host: '10.0.0.5', port: 6379, url: 'redis://10.0.0.5:6379', password: 's@cret' });
  expect(parseRedisUrl('redis://node-ab:pw@[::1]')).toEqual({ host: '::1', port: 6379, url: 'redis://[::1]', username: 'node-ab', password: 'pw' });
});

test('rediss:// with a CA file; the URL kept for messages has no password', () => {
  const ca = join(work, 'ca.pem');
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  const a = parseRedisUrl('rediss://:pw@redis.example:6380', { caFile: ca });
  expect(a).toMatchObject({ host: 'redis.example', port: 6380, url: 'rediss://redis.example:6380', password: 'pw', tls: { servername: 'redis.example' } });
  expect(a.tls?.ca?.toString()).toContain('BEGIN CERTIFICATE');
  expect(parseRedisUrl('rediss://h:1').tls).toEqual({ servername: 'h' });
  expect(parseRedisUrl('rediss://127.0.0.1:1').tls).toEqual({});
});

test('bad URLs and CA files are refused in one line that never shows the password', () => {
  expect(() => parseRedisUrl('http://:hunter2@h:1')).toThrow('--queue must be a redis:// or rediss:// URL, got "http://:***@h:1"');
  expect(() => parseRedisUrl('redis://h:1/3')).toThrow('--queue: DeepPowers uses Redis database 0; drop "/3" from the URL');
  expect(() => parseRedisUrl('redis://h:1', { caFile: 'ca.pem' })).toThrow('--redis-ca is for a rediss:// (TLS) URL');
  expect(() => parseRedisUrl('rediss://h:1', { caFile: join(work, 'none.pem') })).toThrow(`cannot read --redis-ca ${join(work, 'none.pem')}: ENOENT`);
  const notPem = join(work, 'not.pem');
  writeFileSync(notPem, 'hello');
  expect(() => parseRedisUrl('rediss://h:1', { caFile: notPem })).toThrow(`--redis-ca ${notPem} holds no PEM certificate`);
});
