import { createHash, randomBytes, type Hash } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  utimesSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { join } from 'node:path';
import { fail } from '../../compiler/errors';

/**
 * Evaluation-key bundles uploaded to `deeppowers serve`, one file per bundle named by its
 * SHA-256, under `<data-dir>/keys/<tenant>/`. Files survive restarts; a tenant only ever sees its
 * own directory, so knowing another tenant's keys_id is not enough to use its keys. Uploads go to
 * a temporary file first and are renamed into place only once size, hash and contents check out.
 * Files can still rot or be tampered with on disk, so a stored bundle is hashed again before it
 * is first trusted (and whenever its size, time or inode change): one that no longer hashes to
 * its name is deleted, which the client sees as "unknown keys_id" and answers by uploading again.
 * Only regular files count: links (which could point anywhere) and directories under the key
 * directory are skipped and logged, never followed. Each tenant has a quota of bytes and
 * bundles; beyond it the least recently used bundles are evicted, or uploads refused.
 */

export const KEYS_ID = /^[0-9a-f]{64}$/;
const TENANT = /^[A-Za-z0-9._-]{1,64}$/;
const PART_SUFFIX = '.part';

/** A tenant name that can be a directory name under keys/: never `.` or `..`. */
export function isTenantName(name: string): boolean {
  return TENANT.test(name) && name !== '.' && name !== '..';
}

export type UploadOutcome =
  | { readonly ok: true; readonly created: boolean; readonly bytes: number; readonly evicted: readonly string[] }
  | { readonly ok: false; readonly status: 400 | 413 | 422 | 507; readonly reason: string };

export interface ChunkOutcome {
  readonly received: number;
  readonly complete: boolean;
  readonly bytes: number;
}

/** Checks an uploaded bundle's contents (e.g. that it is an evaluation-key envelope for a served model); throws with a one-line reason. */
export type KeyContentCheck = (bytes: Uint8Array) => void;

interface ChunkedUpload {
  readonly path: string;
  readonly count: number;
  readonly hash: Hash;
  next: number;
  bytes: number;
  touched: number;
}

/** What a tenant may keep: beyond it, `evict` drops least-recently-used bundles, `refuse` refuses the upload. */
export interface KeyQuota {
  readonly maxBytes: number;
  readonly maxBundles: number;
  readonly policy: 'evict' | 'refuse';
}

export interface KeyStorageOptions {
  /** Largest bundle accepted, in bytes. */
  readonly maxBytes: number;
  /** Per-tenant quota; none when absent. */
  readonly quota?: KeyQuota;
  /** Unfinished chunked uploads kept per tenant; the oldest is dropped beyond this. */
  readonly maxOpenUploads?: number;
  /** Where junk, repairs and evictions are reported. */
  readonly log?: (line: string) => void;
  /** Called with each bundle evicted to make room, so an in-memory copy can be dropped too. */
  readonly onEvict?: (tenant: string, keysId: string) => void;
}

/** A stored bundle: a regular file named by its SHA-256. */
interface StoredBundle {
  readonly keysId: string;
  readonly path: string;
  readonly size: number;
  /** Last use (upload or read): the least recently used is evicted first. */
  readonly usedMs: number;
}

export class EvalKeyStorage {
  private readonly root: string;
  private readonly uploads = new Map<string, ChunkedUpload>();
  /** Files whose hash was checked, by path, with the identity they had then: unchanged files are not hashed again. */
  private readonly verified = new Map<string, string>();
  private readonly log: (line: string) => void;

  constructor(
    dataDir: string,
    readonly options: KeyStorageOptions,
    private readonly check: KeyContentCheck,
  ) {
    this.log = options.log ?? ((line) => process.stderr.write(`deeppowers serve: ${line}\n`));
    this.root = join(dataDir, 'keys');
    mkdirPrivate(dataDir);
    mkdirPrivate(this.root);
    this.removeLeftoverParts();
  }

  /** Whether the tenant has an intact bundle by that id (a corrupt one is deleted on the way). */
  has(tenant: string, keysId: string): boolean {
    return this.intactStat(tenant, keysId) !== undefined;
  }

  /** Size in bytes of a stored, intact bundle, or undefined when the tenant has none by that id. */
  sizeOf(tenant: string, keysId: string): number | undefined {
    return this.intactStat(tenant, keysId)?.size;
  }

