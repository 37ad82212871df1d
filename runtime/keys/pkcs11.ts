import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fail } from '../../compiler/errors';

/**
 * A PKCS#11 token, spoken to directly: the vendor's module (a shared library such as
 * /usr/lib/softhsm/libsofthsm2.so) is loaded with koffi (an FFI whose npm package ships prebuilt
 * binaries, so `npm ci` needs no compiler and no internet) and called through the function list
 * `C_GetFunctionList` returns, as the standard requires. Only what DeepPowers needs is here:
 * find a token by label, log in, find or generate keys, AES-GCM encrypt/decrypt and Ed25519
 * sign inside the token. Memory crossing into the module is allocated with koffi (stable
 * addresses for pointers nested in attribute templates) and laid out by hand for LP64 (Linux,
 * macOS: CK_ULONG and pointers are 8 bytes, structures unpacked).
 */

type Koffi = typeof import('koffi');
/** Loaded on first use: commands that never touch a token do not load the FFI. */
let koffi: Koffi;

/** Return values and constants from the PKCS#11 v2.40 / v3.0 headers. */
export const CKR = {
  OK: 0x0,
  ATTRIBUTE_VALUE_INVALID: 0x13,
  DATA_LEN_RANGE: 0x21,
  ENCRYPTED_DATA_INVALID: 0x40,
  ENCRYPTED_DATA_LEN_RANGE: 0x41,
  KEY_TYPE_INCONSISTENT: 0x63,
  MECHANISM_INVALID: 0x70,
  MECHANISM_PARAM_INVALID: 0x71,
  PIN_INCORRECT: 0xa0,
  PIN_INVALID: 0xa1,
  PIN_LEN_RANGE: 0xa2,
  PIN_EXPIRED: 0xa3,
  PIN_LOCKED: 0xa4,
  TEMPLATE_INCONSISTENT: 0xd1,
  TOKEN_NOT_PRESENT: 0xe0,
  TOKEN_NOT_RECOGNIZED: 0xe1,
  USER_ALREADY_LOGGED_IN: 0x100,
  USER_PIN_NOT_INITIALIZED: 0x102,
  BUFFER_TOO_SMALL: 0x150,
  CRYPTOKI_ALREADY_INITIALIZED: 0x191,
} as const;

const CKF_RW_SESSION = 0x2;
const CKF_SERIAL_SESSION = 0x4;
const CKF_TOKEN_INITIALIZED = 0x400;
const CKU_USER = 1;

const CKO_PUBLIC_KEY = 2;
const CKO_PRIVATE_KEY = 3;
const CKO_SECRET_KEY = 4;
const CKK_AES = 0x1f;
const CKK_EC_EDWARDS = 0x40;

const CKA = {
  CLASS: 0x0,
  TOKEN: 0x1,
  PRIVATE: 0x2,
  LABEL: 0x3,
  KEY_TYPE: 0x100,
  ID: 0x102,
  SENSITIVE: 0x103,
  ENCRYPT: 0x104,
  DECRYPT: 0x105,
  SIGN: 0x108,
  VERIFY: 0x10a,
  VALUE_LEN: 0x161,
  EXTRACTABLE: 0x162,
  EC_PARAMS: 0x180,
  EC_POINT: 0x181,
} as const;

export const CKM = {
  AES_KEY_GEN: 0x1080,
  AES_GCM: 0x1087,
  EC_EDWARDS_KEY_PAIR_GEN: 0x1055,
  EDDSA: 0x1057,
} as const;

export const MECHANISM_NAMES: Readonly<Record<number, string>> = {
  [CKM.AES_KEY_GEN]: 'CKM_AES_KEY_GEN',
  [CKM.AES_GCM]: 'CKM_AES_GCM',
  [CKM.EC_EDWARDS_KEY_PAIR_GEN]: 'CKM_EC_EDWARDS_KEY_PAIR_GEN',
  [CKM.EDDSA]: 'CKM_EDDSA',
};

