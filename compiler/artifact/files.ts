import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../errors';
import { decodeCompiledModel, encodeCompiledModel } from './codec';
import { CONSTANTS_FILE, MANIFEST_FILE, type CompiledModel } from './types';

/**
 * Writes manifest.json and constants.bin into `dir` (created if needed). Each file is written
 * beside its final name and renamed into place, constants first, so a reader never sees a
 * manifest whose constants are half written.
 */
export function writeCompiledModel(dir: string, model: CompiledModel): void {
  const files = encodeCompiledModel(model);
  try {
    mkdirSync(dir, { recursive: true });
    replaceFile(join(dir, CONSTANTS_FILE), files.constants);
    replaceFile(join(dir, MANIFEST_FILE), files.manifest);
  } catch (e) {
    fail('IO', `cannot write the compiled model to ${dir}: ${(e as Error).message}`);
  }
}

function replaceFile(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** Reads and fully validates a compiled model directory. */
export function readCompiledModel(dir: string): CompiledModel {
  if (!existsSync(dir)) fail('BAD_ARTIFACT', `compiled model directory ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) fail('BAD_ARTIFACT', `${dir} is not a compiled model directory (it is a file)`);
  const read = (name: string): Buffer => {
    const path = join(dir, name);
    if (!existsSync(path)) fail('BAD_ARTIFACT', `${dir} has no ${name}: not a compiled model directory, or an incomplete one`);
    try {
      return readFileSync(path);
    } catch (e) {
      fail('BAD_ARTIFACT', `cannot read ${path}: ${(e as Error).message}`);
    }
  };
  const manifest = read(MANIFEST_FILE);
  const constants = read(CONSTANTS_FILE);
  return decodeCompiledModel({ manifest: new Uint8Array(manifest), constants: new Uint8Array(constants) });
}
