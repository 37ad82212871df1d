/**
 * The compiled models `deeppowers serve` and `deeppowers worker` load. A model with a MaxPool runs
 * a client step per evaluation (the client takes each window's max of masked values between two
 * segments), which the MCP tools, one request and one answer, do not carry yet: such a model is
 * refused here by name, whatever the MCP side says of other client steps.
 */
import { readCompiledModel } from '../../compiler/artifact/files';
import { fail } from '../../compiler/errors';
import { loadServedModel } from '../mcp/load-served-model';
import type { ServedModel } from '../mcp/served-model';

export function loadServableModel(dir: string): ServedModel {
  const pools = readCompiledModel(dir).refresh?.segments.filter((s) => s.pool) ?? [];
  if (pools.length > 0) {
    fail(
      'BAD_ARGUMENT',
      `${dir}: a model with MaxPool (${pools.map((s) => s.pool!.sources.join(', ')).join('; ')}) needs a client step per evaluation (the client takes the max of each masked window), which serve does not carry yet; run it with predict --mode fhe`,
    );
  }
  return loadServedModel(dir);
}