/** DER of the Ed25519 curve OID 1.3.101.112, the CKA_EC_PARAMS PKCS#11 v3.0 specifies for Ed25519. */
const ED25519_EC_PARAMS = Buffer.from('06032b6570', 'hex');
const GCM_TAG_BITS = 128;

const CKR_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(CKR).map(([k, v]) => [v, `CKR_${k}`]));

/** A PKCS#11 call failed; `rv` is its return value, for callers that turn some into their own message. */
export class Pkcs11Error extends Error {
  constructor(
    readonly fn: string,
    readonly rv: number,
  ) {
    super(`${fn} failed: ${CKR_NAMES[rv] ?? `CKR 0x${rv.toString(16)}`}`);
  }
}

type Fn = (...args: unknown[]) => number | bigint;

/**
 * The functions of CK_FUNCTION_LIST this file calls, by their index among its 68 pointers (after
 * CK_VERSION, padded to 8 bytes); indices checked with offsetof against p11-kit's pkcs11.h.
 */
const FUNCTIONS = {
  C_Initialize: [0, 'void *'],
  C_GetSlotList: [4, 'uint8_t', 'void *', 'void *'],
  C_GetTokenInfo: [6, 'unsigned long', 'void *'],
  C_GetMechanismList: [7, 'unsigned long', 'void *', 'void *'],
  C_OpenSession: [12, 'unsigned long', 'unsigned long', 'void *', 'void *', 'void *'],
  C_CloseSession: [13, 'unsigned long'],
  C_Login: [18, 'unsigned long', 'unsigned long', 'void *', 'unsigned long'],
  C_GetAttributeValue: [24, 'unsigned long', 'unsigned long', 'void *', 'unsigned long'],
  C_FindObjectsInit: [26, 'unsigned long', 'void *', 'unsigned long'],
  C_FindObjects: [27, 'unsigned long', 'void *', 'unsigned long', 'void *'],
  C_FindObjectsFinal: [28, 'unsigned long'],
  C_EncryptInit: [29, 'unsigned long', 'void *', 'unsigned long'],
  C_Encrypt: [30, 'unsigned long', 'void *', 'unsigned long', 'void *', 'void *'],
  C_DecryptInit: [33, 'unsigned long', 'void *', 'unsigned long'],
  C_Decrypt: [34, 'unsigned long', 'void *', 'unsigned long', 'void *', 'void *'],
  C_SignInit: [42, 'unsigned long', 'void *', 'unsigned long'],
  C_Sign: [43, 'unsigned long', 'void *', 'unsigned long', 'void *', 'void *'],
  C_GenerateKey: [58, 'unsigned long', 'void *', 'void *', 'unsigned long', 'void *'],
  C_GenerateKeyPair: [59, 'unsigned long', 'void *', 'void *', 'unsigned long', 'void *', 'unsigned long', 'void *', 'void *'],
} as const satisfies Record<string, readonly [number, ...string[]]>;
const FUNCTION_COUNT = 68;

type FunctionName = keyof typeof FUNCTIONS;

/** Native memory that stays put while the module reads or writes it; freed together after the call. */
class Arena {
  private readonly blocks: unknown[] = [];

  alloc(bytes: number): unknown {
    const p = koffi.alloc('uint8_t', Math.max(bytes, 1));
    this.blocks.push(p);
    return p;
  }

  bytes(data: Uint8Array): unknown {
    const p = this.alloc(data.length);
    new Uint8Array(koffi.view(p, Math.max(data.length, 1))).set(data);
    return p;
  }

  ulongs(values: readonly number[]): unknown {
    const p = this.alloc(8 * Math.max(values.length, 1));
    const dv = new DataView(koffi.view(p, 8 * Math.max(values.length, 1)));
    values.forEach((v, i) => dv.setBigUint64(8 * i, BigInt(v), true));
    return p;
  }

