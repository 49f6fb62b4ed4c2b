// Unit tests for the pure parts of src/media (no ffmpeg). They import the
// modules directly because these helpers are not part of the public face.
import { describe, expect, it } from 'vitest';
import { parseFfmpegVersion } from '../../src/media/ffmpeg-binary.js';
import { FrameAssembler } from '../../src/media/frame-assembler.js';
import { decoderArgs, encoderArgs, fpsRational } from '../../src/media/index.js';
import { mediaInfoFromProbe } from '../../src/media/probe.js';
import { stderrReason } from '../../src/media/run-tool.js';

describe('parseFfmpegVersion', () => {
  it.each([
    ['ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026', '5.1.9-0+deb12u1', 5],
    ['ffmpeg version n6.1.1 Copyright', 'n6.1.1', 6],
    ['ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright', '4.4.2-0ubuntu0.22.04.1', 4],
    ['ffmpeg version N-112345-gabcdef Copyright\nlibavutil      59. 8.100 / 59. 8.100', 'N-112345-gabcdef', 7],
  ])('%s', (output, version, major) => {
    expect(parseFfmpegVersion(output)).toEqual({ version, major });
  });

  it('rejects output that is not ffmpeg', () => {
    expect(parseFfmpegVersion('hello')).toBeUndefined();
  });
});

describe('FrameAssembler', () => {
  it('cuts chunks of any size into frames with their own memory', () => {
    const assembler = new FrameAssembler(4);
    expect(assembler.push(Buffer.from([1, 2, 3]))).toEqual([]);
    expect(assembler.pendingBytes).toBe(3);
    const frames = assembler.push(Buffer.from([4, 5, 6, 7, 8, 9, 10]));
    expect(frames.map((f) => [...f])).toEqual([[1, 2, 3, 4], [5, 6, 7, 8]]);
    expect(assembler.pendingBytes).toBe(2);
    expect(frames[0]?.buffer).not.toBe(frames[1]?.buffer);
  });
});

describe('fpsRational', () => {
  it.each([[25, '25/1'], [29.97, '30000/1001'], [30000 / 1001, '30000/1001'], [12.5, '12500/1000']])('%s -> %s', (fps, r) => {
    expect(fpsRational(fps)).toBe(r);
  });
});

describe('encoderArgs', () => {
  const base = { output: '/o/out.mp4', width: 640, height: 360, fps: 25, codec: 'h264' } as const;

  it('h264: raw I420 on stdin, libx264 veryfast, faststart mp4', () => {
    const args = encoderArgs(base);
    expect(args.join(' ')).toContain('-f rawvideo -pix_fmt yuv420p -video_size 640x360 -framerate 25/1 -i pipe:0');
    expect(args.join(' ')).toContain('-c:v libx264 -preset veryfast -crf 23 -pix_fmt yuv420p');
    expect(args.slice(-4)).toEqual(['-movflags', '+faststart', '-y', '/o/out.mp4']);
  });

  it('copies audio into mp4, re-encodes non-Opus audio for webm, copies Opus into webm', () => {
    const mp4 = encoderArgs({ ...base, audioFrom: '/i.mp4', audioCodec: 'aac' }).join(' ');
    expect(mp4).toContain('-map 0:v:0 -map 1:a?');
    expect(mp4).toContain('-c:a copy');
    expect(encoderArgs({ ...base, audioFrom: '/i.mov', audioCodec: 'pcm_s16le' }).join(' ')).toContain('-c:a aac');
    const webm = { ...base, output: '/o/out.webm', codec: 'vp8', audioFrom: '/i.mp4' } as const;
    expect(encoderArgs({ ...webm, audioCodec: 'aac' }).join(' ')).toContain('-c:a libopus');
    expect(encoderArgs({ ...webm, audioCodec: 'opus' }).join(' ')).toContain('-c:a copy');
    expect(encoderArgs(webm).join(' ')).toContain('-deadline realtime -cpu-used 8');
  });

  it('source: the same settings as a plain transcode (the benchmark floor)', () => {
    const args = encoderArgs({ ...base, source: '/in.mp4', audioFrom: '/in.mp4' });
    expect(args.join(' ')).toContain('-i /in.mp4 -i /in.mp4 -map 0:v:0 -map 1:a?');
    expect(args).not.toContain('rawvideo');
  });

  it.each([
    [{ codec: 'h264', output: '/o/x.webm' }, /codec/],
    [{ codec: 'vp8', output: '/o/x.mp4' }, /codec/],
    [{ width: 641 }, /width\/height/],
    [{ fps: 0 }, /fps/],
    [{ crf: 99 }, /crf/],
  ])('refuses %o with BAD_USAGE naming the field', (patch, field) => {
    expect(() => encoderArgs({ ...base, ...patch } as Parameters<typeof encoderArgs>[0])).toThrow(field);
  });
});

describe('decoderArgs', () => {
  it('passthrough timing, no stdin, extra input args and -re before -i', () => {
    const args = decoderArgs({ input: '/in.mp4', width: 320, height: 240, inputArgs: ['-ss', '2'], realtime: true });
    const line = args.join(' ');
    expect(args).toContain('-nostdin');
    expect(line).toContain('-ss 2 -re -i /in.mp4');
    expect(line).toContain('scale=320:240');
    expect(line).toContain('-fps_mode passthrough -f rawvideo -pix_fmt yuv420p pipe:1');
  });
});

describe('mediaInfoFromProbe', () => {
  const video = { codec_type: 'video', codec_name: 'h264', width: 1920, height: 1080, avg_frame_rate: '30000/1001', nb_frames: '300' };

  it('reads size, rate, count, duration and audio', () => {
    const info = mediaInfoFromProbe('x', {
      streams: [video, { codec_type: 'audio', codec_name: 'aac' }],
      format: { duration: '10.010000' },
    });
    expect(info).toEqual({
      width: 1920, height: 1080, fps: 30000 / 1001, durationMs: 10010, frameCount: 300,
      hasAudio: true, videoCodec: 'h264', audioCodec: 'aac',
    });
  });

  it('swaps the size of a phone video rotated by 90 degrees', () => {
    const info = mediaInfoFromProbe('x', { streams: [{ ...video, side_data_list: [{ rotation: -90 }] }] });
    expect([info.width, info.height]).toEqual([1080, 1920]);
  });

  it('rejects a file without a video stream (cover art does not count)', () => {
    const cover = { ...video, codec_name: 'mjpeg', disposition: { attached_pic: 1 } };
    expect(() => mediaInfoFromProbe('song.mp3', { streams: [{ codec_type: 'audio', codec_name: 'mp3' }, cover] }))
      .toThrow(/no video stream: song.mp3/);
  });
});

describe('stderrReason', () => {
  it('drops the [demuxer @ 0x..] and input prefixes and keeps the last two lines on one line', () => {
    const lines = ['[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d5] moov atom not found', '/in.mp4: Invalid data found when processing input'];
    expect(stderrReason(lines, '/in.mp4')).toBe('moov atom not found; Invalid data found when processing input');
  });
});
