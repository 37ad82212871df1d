import { fail } from '../errors';
import { decodeConstants, encodeConstants } from './constants-bin';
import { JsonAt } from './json-read';
import { prettyJson, type JsonObject } from './json-text';
import { decodeContent, encodeContent, MANIFEST_KEYS } from './manifest';
import { modelHashOf, sha256Hex } from './model-hash';
import { ARTIFACT_FORMAT, ARTIFACT_FORMAT_VERSION, CONSTANTS_FILE, MANIFEST_FILE, type CompiledModel, type CompiledModelContent } from './types';
import { validateCompiledModel } from './validate';

/** The two files of a compiled model, as bytes and text. */
export interface CompiledModelFiles {
  /** manifest.json */
  readonly manifest: string;
  /** constants.bin */
  readonly constants: Uint8Array;
}

interface Encoded {
  readonly withoutHash: JsonObject;
  readonly constants: Uint8Array;
  readonly modelHash: string;
}

function encode(content: CompiledModelContent): Encoded {
  validateCompiledModel(content);
  const { fields, constants: entries } = encodeContent(content);
  const constants = encodeConstants(entries);
  const withoutHash: JsonObject = {
    ...fields,
    constants: { file: CONSTANTS_FILE, bytes: constants.length, entries: entries.length, sha256: sha256Hex(constants) },
  };
  return { withoutHash, constants, modelHash: modelHashOf(withoutHash, constants) };
}

/** Validates what the compile pipeline produced and gives it its identity, the model hash. */
export function finalizeCompiledModel(content: CompiledModelContent): CompiledModel {
  const { modelHash } = encode(content);
  return { ...content, modelHash };
}

/** The files for `model`; refuses a model changed after `finalizeCompiledModel` gave it its hash. */
export function encodeCompiledModel(model: CompiledModel): CompiledModelFiles {
  const { withoutHash, constants, modelHash } = encode(model);
  if (model.modelHash !== modelHash) {
    fail('BAD_ARTIFACT', `the compiled model was changed after its hash was computed (${short(model.modelHash)} recorded, content is ${short(modelHash)}): finalize it again`);
  }
  return { manifest: prettyJson({ ...withoutHash, modelHash }, MANIFEST_KEYS), constants };
}

/**
 * Reads the two files back, checking in order: the manifest is JSON of this format and version;
 * constants.bin has the size and SHA-256 the manifest records; the manifest hashes to its
 * modelHash; then every field, and the whole model as `validateCompiledModel` does.
 */
export function decodeCompiledModel(files: { readonly manifest: string | Uint8Array; readonly constants: Uint8Array }): CompiledModel {
  const root = JsonAt.root(parseManifest(files.manifest), MANIFEST_FILE);
  root.record(); // an object, before any field is looked up
  const constants = files.constants;
  const format = root.field('format');
  if (format.value !== ARTIFACT_FORMAT) format.bad(`${JSON.stringify(format.value)} is not a DeepPowers compiled model (expected "${ARTIFACT_FORMAT}")`);
  const version = root.field('formatVersion');
  if (version.value !== ARTIFACT_FORMAT_VERSION) {
    version.bad(`${JSON.stringify(version.value)} is not supported: this DeepPowers reads version ${ARTIFACT_FORMAT_VERSION}; recompile the model with this version`);
  }

  const info = root.field('constants').object(['file', 'bytes', 'entries', 'sha256']);
  const expectedBytes = info.field('bytes').integer(0);
  if (constants.length !== expectedBytes) {
    fail('BAD_ARTIFACT', `${CONSTANTS_FILE} has ${constants.length} bytes, the manifest expects ${expectedBytes}: truncated or replaced`);
  }
  const expectedSha = info.field('sha256').string();
  const actualSha = sha256Hex(constants);
  if (actualSha !== expectedSha) {
    fail('BAD_ARTIFACT', `${CONSTANTS_FILE} is corrupted or from another compile: SHA-256 ${short(actualSha)}, the manifest expects ${short(expectedSha)}`);
  }

  const recorded = root.field('modelHash').string();
  if (!/^[0-9a-f]{64}$/.test(recorded)) root.field('modelHash').bad('is not 64 lowercase hex digits');
  const { modelHash: _, ...withoutHash } = root.value as Record<string, unknown>;
  const actual = modelHashOf(withoutHash as JsonObject, constants);
  if (actual !== recorded) {
    fail('BAD_ARTIFACT', `${MANIFEST_FILE} was modified after compilation: its content hashes to ${short(actual)}, its modelHash says ${short(recorded)}`);
  }

  const entries = decodeConstants(constants);
  const count = info.field('entries').integer(0);
  if (entries.length !== count) fail('BAD_ARTIFACT', `${CONSTANTS_FILE} holds ${entries.length} constants, the manifest expects ${count}`);
  const content = decodeContent(root, entries);
  validateCompiledModel(content);
  return { ...content, modelHash: recorded };
}

function parseManifest(manifest: string | Uint8Array): unknown {
  let text: string;
  try {
    text = typeof manifest === 'string' ? manifest : new TextDecoder('utf-8', { fatal: true }).decode(manifest);
  } catch {
    fail('BAD_ARTIFACT', `${MANIFEST_FILE} is not UTF-8 text`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    fail('BAD_ARTIFACT', `${MANIFEST_FILE} is not valid JSON: ${(e as Error).message}`);
  }
}

function short(hash: string): string {
  return `${hash.slice(0, 12)}…`;
}
