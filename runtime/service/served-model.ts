import type { FheBackend } from '../backends/backend';
import { fail } from '../../compiler/errors';
import type { ServerModel } from '../server/fhe-server';
import type { ModelCard } from './model-card';

/**
 * A compiled model as `deeppowers serve` offers it: what the server evaluates (circuit,
 * constants, parameters) and what it tells clients (the description, with the client view a
 * client needs to make keys, encrypt rows and decode results). Nothing here is secret.
 */
export interface ServedModel {
  /** Name clients use; the tool is `predict_<name>`. */
  readonly name: string;
  readonly server: ServerModel;
  readonly description: ModelDescription;
  /** What a host shows a person: inputs, outputs, what runs where, the precision promise, what each side learns. */
  readonly card: ModelCard;
  /** The compile's bound on the CKKS evaluation noise of the body outputs (what `--flood-bits` scales); absent for hand-built models. */
  readonly noiseBound?: number;
  /** Why its plan cannot run in node-seal's heap (compiled with --heap simulation); absent when it fits. */
  readonly heapShortfall?: string;
}

/** A backend in node-seal's heap refuses, before anything is loaded, a model whose plan does not fit it. */
export function refuseOverHeap(backend: FheBackend, models: readonly ServedModel[]): void {
  if (!backend.wasmHeap) return;
  const over = models.find((m) => m.heapShortfall !== undefined);
  if (over) fail('PARAMS', `model ${over.name}: ${over.heapShortfall}`);
}

export interface TensorDescription {
  readonly name: string;
  /** null for a dimension the model leaves open (the batch dimension). */
  readonly shape: readonly (number | null)[];
  readonly dtype: string;
  /** Feature names, when the model or its compile step knows them. */
  readonly features?: readonly string[];
}

/** How a served model is named and what it reads and returns: the head of its description and of its card. */
export interface ModelIdentity {
  readonly model: string;
  readonly tool: string;
  /** The operator's words for the model (`compile --description`), when given. */
  readonly description?: string;
  readonly model_hash: string;
  /** e.g. "classification" or "regression", when known. */
  readonly task?: string;
  readonly inputs: readonly TensorDescription[];
  readonly outputs: readonly TensorDescription[];
}

/** What `describe_model` returns: plain JSON, everything a client needs and nothing the server keeps private. */
export interface ModelDescription extends ModelIdentity {
  readonly layout: 'vector' | 'batch';
  /** Samples one circuit evaluation handles: 1 in vector layout, N/2 in batch layout. */
  readonly samples_per_evaluation: number;
  readonly ckks: {
    readonly poly_modulus_degree: number;
    readonly coeff_modulus_bits: readonly number[];
    readonly parameter_id: string;
    readonly security_bits: 128;
  };
  readonly rotation_steps: readonly number[];
  readonly needs_relin_keys: boolean;
  /** The compiled model's precision promise on its body outputs, as `compile` states it (e.g. "≤ 1% of the output range [...] (0.02)"). */
  readonly precision?: string;
  /** The compiled model's client view (parameters, layout, prologue/epilogue), as the client side reads it back. */
  readonly client_view: Readonly<Record<string, unknown>>;
}

const TOOL_NAME = /^[A-Za-z0-9._-]{1,128}$/;
export const PREDICT_PREFIX = 'predict_';

/** A model name made safe for a tool name (MCP tool names: letters, digits, `._-`, at most 128). */
export function modelNameOf(raw: string): string {
  const name = raw
    .replace(/\.onnx$/i, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 128 - PREDICT_PREFIX.length);
  if (name === '') fail('BAD_ARGUMENT', `cannot make a tool name from model name "${raw}"`);
  return name;
}

export function toolNameOf(model: string): string {
  const tool = `${PREDICT_PREFIX}${model}`;
  if (!TOOL_NAME.test(tool)) fail('BAD_ARGUMENT', `"${tool}" is not a valid MCP tool name`);
  return tool;
}

/** Refuse two models under one name: the second tool would shadow the first. */
export function checkDistinctNames(models: readonly ServedModel[]): void {
  const seen = new Map<string, string>();
  for (const m of models) {
    const prior = seen.get(m.name);
    if (prior !== undefined) fail('BAD_ARGUMENT', `two compiled models are both named "${m.name}" (hashes ${prior.slice(0, 12)}… and ${m.server.modelHash.slice(0, 12)}…)`);
    seen.set(m.name, m.server.modelHash);
  }
}
