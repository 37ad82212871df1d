/**
 * The one error type the compiler and runtime throw on purpose. Anything else escaping to the
 * CLI is a bug. `code` is stable and machine-readable; `message` is one line for a person.
 */
export type ErrorCode =
  | 'BAD_MODEL' // not a decodable ONNX ModelProto
  | 'EXTERNAL_DATA' // initializers stored outside the file
  | 'UNSUPPORTED_OP'
  | 'UNSUPPORTED_ATTRIBUTE'
  | 'BAD_GRAPH' // structurally wrong: missing value, cycle, wrong arity, shape mismatch
  | 'BAD_DATA' // user data file: shape, NaN, non-numeric, empty
  | 'BAD_ARGUMENT' // command line / API misuse
  | 'NOT_ENCRYPTABLE' // model can be run in the clear but not compiled to CKKS
  | 'PARAMS' // no CKKS parameter set fits
  | 'BAD_ARTIFACT' // compiled model missing or corrupted
  | 'BAD_CIPHERTEXT' // serialized ciphertexts, evaluation keys or results: other model/parameters, truncated, tampered
  | 'IO';

export class DeepPowersError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message.replace(/\s*\n\s*/g, ' '));
    this.name = 'DeepPowersError';
    this.code = code;
  }
}

export function fail(code: ErrorCode, message: string): never {
  throw new DeepPowersError(code, message);
}
