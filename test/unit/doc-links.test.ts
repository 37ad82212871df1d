import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect, test } from 'vitest';
import { documentName, sessionDocuments } from '../tools/readme-section';

/**
 * Every relative link in README.md and the docs/ guides reaches a file that exists, and every
 * `#anchor` one of the target's headings (GitHub's slug) or `<a id>`s: sections move between
 * documents, and a link left behind must fail here rather than on GitHub.
 */

/** GitHub's heading anchor: lower case, punctuation dropped (not `-` or `_`), spaces to `-`. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\- _]/gu, '').replaceAll(' ', '-');
}

function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    if (fenced) continue;
    const h = /^#{1,6} (.+)$/.exec(line);
    if (h) anchors.add(slug(h[1]!));
    for (const m of line.matchAll(/<a id="([^"]+)"/g)) anchors.add(m[1]!);
  }
  return anchors;
}

function linksOf(markdown: string): string[] {
  const out: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    if (fenced) continue;
    for (const m of line.matchAll(/\]\(([^)\s]+)\)/g)) out.push(m[1]!);
  }
  return out;
}

test('GitHub slugs of headings with code and punctuation', () => {
  expect(slug('Client-aided refresh: `compile --refresh auto`')).toBe('client-aided-refresh-compile---refresh-auto');
  expect(slug('Keys in a hardware token (PKCS#11): `--pkcs11`')).toBe('keys-in-a-hardware-token-pkcs11---pkcs11');
  expect(slug('The keystore: `deeppowers keys list | upload | delete | phrase | recover`')).toBe('the-keystore-deeppowers-keys-list--upload--delete--phrase--recover');
});

test('every relative link in README.md and docs/*.md reaches a file and, with #anchor, a heading in it', () => {
  const broken: string[] = [];
  for (const file of sessionDocuments()) {
    const markdown = readFileSync(file, 'utf8');
    for (const link of linksOf(markdown)) {
      if (/^[a-z]+:/.test(link)) continue;
      const [path, anchor] = link.split('#') as [string, string | undefined];
      const target = path === '' ? file : join(dirname(file), path);
      if (!existsSync(target)) {
        broken.push(`${documentName(file)}: ${link} (no such file)`);
        continue;
      }
      if (anchor !== undefined && target.endsWith('.md') && !anchorsOf(readFileSync(target, 'utf8')).has(anchor)) {
        broken.push(`${documentName(file)}: ${link} (no such heading in ${documentName(target)})`);
      }
    }
  }
  expect(broken).toEqual([]);
});