  /** A CK_MECHANISM { type, pParameter, ulParameterLen }; `parameter` is a block of this arena and its length. */
  mechanism(type: number, parameter?: { readonly pointer: unknown; readonly length: number }): unknown {
    const p = this.alloc(24);
    const dv = new DataView(koffi.view(p, 24));
    dv.setBigUint64(0, BigInt(type), true);
    dv.setBigUint64(8, parameter === undefined ? 0n : koffi.address(parameter.pointer), true);
    dv.setBigUint64(16, BigInt(parameter?.length ?? 0), true);
    return p;
  }

  /** A CK_ATTRIBUTE array; each value is copied into its own block. */
  template(attributes: readonly Attribute[]): { pointer: unknown; count: number } {
    const p = this.alloc(24 * Math.max(attributes.length, 1));
    const dv = new DataView(koffi.view(p, 24 * Math.max(attributes.length, 1)));
    attributes.forEach(([type, value], i) => {
      const bytes = encodeValue(value);
      dv.setBigUint64(24 * i, BigInt(type), true);
      dv.setBigUint64(24 * i + 8, koffi.address(this.bytes(bytes)), true);
      dv.setBigUint64(24 * i + 16, BigInt(bytes.length), true);
    });
    return { pointer: p, count: attributes.length };
  }

  free(): void {
    for (const b of this.blocks.splice(0)) koffi.free(b);
  }
}

/** `f` with a fresh arena, freed when `f` returns or throws: the native memory of one call into the module. */
function inArena<T>(f: (arena: Arena) => T): T {
  const arena = new Arena();
  try {
    return f(arena);
  } finally {
    arena.free();
  }
}

type AttributeValue = boolean | number | string | Uint8Array;
type Attribute = readonly [number, AttributeValue];

/** A key that never leaves the token: stored on it, usable only after login, its value never returned, never wrapped out. */
const KEPT_IN_TOKEN: readonly Attribute[] = [
  [CKA.TOKEN, true],
  [CKA.PRIVATE, true],
  [CKA.SENSITIVE, true],
  [CKA.EXTRACTABLE, false],
];

function encodeValue(v: AttributeValue): Uint8Array {
  if (typeof v === 'boolean') return Uint8Array.of(v ? 1 : 0);
  if (typeof v === 'number') {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    return b;
  }
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  return v;
}

function readUlong(p: unknown, index = 0): number {
  return Number(new DataView(koffi.view(p, 8 * (index + 1))).getBigUint64(8 * index, true));
}

function readBytes(p: unknown, length: number): Buffer {
  return Buffer.from(new Uint8Array(koffi.view(p, Math.max(length, 1))).slice(0, length));
}

const loaded = new Map<string, Pkcs11Module>();

/** A loaded, initialised PKCS#11 module (one per path per process: C_Initialize is process-wide). */
export class Pkcs11Module {
  private readonly sessions = new Map<string, Pkcs11Session>();

  private constructor(
    readonly path: string,
    private readonly fns: Record<FunctionName, Fn>,
  ) {}

  static load(path: string): Pkcs11Module {
    const known = loaded.get(path);
    if (known) return known;
    koffi ??= createRequire(import.meta.url)('koffi') as Koffi;
    // The layouts here are LP64's; Windows (4-byte CK_ULONG, packed structures) and 32-bit systems differ.
    if (process.platform === 'win32' || koffi.sizeof('unsigned long') !== 8 || koffi.sizeof('void *') !== 8) {
      fail('BAD_ARGUMENT', `PKCS#11 tokens are supported on 64-bit Linux and macOS, not on ${process.platform} ${process.arch}`);
    }
    if (!existsSync(path)) fail('BAD_ARGUMENT', `PKCS#11 module ${path} not found (for SoftHSM: apt-get install softhsm2, then --pkcs11 /usr/lib/softhsm/libsofthsm2.so)`);
    let lib: ReturnType<Koffi['load']>;
    try {
      lib = koffi.load(path);
    } catch (e) {
      return fail('IO', `${path} is not a loadable PKCS#11 module: ${(e as Error).message.split('\n')[0]}`);
    }
    let getFunctionList: Fn;
    try {
      getFunctionList = lib.func('unsigned long C_GetFunctionList(_Out_ void **list)') as Fn;
    } catch {
      return fail('BAD_ARGUMENT', `${path} is not a PKCS#11 module: it has no C_GetFunctionList`);
    }
    const out = [null] as unknown[];
    const rv = Number(getFunctionList(out));
    if (rv !== CKR.OK || !out[0]) fail('BAD_ARGUMENT', `${path}: C_GetFunctionList failed (${CKR_NAMES[rv] ?? rv})`);
    const table = koffi.decode(out[0], 8, 'void *', FUNCTION_COUNT) as unknown[];
    const fns = {} as Record<FunctionName, Fn>;
    for (const [name, [index, ...params]] of Object.entries(FUNCTIONS) as [FunctionName, readonly [number, ...string[]]][]) {
      const proto = koffi.proto(`unsigned long __deeppowers_${name}(${params.join(', ')})`);
      fns[name] = koffi.decode(table[index], proto) as Fn;
    }
    const module = new Pkcs11Module(path, fns);
    const init = module.call('C_Initialize', null);
    if (init !== CKR.OK && init !== CKR.CRYPTOKI_ALREADY_INITIALIZED) throw new Pkcs11Error('C_Initialize', init);
    loaded.set(path, module);
    return module;
  }

