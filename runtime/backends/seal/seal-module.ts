import SEAL, { type MainModule } from 'node-seal';
import { DeepPowersError } from '../../../compiler/errors';

/**
 * One node-seal WebAssembly instance per process. Instantiating SEAL costs tens of milliseconds
 * and a 16 MiB+ heap, and SEAL objects from two instances cannot be mixed, so every caller shares
 * this lazily created promise.
 */
export type Seal = MainModule;

// The project's lib settings (ES2023, no DOM) leave WebAssembly untyped; this is the part used here.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
interface WasmApi {
  Memory: abstract new (...args: never[]) => WasmMemory;
  Exception?: abstract new (...args: never[]) => object;
  RuntimeError: abstract new (...args: never[]) => Error;
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: WasmInstance; module: object }>;
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface SealInstance {
  readonly seal: Seal;
  /** The instance's linear memory: its size is the WASM heap that SEAL objects live in. */
  readonly memory: WasmMemory | undefined;
}

let instance: Promise<SealInstance> | undefined;
/** Set when the current instance trapped: its heap may be corrupt, so nothing made from it can be trusted. */
let trapped = false;
/** Counts instances: objects made under an older generation belong to a dropped instance. */
let generation = 0;

/** The shared SEAL module (the throwing variant: transparent ciphertexts are refused by SEAL itself). */
export async function loadSeal(): Promise<Seal> {
  return (await sealInstance()).seal;
}

/**
 * Bytes of WASM linear memory the SEAL instance has claimed so far. Linear memory only grows,
 * so a steady value across many evaluations means freed objects are being reused, i.e. no leak.
 */
export async function sealHeapBytes(): Promise<number> {
  const { memory } = await sealInstance();
  if (!memory) throw new DeepPowersError('IO', 'the SEAL WebAssembly memory could not be observed');
  return memory.buffer.byteLength;
}

/**
 * A WebAssembly trap (memory access out of bounds, an indirect call through a bad pointer, …)
 * aborts SEAL halfway through a C++ operation; unlike a C++ exception it unwinds nothing, so the
 * instance's heap and allocator state are left inconsistent and later calls fail too.
 */
export function isWasmTrap(e: unknown): boolean {
  return e instanceof wasm.RuntimeError;
}

/** Whether the current SEAL instance has trapped since it was made (see `rebuildSeal`). */
export function sealTrapped(): boolean {
  return trapped;
}

/** Records `e` if it is a trap, so a long-lived process knows to rebuild; returns `e`. */
export function noteTrap(e: unknown): unknown {
  if (isWasmTrap(e)) trapped = true;
  return e;
}

/**
 * Drop the current SEAL instance; the next `loadSeal` instantiates a fresh one. Every SEAL object
 * made from the old instance (contexts, keys, ciphertexts) must be dropped with it: a
 * long-lived process calls this after a trap, then rebuilds what it holds.
 */
export function rebuildSeal(): void {
  instance = undefined;
  trapped = false;
  generation++;
}

/** The current instance's generation; a holder of SEAL objects records it and rebuilds when it changes. */
export function sealGeneration(): number {
  return generation;
}

/**
 * For a long-lived process, before each use of SEAL objects made under `madeIn`: rebuilds a
 * trapped instance and says whether those objects are stale (from a dropped instance) and must
 * be made again.
 */
export function sealObjectsStale(madeIn: number): boolean {
  if (trapped) rebuildSeal();
  return madeIn !== generation;
}

/** Where SEAL's WebAssembly bytes come from: node-seal's file in Node; a page sets a URL to fetch (see app/browser.ts). */
export type SealWasmSource = () => Promise<Uint8Array>;

let wasmSource: SealWasmSource = async () => {
  // A dynamic import, so a browser bundle that sets its own source never loads node:fs.
  const { readFile } = await import('node:fs/promises');
  return readFile(new URL('seal_throws.wasm', import.meta.resolve('node-seal')));
};

/** Set where the SEAL WebAssembly is read from; call it before the first `loadSeal`. */
export function setSealWasmSource(source: SealWasmSource): void {
  if (instance) throw new DeepPowersError('BAD_ARGUMENT', 'the SEAL WebAssembly source is set after SEAL was loaded');
  wasmSource = source;
}

function sealInstance(): Promise<SealInstance> {
  instance ??= instantiate();
  return instance;
}

async function instantiate(): Promise<SealInstance> {
  let memory: WasmMemory | undefined;
  let failed: (e: unknown) => void = () => {};
  const failure = new Promise<never>((_, reject) => (failed = reject));
  // Emscripten lets the host do the instantiation; doing it here is the only way to reach the
  // module's memory, which node-seal does not export.
  const instantiateWasm = (
    imports: object,
    receive: (instance: WasmInstance, module: object) => void,
  ): object => {
    void (async () => {
      const bytes = await wasmSource();
      const { instance: inst, module } = await wasm.instantiate(bytes, imports);
      memory = Object.values(inst.exports).find((e): e is WasmMemory => e instanceof wasm.Memory);
      receive(inst, module);
    })().catch(failed);
    return {};
  };
  // A failed read (a page whose WASM URL is wrong) would otherwise leave SEAL waiting forever.
  const seal = await Promise.race([SEAL({ instantiateWasm }), failure]).catch((e: unknown) => {
    instance = undefined;
    throw new DeepPowersError('IO', `cannot load SEAL's WebAssembly: ${e instanceof Error ? e.message : String(e)}`);
  });
  return { seal, memory };
}

/**
 * SEAL throws C++ exceptions as `WebAssembly.Exception`s that hold a heap-allocated exception
 * object. This reads its message and releases it (it would otherwise leak), returning
 * e.g. "std::invalid_argument: ciphertext data is invalid". Non-SEAL errors pass through as text.
 */
export function sealErrorMessage(seal: Seal, e: unknown): string {
  if (isWasmTrap(e)) {
    trapped = true;
    return `WebAssembly trap in SEAL: ${(e as Error).message}`;
  }
  if (wasm.Exception && e instanceof wasm.Exception) {
    const api = seal as unknown as {
      getExceptionMessage(e: object): [string, string | undefined];
      decrementExceptionRefcount(e: object): void;
    };
    try {
      const [type, message] = api.getExceptionMessage(e);
      return message ? `${type}: ${message}` : type;
    } finally {
      api.decrementExceptionRefcount(e);
    }
  }
  return e instanceof Error ? e.message : String(e);
}
