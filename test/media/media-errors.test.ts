import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AbortedError, MediaError } from '../../src/core/index.js';
import { checkFfmpeg, FfmpegProcess, probe, VideoDecoder, VideoEncoder } from '../../src/media/index.js';
import { clipPath, hasTestData, noDataReason } from '../support/paths.js';
import { isAlive, makeWorkDir, MediaTracker, removeWorkDir } from './media-support.js';

const tracker = new MediaTracker();
const work = makeWorkDir('errors');
afterEach(() => tracker.closeAll());
afterAll(() => removeWorkDir(work));

/** Runs `fn`, expecting a rejection; returns the error. */
async function failure(fn: () => Promise<unknown>): Promise<unknown> {
  return fn().then(
    () => expect.fail('expected a rejection'),
    (err: unknown) => err,
  );
}

async function decodeAll(decoder: VideoDecoder): Promise<number> {
  let count = 0;
  for await (const frame of decoder.frames()) {
    count = frame.index + 1;
  }
  return count;
}

function expectOneLine(err: unknown, code: string, pattern: RegExp): void {
  expect(err).toBeInstanceOf(MediaError);
  expect(err).toMatchObject({ code });
  const message = (err as Error).message;
  expect(message).not.toContain('\n');
  expect(message).toMatch(pattern);
}

describe('unreadable inputs give INPUT_UNREADABLE with a one-line reason', () => {
  const zero = join(work, 'zero.mp4');
  const text = join(work, 'notes.mp4');
  writeFileSync(zero, '');
  writeFileSync(text, 'this is a text file, not a video\n'.repeat(20));

  it.each([
    ['a missing file', join(work, 'missing.mp4'), /input not found/],
    ['a zero-byte file', zero, /empty \(0 bytes\)/],
    ['a text file', text, /Invalid data|moov atom not found/],
  ])('%s: probe and the decoder both reject', async (_what, input, reason) => {
    expectOneLine(await failure(() => probe(input)), 'INPUT_UNREADABLE', reason);
    const decoder = tracker.decoder(new VideoDecoder({ input }));
    expectOneLine(await failure(() => decodeAll(decoder)), 'INPUT_UNREADABLE', reason);
    expect(decoder.pid).toBeUndefined();
  });
});

describe.skipIf(!hasTestData)(`broken real clips${hasTestData ? '' : ` (skipped: ${noDataReason})`}`, () => {
  it('a truncated mp4 (first 30%, moov atom at the end) is INPUT_UNREADABLE', async () => {
    const whole = readFileSync(clipPath('lp_driving_d0'));
    const truncated = join(work, 'truncated.mp4');
    writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length * 0.3)));
    const decoder = tracker.decoder(new VideoDecoder({ input: truncated }));
    expectOneLine(await failure(() => decodeAll(decoder)), 'INPUT_UNREADABLE', /moov atom not found/);
  });

  it('ffmpeg killed mid-stream (SIGKILL on its pid) gives FFMPEG_FAILED with the stderr tail', async () => {
    const decoder = tracker.decoder(new VideoDecoder({ input: clipPath('lp_driving_d6') }));
    const err = await failure(async () => {
      for await (const frame of decoder.frames()) {
        if (frame.index === 1) {
          process.kill(decoder.pid ?? -1, 'SIGKILL');
        }
      }
    });
    expectOneLine(err, 'FFMPEG_FAILED', /killed by SIGKILL/);
    expect((err as MediaError).stderrTail.length).toBeGreaterThan(0);
  });

  it('aborting through the signal stops ffmpeg and rejects with AbortedError', async () => {
    const controller = new AbortController();
    const decoder = tracker.decoder(new VideoDecoder({ input: clipPath('lp_driving_d6'), signal: controller.signal }));
    const err = await failure(async () => {
      for await (const frame of decoder.frames()) {
        if (frame.index === 2) {
          controller.abort();
        }
      }
    });
    expect(err).toBeInstanceOf(AbortedError);
    expect(isAlive(decoder.pid)).toBe(false);
  });

  it('a signal aborted before start rejects at once and spawns nothing', async () => {
    const decoder = tracker.decoder(new VideoDecoder({ input: clipPath('lp_driving_d0'), signal: AbortSignal.abort() }));
    expect(await failure(() => decoder.start())).toBeInstanceOf(AbortedError);
    expect(decoder.pid).toBeUndefined();
  });
});