  /** The bundle's bytes, checked against its name as they are read. */
  read(tenant: string, keysId: string): Uint8Array {
    if (!KEYS_ID.test(keysId)) fail('BAD_ARGUMENT', `unknown keys_id ${keysId}`);
    const path = this.pathOf(tenant, keysId);
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      return fail('BAD_ARGUMENT', `unknown keys_id ${keysId}`);
    }
    let bytes: Buffer;
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) return fail('BAD_ARGUMENT', `unknown keys_id ${keysId}`);
      bytes = readFileSync(fd);
    } finally {
      closeSync(fd);
    }
    if (createHash('sha256').update(bytes).digest('hex') !== keysId) {
      this.removeCorrupt(path, keysId, tenant);
      fail('BAD_ARGUMENT', `unknown keys_id ${keysId}: the stored copy no longer matched its checksum and was removed; upload the keys again`);
    }
    this.touch(path);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  /**
   * Store a bundle streamed from `source` (an HTTP request body). The stream is hashed and
   * size-checked as it arrives, so an oversized or mislabelled upload is refused without ever
   * being held in memory whole.
   */
  async put(tenant: string, keysId: string, source: AsyncIterable<Uint8Array>, declaredLength?: number): Promise<UploadOutcome> {
    if (!KEYS_ID.test(keysId)) return { ok: false, status: 400, reason: 'a keys id is 64 lowercase hex digits (the SHA-256 of the bundle)' };
    const { maxBytes } = this.options;
    if (declaredLength !== undefined && declaredLength > maxBytes) return tooLarge(declaredLength, maxBytes);
    const room = this.roomFor(tenant, keysId);
    if (declaredLength !== undefined && declaredLength > room) return this.overQuota(tenant, declaredLength);
    const dir = this.tenantDir(tenant);
    const tmp = join(dir, `${keysId}.${randomBytes(6).toString('hex')}${PART_SUFFIX}`);
    const hash = createHash('sha256');
    let bytes = 0;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      for await (const chunk of source) {
        bytes += chunk.length;
        if (bytes > maxBytes) return tooLarge(bytes, maxBytes);
        if (bytes > room) return this.overQuota(tenant, bytes);
        hash.update(chunk);
        writeAll(fd, chunk);
      }
      closeSync(fd);
      return this.finish(tenant, keysId, tmp, hash.digest('hex'), bytes);
    } finally {
      try {
        closeSync(fd);
      } catch {
        // already closed on the success path
      }
      rmSync(tmp, { force: true });
    }
  }

  /**
   * One chunk of a bundle uploaded through MCP tool calls (stdio has no side channel). Chunks
   * arrive in order, index 0 … count − 1; chunk 0 (re)starts the upload; the last one checks the
   * hash and stores the bundle. Returns how far the upload got.
   */
  putChunk(tenant: string, keysId: string, index: number, count: number, chunk: Uint8Array): ChunkOutcome {
    if (!KEYS_ID.test(keysId)) fail('BAD_ARGUMENT', 'keys_id is 64 lowercase hex digits (the SHA-256 of the bundle)');
    if (!Number.isInteger(count) || count < 1) fail('BAD_ARGUMENT', `count must be a positive integer, got ${count}`);
    if (!Number.isInteger(index) || index < 0 || index >= count) fail('BAD_ARGUMENT', `chunk index ${index} is outside 0…${count - 1}`);
    const key = `${tenant}/${keysId}`;
    if (index === 0) {
      this.dropUpload(key);
      this.limitOpenUploads(tenant);
      const path = join(this.tenantDir(tenant), `${keysId}.${randomBytes(6).toString('hex')}${PART_SUFFIX}`);
      closeSync(openSync(path, 'w', 0o600));
      this.uploads.set(key, { path, count, hash: createHash('sha256'), next: 0, bytes: 0, touched: Date.now() });
    }
    const up = this.uploads.get(key);
    if (!up) fail('BAD_ARGUMENT', `no upload of ${keysId.slice(0, 12)}… is in progress; start again with chunk 0`);
    if (count !== up.count) fail('BAD_ARGUMENT', `this upload was started with count ${up.count}, not ${count}`);
    if (index !== up.next) fail('BAD_ARGUMENT', `expected chunk ${up.next} of ${up.count}, got chunk ${index}`);
    if (up.bytes + chunk.length > this.options.maxBytes) {
      this.dropUpload(key);
      fail('BAD_ARGUMENT', `evaluation keys too large: more than ${this.options.maxBytes} bytes (the server's limit)`);
    }
    if (up.bytes + chunk.length > this.roomFor(tenant, keysId)) {
      this.dropUpload(key);
      const over = this.overQuota(tenant, up.bytes + chunk.length);
      fail('BAD_ARGUMENT', over.ok ? 'over quota' : over.reason);
    }
    appendFileSync(up.path, chunk);
    up.hash.update(chunk);
    up.bytes += chunk.length;
    up.next++;
    up.touched = Date.now();
    if (up.next < up.count) return { received: up.next, complete: false, bytes: up.bytes };

    this.uploads.delete(key);
    try {
      const outcome = this.finish(tenant, keysId, up.path, up.hash.digest('hex'), up.bytes);
      if (!outcome.ok) fail('BAD_ARGUMENT', outcome.reason);
      return { received: up.next, complete: true, bytes: up.bytes };
    } finally {
      rmSync(up.path, { force: true });
    }
  }

  private finish(tenant: string, keysId: string, tmp: string, digest: string, bytes: number): UploadOutcome {
    if (digest !== keysId) {
      return { ok: false, status: 400, reason: `the bytes hash to ${digest.slice(0, 12)}…, not to the keys id ${keysId.slice(0, 12)}… they were sent under` };
    }
    const target = this.pathOf(tenant, keysId);
    // An intact copy is kept; a corrupt one (or junk under its name) is replaced by these verified bytes.
    if (this.has(tenant, keysId)) {
      this.touch(target);
      return { ok: true, created: false, bytes, evicted: [] };
    }
    try {
      this.check(new Uint8Array(readFileSync(tmp)));
    } catch (e) {
      return { ok: false, status: 422, reason: (e as Error).message };
    }
    const evicted = this.makeRoom(tenant, keysId, bytes);
    if (evicted === undefined) return this.overQuota(tenant, bytes);
    this.clearJunk(target);
    renameSync(tmp, target);
    this.remember(target, lstatSync(target));
    return { ok: true, created: true, bytes, evicted };
  }

  /** The tenant's stored bundles (regular files named by a keys id), least recently used first. */
  bundlesOf(tenant: string): StoredBundle[] {
    const dir = join(this.root, this.checkTenant(tenant));
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return [];
    }
    const out: StoredBundle[] = [];
    for (const name of names) {
      if (!KEYS_ID.test(name)) continue;
      const path = join(dir, name);
      const st = lstatOrUndefined(path);
      if (st?.isFile()) out.push({ keysId: name, path, size: st.size, usedMs: st.mtimeMs });
    }
    return out.sort((a, b) => a.usedMs - b.usedMs);
  }

  /** Bytes a new upload of `keysId` may take under the tenant's quota (under `evict`, what eviction can free). */
  private roomFor(tenant: string, keysId: string): number {
    const quota = this.options.quota;
    if (!quota) return Infinity;
    if (quota.policy === 'evict') return quota.maxBytes;
    const used = this.bundlesOf(tenant)
      .filter((b) => b.keysId !== keysId)
      .reduce((a, b) => a + b.size, 0);
    return Math.max(0, quota.maxBytes - used);
  }

  /**
   * Frees the tenant's quota for one more bundle of `bytes`: under `evict` by deleting least
   * recently used bundles, returning their ids; undefined when it cannot fit (under `refuse`, or
   * when the bundle alone exceeds the quota).
   */
  private makeRoom(tenant: string, keysId: string, bytes: number): string[] | undefined {
    const quota = this.options.quota;
    if (!quota) return [];
    if (bytes > quota.maxBytes || quota.maxBundles < 1) return undefined;
    const others = this.bundlesOf(tenant).filter((b) => b.keysId !== keysId);
    let used = others.reduce((a, b) => a + b.size, 0);
    let count = others.length;
    const evicted: string[] = [];
    for (const b of others) {
      if (used + bytes <= quota.maxBytes && count + 1 <= quota.maxBundles) break;
      if (quota.policy === 'refuse') return undefined;
      rmSync(b.path, { force: true });
      this.verified.delete(b.path);
      used -= b.size;
      count--;
      evicted.push(b.keysId);
      this.log(`keys ${b.keysId.slice(0, 12)}… of tenant ${tenant} evicted (least recently used) to stay within the quota`);
      this.options.onEvict?.(tenant, b.keysId);
    }
    return used + bytes <= quota.maxBytes && count + 1 <= quota.maxBundles ? evicted : undefined;
  }

  private overQuota(tenant: string, bytes: number): UploadOutcome {
    const q = this.options.quota!;
    const bundles = this.bundlesOf(tenant);
    const used = bundles.reduce((a, b) => a + b.size, 0);
    const why =
      bytes > q.maxBytes
        ? `the bundle (${bytes} bytes or more) is larger than the per-tenant quota of ${q.maxBytes} bytes`
        : `tenant ${tenant} stores ${bundles.length} bundle${bundles.length === 1 ? '' : 's'} (${used} bytes); the quota is ${q.maxBundles} bundles and ${q.maxBytes} bytes and the server refuses rather than evicts: delete unused keys first`;
    return { ok: false, status: 507, reason: `evaluation keys refused: ${why}` };
  }

  /**
   * The stat of the tenant's bundle when it is a regular file whose bytes hash to its name.
   * Anything else under that name is treated as absent: junk is logged, a corrupt file deleted.
   */
  private intactStat(tenant: string, keysId: string): Stats | undefined {
    if (!KEYS_ID.test(keysId)) return undefined;
    const path = this.pathOf(tenant, keysId);
    const st = lstatOrUndefined(path);
    if (!st) return undefined;
    if (!st.isFile()) {
      this.log(`ignoring ${path}: ${st.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'} where a key bundle belongs`);
      return undefined;
    }
    if (this.verified.get(path) === identity(st)) return st;
    if (hashFile(path) !== keysId) {
      this.removeCorrupt(path, keysId, tenant);
      return undefined;
    }
    this.remember(path, st);
    return st;
  }

  /** Marks a bundle as just used (its modification time orders eviction), keeping it verified. */
  private touch(path: string): void {
    const wasVerified = this.verified.has(path);
    const now = new Date();
    try {
      utimesSync(path, now, now);
    } catch {
      return; // removed meanwhile: nothing to mark
    }
    const st = lstatOrUndefined(path);
    if (wasVerified && st) this.remember(path, st);
  }

  private remember(path: string, st: Stats): void {
    this.verified.set(path, identity(st));
  }

  private removeCorrupt(path: string, keysId: string, tenant: string): void {
    rmSync(path, { force: true });
    this.verified.delete(path);
    this.log(`keys ${keysId.slice(0, 12)}… of tenant ${tenant} no longer hashed to their name and were removed; the client will upload them again`);
  }

  /** A symlink or directory where a bundle is to be stored is removed (a link, not its target). */
  private clearJunk(path: string): void {
    const st = lstatOrUndefined(path);
    if (!st || st.isFile()) return;
    this.log(`removing ${path}: ${st.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'} where a key bundle is stored`);
    rmSync(path, { recursive: true, force: true });
  }

  private checkTenant(tenant: string): string {
    if (!isTenantName(tenant)) fail('BAD_ARGUMENT', `bad tenant name "${tenant}"`);
    return tenant;
  }

  private tenantDir(tenant: string): string {
    const dir = join(this.root, this.checkTenant(tenant));
    const st = lstatOrUndefined(dir);
    if (st && !st.isDirectory()) fail('IO', `the key directory of tenant ${tenant} (${dir}) is not a directory; remove it`);
    mkdirPrivate(dir);
    return dir;
  }

  private pathOf(tenant: string, keysId: string): string {
    return join(this.root, this.checkTenant(tenant), keysId);
  }

  private dropUpload(key: string): void {
    const up = this.uploads.get(key);
    if (!up) return;
    rmSync(up.path, { force: true });
    this.uploads.delete(key);
  }

  private limitOpenUploads(tenant: string): void {
    const limit = this.options.maxOpenUploads ?? 4;
    const mine = [...this.uploads.entries()].filter(([k]) => k.startsWith(`${tenant}/`)).sort((a, b) => a[1].touched - b[1].touched);
    while (mine.length >= limit) this.dropUpload(mine.shift()![0]);
  }

  /**
   * Temporary files from uploads a previous run never finished are deleted; anything else that is
   * not a tenant directory of regular files (links, dangling or not, directories, odd names) is
   * logged and left alone: it is never followed and never counts as a bundle.
   */
  private removeLeftoverParts(): void {
    for (const tenant of readdirSync(this.root)) {
      const dir = join(this.root, tenant);
      const st = lstatOrUndefined(dir);
      if (!st?.isDirectory() || !isTenantName(tenant)) {
        this.log(`ignoring ${dir}: not a tenant key directory`);
        continue;
      }
      for (const f of readdirSync(dir)) {
        const path = join(dir, f);
        const entry = lstatOrUndefined(path);
        if (entry?.isFile() && f.endsWith(PART_SUFFIX)) rmSync(path, { force: true });
        else if (!entry?.isFile() || !KEYS_ID.test(f)) this.log(`ignoring ${path}: not a key bundle`);
      }
    }
  }
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** What must not change for a verified file to stay verified. */
function identity(st: Stats): string {
  return `${st.ino}/${st.size}/${st.mtimeMs}`;
}

/** SHA-256 of a regular file, read in pieces and never through a link. */
function hashFile(path: string): string {
  const hash = createHash('sha256');
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const buffer = Buffer.alloc(1 << 20);
    for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; ) hash.update(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}


function tooLarge(bytes: number, max: number): UploadOutcome {
  return { ok: false, status: 413, reason: `evaluation keys too large: ${bytes} bytes or more, the server accepts at most ${max}` };
}

function writeAll(fd: number, chunk: Uint8Array): void {
  let at = 0;
  while (at < chunk.length) at += writeSync(fd, chunk, at, chunk.length - at);
}

function mkdirPrivate(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}
