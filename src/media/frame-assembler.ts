/**
 * Cuts a byte stream into fixed-size frames. Each frame is a fresh Buffer
 * with its own memory, so callers may keep, mutate or transfer it.
 */
export class FrameAssembler {
  readonly frameSize: number;
  #current: Buffer | undefined;
  #filled = 0;

  constructor(frameSize: number) {
    if (!Number.isInteger(frameSize) || frameSize <= 0) {
      throw new RangeError(`frame size must be a positive integer, got ${frameSize}`);
    }
    this.frameSize = frameSize;
  }

  /** Bytes of an incomplete frame waiting for more input. */
  get pendingBytes(): number {
    return this.#filled;
  }

  /** Adds a chunk; returns the frames it completed, in order. */
  push(chunk: Uint8Array): Buffer[] {
    const done: Buffer[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      this.#current ??= Buffer.allocUnsafeSlow(this.frameSize);
      const n = Math.min(this.frameSize - this.#filled, chunk.length - offset);
      this.#current.set(chunk.subarray(offset, offset + n), this.#filled);
      this.#filled += n;
      offset += n;
      if (this.#filled === this.frameSize) {
        done.push(this.#current);
        this.#current = undefined;
        this.#filled = 0;
      }
    }
    return done;
  }
}