  call(name: FunctionName, ...args: unknown[]): number {
    return Number(this.fns[name](...args));
  }

  check(name: FunctionName, ...args: unknown[]): void {
    const rv = this.call(name, ...args);
    if (rv !== CKR.OK) throw new Pkcs11Error(name, rv);
  }

  /** Labels of the initialised tokens present, by slot. */
  tokens(): { slot: number; label: string }[] {
    return inArena((arena) => {
      const count = arena.ulongs([0]);
      this.check('C_GetSlotList', 1, null, count);
      const n = readUlong(count);
      const slots = arena.ulongs(new Array<number>(n).fill(0));
      this.check('C_GetSlotList', 1, slots, count);
      const out: { slot: number; label: string }[] = [];
      for (let i = 0; i < readUlong(count); i++) {
        const slot = readUlong(slots, i);
        const info = arena.alloc(512);
        if (this.call('C_GetTokenInfo', slot, info) !== CKR.OK) continue;
        // CK_TOKEN_INFO.flags follows label, manufacturerID, model and serialNumber (96 bytes).
        if ((readUlong(info, 12) & CKF_TOKEN_INITIALIZED) === 0) continue;
        out.push({ slot, label: readBytes(info, 32).toString('utf8').replace(/[ \0]+$/, '') });
      }
      return out;
    });
  }

  /**
   * A logged-in read-write session on the token labelled `label`, shared by every caller in this
   * process. Throws Pkcs11Error from C_Login (wrong PIN and the like) for the caller to word.
   */
  session(label: string, pin: string): Pkcs11Session {
    const known = this.sessions.get(label);
    if (known) return known;
    const token = this.tokens().find((t) => t.label === label);
    if (!token) {
      const present = this.tokens().map((t) => `"${t.label}"`).join(', ') || 'none';
      fail('BAD_ARGUMENT', `no token labelled "${label}" in ${this.path} (tokens present: ${present})`);
    }
    return inArena((arena) => {
      const handle = arena.ulongs([0]);
      this.check('C_OpenSession', token.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, null, null, handle);
      const session = new Pkcs11Session(this, token.slot, label, readUlong(handle));
      const pinBytes = Buffer.from(pin, 'utf8');
      const rv = this.call('C_Login', session.handle, CKU_USER, arena.bytes(pinBytes), pinBytes.length);
      if (rv !== CKR.OK && rv !== CKR.USER_ALREADY_LOGGED_IN) {
        this.call('C_CloseSession', session.handle);
        throw new Pkcs11Error('C_Login', rv);
      }
      this.sessions.set(label, session);
      return session;
    });
  }
}

/** A handle to a key object inside the token. */
export type ObjectHandle = number;

export class Pkcs11Session {
  private mechanismList?: Set<number>;

  constructor(
    readonly module: Pkcs11Module,
    readonly slot: number,
    readonly tokenLabel: string,
    readonly handle: number,
  ) {}

