import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { i420Size } from '../../src/core/index.js';
import { VideoDecoder } from '../../src/media/index.js';
import { clipPath, hasTestData, noDataReason, truthPath } from '../support/paths.js';
import { ffmpeg, isAlive, makeWorkDir, MediaTracker, removeWorkDir } from './media-support.js';

const tracker = new MediaTracker();
const work = makeWorkDir('decoder');
afterEach(() => tracker.closeAll());
afterAll(() => removeWorkDir(work));

function truthFrames(name: string): number {
  const truth = JSON.parse(readFileSync(truthPath(name), 'utf8')) as { frames: unknown[] };
  return truth.frames.length;
}

describe.skipIf(!hasTestData)(`VideoDecoder on real clips${hasTestData ? '' : ` (skipped: ${noDataReason})`}`, () => {
  it.each([
    ['lp_driving_d0', 512, 512],
    ['st_WDA_KatieHill_000', 512, 512],
  ])('decodes every frame of %s (count equals the truth)', async (name, width, height) => {
    const decoder = tracker.decoder(new VideoDecoder({ input: clipPath(name) }));
    const info = await decoder.start();
    expect([info.width, info.height]).toEqual([width, height]);
    let count = 0;
    let lastPts = -1;
    for await (const frame of decoder.frames()) {
      expect(frame.index).toBe(count);
      expect([frame.width, frame.height]).toEqual([width, height]);
      expect(frame.data.length).toBe(i420Size(width, height));
      expect(frame.ptsMs).toBeGreaterThan(lastPts);
      lastPts = frame.ptsMs;
      count += 1;
    }
    expect(count).toBe(truthFrames(name));
    expect(decoder.framesDecoded).toBe(count);
  });

  it('gives real timestamps: frame i of a 25 fps clip is at i * 40 ms', async () => {
    const decoder = tracker.decoder(new VideoDecoder({ input: clipPath('lp_driving_d0') }));
    const pts: number[] = [];
    for await (const frame of decoder.frames()) {
      pts.push(frame.ptsMs);
    }
    expect(pts.slice(0, 4)).toEqual([0, 40, 80, 120]);
    expect(pts.at(-1)).toBe(77 * 40);
  });

  it('hands out frames that stay valid: each frame has its own memory', async () => {
    const decoder = tracker.decoder(new VideoDecoder({ input: clipPath('lp_driving_d0') }));
    const kept = [];
    for await (const frame of decoder.frames()) {
      kept.push(frame);
      if (kept.length === 3) {
        break;
      }
    }
    expect(new Set(kept.map((f) => f.data.buffer)).size).toBe(3);
    expect(kept[0]?.data.equals(kept[2]?.data ?? Buffer.alloc(0))).toBe(false);
  });

  it('keeps the first frame size when the resolution changes mid-stream (scaled back)', async () => {
    const a = join(work, 'a.ts');
    const b = join(work, 'b.ts');
    const list = join(work, 'list.txt');
    const joined = join(work, 'a-then-b.ts');
    await ffmpeg('-i', clipPath('lp_driving_d0'), '-frames:v', '20', '-vf', 'scale=320:240', '-an',
      '-c:v', 'libx264', '-preset', 'ultrafast', a);
    await ffmpeg('-i', clipPath('lp_driving_d20'), '-frames:v', '15', '-vf', 'scale=160:120', '-an',
      '-c:v', 'libx264', '-preset', 'ultrafast', b);
    writeFileSync(list, `file '${a}'\nfile '${b}'\n`);
    await ffmpeg('-f', 'concat', '-safe', '0', '-i', list, '-c', 'copy', joined);

    const decoder = tracker.decoder(new VideoDecoder({ input: joined }));
    const info = await decoder.start();
    expect([info.width, info.height]).toEqual([320, 240]);
    const sizes = new Set<string>();
    let count = 0;
    for await (const frame of decoder.frames()) {
      sizes.add(`${frame.width}x${frame.height}/${frame.data.length}`);
      count += 1;
    }
    expect(count).toBe(35);
    expect([...sizes]).toEqual([`320x240/${i420Size(320, 240)}`]);
  });

  it('decodes odd sizes with rounded-up chroma planes', async () => {
    const odd = join(work, 'odd.mkv');
    await ffmpeg('-i', clipPath('lp_driving_d0'), '-frames:v', '5', '-vf', 'scale=101:75', '-an',
      '-c:v', 'ffv1', odd);
    const decoder = tracker.decoder(new VideoDecoder({ input: odd }));
    let count = 0;
    for await (const frame of decoder.frames()) {
      expect(frame.data.length).toBe(i420Size(101, 75));
      count += 1;
    }
    expect(count).toBe(5);
  });

  it('yields the decodable frames of a truncated file whose index comes first, then finishes', async () => {
    // lp_driving_d20 has its moov atom at the start, so the first 30% still opens.
    const whole = readFileSync(clipPath('lp_driving_d20'));
    const truncated = join(work, 'truncated-faststart.mp4');
    writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length * 0.3)));
    const decoder = tracker.decoder(new VideoDecoder({ input: truncated }));
    const info = await decoder.start();
    let count = 0;
    for await (const frame of decoder.frames()) {
      expect(frame.data.length).toBe(i420Size(info.width, info.height));
      count += 1;
    }
    expect(count).toBeGreaterThan(0);
    expect(count).toBeLessThan(info.frameCount ?? Infinity);
    expect(decoder.stderrTail.join('\n')).toMatch(/partial file|Invalid data/);
  });

  it('stops ffmpeg when the consumer breaks out of the loop', async () => {
    const decoder = tracker.decoder(new VideoDecoder({ input: clipPath('lp_driving_d6') }));
    for await (const frame of decoder.frames()) {
      if (frame.index === 2) {
        break;
      }
    }
    expect(decoder.pid).toBeTypeOf('number');
    await decoder.close();
    expect(isAlive(decoder.pid)).toBe(false);
  });
});
