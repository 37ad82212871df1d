import { join } from 'node:path';

/** The repository root, where the CLI runs from. */
export const ROOT = join(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'bin', 'deeppowers.js');
