/**
 * An incremental JSON syntax check over bytes as they arrive. It never builds a value; its job is
 * to notice garbage at the first byte that cannot belong to a JSON text, so that a large bad body
 * is refused after one chunk instead of being buffered whole and handed to JSON.parse. It is
 * lenient where leniency costs nothing (number grammar, UTF-8 validity): JSON.parse of the full
 * text stays the authority on what is valid. It must never reject a valid JSON text.
 */

type Mode = 'value' | 'key' | 'colon' | 'after' | 'string' | 'number' | 'literal';

const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const ESCAPES = new Set([...'"\\/bfnrtu'].map((c) => c.charCodeAt(0)));
const LITERALS = new Map([...['true', 'false', 'null']].map((w) => [w.charCodeAt(0), w]));

const isSpace = (b: number): boolean => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;
const isHex = (b: number): boolean => isDigit(b) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
/** Characters that may continue a number (checked exactly by JSON.parse at the end). */
const isNumberPart = (b: number): boolean => isDigit(b) || b === 0x2d || b === 0x2b || b === 0x2e || b === 0x45 || b === 0x65;

export class JsonSyntaxCheck {
  private readonly containers: number[] = [];
  private mode: Mode = 'value';
  /** In 'value' or 'key' mode right after an opening bracket: the matching close is allowed. */
  private mayClose = false;
  private stringIsKey = false;
  /** 0: not in an escape; 1: after a backslash; 2–5: hex digits of \uXXXX still to come, plus one. */
  private escape = 0;
  private literal = '';
  private literalAt = 0;
  private offset = 0;
  private sawValue = false;
  private failure: string | undefined;

  /** The first syntax error seen, as "unexpected byte 0x.. at offset N", or undefined. */
  get error(): string | undefined {
    return this.failure;
  }

  /** Feed the next bytes; false once the text can no longer be JSON. */
  push(bytes: Uint8Array): boolean {
    if (this.failure) return false;
    for (const b of bytes) {
      if (!this.step(b)) {
        this.failure = `unexpected byte 0x${b.toString(16).padStart(2, '0')} at offset ${this.offset}`;
        return false;
      }
      this.offset++;
    }
    return true;
  }

  /** Whether the bytes pushed so far end a complete JSON text. */
  complete(): boolean {
    if (this.failure) return false;
    if (this.mode === 'number') return this.containers.length === 0;
    return this.mode === 'after' && this.containers.length === 0 && this.sawValue;
  }

  private step(b: number): boolean {
    switch (this.mode) {
      case 'string':
        return this.inString(b);
      case 'literal':
        if (b !== this.literal.charCodeAt(this.literalAt)) return false;
        if (++this.literalAt === this.literal.length) this.valueDone();
        return true;
      case 'number':
        if (isNumberPart(b)) return true;
        this.valueDone();
        return this.step(b);
      case 'value':
        return isSpace(b) || this.startValue(b);
      case 'key':
        if (isSpace(b)) return true;
        if (b === QUOTE) return this.startString(true);
        return b === CLOSE_OBJECT && this.mayClose && this.close(OPEN_OBJECT);
      case 'colon':
        if (isSpace(b)) return true;
        if (b !== COLON) return false;
        this.mode = 'value';
        this.mayClose = false;
        return true;
      case 'after':
        return isSpace(b) || this.afterValue(b);
    }
  }

  private startValue(b: number): boolean {
    if (b === OPEN_OBJECT || b === OPEN_ARRAY) {
      this.containers.push(b);
      this.mode = b === OPEN_OBJECT ? 'key' : 'value';
      this.mayClose = true;
      return true;
    }
    if (b === CLOSE_ARRAY) return this.mayClose && this.containers.at(-1) === OPEN_ARRAY && this.close(OPEN_ARRAY);
    if (b === QUOTE) return this.startString(false);
    if (b === 0x2d || isDigit(b)) {
      this.mode = 'number';
      return true;
    }
    const word = LITERALS.get(b);
    if (word === undefined) return false;
    this.mode = 'literal';
    this.literal = word;
    this.literalAt = 1;
    return true;
  }

  private afterValue(b: number): boolean {
    const top = this.containers.at(-1);
    if (top === undefined) return false;
    if (b === COMMA) {
      this.mode = top === OPEN_OBJECT ? 'key' : 'value';
      this.mayClose = false;
      return true;
    }
    if (b === CLOSE_OBJECT) return top === OPEN_OBJECT && this.close(OPEN_OBJECT);
    return b === CLOSE_ARRAY && top === OPEN_ARRAY && this.close(OPEN_ARRAY);
  }

  private startString(isKey: boolean): boolean {
    this.mode = 'string';
    this.stringIsKey = isKey;
    this.escape = 0;
    return true;
  }

  private inString(b: number): boolean {
    if (this.escape === 1) {
      if (!ESCAPES.has(b)) return false;
      this.escape = b === 0x75 ? 5 : 0;
      return true;
    }
    if (this.escape > 1) {
      if (!isHex(b)) return false;
      this.escape = this.escape === 2 ? 0 : this.escape - 1;
      return true;
    }
    if (b < 0x20) return false;
    if (b === BACKSLASH) this.escape = 1;
    else if (b === QUOTE) {
      if (this.stringIsKey) this.mode = 'colon';
      else this.valueDone();
    }
    return true;
  }

  private close(open: number): boolean {
    if (this.containers.pop() !== open) return false;
    this.valueDone();
    return true;
  }

  private valueDone(): void {
    this.mode = 'after';
    this.mayClose = false;
    if (this.containers.length === 0) this.sawValue = true;
  }
}
