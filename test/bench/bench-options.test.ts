import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { LivemaskError } from '../../src/core/index.js';
import { DEFAULT_CLIPS, parseBenchOptions, planBench, stageChartSvg } from '../../bench/index.js';
import { HAAR_CASCADE, peerScript } from '../../bench/peer.js';
import type { PreparedClip } from '../../bench/prepare-clip.js';
import type { ResolutionStages } from '../../bench/stages.js';

function usageError(input: unknown): LivemaskError {
  try {
    parseBenchOptions(input);
  } catch (err) {
    expect(err).toBeInstanceOf(LivemaskError);
    return err as LivemaskError;
  }
  throw new Error('expected a usage error');
}

describe('bench options', () => {
  it('defaults to the CPU, one clip per resolution and the full run', () => {
    expect(parseBenchOptions({})).toEqual({ ep: 'cpu', clips: [...DEFAULT_CLIPS], 'detect-batch': 1, quick: false });
  });

  it('names the bad flag', () => {
    const ep = usageError({ ep: 'gpu' });
    expect(ep.code).toBe('BAD_USAGE');
    expect(ep.message).toMatch(/^invalid --ep: /);
    expect(usageError({ clips: [] }).message).toMatch(/^invalid --clips: /);
    expect(usageError({ clips: ['../etc/passwd'] }).message).toMatch(/^invalid --clips: /);
    expect(usageError({ 'detect-batch': '0' }).message).toMatch(/^invalid --detect-batch: must be at least 1/);
    expect(usageError({ 'detect-batch': 'four' }).message).toMatch(/^invalid --detect-batch: must be a whole number/);
    expect(parseBenchOptions({ 'detect-batch': '8' })['detect-batch']).toBe(8);
  });

  it('--quick measures one clip, 360p and 720p, with the capacity search capped', () => {
    const plan = planBench(parseBenchOptions({ quick: true, clips: ['a', 'b'] }));
    expect(plan.clips).toEqual(['a']);
    expect(plan.stageHeights).toEqual([360, 720]);
    expect(plan.live.capacityMax).toBe(2);
    expect(planBench(parseBenchOptions({})).stageHeights).toEqual([360, 720, 1080]);
  });
});

describe('peer command line', () => {
  it("gives faceblur its Haar cascade explicitly (Debian's default profile path is doubled and does not exist)", () => {
    const clip = {
      name: 'c',
      video: '/clips/c.mp4',
      truth: '/t.json',
      frames: 10,
      cut: false,
      media: { width: 640, height: 360, fps: 29.97, durationMs: 333, hasAudio: false, videoCodec: 'h264' },
    } satisfies PreparedClip;
    const script = peerScript(clip, '/out/peer.mp4');
    expect(script).toContain(`'profile=${HAAR_CASCADE}'`);
    expect(script).toContain("'framerate=30000/1001'");
    expect(script).toContain("'-c:v' 'libx264' '-preset' 'veryfast' '-crf' '23'");
  });
});

describe('stage chart', () => {
  it('draws every stage for every resolution and renders to PNG with sharp', async () => {
    const stage = { p50: 2, p95: 5, p99: 9, fps: 400, count: 30 };
    const row = (resolution: string, width: number, height: number): ResolutionStages => ({
      resolution, clip: 'c', scaledFrom: null, width, height, frames: 30, detector: 'both', ep: 'cpu',
      stages: { decode: stage, preprocess: stage, 'inference.front128': stage, 'inference.back256': { ...stage, p95: 40 }, postprocess: stage, mask: stage, encode: stage },
    });
    const svg = stageChartSvg({ title: 'a < b', subtitle: 's', rows: [row('360p', 640, 360), row('720p', 1280, 720)] });
    expect(svg).toContain('a &lt; b');
    expect(svg.match(/class="bar"/g)).toHaveLength(14);
    const meta = await sharp(await sharp(Buffer.from(svg)).png().toBuffer()).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBeGreaterThan(800);
  });
});
