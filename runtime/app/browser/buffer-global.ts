/** Injected into the browser bundles: the shared modules use Node's global Buffer (base64, hex, concat). */
import { Buffer } from 'buffer';

export { Buffer };
(globalThis as unknown as { Buffer: typeof Buffer }).Buffer ??= Buffer;
