// Offline `livemask mask` against its floor, on one clip, in the same run.
// Floor: one plain ffmpeg decode + encode of the clip with exactly the encoder
// settings livemask uses (media's encoderArgs with `source`). Masked: the
// built CLI, `node bin/livemask.js mask` with the file defaults. CPU time is
// user + sys of each command and all its children, so ffmpeg's work counts
// on both sides. Then the masked output goes through the leak evaluation.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encoderArgs } from '../src/media/index.js';
import type { StageSummary } from '../src/pipeline/index.js';
import { leaksOf, type LeakSummary } from './leaks.js';
import { measureShell, pipeline, type Measured } from './measure.js';
import type { PreparedClip } from './prepare-clip.js';
import { median, round } from './stats.js';

export interface OfflineRow {
  clip: string;
  width: number;
  height: number;
  fps: number;
  frames: number;
  durationS: number;
  runs: number;
  floor: { cpuS: number; wallS: number };
  masked: { cpuS: number; wallS: number; fps: number; ep: string };
  /** Masked CPU seconds over the floor's, same frames (so also per frame). */
  cpuRatio: number;
  wallRatio: number;
  leaks: LeakSummary;
  /** The masked run's own per-stage times (its --report), last run. */
  pipelineStages: Record<string, StageSummary>;
}

export interface OfflineOptions {
  clip: PreparedClip;
  runs: number;
  ep: 'cpu' | 'cuda';
  root: string;
  work: string;
}

const med = (rs: Measured[], k: keyof Measured): number => round(median(rs.map((r) => r[k])), 3);

export async function benchOffline(o: OfflineOptions): Promise<OfflineRow> {
  const { clip } = o;
  const m = clip.media;
  const floorOut = join(o.work, `${clip.name}-floor.mp4`);
  const maskedOut = join(o.work, `${clip.name}-masked.mp4`);
  const report = join(o.work, `${clip.name}-report.json`);
  const floorArgs = encoderArgs({ source: clip.video, output: floorOut, width: m.width, height: m.height, fps: m.fps, codec: 'h264', ...(m.hasAudio ? { audioFrom: clip.video } : {}) });
  const maskArgs = [process.execPath, join(o.root, 'bin', 'livemask.js'), 'mask', clip.video, '-o', maskedOut, '--ep', o.ep, '--report', report];
  const floor: Measured[] = [];
  const masked: Measured[] = [];
  for (let i = 0; i < o.runs; i++) {
    floor.push(await measureShell(pipeline(['ffmpeg', ...floorArgs])));
    masked.push(await measureShell(`LIVEMASK_LOG_LEVEL=warn ${pipeline(maskArgs)}`));
  }
  const r = JSON.parse(readFileSync(report, 'utf8')) as { executionProvider: string; totals: { frames: number; stages: Record<string, StageSummary> } };
  const fCpu = med(floor, 'cpuS');
  const mCpu = med(masked, 'cpuS');
  const fWall = med(floor, 'wallS');
  const mWall = med(masked, 'wallS');
  return {
    clip: clip.name,
    width: m.width,
    height: m.height,
    fps: round(m.fps, 3),
    frames: r.totals.frames,
    durationS: round(clip.frames / m.fps, 2),
    runs: o.runs,
    floor: { cpuS: fCpu, wallS: fWall },
    masked: { cpuS: mCpu, wallS: mWall, fps: round(r.totals.frames / mWall, 2), ep: r.executionProvider },
    cpuRatio: round(mCpu / fCpu, 2),
    wallRatio: round(mWall / fWall, 2),
    leaks: await leaksOf(clip, maskedOut),
    pipelineStages: r.totals.stages,
  };
}