  /** Whether the token lists `mechanism` (C_GetMechanismList). */
  supports(mechanism: number): boolean {
    this.mechanismList ??= inArena((arena) => {
      const count = arena.ulongs([0]);
      this.module.check('C_GetMechanismList', this.slot, null, count);
      const list = arena.ulongs(new Array<number>(readUlong(count)).fill(0));
      this.module.check('C_GetMechanismList', this.slot, list, count);
      return new Set(Array.from({ length: readUlong(count) }, (_, i) => readUlong(list, i)));
    });
    return this.mechanismList.has(mechanism);
  }

  /** The objects of `objectClass` labelled `label` (token objects only). */
  find(objectClass: 'secret' | 'private' | 'public', label: string): ObjectHandle[] {
    const cls = { secret: CKO_SECRET_KEY, private: CKO_PRIVATE_KEY, public: CKO_PUBLIC_KEY }[objectClass];
    return inArena((arena) => {
      const t = arena.template([
        [CKA.CLASS, cls],
        [CKA.LABEL, label],
        [CKA.TOKEN, true],
      ]);
      this.module.check('C_FindObjectsInit', this.handle, t.pointer, t.count);
      const found: ObjectHandle[] = [];
      try {
        const batch = arena.ulongs(new Array<number>(16).fill(0));
        const count = arena.ulongs([0]);
        for (let round = 0; round < 64; round++) {
          this.module.check('C_FindObjects', this.handle, batch, 16, count);
          const n = readUlong(count);
          for (let i = 0; i < n; i++) found.push(readUlong(batch, i));
          if (n < 16) break;
        }
      } finally {
        this.module.call('C_FindObjectsFinal', this.handle);
      }
      return found;
    });
  }

  /** One attribute's value (C_GetAttributeValue, sized by a first call). */
  attribute(object: ObjectHandle, type: number): Buffer {
    return inArena((arena) => {
      const t = arena.alloc(24);
      const dv = new DataView(koffi.view(t, 24));
      dv.setBigUint64(0, BigInt(type), true);
      this.module.check('C_GetAttributeValue', this.handle, object, t, 1);
      const length = Number(dv.getBigUint64(16, true));
      const value = arena.alloc(length);
      dv.setBigUint64(8, koffi.address(value), true);
      this.module.check('C_GetAttributeValue', this.handle, object, t, 1);
      return readBytes(value, Number(dv.getBigUint64(16, true)));
    });
  }

  booleanAttribute(object: ObjectHandle, type: number): boolean {
    return this.attribute(object, type)[0] === 1;
  }

  /**
   * A 256-bit AES key generated inside the token, stored there, never readable outside it:
   * sensitive (its value is never returned) and not extractable (it cannot be wrapped out).
   */
  generateAesKey(label: string, id: Uint8Array): ObjectHandle {
    return inArena((arena) => {
      const t = arena.template([
        [CKA.CLASS, CKO_SECRET_KEY],
        [CKA.KEY_TYPE, CKK_AES],
        [CKA.VALUE_LEN, 32],
        ...KEPT_IN_TOKEN,
        [CKA.ENCRYPT, true],
        [CKA.DECRYPT, true],
        [CKA.LABEL, label],
        [CKA.ID, id],
      ]);
      const out = arena.ulongs([0]);
      this.module.check('C_GenerateKey', this.handle, arena.mechanism(CKM.AES_KEY_GEN), t.pointer, t.count, out);
      return readUlong(out);
    });
  }

