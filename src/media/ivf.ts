/**
 * IVF, the plain container of VP8 frames that ffmpeg reads and writes on a
 * pipe: a 32-byte file header, then each frame as a 12-byte header (size,
 * 64-bit pts) and its bytes. Pure.
 */

export const IVF_HEADER_SIZE = 32;
export const IVF_FRAME_HEADER_SIZE = 12;

/** The file header: VP8, `width` x `height`, pts counted in 1/`timebase` s. */
export function ivfFileHeader(width: number, height: number, timebase: number): Buffer {
  const b = Buffer.alloc(IVF_HEADER_SIZE);
  b.write('DKIF', 0, 'ascii');
  b.writeUInt16LE(0, 4);
  b.writeUInt16LE(IVF_HEADER_SIZE, 6);
  b.write('VP80', 8, 'ascii');
  b.writeUInt16LE(width, 12);
  b.writeUInt16LE(height, 14);
  b.writeUInt32LE(timebase, 16); // rate: the time base's denominator
  b.writeUInt32LE(1, 20); // scale: its numerator
  return b;
}

/** One frame, header and bytes. */
export function ivfFrame(data: Uint8Array, pts: number): Buffer {
  const head = Buffer.alloc(IVF_FRAME_HEADER_SIZE);
  head.writeUInt32LE(data.length, 0);
  head.writeBigUInt64LE(BigInt(Math.max(0, Math.trunc(pts))), 4);
  return Buffer.concat([head, data]);
}

export interface IvfFrame {
  data: Buffer;
  pts: number;
}

/** Reads an IVF byte stream chunk by chunk; `push` returns the frames it completed. */
export class IvfReader {
  #buffer: Buffer = Buffer.alloc(0);
  #headerSeen = false;

  push(chunk: Buffer): IvfFrame[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const frames: IvfFrame[] = [];
    if (!this.#headerSeen) {
      if (this.#buffer.length < IVF_HEADER_SIZE) {
        return frames;
      }
      if (this.#buffer.toString('ascii', 0, 4) !== 'DKIF') {
        throw new Error('not an IVF stream (no DKIF signature)');
      }
      const headerSize = this.#buffer.readUInt16LE(6);
      this.#buffer = this.#buffer.subarray(Math.max(IVF_HEADER_SIZE, headerSize));
      this.#headerSeen = true;
    }
    while (this.#buffer.length >= IVF_FRAME_HEADER_SIZE) {
      const size = this.#buffer.readUInt32LE(0);
      if (this.#buffer.length < IVF_FRAME_HEADER_SIZE + size) {
        break;
      }
      const pts = Number(this.#buffer.readBigUInt64LE(4));
      frames.push({ data: Buffer.from(this.#buffer.subarray(IVF_FRAME_HEADER_SIZE, IVF_FRAME_HEADER_SIZE + size)), pts });
      this.#buffer = this.#buffer.subarray(IVF_FRAME_HEADER_SIZE + size);
    }
    return frames;
  }
}
