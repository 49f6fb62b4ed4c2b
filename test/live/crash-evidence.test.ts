import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEvidenceKeys, verify } from '../../src/evidence/index.js';
import { SECRET, token } from '../server/helpers.js';
import { clipPath, hasTestData, noDataReason, repoRoot } from '../support/paths.js';
import { FfmpegSource, Publisher, waitFor } from './peers.js';

/**
 * Crash safety of the evidence, end to end: a real WebRTC publisher streams a
 * real face clip to `livemask serve` (a real process), which is killed with
 * SIGKILL mid-segment and started again on the same data directory. The
 * restart seals the open segments as `recovered`; the session verifies, its
 * media decodes, and it covers the stream up to 2 s or less before the kill.
 */

const ROOM = 'room-crash';
const STREAM_MS = 20_000; // as the evidence issue asks: 20 s, so sealed segments and an open one are both there at the kill
type Child = ChildProcessByStdio<null, Readable, Readable>;

function startWorker(dataDir: string): { child: Child; url: Promise<string>; stderr: () => string } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LIVEMASK_')));
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test', 'support', 'cli-entry.ts'), 'serve', '--port', '0', '--data', dataDir], {
    cwd: repoRoot,
    env: { ...env, LIVEMASK_TOKEN_SECRET: SECRET, LIVEMASK_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stdout);
      if (m?.[1]) {
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`worker exited (${String(code)}) before listening: ${stderr}`)));
  });
  return { child, url, stderr: () => stderr };
}

/** The time a segment spans: its last packet's time less its first's, plus one frame (WebM written live has no duration). */
function spanSec(file: string): number {
  const r = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file], { encoding: 'utf8' });
  const times = r.stdout.split('\n').map(Number).filter((t) => Number.isFinite(t) && t >= 0);
  return times.length === 0 ? 0 : Math.max(...times) - Math.min(...times) + 1 / 30;
}

describe.skipIf(!hasTestData)(`evidence across kill -9 of the worker${hasTestData ? '' : ` — skipped: ${noDataReason}`}`, () => {
  const source = new FfmpegSource();
  const children: Child[] = [];
  afterAll(async () => {
    await source.stop();
    for (const c of children) {
      c.kill('SIGKILL');
    }
  });

  it('seals what was recorded as recovered; it verifies, decodes, and covers up to 2 s before the kill', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'livemask-crash-'));
    const first = startWorker(dataDir);
    children.push(first.child);
    const url = await first.url;
    const publisher = new Publisher();
    await publisher.publish(url, ROOM, await token(ROOM, 'guest', 'gina'));
    await source.start(clipPath('clm_franck_talking_face'), (kind, packet) => publisher.write(kind, packet));
    await waitFor(() => publisher.written.length > 0, 10_000, 'the stream to start');
    const started = publisher.written[0]?.at ?? Date.now();
    await new Promise((r) => setTimeout(r, STREAM_MS));
    const killedAt = Date.now();
    first.child.kill('SIGKILL');
    await once(first.child, 'exit');
    await source.stop();
    await publisher.session?.pc.close();

    // The next start seals what the killed worker left open, before it serves.
    const second = startWorker(dataDir);
    children.push(second.child);
    await second.url;
    second.child.kill('SIGTERM');
    await once(second.child, 'exit');

    const root = join(dataDir, 'evidence');
    const keys = await loadEvidenceKeys({ dataDir, needSigning: false });
    const result = await verify(root, ROOM, keys.publicKey);
    expect(result.ok, JSON.stringify(result)).toBe(true);
    const [session] = readdirSync(join(root, ROOM));
    const dir = join(root, ROOM, session ?? '', 'gina');
    const video = readdirSync(dir).filter((f) => f.startsWith('video-') && f.endsWith('.webm'));
    expect(video.length).toBeGreaterThan(0);
    expect(readdirSync(dir).filter((f) => f.endsWith('.open'))).toEqual([]);
    let covered = 0;
    for (const f of video) {
      const decoded = spawnSync('ffmpeg', ['-v', 'error', '-i', join(dir, f), '-f', 'null', '-'], { encoding: 'utf8' });
      expect(decoded.status, `${f}: ${decoded.stderr}`).toBe(0);
      expect(decoded.stderr.trim(), f).toBe('');
      covered += spanSec(join(dir, f));
    }
    const streamed = (killedAt - started) / 1000;
    console.log(`streamed ${streamed.toFixed(2)} s before the kill; the evidence covers ${covered.toFixed(2)} s`);
    expect(covered).toBeGreaterThanOrEqual(streamed - 2);
    const manifest = JSON.parse(readFileSync(join(root, ROOM, session ?? '', 'manifest.json'), 'utf8')) as {
      recovered: boolean;
      segments: { path: string; recovered?: boolean }[];
    };
    expect(manifest.recovered).toBe(true);
    expect(manifest.segments.some((seg) => seg.recovered === true && seg.path.includes('video-'))).toBe(true);
  });
});