  /** An Ed25519 key pair generated in the token (private half sensitive and not extractable); the private key's handle. */
  generateEd25519(label: string, id: Uint8Array): ObjectHandle {
    return inArena((arena) => {
      const pub = arena.template([
        [CKA.CLASS, CKO_PUBLIC_KEY],
        [CKA.KEY_TYPE, CKK_EC_EDWARDS],
        [CKA.TOKEN, true],
        [CKA.VERIFY, true],
        [CKA.EC_PARAMS, ED25519_EC_PARAMS],
        [CKA.LABEL, label],
        [CKA.ID, id],
      ]);
      const priv = arena.template([
        [CKA.CLASS, CKO_PRIVATE_KEY],
        [CKA.KEY_TYPE, CKK_EC_EDWARDS],
        ...KEPT_IN_TOKEN,
        [CKA.SIGN, true],
        [CKA.LABEL, label],
        [CKA.ID, id],
      ]);
      const pubOut = arena.ulongs([0]);
      const privOut = arena.ulongs([0]);
      this.module.check('C_GenerateKeyPair', this.handle, arena.mechanism(CKM.EC_EDWARDS_KEY_PAIR_GEN), pub.pointer, pub.count, priv.pointer, priv.count, pubOut, privOut);
      return readUlong(privOut);
    });
  }

  /** The raw 32-byte Ed25519 public key of a public-key object (CKA_EC_POINT, DER OCTET STRING or raw). */
  ed25519PublicKey(object: ObjectHandle): Buffer {
    const point = this.attribute(object, CKA.EC_POINT);
    if (point.length === 34 && point[0] === 0x04 && point[1] === 0x20) return point.subarray(2);
    if (point.length === 32) return point;
    return fail('BAD_ARGUMENT', `token "${this.tokenLabel}": the key's CKA_EC_POINT is ${point.length} bytes, not an Ed25519 public key`);
  }

  /** Pure Ed25519 (CKM_EDDSA without parameters) over `message`, inside the token. */
  signEd25519(key: ObjectHandle, message: Uint8Array): Buffer {
    return inArena((arena) => {
      this.module.check('C_SignInit', this.handle, arena.mechanism(CKM.EDDSA), key);
      const data = arena.bytes(message);
      const sig = arena.alloc(64);
      const len = arena.ulongs([64]);
      this.module.check('C_Sign', this.handle, data, message.length, sig, len);
      return readBytes(sig, readUlong(len));
    });
  }

  /** AES-256-GCM (CKM_AES_GCM, 128-bit tag) inside the token; the result is ciphertext ‖ tag. */
  encryptGcm(key: ObjectHandle, iv: Uint8Array, aad: Uint8Array, plain: Uint8Array): Buffer {
    return this.gcm('encrypt', key, iv, aad, plain);
  }

  decryptGcm(key: ObjectHandle, iv: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer {
    return this.gcm('decrypt', key, iv, aad, sealed);
  }

  private gcm(direction: 'encrypt' | 'decrypt', key: ObjectHandle, iv: Uint8Array, aad: Uint8Array, input: Uint8Array): Buffer {
    return inArena((arena) => {
      // CK_GCM_PARAMS { pIv, ulIvLen, ulIvBits, pAAD, ulAADLen, ulTagBits }
      const params = arena.alloc(48);
      const dv = new DataView(koffi.view(params, 48));
      dv.setBigUint64(0, koffi.address(arena.bytes(iv)), true);
      dv.setBigUint64(8, BigInt(iv.length), true);
      dv.setBigUint64(16, BigInt(iv.length * 8), true);
      dv.setBigUint64(24, koffi.address(arena.bytes(aad)), true);
      dv.setBigUint64(32, BigInt(aad.length), true);
      dv.setBigUint64(40, BigInt(GCM_TAG_BITS), true);
      const mechanism = arena.mechanism(CKM.AES_GCM, { pointer: params, length: 48 });
      const data = arena.bytes(input);
      const outLength = input.length + GCM_TAG_BITS / 8;
      const out = arena.alloc(outLength);
      const len = arena.ulongs([outLength]);
      if (direction === 'encrypt') {
        this.module.check('C_EncryptInit', this.handle, mechanism, key);
        this.module.check('C_Encrypt', this.handle, data, input.length, out, len);
      } else {
        this.module.check('C_DecryptInit', this.handle, mechanism, key);
        this.module.check('C_Decrypt', this.handle, data, input.length, out, len);
      }
      return readBytes(out, readUlong(len));
    });
  }
}

export const ATTRIBUTES = CKA;
