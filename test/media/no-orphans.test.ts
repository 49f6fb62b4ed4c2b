import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { clipPath, hasTestData, noDataReason, repoRoot } from '../support/paths.js';
import { isAlive, makeWorkDir, removeWorkDir, waitFor } from './media-support.js';

const work = makeWorkDir('orphans');
const children: ChildProcess[] = [];
const strays: number[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
  // Only reached when the test failed: do not leave its ffmpegs behind.
  for (const pid of strays.splice(0).filter(isAlive)) {
    process.kill(pid, 'SIGKILL');
  }
});
afterAll(() => removeWorkDir(work));

/** Pids of live ffmpeg processes whose command line mentions `needle`. */
function ffmpegsMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) {
      continue;
    }
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (/ffmpeg$/.test(argv[0] ?? '') && argv.some((a) => a.includes(needle)) && isAlive(Number(entry))) {
        pids.push(Number(entry));
      }
    } catch {
      // The process exited while we looked: it is not an orphan.
      continue;
    }
  }
  return pids;
}

const script = `
import { VideoDecoder, VideoEncoder } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'src/media/index.ts')).href)};
const [input, output] = process.argv.slice(2);
const decoder = new VideoDecoder({ input, realtime: true });
const info = await decoder.start();
const encoder = new VideoEncoder({
  output, width: info.width, height: info.height, fps: info.fps, codec: 'h264', audioFrom: input,
});
for await (const frame of decoder.frames()) {
  await encoder.write(frame);
  if (frame.index === 3) {
    process.stdout.write(JSON.stringify({ decoder: decoder.pid, encoder: encoder.pid }) + '\\n');
  }
}
`;

describe.skipIf(!hasTestData)(`no orphans${hasTestData ? '' : ` (skipped: ${noDataReason})`}`, () => {
  it('after kill -9 of the Node parent, its decoder and encoder ffmpegs exit', async () => {
    const input = join(work, 'orphan-input.mp4');
    copyFileSync(clipPath('lp_driving_d6'), input); // 33 s, read in real time: still running when killed
    const childScript = join(work, 'child.mts');
    writeFileSync(childScript, script);
    const child = spawn(process.execPath, ['--import', 'tsx', childScript, input, join(work, 'orphan-output.mp4')], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const pids = await new Promise<{ decoder: number; encoder: number }>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) {
          resolve(JSON.parse(out) as { decoder: number; encoder: number });
        }
      });
      child.once('exit', (code) => reject(new Error(`child exited (${String(code)}) before starting: ${stderr}`)));
    });
    strays.push(pids.decoder, pids.encoder);
    expect(isAlive(pids.decoder)).toBe(true);
    expect(isAlive(pids.encoder)).toBe(true);
    expect(ffmpegsMentioning(input).sort()).toEqual([pids.decoder, pids.encoder].sort());

    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;

    await waitFor('the orphaned ffmpegs to exit', () => !isAlive(pids.decoder) && !isAlive(pids.encoder), 20_000);
    expect(ffmpegsMentioning(input)).toEqual([]);
  });
});