describe('ffmpeg missing or too old', () => {
  const nowhere = join(work, 'no-such-ffmpeg');

  it('checkFfmpeg with ffmpegPath to a missing binary is FFMPEG_MISSING', async () => {
    expectOneLine(await failure(() => checkFfmpeg({ ffmpegPath: nowhere })), 'FFMPEG_MISSING', /not found/);
  });

  it('LIVEMASK_FFMPEG to a missing binary is FFMPEG_MISSING (and the default names the install)', async () => {
    const saved = process.env.LIVEMASK_FFMPEG;
    try {
      process.env.LIVEMASK_FFMPEG = nowhere;
      expectOneLine(await failure(() => checkFfmpeg()), 'FFMPEG_MISSING', /apt-get install -y ffmpeg/);
    } finally {
      if (saved === undefined) {
        delete process.env.LIVEMASK_FFMPEG;
      } else {
        process.env.LIVEMASK_FFMPEG = saved;
      }
    }
  });

  it('an ffmpeg 4 is FFMPEG_TOO_OLD', async () => {
    const old = join(work, 'ffmpeg4');
    writeFileSync(old, '#!/bin/sh\necho "ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright (c) 2000-2021"\n');
    chmodSync(old, 0o755);
    expectOneLine(await failure(() => checkFfmpeg({ ffmpegPath: old })), 'FFMPEG_TOO_OLD', /4\.4\.2.*>= 5/);
  });

  it('the real ffmpeg passes', async () => {
    const info = await checkFfmpeg();
    expect(info.major).toBeGreaterThanOrEqual(5);
  });

  it.skipIf(!hasTestData)('a decoder with a missing ffmpeg is FFMPEG_MISSING', async () => {
    const decoder = tracker.decoder(new VideoDecoder({ input: clipPath('lp_driving_d0'), ffmpegPath: nowhere }));
    expectOneLine(await failure(() => decodeAll(decoder)), 'FFMPEG_MISSING', /not found at/);
  });

  it('an encoder with a missing ffmpeg is FFMPEG_MISSING', async () => {
    const encoder = tracker.encoder(new VideoEncoder({
      output: join(work, 'x.mp4'), width: 16, height: 16, fps: 25, codec: 'h264', ffmpegPath: nowhere,
    }));
    const frame = { width: 16, height: 16, index: 0, ptsMs: 0, data: Buffer.alloc(384) };
    expectOneLine(await failure(() => encoder.write(frame)), 'FFMPEG_MISSING', /not found/);
  });

  it('FfmpegProcess tells spawn failure, our stop and an unexpected death apart', async () => {
    const missing = new FfmpegProcess({ args: ['-version'], ffmpegPath: nowhere });
    const errors: MediaError[] = [];
    missing.on('error', (e) => errors.push(e));
    expect(await failure(() => missing.wait())).toMatchObject({ code: 'FFMPEG_MISSING' });
    expect(errors).toHaveLength(1);

    const stopped = new FfmpegProcess({ args: ['-hide_banner', '-f', 'lavfi', '-re', '-i', 'testsrc', '-f', 'null', '-'] });
    const exits: (number | null)[] = [];
    stopped.on('exit', (code) => exits.push(code));
    await stopped.stop();
    await stopped.stop();
    expect(await stopped.wait()).toBe('stopped');
    expect(exits).toHaveLength(1);
    expect(isAlive(stopped.pid)).toBe(false);

    const failing = new FfmpegProcess({ args: ['-hide_banner', '-i', join(work, 'nothing-here.mp4'), '-f', 'null', '-'] });
    const err = await failure(() => failing.wait());
    expectOneLine(err, 'FFMPEG_FAILED', /exited with code 1.*No such file or directory/);
  });
});
