// Clips made at test time from real faces, each trying to make the mask leak
// in one way: a face entering fast from the edge and leaving again, a cut to a
// clip of another resolution mid-stream, and the very first frame. The truth
// for the made clips comes from YuNet run on the original frames.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseMaskConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/core/index.js';
import { maskFile } from '../../src/pipeline/index.js';
import { audit, yunetTruth } from '../support/audit.js';
import { ffmpeg } from '../support/clip-frames.js';
import { clipPath, hasTestData, noDataReason } from '../support/paths.js';
import { hasYunet } from '../support/yunet.js';

const work = mkdtempSync(join(tmpdir(), 'livemask-scenarios-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const ready = hasTestData && hasYunet;
const logger = createLogger({ level: 'silent' });

async function maskAndAudit(original: string, name: string): Promise<Awaited<ReturnType<typeof audit>>> {
  const truth = await yunetTruth(original, join(work, `${name}.truth.json`));
  const masked = join(work, `${name}.masked.mp4`);
  await maskFile({ input: original, output: masked, config: parseMaskConfig({}), logger });
  const result = await audit({ original, masked, truth, yunetEvery: 1, sheet: join(tmpdir(), `livemask-${name}.png`) });
  console.log(`${name}: ${result.report.faceFrames} face-frames, leaks ${result.report.leaks}, YuNet hits ${result.yunetHits.length}/${result.yunetChecked}`);
  return result;
}

describe.skipIf(!ready)(`fail-closed scenarios on made clips (${ready ? 'real faces' : noDataReason})`, () => {
  it('a face that enters fast from the right edge (~60 px a frame), half-leaves and leaves again', async () => {
    const original = join(work, 'fast-entry.mp4');
    // A 512x512 talking head slides over a dark background: in from the right
    // in about 8 frames, out to the left half, back, then out to the right.
    const x = "if(lt(t,0.4),512-t*1400,if(lt(t,1.6),-(t-0.4)*200,if(lt(t,2.4),-240+(t-1.6)*300,(t-2.4)*1500)))";
    await ffmpeg(
      '-f', 'lavfi', '-i', 'color=c=0x202020:s=512x512:r=25:d=3.2',
      '-i', clipPath('st_WDA_KatieHill_000'),
      '-filter_complex', `[0:v][1:v]overlay=x='${x}':y=0:shortest=1,format=yuv420p[v]`,
      '-map', '[v]', '-c:v', 'libx264', '-crf', '16', '-frames:v', '80', original,
    );
    const { report, yunetHits } = await maskAndAudit(original, 'fast-entry');
    expect(report.faceFrames).toBeGreaterThan(40);
    expect(report.leaks).toBe(0);
    expect(yunetHits).toEqual([]);
  }, 300_000);

  it('a cut to a clip of another resolution mid-stream (512x512 then 640x360, concatenated)', async () => {
    const a = join(work, 'res-a.ts');
    const b = join(work, 'res-b.ts');
    const original = join(work, 'res-change.ts');
    await ffmpeg('-i', clipPath('lp_driving_d12'), '-frames:v', '50', '-an', '-c:v', 'libx264', '-crf', '16', '-pix_fmt', 'yuv420p', a);
    await ffmpeg('-i', clipPath('lp_source_s18'), '-frames:v', '50', '-an', '-vf', 'scale=640:360', '-c:v', 'libx264', '-crf', '16', '-pix_fmt', 'yuv420p', b);
    await ffmpeg('-i', `concat:${a}|${b}`, '-c', 'copy', original);
    const { report, yunetHits } = await maskAndAudit(original, 'res-change');
    expect(report.frames).toBe(100);
    expect(report.faceFrames).toBeGreaterThan(80);
    expect(report.leaks).toBe(0);
    expect(yunetHits).toEqual([]);
  }, 300_000);

  it('the first frame of a stream is masked (no frame goes out before a detection)', async () => {
    const original = join(work, 'first.mp4');
    await ffmpeg('-i', clipPath('lp_driving_d9'), '-frames:v', '3', '-an', '-c:v', 'libx264', '-crf', '16', '-pix_fmt', 'yuv420p', original);
    const { report, yunetHits } = await maskAndAudit(original, 'first-frame');
    expect(report.faceFrames).toBe(3);
    expect(report.leaks).toBe(0);
    expect(yunetHits).toEqual([]);
    // Control: the same audit on the unmasked original finds every face.
    const control = await audit({ original, masked: original, truth: join(work, 'first-frame.truth.json'), yunetEvery: 1 });
    expect(control.report.leaks).toBe(3);
    expect(control.yunetHits).toHaveLength(3);
  }, 120_000);
});
