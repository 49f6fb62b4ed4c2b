import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AbortedError, i420Size, LivemaskError, MediaError, type I420Frame } from '../../src/core/index.js';
import { probe, VideoDecoder, VideoEncoder } from '../../src/media/index.js';
import { clipPath, hasTestData, noDataReason } from '../support/paths.js';
import { audioPacketsMd5, ffprobeJson, isAlive, makeWorkDir, MediaTracker, removeWorkDir } from './media-support.js';

const tracker = new MediaTracker();
const work = makeWorkDir('encoder');
afterEach(() => tracker.closeAll());
afterAll(() => removeWorkDir(work));

/** Decodes `input` and encodes every frame to `output`; returns the frame count. */
async function transcode(input: string, output: string, codec: 'h264' | 'vp8', audio: boolean): Promise<number> {
  const decoder = tracker.decoder(new VideoDecoder({ input }));
  const info = await decoder.start();
  const encoder = tracker.encoder(new VideoEncoder({
    output, width: info.width, height: info.height, fps: info.fps, codec,
    ...(audio ? { audioFrom: input } : {}),
  }));
  let count = 0;
  for await (const frame of decoder.frames()) {
    await encoder.write(frame);
    count += 1;
  }
  await encoder.end();
  expect(encoder.framesWritten).toBe(count);
  return count;
}

async function packetCount(file: string): Promise<number> {
  const json = await ffprobeJson('-count_packets', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_packets', file);
  return Number((json as { streams: { nb_read_packets: string }[] }).streams[0]?.nb_read_packets);
}

function grey(width: number, height: number, index: number): I420Frame {
  return { width, height, index, ptsMs: index * 40, data: Buffer.alloc(i420Size(width, height), 128) };
}

describe.skipIf(!hasTestData)(`VideoEncoder round trips${hasTestData ? '' : ` (skipped: ${noDataReason})`}`, () => {
  it('decode -> h264 .mp4 with audioFrom keeps size, frame count and the audio bit for bit', async () => {
    const input = clipPath('lp_driving_d11');
    const output = join(work, 'd11.mp4');
    const source = await probe(input);
    expect(source.hasAudio).toBe(true);
    const count = await transcode(input, output, 'h264', true);
    const result = await probe(output);
    expect([result.width, result.height]).toEqual([source.width, source.height]);
    expect(count).toBe(source.frameCount);
    expect(result.frameCount).toBe(count);
    expect(result.fps).toBe(source.fps);
    expect(result.videoCodec).toBe('h264');
    expect(result.hasAudio).toBe(true);
    expect(result.audioCodec).toBe(source.audioCodec);
    expect(await audioPacketsMd5(output)).toBe(await audioPacketsMd5(input));
  });

  it('audioFrom a clip without audio gives an output without audio', async () => {
    const input = clipPath('lp_driving_d0');
    expect((await probe(input)).hasAudio).toBe(false);
    const output = join(work, 'd0.mp4');
    const count = await transcode(input, output, 'h264', true);
    const result = await probe(output);
    expect(result.frameCount).toBe(count);
    expect(result.hasAudio).toBe(false);
  });

  it('vp8 .webm works, with the AAC audio re-encoded to Opus', async () => {
    const input = clipPath('lp_driving_d18');
    const output = join(work, 'd18.webm');
    const count = await transcode(input, output, 'vp8', true);
    const result = await probe(output);
    expect(result.videoCodec).toBe('vp8');
    expect([result.width, result.height]).toEqual([480, 480]);
    expect(await packetCount(output)).toBe(count);
    expect(result.audioCodec).toBe('opus');
  });
});

describe('VideoEncoder failures', () => {
  it('rejects a frame of the wrong size with BAD_USAGE before touching ffmpeg', async () => {
    const encoder = tracker.encoder(new VideoEncoder({ output: join(work, 'x.mp4'), width: 64, height: 48, fps: 25, codec: 'h264' }));
    await expect(encoder.write(grey(32, 32, 0))).rejects.toMatchObject({ code: 'BAD_USAGE' });
    expect(encoder.pid).toBeUndefined();
  });

  it('rejects h264 into .webm with BAD_USAGE naming the field', () => {
    expect(() => new VideoEncoder({ output: join(work, 'x.webm'), width: 64, height: 48, fps: 25, codec: 'h264' }))
      .toThrow(/codec/);
  });

  it('an output ffmpeg cannot write gives FFMPEG_FAILED with its stderr tail', async () => {
    const output = join(work, 'no-such-dir', 'x.mp4');
    const encoder = tracker.encoder(new VideoEncoder({ output, width: 64, height: 48, fps: 25, codec: 'h264' }));
    const err = await encoder.write(grey(64, 48, 0)).then(() => encoder.end()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MediaError);
    expect(err).toMatchObject({ code: 'FFMPEG_FAILED' });
    expect((err as MediaError).stderrTail.join('\n')).toMatch(/No such file or directory/);
  });

  it('ffmpeg killed mid-encode makes the next write or end reject with FFMPEG_FAILED', async () => {
    const encoder = tracker.encoder(new VideoEncoder({ output: join(work, 'killed.mp4'), width: 64, height: 48, fps: 25, codec: 'h264' }));
    await encoder.write(grey(64, 48, 0));
    process.kill(encoder.pid ?? -1, 'SIGKILL');
    const err = await (async () => {
      for (let i = 1; i < 10_000; i += 1) {
        await encoder.write(grey(64, 48, i));
      }
      await encoder.end();
    })().then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'FFMPEG_FAILED' });
    expect((err as Error).message).toMatch(/SIGKILL/);
  });

  it('aborting through the signal stops ffmpeg, rejects with AbortedError and removes the partial output', async () => {
    const controller = new AbortController();
    const output = join(work, 'aborted.mp4');
    const encoder = tracker.encoder(new VideoEncoder({ output, width: 64, height: 48, fps: 25, codec: 'h264', signal: controller.signal }));
    await encoder.write(grey(64, 48, 0));
    const pid = encoder.pid;
    controller.abort();
    await expect(encoder.end()).rejects.toBeInstanceOf(AbortedError);
    await encoder.abort();
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(output)).toBe(false);
  });

  it('write after end is refused with CLOSED', async () => {
    const encoder = tracker.encoder(new VideoEncoder({ output: join(work, 'short.mkv'), width: 64, height: 48, fps: 25, codec: 'vp8' }));
    await encoder.write(grey(64, 48, 0));
    await encoder.end();
    const err = await encoder.write(grey(64, 48, 1)).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(LivemaskError);
    expect(err).toMatchObject({ code: 'CLOSED' });
    expect(existsSync(join(work, 'short.mkv'))).toBe(true);
  });
});
