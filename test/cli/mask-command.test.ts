import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clipPath, hasTestData, noDataReason, repoRoot } from '../support/paths.js';

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function livemask(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/support/cli-entry.ts'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, LIVEMASK_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The one line of reason that the command prints for a failure. */
function reasonLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.startsWith('livemask: '));
  expect(lines).toHaveLength(1);
  return lines[0] ?? '';
}

const work = mkdtempSync(join(tmpdir(), 'livemask-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('livemask mask: usage and bad input', () => {
  it('exits 2 with usage when arguments are missing or invalid', async () => {
    const none = await livemask(['mask']);
    expect(none.code).toBe(2);
    expect(reasonLine(none.stderr)).toMatch(/needs exactly one <input>/);
    const badStyle = await livemask(['mask', 'in.mp4', '-o', join(work, 'x.mp4'), '--style', 'sparkles']);
    expect(badStyle.code).toBe(2);
    expect(reasonLine(badStyle.stderr)).toMatch(/--style/);
    const unknown = await livemask(['mask', 'in.mp4', '-o', 'x.mp4', '--frobnicate']);
    expect(unknown.code).toBe(2);
    const tiles = await livemask(['mask', 'in.mp4', '-o', 'x.mp4', '--lookahead', '2', '--tile-every', '4']);
    expect(tiles.code).toBe(2);
    expect(reasonLine(tiles.stderr)).toMatch(/--tile-every: must be at most the look-ahead/);
  });

  it('exits 3 with a one-line reason for a missing, zero-byte or non-video input', async () => {
    const zero = join(work, 'zero.mp4');
    writeFileSync(zero, '');
    const text = join(work, 'notes.mp4');
    writeFileSync(text, 'this is not a video\n'.repeat(100));
    for (const input of [join(work, 'missing.mp4'), zero, text]) {
      const r = await livemask(['mask', input, '-o', join(work, 'out.mp4')]);
      expect(r.code, `${input}: ${r.stderr}`).toBe(3);
      expect(reasonLine(r.stderr)).toContain(input);
    }
  });

  it('exits 4 when ffmpeg is missing', async () => {
    const r = await livemask(['mask', 'whatever.mp4', '-o', join(work, 'out.mp4')], {
      LIVEMASK_FFMPEG: join(work, 'no-such-ffmpeg'),
      LIVEMASK_FFPROBE: join(work, 'no-such-ffprobe'),
    });
    expect(r.code).toBe(4);
    expect(reasonLine(r.stderr)).toMatch(/ffmpeg/i);
  });
});

describe.skipIf(!hasTestData)(`livemask mask on a real clip (${hasTestData ? 'shared data present' : noDataReason})`, () => {
  it('exits 3 for a truncated clip, with a one-line reason', async () => {
    const whole = readFileSync(clipPath('lp_driving_d0'));
    const truncated = join(work, 'truncated.mp4');
    writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length * 0.3)));
    const r = await livemask(['mask', truncated, '-o', join(work, 'trunc-out.mp4')]);
    expect(r.code, r.stderr).toBe(3);
    reasonLine(r.stderr);
  });

  it('masks a clip, keeps its audio and writes a per-frame report', async () => {
    const out = join(work, 'd12-masked.mp4');
    const report = join(work, 'd12-report.json');
    const r = await livemask(['mask', clipPath('lp_driving_d12'), '-o', out, '--report', report]);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(out).size).toBeGreaterThan(10_000);
    const json = JSON.parse(readFileSync(report, 'utf8')) as {
      executionProvider: string;
      totals: { frames: number; failsafeFrames: number; faces: number; stages: Record<string, { p50: number }> };
      frames: { i: number; boxes: unknown[]; detectorMs: number; failsafe: boolean }[];
    };
    expect(json.executionProvider).toBe('cpu');
    expect(json.totals.frames).toBe(183);
    expect(json.frames).toHaveLength(183);
    expect(json.frames.map((f) => f.i)).toEqual([...Array(183).keys()]);
    // One talking head: nearly every frame has a box.
    expect(json.frames.filter((f) => f.boxes.length > 0).length).toBeGreaterThan(175);
    expect(json.totals.faces).toBeGreaterThan(175);
    for (const stage of ['decode', 'mask', 'encode']) {
      expect(json.totals.stages[stage], stage).toBeDefined();
    }
    const streams = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type', '-of', 'csv=p=0', out], {
      encoding: 'utf8',
    }).stdout.split('\n');
    expect(streams).toContain('video');
    expect(streams).toContain('audio');
  });
});
