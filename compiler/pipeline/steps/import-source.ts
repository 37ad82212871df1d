/**
 * Compile step 1: the ONNX model (a path, or bytes already read) → the imported graph and the
 * facts about its source the artifact records.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { sha256Hex } from '../../artifact/model-hash';
import { fail } from '../../errors';
import type { Graph } from '../../graph/graph';
import { importModel } from '../../onnx/import';

export interface ModelSource {
  /** Model name: the graph name, else the file's base name. */
  readonly name: string;
  /** Base name of the ONNX file. */
  readonly file: string;
  /** SHA-256 (hex) of the ONNX bytes. */
  readonly sha256: string;
  readonly producer: string;
  readonly irVersion: number;
  readonly opsets: ReadonlyMap<string, number>;
}

/** An ONNX model: a file path, or bytes already read (with the file name they came from). */
export type ModelBytes = string | { readonly bytes: Uint8Array; readonly file: string };

export function importSource(model: ModelBytes): { graph: Graph; source: ModelSource } {
  const path = typeof model === 'string' ? model : model.file;
  const bytes = typeof model === 'string' ? readModel(model) : model.bytes;
  const graph = importModel(bytes, path);
  const file = basename(path);
  return {
    graph,
    source: {
      name: graph.name || file.replace(/\.onnx$/i, ''),
      file,
      sha256: sha256Hex(bytes),
      producer: graph.producer,
      irVersion: graph.irVersion,
      opsets: graph.opsets,
    },
  };
}

function readModel(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    fail('IO', `cannot read model ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : (err.code ?? err.message)}`);
  }
}
