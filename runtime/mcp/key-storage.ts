import { createHash, randomBytes, type Hash } from 'node:crypto';
import { appendFileSync, chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../../compiler/errors';

/**
 * Evaluation-key bundles uploaded to `deeppowers serve`, one file per bundle named by its
 * SHA-256, under `<data-dir>/keys/<tenant>/`. Files survive restarts; a tenant only ever sees its
 * own directory, so knowing another tenant's keys_id is not enough to use its keys. Uploads go to
 * a temporary file first and are renamed into place only once size, hash and contents check out,
 * so a stored name always means complete, verified bytes.
 */

export const KEYS_ID = /^[0-9a-f]{64}$/;
const TENANT = /^[A-Za-z0-9._-]{1,64}$/;
const PART_SUFFIX = '.part';

export type UploadOutcome =
  | { readonly ok: true; readonly created: boolean; readonly bytes: number }
  | { readonly ok: false; readonly status: 400 | 413 | 422; readonly reason: string };

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

export interface KeyStorageOptions {
  /** Largest bundle accepted, in bytes. */
  readonly maxBytes: number;
  /** Unfinished chunked uploads kept per tenant; the oldest is dropped beyond this. */
  readonly maxOpenUploads?: number;
}

export class EvalKeyStorage {
  private readonly root: string;
  private readonly uploads = new Map<string, ChunkedUpload>();

  constructor(
    dataDir: string,
    readonly options: KeyStorageOptions,
    private readonly check: KeyContentCheck,
  ) {
    this.root = join(dataDir, 'keys');
    mkdirPrivate(dataDir);
    mkdirPrivate(this.root);
    this.removeLeftoverParts();
  }

  has(tenant: string, keysId: string): boolean {
    return KEYS_ID.test(keysId) && existsSync(this.pathOf(tenant, keysId));
  }

  /** Size in bytes of a stored bundle, or undefined when the tenant has none by that id. */
  sizeOf(tenant: string, keysId: string): number | undefined {
    if (!this.has(tenant, keysId)) return undefined;
    return statSync(this.pathOf(tenant, keysId)).size;
  }

  read(tenant: string, keysId: string): Uint8Array {
    if (!this.has(tenant, keysId)) fail('BAD_ARGUMENT', `unknown keys_id ${keysId}`);
    return new Uint8Array(readFileSync(this.pathOf(tenant, keysId)));
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
    const dir = this.tenantDir(tenant);
    const tmp = join(dir, `${keysId}.${randomBytes(6).toString('hex')}${PART_SUFFIX}`);
    const hash = createHash('sha256');
    let bytes = 0;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      for await (const chunk of source) {
        bytes += chunk.length;
        if (bytes > maxBytes) return tooLarge(bytes, maxBytes);
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
    if (existsSync(target)) return { ok: true, created: false, bytes };
    try {
      this.check(new Uint8Array(readFileSync(tmp)));
    } catch (e) {
      return { ok: false, status: 422, reason: (e as Error).message };
    }
    renameSync(tmp, target);
    return { ok: true, created: true, bytes };
  }

  private tenantDir(tenant: string): string {
    if (!TENANT.test(tenant)) fail('BAD_ARGUMENT', `bad tenant name "${tenant}"`);
    const dir = join(this.root, tenant);
    mkdirPrivate(dir);
    return dir;
  }

  private pathOf(tenant: string, keysId: string): string {
    if (!TENANT.test(tenant)) fail('BAD_ARGUMENT', `bad tenant name "${tenant}"`);
    return join(this.root, tenant, keysId);
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

  /** Temporary files from uploads a previous run never finished. */
  private removeLeftoverParts(): void {
    for (const tenant of readdirSync(this.root)) {
      const dir = join(this.root, tenant);
      if (!statSync(dir).isDirectory()) continue;
      for (const f of readdirSync(dir)) if (f.endsWith(PART_SUFFIX)) rmSync(join(dir, f), { force: true });
    }
  }
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
